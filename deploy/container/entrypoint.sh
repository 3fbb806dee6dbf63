#!/bin/sh
# Initialise the data directory on first start (CA, server certificate for
# the names in EVIDENT_SANS, admin and enrollment tokens, agent.toml); on
# later starts `init --if-missing` does nothing. Then run the collector.
#
# EVIDENT_AGENT_SHARE (optional): a directory shared with agents (compose).
# Only what an agent needs is copied there, the CA certificate and the first
# enrollment token, never the CA key, admin token or signing key.
set -eu
dir="${EVIDENT_DIR:-/var/lib/evident}"
sans=""
for s in ${EVIDENT_SANS:-}; do sans="$sans --san $s"; done
# shellcheck disable=SC2086
evident-collector init --if-missing --dir "$dir" --listen 0.0.0.0:8443 $sans
if [ -n "${EVIDENT_AGENT_SHARE:-}" ]; then
  cp "$dir/ca.pem" "$EVIDENT_AGENT_SHARE/ca.pem"
  if [ -f "$dir/enroll.token" ] && [ ! -f "$EVIDENT_AGENT_SHARE/enroll.token" ]; then
    cp "$dir/enroll.token" "$EVIDENT_AGENT_SHARE/enroll.token"
  fi
  chmod 0644 "$EVIDENT_AGENT_SHARE/ca.pem"
  chmod 0640 "$EVIDENT_AGENT_SHARE/enroll.token" 2>/dev/null || true
fi
exec evident-collector "$@"
