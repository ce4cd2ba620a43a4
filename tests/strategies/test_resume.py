"""Kill-and-resume: a run killed mid-superstep and resumed from its SQLite checkpoint does not redo
the rollouts that had finished (LangGraph keeps each finished task's writes as pending writes)."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import pytest

SCRIPT = pathlib.Path(__file__).with_name("_resume_script.py")


def _finished_rollouts(db: pathlib.Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            row = conn.execute(
                "SELECT COUNT(DISTINCT task_id) FROM writes WHERE channel = 'rollouts'"
            ).fetchone()
    except sqlite3.OperationalError:  # tables not created yet
        return 0
    return row[0]


@pytest.mark.slow
def test_a_killed_run_resumes_without_redoing_finished_rollouts(tmp_path):
    db, counter = tmp_path / "runs.db", tmp_path / "calls.txt"
    first = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(db), str(counter), "first"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while _finished_rollouts(db) < 4:
            assert first.poll() is None, first.stderr.read().decode()
            assert time.monotonic() < deadline, "the first run never saved 4 finished rollouts"
            time.sleep(0.05)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    assert first.returncode == -signal.SIGKILL
    calls_before = Counter(int(x) for x in counter.read_text().split())
    assert calls_before == Counter(range(6))  # all six started, 4 and 5 never finished

    resumed = subprocess.run(
        [sys.executable, str(SCRIPT), str(db), str(counter), "resume"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout.strip().splitlines()[-1])

    calls = Counter(int(x) for x in counter.read_text().split())
    assert calls == Counter({0: 1, 1: 1, 2: 1, 3: 1, 4: 2, 5: 2})  # only the unfinished ones ran again
    indices = sorted(i for _, i, _ in result["rollouts"])
    assert indices == [0, 1, 2, 3, 4, 5]
    assert len({rid for rid, _, _ in result["rollouts"]}) == 6
    assert all(status == "ok" for _, _, status in result["rollouts"])
    assert result["selected"] in {rid for rid, _, _ in result["rollouts"]}
