"""Control flow of the HumanEval evaluation with a scripted model and scripted verifiers: selection by
the examples verifier only, scoring by the hidden tests only, the one-sample baseline, the results
file and resuming from it."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from agentscale.datasets import load_humaneval
from agentscale.errors import ConfigError
from agentscale.evaluation import ProblemResult, append_jsonl, read_jsonl, solve, solve_all, summarize
from agentscale.graphs.humaneval import humaneval_agent
from agentscale.testing import FunctionModel
from agentscale.types import Rollout, Task, Verdict

TASK = load_humaneval([2])[0]  # truncate_number(number: float) -> float


def body_by_seed(bodies: dict[int, str], default: str = "    return 0.0\n"):
    return lambda call: bodies.get(call.seed, default)


@dataclass
class ScriptedVerifier:
    """Passes rollouts whose output contains ``marker``; records what it saw."""

    marker: str
    name: str = "scripted"
    seen: list[Task] = field(default_factory=list)

    async def verify(self, task: Task, rollout: Rollout) -> Verdict:
        self.seen.append(task)
        ok = self.marker in rollout.output
        return Verdict(rollout_id=rollout.id, score=1.0 if ok else 0.0, passed=ok, verifier=self.name)


async def test_best_of_n_selects_by_examples_and_only_scores_with_hidden_tests():
    # seed 2 passes the examples but fails the hidden tests; seed 3 the other way round.
    model = FunctionModel(body_by_seed({2: "    return 0.5  # EX\n", 3: "    return number % 1  # HID\n"}))
    verifier, scorer = ScriptedVerifier("# EX"), ScriptedVerifier("# HID")
    events = []
    result = await solve(
        TASK,
        agent=humaneval_agent(model),
        verifier=verifier,
        scorer=scorer,
        n=4,
        on_event=events.append,
    )
    assert [s.index for s in result.samples] == [0, 1, 2, 3]
    assert result.selected == 2 and not result.scaled_passed  # the verifier chose; hidden tests disagree
    assert result.sample(3).hidden_passed and not result.sample(3).examples_passed
    assert not result.one_sample_passed
    # the verifier never saw the hidden tests; the scorer saw only them
    assert all(not t.tests for t in verifier.seen)
    assert all(t.tests == [TASK.metadata["hidden_test"]] for t in scorer.seen)
    assert len(scorer.seen) == 4
    assert [s.temperature for s in result.samples] == [0.8, 0.8, 0.8, 0.8]  # the chat format's (CHAT_DIVERSITY)
    assert [s.seed for s in result.samples] == [0, 1, 2, 3]
    assert result.tokens == sum(s.tokens for s in result.samples) > 0
    kinds = [e["event"] for e in events]
    assert kinds.count("rollout_started") == 4 and kinds.count("verdict") == 4 and "selected" in kinds


async def test_adaptive_stops_at_the_first_wave_with_a_pass():
    model = FunctionModel(body_by_seed({3: "    return number % 1  # EX\n"}))
    result = await solve(
        TASK,
        agent=humaneval_agent(model),
        verifier=ScriptedVerifier("# EX"),
        scorer=ScriptedVerifier("# EX"),
        strategy="adaptive",
        n=8,
    )
    assert len(model.calls) == 4 and len(result.samples) == 4  # two waves of 2
    assert result.stop_reason == "passed" and result.selected == 3 and result.scaled_passed


async def test_a_failing_sample_is_recorded_not_raised():
    def flaky(call):
        if call.seed == 1:
            raise RuntimeError("server fell over")
        return "    return number % 1  # EX\n"

    result = await solve(
        TASK,
        agent=humaneval_agent(FunctionModel(flaky)),
        verifier=ScriptedVerifier("# EX"),
        scorer=ScriptedVerifier("# EX"),
        n=3,
    )
    failed = result.sample(1)
    assert failed.status == "error" and "server fell over" in failed.error and not failed.hidden_passed
    assert result.one_sample_passed and result.scaled_passed


async def test_solve_all_appends_each_result_and_resumes(tmp_path):
    out = tmp_path / "runs" / "demo.jsonl"
    tasks = load_humaneval([2, 4])
    model = FunctionModel(body_by_seed({0: "    return number % 1  # EX\n"}))
    options = {
        "agent": humaneval_agent(model),
        "verifier": ScriptedVerifier("# EX"),
        "scorer": ScriptedVerifier("# EX"),
        "n": 2,
    }
    started, seen = [], []
    first = await solve_all(tasks[:1], out=out, on_start=started.append, on_result=seen.append, **options)
    assert len(read_jsonl(out)) == 1 and len(model.calls) == 2
    # a kill mid-write leaves half a line; it is ignored and that problem is redone
    with out.open("a") as fh:
        fh.write('{"kind": "solve", "task_id": "HumanEval/4", "stra')
    again = await solve_all(tasks, out=out, on_start=started.append, on_result=seen.append, **options)
    assert [t.id for t in started] == ["HumanEval/2", "HumanEval/4"]  # problem 2 was not redone
    assert len(model.calls) == 4
    assert again[0] == first[0] and [r.task_id for r in again] == ["HumanEval/2", "HumanEval/4"]
    assert len(seen) == 3
    # another n is another experiment: nothing is reused
    options["n"] = 1
    await solve_all(tasks[:1], out=out, **options)
    assert len(model.calls) == 5


def test_read_jsonl_refuses_a_broken_middle_line(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"task_id": "a"}\nnot json\n{"task_id": "b"}\n')
    with pytest.raises(ConfigError, match="line 2"):
        read_jsonl(path)
    assert read_jsonl(tmp_path / "missing.jsonl") == []


def test_summary_counts_sample_zero_against_the_choice(tmp_path):
    def result(task_id, first_ok, chosen_ok, seconds):
        samples = [
            {
                "index": 0,
                "status": "ok",
                "hidden_passed": first_ok,
                "prompt_tokens": 10,
                "completion_tokens": 5,
                "seconds": 1.0,
            },
            {
                "index": 1,
                "status": "ok",
                "hidden_passed": chosen_ok,
                "prompt_tokens": 10,
                "completion_tokens": 7,
                "seconds": 2.0,
            },
        ]
        return ProblemResult(
            task_id=task_id, strategy="best_of_n", n=2, samples=samples, selected=1, seconds=seconds
        )

    path = tmp_path / "r.jsonl"
    for r in (result("a", False, True, 3.0), result("b", True, True, 4.0)):
        append_jsonl(path, r)
    results = [ProblemResult.model_validate(r) for r in read_jsonl(path, kind="solve")]
    s = summarize(results)
    assert (s.problems, s.one_sample_passed, s.scaled_passed) == (2, 1, 2)
    assert (s.one_sample_tokens, s.scaled_tokens) == (30, 64)
    assert (s.one_sample_seconds, s.scaled_seconds) == (2.0, 7.0)
    assert s.scaled_rate == 1.0 and s.one_sample_rate == 0.5


@dataclass
class ReturnsVerifier:
    """Fails every example and reports the value after ``# returns`` in the output as what it got."""

    name: str = "returns"

    async def verify(self, task: Task, rollout: Rollout) -> Verdict:
        got = rollout.output.split("# returns ")[1].split()[0]
        checks = [{"name": "f(1)", "status": "fail", "expected": "0", "got": got}]
        return Verdict(rollout_id=rollout.id, score=0.0, passed=False, evidence={"checks": checks})


async def test_majority_votes_over_what_the_programs_returned():
    bodies = {
        0: "    return 1  # returns 1\n",
        1: "    return 2  # returns 2\n",
        2: "    return 2  # returns 2\n",
    }
    result = await solve(
        TASK,
        agent=humaneval_agent(FunctionModel(body_by_seed(bodies))),
        verifier=ReturnsVerifier(),
        scorer=ScriptedVerifier("returns 2"),
        strategy="majority",
        n=3,
    )
    assert result.selected in {1, 2} and "2 of 3 votes" in result.reason
    assert result.scaled_passed and not result.one_sample_passed
