"""Ready-made agent workflows (HumanEval now; math with tools, SWE and web to come).

Each workflow is an agent (or a LangGraph graph) built from a small config, that reads its
rollout's ``RolloutRequest`` and renders it its own way; wrap it in any strategy with ``scale()``.
"""

from agentscale.graphs.chat import ChatConfig, ChatWorkflow
from agentscale.graphs.humaneval import (
    HiddenTestsScorer,
    HumanEvalAgent,
    HumanEvalConfig,
    HumanEvalWorkflow,
    hidden_tests_task,
    humaneval_agent,
)

__all__ = [
    "ChatConfig",
    "ChatWorkflow",
    "HiddenTestsScorer",
    "HumanEvalAgent",
    "HumanEvalConfig",
    "HumanEvalWorkflow",
    "hidden_tests_task",
    "humaneval_agent",
]
