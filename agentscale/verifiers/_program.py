"""The program a rollout proposes for a coding task."""

from __future__ import annotations

from agentscale.code import complete_program, extract_code
from agentscale.types import Rollout, Task
from agentscale.verifiers._tests import strip_top_level_tests

__all__ = ["code_prompt", "entry_point", "program_and_self_tests", "program_for"]


def entry_point(task: Task) -> str | None:
    """The function under test: ``task.metadata["entry_point"]`` when set."""
    value = task.metadata.get("entry_point")
    return str(value) if value else None


def code_prompt(task: Task) -> str:
    """The code the model was asked to complete: ``task.metadata["code_prompt"]``, else ``task.prompt``."""
    return str(task.metadata.get("code_prompt") or task.prompt)


def program_and_self_tests(task: Task, rollout: Rollout) -> tuple[str | None, str, str]:
    """The program to run for ``rollout``, the asserts the model appended to it, and why there is no program.

    ``rollout.metadata["program"]`` wins when an agent already assembled it. Otherwise the code is
    extracted from ``rollout.output``, top-level asserts and demo calls are moved out of it (a wrong
    self-test must not stop a right function from loading), and it is completed with the task's
    code prompt.

    Args:
        task: the coding task.
        rollout: the candidate.

    Returns:
        ``(program, self_tests, "")``, or ``(None, "", reason)``.
    """
    if not rollout.ok:
        return None, "", f"the rollout failed ({rollout.status}): {rollout.error or 'no output'}"
    if isinstance(program := rollout.metadata.get("program"), str) and program.strip():
        return program, "", ""
    code = extract_code(rollout.output, entry_point=entry_point(task))
    if not code.strip():
        return None, "", "the output contains no code"
    code, self_tests = strip_top_level_tests(code)
    return complete_program(code_prompt(task), code, entry_point(task)), self_tests, ""


def program_for(task: Task, rollout: Rollout) -> tuple[str | None, str]:
    """Like ``program_and_self_tests`` without the self-tests: ``(program, "")`` or ``(None, reason)``."""
    program, _, why = program_and_self_tests(task, rollout)
    return program, why
