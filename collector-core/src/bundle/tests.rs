use super::*;
use crate::evidence::{AgentInfo, HostFacts, Predicate, ProbeEntry, ProbeStatus, Schedule};
use crate::policy::{evaluate, RuleStatus};

const POLICY: &str = r#"
[policy]
id = "test"
version = "1"
title = "Test policy"

[[rule]]
id = "ssh.root"
title = "No root login"
controls = ["A.8.5"]
severity = "high"
requires = ["sshd"]
check = 'sshd.permitrootlogin == "no"'
"#;

struct Host {
    signer: dsse::Signer,
    id: String,
    hostname: String,
    previous: Option<Digest>,
}

fn host(seed: u8, id: &str, hostname: &str) -> Host {
    Host {
        signer: dsse::Signer::from_seed(&[seed; 32]),
        id: id.into(),
        hostname: hostname.into(),
        previous: None,
    }
}

fn policy_set() -> PolicySet {
    PolicySet::load(
        &[PolicySource::new("test.toml", POLICY)],
        Catalog::annex_a(),
    )
    .unwrap()
}

/// A statement signed by `h` at `seq`, chained unless `previous` is given.
fn sign(h: &mut Host, seq: u64, blob: &[u8], previous: Option<Option<Digest>>) -> Vec<u8> {
    let at = format!("2026-11-20T10:{seq:02}:00Z").parse().unwrap();
    sign_at(h, seq, blob, previous, at)
}

/// [`sign`] collected at `at`.
fn sign_at(
    h: &mut Host,
    seq: u64,
    blob: &[u8],
    previous: Option<Option<Digest>>,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<u8> {
    let predicate = Predicate {
        agent: AgentInfo {
            id: h.id.clone(),
            version: "0.1.0".into(),
        },
        host: HostFacts {
            hostname: h.hostname.clone(),
            os_family: "linux".into(),
            ..HostFacts::default()
        },
        sequence: seq,
        previous: previous.unwrap_or(h.previous),
        gap: None,
        collected_at: at,
        schedule: Schedule {
            cron: "0 */15 * * * *".into(),
            interval_seconds: 900,
        },
        probes: vec![ProbeEntry {
            id: "sshd".into(),
            version: 1,
            status: ProbeStatus::Ok,
            duration_us: 1,
            digest: Some(sha256_digest(blob)),
            reason: None,
        }],
    };
    let env = h
        .signer
        .sign_envelope(PAYLOAD_TYPE, Statement::new(predicate).to_bytes())
        .to_json();
    h.previous = Some(sha256_digest(&env));
    env
}

fn add(
    members: &mut BTreeMap<String, Vec<u8>>,
    index: &mut Index,
    h: &Host,
    seq: u64,
    env: Vec<u8>,
    blob: &[u8],
) {
    let st = Statement::from_bytes(Envelope::from_json(&env).unwrap().payload.as_slice()).unwrap();
    let ev = Evidence::from_statement(&st, |_| Some(blob)).unwrap();
    let results = serde_json::to_vec(&RecordedResults::from_evaluation(evaluate(
        &policy_set(),
        &ev,
    )))
    .unwrap();
    let rd = sha256_digest(&results);
    members.insert(results_path(&rd), results);
    members.insert(blob_path(&sha256_digest(blob)), blob.to_vec());
    file_statement(members, index, &h.id, seq, env, &st, rd);
}

/// File `env` (statement `st` of `agent` at `seq`, recorded with results
/// `rd`) in the bundle and its index.
pub(super) fn file_statement(
    members: &mut BTreeMap<String, Vec<u8>>,
    index: &mut Index,
    agent: &str,
    seq: u64,
    env: Vec<u8>,
    st: &Statement,
    rd: Digest,
) {
    let path = envelope_path(agent, seq);
    index.statements.push(IndexEntry {
        agent: agent.into(),
        sequence: seq,
        envelope: sha256_digest(&env),
        path: path.clone(),
        collected_at: st.predicate.collected_at,
        received_at: st.predicate.collected_at,
        results: rd,
    });
    members.insert(path, env);
}

fn agent_record(h: &Host) -> Vec<u8> {
    serde_json::to_vec(&AgentEntry {
        id: h.id.clone(),
        key_id: h.signer.key_id().to_string(),
        public_key: B64.encode(h.signer.verifying_key().as_bytes()),
        hostname: h.hostname.clone(),
        agent_version: "0.1.0".into(),
        status: "active".into(),
        enrolled_at: "2026-11-20T09:00:00Z".parse().unwrap(),
    })
    .unwrap()
}

fn collector() -> dsse::Signer {
    dsse::Signer::from_seed(&[99u8; 32])
}

fn reseal(members: &mut BTreeMap<String, Vec<u8>>) {
    seal(
        members,
        &collector(),
        "2026-11-21T00:00:00Z".parse().unwrap(),
        "test",
        Scope::default(),
    );
}

/// Two hosts, four statements each, sealed.
fn bundle() -> (BTreeMap<String, Vec<u8>>, Index, Host, Host) {
    let mut members = BTreeMap::new();
    let mut index = Index::default();
    let mut a = host(1, "agt_a", "web-1");
    let mut b = host(2, "agt_b", "db-1");
    let good = br#"{"permitrootlogin":"no"}"#;
    let bad = br#"{"permitrootlogin":"yes"}"#;
    for seq in 1..=4 {
        let env = sign(&mut a, seq, good, None);
        add(&mut members, &mut index, &a, seq, env, good);
        let env = sign(&mut b, seq, bad, None);
        add(&mut members, &mut index, &b, seq, env, bad);
    }
    members.insert(agent_path(&a.id), agent_record(&a));
    members.insert(agent_path(&b.id), agent_record(&b));
    let files = vec![PolicyFileEntry {
        name: "test.toml".into(),
        path: "policies/000-test.toml".into(),
        sha256: sha256_digest(POLICY.as_bytes()),
        kind: PolicyKind::Policy,
    }];
    members.insert("policies/000-test.toml".into(), POLICY.as_bytes().to_vec());
    members.insert(
        POLICY_INDEX_PATH.into(),
        serde_json::to_vec(&files).unwrap(),
    );
    set_index(&mut members, &index);
    reseal(&mut members);
    (members, index, a, b)
}

fn run(members: &BTreeMap<String, Vec<u8>>) -> Report {
    verify(members, &mut |_, _| {})
}

fn failure_text(r: &Report) -> String {
    r.failures()
        .map(|f| format!("[{}] {}: {}", f.kind, f.subject, f.message))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_sealed_bundle_verifies() {
    let (members, _, _, _) = bundle();
    let r = run(&members);
    assert!(r.ok, "{}", failure_text(&r));
    assert_eq!(r.checked.envelopes, 8);
    assert_eq!(r.checked.hosts, 2);
    assert_eq!(r.checked.results_confirmed, 8);
    assert_eq!(r.collector_key_id.as_deref(), Some(collector().key_id()));
}

#[test]
fn a_changed_member_is_named() {
    let (mut members, _, _, _) = bundle();
    let path = blob_path(&sha256_digest(br#"{"permitrootlogin":"no"}"#));
    members.get_mut(&path).unwrap()[3] ^= 1;
    let r = run(&members);
    assert!(!r.ok);
    let text = failure_text(&r);
    assert!(text.contains(&format!("[member] {path}")), "{text}");
    assert!(text.contains("[blob]"), "{text}");
}

#[test]
fn a_manifest_signed_by_another_key_fails() {
    let (mut members, _, _, _) = bundle();
    let other = dsse::Signer::from_seed(&[7u8; 32]);
    members.insert(
        COLLECTOR_KEY_PATH.into(),
        B64.encode(other.verifying_key().as_bytes()).into_bytes(),
    );
    let r = run(&members);
    assert!(!r.ok);
    assert!(
        failure_text(&r).contains("[manifest]"),
        "{}",
        failure_text(&r)
    );
}

#[test]
fn an_unlisted_member_fails() {
    let (mut members, _, _, _) = bundle();
    members.insert("extra.txt".into(), b"hi".to_vec());
    let text = failure_text(&run(&members));
    assert!(text.contains("[member] extra.txt"), "{text}");
}

#[test]
fn deleting_an_envelope_from_the_middle_is_a_gap_naming_host_and_range() {
    let (mut members, mut index, a, _) = bundle();
    let path = envelope_path(&a.id, 2);
    members.remove(&path);
    index.statements.retain(|e| e.path != path);
    set_index(&mut members, &index);
    reseal(&mut members);
    let r = run(&members);
    assert!(!r.ok);
    let text = failure_text(&r);
    assert!(
        text.contains("[gap] host web-1 (agent agt_a) sequences 2..=2"),
        "{text}"
    );
}

#[test]
fn an_envelope_from_another_host_is_refused() {
    let (mut members, index, a, b) = bundle();
    let from_b = members[&envelope_path(&b.id, 3)].clone();
    members.insert(envelope_path(&a.id, 3), from_b);
    reseal(&mut members);
    let r = run(&members);
    assert!(!r.ok);
    let text = failure_text(&r);
    assert!(
        text.contains("[envelope] host web-1 (agent agt_a) sequence 3"),
        "{text}"
    );
    assert!(text.contains("signed by the key of host db-1"), "{text}");
    // Also when the index is rewritten to the swapped envelope's digest.
    let mut index = index;
    for e in &mut index.statements {
        if e.agent == a.id && e.sequence == 3 {
            e.envelope = sha256_digest(&members[&e.path]);
        }
    }
    set_index(&mut members, &index);
    reseal(&mut members);
    let text = failure_text(&run(&members));
    assert!(text.contains("signed by the key of host db-1"), "{text}");
}

#[test]
fn a_chain_break_names_the_range() {
    let (mut members, mut index, mut a, _) = bundle();
    let good = br#"{"permitrootlogin":"no"}"#;
    a.previous = None;
    // Re-sign sequence 4 with a wrong previous.
    let env = sign(&mut a, 4, good, Some(Some(sha256_digest(b"elsewhere"))));
    index
        .statements
        .retain(|e| !(e.agent == a.id && e.sequence == 4));
    members.remove(&envelope_path(&a.id, 4));
    add(&mut members, &mut index, &a, 4, env, good);
    set_index(&mut members, &index);
    reseal(&mut members);
    let text = failure_text(&run(&members));
    assert!(
        text.contains("[chain] host web-1 (agent agt_a) sequences 3..=4"),
        "{text}"
    );
}

#[test]
fn a_replaced_policy_fails() {
    let (mut members, _, _, _) = bundle();
    let changed = POLICY.replace(r#"== "no""#, r#"!= "no""#);
    members.insert("policies/000-test.toml".into(), changed.as_bytes().to_vec());
    reseal(&mut members);
    let text = failure_text(&run(&members));
    assert!(text.contains("[policy] test.toml"), "{text}");
    // Even with the policy index rewritten, the results no longer match.
    let files = vec![PolicyFileEntry {
        name: "test.toml".into(),
        path: "policies/000-test.toml".into(),
        sha256: sha256_digest(changed.as_bytes()),
        kind: PolicyKind::Policy,
    }];
    members.insert(
        POLICY_INDEX_PATH.into(),
        serde_json::to_vec(&files).unwrap(),
    );
    reseal(&mut members);
    let text = failure_text(&run(&members));
    assert!(text.contains("which the bundle does not include"), "{text}");
}

#[test]
fn altered_results_are_caught_by_re_evaluation() {
    let (mut members, mut index, a, _) = bundle();
    let e = index
        .statements
        .iter_mut()
        .find(|e| e.agent == a.id && e.sequence == 1)
        .unwrap();
    let mut rec: RecordedResults =
        serde_json::from_slice(&members[&results_path(&e.results)]).unwrap();
    rec.rules[0].status = RuleStatus::Fail;
    let bytes = serde_json::to_vec(&rec).unwrap();
    e.results = sha256_digest(&bytes);
    members.insert(results_path(&e.results), bytes);
    set_index(&mut members, &index);
    reseal(&mut members);
    let text = failure_text(&run(&members));
    assert!(
        text.contains("[results] agent agt_a sequence 1: recorded results differ from re-evaluation: rule ssh.root: recorded fail, re-evaluated pass"),
        "{text}"
    );
}

#[test]
fn garbage_members_never_panic() {
    let (members, _, _, _) = bundle();
    for path in members.keys() {
        let mut m = members.clone();
        m.insert(path.clone(), b"\xff{not json".to_vec());
        let r = run(&m);
        assert!(!r.ok, "{path}");
    }
}

/// A policy whose A.8.5 is hybrid: the rule plus a restore-style attestation.
fn hybrid_policy() -> String {
    format!(
        "{POLICY}\n[[control]]\nid = \"A.8.5\"\ncoverage = \"full\"\nattestation = {{ max_age_days = 90, statement = \"Authentication review\" }}\n"
    )
}

/// One host, one statement evaluated with a current attestation for A.8.5;
/// the attestation and its attester are in the bundle when `with_attestation`.
fn hybrid_bundle(with_attestation: bool) -> BTreeMap<String, Vec<u8>> {
    hybrid_bundle_at(with_attestation, &["2026-11-20T10:01:00Z"])
}

/// [`hybrid_bundle`] with one unchanged statement collected at each of
/// `times`, every one recorded with the first one's results (which cite
/// the attestation, current on the first day: signed 2026-10-01, counted
/// for 90 days).
fn hybrid_bundle_at(with_attestation: bool, times: &[&str]) -> BTreeMap<String, Vec<u8>> {
    use crate::attestation::{Attestation, Attester, ATTESTATION_TYPE};
    let policy = hybrid_policy();
    let set = PolicySet::load(
        &[PolicySource::new("test.toml", policy.as_bytes())],
        Catalog::annex_a(),
    )
    .unwrap();
    let person = dsse::Signer::from_seed(&[42u8; 32]);
    let att = Attestation {
        type_: ATTESTATION_TYPE.into(),
        control: "A.8.5".into(),
        statement: "Authentication review done".into(),
        attester: Attester {
            name: "ciso@example.com".into(),
            key_id: person.key_id().into(),
        },
        signed_at: "2026-10-01T09:00:00Z".parse().unwrap(),
        expires: "2027-09-30".parse().unwrap(),
        evidence: vec![],
    };
    let att_env = att.sign(&person);
    let att_digest = sha256_digest(&att_env);

    let mut members = BTreeMap::new();
    let mut index = Index::default();
    let mut a = host(1, "agt_a", "web-1");
    let good = br#"{"permitrootlogin":"no"}"#;
    let mut first: Option<Digest> = None;
    for (i, t) in times.iter().enumerate() {
        let seq = i as u64 + 1;
        let env = sign_at(&mut a, seq, good, None, t.parse().unwrap());
        let st =
            Statement::from_bytes(Envelope::from_json(&env).unwrap().payload.as_slice()).unwrap();
        let rd = *first.get_or_insert_with(|| {
            let ev = Evidence::from_statement(&st, |_| Some(&good[..])).unwrap();
            let eval = evaluate_with(&set, &ev, &[AttestationInput::new(att_digest, &att)]);
            let a85 = eval.controls.iter().find(|c| c.id == "A.8.5").unwrap();
            assert_eq!(a85.status, crate::policy::ControlStatus::Satisfied);
            assert_eq!(a85.attestation, Some(att_digest));
            let results = serde_json::to_vec(&RecordedResults::from_evaluation(eval)).unwrap();
            let rd = sha256_digest(&results);
            members.insert(results_path(&rd), results);
            rd
        });
        members.insert(blob_path(&sha256_digest(good)), good.to_vec());
        file_statement(&mut members, &mut index, &a.id, seq, env, &st, rd);
    }
    members.insert(agent_path(&a.id), agent_record(&a));
    if with_attestation {
        members.insert(attestation_path(&att_digest), att_env);
        members.insert(
            attester_path(person.key_id()),
            serde_json::to_vec(&AttesterEntry {
                key_id: person.key_id().into(),
                name: "ciso@example.com".into(),
                public_key: B64.encode(person.verifying_key().as_bytes()),
                registered_at: None,
                revoked_at: None,
            })
            .unwrap(),
        );
    }
    seal_with_policy(members, &index, policy)
}

/// `members` with `policy` as the bundle's one policy file and `index`,
/// sealed.
fn seal_with_policy(
    mut members: BTreeMap<String, Vec<u8>>,
    index: &Index,
    policy: String,
) -> BTreeMap<String, Vec<u8>> {
    let files = vec![PolicyFileEntry {
        name: "test.toml".into(),
        path: "policies/000-test.toml".into(),
        sha256: sha256_digest(policy.as_bytes()),
        kind: PolicyKind::Policy,
    }];
    members.insert("policies/000-test.toml".into(), policy.into_bytes());
    members.insert(
        POLICY_INDEX_PATH.into(),
        serde_json::to_vec(&files).unwrap(),
    );
    set_index(&mut members, index);
    reseal(&mut members);
    members
}

/// [`POLICY`] and a rule reading the day that passes before 2026-11-22.
fn day_policy() -> String {
    format!(
        "{POLICY}\n[[rule]]\nid = \"ssh.early\"\ntitle = \"Early\"\ncontrols = [\"A.8.9\"]\nseverity = \"low\"\nrequires = [\"sshd\"]\ncheck = 'collected_day < timestamp(\"2026-11-22T00:00:00Z\")'\n"
    )
}

/// One unchanged host collected at `times` under [`day_policy`], each
/// statement recorded with its own results, or, when `forge_last`, the
/// last one with the results of the one before it.
fn day_bundle(times: &[&str], forge_last: bool) -> BTreeMap<String, Vec<u8>> {
    let good: &[u8] = br#"{"permitrootlogin":"no"}"#;
    day_bundle_of(times, &vec![good; times.len()], forge_last)
}

/// [`day_bundle`] with the host's sshd output at `times[i]` being
/// `bodies[i]`.
fn day_bundle_of(times: &[&str], bodies: &[&[u8]], forge_last: bool) -> BTreeMap<String, Vec<u8>> {
    let policy = day_policy();
    let set = PolicySet::load(
        &[PolicySource::new("test.toml", policy.as_bytes())],
        Catalog::annex_a(),
    )
    .unwrap();
    let mut members = BTreeMap::new();
    let mut index = Index::default();
    let mut a = host(1, "agt_a", "web-1");
    for body in bodies {
        members.insert(blob_path(&sha256_digest(body)), body.to_vec());
    }
    let mut previous: Option<Digest> = None;
    for (i, t) in times.iter().enumerate() {
        let seq = i as u64 + 1;
        let good = bodies[i];
        let env = sign_at(&mut a, seq, good, None, t.parse().unwrap());
        let st =
            Statement::from_bytes(Envelope::from_json(&env).unwrap().payload.as_slice()).unwrap();
        let rd = match previous {
            Some(p) if forge_last && i + 1 == times.len() => p,
            _ => {
                let ev = Evidence::from_statement(&st, |_| Some(good)).unwrap();
                let results =
                    serde_json::to_vec(&RecordedResults::from_evaluation(evaluate(&set, &ev)))
                        .unwrap();
                let rd = sha256_digest(&results);
                members.insert(results_path(&rd), results);
                rd
            }
        };
        previous = Some(rd);
        file_statement(&mut members, &mut index, &a.id, seq, env, &st, rd);
    }
    members.insert(agent_path(&a.id), agent_record(&a));
    seal_with_policy(members, &index, policy)
}

const DAYS: [&str; 6] = [
    "2026-11-20T10:00:00Z",
    "2026-11-20T11:00:00Z",
    "2026-11-21T10:00:00Z",
    "2026-11-21T11:00:00Z",
    "2026-11-22T10:00:00Z",
    "2026-11-22T11:00:00Z",
];

/// An unchanged host's next day runs only the rule reading the day and
/// takes the previous day's results when it gives the same result; when
/// it turns, the day is evaluated in full. Both readers count the same.
#[test]
fn an_unchanged_hosts_next_day_re_evaluates_only_its_day_rules() {
    let members = day_bundle(&DAYS, false);
    for r in [run(&members), ordered_report(&members)] {
        assert!(r.ok, "{}", failure_text(&r));
        assert_eq!(r.checked.results_confirmed, 6);
        // 20th in full; 21st from the 20th (the day rule still passes);
        // 22nd in full (it fails from then on).
        assert_eq!(r.checked.results_evaluated, 2);
        assert_eq!(r.checked.results_day_only, 1);
    }
}

/// A host whose sshd output cycles through more states than the
/// verifier's caches hold (3 in these tests): the caches start again in
/// the middle of a batch, and batches still count and confirm exactly as
/// one statement at a time (asserted inside `ordered_report`).
#[test]
fn re_evaluation_in_batches_counts_as_one_at_a_time_across_cache_restarts() {
    let bodies: [&[u8]; 4] = [
        br#"{"permitrootlogin":"no"}"#,
        br#"{"permitrootlogin":"yes"}"#,
        br#"{"permitrootlogin":"prohibit-password"}"#,
        br#"{"permitrootlogin":"without-password"}"#,
    ];
    let times: Vec<String> = (10..=25)
        .flat_map(|d| {
            [
                format!("2026-11-{d}T10:00:00Z"),
                format!("2026-11-{d}T11:00:00Z"),
            ]
        })
        .collect();
    let times: Vec<&str> = times.iter().map(String::as_str).collect();
    // Four states a day apart, then the same four again: the day-free key
    // of each repeats after the cache restarted.
    let cycling: Vec<&[u8]> = (0..times.len()).map(|i| bodies[(i / 2) % 4]).collect();
    let members = day_bundle_of(&times, &cycling, false);
    let r = ordered_report(&members);
    assert!(r.ok, "{}", failure_text(&r));
    assert_eq!(r.checked.results_confirmed, times.len());
    assert_eq!(r, general_report(&members), "the in-memory verifier agrees");
    // Two unchanged runs a day: the second takes the first's evaluation.
    assert!(r.checked.results_evaluated + r.checked.results_day_only < times.len());
    // Same states on two days: some re-evaluations were of the day rule only.
    let steady = day_bundle_of(&times, &vec![bodies[0]; times.len()], false);
    let s = ordered_report(&steady);
    assert!(s.ok, "{}", failure_text(&s));
    assert!(s.checked.results_day_only > 0, "{:?}", s.checked);
    // Four states within one day, twice: each evaluation key comes back
    // after the cache restarted, and is evaluated again.
    let hours: Vec<String> = (0..8)
        .map(|h| format!("2026-11-20T{h:02}:00:00Z"))
        .collect();
    let hours: Vec<&str> = hours.iter().map(String::as_str).collect();
    let flapping: Vec<&[u8]> = (0..8).map(|i| bodies[i % 4]).collect();
    let f = ordered_report(&day_bundle_of(&hours, &flapping, false));
    assert!(f.ok, "{}", failure_text(&f));
    assert_eq!(f.checked.results_confirmed, 8);
    assert_eq!(f.checked.results_evaluated + f.checked.results_day_only, 8);
}

/// A forged last day (the day rule turned, the results say it did not)
/// is caught although its day-free key would differ only by that rule.
#[test]
fn a_day_rule_that_turned_is_not_taken_from_the_day_before() {
    // The 22nd's first run recorded with the 21st's results.
    let members = day_bundle(&DAYS[..5], true);
    for r in [run(&members), ordered_report(&members)] {
        assert!(!r.ok);
        let text = failure_text(&r);
        assert!(
            text.contains("agent agt_a sequence 5") && text.contains("rule ssh.early"),
            "{text}"
        );
        assert_eq!(r.checked.results_confirmed, 4);
    }
    // Forged on a day where the rule still passes: the same results, confirmed.
    let members = day_bundle(&DAYS[..4], true);
    assert!(run(&members).ok);
}

#[test]
fn re_evaluation_of_a_hybrid_control_uses_the_cited_attestation() {
    let members = hybrid_bundle(true);
    let r = run(&members);
    assert!(r.ok, "{}", failure_text(&r));
    assert_eq!(r.checked.results_confirmed, 1);
}

/// An unchanged host whose results keep citing the attestation after it
/// stopped counting (90 days after 2026-10-01): the later statement must
/// be re-evaluated on its own day, not take the earlier evaluation.
#[test]
fn results_citing_an_attestation_are_re_evaluated_on_each_day() {
    let members = hybrid_bundle_at(true, &["2026-11-20T10:01:00Z", "2027-01-15T10:01:00Z"]);
    let r = run(&members);
    assert!(
        !r.ok,
        "a result claiming an expired attestation was confirmed"
    );
    let text = failure_text(&r);
    assert!(
        text.contains("agent agt_a sequence 2") && text.contains("recorded results differ"),
        "{text}"
    );
    assert_eq!(r.checked.results_confirmed, 1);
    // Both days inside the 90: both confirmed.
    let members = hybrid_bundle_at(true, &["2026-11-20T10:01:00Z", "2026-12-20T10:01:00Z"]);
    let r = run(&members);
    assert!(r.ok, "{}", failure_text(&r));
    assert_eq!(r.checked.results_confirmed, 2);
    // The ordered (streaming) reader too.
    let members = hybrid_bundle_at(true, &["2026-11-20T10:01:00Z", "2027-01-15T10:01:00Z"]);
    let r = ordered_report(&members);
    assert!(!r.ok, "the ordered reader confirmed an expired attestation");
}

#[test]
fn results_citing_an_attestation_the_bundle_lacks_fail() {
    let members = hybrid_bundle(false);
    let r = run(&members);
    assert!(!r.ok);
    let text = failure_text(&r);
    assert!(text.contains("which the bundle does not include"), "{text}");
    assert_eq!(r.checked.results_confirmed, 0);
}

#[test]
fn an_attestation_signed_after_its_attester_was_revoked_fails() {
    let mut members = hybrid_bundle(true);
    let path = members
        .keys()
        .find(|k| k.starts_with("attesters/"))
        .unwrap()
        .clone();
    let set_revoked = |members: &mut BTreeMap<String, Vec<u8>>, at: &str| {
        let mut entry: AttesterEntry = serde_json::from_slice(&members[&path]).unwrap();
        entry.revoked_at = Some(at.parse().unwrap());
        members.insert(path.clone(), serde_json::to_vec(&entry).unwrap());
        reseal(members);
    };
    // Revoked after it signed (2026-10-01): the attestation still counts.
    set_revoked(&mut members, "2026-10-02T00:00:00Z");
    let r = run(&members);
    assert!(r.ok, "{}", failure_text(&r));
    // Revoked before it signed: refused, naming the attester and both times.
    set_revoked(&mut members, "2026-09-30T00:00:00Z");
    let r = run(&members);
    assert!(!r.ok);
    let text = failure_text(&r);
    assert!(
        text.contains("after the attester key") && text.contains("was revoked at 2026-09-30"),
        "{text}"
    );
}

#[test]
fn the_report_lists_attesters_with_their_revocation_and_warns_on_a_pinned_revoked_key() {
    let mut members = hybrid_bundle(true);
    let path = members
        .keys()
        .find(|k| k.starts_with("attesters/"))
        .unwrap()
        .clone();
    let mut entry: AttesterEntry = serde_json::from_slice(&members[&path]).unwrap();
    entry.registered_at = Some("2026-01-01T00:00:00Z".parse().unwrap());
    entry.revoked_at = Some("2026-10-02T00:00:00Z".parse().unwrap());
    let key_id = entry.key_id.clone();
    members.insert(path, serde_json::to_vec(&entry).unwrap());
    reseal(&mut members);
    // Unpinned: listed with when it was added and revoked, no warning.
    let r = run(&members);
    assert_eq!(r.attesters.len(), 1);
    let a = &r.attesters[0];
    assert_eq!(a.key_id, key_id);
    assert_eq!(a.added_at, Some("2026-01-01T00:00:00Z".parse().unwrap()));
    assert_eq!(a.revoked_at, Some("2026-10-02T00:00:00Z".parse().unwrap()));
    assert!(!a.pinned);
    // Pinned with --trust-attester: marked, and the revocation is a warning.
    let pins = Pins {
        collector: None,
        attesters: vec![trust::parse_trust(&key_id).unwrap()],
    };
    let r = verify_pinned(&members, &pins, &mut |_, _| {});
    assert!(r.attesters[0].pinned);
    let warning = r
        .findings
        .iter()
        .find(|f| f.kind == "trust" && f.message.contains("was revoked"))
        .unwrap_or_else(|| panic!("{:?}", r.findings));
    assert!(warning.message.contains(&key_id) && warning.message.contains("2026-10-02"));
}

/// The members of `members` a streaming reader keeps in memory.
fn small(members: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    members
        .iter()
        .filter(|(k, _)| {
            !k.starts_with("envelopes/")
                && !k.starts_with("blobs/")
                && !k.starts_with(MANIFEST_PIECES)
                && !k.starts_with(INDEX_PIECES)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// What a reader of a v2 bundle in manifest order does with
/// [`ordered::Ordered`]: the member list piece by piece, then the index
/// (grouped by agent, sequences ascending) with each envelope. One entry at
/// a time, in batches of 3 and in one batch, the batches' jobs run
/// backwards: the same report each way (asserted), which is returned.
pub(super) fn ordered_report(members: &BTreeMap<String, Vec<u8>>) -> Report {
    let one = ordered_report_in(members, None);
    for batch in [3, usize::MAX] {
        assert_eq!(
            ordered_report_in(members, Some(batch)),
            one,
            "batches of {batch} give the report of one entry at a time"
        );
    }
    one
}

/// Runs jobs last to first (returning them in order): a check that a
/// batch's jobs do not depend on each other.
struct Backwards;

impl Parallel for Backwards {
    fn map<T: Send, F: Fn(usize) -> T + Sync>(&self, n: usize, f: F) -> Vec<T> {
        let mut out: Vec<T> = (0..n).rev().map(f).collect();
        out.reverse();
        out
    }
}

/// [`ordered_report`] with entries applied one at a time (`None`) or in
/// batches of `batch` with [`Backwards`].
fn ordered_report_in(members: &BTreeMap<String, Vec<u8>>, batch: Option<usize>) -> Report {
    let small = small(members);
    let mut o = ordered::Ordered::start(&small, members).expect("a v2 root that verifies");
    let mut n = 0;
    for p in o.pieces().to_vec() {
        n += 1;
        let piece: ManifestPiece = serde_json::from_slice(&members[&p.path]).unwrap();
        for e in piece.members {
            n += 1;
            if e.path.starts_with("blobs/") {
                o.blob_name(&e.path, &sha256_digest(&members[&e.path]));
            }
        }
    }
    o.members_checked(n);
    let mut entries = read_index(members).statements;
    entries.sort_by(|a, b| (&a.agent, a.sequence).cmp(&(&b.agent, b.sequence)));
    let mut prev: Option<IndexEntry> = None;
    let mut pending = Vec::new();
    for e in entries {
        assert!(ordered::in_order(prev.as_ref(), &e));
        prev = Some(e.clone());
        let bytes = &members[&e.path];
        let c = o.checker().check(&e, bytes, sha256_digest(bytes));
        match batch {
            None => o.apply(e, c),
            Some(size) => {
                pending.push((e, c));
                if pending.len() >= size {
                    o.apply_batch(std::mem::take(&mut pending), &Backwards);
                }
            }
        }
    }
    o.apply_batch(pending, &Backwards);
    o.finish_pinned(&Pins::default())
}

pub(super) fn general_report(members: &BTreeMap<String, Vec<u8>>) -> Report {
    verify_pinned(members, &Pins::default(), &mut |_, _| {})
}

#[test]
fn ordered_verification_gives_the_in_memory_report() {
    let (members, _, _, _) = bundle();
    let r = ordered_report(&members);
    assert!(r.ok, "{}", failure_text(&r));
    assert_eq!(r, general_report(&members));
    // A chain break and altered results, resealed: the same findings.
    let (mut members, mut index, mut a, _) = bundle();
    let good = br#"{"permitrootlogin":"no"}"#;
    a.previous = None;
    let env = sign(&mut a, 4, good, Some(Some(sha256_digest(b"elsewhere"))));
    index
        .statements
        .retain(|e| !(e.agent == a.id && e.sequence == 4));
    members.remove(&envelope_path(&a.id, 4));
    add(&mut members, &mut index, &a, 4, env, good);
    let e = index
        .statements
        .iter_mut()
        .find(|e| e.agent == a.id && e.sequence == 1)
        .unwrap();
    let mut rec: RecordedResults =
        serde_json::from_slice(&members[&results_path(&e.results)]).unwrap();
    rec.rules[0].status = RuleStatus::Fail;
    let bytes = serde_json::to_vec(&rec).unwrap();
    e.results = sha256_digest(&bytes);
    members.insert(results_path(&e.results), bytes);
    set_index(&mut members, &index);
    reseal(&mut members);
    let r = ordered_report(&members);
    assert!(!r.ok);
    let text = failure_text(&r);
    assert!(
        text.contains("[chain] host web-1 (agent agt_a) sequences 3..=4"),
        "{text}"
    );
    assert!(text.contains("[results] agent agt_a sequence 1"), "{text}");
    assert_eq!(r, general_report(&members));
    // Attestations and revoked attesters.
    for with in [true, false] {
        let members = hybrid_bundle(with);
        assert_eq!(ordered_report(&members), general_report(&members));
    }
}

#[test]
fn the_manifest_and_the_index_are_in_pieces() {
    let (mut members, index, _, _) = bundle();
    for i in 0..(2 * PIECE_ENTRIES + 10) {
        members.insert(format!("notes/{i:05}"), vec![b'x'; i % 7]);
    }
    reseal(&mut members);
    let pieces: Vec<&String> = members
        .keys()
        .filter(|k| k.starts_with(MANIFEST_PIECES))
        .collect();
    assert_eq!(pieces.len(), 3, "{pieces:?}");
    assert!(!members.contains_key(INDEX_PATH));
    assert_eq!(read_index(&members), index);
    let r = run(&members);
    assert!(r.ok, "{}", failure_text(&r));
    // Every member but the root and the key is checked, pieces included.
    assert_eq!(r.checked.members, members.len() - 2);
    assert_eq!(ordered_report(&members), general_report(&members));
    // A piece removed: the piece and every member it listed are named.
    let mut broken = members.clone();
    broken.remove(&manifest_piece_path(1));
    let text = failure_text(&run(&broken));
    assert!(
        text.contains("[member] manifest/000001.json: listed in the manifest but missing"),
        "{text}"
    );
    assert!(
        text.contains("present in the bundle but not listed in the manifest"),
        "{text}"
    );
    // An index of more than one piece reads back whole.
    let mut big = Index::default();
    for i in 0..(PIECE_ENTRIES as u64 + 3) {
        let mut e = index.statements[0].clone();
        e.sequence = i;
        big.statements.push(e);
    }
    set_index(&mut members, &big);
    assert_eq!(
        members
            .keys()
            .filter(|k| k.starts_with(INDEX_PIECES))
            .count(),
        2
    );
    assert_eq!(read_index(&members), big);
}

#[test]
fn a_v1_bundle_made_by_the_old_writer_still_verifies() {
    let (mut members, index, a, _) = bundle();
    members.retain(|k, _| !k.starts_with(INDEX_PIECES) && !k.starts_with(MANIFEST_PIECES));
    members.insert(INDEX_PATH.into(), serde_json::to_vec(&index).unwrap());
    seal_v1(
        &mut members,
        &collector(),
        "2026-11-21T00:00:00Z".parse().unwrap(),
        "test",
        Scope::default(),
    );
    let r = run(&members);
    assert!(r.ok, "{}", failure_text(&r));
    assert_eq!(r.checked.envelopes, 8);
    assert_eq!(r.checked.results_confirmed, 8);
    assert_eq!(read_index(&members), index);
    // The streaming reader's fast path is for v2 only.
    assert!(ordered::Ordered::start(&small(&members), &members).is_none());
    // And its checks still bite.
    members.remove(&envelope_path(&a.id, 2));
    let text = failure_text(&run(&members));
    assert!(text.contains("is missing"), "{text}");
}
