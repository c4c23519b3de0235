#!/usr/bin/env bash
# Installs code-server (a full VS Code for the browser) into .cache/ for the end-to-end test and
# `make ide`. Idempotent: a stamp marks a finished, verified install, and a rerun returns at once.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VERSION="${CODE_SERVER_VERSION:-4.100.3}"
DIR="$ROOT/.cache/code-server-$VERSION"
BIN="$DIR/node_modules/.bin/code-server"
STAMP="$DIR/.installed"

if [ -f "$STAMP" ] && [ -x "$BIN" ]; then
  exit 0
fi

missing=()
for pkg in chromium ripgrep build-essential pkg-config libx11-dev libxkbfile-dev libsecret-1-dev libkrb5-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "code-server needs these Debian packages, which are not installed: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install -y ${missing[*]}   (make test does this: test/system-deps.sh)" >&2
  exit 1
fi

mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9
if [ -f "$STAMP" ] && [ -x "$BIN" ]; then
  exit 0
fi

# @vscode/ripgrep downloads rg from GitHub unless it finds the archive in its cache folder; an archive
# holding Debian's rg satisfies it. Seed every version code-server 4.100.3's tree pulls.
tmp="${TMPDIR:-/tmp}"
rg_stage="$(mktemp -d)"
cp /usr/bin/rg "$rg_stage/rg"
for rg_pkg_version in 1.15.11 1.18.0; do  # 1.15.11 is the one 4.100.3 pulls today
  cache="$tmp/vscode-ripgrep-cache-$rg_pkg_version"
  mkdir -p "$cache"
  for target in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
    archive="$cache/ripgrep-v13.0.0-10-$target.tar.gz"
    [ -f "$archive" ] || tar -czf "$archive" -C "$rg_stage" rg
  done
done
rm -rf "$rg_stage"

echo "Installing code-server $VERSION into ${DIR#"$ROOT"/} (a few minutes, once)"
# As root npm must be told unsafe-perm; `yes` stops a nested `npx node-gyp` from prompting. npm 11
# blocks dependency install scripts unless allowed, and code-server's postinstall runs nested npm
# installs whose native modules (spdlog, node-pty, watcher, kerberos, argon2) must build: this
# pinned install is allowed to run all of them.
export npm_config_unsafe_perm=true npm_config_yes=true npm_config_ignore_scripts=false
export npm_config_dangerously_allow_all_scripts=true npm_config_foreground_scripts=true
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
[ -f "$DIR/package.json" ] || echo '{"private": true}' > "$DIR/package.json"
npm install --prefix "$DIR" "code-server@$VERSION"

modules="$DIR/node_modules/code-server/lib/vscode/node_modules"
problems=()
[ -x "$BIN" ] || problems+=("no code-server binary at $BIN")
has_binary() { [ -n "$(find "$@" -name '*.node' 2>/dev/null | head -n1)" ]; }
for module in @vscode/spdlog node-pty native-watchdog kerberos; do
  has_binary "$modules/$module/build/Release" || problems+=("native module $module was not built")
done
has_binary "$modules"/@parcel/watcher-linux-* || problems+=("@parcel/watcher has no binary for this platform")
has_binary "$DIR/node_modules/argon2/lib/binding" || problems+=("native module argon2 was not built")
[ -x "$modules/@vscode/ripgrep/bin/rg" ] || problems+=("@vscode/ripgrep has no bin/rg")
if [ ${#problems[@]} -gt 0 ]; then
  printf 'code-server install is incomplete: %s\n' "${problems[@]}" >&2
  echo "Remove ${DIR#"$ROOT"/} and rerun; the npm output above says which install script failed." >&2
  exit 1
fi
touch "$STAMP"
echo "code-server $VERSION ready: $BIN"
