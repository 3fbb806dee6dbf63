#!/bin/sh
# Initialise /data on first start (CA, server certificate for the names in
# EVIDENT_SANS, admin and enrollment tokens), then run the collector.
set -eu
dir="${EVIDENT_DIR:-/data}"
if [ ! -f "$dir/config.toml" ]; then
  sans=""
  for s in ${EVIDENT_SANS:-}; do sans="$sans --san $s"; done
  # shellcheck disable=SC2086
  evident-collector init --dir "$dir" --listen 0.0.0.0:8443 $sans
fi
exec evident-collector "$@"
