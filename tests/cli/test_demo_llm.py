"""The demo end to end with the real embedded model and a real sandbox, on one HumanEval problem:
live view, closing table, results file, and a second run that resumes from it. Asserts the
machinery, never that the model is right."""

from __future__ import annotations

import argparse
import importlib.util
import io
import shutil
import sys
from pathlib import Path

import pytest
from rich.console import Console

from agentscale.cli.demo import _humaneval
from agentscale.evaluation import ProblemResult, read_jsonl

ROOT = Path(__file__).resolve().parents[2]

def load_candidates(path):
    """``benchmarks/selection.py``'s reader of candidates files."""
    spec = importlib.util.spec_from_file_location("selection_benchmark", ROOT / "benchmarks" / "selection.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module.load_candidates(path)


pytestmark = [
    pytest.mark.llm,
    pytest.mark.slow,
    # about a minute on an idle 2-core machine; a loaded one can slow generation to ~1 token/s
    pytest.mark.timeout(1800),
    pytest.mark.skipif(not (shutil.which("docker") or shutil.which("bwrap")), reason="no sandbox backend"),
]


async def test_demo_solves_scores_and_resumes(llama_server, tmp_path):
    out = tmp_path / "demo.jsonl"
    candidates = tmp_path / "candidates.jsonl"
    args = argparse.Namespace(
        n=2,
        strategy="best_of_n",
        backend="auto",
        out=out,
        max_tokens=None,
        format=None,
        selection="code",
        write_candidates=candidates,
    )
    console = Console(file=io.StringIO(), width=120, color_system=None)
    assert await _humaneval(console, llama_server, args, [2]) == 0
    shown = console.file.getvalue()
    assert "one sample (pass@1)" in shown and "best_of_n, n=2" in shown

    (line,) = read_jsonl(out)
    result = ProblemResult.model_validate(line)
    assert result.task_id == "HumanEval/2" and [s.index for s in result.samples] == [0, 1]
    assert result.selected in {0, 1} and result.seconds > 0
    for s in result.samples:
        assert s.status == "ok" and s.completion_tokens > 0, s.error
        assert "def truncate_number" in s.output  # the chat format: the whole function in the reply
        assert s.examples_score is not None  # the docstring's example ran in the sandbox
        assert s.behaviour is not None or s.examples_score == 0.0
    # the summary's rows are the recorded result's
    rate = f"{int(result.one_sample_passed)}/1"
    assert any(rate in ln and "one sample" in ln for ln in shown.splitlines())

    assert "tied at the top verifier score" in result.reason  # the default code selection chose
    # the run's candidates, in the file benchmarks/selection.py reads
    (entry,) = load_candidates(candidates)
    assert entry.candidates == [s.output for s in result.samples]
    assert entry.passed == [s.hidden_passed for s in result.samples]

    # a second run with the same results file solves nothing again
    again = Console(file=io.StringIO(), width=120, color_system=None)
    assert await _humaneval(again, llama_server, args, [2]) == 0
    assert len(read_jsonl(out)) == 1
    assert f"{result.tokens}" in again.file.getvalue()
