"""Distillation control flow with scripted models: which prompt, which outcome, what gets parsed."""

from __future__ import annotations

import json
import logging

import pytest

from agentscale.memory import Distiller, InMemoryMemoryStore, MemoryBank, parse_items, parse_judgement
from agentscale.testing import FakeModel, FunctionModel
from agentscale.types import Rollout, Task, Verdict

TASK = Task(id="t1", prompt="Return the median of a list of numbers")
LESSON = json.dumps(
    [
        {
            "title": "Sort before taking the middle",
            "description": "order statistics",
            "content": "Sort a copy of the list, then average the two middle values for even lengths.",
        }
    ]
)


def _rollouts(*outputs: str) -> list[Rollout]:
    return [Rollout(id=f"r{i}", task_id=TASK.id, output=o) for i, o in enumerate(outputs)]


def _verdicts(*passed: bool) -> dict[str, Verdict]:
    return {
        f"r{i}": Verdict(
            rollout_id=f"r{i}", score=float(p), passed=p, feedback="" if p else f"test {i} failed"
        )
        for i, p in enumerate(passed)
    }


def _user_prompt(model) -> str:
    return model.calls[-1].prompt[-1]["content"]


@pytest.mark.parametrize(
    ("passed", "mode", "kind", "marker"),
    [
        ((True, True), "success", "strategy", "What made this work?"),
        ((False, False), "failure", "pitfall", "Why did it fail?"),
        (
            (True, False, False),
            "contrast",
            "strategy",
            "what did the passing attempts do that the failing ones did not",
        ),
    ],
)
async def test_prompt_follows_the_outcomes(passed, mode, kind, marker):
    model = FakeModel([LESSON])
    rollouts = _rollouts(*(f"attempt {i}" for i in range(len(passed))))
    items, judged = await Distiller().distill(TASK, rollouts, _verdicts(*passed), model)
    assert len(model.calls) == 1  # verdicts known: no judge call
    assert marker in _user_prompt(model)
    assert [j.source for j in judged] == ["verdict"] * len(passed)
    assert len(items) == 1
    item = items[0]
    assert item.kind == kind and item.title == "Sort before taking the middle"
    assert item.provenance[0].outcome == mode
    assert item.provenance[0].task_id == "t1"
    assert item.provenance[0].rollout_ids == [r.id for r in rollouts]
    assert item.query == TASK.prompt


async def test_contrast_prompt_shows_both_sides_and_feedback():
    model = FakeModel([LESSON])
    await Distiller().distill(
        TASK, _rollouts("sorted then middle", "took xs[len//2]"), _verdicts(True, False), model
    )
    prompt = _user_prompt(model)
    assert "PASSING attempt 1:\nsorted then middle" in prompt
    assert "FAILING attempt 1:\ntook xs[len//2]" in prompt
    assert "Feedback: test 1 failed" in prompt


async def test_identical_attempts_are_shown_once_and_long_ones_are_cut():
    model = FakeModel([LESSON])
    long = "x" * 5000
    await Distiller(max_chars=300).distill(
        TASK, _rollouts(long, long, long), _verdicts(True, True, True), model
    )
    prompt = _user_prompt(model)
    assert prompt.count("SUCCESSFUL attempt") == 1
    assert "characters cut" in prompt and len(prompt) < 2000


async def test_judge_decides_unverified_rollouts_and_errors_need_no_judge():
    def reply(call):
        text = call.prompt[-1]["content"]
        if "PASS or FAIL" in text:
            return "PASS" if "good" in text else "Verdict: FAIL"
        return LESSON

    model = FunctionModel(reply)
    rollouts = [
        *_rollouts("good answer", "bad answer"),
        Rollout(id="r2", task_id="t1", status="error", error="boom"),
    ]
    items, judged = await Distiller().distill(TASK, rollouts, None, model)
    assert [(j.passed, j.source) for j in judged] == [(True, "judge"), (False, "judge"), (False, "status")]
    assert len(model.calls) == 3  # two judge calls, one distillation
    assert "PASSING attempt" in _user_prompt(model)
    assert len(items) == 1


async def test_separate_judge_model_is_used():
    judge, model = FakeModel(["FAIL"]), FakeModel([LESSON])
    items, judged = await Distiller().distill(TASK, _rollouts("x"), [], model, judge=judge)
    assert len(judge.calls) == 1 and judged[0].passed is False
    assert "Why did it fail?" in _user_prompt(model)


async def test_unreadable_judge_means_unknown_and_no_distillation(caplog):
    model = FakeModel(["I am not sure."])
    with caplog.at_level(logging.WARNING):
        items, judged = await Distiller().distill(TASK, _rollouts("x"), None, model)
    assert items == [] and judged[0].passed is None
    assert len(model.calls) == 1
    assert "no PASS/FAIL" in caplog.text


async def test_garbage_reply_gives_no_items_and_is_logged(caplog):
    model = FakeModel(["Sure! Here are some thoughts: be careful. {not json"])
    with caplog.at_level(logging.WARNING):
        items, _ = await Distiller().distill(TASK, _rollouts("x"), _verdicts(True), model)
    assert items == []
    assert "no readable items" in caplog.text


async def test_at_most_max_items():
    many = json.dumps([{"title": f"t{i}", "content": f"c{i}"} for i in range(6)])
    items, _ = await Distiller(max_items=2).distill(TASK, _rollouts("x"), _verdicts(True), FakeModel([many]))
    assert [it.title for it in items] == ["t0", "t1"]


@pytest.mark.parametrize(
    "reply",
    [
        LESSON,
        f"Here you go:\n```json\n{LESSON}\n```\nHope it helps",
        '{"memories": [{"title": "Sort before taking the middle", "content": "Sort a copy."}]}',
        '{"title": "Sort before taking the middle", "description": "d", "content": "Sort a copy."}',
        "<think>hmm [1,2]</think>\n# Memory Item 1\n## Title Sort before taking the middle\n"
        "## Description order statistics\n## Content\nSort a copy.\nThen average.",
        "1. **Title:** Sort before taking the middle\n   **Description:** order statistics\n"
        "   **Content:** Sort a copy of the list.\n",
        "Title: Sort before taking the middle\nLesson: Sort a copy.\n\nTitle: Second\nContent: Another.",
    ],
)
def test_parse_accepts_the_shapes_models_use(reply):
    items = parse_items(reply, 3)
    assert items and items[0]["title"] == "Sort before taking the middle"
    assert items[0]["content"].startswith("Sort a copy")


@pytest.mark.parametrize(
    "reply", ["", "nothing useful", "[]", "{}", '[{"title": "no content"}]', "```json\n{bad", "null"]
)
def test_parse_garbage_gives_nothing(reply):
    assert parse_items(reply, 3) == []


def test_parse_pitfall_kind():
    reply = '[{"title": "Off by one", "content": "Check bounds.", "kind": "pitfall to avoid"}]'
    assert parse_items(reply, 3)[0]["kind"] == "pitfall"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("PASS", True),
        ("fail", False),
        ("The answer is correct.", True),
        ("incorrect", False),
        ("It is not correct", False),
        ("**Verdict**: FAILED", False),
        ("yes", True),
        ("", None),
        ("maybe", None),
    ],
)
def test_parse_judgement(reply, expected):
    assert parse_judgement(reply) is expected


async def test_remember_without_model_only_credits_recalled_items():
    bank = MemoryBank(InMemoryMemoryStore())
    stored = await bank.add(
        [
            __import__("agentscale.memory", fromlist=["MemoryItem"]).MemoryItem(
                title="Median", content="Sort then take the middle of the list of numbers"
            )
        ]
    )
    recalled = await bank.recall(TASK, k=3)
    assert [m.item.id for m in recalled] == [stored[0].id]
    assert await bank.remember(TASK, _rollouts("x"), _verdicts(False)) == []
    item = await bank.store.get(stored[0].id)
    assert (item.uses, item.failures) == (1, 1)


def test_parse_keeps_the_whole_items_of_a_reply_cut_by_the_token_limit():
    # a 0.5B's lessons often run past max_tokens: the items before the cut are still lessons
    reply = (
        '```json\n[\n  {"title": "Print the answer", "description": "arithmetic", "content": "Compute, print."},\n'
        '    {"title": "Name the units", "description": "units", "content": "Keep the units of'
    )
    items = parse_items(reply, 3)
    assert [i["title"] for i in items] == ["Print the answer"]
    wrapped = '{"memories": [{"title": "A", "content": "a."}, {"title": "B", "content": "b."}, {"title": "C", "con'
    assert [i["title"] for i in parse_items(wrapped, 3)] == ["A", "B"]


def test_parse_keeps_the_whole_sentences_of_a_lesson_cut_by_the_token_limit():
    # one long lesson cut mid-string was lost whole (3 of 22 distillations of the 0.5B on math)
    reply = ('```json\n[{"title": "Check the remainder", "description": "division word problems", '
             '"content": "Divide, then check what is left over. Add it to the last group before you ans')
    (item,) = parse_items(reply, 3)
    assert item["title"] == "Check the remainder" and item["content"] == "Divide, then check what is left over."
    two = reply.replace("```json\n[", '[{"title": "A", "content": "a."}, ')
    assert [i["title"] for i in parse_items(two, 3)] == ["A", "Check the remainder"]
    # cut in its title or before a whole sentence of content: nothing of it is kept
    assert parse_items('[{"title": "Check the rem', 3) == []
    assert parse_items('[{"title": "T", "content": "Divide, then', 3) == []
