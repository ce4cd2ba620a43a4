"""``agentscale serve-strategy`` as a process: it prints where it serves, answers the openai client,
and stops cleanly on SIGTERM; bad options are one line before anything starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import openai
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))

from threaded_server import ThreadedServer  # noqa: E402

pytestmark = pytest.mark.slow


def test_serves_until_sigterm(tmp_path):
    upstream = ThreadedServer()
    command = [sys.executable, "-m", "agentscale", "serve-strategy", "--port", "0", "-n", "2",
               "--model", "hosted_vllm/test-model", "--api-base", upstream.api_base]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    try:
        timer = threading.Timer(120, proc.kill)
        timer.start()
        line = proc.stdout.readline()
        timer.cancel()
        assert line.startswith("serving:  http://127.0.0.1:"), (line, proc.stderr.read() if proc.poll() else "")
        url = line.split()[1]
        client = openai.OpenAI(base_url=url, api_key="-", max_retries=0, timeout=60)
        reply = client.chat.completions.create(model="test-model", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "hello world" and len(upstream.requests) == 2
        assert "majority/test-model" in [m.id for m in client.models.list()]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        upstream.close()


def test_bad_options_are_one_line():
    out = subprocess.run(
        [sys.executable, "-m", "agentscale", "serve-strategy", "--strategy", "nope"], capture_output=True, text=True
    )
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("agentscale: error: unknown strategy 'nope'; choose one of: best_of_n, majority, ")
