//! ufw: `/etc/ufw/ufw.conf`, `/etc/default/ufw` and its user rules.

use super::facts::UfwFacts;
use super::vars::shell_vars;

/// Parse `/etc/ufw/ufw.conf` and `/etc/default/ufw`; `rules` are the texts of user.rules files.
pub fn parse_ufw(conf: &str, defaults: &str, rules: &[&str]) -> UfwFacts {
    let conf = shell_vars(conf);
    let defs = shell_vars(defaults);
    let pol = |k: &str| match defs.get(k).map(|v| v.to_ascii_lowercase()) {
        Some(v) if matches!(v.as_str(), "drop" | "reject" | "accept") => v,
        _ => "unknown".to_string(),
    };
    UfwFacts {
        installed: true,
        enabled: conf
            .get("ENABLED")
            .is_some_and(|v| v.eq_ignore_ascii_case("yes")),
        service_enabled: false,
        default_input_policy: pol("DEFAULT_INPUT_POLICY"),
        default_forward_policy: pol("DEFAULT_FORWARD_POLICY"),
        default_output_policy: pol("DEFAULT_OUTPUT_POLICY"),
        user_rules_count: rules
            .iter()
            .flat_map(|t| t.lines())
            .filter(|l| l.trim_start().starts_with("### tuple ###"))
            .count() as u64,
    }
}
