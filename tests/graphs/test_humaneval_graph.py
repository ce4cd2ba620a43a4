"""The HumanEval workflow: its prompt, the request rendered its own way, its output, its hidden tests."""

from __future__ import annotations

import pytest

from agentscale.code import complete_program, extract_code
from agentscale.datasets import load_humaneval
from agentscale.errors import ConfigError
from agentscale.graphs.humaneval import (
    CHAT_DIVERSITY,
    CHAT_STOPS,
    CHATML,
    DIVERSITY,
    PLAIN,
    STOPS,
    SYSTEM,
    HumanEvalConfig,
    HumanEvalWorkflow,
    hidden_tests_task,
    humaneval_agent,
    render,
    render_chat,
)
from agentscale.rollout import RolloutContext
from agentscale.selectors import BehaviourCluster
from agentscale.testing import FakeSandboxProvider, FunctionModel
from agentscale.types import Candidate, RolloutRequest, Task
from agentscale.verifiers import DocstringExamplesVerifier
from agentscale.workflows import WorkflowEnv

TASK = load_humaneval([2])[0]  # truncate_number(number: float) -> float


def test_render_begins_the_assistant_turn_with_the_code():
    prompt = render(TASK)
    assert prompt.startswith(CHATML.format(system=SYSTEM, user="Complete this Python function."))
    assert prompt.endswith("```python\n" + TASK.prompt)
    # every problem's prompt shares the template's head, so the server's prefix cache serves it
    other = render(load_humaneval([0])[0])
    head = CHATML.split("{user}")[0].format(system=SYSTEM)
    assert other.startswith(head) and prompt.startswith(head)
    assert render(TASK, template=PLAIN) == "```python\n" + TASK.prompt


def test_render_chat_puts_the_code_in_the_users_turn():
    prompt = render_chat(TASK)
    user = f"Complete this Python function.\n\n```python\n{TASK.prompt.rstrip()}\n```"
    # the measured chat format: the server's chat template with these two messages, nothing prefilled
    assert prompt == CHATML.format(system=SYSTEM, user=user)
    assert prompt.endswith("<|im_start|>assistant\n")


async def test_the_chat_format_is_the_default_and_keeps_the_reply():
    reply = "Here it is:\n```python\ndef truncate_number(number: float) -> float:\n    return number % 1.0"
    model = FunctionModel(lambda call: reply)
    agent = humaneval_agent(model)
    assert agent.config.prompt_format == "chat"
    rollout = await agent(TASK)
    call = model.calls[0]
    assert call.prompt == render_chat(TASK)
    assert call.max_tokens == 512 and list(call.stop) == list(CHAT_STOPS)
    # the stop ate the closing fence: it is put back, the reply is otherwise as written
    assert rollout.output == reply + "\n```"
    program = complete_program(TASK.prompt, extract_code(rollout.output, entry_point="truncate_number"))
    namespace: dict = {}
    exec(program, namespace)  # trusted: the reply above
    assert namespace["truncate_number"](3.5) == 0.5
    closed = "```python\ndef truncate_number(number):\n    return number % 1.0\n```"
    assert (await humaneval_agent(FunctionModel(lambda call: closed))(TASK)).output == closed


def test_each_format_has_its_own_limits_and_temperatures():
    chat, fence = HumanEvalConfig(), HumanEvalConfig(format="fence")
    assert (chat.token_cap, chat.stop_sequences, chat.diversity) == (512, CHAT_STOPS, CHAT_DIVERSITY)
    assert (fence.token_cap, fence.stop_sequences, fence.diversity) == (300, STOPS, DIVERSITY)
    assert HumanEvalConfig(format="fence", max_tokens=50, stops=("X",)).token_cap == 50
    assert HumanEvalConfig(stops=("X",)).stop_sequences == ("X",)
    # base models continue code: no chat template, so the fence format, and chat is refused
    assert HumanEvalConfig(chat=False).prompt_format == "fence"
    with pytest.raises(ValueError, match="needs a chat template"):
        HumanEvalConfig(chat=False, format="chat")


def test_the_workflow_selects_with_the_default_code_selection():
    workflow = HumanEvalWorkflow()
    parts = workflow.build(WorkflowEnv(model=FunctionModel(lambda call: ""), sandboxes=FakeSandboxProvider()))
    assert isinstance(parts.verifier, DocstringExamplesVerifier)
    assert isinstance(parts.selector, BehaviourCluster) and parts.selector.name == "code"
    assert parts.agent.config.prompt_format == "chat"
    fence = workflow.build(
        WorkflowEnv(model=FunctionModel(lambda call: ""), sandboxes=FakeSandboxProvider(), options={"format": "fence"})
    )
    assert fence.agent.config.prompt_format == "fence"
    with pytest.raises(ConfigError, match="bad humaneval options"):
        workflow.build(
            WorkflowEnv(model=FunctionModel(lambda call: ""), sandboxes=FakeSandboxProvider(), options={"format": "x"})
        )


async def test_agent_turns_a_body_into_a_whole_program():
    model = FunctionModel(lambda call: "    return number % 1.0\n")
    rollout = await humaneval_agent(model, max_tokens=123, format="fence")(TASK)
    call = model.calls[0]
    assert isinstance(call.prompt, str) and call.max_tokens == 123 and list(call.stop) == list(STOPS)
    program = complete_program(TASK.prompt, extract_code(rollout.output, entry_point="truncate_number"))
    namespace: dict = {}
    exec(program, namespace)  # trusted: the body above
    assert namespace["truncate_number"](3.5) == 0.5
    assert rollout.usage.completion_tokens > 0


@pytest.mark.parametrize("format", ["chat", "fence"])
async def test_agent_with_an_empty_reply_has_no_output(format):
    rollout = await humaneval_agent(FunctionModel(lambda call: "  \n"), format=format)(TASK)
    assert rollout.output == ""


def test_hidden_tests_task_needs_hidden_tests():
    assert hidden_tests_task(TASK).tests == [TASK.metadata["hidden_test"]]
    with pytest.raises(ConfigError, match="no hidden tests"):
        hidden_tests_task(Task(id="t", prompt="def f(): pass"))


@pytest.mark.parametrize("format", ["chat", "fence"])
async def test_the_request_goes_into_the_users_turn_never_into_the_code(format):
    model = FunctionModel(lambda call: "    return number % 1.0\n")
    agent = humaneval_agent(model, format=format)
    candidate = Candidate(rollout_id="r1", output="```python\nreturn 0\n```", score=0.5, feedback="FAIL f(3.5)")
    request = RolloutRequest(
        index=3,
        seed=7,
        temperature=0.6,
        lessons=["Use % 1.0 for the fractional part."],
        plan="Take the remainder.",
        candidates=[candidate],
        feedback="Fix what the check found.",
    )
    rollout = await agent(TASK, RolloutContext(request=request))
    call = model.calls[0]
    assert (call.seed, call.temperature) == (7, 0.6)
    user_turn, code = call.prompt.split("<|im_start|>assistant\n", 1)
    if format == "fence":
        assert code == "```python\n" + TASK.prompt  # the code is the task's, untouched
    else:  # the code closes the user's turn, untouched
        assert code == "" and user_turn.endswith(f"```python\n{TASK.prompt.rstrip()}\n```<|im_end|>\n")
    assert user_turn.index("Lessons learned") < user_turn.index("Take the remainder.") < user_turn.index("FAIL f(3.5)")
    assert "Use % 1.0 for the fractional part." in user_turn and "Fix what the check found." in user_turn
    assert (rollout.provenance.seed, rollout.provenance.temperature) == (7, 0.6)


def test_the_config_picks_the_template():
    assert HumanEvalConfig().prompt_template == CHATML
    assert HumanEvalConfig(chat=False).prompt_template == PLAIN
    assert HumanEvalConfig(template="{system}|{user}|").prompt_template == "{system}|{user}|"
    with pytest.raises(ValueError):
        HumanEvalConfig(max_tokens=0)


def test_the_shipped_prompts_are_the_measured_ones():
    # the formats were chosen on benchmarks/draw_candidates.py's draws: the agent must send the same text
    import importlib.util
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "draw_candidates.py"
    spec = importlib.util.spec_from_file_location("draw_candidates", script)
    draw = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = draw  # dataclasses look their module up while the file runs
    spec.loader.exec_module(draw)
    system, user = draw.chat_messages(TASK.prompt)
    assert render_chat(TASK) == CHATML.format(system=system["content"], user=user["content"])
    assert render(TASK) == draw.fence_prompt(TASK.prompt)
    assert CHAT_STOPS == (draw.CHAT_STOP,) and STOPS == draw.FENCE_STOPS
    assert HumanEvalConfig().token_cap == draw.FORMATS["chat-stop"].max_tokens
    assert CHAT_DIVERSITY.temperatures == draw.FORMATS["chat-stop"].temperatures
    assert DIVERSITY.temperatures == draw.FORMATS["fence"].temperatures
