"""agentscale: spend more compute on an agent at test time, and get a better agent.

Core names are importable from here. Heavy pieces (the litellm client, LangGraph strategies)
load on first use, so ``import agentscale`` stays fast and never touches the network.
"""

from agentscale.budget import Budget
from agentscale.errors import (
    AgentScaleError,
    AllRolloutsFailed,
    BudgetExhausted,
    ConfigError,
    MemoryBankError,
    ModelAPIError,
    ModelError,
    ModelTimeout,
    SandboxError,
    SandboxTimeout,
    SandboxUnavailable,
    SelectionError,
    ServerError,
)
from agentscale.protocols import Agent, Executor, Model, Sandbox, SandboxProvider, Selector, Strategy, Verifier
from agentscale.types import (
    Candidate,
    Completion,
    ExecResult,
    Message,
    Provenance,
    Rollout,
    RolloutRequest,
    Selection,
    Task,
    Usage,
    Verdict,
)

__version__ = "0.1.0"

# name -> module that defines it; imported on first attribute access.
_LAZY: dict[str, str] = {
    "Endpoint": "agentscale.llm",
    "LLM": "agentscale.llm",
    "LLMConfig": "agentscale.llm",
    "ModelProfile": "agentscale.llm",
    "LLMAgent": "agentscale.agents",
    "ChatAgent": "agentscale.agents",
    "RolloutContext": "agentscale.rollout",
    "AsyncioExecutor": "agentscale.executor",
    "ScaleContext": "agentscale.strategies",
    "ScaleSpec": "agentscale.strategies",
    "BestOfN": "agentscale.strategies",
    "Majority": "agentscale.strategies",
    "Adaptive": "agentscale.strategies",
    "Reflect": "agentscale.strategies",
    "Evolve": "agentscale.strategies",
    "FirstFinish": "agentscale.strategies",
    "WiderDeeper": "agentscale.strategies",
    "ParallelDistillRefine": "agentscale.strategies",
    "Planned": "agentscale.strategies",
    "plan_allocation": "agentscale.planner",
    "as_agent": "agentscale.agents",
    "render_request": "agentscale.prompts",
    "scale": "agentscale.strategies",
}

__all__ = [
    "Adaptive",
    "Agent",
    "AgentScaleError",
    "AllRolloutsFailed",
    "AsyncioExecutor",
    "BestOfN",
    "Budget",
    "BudgetExhausted",
    "Candidate",
    "ChatAgent",
    "Completion",
    "ConfigError",
    "Endpoint",
    "Evolve",
    "ExecResult",
    "Executor",
    "FirstFinish",
    "LLM",
    "LLMAgent",
    "LLMConfig",
    "Majority",
    "MemoryBankError",
    "Message",
    "Model",
    "ParallelDistillRefine",
    "Planned",
    "ModelAPIError",
    "ModelError",
    "ModelProfile",
    "ModelTimeout",
    "Provenance",
    "Reflect",
    "Rollout",
    "RolloutContext",
    "RolloutRequest",
    "Sandbox",
    "ScaleContext",
    "ScaleSpec",
    "SandboxError",
    "SandboxProvider",
    "SandboxTimeout",
    "SandboxUnavailable",
    "Selection",
    "SelectionError",
    "Selector",
    "ServerError",
    "Strategy",
    "Task",
    "Usage",
    "Verdict",
    "Verifier",
    "WiderDeeper",
    "__version__",
    "as_agent",
    "plan_allocation",
    "render_request",
    "scale",
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'agentscale' has no attribute {name!r}")
