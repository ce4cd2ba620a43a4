"""Shared fixtures. Real-server fixtures (model server, Docker engine) live beside the tests
that need them and are session-scoped so the suite starts each server once."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch):
    # Our own env vars must never leak from the developer's shell into a test.
    for key in list(os.environ):
        if key.startswith("AGENTSCALE_") and key != "AGENTSCALE_CACHE":
            monkeypatch.delenv(key)
