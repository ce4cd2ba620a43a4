"""The agent loop's control flow with scripted models: multi-step tool use in both action
formats, limits, malformed actions, tools that fail or hang, and running under ``scale()``."""

from __future__ import annotations

import asyncio
import json
from typing import TypedDict

import pytest

from agentscale import Budget, ScaleContext, scale
from agentscale.errors import BudgetExhausted, ModelAPIError, ToolError
from agentscale.graphs import (
    Action,
    Finished,
    FunctionTool,
    LoopConfig,
    PythonTool,
    build_agent_graph,
    function_tool,
    loop_agent,
    resolve_actions,
)
from agentscale.llm import LLM
from agentscale.rollout import RolloutContext
from agentscale.testing import FakeModel, FakeSandbox, FakeSandboxProvider, FunctionModel, tool_call
from agentscale.types import Candidate, ExecResult, Rollout, RolloutRequest, Task

TASK = Task(id="t1", prompt="What is 17 * 23?")


class App(TypedDict, total=False):
    """A user's own graph state, with the loop as one node."""

    task: Task
    rollout: Rollout
    report: str


def printing(stdout: str = "391\n", exit_code: int = 0) -> FakeSandbox:
    return FakeSandbox(handler=lambda argv, files: ExecResult(exit_code=exit_code, stdout=stdout))


async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def text_agent(replies, tools=None, **config):
    return loop_agent(
        FakeModel(replies), tools if tools is not None else [PythonTool()], LoopConfig(actions="text", **config)
    )


async def test_text_format_runs_tools_until_the_final_answer():
    sandbox = printing()
    events = []
    agent = text_agent(["I will compute it.\n```python\nprint(17 * 23)\n```", "Final answer: 391"])
    rollout = await agent(TASK, RolloutContext(sandbox=sandbox, emit=events.append))
    assert rollout.status == "ok" and rollout.output == "391"
    assert rollout.metadata["stop"] == "final" and rollout.metadata["steps"] == 2
    assert sandbox.files["main.py"] == b"print(17 * 23)"  # the code ran in the sandbox it was given
    roles = [m["role"] for m in rollout.trajectory]
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    observation = rollout.trajectory[3]
    assert observation == {"role": "user", "name": "python", "content": "Observation:\n391"}
    assert "```python" in rollout.trajectory[0]["content"]  # the text format explains each tool
    assert rollout.usage.calls == 2 and rollout.usage.total_tokens > 0
    assert [e["role"] for e in events] == ["assistant", "user", "assistant"]
    assert events[0]["step"] == 1 and events[0]["tools"] == ["python"]


async def test_native_tool_calls_are_answered_by_tool_messages():
    model = FakeModel(
        [
            {"content": "", "tool_calls": [tool_call("add", {"a": 17, "b": 23})]},
            {"content": "", "tool_calls": [tool_call("add", {"a": 40, "b": 1}), tool_call("add", {"a": 1, "b": 1})]},
            {"content": "", "tool_calls": [tool_call("final_answer", {"answer": "41"})]},
        ]
    )
    agent = loop_agent(model, [function_tool(add)], LoopConfig(actions="tools"))
    rollout = await agent(TASK)
    assert rollout.output == "41" and rollout.metadata["actions"] == "tools"
    tools_offered = [t["function"]["name"] for t in model.calls[0].tools]
    assert tools_offered == ["add", "final_answer"] and model.calls[0].tool_choice == "auto"
    steps = rollout.trajectory[2:]
    assert steps[0]["tool_calls"][0]["function"]["name"] == "add"
    assert steps[1] == {"role": "tool", "tool_call_id": steps[0]["tool_calls"][0]["id"], "name": "add", "content": "40"}
    # two calls in one reply: each answered under its own id, in order
    ids = [c["id"] for c in steps[2]["tool_calls"]]
    assert [m["tool_call_id"] for m in steps[3:5]] == ids and [m["content"] for m in steps[3:5]] == ["41", "2"]
    assert steps[-1]["role"] == "tool" and steps[-1]["content"] == "Final answer recorded."
    # the model saw the observations: the second call's prompt ends with the first tool message
    assert model.calls[1].prompt[-1]["content"] == "40"


async def test_a_plain_reply_is_the_final_answer_with_native_calls():
    agent = loop_agent(FakeModel(["It is \\boxed{391}."]), [PythonTool()], LoopConfig(actions="tools"))
    rollout = await agent(TASK)
    assert rollout.output == "It is \\boxed{391}." and rollout.metadata["steps"] == 1


@pytest.mark.parametrize("actions", ["tools", "text"])
async def test_a_tool_that_returns_finished_ends_the_loop_with_its_answer(actions):
    # a browser whose episode ended: the model is not asked to say it is done, and the step's
    # later actions do not run
    ran = []

    async def open_door(door: int) -> str | Finished:
        """Open a door."""
        ran.append(door)
        return Finished(f"Door {door} opened: you are out.", answer=f"door {door}") if door == 2 else "locked"

    tool = function_tool(open_door)
    if actions == "tools":
        replies = [{"content": "", "tool_calls": [tool_call("open_door", {"door": 1})]},
                   {"content": "", "tool_calls": [tool_call("open_door", {"door": 2}),
                                                  tool_call("open_door", {"door": 3})]}]
    else:
        replies = ['```open_door\n{"door": 1}\n```', '```open_door\n{"door": 2}\n```']
    model = FakeModel(replies)
    rollout = await loop_agent(model, [tool], LoopConfig(actions=actions))(TASK)
    assert ran == [1, 2] and len(model.calls) == 2
    assert rollout.status == "ok" and rollout.output == "door 2"
    assert rollout.metadata["stop"] == "final" and rollout.metadata["steps"] == 2
    assert "Door 2 opened: you are out." in str(rollout.trajectory[-1]["content"])


@pytest.mark.parametrize("actions", ["tools", "text"])
async def test_a_workflow_may_read_a_reply_that_called_no_tool_as_an_action(actions):
    # e.g. a small model that names the door it opens instead of writing the call
    def door_named(reply: str) -> Action | None:
        return Action("open_door", {"door": int(reply.split()[-1])}, note="(read as open_door)") if (
            reply.startswith("door ")) else None

    async def open_door(door: int) -> str:
        """Open a door."""
        return f"door {door} is open"

    model = FakeModel(["door 3", "Final answer: out" if actions == "text" else "out"])
    rollout = await loop_agent(model, [function_tool(open_door)], LoopConfig(actions=actions),
                               plain_action=door_named)(TASK)
    assert rollout.output == "out" and rollout.metadata["steps"] == 2
    observation = rollout.trajectory[3]  # no call id in either format: a user message, marked as the tool's
    said = "Observation:\ndoor 3 is open\n(read as open_door)"
    assert observation == {"role": "user", "name": "open_door", "content": said}
    # a reply it does not read keeps the format's reading: an answer, or "no action found"
    rollout = await loop_agent(FakeModel(["window 2", "Final answer: in"]), [function_tool(open_door)],
                               LoopConfig(actions=actions), plain_action=door_named)(TASK)
    assert rollout.output == ("window 2" if actions == "tools" else "in")


async def test_answer_extractor_fills_rollout_answer():
    from agentscale.answers import extract_answer

    graph = build_agent_graph(
        model=FakeModel(["Final answer: 1,000 dollars"]), config=LoopConfig(actions="text"), answer=extract_answer
    )
    state = await graph.ainvoke({"task": TASK})
    assert state["rollout"].output == "1,000 dollars" and state["rollout"].answer == "1,000"


async def test_step_limit_ends_the_rollout_as_data():
    agent = text_agent(["```python\nprint(1)\n```"] * 3, max_steps=3, repeat_limit=None)  # else: repeating
    rollout = await agent(TASK, RolloutContext(sandbox=printing("1\n")))
    assert rollout.status == "ok" and rollout.output == "" and rollout.answer is None
    assert rollout.metadata["stop"] == "steps" and rollout.metadata["steps"] == 3
    assert "step limit" in rollout.metadata["limit"]
    # the model is warned one step before the end
    observations = [m["content"] for m in rollout.trajectory if m["role"] == "user" and m.get("name")]
    assert "second-to-last" in observations[1] and "second-to-last" not in observations[0]


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        ("Let me think about it.", "no action found"),
        ("```ruby\nputs 1\n```\nand\n```ruby\nputs 2\n```", "2 fenced blocks found (```ruby, ```ruby) and none names"),
        ("```ruby\nputs 1\n```", "unknown tool 'ruby'; the tools are: python, add, final_answer"),
        ("```add\n{'a': 1}\n```", "must be a JSON object of arguments"),
        ('```add\n{"a": 1}\n```', "bad arguments for add: 'b' is a required property"),
        ('```add\n{"a": "one", "b": 2}\n```', "bad arguments for add: a: 'one' is not of type 'integer'"),
        ("```\nprint(1)\n```", "the block names no tool: open it with one of ```python"),
    ],
)
async def test_malformed_text_actions_get_a_readable_error(reply, said):
    sandbox = printing()
    agent = text_agent([reply, "Final answer: 391"], tools=[PythonTool(), function_tool(add)])
    rollout = await agent(TASK, RolloutContext(sandbox=sandbox))
    error = rollout.trajectory[3]
    assert error["role"] == "user" and "name" not in error
    assert error["content"].startswith("Error: ") and said in error["content"]
    assert rollout.output == "391" and rollout.metadata["steps"] == 2  # the bad step counted, then it went on
    assert sandbox.commands == []  # nothing ran


async def test_several_action_blocks_run_the_first_and_say_the_rest_did_not():
    # small models write a whole plan (view, edit, run) in one reply; mini-swe-agent refuses it all
    reply = '```add\n{"a": 1, "b": 2}\n```\n```add\n{"a": 5, "b": 5}\n```\n```final_answer\n10\n```'
    agent = text_agent([reply, "Final answer: 3"], tools=[function_tool(add)])
    rollout = await agent(TASK)
    observation = rollout.trajectory[3]
    assert observation["name"] == "add" and observation["content"].startswith("Observation:\n3\n")
    assert "the other 2 (add, final_answer) did not" in observation["content"]
    assert rollout.output == "3" and rollout.metadata["steps"] == 2  # the final_answer block was not taken


async def test_code_shown_beside_an_action_block_is_not_an_action():
    reply = "The fix:\n```python\nreturn a + b\n```\nFirst I look:\n```add\n{\"a\": 2, \"b\": 2}\n```"
    agent = text_agent([reply, "Final answer: 4"], tools=[function_tool(add)])
    rollout = await agent(TASK)
    assert rollout.trajectory[3]["content"] == "Observation:\n4"


@pytest.mark.parametrize(
    "reply",
    [
        '```\nadd\n{"a": 2, "b": 3}\n```',  # the tool on the block's first line
        '```json\nadd:\n{"a": 2, "b": 3}\n```',
        '```add\n{"a": 2, "b": 3}```\n\nThen I answer.',  # the closing fence glued to the body
        '```\nadd\n{"a": 2, "b": 3}```',
    ],
)
async def test_what_small_models_write_for_a_block_is_read(reply):
    agent = text_agent([reply, "Final answer: 5"], tools=[function_tool(add)])
    rollout = await agent(TASK)
    assert rollout.trajectory[3]["content"] == "Observation:\n5"


async def test_the_same_reply_answered_the_same_way_ends_the_rollout():
    agent = text_agent(["```ruby\nputs 1\n```"] * 10, max_steps=10)
    rollout = await agent(TASK)
    assert rollout.status == "ok" and rollout.output == "" and rollout.metadata["stop"] == "repeating"
    assert rollout.metadata["steps"] == 3 and "3 times in a row" in rollout.metadata["limit"]
    # off: the step limit ends it
    agent = text_agent(["```ruby\nputs 1\n```"] * 10, max_steps=5, repeat_limit=None)
    assert (await agent(TASK)).metadata["stop"] == "steps"


async def test_a_cycle_of_steps_answered_the_same_way_ends_the_rollout():
    # view, a failing edit, a malformed block, and round again (seen from the 1.5B on a SWE task)
    cycle = ['```add\n{"a": 1, "b": 1}\n```', "```add\n{'a': 1}\n```", "```copy\nx\n```"]
    agent = text_agent(['```add\n{"a": 0, "b": 0}\n```', *cycle * 5], tools=[function_tool(add)], max_steps=20)
    rollout = await agent(TASK)
    assert rollout.metadata["stop"] == "repeating" and rollout.metadata["steps"] == 8  # the cycle's third start
    # the same replies with a different answer once break the cycle: it goes on
    def add_or_not(a: int, b: int) -> int:
        """Adds; the second time it is asked, fails."""
        calls.append(1)
        if len(calls) == 2:
            raise ValueError("busy")
        return a + b

    calls = []
    agent = text_agent([*cycle * 3, "Final answer: 2"], tools=[function_tool(add_or_not, name="add")], max_steps=20)
    rollout = await agent(TASK)
    assert rollout.output == "2" and rollout.metadata["steps"] == 10


async def test_the_same_reply_with_new_observations_goes_on():
    clock = iter(range(100))

    def tick() -> int:
        """The next tick."""
        return next(clock)

    agent = text_agent(["```tick\n{}\n```"] * 4 + ["Final answer: 4"], tools=[function_tool(tick)], max_steps=6)
    rollout = await agent(TASK)
    assert rollout.output == "4" and rollout.metadata["steps"] == 5


async def test_json_tool_call_in_a_fence_is_read_in_the_text_format():
    call = json.dumps({"name": "add", "arguments": {"a": 2, "b": 3}})
    agent = text_agent([f"```json\n{call}\n```", "Final answer: 5"], tools=[function_tool(add)])
    rollout = await agent(TASK)
    assert rollout.trajectory[3]["content"] == "Observation:\n5"


async def test_cut_off_reply_with_an_open_block_is_not_run():
    def cut(call):
        return "```python\nprint(1" if len(call.prompt) == 2 else "Final answer: 1"

    class Truncating(FunctionModel):
        async def generate(self, prompt, **kw):
            out = await super().generate(prompt, **kw)
            return out.model_copy(update={"finish_reasons": ["length"]})

    sandbox = printing()
    agent = loop_agent(Truncating(cut), [PythonTool()], LoopConfig(actions="text"))
    rollout = await agent(TASK, RolloutContext(sandbox=sandbox))
    assert "cut off" in rollout.trajectory[3]["content"] and sandbox.commands == []


async def test_malformed_native_calls_are_answered_under_their_ids():
    model = FakeModel(
        [
            {
                "content": "",
                "tool_calls": [
                    tool_call("nope", {}),
                    tool_call("add", "{not json"),
                    tool_call("add", {"a": 1}),
                ],
            },
            "Done: 0",
        ]
    )
    agent = loop_agent(model, [function_tool(add)], LoopConfig(actions="tools"))
    rollout = await agent(TASK)
    replies = [m for m in rollout.trajectory if m["role"] == "tool"]
    calls = rollout.trajectory[2]["tool_calls"]
    assert [m["tool_call_id"] for m in replies] == [c["id"] for c in calls]
    assert "unknown tool 'nope'" in replies[0]["content"]
    assert "not valid JSON" in replies[1]["content"]
    assert "'b' is a required property" in replies[2]["content"]
    assert rollout.output == "Done: 0"
    # what goes back to the server holds JSON objects only: chat templates parse every call's
    # arguments, and one that is not an object fails the next request
    assert json.loads(calls[1]["function"]["arguments"]) == {"unparsed_arguments": "{not json"}


async def test_a_bare_string_for_a_tools_one_string_parameter_is_that_parameter():
    model = FakeModel([{"content": "", "tool_calls": [tool_call("final_answer", "No pages match.")]}])
    rollout = await loop_agent(model, [function_tool(add)], LoopConfig(actions="tools"))(TASK)
    assert rollout.output == "No pages match." and rollout.metadata["stop"] == "final"
    assert json.loads(rollout.trajectory[2]["tool_calls"][0]["function"]["arguments"]) == {"answer": "No pages match."}


async def test_a_tool_that_hangs_becomes_a_timeout_observation():
    async def hang(seconds: float) -> str:
        """Sleep."""
        await asyncio.sleep(seconds)
        return "woke"

    slow = function_tool(hang)
    slow.timeout = 0.2
    agent = text_agent(['```hang\n{"seconds": 30}\n```', "Final answer: 1"], tools=[slow])
    started = asyncio.get_running_loop().time()
    rollout = await agent(TASK)
    assert asyncio.get_running_loop().time() - started < 5
    assert rollout.trajectory[3]["content"] == "Observation:\nError: hang timed out after 0.2 s and was stopped."
    assert rollout.output == "1"


async def test_loop_tool_timeout_applies_to_tools_without_their_own():
    async def hang() -> str:
        """Never returns."""
        await asyncio.sleep(30)
        return ""

    agent = text_agent(["```hang\n{}\n```", "Final answer: 1"], tools=[function_tool(hang)], tool_timeout=0.1)
    rollout = await agent(TASK)
    assert "timed out after 0.1 s" in rollout.trajectory[3]["content"]


async def test_tool_errors_are_observations():
    def refuse(x: str) -> str:
        raise ToolError(f"cannot do {x}")

    def crash(x: str) -> str:
        raise RuntimeError("boom")

    tools = [function_tool(refuse), function_tool(crash)]
    agent = text_agent(['```refuse\n{"x": "that"}\n```', '```crash\n{"x": "it"}\n```', "Final answer: 0"], tools=tools)
    rollout = await agent(TASK)
    assert rollout.trajectory[3]["content"] == "Observation:\nError: cannot do that"
    assert rollout.trajectory[5]["content"] == "Observation:\nError: crash failed: RuntimeError: boom"
    assert rollout.status == "ok"


async def test_long_observations_are_cut_with_a_note():
    agent = text_agent(["```python\nprint('x' * 10**5)\n```", "Final answer: x"], observation_chars=300)
    rollout = await agent(TASK, RolloutContext(sandbox=printing("x" * 100_000)))
    content = rollout.trajectory[3]["content"]
    assert len(content) < 500 and "characters cut: the observation had 100000" in content


async def test_token_limit():
    agent = text_agent(["```python\nprint(1)\n```"] * 10, max_tokens=40)
    rollout = await agent(TASK, RolloutContext(sandbox=printing()))
    assert rollout.metadata["stop"] == "tokens" and rollout.status == "ok" and rollout.output == ""
    assert rollout.usage.total_tokens >= 40 and rollout.metadata["steps"] < 10


async def test_seconds_limit_cuts_a_slow_model_call():
    model = FunctionModel(lambda call: "Final answer: 1", delay=5)
    agent = loop_agent(model, [], LoopConfig(actions="text", max_seconds=0.2))
    rollout = await agent(TASK)
    assert rollout.metadata["stop"] == "seconds" and "time limit" in rollout.metadata["limit"]


async def test_model_failure_keeps_the_trajectory():
    def fail_second(call):
        if len(call.prompt) > 2:
            raise ModelAPIError("server gone", model="m", api_base="http://x", status_code=503)
        return "```python\nprint(1)\n```"

    agent = loop_agent(FunctionModel(fail_second), [PythonTool()], LoopConfig(actions="text"))
    rollout = await agent(TASK, RolloutContext(sandbox=printing()))
    assert rollout.status == "error" and "server gone" in rollout.error
    assert len(rollout.trajectory) == 4 and rollout.metadata["stop"] == "error"


async def test_budget_exhausted_mid_loop_is_a_budget_stop():
    def spend(call):
        if len(call.prompt) > 2:
            raise BudgetExhausted("tokens")
        return "```python\nprint(1)\n```"

    agent = loop_agent(FunctionModel(spend), [PythonTool()], LoopConfig(actions="text"))
    rollout = await agent(TASK, RolloutContext(sandbox=printing()))
    assert rollout.status == "budget" and rollout.metadata["stop"] == "budget"


async def test_the_runs_budget_stops_rollouts_mid_trajectory():
    # each call costs FakeModel's usage; the run's budget runs out during the rollouts, not after them
    model = FakeModel(["```python\nprint(1)\n```"] * 50, cycle=True)
    pool = FakeSandboxProvider(handler=lambda argv, files: ExecResult(exit_code=0, stdout=f"{len(argv)}\n"))
    config = LoopConfig(actions="text", max_steps=40, repeat_limit=None)
    graph = scale(loop_agent(model, [PythonTool()], config), "best_of_n", n=2)
    budget = Budget(max_tokens=3000)
    state = await graph.ainvoke({"task": TASK}, context=ScaleContext(sandboxes=pool, budget=budget))
    assert {r.status for r in state["rollouts"]} == {"budget"}
    assert {r.metadata["stop"] for r in state["rollouts"]} == {"budget"}
    assert 3000 <= budget.spent.total_tokens < 3000 + 2 * 1000  # at most one call in flight per rollout over
    assert 6 < len(model.calls) < 40  # far from the 2 x 40 steps the rollouts' own limits allow


async def test_request_renders_into_the_first_prompt_and_sampling():
    model = FakeModel(["Final answer: 1"])
    request = RolloutRequest(
        seed=7,
        temperature=0.9,
        lessons=["Check units."],
        candidates=[Candidate(rollout_id="r0", output="390", score=0.0, feedback="wrong", observations="[python] 390")],
        feedback="Fix it.",
    )
    rollout = await loop_agent(model, [], LoopConfig(actions="text"))(TASK, RolloutContext(request=request))
    first = model.calls[0].prompt[1]["content"]
    assert "Check units." in first and "What it observed:\n[python] 390" in first and "Fix it." in first
    assert model.calls[0].temperature == 0.9 and model.calls[0].seed == 7
    assert rollout.provenance.seed == 7


async def test_python_tool_without_a_sandbox_is_a_clear_error_under_scale():
    agent = text_agent(["```python\nprint(1)\n```"])
    agent.wants_sandbox = False  # pretend it asked for none: the tool still refuses to run on the host
    graph = scale(agent, "best_of_n", n=1)
    state = await graph.ainvoke({"task": TASK}, context=ScaleContext())
    (rollout,) = state["rollouts"]
    assert rollout.status == "error" and "only in a sandbox" in rollout.error


async def test_scale_leases_a_sandbox_per_rollout_and_votes_on_answers():
    def by_seed(call):
        if len(call.prompt) == 2:
            return "```python\nprint(17 * 23)\n```"
        return "Final answer: 391" if call.seed % 3 else "Final answer: 390"

    pool = FakeSandboxProvider(handler=lambda argv, files: ExecResult(exit_code=0, stdout="391\n"))
    agent = loop_agent(FunctionModel(by_seed), [PythonTool()], LoopConfig(actions="text"))
    assert agent.wants_sandbox
    graph = scale(agent, "majority", n=3)
    events = []
    async for mode, chunk in graph.astream(
        {"task": TASK},
        context=ScaleContext(sandboxes=pool, budget=Budget(max_tokens=10_000)),
        stream_mode=["custom", "values"],
    ):
        if mode == "custom":
            events.append(chunk)
        else:
            state = chunk
    assert len(pool.leased) == 3 and all(s.commands for s in pool.leased)
    chosen = next(r for r in state["rollouts"] if r.id == state["selected"].rollout_id)
    assert chosen.output == "391"
    assert all(len(r.trajectory) == 5 for r in state["rollouts"])
    steps = [e for e in events if e.get("event") == "agent"]
    assert len(steps) == 9 and {e["data"]["role"] for e in steps} == {"assistant", "user"}


def test_auto_picks_native_calls_for_chat_models_and_text_otherwise():
    chat = LLM("hosted_vllm/m", api_base="http://127.0.0.1:1/v1")
    base = LLM("hosted_vllm/m", api_base="http://127.0.0.1:1/v1", profile="completion")
    assert resolve_actions("auto", chat) == "tools"
    assert resolve_actions("auto", base) == "text"
    assert resolve_actions("auto", object()) == "text"
    assert resolve_actions("text", chat) == "text"


def test_config_and_tools_are_checked():
    from agentscale.errors import ConfigError

    with pytest.raises(ValueError):
        LoopConfig(max_steps=0)
    with pytest.raises(ValueError):
        LoopConfig(actions="xml")
    with pytest.raises(ConfigError, match="share a name"):
        build_agent_graph(model=FakeModel([]), tools=[PythonTool(), PythonTool()])
    with pytest.raises(ConfigError, match="needs a type annotation"):
        function_tool(lambda x: x)
    assert isinstance(function_tool(add), FunctionTool)


async def test_graph_works_inside_a_users_graph():
    from langgraph.graph import END, START, StateGraph

    loop = build_agent_graph(model=FakeModel(["Final answer: 391"]), config=LoopConfig(actions="text"))
    builder = StateGraph(App)
    builder.add_node("solve", loop)
    builder.add_node("report", lambda s: {"report": f"answer {s['rollout'].output}"})
    builder.add_edge(START, "solve")
    builder.add_edge("solve", "report")
    builder.add_edge("report", END)
    state = await builder.compile().ainvoke({"task": TASK})
    assert state["report"] == "answer 391"


@pytest.mark.parametrize("strategy", ["reflect", "evolve"])
async def test_reflection_and_evolution_see_feedback_and_observations(strategy):
    from agentscale.verifiers import AnswerChecker

    def solve(call):
        first = call.prompt[1]["content"]
        if len(call.prompt) == 2:
            return "```python\nprint(17 * 23)\n```"
        return "Final answer: 391" if "What it observed" in first else "Final answer: 390"

    model = FunctionModel(solve)
    pool = FakeSandboxProvider(handler=lambda argv, files: ExecResult(exit_code=0, stdout="391\n"))
    agent = loop_agent(model, [PythonTool()], LoopConfig(actions="text"))
    options = {"n": 1, "policy": None} if strategy == "reflect" else {}
    graph = scale(agent, strategy, verifier=AnswerChecker(), **{k: v for k, v in options.items() if v is not None})
    task = TASK.model_copy(update={"expected": "391"})
    state = await graph.ainvoke({"task": task}, context=ScaleContext(sandboxes=pool))
    revised = [c for c in model.calls if "What it observed" in c.prompt[1]["content"]]
    assert revised, "no revision saw the first attempt's observations"
    first = revised[0].prompt[1]["content"]
    assert "[python] Observation:\n391" in first and "The answer 390 is wrong." in first
    assert any(r.output == "391" for r in state["rollouts"])


async def test_a_fenced_block_naming_a_tool_is_a_call_with_native_calls():
    model = FakeModel(["Here:\n```python\nprint(17 * 23)\n```", "The answer is 391."])
    agent = loop_agent(model, [PythonTool()], LoopConfig(actions="tools"))
    rollout = await agent(TASK, RolloutContext(sandbox=printing()))
    call = rollout.trajectory[2]["tool_calls"][0]
    assert rollout.trajectory[2]["content"].startswith("Here:")
    assert call["function"] == {"name": "python", "arguments": '{"code": "print(17 * 23)"}'}
    assert rollout.trajectory[3] == {"role": "tool", "tool_call_id": call["id"], "name": "python", "content": "391"}
    assert rollout.output == "The answer is 391."


async def test_a_json_call_among_prose_is_a_call_with_native_calls():
    # small models write the call as JSON text after a sentence; it is the call, not the final answer
    reply = 'I will run it.\n{"name": "python", "arguments": {"code": "print(17 * 23)"}}\nThen I answer.'
    model = FakeModel([reply, "The answer is 391."])
    agent = loop_agent(model, [PythonTool()], LoopConfig(actions="tools"))
    rollout = await agent(TASK, RolloutContext(sandbox=printing()))
    call = rollout.trajectory[2]["tool_calls"][0]
    assert call["function"] == {"name": "python", "arguments": '{"code": "print(17 * 23)"}'}
    assert rollout.trajectory[3]["content"] == "391" and rollout.output == "The answer is 391."


async def test_json_naming_no_offered_tool_or_two_calls_stay_text_with_native_calls():
    for reply in (
        'The result is {"name": "search", "arguments": {}}',
        '{"name": "python", "arguments": {"code": "1"}} or {"name": "python", "arguments": {"code": "2"}} and more',
    ):
        agent = loop_agent(FakeModel([reply]), [PythonTool()], LoopConfig(actions="tools"))
        rollout = await agent(TASK)
        assert rollout.output == reply and rollout.metadata["steps"] == 1


async def test_repeating_the_same_action_is_pointed_out_and_text_replies_stop_at_observations():
    model = FakeModel(["```python\nprint(1)\n```", "```python\nprint(1)  \n```", "Final answer: 1"])
    agent = loop_agent(model, [PythonTool()], LoopConfig(actions="text"))
    rollout = await agent(TASK, RolloutContext(sandbox=printing("1\n")))
    assert "same action" not in rollout.trajectory[3]["content"]
    assert "You took the same action" in rollout.trajectory[5]["content"]
    assert model.calls[0].stop == ["\nObservation:"]


async def test_plain_final_takes_a_bare_reply_as_the_answer():
    agent = loop_agent(FakeModel(["391"]), [PythonTool()], LoopConfig(actions="text", plain_final=True))
    rollout = await agent(TASK)
    assert rollout.output == "391" and rollout.metadata["stop"] == "final"


def on_a_page(answer, trajectory):
    """A check_final for the tests: the answer must be in an observation (tool result)."""
    seen = " ".join(str(m.get("content")) for m in trajectory if m.get("role") == "tool" or m.get("name"))
    return None if answer in seen else f"{answer!r} is in no result yet: look it up"


async def test_check_final_sends_an_unseen_answer_back_once_then_takes_the_next():
    # text format: a made-up answer is refused, the model looks, and the answer it then gives stands
    model = FakeModel(["Final answer: 400", "```python\nprint(17 * 23)\n```", "Final answer: 391"])
    graph = build_agent_graph(model=model, tools=[PythonTool()], config=LoopConfig(actions="text"),
                              check_final=on_a_page)  # fmt: skip
    state = await graph.ainvoke({"task": TASK}, context=RolloutContext(sandbox=printing()))
    rollout = state["rollout"]
    assert rollout.output == "391" and rollout.metadata["steps"] == 3
    assert rollout.trajectory[3] == {"role": "user", "content": "Error: '400' is in no result yet: look it up"}
    # refusals are capped (final_refusals=1): a second unseen answer ends the rollout as it is
    stubborn = build_agent_graph(model=FakeModel(["Final answer: 400"], cycle=True), tools=[PythonTool()],
                                 config=LoopConfig(actions="text"), check_final=on_a_page)  # fmt: skip
    rollout = (await stubborn.ainvoke({"task": TASK}))["rollout"]
    assert rollout.output == "400" and rollout.metadata["steps"] == 2
    never = build_agent_graph(model=FakeModel(["Final answer: 400"]), tools=[PythonTool()],
                              config=LoopConfig(actions="text", final_refusals=0), check_final=on_a_page)  # fmt: skip
    assert (await never.ainvoke({"task": TASK}))["rollout"].metadata["steps"] == 1


async def test_check_final_answers_a_refused_final_tool_call_under_its_id():
    model = FakeModel([
        {"content": "", "tool_calls": [tool_call("final_answer", {"answer": "41"})]},
        {"content": "", "tool_calls": [tool_call("add", {"a": 40, "b": 1})]},
        {"content": "", "tool_calls": [tool_call("final_answer", {"answer": "41"})]},
    ])  # fmt: skip
    agent = loop_agent(model, [function_tool(add)], LoopConfig(actions="tools"), check_final=on_a_page)
    rollout = await agent(TASK)
    assert rollout.output == "41" and rollout.metadata["steps"] == 3
    refused = rollout.trajectory[3]
    assert refused["role"] == "tool" and refused["tool_call_id"] == rollout.trajectory[2]["tool_calls"][0]["id"]
    assert refused["content"] == "Error: '41' is in no result yet: look it up"


async def test_calls_per_step_runs_the_first_calls_and_leaves_the_rest_out():
    model = FakeModel([
        {"content": "", "tool_calls": [tool_call("add", {"a": 40, "b": 1}), tool_call("add", {"a": 1, "b": 1}),
                                       tool_call("final_answer", {"answer": "2"})]},
        {"content": "", "tool_calls": [tool_call("final_answer", {"answer": "41"})]},
    ])  # fmt: skip
    agent = loop_agent(model, [function_tool(add)], LoopConfig(actions="tools", calls_per_step=1))
    rollout = await agent(TASK)
    assert rollout.output == "41" and rollout.metadata["steps"] == 2
    # the unrun calls are not kept (a 0.5B's plans of 15 calls, each answered "not run", filled the
    # context in three steps): the one that ran is answered, with a note on the rest
    calls = rollout.trajectory[2]["tool_calls"]
    answer = rollout.trajectory[3]
    assert len(calls) == 1 and answer["tool_call_id"] == calls[0]["id"]
    assert answer["content"] == "41\n(2 more actions in your reply were not run: only 1 per step; look at this " \
                                "result first, then act again)"
    assert rollout.trajectory[4]["role"] == "assistant"


@pytest.mark.parametrize("fence", ["", "```json\n"])  # the 0.5B fences its plans
async def test_a_cut_reply_of_bare_json_calls_runs_its_whole_calls(fence):
    plan = fence + '{"name": "add", "arguments": {"a": 40, "b": 1}}\n{"name": "add", "arguments": {"a": 1, "b": 1}}\n'
    plan += '{"na'

    def cut(call):
        return plan if len(call.prompt) == 2 else "41"

    class Truncating(FunctionModel):
        async def generate(self, prompt, **kw):
            out = await super().generate(prompt, **kw)
            cut = out.text.startswith(("{", "`"))
            return out.model_copy(update={"finish_reasons": ["length"] if cut else ["stop"]})

    agent = loop_agent(Truncating(cut), [function_tool(add)], LoopConfig(actions="tools", calls_per_step=1))
    rollout = await agent(TASK)
    assert rollout.output == "41"
    assert [c["function"]["name"] for c in rollout.trajectory[2]["tool_calls"]] == ["add"]
    assert rollout.trajectory[3]["content"].startswith("41\n(1 more action in your reply was not run")
    # a cut reply that holds no whole call is still an error, not an answer
    broken = loop_agent(Truncating(lambda call: '{"name": "ad' if len(call.prompt) == 2 else "1"),
                        [function_tool(add)], LoopConfig(actions="tools"))  # fmt: skip
    rollout = await broken(TASK)
    assert "cut off" in rollout.trajectory[3]["content"] and rollout.output == "1"


async def square(n: int) -> int:
    """Square an integer."""
    return n * n


async def nothing() -> str:
    """Do nothing."""
    return "done"


WORDED_TOOLS = [PythonTool(), function_tool(square), function_tool(nothing)]


@pytest.mark.parametrize(
    ("reply", "observed"),
    [
        ("square 7", "49"),
        ("I will square it.\nSquare: 7", "49"),
        ("square([7])", "49"),
        ('square {"n": 7}', "49"),
        ("nothing()", "done"),
        ("Nothing", "done"),
        ("python print(391)", "391"),
        ("square\n7", "49"),  # the tool alone on a line, its argument on the next (seen from the 1.5B)
        ("I look it up.\nsquare:\n7", "49"),
    ],
)
async def test_a_tool_named_in_words_on_the_last_line_is_that_call_in_the_text_format(reply, observed):
    sandbox = printing()
    agent = text_agent([reply, "Final answer: 391"], tools=WORDED_TOOLS)
    rollout = await agent(TASK, RolloutContext(sandbox=sandbox))
    assert rollout.trajectory[3]["content"] == f"Observation:\n{observed}" and rollout.output == "391"


@pytest.mark.parametrize("reply", ["square seven", "Square it, then add one", "nothing 5", "I like python"])
async def test_words_that_are_no_call_stay_a_format_error(reply):
    agent = text_agent([reply, "Final answer: 391"], tools=WORDED_TOOLS)
    rollout = await agent(TASK, RolloutContext(sandbox=printing()))
    assert rollout.trajectory[3]["content"].startswith("Error: no action found")


@pytest.mark.parametrize(
    "reply",
    [
        "I checked it:\n```python\nprint(17 * 23)\n```\nFinal answer: 391",  # code shown, then the answer
        "```\nFinal answer: 391\n```",  # the answer fenced
        "```\nFinal answer: 391```",
    ],
)
async def test_a_final_answer_line_beside_blocks_that_name_no_tool_is_the_answer(reply):
    agent = text_agent([reply], tools=[function_tool(add)])
    rollout = await agent(TASK)
    assert rollout.output == "391" and rollout.metadata["steps"] == 1


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        ('{"name": "add", "arguments": {"a": 40, "b": 1}', "the call to add could not be read"),  # one } short
        ('I will add.\n{"name": "add", "arguments": {"a": 40 "b": 1}}', "the call to add could not be read"),
        ('{"name": "search_form", "arguments": {"query": "x"}}', "unknown tool 'search_form'; the tools are: add"),
        ("<tool_call>\nadd 40 1\n</tool_call>", "the tool call could not be read"),
    ],
)
async def test_a_call_tried_in_text_and_broken_is_no_answer_in_the_native_format(reply, said):
    model = FakeModel([reply, {"content": "", "tool_calls": [tool_call("final_answer", {"answer": "41"})]}])
    rollout = await loop_agent(model, [function_tool(add)], LoopConfig(actions="tools"))(TASK)
    assert rollout.output == "41" and rollout.metadata["steps"] == 2
    error = rollout.trajectory[3]
    assert error["role"] == "user" and error["content"].startswith("Error: ") and said in error["content"]


async def test_the_whole_calls_before_a_broken_one_run_in_the_native_format():
    # the 0.5B's plan for MiniWoB: its first call whole, a brace short in the second, the third whole
    plan = ('{"name": "add", "arguments": {"a": 40, "b": 1}}, {"name": "add", "arguments": {"a": 1, "b": 1}, '
            '{"name": "add", "arguments": {"a": 2, "b": 2}}}')
    model = FakeModel([plan, {"content": "", "tool_calls": [tool_call("final_answer", {"answer": "41"})]}])
    rollout = await loop_agent(model, [function_tool(add)], LoopConfig(actions="tools"))(TASK)
    assert [c["function"]["name"] for c in rollout.trajectory[2]["tool_calls"]] == ["add"]
    assert rollout.trajectory[3]["content"] == "41" and rollout.output == "41"


async def test_json_that_is_no_call_is_still_an_answer_in_the_native_format():
    answer = '{"name": "Alice", "age": 3}'  # names no tool and has no arguments: an answer that is JSON
    rollout = await loop_agent(FakeModel([answer]), [function_tool(add)], LoopConfig(actions="tools"))(TASK)
    assert rollout.output == answer and rollout.metadata["steps"] == 1
