"""The web tools (``agentscale.protocols.Tool``): open a URL, follow a link, find text, submit a
form, go back. Each acts on one rollout's ``WebSession``, so ``web_tools(session)`` makes a fresh
set per rollout (``WebAgent`` does). Every tool returns what the model reads next; a refusal or a
failed request is a ``ToolError`` with a message the model can act on.

Example:
    ```python
    async with WebSession() as web:
        tools = web_tools(web)                        # open_url, follow_link, find_in_page, submit_form, go_back
        print(await tools[0]({"url": "http://127.0.0.1:8000/"}, RolloutContext()))
    ```
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentscale.errors import ToolError
from agentscale.graphs.web.session import WebSession
from agentscale.rollout import RolloutContext

__all__ = ["FindInPage", "FollowLink", "GoBack", "OpenURL", "SubmitForm", "web_tools"]


@dataclass
class OpenURL:
    """``open_url(url)``: fetch a page and show it."""

    session: WebSession
    name: str = "open_url"
    description: str = "Open a web page by its URL and show its text; links are shown with numbers like [3]."
    parameters: Mapping[str, Any] = field(default_factory=lambda: {
        "type": "object",
        "properties": {"url": {"type": "string", "description": "the page's URL, e.g. http://127.0.0.1:8000/"}},
        "required": ["url"],
    })
    example: Mapping[str, Any] = field(default_factory=lambda: {"url": "http://127.0.0.1:8000/contact"})

    async def __call__(self, arguments: Mapping[str, Any], run: RolloutContext) -> str:
        """Open ``arguments["url"]``."""
        page = await self.session.open(_arg(arguments, "url"))
        return self.session.render(page)


@dataclass
class FollowLink:
    """``follow_link(number)``: open link ``[number]`` of the current page."""

    session: WebSession
    name: str = "follow_link"
    description: str = "Follow a link of the current page by its number, the [n] shown after the link's text."
    parameters: Mapping[str, Any] = field(default_factory=lambda: {
        "type": "object",
        "properties": {"number": {"type": "integer", "description": "the link's number"}},
        "required": ["number"],
    })
    example: Mapping[str, Any] = field(default_factory=lambda: {"number": 3})

    async def __call__(self, arguments: Mapping[str, Any], run: RolloutContext) -> str:
        """Follow the link."""
        page = await self.session.follow(_arg(arguments, "number"))
        return self.session.render(page)


@dataclass
class FindInPage:
    """``find_in_page(text)``: where a word or phrase occurs in the current page, with context."""

    session: WebSession
    name: str = "find_in_page"
    description: str = "Find a word or phrase in the current page (all of it, not only what was shown)."
    parameters: Mapping[str, Any] = field(default_factory=lambda: {
        "type": "object",
        "properties": {"text": {"type": "string", "description": "the word or phrase to look for"}},
        "required": ["text"],
    })
    example: Mapping[str, Any] = field(default_factory=lambda: {"text": "opening hours"})

    async def __call__(self, arguments: Mapping[str, Any], run: RolloutContext) -> str:
        """Search the current page."""
        return self.session.find(_arg(arguments, "text"))


@dataclass
class SubmitForm:
    """``submit_form(form, fields)``: fill in a form of the current page and send it."""

    session: WebSession
    name: str = "submit_form"
    description: str = (
        "Fill in a form of the current page and send it. fields maps each field's name to its value; "
        "fields left out keep their defaults."
    )
    parameters: Mapping[str, Any] = field(default_factory=lambda: {
        "type": "object",
        "properties": {
            "form": {"type": "integer", "description": "the form's number (1 for the first form)"},
            "fields": {"type": "object", "description": "field name -> value",
                       "additionalProperties": {"type": "string"}},
        },
        "required": ["fields"],
    })
    example: Mapping[str, Any] = field(default_factory=lambda: {"form": 1, "fields": {"q": "opening hours"}})

    async def __call__(self, arguments: Mapping[str, Any], run: RolloutContext) -> str:
        """Send the form."""
        fields = arguments.get("fields") or {}
        if isinstance(fields, str):  # small models often send the object as a JSON string
            try:
                fields = json.loads(fields)
            except ValueError:
                raise ToolError('fields must be an object like {"q": "library"}.') from None
        if not isinstance(fields, Mapping):
            raise ToolError('fields must be an object like {"q": "library"}.')
        page = await self.session.submit(arguments.get("form", 1), fields)
        return self.session.render(page)


@dataclass
class GoBack:
    """``go_back()``: back to the previous page."""

    session: WebSession
    name: str = "go_back"
    description: str = "Go back to the previous page."
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    async def __call__(self, arguments: Mapping[str, Any], run: RolloutContext) -> str:
        """Show the previous page again."""
        return self.session.render(self.session.back())


def web_tools(session: WebSession) -> list[Any]:
    """The five web tools, acting on ``session``."""
    return [OpenURL(session), FollowLink(session), FindInPage(session), SubmitForm(session), GoBack(session)]


def _arg(arguments: Mapping[str, Any], name: str) -> Any:
    if name not in arguments or arguments[name] in (None, ""):
        raise ToolError(f"Missing argument {name!r}.")
    return arguments[name]
