"""The math workflow with a scripted model: answer extraction, the grounded-answer check, tasks from
reasoning-gym, the workflow's parts, and the graphs listed in langgraph.json."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import pathlib
import time

import pytest

from agentscale import ScaleContext, registry, scale
from agentscale.errors import ConfigError
from agentscale.graphs.math import (
    GroundedAnswer,
    MathConfig,
    MathWorkflow,
    extract_math_answer,
    gsm_tasks,
    math_agent,
)
from agentscale.testing import FakeModel, FakeSandboxProvider, FunctionModel
from agentscale.types import ExecResult, Rollout, Task
from agentscale.verifiers import AnswerChecker
from agentscale.workflows import WorkflowEnv

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("Final answer: 28080", "28080"),
        ("so he earns \\boxed{28,080} a year", "28,080"),
        ("Final answer: 12 * 5 = 60 apples.", "60 apples"),
        ("#### 44", "44"),
        ("The answer is forty-four.", "forty-four"),
        ("He has 3 and then 5 more, 8", "8"),
        ("", None),
    ],
)
def test_extract_math_answer(text, answer):
    assert extract_math_answer(text) == answer


def test_gsm_tasks_come_from_reasoning_gym_with_hidden_answers():
    first, again = gsm_tasks([3]), gsm_tasks([3])
    assert first == again  # same seed, same problem
    (task,) = first
    assert task.id == "gsm_symbolic/3" and task.expected and task.expected not in ("", "None")
    assert task.metadata["seed"] == 3 and task.expected not in task.prompt.split()[-12:]
    assert gsm_tasks([4])[0].prompt != task.prompt
    with pytest.raises(ConfigError):
        gsm_tasks([-1])


def solver(answer: str):
    """A model that runs a program once, then answers ``answer``."""

    def reply(call):
        if len(call.prompt) == 2:
            return "I compute it.\n```python\nprint(3 * 12 - 5)\n```"
        return f"Final answer: {answer}"

    return FunctionModel(reply)


async def test_math_agent_runs_python_in_its_leased_sandbox_and_extracts_the_answer():
    pool = FakeSandboxProvider(handler=lambda argv, files: ExecResult(exit_code=0, stdout="31\n"))
    graph = scale(math_agent(solver("31 pens")), "majority", n=2, verifier=GroundedAnswer())
    task = Task(prompt="Tom has 3 boxes of 12 pens and gives away 5. How many pens?", expected="31")
    state = await graph.ainvoke({"task": task}, context=ScaleContext(sandboxes=pool))
    assert len(pool.leased) == 2 and pool.leased[0].files["main.py"] == b"print(3 * 12 - 5)"
    rollout = state["rollouts"][0]
    assert rollout.output == "31 pens" and rollout.answer == "31" and rollout.metadata["actions"] == "text"
    assert all(v.passed and v.score == 1.0 for v in state["verdicts"].values())
    assert (await AnswerChecker().verify(task, rollout)).passed


async def test_grounded_answer_scores_computed_guessed_and_missing_answers():
    obs = [{"role": "user", "name": "python", "content": "Observation:\n2,340\n28080"}]
    computed = Rollout(task_id="t", output="Final answer: 28,080", answer="28,080", trajectory=obs)
    guessed = Rollout(task_id="t", output="Final answer: 2400", answer="2400", trajectory=obs)
    missing = Rollout(task_id="t", output="", metadata={"limit": "step limit: 5 steps without a final answer"})
    failed = [{"role": "tool", "name": "python", "content": "Traceback ...\nNameError 28080"}]
    crashed = Rollout(task_id="t", output="28080", answer="28080", trajectory=failed)
    check, task = GroundedAnswer(), Task(prompt="?")
    assert (await check.verify(task, computed)).score == 1.0
    verdict = await check.verify(task, guessed)
    assert verdict.score == 0.5 and not verdict.passed and "not printed" in verdict.feedback
    verdict = await check.verify(task, missing)
    assert verdict.score == 0.0 and "step limit" in verdict.feedback
    assert (await check.verify(task, crashed)).score == 0.5  # a run that failed proves nothing


def test_workflow_tasks_and_parts():
    workflow = registry.create("workflows", "math")
    assert isinstance(workflow, MathWorkflow) and workflow.needs_sandbox
    assert workflow.task("gsm_symbolic/5").id == "gsm_symbolic/5" and workflow.task("5").id == "gsm_symbolic/5"
    assert workflow.task("What is 2 + 2?").prompt == "What is 2 + 2?"
    record = workflow.task({"question": "2 + 2?", "answer": 4, "id": "q1"})
    assert record.id == "q1" and record.expected == "4"
    for bad in ("", {"answer": 4}, 42):
        with pytest.raises(ConfigError):
            workflow.task(bad)
    parts = workflow.build(WorkflowEnv(model=FakeModel([]), sandboxes=FakeSandboxProvider(), options={"max_steps": 3}))
    assert parts.agent.wants_sandbox and isinstance(parts.verifier, GroundedAnswer)
    assert isinstance(parts.scorer, AnswerChecker) and parts.selector == "majority"
    with pytest.raises(ConfigError, match="bad math options"):
        workflow.build(WorkflowEnv(model=FakeModel([]), sandboxes=FakeSandboxProvider(), options={"max_stepz": 3}))
    with pytest.raises(ConfigError, match="sandboxes"):
        workflow.build(WorkflowEnv(model=FakeModel([])))
    assert MathConfig(max_steps=3).loop().max_steps == 3


def test_every_graph_in_langgraph_json_imports_and_builds():
    spec = json.loads((ROOT / "graphs" / "langgraph.json").read_text())
    assert {"agent_loop", "math"} <= set(spec["graphs"])
    for name, target in spec["graphs"].items():
        path, _, attr = target.partition(":")
        file = (ROOT / "graphs" / path).resolve()
        module_spec = importlib.util.spec_from_file_location(f"served_{name}", file)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        graph = getattr(module, attr)({"configurable": {"max_steps": 3, "api_base": "http://127.0.0.1:1/v1"}})
        assert hasattr(graph, "ainvoke"), name
        assert set(graph.get_graph().nodes) - {"__start__", "__end__"}, name  # a real node, not an empty graph


class HangingSandboxes:
    """Leases sandboxes whose runs never return (a stuck backend, a program nothing kills)."""

    def __init__(self) -> None:
        self.runs = 0

    @contextlib.asynccontextmanager
    async def lease(self):
        yield self

    async def run(self, command, *, files=None, timeout=None, env=None):
        self.runs += 1
        await asyncio.Event().wait()


async def test_a_program_that_hangs_is_stopped_and_the_math_agent_goes_on():
    model = FakeModel(["```python\nwhile True: pass\n```", "Final answer: 7"])
    sandboxes = HangingSandboxes()
    graph = scale(math_agent(model, MathConfig(python_timeout=0.3)), "best_of_n", n=1, verifier=GroundedAnswer())
    started = time.monotonic()
    state = await graph.ainvoke({"task": Task(prompt="3 + 4?")}, context=ScaleContext(sandboxes=sandboxes))
    assert time.monotonic() - started < 10 and sandboxes.runs == 1
    (rollout,) = state["rollouts"]
    assert rollout.status == "ok" and rollout.answer == "7" and rollout.metadata["steps"] == 2
    assert rollout.trajectory[3]["content"] == "Observation:\nError: python timed out after 0.3 s and was stopped."
    verdict = state["verdicts"][rollout.id]
    assert verdict.score == 0.5 and "not printed" in verdict.feedback  # the stopped run printed nothing


async def test_math_agent_malformed_actions_and_the_step_limit():
    replies = [
        "```ruby\nputs 3 + 4\n```",  # not a tool
        '```python\n{"cmd": "print(7)"}\n```',  # runs, and fails in the sandbox
        "```python\nprint(3 + 4)\n```",  # the last step, still no answer
    ]
    pool = FakeSandboxProvider(
        handler=lambda argv, files: (
            ExecResult(exit_code=0, stdout="7\n")
            if files["main.py"].startswith(b"print")
            else ExecResult(exit_code=1, stderr="NameError: name 'cmd' is not defined")
        )
    )
    graph = scale(math_agent(FakeModel(replies), MathConfig(max_steps=3)), "best_of_n", n=1, verifier=GroundedAnswer())
    state = await graph.ainvoke({"task": Task(prompt="3 + 4?")}, context=ScaleContext(sandboxes=pool))
    (rollout,) = state["rollouts"]
    seen = [m["content"] for m in rollout.trajectory if m["role"] == "user"][1:]
    assert seen[0].startswith("Error: ") and "unknown tool 'ruby'; the tools are: python" in seen[0]
    assert "NameError" in seen[1] and "[exit code 1]" in seen[1]
    assert "7" in seen[2] and len(pool.leased[0].commands) == 2  # the unknown tool ran nothing
    assert rollout.status == "ok" and rollout.answer is None and rollout.metadata["stop"] == "steps"
    verdict = state["verdicts"][rollout.id]
    assert verdict.score == 0.0 and "step limit" in verdict.feedback
