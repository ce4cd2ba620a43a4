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


def test_jobs_run_at_once_in_one_view_and_a_failure_does_not_stop_the_others():
    import io
    import threading

    from rich.console import Console

    from agentscale.cli._jobs import Job, run_jobs

    both = threading.Barrier(2, timeout=10)  # each job waits for the other: only passes if they overlap

    def compile_(say):
        say("building: 50%")
        both.wait()
        return "/cache/llama-server"

    def download(say):
        both.wait()
        say("part 1/6")
        return "/cache/model.gguf"

    def broken(say):
        raise RuntimeError("debootstrap failed")

    console = Console(file=io.StringIO(), width=100, color_system=None)
    jobs = run_jobs([Job("llama-server", compile_), Job("model", download), Job("sandbox", broken)], console)
    assert [(j.state, j.result) for j in jobs[:2]] == [("done", "/cache/llama-server"), ("done", "/cache/model.gguf")]
    assert jobs[2].state == "failed" and str(jobs[2].error) == "debootstrap failed"
    lines = console.file.getvalue().splitlines()  # not a terminal: one prefixed line per message
    assert "[llama-server] building: 50%" in lines and "[model] part 1/6" in lines
    assert "[sandbox] failed: debootstrap failed" in lines
