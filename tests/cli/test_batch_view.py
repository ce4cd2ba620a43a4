"""The batch progress view and closing table, rendered into a captured console (fixed width, no colour)."""

from __future__ import annotations

import io

from rich.console import Console

from agentscale.cli._batch_view import BatchView, batch_summary
from agentscale.evaluation import BatchEvent, BatchReport, LineError


def rendered(renderable) -> str:
    console = Console(file=io.StringIO(), width=120, color_system=None, force_terminal=False)
    console.print(renderable)
    return console.file.getvalue()


def rec(key, status="chosen", passed=None, tokens=10):
    score = None if passed is None else {"passed": passed, "score": float(passed), "feedback": ""}
    usage = {"prompt_tokens": tokens, "completion_tokens": 5}
    return {"task_id": key, "status": status, "score": score, "usage": usage}


def test_progress_counts_pass_rate_tokens_and_eta():
    view = BatchView(total=4, title="chat batch", workers=2)
    view.handle(BatchEvent("skipped", "a", rec("a", passed=True)))
    view.handle(BatchEvent("started", "b"))
    view.handle(BatchEvent("started", "c"))
    text = rendered(view)
    assert "1/4 tasks (1 from an earlier run); 1/1 passed (100%); 15 tokens; ETA -" in text
    assert "running: b (0 s), c (0 s)" in text
    view.handle(BatchEvent("finished", "b", rec("b", passed=False)))
    view.handle(BatchEvent("finished", "c", rec("c", "none_ran")))
    text = rendered(view)
    assert "3/4 tasks" in text and "1/2 passed (50%); 45 tokens; ETA 0:0" in text
    assert "1 not finished; last: c: none_ran" in text


def test_summary_lists_outcomes_bad_lines_and_failures():
    report = BatchReport(total=3, skipped=["a"], done=["b"], failed=[("c", "RuntimeError: [b]oom")],
                         records=[rec("a", passed=True), rec("b", "none_passed", passed=False)])  # fmt: skip
    text = rendered(batch_summary(report, [LineError(4, "not JSON", "{x")], title="t", seconds=1.5, out="r.jsonl"))
    assert "3 (1 run now, 1 from an earlier run)" in text and "chosen: 1, none_passed: 1" in text
    assert "1/2 (50%)" in text and "bad line 4" in text and "not JSON: {x" in text
    assert "failed c" in text and "RuntimeError: [b]oom" in text  # shown as it is, not as markup
