"""benchmarks/selection.py: the candidates file is checked line by line before anything runs, and a
small real run writes the JSON the issue specifies."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from agentscale.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "selection.py"


def _module():
    spec = importlib.util.spec_from_file_location("selection_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


GOOD = {"task_id": "HumanEval/2", "candidates": ["    return number % 1.0\n", "return 0.0"], "passed": [True, False]}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"task_id": "HumanEval/3", "candidates": ["x"]', "not JSON"),
        ('["HumanEval/3"]', "expected a JSON object"),
        ('{"candidates": ["x"]}', "'task_id' must be a non-empty string"),
        ('{"task_id": "HumanEval/3", "candidates": []}', "'candidates' must be a non-empty list"),
        ('{"task_id": "HumanEval/3", "candidates": ["x", 3]}', "'candidates' must be a non-empty list"),
        ('{"task_id": "HumanEval/3", "candidates": ["x"], "passed": [true, false]}', "2 entries for 1 candidates"),
        ('{"task_id": "HumanEval/3", "candidates": ["x"], "passed": ["yes"]}', "'passed' must be a list of true"),
        ('{"task_id": "mbpp/3", "candidates": ["x"]}', "needs 'prompt' and 'entry_point'"),
        ('{"task_id": "HumanEval/2", "candidates": ["x"]}', "again (first on line 1)"),
    ],
)
def test_a_malformed_line_is_named(tmp_path, bad, message):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + bad + "\n" + json.dumps(GOOD | {"task_id": "HumanEval/9"}) + "\n")
    with pytest.raises(ConfigError) as info:
        _module().load_candidates(path)
    assert f"{path} line 3: " in str(info.value) and message in str(info.value)


def test_the_cli_reports_one_clear_error(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + '{"task_id": "HumanEval/5", "candidates": "return 1"}\n')
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--candidates", str(path)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert lines == [f"error: {path} line 2: 'candidates' must be a non-empty list of strings (the model's outputs)"]


def test_lines_for_other_datasets_bring_their_prompt(tmp_path):
    line = {
        "task_id": "mine/1",
        "prompt": 'def inc(x):\n    """inc(1) == 2"""\n',
        "entry_point": "inc",
        "candidates": ["```python\ndef inc(x):\n    return x + 1\n```"],
        "passed": [True],
    }
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(line) + "\n")
    module = _module()
    entries = module.load_candidates(path)
    task = module.tasks_for(entries)["mine/1"]
    assert task.metadata["entry_point"] == "inc" and "inc(1) == 2" in task.prompt


@pytest.mark.slow
@pytest.mark.bwrap
def test_a_small_real_run_writes_the_json(tmp_path):
    """Two problems, candidates in three shapes, the real sandbox, no model."""
    from agentscale.datasets import load_humaneval

    task = load_humaneval([12])[0]
    right = task.metadata["canonical_solution"]
    lines = [
        GOOD,
        {
            "task_id": "HumanEval/12",
            # a body that returns the first longest, a whole fenced function returning the last one
            "candidates": [
                "```python\ndef longest(strings):\n    return max(strings[::-1], key=len) if strings else None\n```",
                right,
                "from typing import List, Optional\n\ndef longest(strings: List[str]) -> Optional[str]:\n" + right,
            ],
        },
    ]
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    out = tmp_path / "r.json"
    run = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--candidates",
            str(path),
            "--json",
            str(out),
            "--no-model",
            "--backend",
            "bwrap",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(out.read_text())
    assert set(result) == {"methods", "oracle", "random", "default"}
    assert result["oracle"] == 1.0 and result["random"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert result["default"] == "code" and "code" in result["methods"]
    assert set(result["methods"]["code"]) == {"pass_rate", "tokens", "seconds"}
    assert result["methods"]["code"]["pass_rate"] == 1.0  # the larger behaviour group on problem 12
    assert result["methods"]["first"]["pass_rate"] == 0.5
    assert "oracle (any passes)" in run.stdout


def test_a_runs_candidates_are_a_candidates_file(tmp_path):
    # what `--write-candidates` appends (humaneval_scaling, demo) is what `--candidates` reads
    from agentscale.evaluation import ProblemResult, SampleRecord, append_jsonl, candidates_line

    samples = [
        SampleRecord(index=1, status="ok", output="```python\nreturn 1\n```", prompt_tokens=5, completion_tokens=7),
        SampleRecord(index=0, status="ok", output="    return number % 1.0\n", hidden_passed=True, prompt_tokens=5),
        SampleRecord(index=2, status="error", error="timeout"),
    ]
    result = ProblemResult(task_id="HumanEval/2", strategy="best_of_n", n=3, samples=samples)
    path = tmp_path / "c.jsonl"
    append_jsonl(path, candidates_line(result))
    append_jsonl(path, candidates_line(result.model_copy(update={"task_id": "HumanEval/4"})))
    first, second = _module().load_candidates(path)
    assert (first.task_id, second.task_id, first.line, second.line) == ("HumanEval/2", "HumanEval/4", 1, 2)
    assert first.candidates == ["    return number % 1.0\n", "```python\nreturn 1\n```", ""]  # in sample order
    assert first.passed == [True, False, False]
    assert [(u.prompt_tokens, u.completion_tokens) for u in first.usage] == [(5, 0), (5, 7), (0, 0)]
