"""AnswerChecker, LLMJudge (scripted fake models for control flow) and the combinators."""

from __future__ import annotations

import pytest

from agentscale.errors import ConfigError
from agentscale.testing import FakeModel
from agentscale.types import Rollout, Task, Verdict
from agentscale.verifiers import AllMustPass, AnswerChecker, LLMJudge, WeightedSum

MATH = Task(id="m", prompt="What is 600 + 400?", expected="1000")


def rollout(output: str, **kw) -> Rollout:
    return Rollout(task_id="m", output=output, **kw)


@pytest.mark.parametrize(
    "output",
    ["The answer is 1,000.", "#### 1000", "so \\boxed{1000.0}", "600 + 400 = 1000", "Answer: $1,000"],
)
async def test_answer_checker_accepts_equal_answers(output):
    verdict = await AnswerChecker().verify(MATH, rollout(output))
    assert verdict.passed and verdict.score == 1.0


async def test_answer_checker_rejects_without_revealing():
    verdict = await AnswerChecker().verify(MATH, rollout("The answer is 999."))
    assert not verdict.passed and verdict.score == 0.0
    assert "1000" not in verdict.feedback and "999" in verdict.feedback
    shown = await AnswerChecker(reveal_expected=True).verify(MATH, rollout("The answer is 999."))
    assert "1000" in shown.feedback


async def test_answer_checker_uses_rollout_answer_and_handles_missing_pieces():
    assert (await AnswerChecker().verify(MATH, rollout("blah 5", answer="1e3"))).passed
    no_expected = await AnswerChecker().verify(MATH.model_copy(update={"expected": None}), rollout("1000"))
    assert not no_expected.passed and no_expected.evidence["no_checks"]
    failed = await AnswerChecker().verify(MATH, rollout("", status="error", error="boom"))
    assert not failed.passed and "boom" in failed.feedback
    nothing = await AnswerChecker().verify(MATH, rollout("I do not know, sorry, it is hard\nreally"))
    assert not nothing.passed and "No final answer" in nothing.feedback


async def test_judge_reads_json_and_passes_on_threshold():
    model = FakeModel(['```json\n{"score": 8, "reason": "correct"}\n```'])
    verdict = await LLMJudge(model).verify(MATH, rollout("1000"))
    assert verdict.passed and verdict.score == 0.8
    assert verdict.feedback == "Judge score 8/10. correct"
    assert verdict.evidence["attempts"] == 1
    prompt = model.calls[0].prompt
    assert "What is 600 + 400?" in prompt[-1]["content"] and "1000" in prompt[-1]["content"]


async def test_judge_re_asks_on_garbage_then_succeeds():
    model = FakeModel(["I think it's fine", "Score: 3/10 - wrong sum"])
    verdict = await LLMJudge(model, max_attempts=3).verify(MATH, rollout("900"))
    assert not verdict.passed and verdict.score == 0.3
    assert verdict.evidence["attempts"] == 2
    second = model.calls[1].prompt
    assert second[-2] == {"role": "assistant", "content": "I think it's fine"}
    assert "JSON" in second[-1]["content"]


async def test_judge_gives_up_after_k_unparseable_replies():
    model = FakeModel(["meh", "no idea", '{"score": 42}', "never reached"])
    verdict = await LLMJudge(model, max_attempts=3).verify(MATH, rollout("1000"))
    assert not verdict.passed and verdict.score == 0.0
    assert "unparseable after 3 attempts" in verdict.feedback
    assert verdict.evidence["replies"] == ["meh", "no idea", '{"score": 42}']
    assert len(model.calls) == 3


async def test_judge_reference_and_config_errors():
    model = FakeModel(['{"score": 10, "reason": "ok"}'])
    await LLMJudge(model, show_reference=True).verify(MATH, rollout("1000"))
    assert "Reference answer" in model.calls[0].prompt[-1]["content"]
    with pytest.raises(ConfigError):
        LLMJudge(model, max_attempts=0)
    with pytest.raises(ConfigError):
        LLMJudge(model, pass_score=11)


class Fixed:
    def __init__(self, name: str, score: float, passed: bool) -> None:
        self.name, self.score, self.passed, self.calls = name, score, passed, 0

    async def verify(self, task, rollout) -> Verdict:
        self.calls += 1
        return Verdict(
            rollout_id=rollout.id, score=self.score, passed=self.passed, feedback=f"{self.name} said so"
        )


async def test_weighted_sum():
    a, b = Fixed("a", 1.0, True), Fixed("b", 0.0, False)
    verdict = await WeightedSum([(a, 3.0), (b, 1.0)]).verify(MATH, rollout("x"))
    assert verdict.score == 0.75 and not verdict.passed  # default: every part must pass
    assert verdict.feedback == "[a] a said so\n[b] b said so"
    assert [p["verifier"] for p in verdict.evidence["parts"]] == ["a", "b"]
    assert (await WeightedSum([(a, 3.0), (b, 1.0)], pass_threshold=0.7).verify(MATH, rollout("x"))).passed
    with pytest.raises(ConfigError):
        WeightedSum([(a, 0.0)])
    with pytest.raises(ConfigError):
        WeightedSum([])


async def test_gate_short_circuits_expensive_verifiers():
    cheap, expensive = Fixed("cheap", 0.5, False), Fixed("expensive", 1.0, True)
    verdict = await AllMustPass([cheap, expensive]).verify(MATH, rollout("x"))
    assert not verdict.passed and verdict.score == 0.25
    assert expensive.calls == 0
    assert verdict.evidence["skipped"] == ["expensive"]
    assert verdict.feedback == "[cheap] cheap said so"
    ok = await AllMustPass([Fixed("a", 1.0, True), Fixed("b", 1.0, True)]).verify(MATH, rollout("x"))
    assert ok.passed and ok.score == 1.0


async def test_combinators_nest():
    inner = AllMustPass([AnswerChecker(), Fixed("style", 1.0, True)])
    outer = WeightedSum([(inner, 1.0), (Fixed("judge", 0.5, True), 1.0)])
    verdict = await outer.verify(MATH, rollout("The answer is 1000"))
    assert verdict.passed and verdict.score == 0.75
