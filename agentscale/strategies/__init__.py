"""Scaling strategies as LangGraph nodes, and ``scale()`` to wire them into a graph in one line.

Each node is a small class whose instances are ``async (state, runtime) -> dict`` nodes, usable
in your own ``StateGraph(ScaleState, context_schema=ScaleContext)``.
"""

from agentscale.strategies.adaptive import AdaptivePolicy, AssessVote, answer_key, vote_confidence
from agentscale.strategies.checkpoint import STATE_TYPES, sqlite_checkpointer, state_serializer
from agentscale.strategies.context import ScaleContext, context_of
from agentscale.strategies.evolve import Evolve, EvolvePolicy, population
from agentscale.strategies.first_finish import Race
from agentscale.strategies.lessons import Recall, Remember, render_lessons
from agentscale.strategies.reflect import Reflect, ReflectPolicy, revision_prompt
from agentscale.strategies.rollouts import (
    Diversity,
    FanOut,
    PrepareSamples,
    RunRollout,
    fan_out,
    run_one,
    verify_one,
)
from agentscale.strategies.scale import STRATEGIES, scale
from agentscale.strategies.select import Select, best_scored
from agentscale.strategies.verify import Verify

__all__ = [
    "STATE_TYPES",
    "STRATEGIES",
    "AdaptivePolicy",
    "AssessVote",
    "Diversity",
    "Evolve",
    "EvolvePolicy",
    "FanOut",
    "PrepareSamples",
    "Race",
    "Recall",
    "Reflect",
    "ReflectPolicy",
    "Remember",
    "RunRollout",
    "ScaleContext",
    "Select",
    "Verify",
    "answer_key",
    "best_scored",
    "context_of",
    "fan_out",
    "population",
    "render_lessons",
    "revision_prompt",
    "run_one",
    "scale",
    "sqlite_checkpointer",
    "state_serializer",
    "verify_one",
    "vote_confidence",
]
