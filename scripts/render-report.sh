#!/usr/bin/env bash
# Render `evident-collector report --bundle … --format html` (and `soa`) from a verified bundle
# in headless Chromium and take screenshots, to look at the charts and the
# print layout. Not part of `cargo test` (Chromium is optional).
#
#   apt-get install -y chromium     # once
#   scripts/render-report.sh [OUT_DIR]
#
# Uses CARGO_TARGET_DIR (default: target) debug binaries; builds them if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/report-render}"
target="${CARGO_TARGET_DIR:-target}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cargo build -q -p evident-collector -p evident-e2e --bin evident-collector --bin evident-review-bench
chrome="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
if [ -z "$chrome" ]; then
  echo "chromium is not installed (apt-get install -y chromium)" >&2
  exit 2
fi
data="$out/data"
rm -rf "$data"
# A small fleet: 12 hosts x 4 signed statements, stored as ingest stores them.
"$target/debug/evident-review-bench" --hosts 12 --statements 4 --keep "$data" >/dev/null
printf '[[exclude]]\ncontrol = "A.7.4"\njustification = "No premises of our own: cloud hosting only"\n' > "$data/soa.toml"
# As an auditor would: the key obtained out of band, reports from the verified bundle
# (the bench already exported $data/evidence.bundle).
"$target/debug/evident-collector" key show --dir "$data" > "$data/collector.pem"
"$target/debug/evident-collector" report --bundle "$data/evidence.bundle" --trust "$data/collector.pem" --format html -o "$out/report.html"
"$target/debug/evident-collector" soa --bundle "$data/evidence.bundle" --trust "$data/collector.pem" --soa "$data/soa.toml" --format html -o "$out/soa.html"
for page in report soa; do
  "$chrome" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$(mktemp -d)" --window-size=1280,2000 --screenshot="$out/$page.png" "file://$out/$page.html" \
    2> "$out/$page.chromium.log"
  "$chrome" --headless --no-sandbox --disable-gpu --no-pdf-header-footer \
    --print-to-pdf="$out/$page.pdf" "file://$out/$page.html" 2>> "$out/$page.chromium.log"
  # Console errors from the page itself (not Chromium's own sandbox/dbus noise).
  if grep -E "CONSOLE|Uncaught|Page load failed|ERROR:.*(html|svg)" "$out/$page.chromium.log" || [ ! -s "$out/$page.png" ] || [ ! -s "$out/$page.pdf" ]; then
    echo "$page.html: errors while rendering" >&2
    exit 1
  fi
  echo "$out/$page.png $out/$page.pdf"
done
