#!/bin/bash
# Usage: B=target/release CB=target/release tests/agent-daemon-bench.sh   (ROOT=/ for the live host)
# Measures the agent daemon: idle RSS, CPU per run (the supervisor and its
# workers: utime+stime+cutime+cstime), bytes per unchanged/changed run.
set -u
B=${B:-target/release}; CB=${CB:-target/release}
W=$(mktemp -d /tmp/evbench.XXXX); cd $W
$CB/evident-collector init --dir data >/dev/null
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
$CB/evident-collector serve --dir data --listen 127.0.0.1:$PORT > serve.log 2>&1 &
CPID=$!; sleep 1.5
ROOT=${ROOT:-}
if [ -z "$ROOT" ]; then
  ROOT=$W/root; mkdir -p $ROOT/etc/ssh
  echo bench-host > $ROOT/etc/hostname
  printf 'ID=debian\nVERSION_ID="12"\n' > $ROOT/etc/os-release
  printf 'PermitRootLogin no\nPasswordAuthentication no\n' > $ROOT/etc/ssh/sshd_config
  printf 'root:x:0:0:root:/root:/bin/bash\n' > $ROOT/etc/passwd
  printf 'root:*:19000:0:99999:7:::\n' > $ROOT/etc/shadow
fi
cat > agent.toml <<EOT
collector = "https://127.0.0.1:$PORT"
ca_file = "data/ca.pem"
state_dir = "state"
enroll_token_file = "data/enroll.token"
root = "$ROOT"
[schedule]
default = "${CRON:-*/5 * * * * *}"
jitter_seconds = 0
EOT
$B/evident-agent run --config agent.toml > agent.log 2>&1 &
APID=$!
sleep 12
t0=$(awk '{print $14+$15+$16+$17}' /proc/$APID/stat); r0=$(grep -c delivered agent.log)
sleep 30
t1=$(awk '{print $14+$15+$16+$17}' /proc/$APID/stat); r1=$(grep -c delivered agent.log)
echo "rss_after_runs_kb=$(grep VmRSS /proc/$APID/status | awk '{print $2}') hwm_kb=$(grep VmHWM /proc/$APID/status | awk '{print $2}')"
echo "runs=$((r1-r0)) cpu_ticks=$((t1-t0)) ticks_per_s=$(getconf CLK_TCK)"
echo "cpu_ms_per_run=$(python3 -c "print(round(($t1-$t0)*1000/$(getconf CLK_TCK)/max(1,$r1-$r0),2))")"
echo "first_bytes=$(grep -m1 'delivered' agent.log | grep -o 'bytes=[0-9]*')"
echo "unchanged_bytes=$(grep 'delivered' agent.log | tail -3 | grep -o 'bytes=[0-9]*' | tr '\n' ' ')"
if [ -f "$ROOT/etc/ssh/sshd_config" ] && [ "$ROOT" = "$W/root" ]; then
  echo 'alice:x:1000:1000::/home/alice:/bin/bash' >> $ROOT/etc/passwd; echo 'alice:!:19000:0:99999:7:::' >> $ROOT/etc/shadow; sleep 6
  echo "changed_bytes=$(grep 'delivered' agent.log | tail -2 | grep -o 'bytes=[0-9]*' | tr '\n' ' ')"
fi
kill $APID; wait $APID 2>/dev/null
# Idle: an hourly schedule, measured 20 s after the first run.
sed -i 's/^default = .*/default = "0 0 * * * *"/' agent.toml
$B/evident-agent run --config agent.toml >> agent.log 2>&1 &
APID=$!; sleep 20
echo "idle_rss_kb=$(grep VmRSS /proc/$APID/status | awk '{print $2}') idle_threads=$(grep Threads /proc/$APID/status | awk '{print $2}')"
t0=$(awk '{print $14+$15+$16+$17}' /proc/$APID/stat); sleep 20; t1=$(awk '{print $14+$15+$16+$17}' /proc/$APID/stat)
echo "idle_cpu_ticks_in_20s=$((t1-t0))"
kill $APID $CPID; wait 2>/dev/null
rm -rf $W
