"""A strategy behind an OpenAI-compatible endpoint: any OpenAI client gains test-time scaling
without code changes.

``StrategyServer(upstream)`` serves ``POST /v1/chat/completions`` and ``GET /v1/models`` (aiohttp).
Each request runs a strategy over the upstream model with ``ChatAgent`` (the client's messages,
tool calls and tool results, and tools as sent), and answers with the chosen rollout's message;
``usage`` counts every upstream call of the run. The strategy and ``n`` come from the model name
(``majority-5/NAME``) or the body (``"agentscale": {"strategy": "best_of_n", "n": 4}``); errors are
OpenAI-shaped. ``agentscale serve-strategy`` runs it from the command line.
"""

from agentscale.serve_strategy._app import Answer, StrategyServer
from agentscale.serve_strategy._protocol import (
    APIError,
    ScaledRequest,
    completion,
    completion_chunks,
    error_body,
    parse_request,
)

__all__ = [
    "APIError",
    "Answer",
    "ScaledRequest",
    "StrategyServer",
    "completion",
    "completion_chunks",
    "error_body",
    "parse_request",
]
