"""The scaling benchmark's measurements and table, with a scripted model and scripted verifiers."""

from __future__ import annotations

import pytest
from test_humaneval_solve import ScriptedVerifier, body_by_seed

from agentscale.datasets import load_humaneval
from agentscale.errors import ConfigError
from agentscale.evaluation import ProblemResult, SampleRecord
from agentscale.evaluation.humaneval_scaling import (
    ScalingRecord,
    measure_problem,
    replay_adaptive,
    tabulate,
    wall_ratio,
)
from agentscale.graphs.humaneval import humaneval_agent
from agentscale.testing import FakeModel, FunctionModel


def sample(index, *, ex=False, hidden=False, behaviour="b", tokens=10, score=None):
    return SampleRecord(
        index=index,
        status="ok",
        prompt_tokens=tokens,
        completion_tokens=tokens,
        examples_passed=ex,
        examples_score=score if score is not None else (1.0 if ex else 0.0),
        hidden_passed=hidden,
        behaviour=behaviour,
        output=f"program {index}",
    )


def record(task_id, samples, **extra):
    draw = ProblemResult(
        kind="draw", task_id=task_id, strategy="best_of_n", n=len(samples), samples=samples, seconds=10.0
    )
    return ScalingRecord(task_id=task_id, draw=draw, **extra)


def rows_by_method(rows):
    return {r.method.split(",")[0].split(" (")[0]: r for r in rows}


async def test_best_of_n_reads_the_first_n_samples():
    # sample 0 fails, sample 2 passes the examples (and the hidden tests)
    samples = [sample(0), sample(1), sample(2, ex=True, hidden=True), sample(3)]
    rows = rows_by_method(await tabulate([record("a", samples)], ns=(1, 2, 4), vote_n=4, adaptive_max=4))
    assert rows["pass@1"].passed == 0.0 and rows["pass@1"].tokens == 20
    assert rows["best-of-1"].passed == 0.0 and rows["best-of-2"].passed == 0.0
    assert rows["best-of-4"].passed == 1.0 and rows["best-of-4"].tokens == 80
    assert rows["best-of-4"].seconds == 10.0  # the draw's own wall time
    assert "random subsets" in rows["best-of-2"].note


async def test_the_hidden_tests_never_pick():
    # sample 1 passes the hidden tests but not the examples: best-of-N must not find it
    samples = [sample(0, ex=True, score=1.0), sample(1, hidden=True)]
    rows = rows_by_method(await tabulate([record("a", samples)], ns=(1, 2), vote_n=2, adaptive_max=2))
    assert rows["best-of-2"].passed == 0.0
    assert rows["pass@2 ceiling"].passed == 1.0


async def test_majority_votes_over_behaviour():
    samples = [
        sample(0, behaviour="A", hidden=False),
        sample(1, behaviour="B", hidden=True),
        sample(2, behaviour="B", hidden=True),
        sample(3, behaviour="C"),
    ]
    rows = rows_by_method(await tabulate([record("a", samples)], ns=(1,), vote_n=4))
    assert rows["majority vote of 4"].passed == 1.0
    samples[2] = sample(2, behaviour="A")
    rows = rows_by_method(await tabulate([record("a", samples)], ns=(1,), vote_n=4))
    assert rows["majority vote of 4"].passed == 0.0


def test_adaptive_replay_stops_at_the_first_wave_with_a_pass():
    samples = [sample(i) for i in range(8)]
    samples[3] = sample(3, ex=True, hidden=True)
    assert replay_adaptive(samples, wave=2, max_samples=8) == (3, 4)
    # no pass: every sample is used and the best score wins
    samples = [sample(i, score=0.5 if i == 5 else 0.0) for i in range(8)]
    assert replay_adaptive(samples, wave=2, max_samples=8) == (5, 8)
    assert replay_adaptive(samples, wave=2, max_samples=4) == (0, 4)


async def test_adaptive_spends_fewer_tokens_than_fixed_n_for_the_same_pass_rate():
    samples = [sample(0, ex=True, hidden=True)] + [sample(i) for i in range(1, 8)]
    rows = rows_by_method(await tabulate([record("a", samples)], ns=(1, 8), vote_n=8, adaptive_max=8))
    adaptive = next(r for m, r in rows.items() if m.startswith("adaptive"))
    assert adaptive.passed == rows["best-of-8"].passed == 1.0
    assert adaptive.tokens == 40 < rows["best-of-8"].tokens


async def test_listwise_and_timed_rows_and_the_wall_ratio():
    samples = [sample(0), sample(1, hidden=True)]
    timed = {
        name: ProblemResult(
            task_id="a", strategy="best_of_n", n=n, samples=samples[:n], selected=n - 1, seconds=seconds
        )
        for name, n, seconds in (("best_of_1", 1, 2.0), ("best_of_8", 2, 5.0))
    }
    rec = record("a", samples, listwise={"n": 2, "selected": 1, "tokens": 100, "seconds": 1.5}, timed=timed)
    rows = rows_by_method(await tabulate([rec.model_dump(mode="json")], ns=(1, 2), vote_n=2))
    listwise = rows["list-wise selection of 2"]
    assert listwise.passed == 1.0 and listwise.tokens == 40 + 100
    assert rows["real run: best-of-8"].passed == 1.0 and rows["real run: best-of-8"].seconds == 5.0
    assert rows["pass@1"].seconds == 2.0
    assert wall_ratio([rec]) == (2.5, 1)
    assert wall_ratio([record("b", samples)]) is None


async def test_tabulate_refuses_nothing_and_too_large_n():
    with pytest.raises(ConfigError, match="no problems"):
        await tabulate([])
    with pytest.raises(ConfigError, match="only 2 samples"):
        await tabulate([record("a", [sample(0), sample(1)])], ns=(1, 4))


async def test_measure_problem_draws_judges_and_times():
    task = load_humaneval([2])[0]
    model = FunctionModel(body_by_seed({1: "    return number % 1  # EX\n"}))
    judge = FakeModel(['{"choice": 1, "reason": "ok"}'], cycle=True)
    rec = await measure_problem(
        task,
        agent=humaneval_agent(model),
        verifier=ScriptedVerifier("# EX"),
        scorer=ScriptedVerifier("# EX"),
        judge=judge,
        draw=4,
        listwise_n=3,
        timed=True,
    )
    assert [s.index for s in rec.draw.samples] == [0, 1, 2, 3] and rec.draw.kind == "draw"
    assert rec.listwise.n == 3 and rec.listwise.selected in {0, 1, 2} and rec.listwise.tokens > 0
    assert len(judge.calls) == 1 and "Candidate 3" in judge.calls[0].prompt[-1]["content"]
    assert set(rec.timed) == {"best_of_1", "best_of_8", "adaptive"}
    assert len(rec.timed["best_of_8"].samples) == 8 and rec.timed["best_of_8"].scaled_passed
    assert len(rec.timed["adaptive"].samples) == 2 and rec.timed["adaptive"].stop_reason == "passed"
    assert len(model.calls) == 4 + 1 + 8 + 2
    # the record survives a round trip through its JSON line
    assert ScalingRecord.model_validate_json(rec.model_dump_json()) == rec


async def test_majority_keeps_behaviours_that_differ_only_in_case():
    samples = [
        sample(0, behaviour="[\"got 'ABC'\"]"),
        sample(1, behaviour="[\"got 'abc'\"]", hidden=True),
        sample(2, behaviour="[\"got 'abc'\"]", hidden=True),
    ]
    rows = rows_by_method(await tabulate([record("a", samples)], ns=(1,), vote_n=3))
    assert rows["majority vote of 3"].passed == 1.0
    samples[2] = sample(2, behaviour="[\"got 'ABC'\"]")
    rows = rows_by_method(await tabulate([record("a", samples)], ns=(1,), vote_n=3))
    assert rows["majority vote of 3"].passed == 0.0


class LastOne:
    """Picks the rollout drawn last (a stand-in for the code selector): its choices are easy to check."""

    name = "last"

    def __init__(self) -> None:
        self.calls = 0

    async def select(self, task, rollouts, verdicts):
        from agentscale.types import Selection

        self.calls += 1
        assert task.prompt  # the real task reaches the selector: clustering needs its entry point
        # a live run's rollouts carry their index; recorded samples come back as ids "s<index>"
        last = max(rollouts, key=lambda r: r.metadata["index"] if "index" in r.metadata else int(r.id[1:]))
        return Selection(rollout_id=last.id, reason="last")


async def test_the_code_selection_is_recorded_for_every_n_and_tabulated():
    task = load_humaneval([2])[0]
    model = FunctionModel(body_by_seed({1: "    return number % 1  # EX\n"}))
    selector = LastOne()
    rec = await measure_problem(
        task,
        agent=humaneval_agent(model),
        verifier=ScriptedVerifier("# EX"),
        scorer=ScriptedVerifier("# EX"),
        draw=4,
        selector=selector,
        ns=(1, 2, 4),
    )
    # the draw itself selected with it, then once per N over the first N samples
    assert rec.draw.selected == 3 and selector.calls == 1 + 3
    assert rec.code == {1: 0, 2: 1, 4: 3}
    again = ScalingRecord.model_validate_json(rec.model_dump_json())
    rows = {r.method: r for r in await tabulate([again.model_dump(mode="json")], ns=(1, 2, 4))}
    # sample 1 is the only one that passes: chosen among the first 2 only
    picked = {n: rows[f"best-of-{n}, code selection"].passed for n in (1, 2, 4)}
    assert picked == {1: 0.0, 2: 1.0, 4: 0.0}
    assert rows["best-of-4, code selection"].tokens == rec.draw.tokens
    unrecorded = await tabulate([record("a", rec.draw.samples)], ns=(4,))
    assert not any("code selection" in r.method for r in unrecorded)


def test_the_benchmark_prints_the_bigger_model_beside_the_scaled_one(tmp_path):
    # `--baseline-model` records one greedy sample of the next size up per problem; the table sets it
    # beside the small model's pass@1, best-of-N and adaptive on the problems both have
    import json
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "he.jsonl"
    lines = []
    for number, big_passes in ((0, True), (1, False)):
        task_id = f"HumanEval/{number}"
        samples = [sample(0), sample(1, ex=True, hidden=True), sample(2), sample(3)]
        lines.append(record(task_id, samples, code={4: 1}).model_dump(mode="json"))
        greedy = ProblemResult(
            task_id=task_id,
            strategy="best_of_n",
            n=1,
            samples=[sample(0, hidden=big_passes, tokens=50)],
            selected=0,
            seconds=4.0,
        )
        lines.append({"kind": "baseline", "model": "big-model", "task_id": task_id, "result": greedy.model_dump()})
    out.write_text("".join(json.dumps(line) + "\n" for line in lines))
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "humaneval_scaling.py"
    shown = subprocess.run(
        [sys.executable, str(script), "--tabulate", "--out", str(out), "--problems", "0-1", "--ns", "1,2,4"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    table = shown.split("The next size up")[1]
    assert "big-model, one greedy sample" in table
    big = next(line for line in table.splitlines() if line.startswith("big-model"))
    assert "50.0%" in big and "100" in big and "4.0" in big  # 1 of 2 passes, 100 tokens, 4 s per problem
    best = next(line for line in table.splitlines() if "best-of-4, code selection" in line)
    assert "100.0%" in best and "10.0" in best  # sample 1 chosen on both; the draw's 10 s
    adaptive = next(line for line in table.splitlines() if "adaptive" in line)
    assert "2.0 samples" in adaptive and "100.0%" in adaptive and "5.0" in adaptive  # half the draw's tokens
