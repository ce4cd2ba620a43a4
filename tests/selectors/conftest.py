"""The plain-subprocess sandbox of tests/verifiers, for selectors that run code."""

from __future__ import annotations

import pytest

from tests.verifiers.conftest import SubprocessSandboxes


@pytest.fixture
def local_sandboxes() -> SubprocessSandboxes:
    return SubprocessSandboxes()
