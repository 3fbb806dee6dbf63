//! Schema of `vulns`: not a probe the agent runs but the collector's match
//! of the `packages` inventory against the vulnerability feed snapshot in
//! force (`evident_core::vuln`), bound to CEL like a probe. Without a
//! snapshot it is `unsupported` and rules reading it are `no-evidence`.

use super::super::{FieldSchema, FieldType::*, ProbeSchema};

/// The derived `vulns` data.
pub static SCHEMA: ProbeSchema = ProbeSchema {
    id: "vulns",
    version: 1,
    description: "Known CVEs affecting the installed packages (collector-side match of the packages inventory against the imported feed snapshot)",
    controls: &["A.8.8"],
    fields: &[
        FieldSchema::new("snapshot", Str, "sha256 digest of the feed snapshot matched against"),
        FieldSchema::new("feed_format", Str, "`debian-tracker` or `osv`"),
        FieldSchema::new("matched", Bool, "Whether the snapshot has data for the host's release (false: nothing could be matched; see note)"),
        FieldSchema::new("release", Str, "The snapshot release the host was filed under (`debian:bookworm`; empty when not matched)"),
        FieldSchema::new("note", Str, "Why nothing was matched (empty when matched)"),
        FieldSchema::new("sources_checked", Int, "Installed source packages looked up"),
        FieldSchema::new("open", List(&Object), "CVEs affecting an installed package (not waived), sorted by source and CVE"),
        FieldSchema::new("open[].cve", Str, "CVE id"),
        FieldSchema::new("open[].source", Str, "Source package"),
        FieldSchema::new("open[].packages", List(&Str), "Installed binary packages built from it"),
        FieldSchema::new("open[].installed", Str, "Installed source version"),
        FieldSchema::new("open[].fixed_version", Nullable(&Str), "First fixed version on this release (null: no fix yet)"),
        FieldSchema::new("open[].fix_available", Bool, "A fixed version exists (the actionable ones)"),
        FieldSchema::new("open[].status", Str, "Distribution status: `fixed` (fix exists, not installed), `open`, `no-dsa`, `will-not-fix`, `end-of-life`, `undetermined`"),
        FieldSchema::new("open[].urgency", Str, "`critical`, `high`, `medium`, `low`, `unimportant`, `end-of-life` or `unknown`"),
        FieldSchema::new("open[].first_seen", Str, "RFC 3339 time the collector first matched this CVE on this host and source package"),
        FieldSchema::new("open[].age_days", Int, "Whole days from first_seen to the evidence's collection"),
        FieldSchema::new("open_count", Int, "Number of open CVEs (size of `open`)"),
        FieldSchema::new("actionable_count", Int, "Open CVEs with a fix available"),
        FieldSchema::new("unfixed_count", Int, "Open CVEs without a fix"),
        FieldSchema::new("kernel_reboot_pending", List(&Str), "CVEs affecting the running kernel that an installed newer kernel fixes (a reboot is pending)"),
        FieldSchema::new("kernel_checked", Bool, "Whether the running kernel's package was found in the inventory (live hosts only; false for an offline --root scan)"),
        FieldSchema::new("unknown_versions", List(&Object), "Versions that could not be ordered (never guessed)"),
        FieldSchema::new("unknown_versions[].package", Str, "Source package"),
        FieldSchema::new("unknown_versions[].version", Str, "The version string"),
        FieldSchema::new("unknown_versions[].error", Str, "Why it cannot be ordered"),
        FieldSchema::new("waived", List(&Object), "Affecting CVEs covered by a current CVE waiver for this host"),
        FieldSchema::new("waived[].cve", Str, "CVE id"),
        FieldSchema::new("waived[].source", Str, "Source package"),
        FieldSchema::new("waived[].justification", Str, "The waiver's justification"),
        FieldSchema::new("waived[].approver", Str, "Who approved it"),
        FieldSchema::new("waived[].expires", Str, "Last day it applies (YYYY-MM-DD)"),
    ],
};
