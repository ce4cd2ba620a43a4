"""``agentscale swe``: bad arguments and files are one clear line and a non-zero exit (no sandbox needed)."""

from __future__ import annotations

import json

from agentscale.cli import main


def test_missing_files_and_bad_options_are_one_line(tmp_path, capsys):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("")
    assert main(["swe", "eval", str(tmp_path / "nope.jsonl"), "--tasks", str(tasks)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no such file" in err and "nope.jsonl" in err

    preds = tmp_path / "preds.jsonl"
    preds.write_text("")
    assert main(["swe", "eval", str(preds), "--tasks", str(tasks), "--repo", "no-equals-sign"]) == 1
    assert "expected NAME=PATH_OR_URL" in capsys.readouterr().err

    assert main(["swe", "eval", str(preds), "--tasks", str(tasks), "--image", "x:1"]) == 1
    assert "needs backend='docker'" in capsys.readouterr().err

    assert main(["swe", "build-tasks", "--package", "toolz", "--out", str(tmp_path / "t.jsonl")]) == 1
    assert "expected NAME==VERSION" in capsys.readouterr().err
    assert main(["swe", "build-tasks", "--package", "toolz==1.0.0;colour=blue"]) == 1
    assert "unknown option 'colour'" in capsys.readouterr().err


def test_build_repos_reports_bad_lines_and_skips_foreign_tasks(tmp_path, capsys):
    tasks = tmp_path / "tasks.jsonl"
    foreign = {"instance_id": "octo__r-1", "repo": "octo/r", "base_commit": "abc", "problem_statement": "p",
               "FAIL_TO_PASS": ["t.py::x"]}  # fmt: skip
    tasks.write_text(json.dumps(foreign) + "\n{broken\n")
    code = main(["swe", "build-repos", "--tasks", str(tasks), "--repos-dir", str(tmp_path / "repos"),
                 "--cache-dir", str(tmp_path / "cache")])  # fmt: skip
    out = capsys.readouterr()
    assert code == 1 and f"{tasks}:2: not valid JSON" in out.err
    assert "1 of 1 task repositories ready" in out.out


def test_swe_run_refuses_bad_arguments_before_a_model_starts(tmp_path, capsys):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("{broken\n")
    out = tmp_path / "preds.jsonl"
    assert main(["swe", "run", str(tasks), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{tasks}:1: ?: not valid JSON" in err and "holds no valid instance (1 bad lines)" in err
    assert main(["swe", "run", str(tasks), "--tasks", str(tasks), "--out", str(out)]) == 1
    assert "give the task file once" in capsys.readouterr().err
    assert main(["swe", "run", str(tasks), "--out", str(out), "--strategy", "nope"]) == 1
    err = capsys.readouterr().err
    assert "unknown" in err and "best_of_n" in err
    assert main(["swe", "run", str(tasks), "--out", str(out), "-c", "max_steps=0"]) == 1
    assert "bad swe options" in capsys.readouterr().err
    assert not out.exists()  # nothing was written
