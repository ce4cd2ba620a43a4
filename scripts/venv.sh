#!/usr/bin/env bash
# Create or reuse .venv and install the locked dependencies (with hashes) plus agentscale itself.
# Idempotent: a second run with an unchanged lock file does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LOCK=requirements/lock.txt
PIP_LOCK=requirements/pip.txt
STAMP=.venv/.installed
want=$(cat "$PIP_LOCK" "$LOCK" pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x .venv/bin/agentscale ]; then
    exit 0
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
echo "installing locked dependencies into .venv (first run: about 2 minutes)..." >&2
# The pinned pip first: the venv's own pip is too old to install the lock (see $PIP_LOCK).
.venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r "$PIP_LOCK" \
    || .venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r "$PIP_LOCK"
# Two tries: a dropped download should not fail a fresh machine's setup.
.venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r "$LOCK" \
    || .venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r "$LOCK"
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
echo "$want" > "$STAMP"
