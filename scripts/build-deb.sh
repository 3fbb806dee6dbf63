#!/usr/bin/env bash
# Build the Debian packages of evident-collector and evident-agent from
# binaries already built, and check them with lintian.
#
#   scripts/build-deb.sh            # release: after `cargo build --release -p evident-agent -p evident-collector`
#   scripts/build-deb.sh --profile dev   # CI: package the binaries `cargo test` built (lintian check only)
#
# Man pages (`man --dir`, gzip -9n) and bash/zsh/fish completions are
# generated from the built binaries into target/deb-extra/, then
# `cargo deb --no-build` assembles each package into target/debian/ and
# lintian checks it (errors and warnings fail; each override in
# deploy/debian/*.lintian-overrides says why). Needs cargo-deb
# (`cargo install cargo-deb --locked`), lintian and gzip.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=release
if [ "${1:-}" = "--profile" ]; then profile="${2:?--profile needs a name}"; fi
case "$profile" in
  release) bindir=target/release ;;
  dev) bindir=target/debug ;;
  *) bindir="target/$profile" ;;
esac
command -v cargo-deb >/dev/null || { echo "cargo-deb is missing: cargo install cargo-deb --locked" >&2; exit 2; }
command -v lintian >/dev/null || { echo "lintian is missing: apt-get install lintian" >&2; exit 2; }
for pkg in evident-collector evident-agent; do
  bin="$bindir/$pkg"
  [ -x "$bin" ] || { echo "$bin is missing: build it first" >&2; exit 2; }
  extra="target/deb-extra/$pkg"
  rm -rf "$extra"
  mkdir -p "$extra/man1"
  "$bin" man --dir "$extra/man1"
  gzip -9n "$extra"/man1/*.1
  "$bin" completions bash > "$extra/$pkg.bash"
  "$bin" completions zsh > "$extra/_$pkg"
  "$bin" completions fish > "$extra/$pkg.fish"
  rm -f target/debian/"${pkg}"_*.deb
  cargo deb -p "$pkg" --no-build --profile "$profile" --output target/debian/
  deb=$(ls target/debian/"${pkg}"_*.deb)
  echo "lintian $deb"
  lintian --fail-on error,warning --tag-display-limit 0 "$deb"
done
