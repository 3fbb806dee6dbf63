#![allow(clippy::expect_used, clippy::unwrap_used)]
//! Benchmarks of the core: policy evaluation (the bundled baseline padded to
//! 100 rules, over a realistic Debian 12 evidence fixture) and DSSE
//! envelope signing and verification.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use evident_core::dsse::Signer;
use evident_core::evidence::PAYLOAD_TYPE;
use evident_core::policy::testcase::parse_fixture;
use evident_core::policy::{evaluate, PolicySet, PolicySource};
use evident_core::Catalog;

const BASELINE: &str = include_str!("../../policies/linux-baseline.toml");
const FIXTURE: &str = include_str!("../../policies/tests/fixtures/debian12-hardened.json");

/// The baseline plus copies of its rules (renamed) until there are 100 rules.
fn hundred_rules() -> PolicySet {
    let base = PolicySet::load(
        &[PolicySource::new("baseline.toml", BASELINE)],
        Catalog::annex_a(),
    )
    .expect("baseline loads");
    let have = base.rules().count();
    let mut sources = vec![PolicySource::new("baseline.toml", BASELINE)];
    if have < 100 {
        // Re-emit the first (100 - have) rules under new ids in a second policy.
        let mut extra =
            String::from("[policy]\nid = \"padding\"\nversion = \"1\"\ntitle = \"padding\"\n");
        let blocks: Vec<&str> = BASELINE.split("[[rule]]").skip(1).collect();
        for (i, block) in blocks.iter().cycle().take(100 - have).enumerate() {
            let renamed = block.replacen("id = \"", &format!("id = \"pad{i}."), 1);
            extra.push_str("[[rule]]");
            extra.push_str(&renamed);
        }
        sources.push(PolicySource::new("padding.toml", extra.into_bytes()));
    }
    PolicySet::load(&sources, Catalog::annex_a()).expect("padded set loads")
}

fn bench_evaluate(c: &mut Criterion) {
    let set = hundred_rules();
    assert_eq!(set.rules().count(), 100);
    let evidence = parse_fixture(FIXTURE.as_bytes()).expect("fixture parses");
    c.bench_function("evaluate 100 rules (debian12 fixture)", |b| {
        b.iter(|| evaluate(black_box(&set), black_box(&evidence)))
    });
    c.bench_function("load + compile bundled baseline", |b| {
        b.iter(|| PolicySet::load(&[PolicySource::new("b.toml", BASELINE)], Catalog::annex_a()))
    });
}

fn bench_dsse(c: &mut Criterion) {
    let signer = Signer::from_seed(&[7u8; 32]);
    let key = signer.verifying_key();
    // A realistic statement-sized payload (~3 KB).
    let payload = FIXTURE.as_bytes()[..FIXTURE.len().min(3072)].to_vec();
    let env = signer.sign_envelope(PAYLOAD_TYPE, payload.clone());
    let json = env.to_json();
    c.bench_function("sign envelope (3 KB)", |b| {
        b.iter(|| signer.sign_envelope(PAYLOAD_TYPE, black_box(payload.clone())))
    });
    c.bench_function("decode + verify envelope (3 KB)", |b| {
        b.iter(|| {
            let e = evident_core::dsse::Envelope::from_json(black_box(&json)).expect("decodes");
            e.verify(&key, PAYLOAD_TYPE)
                .map(|p| p.len())
                .expect("verifies")
        })
    });
}

criterion_group!(benches, bench_evaluate, bench_dsse);
criterion_main!(benches);
