"""The ``web`` workflow (``agentscale.protocols.Workflow``): answer a question by browsing.

A task is a record ``{"question", "url", "answer"?, "accept"?, "id"?}`` or a string holding the
question and the URL to start from (``"When does the library open? http://127.0.0.1:8000/"``).
Selection may use ``ObservedAnswer`` (the answer appears on a page the rollout read); the
expected answer only scores (``WebAnswerScorer``). Options are ``WebConfig``'s fields
(``-c max_steps=10 -c allow_hosts='["loopback","*.example.org"]'``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agentscale.errors import ConfigError
from agentscale.graphs.web.agent import WebAgent, WebConfig
from agentscale.graphs.web.site import web_task
from agentscale.graphs.web.verify import ObservedAnswer, WebAnswerScorer
from agentscale.types import Task
from agentscale.workflows import WorkflowEnv, WorkflowParts

__all__ = ["WebWorkflow"]

_URL = re.compile(r"https?://\S+")


class WebWorkflow:
    """Answer a question on a web site (by default only loopback hosts may be fetched)."""

    name = "web"
    profile = "chat"
    needs_sandbox = False

    def task(self, source: str | Mapping[str, Any]) -> Task:
        """A ``Task`` from a question with a URL in it, or a record.

        Raises:
            ConfigError: no URL to start from, or no question.
        """
        if isinstance(source, str):
            match = _URL.search(source)
            if match is None:
                raise ConfigError(f"a web task needs a URL to start from, e.g. 'question? http://127.0.0.1:8000/'; "
                                  f"got {source!r:.80}")
            url = match.group(0).rstrip(".,;)")
            question = (source[: match.start()] + source[match.end():]).strip()
            if not question:
                raise ConfigError("a web task needs a question besides its URL")
            return web_task(question, url)
        if not isinstance(source, Mapping):
            raise ConfigError(f"a web task is a str or a JSON object, got {type(source).__name__}")
        question, url = source.get("question") or source.get("prompt"), source.get("url") or source.get("start_url")
        if not question or not url:
            raise ConfigError("a web task record needs 'question' and 'url'")
        answer = source.get("answer", source.get("expected"))
        return web_task(str(question), str(url), None if answer is None else str(answer),
                        accept=source.get("accept") or (), task_id=str(source["id"]) if source.get("id") else None)

    def build(self, env: WorkflowEnv) -> WorkflowParts:
        """The ``WebAgent`` (``WebConfig(**env.options)``), ``ObservedAnswer`` for selection,
        ``WebAnswerScorer`` for scoring, and the majority vote over answers.

        Raises:
            ConfigError: an unknown or bad option.
        """
        try:
            config = WebConfig(**dict(env.options))
        except ValueError as exc:
            raise ConfigError(f"bad web options: {exc}") from exc
        return WorkflowParts(agent=WebAgent(env.model, config), verifier=ObservedAnswer(), scorer=WebAnswerScorer(),
                             selector="majority")
