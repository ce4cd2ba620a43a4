"""List-wise, tournament and synthesis selectors with scripted models: control flow only."""

from __future__ import annotations

import re

import pytest

from agentscale.errors import ConfigError, ModelAPIError
from agentscale.selectors import KnockoutTournament, ListwiseSelector, MajorityVote, Synthesize
from agentscale.testing import FakeModel, FunctionModel
from agentscale.types import Rollout, Task, Verdict

TASK = Task(id="t", prompt="Give the best number.")


def r(rid: str, output: str, **kw) -> Rollout:
    return Rollout(id=rid, task_id="t", output=output, **kw)


def v(rid: str, score: float) -> Verdict:
    return Verdict(rollout_id=rid, score=score, passed=score >= 1.0)


def user_text(call) -> str:
    return call.prompt[-1]["content"]


def shown_candidates(call) -> list[str]:
    return re.findall(r"^Candidate \d+:\n(.*)$", user_text(call), re.M)


def picks_marked(call) -> str:
    """A judge that always names the candidate whose text says CORRECT, wherever it was shown."""
    for i, text in enumerate(shown_candidates(call), 1):
        if "CORRECT" in text:
            return f'{{"choice": {i}, "reason": "it is right"}}'
    return "no idea"


ROLLOUTS = [r(str(i), f"candidate {i}" + (" CORRECT" if i == 3 else "")) for i in range(6)]


@pytest.mark.parametrize("seed", range(8))
async def test_listwise_picks_the_right_one_whatever_the_shuffle(seed):
    model = FunctionModel(picks_marked)
    selection = await ListwiseSelector(model, seed=seed).select(TASK, ROLLOUTS, {})
    assert selection.rollout_id == "3"
    assert sorted(shown_candidates(model.calls[0])) == sorted(ro.output for ro in ROLLOUTS)


async def test_listwise_shuffles_differ_and_are_voted():
    model = FunctionModel(picks_marked)
    selection = await ListwiseSelector(model, shuffles=5, seed=1).select(TASK, ROLLOUTS, {})
    orders = {tuple(shown_candidates(c)) for c in model.calls}
    assert len(model.calls) == 5 and len(orders) > 1
    assert selection.rollout_id == "3" and selection.scores["3"] == 1.0


async def test_listwise_cancels_position_bias_by_voting():
    # a judge that always says "1" (pure position bias) spreads its votes over whoever came first
    model = FakeModel(["1"], cycle=True)
    selection = await ListwiseSelector(model, shuffles=9, seed=0).select(TASK, ROLLOUTS[:3], {})
    assert max(selection.scores.values()) < 1.0


async def test_listwise_garbage_falls_back_to_best_score():
    model = FakeModel(["I like them all", "hmm"], cycle=True)
    verdicts = {"1": v("1", 0.9), "2": v("2", 0.4)}
    selection = await ListwiseSelector(model, shuffles=2).select(TASK, ROLLOUTS, verdicts)
    assert selection.rollout_id == "1"
    assert selection.reason.startswith("no readable choice in 2 replies; fallback: highest verifier score")


async def test_listwise_model_failure_uses_the_configured_fallback():
    def fail(call):
        raise ModelAPIError("down", model="fake")

    rollouts = [r("a", "x", answer="1"), r("b", "y", answer="2"), r("c", "z", answer="2")]
    selection = await ListwiseSelector(FunctionModel(fail), fallback=MajorityVote()).select(TASK, rollouts, {})
    assert selection.rollout_id == "b" and "the model failed" in selection.reason


async def test_listwise_one_or_no_candidates_asks_nothing():
    model = FakeModel([])
    assert (await ListwiseSelector(model).select(TASK, ROLLOUTS[:1], {})).rollout_id == "0"
    assert (await ListwiseSelector(model).select(TASK, [], {})).rollout_id is None
    assert model.calls == []
    with pytest.raises(ConfigError):
        ListwiseSelector(model, shuffles=0)


async def test_listwise_tie_between_picks_goes_to_the_verified():
    wanted = iter(["A", "B"])  # the first prompt's reply names A, the second's B: one vote each

    def judge(call):
        target = next(wanted)
        return f'{{"choice": {shown_candidates(call).index(target) + 1}}}'

    rollouts = [r("a", "A"), r("b", "B")]
    selection = await ListwiseSelector(FunctionModel(judge), shuffles=2).select(TASK, rollouts, {"b": v("b", 0.7)})
    assert selection.scores == {"a": 0.5, "b": 0.5}
    assert selection.rollout_id == "b"
    unverified = iter(["A", "B"])
    wanted = unverified
    selection = await ListwiseSelector(FunctionModel(judge), shuffles=2).select(TASK, rollouts, {})
    assert selection.rollout_id == "a"  # no scores: the earlier candidate


def prefers_larger(call) -> str:
    text = user_text(call)
    a = int(re.search(r"Answer A:\n.*?(-?\d+)", text).group(1))
    b = int(re.search(r"Answer B:\n.*?(-?\d+)", text).group(1))
    return '{"winner": "A"}' if a >= b else '{"winner": "B"}'


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 9])
async def test_tournament_finds_the_best_under_a_known_judge(count):
    values = [17, 3, 99, 42, 5, 64, 8, 23, 11][:count]
    rollouts = [r(f"r{i}", f"my number is {n}") for i, n in enumerate(values)]
    model = FunctionModel(prefers_larger)
    selection = await KnockoutTournament(model).select(TASK, rollouts, {})
    best = values.index(max(values))
    assert selection.rollout_id == f"r{best}"
    assert len(model.calls) == count - 1  # a knockout plays n - 1 matches
    assert selection.scores[f"r{best}"] == max(selection.scores.values())


async def test_tournament_bye_goes_to_the_top_seed():
    rollouts = [r("low", "1"), r("mid", "2"), r("top", "3")]
    verdicts = {"top": v("top", 0.9), "mid": v("mid", 0.5), "low": v("low", 0.1)}
    model = FunctionModel(prefers_larger)
    await KnockoutTournament(model).select(TASK, rollouts, verdicts)
    first = user_text(model.calls[0])
    assert "Answer A:\n2" in first and "Answer B:\n1" in first  # top seed sat out round 1


async def test_tournament_both_orders_and_undecided_matches():
    model = FunctionModel(prefers_larger)
    rollouts = [r("a", "5"), r("b", "9")]
    selection = await KnockoutTournament(model, both_orders=True).select(TASK, rollouts, {})
    assert selection.rollout_id == "b" and len(model.calls) == 2

    biased = FakeModel(['{"winner": "A"}'], cycle=True)  # always the first shown: the orders disagree
    verdicts = {"a": v("a", 0.2), "b": v("b", 0.6)}
    undecided = await KnockoutTournament(biased, both_orders=True).select(TASK, rollouts, verdicts)
    assert undecided.rollout_id == "b" and "undecided" in undecided.reason


async def test_tournament_garbage_goes_to_score_then_seed():
    model = FakeModel(["both are lovely"], cycle=True)
    rollouts = [r("a", "1"), r("b", "2"), r("c", "3"), r("d", "4")]
    assert (await KnockoutTournament(model).select(TASK, rollouts, {})).rollout_id == "a"
    verdicts = {"c": v("c", 0.8)}
    assert (await KnockoutTournament(model).select(TASK, rollouts, verdicts)).rollout_id == "c"
    assert (await KnockoutTournament(model).select(TASK, [], {})).rollout_id is None


async def test_synthesis_writes_a_new_rollout_from_candidates_and_verdicts():
    model = FakeModel(["Combining both: the answer is 42."])
    rollouts = [
        r("a", "I think 41", answer="41"),
        r("b", "maybe 42", answer="42"),
        r("x", "", status="error"),
    ]
    verdicts = {"a": v("a", 0.2), "b": v("b", 0.7)}
    selection = await Synthesize(model).select(TASK, rollouts, verdicts)
    new = selection.rollout
    assert new is not None and selection.rollout_id == new.id
    assert new.provenance.strategy == "synthesize" and new.provenance.parents == ["b", "a"]
    assert new.answer == "42" and new.output.startswith("Combining")
    assert new.usage.calls == 1 and new.task_id == "t"
    prompt = user_text(model.calls[0])
    assert prompt.index("maybe 42") < prompt.index("I think 41")  # best first
    assert "score 0.70" in prompt


async def test_synthesis_falls_back_on_empty_reply_or_failure():
    rollouts = [r("a", "1"), r("b", "2")]
    empty = await Synthesize(FakeModel(["   "])).select(TASK, rollouts, {"b": v("b", 0.5)})
    assert empty.rollout is None and empty.rollout_id == "b" and empty.reason.startswith("the synthesis was empty")

    def fail(call):
        raise ModelAPIError("down", model="fake")

    failed = await Synthesize(FunctionModel(fail)).select(TASK, rollouts, {})
    assert failed.rollout_id == "a" and "synthesis failed" in failed.reason
    assert (await Synthesize(FakeModel([])).select(TASK, [], {})).rollout_id is None
