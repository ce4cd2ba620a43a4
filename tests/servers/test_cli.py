"""``agentscale serve`` and ``agentscale demo`` from the command line."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import subprocess
import sys
import time

import httpx
import pytest

from agentscale.cli import main
from agentscale.servers import LlamaCppServer


def test_serve_vllm_dry_run_prints_the_command(capsys):
    code = main(
        [
            "serve", "vllm", "Qwen/Qwen2.5-Coder-7B-Instruct", "--tensor-parallel-size", "2",
            "--gpu-memory-utilization", "0.85", "--max-num-seqs", "64", "--served-model-name", "coder",
            "--max-model-len", "8192", "--port", "8123", "--tool-call-parser", "hermes", "--dry-run",
        ]
    )  # fmt: skip
    assert code == 0
    argv = shlex.split(capsys.readouterr().out)
    assert argv[:3] == ["vllm", "serve", "Qwen/Qwen2.5-Coder-7B-Instruct"]
    pairs = dict(zip(argv[3::], argv[4::], strict=False))
    assert "--enable-prefix-caching" in argv
    assert pairs["--tensor-parallel-size"] == "2" and pairs["--gpu-memory-utilization"] == "0.85"
    assert pairs["--max-num-seqs"] == "64" and pairs["--served-model-name"] == "coder"
    assert pairs["--max-model-len"] == "8192" and pairs["--port"] == "8123"
    assert "--enable-auto-tool-choice" in argv and pairs["--tool-call-parser"] == "hermes"


def test_serve_rejects_an_unknown_model(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "llamacpp", "--model", "gpt-17"])
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.llm
@pytest.mark.slow
def test_serve_is_reused_by_demo_and_by_python_then_stops_on_sigterm(llama_server, capsys, monkeypatch):
    """The user's two-terminal workflow: ``agentscale serve llamacpp`` in one, ``agentscale demo`` in
    the other. Settings differ from the session fixture's, so this server is the only candidate."""
    cache = llama_server.cache_dir  # the fixture has built and cached the binary and the model
    monkeypatch.setenv("AGENTSCALE_CACHE", str(cache))
    settings = ["--parallel", "2", "--ctx-size", "2048"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "agentscale", "serve", "llamacpp", *settings],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        out = dict(line.strip().split(": ", 1) for line in lines if ": " in line)
        assert out.get("model", "").strip() == "hosted_vllm/qwen2.5-coder-0.5b", (lines, proc.stderr)
        base = out["api_base"].strip().removesuffix("/v1")
        assert httpx.get(f"{base}/health", trust_env=False).status_code == 200

        async def python_twin() -> tuple[bool, str]:
            async with LlamaCppServer(parallel=2, ctx_size=2048, cache_dir=cache, progress=None) as twin:
                return twin.reused, twin.base_url

        assert asyncio.run(python_twin()) == (True, base)
        capsys.readouterr()
        code = main(
            ["demo", *settings, "--question", "Write a Python function add(a, b).", "--max-tokens", "32"]
        )
        shown = capsys.readouterr().out
        assert code == 0, shown
        assert "reused the running server" in shown and base in shown
        assert "generated tokens" in shown
        assert httpx.get(f"{base}/health", trust_env=False).status_code == 200  # the demo left it running

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/health", trust_env=False, timeout=1)
            except httpx.HTTPError:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the server still answers after `agentscale serve` stopped")
    finally:
        if proc.poll() is None:
            proc.kill()
