#!/usr/bin/env bash
# The Debian packages the tests need, in one list for `make test` and `.ci/run`. Installs the
# missing ones with apt-get (as root, or through sudo where it asks no password); otherwise stops
# with the exact command to run. Quick and silent when everything is present.
#   python3-venv, git: `make setup`;  chromium: the webview and end-to-end tests;
#   ripgrep and the build tools and -dev libraries: code-server's install for the end-to-end test;
#   slurm-wlm and munge: the single-node Slurm of `make test-cluster`; slurmdbd and mariadb-server: its
#   accounting (sbatch refuses an unknown account as a real cluster does).
set -euo pipefail

packages=(git python3 python3-venv chromium ripgrep build-essential pkg-config
  libx11-dev libxkbfile-dev libsecret-1-dev libkrb5-dev slurm-wlm munge slurmdbd mariadb-server)

if [ "${1:-}" = "--list" ]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

need=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "The tests need these Debian packages (or your system's equivalents): ${need[*]}" >&2
  echo "This machine has no apt-get: install them with its package manager, then run make test again." >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    echo "The tests need these Debian packages, which are not installed: ${need[*]}" >&2
    echo "Install them, then run make test again:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi
echo "Installing Debian packages the tests need: ${need[*]}"
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
