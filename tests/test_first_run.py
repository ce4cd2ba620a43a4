"""``scripts/first-run.py`` (standard library only): each job's lines reach its row, ``[job] ...``
lines reach the job they name, and a failing job says why."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load():
    spec = importlib.util.spec_from_file_location("first_run", ROOT / "scripts" / "first-run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lines_are_routed_to_their_jobs(capsys):
    first_run = load()
    board = first_run.Board(["venv", "setup"])
    script = "print('collecting'); print('[model m] part 2/6'); print('[sandbox image] I: Retrieving Release')"
    assert first_run._stream(board, "setup", [sys.executable, "-c", script], dict(os.environ)) == 0
    assert board.rows["setup"][:2] == ["running", "collecting"]
    assert board.rows["model m"][:2] == ["running", "part 2/6"]
    assert board.rows["sandbox image"][1] == "I: Retrieving Release"
    out = capsys.readouterr().out  # not a terminal: one prefixed line per message
    assert "[model m] part 2/6" in out.splitlines()


def test_a_failing_job_shows_its_last_lines(capsys):
    first_run = load()
    board = first_run.Board(["venv"])
    code = "import sys; print('step 1'); print('pip: no such package'); sys.exit(3)"
    assert first_run._stream(board, "venv", [sys.executable, "-c", code], dict(os.environ)) == 3
    assert board.rows["venv"][:2] == ["failed", "pip: no such package"]
    assert "venv failed (exit 3); its last lines:\nstep 1\npip: no such package" in capsys.readouterr().err


def test_the_compile_runs_without_agentscale_installed(tmp_path):
    import subprocess

    # what first-run starts before the venv is installed: the bare interpreter, no agentscale on the path
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-S", str(ROOT / "agentscale/servers/build.py"), "--help"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0 and "--cache-dir" in out.stdout, out.stderr
