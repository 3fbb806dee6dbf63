#!/usr/bin/env bash
# Whole-process benchmark of a host scan: `evident-agent scan` against two
# peers on the same machine, each measured the same way: median wall time and
# median peak RSS (GNU time's %M) over N runs.
#
#   scripts/bench-scan.sh            # N=10 evident runs, 3 lynis runs, 5 oscap runs
#
# Needs: /usr/bin/time, and for the peers the Debian packages lynis,
# openscap-scanner and ssg-debian (apt-get install lynis openscap-scanner ssg-debian).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10}
if [ -z "${AGENT:-}" ]; then
  cargo build --release -q -p evident-agent
  AGENT=${CARGO_TARGET_DIR:-target}/release/evident-agent
fi

measure() { # name runs cmd...
  local name=$1 runs=$2; shift 2
  local out; out=$(mktemp)
  for _ in $(seq "$runs"); do
    /usr/bin/time -f "%e %M" -a -o "$out" "$@" >/dev/null 2>&1 || true
  done
  python3 - "$name" "$out" <<'PY'
import statistics, sys
name, path = sys.argv[1], sys.argv[2]
rows = [l.split() for l in open(path) if l.strip() and l.split()[0].replace('.', '', 1).isdigit()]
wall = statistics.median(float(r[0]) for r in rows)
rss = statistics.median(int(r[1]) for r in rows)
print(f"| {name} | {len(rows)} | {wall*1000:.0f} ms | {rss/1024:.1f} MB |")
PY
  rm -f "$out"
}

echo "| tool | runs | median wall | median peak RSS |"
echo "|---|---|---|---|"
measure "evident-agent scan" "$N" "$AGENT" scan --format json
if command -v lynis >/dev/null; then
  measure "lynis audit system --quick" 3 lynis audit system --quick --no-colors --no-log
fi
DS=$(ls /usr/share/xml/scap/ssg/content/ssg-debian*-ds.xml 2>/dev/null | sort -V | tail -1 || true)
if command -v oscap >/dev/null && [ -n "$DS" ]; then
  measure "oscap xccdf eval (standard, $(basename "$DS"))" 5 \
    oscap xccdf eval --profile xccdf_org.ssgproject.content_profile_standard "$DS"
fi
