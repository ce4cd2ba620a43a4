"""``agentscale setup`` prepares (or finds cached) the server binary and the model."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.slow
def test_setup_reports_cached_artifacts():
    # `make test` has run setup already, so this is the cached path: it must find both artifacts.
    out = subprocess.run(
        [sys.executable, "-m", "agentscale", "setup", "--no-sandbox"], capture_output=True, text=True, timeout=900
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("llama-server: ") and line.endswith("llama-server") for line in lines)
    assert any(line.startswith("model qwen2.5-coder-0.5b: ") and line.endswith(".gguf") for line in lines)


def test_setup_rejects_unknown_model():
    out = subprocess.run(
        [sys.executable, "-m", "agentscale", "setup", "--model", "no-such-model"], capture_output=True, text=True
    )
    assert out.returncode == 2
    assert "invalid choice" in out.stderr
