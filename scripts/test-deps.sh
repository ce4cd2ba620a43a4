#!/usr/bin/env bash
# Programs the test suite drives besides the ones the sandboxes need: tmux (the interactive
# `agentscale chat` is tested as a person uses it, through a terminal multiplexer's send-keys and
# capture-pane). Installs what is missing from Debian when root; otherwise says what is missing.
# Idempotent: with everything present it does nothing.
set -euo pipefail
need=()
command -v tmux >/dev/null || need+=(tmux)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "test-deps.sh: ${need[*]} missing; as root, run scripts/test-deps.sh (or apt-get install ${need[*]})" >&2
    exit 1
fi
echo "installing ${need[*]} from Debian..." >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
