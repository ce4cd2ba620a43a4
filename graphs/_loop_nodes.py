"""The agent loop's nodes: ``start`` (first prompt), ``act`` (the model proposes), ``run_tools``
(the actions run, observations come back) and ``finish`` (the trajectory becomes a ``Rollout``).

Every node returns only the keys it changes. What goes wrong in a rollout is data: a model call
that fails ends the loop with ``stop="error"`` and the trajectory so far; a tool that raises,
refuses (``ToolError``) or hangs past its timeout is an observation the model reads next. Only a
setup error (``ConfigError``: no model, no sandbox for a sandboxed tool) and cancellation escape.
"""

from __future__ import annotations

import asyncio
import json
import operator
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace
from typing import Annotated, Any, Literal, TypedDict

from langgraph.errors import GraphBubbleUp
from langgraph.runtime import Runtime

from agentscale.actions import canonical_action
from agentscale.budget import charged_generate
from agentscale.errors import BudgetExhausted, ConfigError, ToolError
from agentscale.graphs.actions import Action, Reply, parse_text_reply, parse_tool_calls, tool_definition, tools_prompt
from agentscale.graphs.compaction import compact, compact_stable, context_overflow, estimate_tokens
from agentscale.graphs.loop_config import LoopConfig, resolve_actions
from agentscale.graphs.tools import FinalAnswer, Finished
from agentscale.prompts import render_request
from agentscale.protocols import Model, Tool
from agentscale.rollout import RolloutContext
from agentscale.strategies.context import as_task
from agentscale.types import Message, Provenance, Rollout, RolloutRequest, Task, Usage

__all__ = ["FinalCheck", "LoopInput", "LoopState", "Nodes", "PlainAction", "route_act", "route_tools"]

Stop = Literal["final", "steps", "tokens", "seconds", "repeating", "error", "budget"]

_EVENT_CHARS = 500

OBSERVATION = "Observation:"
"""The header of a text-format observation."""

OBSERVATION_STOP = "\n" + OBSERVATION

REPEATED = (
    "(You took the same action as in the previous step, so the result is the same: "
    "give your final answer, or do something different.)"
)

SECOND_TO_LAST = "(This was your second-to-last step: give your final answer in the next reply.)"


class LoopInput(TypedDict, total=False):
    """What the loop graph is invoked with: ``{"task": ..., "request": ...}`` (``request`` optional)."""

    task: Task | str | dict[str, Any]
    request: RolloutRequest


class LoopState(LoopInput, total=False):
    """The loop's state.

    Attributes:
        trajectory: every message so far (system prompt, task, then one assistant message and its
            observations per step), in OpenAI's shape.
        pending: the actions of the latest step, not yet run (``Action`` fields as dicts).
        steps: model turns taken (malformed ones included).
        usage: what the model calls cost so far.
        started: wall-clock start (``time.time()``), for the seconds limit.
        model_name: the model that answered.
        actions: the action format in use (``"tools"`` or ``"text"``).
        output: the final answer's text (``""`` when the loop stopped without one).
        answer: the short answer extracted from ``output`` (where the graph was given an extractor).
        stop: why the loop ended: ``"final"`` (an answer), ``"steps"``, ``"tokens"``, ``"seconds"``
            (a limit), ``"repeating"`` (``LoopConfig.repeat_limit``), ``"error"`` (the model call
            failed) or ``"budget"`` (the run's budget ran out).
        error: what went wrong, for ``"error"`` and ``"budget"``; which limit, for limits.
        rollout: the finished ``Rollout`` (what ``scale()`` reads).
        previous_action: the last action run, as a vote key (a repeat of it is pointed out).
        compactions: model calls whose request was compacted to fit ``LoopConfig.context_tokens``.
        compacted_upto: observations before this index are sent shortened (``compact_stable``).
        context_tokens: the context a server named when it refused a request as too long (without
            ``LoopConfig.context_tokens``, requests are compacted to it from then on).
        undercount: how many times the server's token count exceeded the estimate, at that refusal.
        refusals: final answers the graph's ``check_final`` refused so far.
    """

    trajectory: Annotated[list[Message], operator.add]
    pending: list[dict[str, Any]]
    steps: int
    usage: Usage
    started: float
    model_name: str
    actions: str
    output: str
    answer: str | None
    stop: Stop
    error: str | None
    rollout: Rollout
    previous_action: str
    compacted_upto: int
    compactions: int
    refusals: int
    context_tokens: int
    undercount: float


FinalCheck = Callable[[str, Sequence[Message]], str | None]
"""Checks a final answer against the trajectory so far: ``None`` accepts it, a message refuses it
(the model reads the message and goes on; see ``LoopConfig.final_refusals``)."""

PlainAction = Callable[[str], Action | None]
"""Reads a reply that called no tool as an action, or ``None`` to keep the format's reading (a
final answer in the native format, "no action found" in the text format). E.g. the web agent
reads ``Parks and gardens [11]`` as following link 11: small models name the link they choose
instead of writing the call. A final answer that ``check_final`` refuses is read too (instead of
the refusal: the SWE agent's "Final answer:" with the fixed function in a code block is a
``rewrite``). The action runs without a call id, so its observation is a ``user`` message in
either format; its ``note`` is added below the observation."""


def run_of(runtime: Runtime[Any]) -> RolloutContext:
    """The rollout's ``RolloutContext``: the runtime's context when it is one; else one made of the
    attributes a user's own context has (``sandbox``, ``budget``, ``model``), emitting to the
    graph's custom stream."""
    ctx = runtime.context
    if isinstance(ctx, RolloutContext):
        return ctx
    fields = {k: getattr(ctx, k) for k in ("sandbox", "budget", "model") if getattr(ctx, k, None) is not None}
    return RolloutContext(emit=runtime.stream_writer, **fields)


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head, tail = limit * 2 // 3, limit // 3
    cut = len(text) - head - tail
    return f"{text[:head]}\n[... {cut} characters cut: the observation had {len(text)}; print less ...]\n{text[-tail:]}"


def _only_first(reply: Reply, keep: int) -> tuple[Message, list[dict[str, Any]]]:
    """The reply's message with only its first ``keep`` calls, and those actions; the last one's
    observation says how many were left out. A small model's plan of 15 calls, each answered
    "not run", filled a 4k context in three steps, and none of it could be shortened."""
    kept, dropped = reply.actions[:keep], len(reply.actions) - keep
    s = "s" if dropped > 1 else ""
    note = (
        f"({dropped} more action{s} in your reply {'were' if s else 'was'} not run: only {keep} per step; "
        "look at this result first, then act again)"
    )
    kept = [*kept[:-1], replace(kept[-1], note="\n".join(n for n in (kept[-1].note, note) if n))]
    message = dict(reply.message)
    if message.get("tool_calls"):
        ids = {a.call_id for a in kept}
        message["tool_calls"] = [c for c in message["tool_calls"] if c.get("id") in ids]
    return message, [asdict(a) for a in kept]


def _said(message: Message) -> tuple[str, list[tuple[str, str]]]:
    """An assistant message's text and calls (without their ids)."""
    calls = [(str((c.get("function") or {}).get("name")), str((c.get("function") or {}).get("arguments")))
             for c in message.get("tool_calls") or []]  # fmt: skip
    return str(message.get("content") or "").strip(), calls


def _steps(trajectory: Sequence[Message]) -> list[tuple[Message, list[Message]]]:
    """The trajectory's steps: each assistant message with the observations that answered it."""
    steps: list[tuple[Message, list[Message]]] = []
    for message in trajectory:
        if message.get("role") == "assistant":
            steps.append((message, []))
        elif steps:
            steps[-1][1].append(message)
    return steps


def _seen(observations: list[Message]) -> list[str]:
    """What a step's observations said, without the notes the loop adds about repeats and limits."""
    return [str(m.get("content") or "").replace(f"\n{REPEATED}", "").replace(f"\n{SECOND_TO_LAST}", "")
            for m in observations]  # fmt: skip


def _repeats(trajectory: Sequence[Message], reply: Message) -> int:
    """How many times in a row the steps before ``reply`` went round the same cycle that ``reply``
    starts again: the same replies answered by the same observations (a cycle of one step is the
    same reply, answered the same way, over and over). The model is in a loop that what it is told
    does not break."""
    steps = [(_said(message), _seen(observations)) for message, observations in _steps(trajectory)]
    said = _said(reply)
    period = next((k for k in range(1, len(steps) + 1) if steps[-k][0] == said), None)
    if period is None:
        return 0
    cycle, count, end = steps[-period:], 1, len(steps) - period
    while end >= period and steps[end - period : end] == cycle:
        count, end = count + 1, end - period
    return count


def _called_nothing(reply: Reply, actions: str, text: str) -> bool:
    """Whether a reply named no tool: "no action found" in the text format, or plain text taken
    as the final answer in the native format (a ``Final answer:`` line stays an answer)."""
    if any(a.tool for a in reply.actions):
        return False
    if reply.final is None:
        return bool(reply.actions)
    return actions == "tools" and reply.final == text and not reply.message.get("tool_calls")


def route_act(state: LoopState) -> str:
    """After ``act``: run the step's actions, or finish."""
    return "run_tools" if state.get("pending") else "finish"


def route_tools(state: LoopState) -> str:
    """After ``run_tools``: the next step, or finish once an answer was given."""
    return "finish" if state.get("stop") else "act"


class Nodes:
    """The loop's nodes, bound to a model, tools and config (``build_agent_graph`` wires them).

    Args:
        model: the model that acts; ``None`` takes the rollout's ``run.model``.
        tools: the tools offered (the final-answer tool is added when ``config.final_tool`` is set
            and no tool has that name).
        config: limits, prompt and action format.
        answer: extracts the short answer from the final output (``None``: no ``answer``).
        check_final: refuses a final answer with a message, up to ``config.final_refusals`` times.
        plain_action: reads a reply that called no tool, or a refused final answer, as an action (``PlainAction``).
    """

    def __init__(
        self,
        model: Model | None,
        tools: Sequence[Tool],
        config: LoopConfig,
        answer: Callable[[str], str | None] | None = None,
        check_final: FinalCheck | None = None,
        plain_action: PlainAction | None = None,
    ) -> None:
        names = [t.name for t in tools]
        if len(set(names)) != len(names):
            raise ConfigError(f"two tools share a name: {names}")
        tools = list(tools)
        if config.final_tool and config.final_tool not in names:
            tools.append(FinalAnswer(name=config.final_tool))
        self.model = model
        self.tools = tools
        self.by_name = {t.name: t for t in tools}
        self.config = config
        self.answer = answer
        self.check_final = check_final
        self.plain_action = plain_action

    def _refusal(self, output: str, refusals: int, trajectory: Sequence[Message]) -> str | None:
        """Why ``check_final`` refuses this final answer while refusals are left (``refusals``: made
        so far); ``None`` accepts it."""
        if self.check_final is None or refusals >= self.config.final_refusals:
            return None
        short = (self.answer(output) if self.answer is not None else None) or output
        return self.check_final(short, trajectory)

    def _model(self, run: RolloutContext) -> Model:
        model = self.model or run.model
        if model is None:
            raise ConfigError(
                "the agent loop has no model: give build_agent_graph(model=...) or ScaleContext(model=...)"
            )
        return model

    async def start(self, state: LoopState, runtime: Runtime[Any]) -> dict[str, Any]:
        """Node ``start``: the system prompt and the task (with what the request adds) as the first messages."""
        if state.get("trajectory"):  # resumed from a checkpoint: the loop goes on where it was
            return {}
        run = run_of(runtime)
        task = as_task(state.get("task"))
        request = state.get("request") or run.request
        actions = resolve_actions(self.config.actions, self._model(run))
        system = self.config.system.strip()
        if actions == "text":
            system = f"{system}\n\n{tools_prompt(self.tools, final_tool=self.config.final_tool)}".strip()
            if self.config.text_example.strip():
                system = f"{system}\n\n{self.config.text_example.strip()}"
        user = render_request(task, request)
        if self.config.instruction.strip():
            user = f"{user}\n\n{self.config.instruction.strip()}"
        first = [{"role": "user", "content": user}]
        if system:
            first.insert(0, {"role": "system", "content": system})
        return {
            "task": task,
            "request": request,
            "trajectory": first,
            "steps": 0,
            "usage": Usage(),
            "started": time.time(),
            "actions": actions,
        }

    def _limit(self, state: LoopState) -> tuple[Stop, str] | None:
        cfg = self.config
        steps, usage = state.get("steps", 0), state.get("usage") or Usage()
        if steps >= cfg.max_steps:
            return "steps", f"step limit: {steps} steps without a final answer"
        if cfg.max_tokens is not None and usage.total_tokens >= cfg.max_tokens:
            return (
                "tokens",
                f"token limit: {usage.total_tokens} of {cfg.max_tokens} tokens spent without a final answer",
            )
        if cfg.max_seconds is not None and time.time() - state.get("started", time.time()) >= cfg.max_seconds:
            return "seconds", f"time limit: {cfg.max_seconds:g} s without a final answer"
        return None

    async def act(self, state: LoopState, runtime: Runtime[Any]) -> dict[str, Any]:
        """Node ``act``: check the limits, ask the model for the next step, read its actions."""
        cfg, run = self.config, run_of(runtime)
        if (limit := self._limit(state)) is not None:
            return {"stop": limit[0], "error": limit[1]}
        model = self._model(run)
        request = state.get("request") or run.request
        step = state.get("steps", 0) + 1
        actions = state.get("actions") or resolve_actions(cfg.actions, model)
        if actions == "tools":
            kwargs: dict[str, Any] = {"tools": [tool_definition(t) for t in self.tools], "tool_choice": "auto"}
        else:  # a model that goes on to write the observation itself stops where it would begin
            kwargs = {"stop": [OBSERVATION_STOP]}
        left = None if cfg.max_seconds is None else cfg.max_seconds - (time.time() - state.get("started", time.time()))
        trajectory = list(state.get("trajectory") or [])
        compactions = state.get("compactions", 0)
        compacted_upto = state.get("compacted_upto", 0)
        # the context: the configured one, or the one a server's refusal named (then with how far the
        # estimate fell short of its count), so a trajectory that outgrew it is compacted, not lost
        context = state.get("context_tokens") or cfg.context_tokens
        undercount = state.get("undercount", 1.0)
        tools_tokens = len(json.dumps(kwargs.get("tools") or [])) // 3
        refused = False
        for attempt in (1, 2):
            messages = trajectory
            if context is not None:
                budget = max(int((context - cfg.reply_tokens) / undercount) - tools_tokens, 128)
                messages, compacted_upto = compact_stable(trajectory, budget, compacted_upto)
                if attempt == 2:  # refused once: the latest step may be cut too, rather than the rollout lost
                    messages = compact(messages, budget, keep_last=0)
                if messages != trajectory:
                    run.emit(
                        {"step": step, "role": "compaction", "content": f"request compacted to fit {context} tokens"}
                    )
            try:
                async with asyncio.timeout(left):
                    # checked against the run's budget before the call and charged after it: a scaled
                    # run's rollouts stop mid-trajectory when its budget is spent, not at their own limits
                    completion = await charged_generate(
                        model,
                        run.budget,
                        messages,
                        temperature=request.temperature,
                        seed=None if request.seed is None else request.seed + step - 1,
                        max_tokens=cfg.reply_tokens,
                        **kwargs,
                    )
                break
            except GraphBubbleUp:
                raise
            except TimeoutError:
                return {"stop": "seconds", "error": f"time limit: {cfg.max_seconds:g} s without a final answer"}
            except BudgetExhausted as exc:
                return {"stop": "budget", "error": str(exc)}
            except ConfigError:
                raise
            except Exception as exc:  # the model failed (server down, bad reply): the trajectory so far is kept
                overflow = context_overflow(exc)
                if attempt == 2 or overflow is None or overflow[1] <= cfg.reply_tokens + 128:
                    return {"stop": "error", "error": f"the model call failed: {type(exc).__name__}: {exc}"}
                requested, context = overflow  # refused before any work: compact to what the server counts
                refused = True
                estimated = estimate_tokens(messages) + tools_tokens
                undercount = max(undercount, requested / max(estimated, 1) * 1.05)
        compactions += messages != trajectory
        usage = (state.get("usage") or Usage()) + completion.usage
        text = completion.text
        if actions == "tools":
            calls = completion.tool_calls[0] if completion.tool_calls else []
            truncated = bool(completion.finish_reasons) and completion.finish_reasons[0] == "length"
            reply = parse_tool_calls(text, calls, self.tools, truncated=truncated)
        else:
            truncated = bool(completion.finish_reasons) and completion.finish_reasons[0] == "length"
            reply = parse_text_reply(text, self.tools, truncated=truncated, plain_final=cfg.plain_final)
        if self.plain_action is not None and not truncated and _called_nothing(reply, actions, text):
            if (read := self.plain_action(text)) is not None:
                reply = Reply(reply.message, [replace(read, call_id="")])
        run.emit(
            {
                "step": step,
                "role": "assistant",
                "content": text[:_EVENT_CHARS],
                "tools": [a.tool for a in reply.actions],
                "final": reply.final is not None,
            }
        )
        message, pending = reply.message, [asdict(a) for a in reply.actions]
        if reply.final is None and cfg.calls_per_step is not None and len(reply.actions) > cfg.calls_per_step:
            message, pending = _only_first(reply, cfg.calls_per_step)
        update: dict[str, Any] = {
            "trajectory": [message],
            "steps": step,
            "usage": usage,
            "model_name": completion.model,
            "actions": actions,
            "pending": pending,
            "compactions": compactions,
            "compacted_upto": compacted_upto,
            **({"context_tokens": context, "undercount": undercount} if refused else {}),
        }
        repeats = _repeats(state.get("trajectory") or [], message)
        if cfg.repeat_limit is not None and repeats + 1 >= cfg.repeat_limit:
            # a model caught in a loop says the same thing whatever it is told: stop spending on it
            update.update(pending=[], stop="repeating",
                          error=f"repeating: the model sent the same reply {repeats + 1} times in a row")  # fmt: skip
            return update
        if reply.final is not None:
            refusal = self._refusal(reply.final, state.get("refusals", 0), state.get("trajectory") or [])
            read = None if refusal is None or self.plain_action is None or truncated else self.plain_action(text)
            if refusal is None:
                update.update(output=reply.final, stop="final", error=None)
            elif read is not None:  # an answer that cannot stand but holds an action (the fixed code): run it
                update["pending"] = [asdict(replace(read, call_id=""))]
            else:  # answered by a message, as a malformed action is; the step counts
                update.update(
                    pending=[asdict(Action("", call_id="", error=refusal))], refusals=state.get("refusals", 0) + 1
                )
        return update

    async def _run_one(self, action: Action, run: RolloutContext, left: float | None) -> str | Finished:
        tool = self.by_name[action.tool]
        timeout = getattr(tool, "timeout", None) or self.config.tool_timeout
        if left is not None and left < timeout:
            timeout = max(left, 0.001)
        try:
            async with asyncio.timeout(timeout):
                result = await tool(action.arguments, run)
        except (GraphBubbleUp, ConfigError):
            raise
        except TimeoutError:
            return f"Error: {action.tool} timed out after {timeout:g} s and was stopped."
        except ToolError as exc:
            return f"Error: {exc}"
        except Exception as exc:  # a broken tool must not end the rollout: the model reads what happened
            return f"Error: {action.tool} failed: {type(exc).__name__}: {exc}"
        return result if isinstance(result, str | Finished) else str(result)

    def _observation(self, state: LoopState, action: Action, text: str) -> Message:
        text = _clip(text, self.config.observation_chars)
        if state.get("actions") == "tools" and action.call_id:
            return {"role": "tool", "tool_call_id": action.call_id, "name": action.tool or "error", "content": text}
        message: Message = {"role": "user", "content": f"{OBSERVATION}\n{text}" if not action.error else text}
        if action.tool in self.by_name and not action.error:
            message["name"] = action.tool  # marks it as a tool's observation in the text format
        return message

    async def run_tools(self, state: LoopState, runtime: Runtime[Any]) -> dict[str, Any]:
        """Node ``run_tools``: run the step's actions in order; each result (or error) is an observation."""
        cfg, run = self.config, run_of(runtime)
        step = state.get("steps", 0)
        messages: list[Message] = []
        update: dict[str, Any] = {"pending": []}
        for raw in state.get("pending") or []:
            action, finished = Action(**raw), None
            if action.error:
                text = f"Error: {action.error}" + (f"\n{action.note}" if action.note else "")
            elif action.tool == cfg.final_tool:
                answer = str(action.arguments.get("answer", ""))
                refusals = update.get("refusals", state.get("refusals", 0))
                refusal = self._refusal(answer, refusals, [*(state.get("trajectory") or []), *messages])
                if refusal is None:
                    update.update(output=answer, stop="final", error=None)
                    messages.append(self._observation(state, action, "Final answer recorded."))
                    break
                update["refusals"] = refusals + 1
                action = replace(action, error=refusal)  # said as a malformed action is, in either format
                text = f"Error: {refusal}"
            else:
                left = (
                    None
                    if cfg.max_seconds is None
                    else cfg.max_seconds - (time.time() - state.get("started", time.time()))
                )
                result = await self._run_one(action, run, left)
                finished = result if isinstance(result, Finished) else None
                text = finished.observation if finished else str(result)
                key = canonical_action(action.tool, action.arguments)
                if key == state.get("previous_action"):
                    text += f"\n{REPEATED}"
                update["previous_action"] = key
                if action.note:
                    text += f"\n{action.note}"
            if step == cfg.max_steps - 1 and cfg.last_step_note:
                text += f"\n{SECOND_TO_LAST}"
            message = self._observation(state, action, text)
            messages.append(message)
            run.emit(
                {
                    "step": step,
                    "role": message["role"],
                    "tool": action.tool,
                    "content": str(message["content"])[:_EVENT_CHARS],
                }
            )
            if finished is not None:  # the tool ended the loop: the step's later actions do not run
                update.update(output=finished.answer, stop="final", error=None)
                break
        update["trajectory"] = messages
        return update

    async def finish(self, state: LoopState, runtime: Runtime[Any]) -> dict[str, Any]:
        """Node ``finish``: the trajectory, answer and cost as a ``Rollout`` (``status`` says how it ended)."""
        task = as_task(state.get("task"))
        request = state.get("request") or run_of(runtime).request
        stop = state.get("stop") or "error"
        output = (state.get("output") or "") if stop == "final" else ""
        answer = self.answer(output) if (self.answer is not None and output.strip()) else None
        status = {"error": "error", "budget": "budget"}.get(stop, "ok")
        rollout = Rollout(
            task_id=task.id,
            status=status,
            output=output,
            answer=answer,
            trajectory=list(state.get("trajectory") or []),
            usage=state.get("usage") or Usage(),
            provenance=Provenance(seed=request.seed, temperature=request.temperature, model=state.get("model_name")),
            error=state.get("error") if status != "ok" else None,
            metadata={
                "stop": stop,
                "steps": state.get("steps", 0),
                "actions": state.get("actions"),
                **({"compactions": state["compactions"]} if state.get("compactions") else {}),
                **({"limit": state.get("error")} if stop in ("steps", "tokens", "seconds", "repeating") else {}),
            },
        )
        return {"rollout": rollout, "output": output, "answer": answer}


def pending_of(state: Mapping[str, Any]) -> list[Action]:
    """The state's pending actions as ``Action``s."""
    return [Action(**raw) for raw in state.get("pending") or []]
