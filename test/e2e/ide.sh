#!/usr/bin/env bash
# `make ide`: code-server (VS Code in the browser) with the packaged extension, opened on examples/,
# for people without a desktop VS Code. Settings and extensions live in .cache/ide/ and persist.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VSIX="$ROOT/pacs-lab-linux-x64.vsix"
DATA="$ROOT/.cache/ide"
HOST="${PACS_IDE_HOST:-127.0.0.1}"
PORT="${PACS_IDE_PORT:-8080}"

[ -f "$VSIX" ] || { echo "No $(basename "$VSIX"): run \`make ide\` (it packages first)." >&2; exit 1; }
bash "$ROOT/test/e2e/setup-code-server.sh"
CODE_SERVER="$ROOT/.cache/code-server-4.100.3/node_modules/.bin/code-server"

mkdir -p "$DATA/user-data/User" "$DATA/extensions"
"$CODE_SERVER" --config "$DATA/config.yaml" --extensions-dir "$DATA/extensions" --user-data-dir "$DATA/user-data" \
  --install-extension "$VSIX" --force
settings="$DATA/user-data/User/settings.json"
if [ ! -f "$settings" ]; then
  printf '{\n  "workbench.startupEditor": "none",\n  "pacs.pythonPath": "%s"\n}\n' "$ROOT/.venv/bin/python" > "$settings"
fi

echo
echo "PACS Lab in VS Code: open http://$HOST:$PORT/?folder=$ROOT/examples"
echo "(on a remote machine: ssh -L $PORT:127.0.0.1:$PORT <host>, then open the same URL locally; Ctrl+C stops)"
echo
exec "$CODE_SERVER" --auth none --bind-addr "$HOST:$PORT" --disable-telemetry --disable-update-check \
  --config "$DATA/config.yaml" --user-data-dir "$DATA/user-data" --extensions-dir "$DATA/extensions" "$ROOT/examples"
