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
from agentscale.protocols import Agent, Model, Sandbox, SandboxProvider, Selector, Verifier
from agentscale.types import Completion, ExecResult, Message, Provenance, Rollout, Selection, Task, Usage, Verdict

__version__ = "0.1.0"

# name -> module that defines it; imported on first attribute access.
_LAZY: dict[str, str] = {
    "Endpoint": "agentscale.llm",
    "LLM": "agentscale.llm",
    "LLMConfig": "agentscale.llm",
    "ModelProfile": "agentscale.llm",
    "LLMAgent": "agentscale.agents",
    "ScaleContext": "agentscale.strategies",
    "as_agent": "agentscale.agents",
    "scale": "agentscale.strategies",
}

__all__ = [
    "Agent",
    "AgentScaleError",
    "AllRolloutsFailed",
    "Budget",
    "BudgetExhausted",
    "Completion",
    "ConfigError",
    "Endpoint",
    "ExecResult",
    "LLM",
    "LLMAgent",
    "LLMConfig",
    "MemoryBankError",
    "Message",
    "Model",
    "ModelAPIError",
    "ModelError",
    "ModelProfile",
    "ModelTimeout",
    "Provenance",
    "Rollout",
    "Sandbox",
    "ScaleContext",
    "SandboxError",
    "SandboxProvider",
    "SandboxTimeout",
    "SandboxUnavailable",
    "Selection",
    "SelectionError",
    "Selector",
    "ServerError",
    "Task",
    "Usage",
    "Verdict",
    "Verifier",
    "__version__",
    "as_agent",
    "scale",
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'agentscale' has no attribute {name!r}")
