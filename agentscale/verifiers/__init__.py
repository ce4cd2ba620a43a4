"""Verifiers: judge one rollout of a task and return a ``Verdict`` (the ``Verifier`` protocol).

- ``DocstringExamplesVerifier``: run the examples written in the task's docstring (doctests,
  ``f(x) == y``, ``f(x) -> y``, "should return", Input/Output blocks) in a sandbox;
- ``VisibleTestsVerifier``: run ``task.tests`` (asserts, ``check(candidate)``, test functions,
  pytest files, shell commands) in a sandbox;
- ``ModelTestsVerifier``: run the tests the model wrote for itself;
- ``AnswerChecker``: compare a short answer with ``task.expected`` after normalisation;
- ``LLMJudge``: a model scores the candidate 0-10;
- ``WeightedSum`` and ``AllMustPass``: combine verifiers.

Sandboxed verifiers run each check isolated (own namespace and time limit; a crash or hang
costs only that check) and turn every failure of the candidate, including sandbox timeouts, into
``Verdict(passed=False)`` with feedback a model can act on. Nothing to check is never a pass.
"""

from agentscale.verifiers._checks import Check
from agentscale.verifiers._examples import Examples, extract_examples
from agentscale.verifiers._run import CheckResult, RunReport, run_checks
from agentscale.verifiers._tests import split_tests
from agentscale.verifiers.answer_checker import AnswerChecker
from agentscale.verifiers.docstring_examples import DocstringExamplesVerifier
from agentscale.verifiers.gate import AllMustPass
from agentscale.verifiers.llm_judge import LLMJudge
from agentscale.verifiers.model_tests import ModelTestsVerifier, model_written_tests
from agentscale.verifiers.visible_tests import VisibleTestsVerifier
from agentscale.verifiers.weighted_sum import WeightedSum

__all__ = [
    "AllMustPass",
    "AnswerChecker",
    "Check",
    "CheckResult",
    "DocstringExamplesVerifier",
    "Examples",
    "LLMJudge",
    "ModelTestsVerifier",
    "RunReport",
    "VisibleTestsVerifier",
    "WeightedSum",
    "extract_examples",
    "model_written_tests",
    "run_checks",
    "split_tests",
]
