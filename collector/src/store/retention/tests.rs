//! Tests of the retention decision.
use super::*;

fn d(b: u8) -> Digest {
    Digest([b; 32])
}

fn mark(seq: i64, at: i64, results: u8, content: u8) -> PruneMark {
    PruneMark {
        through_sequence: seq,
        prev_collected_at: at,
        prev_results: d(results),
        prev_content: Some(d(content)),
    }
}

fn cand(seq: i64, at: i64, results: u8, content: u8) -> Candidate {
    Candidate {
        sequence: seq,
        collected_at: at,
        results: d(results),
        content: Some(d(content)),
        previous: Some(d(9)),
        declares_gap: false,
    }
}

#[test]
fn only_unchanged_runs_inside_a_day_between_adjacent_sequences_are_pruned() {
    let hour = 3_600_000;
    let m = mark(10, 5 * DAY_MS + hour, 1, 2);
    // Same day, same results and content, adjacent on both sides: pruned.
    assert!(!keep(
        Some(&m),
        &cand(11, 5 * DAY_MS + 2 * hour, 1, 2),
        12,
        false
    ));
    // The first statement ever considered is kept.
    assert!(keep(
        None,
        &cand(11, 5 * DAY_MS + 2 * hour, 1, 2),
        12,
        false
    ));
    // First of a new UTC day.
    assert!(keep(Some(&m), &cand(11, 6 * DAY_MS, 1, 2), 12, false));
    // Results or content changed.
    assert!(keep(
        Some(&m),
        &cand(11, 5 * DAY_MS + 2 * hour, 3, 2),
        12,
        false
    ));
    assert!(keep(
        Some(&m),
        &cand(11, 5 * DAY_MS + 2 * hour, 1, 3),
        12,
        false
    ));
    // Carries an integrity event or a transition.
    assert!(keep(
        Some(&m),
        &cand(11, 5 * DAY_MS + 2 * hour, 1, 2),
        12,
        true
    ));
    // Borders a sequence gap on either side.
    assert!(keep(
        Some(&m),
        &cand(12, 5 * DAY_MS + 2 * hour, 1, 2),
        13,
        false
    ));
    assert!(keep(
        Some(&m),
        &cand(11, 5 * DAY_MS + 2 * hour, 1, 2),
        14,
        false
    ));
    // Declares dropped runs, or could not be read.
    let mut g = cand(11, 5 * DAY_MS + 2 * hour, 1, 2);
    g.declares_gap = true;
    assert!(keep(Some(&m), &g, 12, false));
    let mut u = cand(11, 5 * DAY_MS + 2 * hour, 1, 2);
    u.content = None;
    assert!(keep(Some(&m), &u, 12, false));
}

#[test]
fn unreadable_envelopes_are_kept() {
    let c = Candidate::read(3, 0, d(1), b"not an envelope");
    assert_eq!(c.content, None);
    assert!(c.declares_gap);
    assert!(keep(Some(&mark(2, 0, 1, 2)), &c, 4, false));
}

#[test]
fn the_policy_names_its_window() {
    assert!(policy_text(400).starts_with("keep every statement for 400 days"));
}
