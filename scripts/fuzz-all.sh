#!/usr/bin/env bash
# Run every cargo-fuzz target (fuzz/fuzz_targets: each probe parser, policy
# loading, policy test cases, envelope and ingest decoding) for SECONDS each,
# two at a time, under AddressSanitizer. Logs and any crash reproducer go to
# OUT_DIR (default target/fuzz-logs); exits 1 if any target found a crash.
#
#   cargo install cargo-fuzz        # once
#   scripts/fuzz-all.sh [SECONDS] [OUT_DIR]
#
# cargo-fuzz needs nightly flags (-Zsanitizer); RUSTC_BOOTSTRAP=1 lets the
# stable toolchain accept them.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-30}"
out="${2:-../target/fuzz-logs}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O
ls fuzz_targets | sed 's/\.rs$//' | xargs -P 2 -I{} sh -c \
  "cargo fuzz run -O {} -- -max_total_time=$secs -rss_limit_mb=2048 > '$out/{}.log' 2>&1; echo \"{} exit=\$?\"" \
  | sort > "$out/summary.txt"
for f in "$out"/*.log; do
  printf '%s: %s\n' "$(basename "$f" .log)" "$(grep -E '^#[0-9]+.*(DONE|pulse)' "$f" | tail -1 | awk '{print $1 " runs, cov " $3}')"
done
cat "$out/summary.txt"
! grep -qv ' exit=0$' "$out/summary.txt"
