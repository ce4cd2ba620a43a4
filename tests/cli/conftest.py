"""Fixtures for command-line tests: the scripted OpenAI-compatible server of ``tests/llm``, running on
a thread of its own so the CLI (which runs its own event loop, or its own process) can talk to it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from threaded_server import ThreadedServer  # noqa: E402


@pytest.fixture
def scripted():
    """A scripted model server for the CLI; ``scripted.server`` is the ``ScriptedServer``."""
    server = ThreadedServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def model_args(scripted):
    """The CLI options that point a command at the scripted server."""
    return ["--model", "hosted_vllm/test-model", "--api-base", scripted.api_base, "--timeout", "30"]
