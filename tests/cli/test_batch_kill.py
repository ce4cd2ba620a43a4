"""A batch killed with SIGKILL midway and run again: finished tasks are not redone (the model server
counts the calls), and the results file is valid JSONL with one line per task."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow


def agentscale(*argv: str) -> list[str]:
    return [sys.executable, "-m", "agentscale", *argv]


def lines(path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_sigkill_midway_then_rerun_redoes_nothing_finished(scripted, tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"question {i}"}) + "\n" for i in range(8)))
    out = tmp_path / "results.jsonl"
    argv = agentscale("run", "chat", "--tasks", str(tasks), "--out", str(out), "-n", "2", "--workers", "2",
                      "--model", "hosted_vllm/test-model", "--api-base", scripted.api_base)  # fmt: skip
    scripted.server.slow_seconds = 0.5  # each answer streams for half a second
    scripted.server.default = "slow"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 120
        while len(lines(out)) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    kept = [json.loads(line) for line in lines(out) if line.endswith("}")]
    finished = {r["task_id"] for r in kept}
    assert 3 <= len(finished) < 8, "the kill came after the batch had finished"
    first_run_calls = len(scripted.requests)

    scripted.server.default = "ok"
    rerun = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    second = scripted.requests[first_run_calls:]
    asked = {json.loads(json.dumps(r.body))["messages"][-1]["content"] for r in second}
    assert len(second) == 2 * (8 - len(finished))  # two rollouts for each task not finished, nothing else
    assert asked == {f"question {i}" for i in range(8) if f"q{i}" not in finished}
    records = [json.loads(line) for line in lines(out)]  # every line parses: valid JSONL
    assert sorted(r["task_id"] for r in records) == [f"q{i}" for i in range(8)]  # one line per task
    assert all(r["status"] == "chosen" and len(r["rollouts"]) == 2 for r in records)
    assert f"{len(finished)} from an earlier run" in rerun.stdout
