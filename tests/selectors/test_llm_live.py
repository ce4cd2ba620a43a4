"""The judge, list-wise and tournament prompts with the real embedded 0.5B model.

A small model often ignores the requested format: these tests assert only that every reply is
either parsed or handled by the documented fallback, never a crash, and that a valid choice comes
back. They never assert that the model judged well.
"""

from __future__ import annotations

import pytest

from agentscale.selectors import KnockoutTournament, ListwiseSelector
from agentscale.types import Rollout, Task
from agentscale.verifiers import LLMJudge

pytestmark = [pytest.mark.llm, pytest.mark.slow]

TASK = Task(id="add", prompt="Write a Python function add(a, b) that returns the sum of a and b.")
CANDIDATES = [
    Rollout(id="right", task_id="add", output="```python\ndef add(a, b):\n    return a + b\n```"),
    Rollout(id="wrong", task_id="add", output="```python\ndef add(a, b):\n    return a - b\n```"),
    Rollout(id="empty", task_id="add", output="I am not sure."),
]


@pytest.fixture
async def llm(llama_server):
    from agentscale.llm import LLM

    server = llama_server
    async with LLM(server.model, api_base=server.api_base, profile=server.profile) as client:
        yield client


async def test_judge_parses_or_fails_cleanly(llm):
    judge = LLMJudge(llm, max_attempts=2, max_tokens=120)
    for rollout in CANDIDATES:
        verdict = await judge.verify(TASK, rollout)
        assert 0.0 <= verdict.score <= 1.0
        assert 1 <= verdict.evidence["attempts"] <= 2
        assert verdict.evidence.get("unparseable") or "judge_score" in verdict.evidence
        print(f"\n{rollout.id}: {verdict.feedback!r} (attempts {verdict.evidence['attempts']})")


async def test_listwise_returns_a_candidate(llm):
    selection = await ListwiseSelector(llm, shuffles=3, seed=0, max_tokens=80).select(TASK, CANDIDATES, {})
    assert selection.rollout_id in {r.id for r in CANDIDATES}
    print(f"\nlist-wise: {selection.rollout_id} ({selection.reason})")


async def test_tournament_returns_a_candidate(llm):
    selection = await KnockoutTournament(llm, max_tokens=60).select(TASK, CANDIDATES, {})
    assert selection.rollout_id in {r.id for r in CANDIDATES}
    print(f"\ntournament: {selection.rollout_id} ({selection.reason})")
