"""Test doubles for agentscale's extension points, for your tests and ours.

``FakeModel`` (scripted replies) and ``FunctionModel`` (a callable picks each reply) stand in
for a model; ``FakeSandbox`` runs a handler instead of code. They are named as fakes: use
them for control flow, never as the only test of a feature.
"""

from agentscale.testing._models import FakeModel, FunctionModel, ModelCall, tool_call
from agentscale.testing._sandbox import FakeRepoSandbox, FakeSandbox, FakeSandboxProvider

__all__ = [
    "FakeModel",
    "FakeRepoSandbox",
    "FakeSandbox",
    "FakeSandboxProvider",
    "FunctionModel",
    "ModelCall",
    "tool_call",
]
