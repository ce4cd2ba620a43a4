# The two commands the README promises: `make demo` and `make test`.
.PHONY: venv demo test test-fast lint lock

venv:
	@scripts/venv.sh

# Main job on the embedded default. The first run installs the venv, builds llama-server, assembles the model
# and builds the sandbox root filesystem at the same time, in one view (scripts/first-run.py; all cached under
# ~/.cache/agentscale/), then solves HumanEval problems with best-of-N, the docstring examples run in a sandbox
# (bubblewrap is installed when missing and root; a running Docker engine also works).
demo:
	@scripts/sandbox-deps.sh
	@python3 scripts/first-run.py
	.venv/bin/agentscale demo

# Full suite: starts a Docker engine if none answers (Debian's docker.io), installs tmux for the terminal
# tests and Debian's Chromium for the MiniWoB++ tests, installs the venv and builds and caches the model
# server, the model and the sandbox image at once (scripts/first-run.py), then runs every test, real
# servers included.
test:
	@scripts/docker-engine.sh
	@scripts/test-deps.sh
	@scripts/chromium-deps.sh
	@python3 scripts/first-run.py
	.venv/bin/python -m pytest -q -rs

# Quick loop: unit tests only (no model server, no Docker).
test-fast: venv
	.venv/bin/python -m pytest -q -m "not slow and not docker and not bwrap and not llm"

lint: venv
	.venv/bin/ruff check .

# Regenerate the hashed lock file after changing dependencies in pyproject.toml.
lock:
	uv pip compile pyproject.toml --extra local --extra web --extra dev --generate-hashes --python-version 3.11 \
		--python-platform x86_64-unknown-linux-gnu -o requirements/lock.txt
