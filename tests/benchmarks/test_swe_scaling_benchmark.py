"""benchmarks/swe_scaling.py: the table is read off the per-task records as documented."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "swe_scaling.py"


def _module():
    spec = importlib.util.spec_from_file_location("swe_scaling_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _roll(index, visible, resolved, tokens=100):
    return {"index": index, "status": "ok", "visible": visible, "visible_passed": visible == 1.0,
            "resolved": resolved, "tokens": tokens}  # fmt: skip


def test_best_of_n_is_the_best_visible_score_among_the_first_n():
    records = [
        # rollout 2 is resolved and has the best visible score: only best-of-4 finds it
        {"task_id": "a", "draw": {"seconds": 40, "tokens": 400, "resolved": True,
                                  "rollouts": [_roll(0, 0.5, False), _roll(1, 0.0, False), _roll(2, 1.0, True),
                                               _roll(3, 1.0, False)]},  # fmt: skip
         "memory": {"resolved": True, "tokens": 250, "seconds": 20}},
        # nothing resolved; rollout 1 passes the visible tests but not the hidden ones
        {"task_id": "b", "draw": {"seconds": 20, "tokens": 400, "resolved": False,
                                  "rollouts": [_roll(0, 0.2, False), _roll(1, 1.0, False), _roll(2, 0.0, False),
                                               _roll(3, 0.0, False)]},  # fmt: skip
         "evolve": {"resolved": True, "tokens": 380, "seconds": 30}},
    ]
    rows = {r[0]: r for r in _module().tabulate(records, [1, 2, 4], memory_n=2)}
    assert rows["1 rollout"][1] == 0.0 and rows["1 rollout"][2] == 100
    assert rows["best-of-2, visible tests"][1] == 0.0
    assert rows["best-of-4, visible tests"][1] == 0.5 and rows["best-of-4, visible tests"][3] == "30"
    assert "oracle 50%, random pick 12%" in rows["best-of-4, visible tests"][4]
    assert rows["evolution, equal tokens"][1] == 1.0
    assert rows["best-of-2, memory on"][1] == 1.0 and rows["best-of-2, memory off"][1] == 0.0


async def test_reselection_counts_the_tests_once_written_and_the_judge_each_time():
    from agentscale.evaluation import RolloutRecord, ScoreRecord
    from agentscale.graphs.swe.repro import WrittenTests
    from agentscale.testing import FakeModel
    from agentscale.types import Selection, Task, Usage

    class Selector:
        """Writes tests (10 tokens) the first time N > 2 patches are seen; the judge costs a model call."""

        def __init__(self):
            self.tests: WrittenTests | None = None
            self.judge = FakeModel(["two words"], cycle=True)  # 1 prompt word + 2 reply words = 3 tokens

        def written(self, task_id):
            return self.tests

        async def select(self, task, rollouts, verdicts):
            from agentscale.budget import record_usage

            reason = "1 distinct patch(es)"
            if len(rollouts) > 2:
                if self.tests is None:
                    self.tests = WrittenTests(usage=Usage(prompt_tokens=6, completion_tokens=4, calls=1))
                    record_usage(self.tests.usage)
                reason = "3 reproduction test(s) written in 1 call(s)"
            await self.judge.generate("judge")
            return Selection(rollout_id=rollouts[-1].id, reason=reason)

    rows = [RolloutRecord(id=f"r{i}", index=i, status="ok", output=f"patch {i}", usage=Usage(prompt_tokens=100),
                          verdict=ScoreRecord(passed=True, score=1.0)) for i in range(4)]  # fmt: skip
    record = type("Record", (), {"rollouts": rows})()
    found = await _module().reselect(Task(id="t", prompt="p"), record, Selector(), [1, 2, 4, 3],
                                     {"r2": True})  # fmt: skip
    by_n = found["by_n"]
    assert list(by_n) == ["2", "4", "3"]  # N = 1 needs no selection
    assert by_n["2"]["tokens"] == 200 + 3 and not by_n["2"]["resolved"]  # no tests needed: the judge only
    assert by_n["4"]["tokens"] == 400 + 10 + 3 and by_n["4"]["index"] == 3  # tests written here
    assert by_n["3"]["tokens"] == 300 + 10 + 3 and by_n["3"]["resolved"]  # the same tests, charged again
    table = {r[0]: r for r in _module().tabulate([{"task_id": "t", "repro": found}], [2, 3], memory_n=2)}
    assert table["best-of-3, reproduction tests"][1] == 1.0 and table["best-of-2, reproduction tests"][2] == 203


def test_a_sample_is_spread_through_the_task_file():
    spread = _module().spread
    assert spread(list(range(33)), 8) == [0, 4, 8, 12, 16, 20, 24, 28]  # every package of the fixture set
    assert spread(list(range(5)), None) == spread(list(range(5)), 9) == [0, 1, 2, 3, 4]
    assert spread(list(range(10)), 1) == [0]


def test_a_records_rollouts_keep_each_patch_and_what_stopped_it():
    from agentscale.evaluation import RolloutRecord
    from agentscale.types import Usage

    class Record:
        rollouts = [
            RolloutRecord(id="a", index=0, status="ok", output="diff --git a/x b/x\n", usage=Usage(total_tokens=5)),
            RolloutRecord(id="b", index=1, status="ok", output="", error="time limit: 300 s without a final answer"),
        ]

    rows = _module()._rollouts(Record(), {"a": True})
    assert [(r["patch"], r["error"], r["resolved"], r["patch_lines"]) for r in rows] == [
        ("diff --git a/x b/x\n", None, True, 1),
        ("", "time limit: 300 s without a final answer", False, 0),
    ]


async def test_evolution_measured_later_gets_the_recorded_draws_tokens(monkeypatch):
    import argparse

    import agentscale.evaluation as evaluation
    from agentscale.evaluation import RunSettings

    budgets = []

    class Runner:  # stands in for ScaledRunner: records the budget it was given, resolves nothing
        def __init__(self, parts, settings, **_):
            self.parts, self.settings, self.model, self.sandboxes = parts, settings, None, None

        async def run(self, task):
            budgets.append(self.settings.max_tokens)
            return type("Record", (), {"chosen": None, "status": "ok", "usage": type("U", (), {"total_tokens": 7})(),
                                       "seconds": 1.0, "rollouts": []})()  # fmt: skip

    monkeypatch.setattr(evaluation, "ScaledRunner", Runner)
    module = _module()
    base = Runner(None, RunSettings(workflow="swe", strategy="evolve", n=4))
    args = argparse.Namespace(evolve_tokens=200_000)
    task = type("Task", (), {"id": "t1"})()
    out = await module.measure_task(task, {"evolve": base}, None, args, draw_tokens=123_456)
    assert budgets == [123_456] and out["evolve"]["budget"] == 123_456
    await module.measure_task(task, {"evolve": base}, None, args)  # no draw anywhere: the fixed budget
    assert budgets[-1] == 200_000
