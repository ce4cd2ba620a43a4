"""Vote- and score-based selectors: choices, ties and all-failed cases, as documented."""

from __future__ import annotations

from agentscale.selectors import BestOfMajority, BestScore, MajorityVote, WeightedVote
from agentscale.types import Rollout, Task, Verdict

TASK = Task(id="t", prompt="What is 6 * 7?")


def r(rid: str, output: str = "", *, answer: str | None = None, status: str = "ok") -> Rollout:
    return Rollout(id=rid, task_id="t", output=output, answer=answer, status=status)


def v(rid: str, score: float, passed: bool | None = None) -> Verdict:
    return Verdict(rollout_id=rid, score=score, passed=score >= 1.0 if passed is None else passed)


async def test_majority_picks_the_most_common_normalised_answer():
    rollouts = [
        r("a", "so it is 41"),
        r("b", "The answer is 42."),
        r("c", "#### 42.0"),
        r("d", "\\boxed{41}"),
        r("e", answer="42"),
    ]
    selection = await MajorityVote().select(TASK, rollouts, {})
    assert selection.rollout_id == "b"  # the first of the majority when nothing is verified
    assert selection.scores["c"] == 0.6 and selection.scores["a"] == 0.4
    assert "3 of 5 votes" in selection.reason


async def test_majority_within_the_winner_prefers_the_best_verified():
    rollouts = [r("a", answer="42"), r("b", answer="42"), r("c", answer="7")]
    selection = await MajorityVote().select(TASK, rollouts, {"a": v("a", 0.2), "b": v("b", 0.9)})
    assert selection.rollout_id == "b"


async def test_majority_tie_broken_by_verifier_score_then_order():
    rollouts = [r("a", answer="1"), r("b", answer="2"), r("c", answer="1"), r("d", answer="2")]
    by_score = await MajorityVote().select(TASK, rollouts, {"b": v("b", 0.9), "a": v("a", 0.1)})
    assert by_score.rollout_id == "b" and "tie" in by_score.reason
    by_order = await MajorityVote().select(TASK, rollouts, {})
    assert by_order.rollout_id == "a"


async def test_majority_ignores_failed_rollouts_and_abstainers():
    rollouts = [
        r("a", answer="1"),
        r("x", answer="2", status="error"),
        r("y", answer="2", status="error"),
        r("z"),
    ]
    selection = await MajorityVote().select(TASK, rollouts, {})
    assert selection.rollout_id == "a"
    assert set(selection.scores) == {"a"}


async def test_majority_with_no_answers_or_no_candidates():
    rollouts = [r("a", "I cannot say\nreally not"), r("b", "no idea at all\nsorry")]
    fallback = await MajorityVote().select(TASK, rollouts, {"b": v("b", 0.5, False)})
    assert fallback.rollout_id == "b" and fallback.reason.startswith("no answers to vote on")
    assert (await MajorityVote().select(TASK, [], {})).rollout_id is None
    all_failed = [r("a", answer="1", status="error")]
    assert (await MajorityVote().select(TASK, all_failed, {})).rollout_id is None


async def test_weighted_vote_lets_verified_answers_win_over_numbers():
    rollouts = [r("a", answer="41"), r("b", answer="41"), r("c", answer="41"), r("d", answer="42")]
    verdicts = {"a": v("a", 0.1), "b": v("b", 0.1), "c": v("c", 0.1), "d": v("d", 1.0)}
    selection = await WeightedVote().select(TASK, rollouts, verdicts)
    assert selection.rollout_id == "d"
    assert (await MajorityVote().select(TASK, rollouts, verdicts)).rollout_id == "a"


async def test_weighted_vote_custom_weight_ties_and_all_zero():
    rollouts = [
        r(
            "a",
            answer="1",
        ),
        r("b", answer="2"),
    ]
    rollouts[1].metadata["confidence"] = 0.9
    rollouts[0].metadata["confidence"] = 0.9
    tie = await WeightedVote(weight=lambda ro, _: ro.metadata["confidence"]).select(TASK, rollouts, {})
    assert tie.rollout_id == "a"  # equal weight: the first answer
    zero = await WeightedVote().select(TASK, rollouts, {"a": v("a", 0.0), "b": v("b", 0.0)})
    assert zero.rollout_id == "a" and zero.reason.startswith("all vote weights are 0")


async def test_best_score_ties_passed_and_all_failed():
    rollouts = [r("a"), r("b"), r("c"), r("d")]
    verdicts = {"a": v("a", 0.5, False), "b": v("b", 0.8, False), "c": v("c", 0.8, True)}
    assert (await BestScore().select(TASK, rollouts, verdicts)).rollout_id == "c"  # passed wins the tie
    tie = {"a": v("a", 0.8, False), "b": v("b", 0.8, False)}
    assert (await BestScore().select(TASK, rollouts, tie)).rollout_id == "a"  # then the earliest
    failed = await BestScore().select(TASK, rollouts, {"a": v("a", 0.2, False), "b": v("b", 0.3, False)})
    assert failed.rollout_id == "b" and "none passed" in failed.reason
    strict = await BestScore(require_pass=True).select(TASK, rollouts, {"b": v("b", 0.3, False)})
    assert strict.rollout_id is None
    nothing = await BestScore().select(TASK, rollouts, {})
    assert nothing.rollout_id == "a" and "nothing verified" in nothing.reason
    assert (await BestScore().select(TASK, [r("x", status="error")], {})).rollout_id is None


async def test_best_of_majority_filters_by_frequency_then_scores():
    rollouts = [
        r("a", answer="1"),
        r("b", answer="1"),
        r("c", answer="1"),
        r("d", answer="2"),
        r("e", answer="2"),
    ]
    rollouts.append(r("f", answer="3"))
    verdicts = {"a": v("a", 0.3), "b": v("b", 0.6), "d": v("d", 0.9), "f": v("f", 1.0)}
    top_only = await BestOfMajority().select(TASK, rollouts, verdicts)
    assert top_only.rollout_id == "b"  # best scored within the majority answer "1"
    wider = await BestOfMajority(min_fraction=0.3).select(TASK, rollouts, verdicts)
    assert wider.rollout_id == "d"  # "2" has 2 of 6 votes >= ceil(0.3 * 6) = 2; "3" (1 vote) never counts


async def test_best_of_majority_ties_and_fallbacks():
    rollouts = [r("a", answer="1"), r("b", answer="2"), r("c", answer="2")]
    verdicts = {"a": v("a", 0.5), "b": v("b", 0.5)}
    tie = await BestOfMajority(min_fraction=0.3).select(TASK, rollouts, verdicts)
    assert tie.rollout_id == "b"  # equal score: the larger cluster
    plain = await BestOfMajority().select(TASK, rollouts, {})
    assert plain.rollout_id == "b"  # no verdicts: plain majority
    none = await BestOfMajority().select(TASK, [r("x", "hmm\nhmm"), r("y", "?\n?")], {"y": v("y", 0.4, False)})
    assert none.rollout_id == "y" and none.reason.startswith("no answers to cluster")
