"""The demo's live view and closing table, rendered into a captured console (fixed width, no colour)."""

from __future__ import annotations

import io

from rich.console import Console

from agentscale.cli._live import LiveView, summary_table
from agentscale.evaluation import ProblemResult, SampleRecord, summarize


def rendered(renderable) -> str:
    console = Console(file=io.StringIO(), width=100, color_system=None, force_terminal=False)
    console.print(renderable)
    return console.file.getvalue()


def rows(text: str) -> list[list[str]]:
    """The body rows of every table in ``text``, as lists of cell texts."""
    return [
        [c.strip() for c in ln.strip().strip("│").split("│")]
        for ln in text.splitlines()
        if ln.startswith("│")
    ]


def events(task_id="HumanEval/2"):
    yield {"event": "rollout_started", "task_id": task_id, "index": 0, "strategy": None, "generation": 0}
    yield {"event": "rollout_started", "task_id": task_id, "index": 1, "strategy": None, "generation": 0}
    yield {
        "event": "rollout_finished",
        "task_id": task_id,
        "index": 1,
        "rollout_id": "r1",
        "status": "ok",
        "tokens": 57,
        "seconds": 3.25,
        "error": None,
    }
    yield {"event": "budget", "task_id": task_id, "spent_tokens": 57, "remaining": {}, "exhausted": None}
    yield {"event": "verdict", "task_id": task_id, "rollout_id": "r1", "score": 0.5, "passed": False}
    yield {
        "event": "rollout_finished",
        "task_id": task_id,
        "index": 0,
        "rollout_id": "r0",
        "status": "error",
        "tokens": 0,
        "seconds": 1.0,
        "error": "ModelTimeout: no answer",
    }
    yield {
        "event": "vote",
        "task_id": task_id,
        "counts": {"x": 2},
        "leader": "x",
        "confidence": 0.875,
        "settled": False,
    }
    yield {"event": "selected", "task_id": task_id, "rollout_id": "r1", "reason": "highest verifier score"}
    yield {"event": "something_new", "task_id": task_id}


def test_live_view_shows_rollouts_verdicts_votes_and_budget():
    view = LiveView(total=3, title="HumanEval with best_of_n, n=2")
    view.start("HumanEval/2")
    text = rendered(view)
    assert "HumanEval/2 (1/3)" in text and "tokens spent on this problem: 0" in text
    stream = events()
    view.handle(next(stream))
    view.handle(next(stream))
    assert rendered(view).count("running") == 2
    for event in stream:
        view.handle(event)
    text = rendered(view)
    assert rows(text) == [
        ["0", "error", "", "1.0", "ModelTimeout: no answer"],
        ["1 *", "done", "57", "3.2", "fail (examples 50%)"],  # * = selected
    ]
    assert "tokens spent on this problem: 57" in text and "vote: 2 votes, confidence 0.88" in text


def test_live_view_lists_finished_problems_and_moves_on():
    view = LiveView(total=2)
    for event in events():
        view.handle(event)  # the first event starts the problem by itself
    assert view.current == "HumanEval/2"
    samples = [
        SampleRecord(index=0, status="ok", prompt_tokens=10, completion_tokens=5, hidden_passed=False),
        SampleRecord(index=1, status="ok", prompt_tokens=10, completion_tokens=7, hidden_passed=True),
    ]
    view.finish(
        ProblemResult(
            task_id="HumanEval/2", strategy="best_of_n", n=2, samples=samples, selected=1, seconds=12.5
        )
    )
    text = rendered(view)
    assert "solved 1/2" in text and "HumanEval/2 (" not in text
    assert rows(text) == [["HumanEval/2", "fail", "pass", "2", "32", "12.5"]]
    view.handle({"event": "rollout_started", "task_id": "HumanEval/4", "index": 0})
    assert "HumanEval/4 (2/2)" in rendered(view)


def test_summary_table_compares_one_sample_with_the_strategy():
    results = [
        ProblemResult(
            task_id=f"HumanEval/{i}",
            strategy="best_of_n",
            n=2,
            samples=[
                SampleRecord(
                    index=0,
                    status="ok",
                    prompt_tokens=10,
                    completion_tokens=5,
                    seconds=2.0,
                    hidden_passed=i == 0,
                ),
                SampleRecord(index=1, status="ok", prompt_tokens=10, completion_tokens=5, hidden_passed=True),
            ],
            selected=1,
            seconds=4.0,
        )
        for i in range(2)
    ]
    text = rendered(summary_table(summarize(results), strategy="best_of_n", n=2))
    assert rows(text) == [
        ["one sample (pass@1)", "1/2 (50%)", "30", "4.0"],
        ["best_of_n, n=2", "2/2 (100%)", "60", "8.0"],
    ]
