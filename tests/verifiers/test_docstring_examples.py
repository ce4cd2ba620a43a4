"""DocstringExamplesVerifier on real HumanEval problems (0-119), run in real processes."""

from __future__ import annotations

import asyncio

import pytest
from conftest import PYTHON

from agentscale.datasets import load_humaneval
from agentscale.types import Rollout
from agentscale.verifiers import DocstringExamplesVerifier

HUMANEVAL = load_humaneval(range(120))
# Their docstrings are wrong: HumanEval/47 says median([-10, 4, 6, 1000, 10, 20]) is 15.0 (it is 8.0),
# HumanEval/116's examples contradict its own tests. The reference solution cannot pass them.
WRONG_DOCSTRINGS = {"HumanEval/47", "HumanEval/116"}


def reference(task) -> Rollout:
    return Rollout(task_id=task.id, output=task.prompt + task.metadata["canonical_solution"])


def broken(task) -> Rollout:
    # a model that answers with a fenced whole function that returns nothing useful
    return Rollout(task_id=task.id, output=f"Here:\n```python\n{task.prompt}    return None\n```\nDone.")


async def verify_all(verifier, tasks, make):
    sem = asyncio.Semaphore(4)

    async def one(task):
        async with sem:
            return task, await verifier.verify(task, make(task))

    return await asyncio.gather(*(one(t) for t in tasks))


@pytest.mark.slow
async def test_reference_passes_and_broken_fails_on_humaneval_0_119(local_sandboxes):
    verifier = DocstringExamplesVerifier(local_sandboxes, python=PYTHON, per_check_timeout=5)
    good = await verify_all(verifier, HUMANEVAL, reference)
    bad = await verify_all(verifier, HUMANEVAL, broken)
    with_checks = [t.id for t, v in good if not v.evidence.get("no_checks")]
    print(f"\n{len(with_checks)} of {len(HUMANEVAL)} problems have docstring examples")
    assert len(with_checks) >= 112
    for task, verdict in good:
        if verdict.evidence.get("no_checks"):
            assert not verdict.passed and verdict.score == 0.0
        elif task.id in WRONG_DOCSTRINGS:
            assert not verdict.passed
        else:
            assert verdict.passed and verdict.score == 1.0, (task.id, verdict.feedback)
    for task, verdict in bad:
        assert not verdict.passed, (task.id, verdict.feedback)


async def test_a_handful_of_problems(local_sandboxes):
    verifier = DocstringExamplesVerifier(local_sandboxes, python=PYTHON)
    tasks = [
        HUMANEVAL[i] for i in (0, 67, 78, 87, 115)
    ]  # doctest, ->, sentence, multi-line call, Input/Output
    for task, verdict in await verify_all(verifier, tasks, reference):
        assert verdict.passed and verdict.score == 1.0, (task.id, verdict.feedback)
        assert verdict.verifier == "docstring_examples"
        assert verdict.evidence["total"] == len(verdict.evidence["checks"]) > 0
    for _, verdict in await verify_all(verifier, tasks, broken):
        assert not verdict.passed and verdict.score < 1.0
        assert verdict.feedback.splitlines()[1].startswith("FAIL ")


async def test_feedback_names_the_failing_example(local_sandboxes):
    task = HUMANEVAL[2]  # truncate_number(3.5) -> 0.5
    rollout = Rollout(
        task_id=task.id, output="```python\ndef truncate_number(number):\n    return number\n```"
    )
    verdict = await DocstringExamplesVerifier(local_sandboxes, python=PYTHON).verify(task, rollout)
    assert not verdict.passed
    assert verdict.feedback == "0 of 1 checks passed.\nFAIL truncate_number(3.5): expected 0.5, got 3.5"


async def test_partial_score(local_sandboxes):
    task = HUMANEVAL[13]  # greatest_common_divisor(3, 5) -> 1, (25, 15) -> 5
    rollout = Rollout(task_id=task.id, output="    return 1\n")  # a body only, completed with the prompt
    verdict = await DocstringExamplesVerifier(local_sandboxes, python=PYTHON).verify(task, rollout)
    assert verdict.score == 0.5 and not verdict.passed


async def test_model_self_tests_do_not_stop_a_correct_function(local_sandboxes):
    task = HUMANEVAL[13]
    code = (
        "```python\ndef greatest_common_divisor(a, b):\n    while b:\n        a, b = b, a % b\n"
        "    return a\n\n"
        "assert greatest_common_divisor(2, 4) == 3  # a wrong self-test\nprint(input())\n```"
    )
    verdict = await DocstringExamplesVerifier(local_sandboxes, python=PYTHON).verify(
        task, Rollout(task_id=task.id, output=code)
    )
    assert verdict.passed, verdict.feedback


async def test_no_examples_is_not_a_pass(local_sandboxes):
    task = HUMANEVAL[38]
    verdict = await DocstringExamplesVerifier(local_sandboxes).verify(task, reference(task))
    assert not verdict.passed and verdict.score == 0.0
    assert verdict.evidence["no_checks"] is True
    assert verdict.feedback.startswith("No checks: no examples")
    assert local_sandboxes.leases == 0  # nothing to run, nothing leased
