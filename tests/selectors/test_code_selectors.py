"""Behaviour clustering and dual agreement, with real processes (the plain-subprocess sandbox of
tests/verifiers/conftest.py) and scripted models; the real backends are in test_code_real.py."""

from __future__ import annotations

import builtins

import pytest

from agentscale.selectors import BehaviourCluster, DualAgreement
from agentscale.testing import FakeModel, FakeSandboxProvider
from agentscale.types import Rollout, Task, Usage, Verdict
from agentscale.verifiers.generated_inputs import ModelInputs

PY = "/usr/bin/python3"
PROMPT = '''def second_largest(xs: list) -> int:
    """The second largest distinct value of xs, or None when there is none.
    >>> second_largest([1, 3, 2])
    2
    """
'''
TASK = Task(id="t", prompt=PROMPT, metadata={"entry_point": "second_largest"})

RIGHT_A = "    s = sorted(set(xs))\n    return s[-2] if len(s) > 1 else None\n"
RIGHT_B = "    best = sorted(set(xs), reverse=True)\n    if len(best) < 2:\n        return None\n    return best[1]\n"
RIGHT_C = (
    "```python\ndef second_largest(xs):\n    u = list(set(xs))\n    u.sort()\n    return u[-2] if u[1:] else None\n```"
)
WRONG_DUPES = "    s = sorted(xs)\n    return s[-2]\n"  # right on the example, wrong on duplicates
WRONG_DUPES_2 = "    ys = list(xs)\n    ys.sort()\n    return ys[-2]\n"
WRONG_LOOPS = "    while len(xs) != 3:\n        pass\n    return sorted(xs)[1]\n"


def r(rid: str, output: str, tokens: int = 0) -> Rollout:
    return Rollout(id=rid, task_id="t", output=output, usage=Usage(prompt_tokens=tokens))


def v(rid: str, score: float) -> Verdict:
    return Verdict(rollout_id=rid, score=score, passed=score >= 1.0)


@pytest.fixture
def sandboxes():
    from tests.verifiers.conftest import SubprocessSandboxes

    return SubprocessSandboxes()


async def test_clustering_picks_the_majority_behaviour_among_tied_candidates(sandboxes):
    # the two wrong programs come first and agree with each other; three right ones agree too
    rollouts = [
        r("w1", WRONG_DUPES),
        r("w2", WRONG_DUPES_2),
        r("a", RIGHT_A),
        r("b", RIGHT_B),
        r("c", RIGHT_C),
        r("low", RIGHT_A + "\n"),  # lower verifier score: not in the tie, does not vote
    ]
    verdicts = {x.id: v(x.id, 1.0) for x in rollouts[:5]} | {"low": v("low", 0.5)}
    selection = await BehaviourCluster(sandboxes, python=PY).select(TASK, rollouts, verdicts)
    assert selection.rollout_id == "a", selection.reason
    assert "5 of 6 candidates tied" in selection.reason and "groups 3+2" in selection.reason
    assert selection.scores["a"] == pytest.approx(3 / 5) and selection.scores["w1"] == pytest.approx(2 / 5)
    assert sandboxes.leases == 1


async def test_a_candidate_that_loops_on_an_input_loses_only_that_input(sandboxes):
    # WRONG_LOOPS hangs on every input not of length 3; it must not drag the others down, and
    # the right programs, one of which crashes on a single input, still form the majority
    crashes_on_empty = "    import os\n    if not xs:\n        os._exit(1)\n" + RIGHT_A
    rollouts = [r("loop", WRONG_LOOPS), r("w", WRONG_DUPES), r("a", RIGHT_A), r("crash", crashes_on_empty)]
    selection = await BehaviourCluster(sandboxes, python=PY, per_input_timeout=0.3).select(
        TASK, rollouts, {x.id: v(x.id, 1.0) for x in rollouts}
    )
    assert selection.rollout_id == "a", selection.reason
    assert selection.scores["crash"] == selection.scores["a"] == pytest.approx(2 / 4)


async def test_tie_breaks_are_support_then_order(sandboxes):
    # one candidate each: three singletons; the earliest wins when nothing else separates them
    rollouts = [r("w", WRONG_DUPES), r("a", RIGHT_A), r("loop", "    return 7\n")]
    selection = await BehaviourCluster(sandboxes, python=PY).select(TASK, rollouts, {})
    assert selection.rollout_id in {"w", "a"}
    assert "tie broken by" in selection.reason


async def test_one_top_candidate_or_identical_programs_run_nothing():
    provider = FakeSandboxProvider()
    one = await BehaviourCluster(provider).select(TASK, [r("a", RIGHT_A), r("b", RIGHT_B)], {"a": v("a", 1.0)})
    assert one.rollout_id == "a" and "no tie" in one.reason
    same = await BehaviourCluster(provider).select(TASK, [r("a", RIGHT_A), r("b", "\n" + RIGHT_A + "    # done\n")], {})
    assert same.rollout_id == "a" and "same program" in same.reason
    assert provider.leased == []
    assert (await BehaviourCluster(provider).select(TASK, [], {})).rollout_id is None


async def test_programs_that_never_run_lose_to_one_that_does(sandboxes):
    broken = "    return sorted(xs)[-2\n"  # does not parse
    rollouts = [r("p", "I cannot do that."), r("b1", broken), r("b2", broken), r("a", RIGHT_A)]
    selection = await BehaviourCluster(sandboxes, python=PY).select(TASK, rollouts, {})
    assert selection.rollout_id == "a", selection.reason


WRITTEN = """```python
assert second_largest([4, 4, 3]) == 3
assert second_largest([1, 1]) == None
assert second_largest([1, 2, 3]) == 99
assert second_largest([5, 1]) == 1
```"""


async def test_dual_agreement_weighs_group_size_by_informative_tests(sandboxes):
    # three wrong programs agree; two right ones agree. The model's tests split them: the right
    # group passes 2 informative tests (score 2 x 2 = 4), the wrong one passes none (3 x 0);
    # the test everyone fails (== 99) and the one everyone passes ([5, 1]) carry no weight.
    wrong_3 = "    return sorted(xs)[-2] if len(xs) > 1 else None\n"
    rollouts = [
        r("w1", WRONG_DUPES, 400),
        r("w2", WRONG_DUPES_2, 400),
        r("w3", wrong_3, 400),
        r("a", RIGHT_A, 400),
        r("b", RIGHT_B, 400),
    ]
    model = FakeModel([WRITTEN])
    selector = DualAgreement(sandboxes, ModelInputs(model), python=PY)
    selection = await selector.select(TASK, rollouts, {x.id: v(x.id, 1.0) for x in rollouts})
    assert selection.rollout_id == "a", selection.reason
    assert "2 informative tests of 4" in selection.reason
    assert selection.scores["a"] == 4.0 and selection.scores["w1"] == 0.0
    assert len(model.calls) == 1


async def test_model_call_costs_at_most_a_quarter_of_generation(sandboxes):
    rollouts = [r("w", WRONG_DUPES, 100), r("a", RIGHT_A, 100)]  # 200 tokens: too few for a request
    model = FakeModel([WRITTEN])
    selection = await BehaviourCluster(sandboxes, ModelInputs(model), python=PY).select(TASK, rollouts, {})
    assert model.calls == [] and "no model call" in selection.reason
    rich = [r("w", WRONG_DUPES, 2000), r("a", RIGHT_A, 2000)]  # 25% of 4000 = 1000 tokens
    await BehaviourCluster(sandboxes, ModelInputs(model, max_tokens=5000), python=PY).select(TASK, rich, {})
    (call,) = model.calls
    prompt_chars = sum(len(m["content"]) for m in call.prompt)
    assert call.max_tokens + prompt_chars // 3 <= 1000


async def test_generated_inputs_never_run_outside_a_sandbox(monkeypatch):
    """With eval, exec and compile (other than parsing) forbidden on the host, a full selection
    with hostile model-written calls still works, and every call lands in the sandbox's files."""
    hostile = (
        "assert second_largest(__import__('os').system('touch /tmp/as-pwned')) == 0\n"
        "assert second_largest([7, 7, 8]) == 7\n"
        "second_largest(open('/etc/passwd').read())\n"
    )
    seen_files: list[str] = []

    def handler(argv, files):
        from agentscale.types import ExecResult

        seen_files.extend(data.decode() for name, data in files.items() if name.endswith("_as_checks.json"))
        return ExecResult(exit_code=1, stderr="fake sandbox")

    real_compile = builtins.compile

    def parse_only(source, filename, mode, flags=0, *args, **kwargs):
        import ast

        if not flags & ast.PyCF_ONLY_AST:
            raise AssertionError(f"host tried to compile {str(source)[:80]!r}")
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    def refuse(*args, **kwargs):
        raise AssertionError("host tried to evaluate model-written code")

    monkeypatch.setattr(builtins, "compile", parse_only)
    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    provider = FakeSandboxProvider(handler=handler)
    rollouts = [r("w", WRONG_DUPES, 4000), r("a", RIGHT_A, 4000)]
    selection = await BehaviourCluster(provider, ModelInputs(FakeModel([hostile]))).select(TASK, rollouts, {})
    monkeypatch.undo()
    assert selection.rollout_id == "w"  # nothing ran: the earliest
    assert seen_files and all("__import__" not in f and "/etc/passwd" not in f for f in seen_files)
    assert any("second_largest([7, 7, 8])" in f for f in seen_files)


def _judge_picks(marker: str):
    """A judge that names the shown candidate whose code contains ``marker``."""
    import re

    def pick(call) -> str:
        text = call.prompt[-1]["content"]
        blocks = re.findall(r"Candidate (\d+) \(written by.*?\n```python\n(.*?)\n```", text, re.S)
        for number, code in blocks:
            if marker in code:
                return f'{{"choice": {number}, "reason": "right"}}'
        return "no idea"

    return pick


async def test_code_judge_sees_behaviours_as_code_without_the_prompt(sandboxes):
    from agentscale.selectors import CodeJudge
    from agentscale.testing import FunctionModel

    rollouts = [r("w1", WRONG_DUPES, 4000), r("w2", WRONG_DUPES_2, 4000), r("a", RIGHT_A, 4000)]
    model = FunctionModel(_judge_picks("set(xs)"))
    selection = await CodeJudge(model, sandboxes, python=PY).select(TASK, rollouts, {})
    assert selection.rollout_id == "a", selection.reason
    (call,) = model.calls
    text = call.prompt[-1]["content"]
    assert text.count("The second largest distinct value") == 1  # the docstring once, not per candidate
    assert "written by 2 of 3 samples" in text and "written by 1 of 3 samples" in text
    assert "Where the candidates differ:" in text and "raises IndexError" in text


async def test_code_judge_says_when_candidates_do_not_fit(sandboxes):
    from agentscale.selectors import CodeJudge
    from agentscale.testing import FunctionModel

    huge = "".join(f"    _ = '{'x' * 100}{i}'\n" for i in range(60)) + RIGHT_A
    rollouts = [r("w", WRONG_DUPES, 100_000), r("a", huge, 100_000)]
    model = FunctionModel(_judge_picks("set(xs)"))
    selection = await CodeJudge(model, sandboxes, context_tokens=600, python=PY).select(TASK, rollouts, {})
    assert model.calls == []
    assert selection.reason.startswith("the candidates do not fit the judge's context (600 tokens)")
    assert "fallback:" in selection.reason and selection.rollout_id in {"w", "a"}


async def test_code_judge_unreadable_reply_and_cost_cap_are_stated(sandboxes):
    from agentscale.selectors import CodeJudge
    from agentscale.testing import FakeModel

    rollouts = [r("w", WRONG_DUPES, 4000), r("a", RIGHT_A, 4000)]
    selection = await CodeJudge(FakeModel(["hmm"]), sandboxes, python=PY).select(TASK, rollouts, {})
    assert "no readable choice" in selection.reason and "fallback:" in selection.reason
    cheap = [r("w", WRONG_DUPES, 50), r("a", RIGHT_A, 50)]
    model = FakeModel(['{"choice": 1}'])
    selection = await CodeJudge(model, sandboxes, python=PY).select(TASK, cheap, {})
    assert model.calls == [] and "judge not asked" in selection.reason


async def test_listwise_shows_code_once_and_checks_the_context():
    from agentscale.selectors import ListwiseSelector
    from agentscale.testing import FakeModel

    rollouts = [r("a", PROMPT + RIGHT_A), r("b", RIGHT_B)]
    model = FakeModel(['{"choice": 2}'])
    await ListwiseSelector(model).select(TASK, rollouts, {})
    text = model.calls[0].prompt[-1]["content"]
    assert text.count("The second largest distinct value") == 1 and "sorted(set(xs))" in text
    small = ListwiseSelector(FakeModel(['{"choice": 2}']), context_tokens=100)
    selection = await small.select(TASK, rollouts, {})
    assert "do not fit the judge's context" in selection.reason and "fallback" in selection.reason
