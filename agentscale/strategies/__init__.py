"""Scaling strategies as objects, their LangGraph nodes, and ``scale()`` to wire them into a graph in one line.

A strategy (``BestOfN``, ``Majority``, ``Adaptive``, ``Reflect``, ``Evolve``, ``FirstFinish``,
``WiderDeeper``, ``ParallelDistillRefine``, ``Planned``, or
your own ``agentscale.protocols.Strategy``) wires nodes into a graph builder. Each node is a small
class whose instances are ``async (state, runtime) -> dict`` nodes, usable in your own
``StateGraph(ScaleState, context_schema=ScaleContext)``.
"""

from agentscale.strategies.adaptive import Adaptive, AdaptivePolicy, AssessVote, answer_key, vote_confidence
from agentscale.strategies.best_of_n import BestOfN
from agentscale.strategies.checkpoint import STATE_TYPES, sqlite_checkpointer, state_serializer
from agentscale.strategies.context import ScaleContext, as_task, context_of
from agentscale.strategies.evolve import MUTATE, RECOMBINE, Breed, Evolve, EvolvePolicy, population
from agentscale.strategies.first_finish import FirstFinish, Race
from agentscale.strategies.lessons import Recall, Remember, lesson_text
from agentscale.strategies.majority import Majority
from agentscale.strategies.pdr import DISTILL, Distill, DistillEvent, LastWave, ParallelDistillRefine, PickFinal
from agentscale.strategies.planned import PlanEvent, Planned, PlanWave
from agentscale.strategies.reflect import REVISE, PlanRevisions, Reflect, ReflectPolicy, revision_request
from agentscale.strategies.rollouts import (
    Diversity,
    FanOut,
    PrepareRequests,
    RunRollout,
    check_count,
    fan_out,
    run_request,
)
from agentscale.strategies.scale import resolve_strategy, resolve_verifier, scale
from agentscale.strategies.search_tree import Decision, SearchNode, SearchPolicy, SearchTree, search_tree
from agentscale.strategies.select import Select, best_scored, judge_selection, make_selector, resolve_selector
from agentscale.strategies.spec import ScaleSpec
from agentscale.strategies.verify import Verify
from agentscale.strategies.wider_deeper import Expand, SearchNodeEvent, SearchStep, SearchStepEvent, WiderDeeper

__all__ = [
    "DISTILL",
    "MUTATE",
    "RECOMBINE",
    "REVISE",
    "STATE_TYPES",
    "Adaptive",
    "AdaptivePolicy",
    "AssessVote",
    "BestOfN",
    "Breed",
    "Decision",
    "Distill",
    "DistillEvent",
    "Diversity",
    "Evolve",
    "Expand",
    "EvolvePolicy",
    "FanOut",
    "FirstFinish",
    "LastWave",
    "Majority",
    "ParallelDistillRefine",
    "PickFinal",
    "PlanEvent",
    "PlanRevisions",
    "PlanWave",
    "Planned",
    "PrepareRequests",
    "Race",
    "Recall",
    "Reflect",
    "ReflectPolicy",
    "Remember",
    "RunRollout",
    "ScaleContext",
    "ScaleSpec",
    "SearchNode",
    "SearchNodeEvent",
    "SearchPolicy",
    "SearchStep",
    "SearchStepEvent",
    "SearchTree",
    "Select",
    "Verify",
    "WiderDeeper",
    "answer_key",
    "as_task",
    "best_scored",
    "check_count",
    "context_of",
    "fan_out",
    "judge_selection",
    "make_selector",
    "lesson_text",
    "population",
    "resolve_selector",
    "resolve_strategy",
    "resolve_verifier",
    "revision_request",
    "run_request",
    "scale",
    "search_tree",
    "sqlite_checkpointer",
    "state_serializer",
    "vote_confidence",
]
