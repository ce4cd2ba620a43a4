"""One rollout's web browsing: fetch pages over HTTP, keep the current page and the history.

A ``WebSession`` is what the web tools act on (``agentscale.graphs.web.tools``). It fetches with
``httpx`` (``trust_env=False``: no proxies or netrc from the environment), follows redirects itself
so every hop is checked against the allowed hosts, reads at most ``max_bytes`` of a body (streamed:
it stops at the cap), and keeps to the limits of ``WebLimits`` (pages, seconds per request and in
all). Whatever goes wrong with a page (refused host, 404, connection refused, timeout, redirect
loop, a binary file) is a ``ToolError`` whose message the model reads; the session stays usable.

**Which hosts**: by default only loopback ones (``127.0.0.0/8``, ``::1``, ``localhost``): a model
chooses the URLs, and an agent that fetches whatever it is told is a way into the machine's
network (cloud metadata, internal services). ``allow_hosts`` widens it: exact host names,
``*.example.org`` for a domain and its subdomains, ``"loopback"``, or ``"*"`` for any host.

Example:
    ```python
    async with WebSession(WebLimits(max_pages=10)) as web:
        page = await web.open("http://127.0.0.1:8000/")
        print(web.render(page))                       # title, text with [n] link numbers, forms
        page = await web.follow(3)                    # link [3]
        print(web.find("opening hours"))
    ```
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field

from agentscale.errors import ConfigError, ToolError
from agentscale.graphs.web._html import Document, Form, parse_html

__all__ = ["HostPolicy", "Page", "WebLimits", "WebSession"]

_REDIRECTS = {301, 302, 303, 307, 308}
_TEXT_TYPES = ("text/", "application/xml", "application/javascript", "application/x-yaml", "application/yaml",
               "application/csv", "application/x-ndjson")
_HOSTLIKE = re.compile(r"^(localhost|\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]|[\w.-]+:\d+)(?=[/:?#]|$)")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


class WebLimits(BaseModel):
    """Limits of one rollout's browsing.

    Attributes:
        max_pages: requests (pages opened, links followed, forms sent) per rollout; a redirect's
            hops count as one.
        max_bytes: bytes of a body read at most; the rest is not downloaded (the page says so).
        timeout: seconds for one request, redirects included.
        max_seconds: seconds for all requests of the rollout together.
        max_redirects: redirect hops followed for one request.
        max_chars: characters of a page's text shown at once (``find_in_page`` searches all of it).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_pages: int = Field(default=20, ge=1)
    max_bytes: int = Field(default=2_000_000, ge=1024)
    timeout: float = Field(default=10.0, gt=0)
    max_seconds: float = Field(default=120.0, gt=0)
    max_redirects: int = Field(default=5, ge=0)
    max_chars: int = Field(default=2500, ge=200)


@dataclass(frozen=True)
class HostPolicy:
    """Which hosts may be fetched (see the module docs); ``("loopback",)`` by default."""

    allow: tuple[str, ...] = ("loopback",)

    def __post_init__(self) -> None:
        if isinstance(self.allow, str) or not all(isinstance(h, str) and h.strip() for h in self.allow):
            raise ConfigError(f"allow_hosts is a list of host names or patterns, got {self.allow!r}")

    def allows(self, host: str) -> bool:
        """Whether ``host`` (a name or an IP literal, without port) may be fetched."""
        host = host.strip("[]").lower().rstrip(".")
        for rule in (r.lower() for r in self.allow):
            if rule == "*" or rule == host:
                return True
            if rule == "loopback" and _is_loopback(host):
                return True
            if rule.startswith("*.") and (host == rule[2:] or host.endswith(rule[1:])):
                return True
        return False


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Page:
    """A fetched page.

    Attributes:
        url: where it was fetched from (after redirects).
        status: the HTTP status.
        content_type: the media type (``text/html``...), without parameters.
        text: what the model reads: the page as text (links numbered for HTML).
        document: the parsed HTML (links and forms), ``None`` for other types.
        notes: what the model should know about how it was read (truncated, redirected...).
    """

    url: str
    status: int
    content_type: str
    text: str
    document: Document | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        """The HTML title, else the URL."""
        return (self.document.title if self.document else "") or self.url


class WebSession:
    """A rollout's browser: the current page, the history, and what is left of the limits.

    Use it as an async context manager (it owns an ``httpx.AsyncClient``), or give it a client you
    close yourself.

    Args:
        limits: pages, bytes and seconds.
        allow_hosts: the hosts it may fetch (see ``HostPolicy``).
        client: an ``httpx.AsyncClient`` to use (made with ``trust_env=False`` when not given).
    """

    def __init__(
        self,
        limits: WebLimits | None = None,
        *,
        allow_hosts: Sequence[str] = ("loopback",),
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.limits = limits or WebLimits()
        self.policy = HostPolicy(tuple(allow_hosts))
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(
            trust_env=False, follow_redirects=False, headers={"User-Agent": "agentscale-web/0.1"}
        )
        self.history: list[Page] = []
        self.visits: list[dict[str, Any]] = []
        self.requests = 0
        self.seconds = 0.0

    async def __aenter__(self) -> WebSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client (when the session made it)."""
        if self._own_client:
            await self._client.aclose()

    @property
    def current(self) -> Page | None:
        """The page on screen, ``None`` before the first one."""
        return self.history[-1] if self.history else None

    def _require_page(self) -> Page:
        if self.current is None:
            raise ToolError("No page is open yet: open one with open_url first.")
        return self.current

    # navigation
    async def open(self, url: str, *, method: str = "GET", data: Mapping[str, str] | None = None) -> Page:
        """Fetch ``url`` (relative to the current page when it has no host) and make it the current page.

        Raises:
            ToolError: a refused URL or host, a limit reached, a failed request, an HTTP error
                status or a body that is not text.
        """
        url = self._absolute(url)
        if self.requests >= self.limits.max_pages:
            raise ToolError(
                f"The page limit is reached ({self.limits.max_pages} requests in this task): answer with what you have."
            )
        left = self.limits.max_seconds - self.seconds
        if left <= 0:
            raise ToolError(f"The time for web requests is used up ({self.limits.max_seconds:g} s): answer now.")
        self.requests += 1
        started = time.monotonic()
        budget = min(self.limits.timeout, left)
        visit: dict[str, Any] = {"method": method, "url": url}
        self.visits.append(visit)
        try:
            async with asyncio.timeout(budget):
                page = await self._fetch(method, url, data)
        except TimeoutError:
            visit["error"] = "timeout"
            raise ToolError(f"{url} did not answer within {budget:g} s.") from None
        except ToolError as exc:
            visit["error"] = str(exc)
            raise
        finally:
            self.seconds += time.monotonic() - started
        visit.update(status=page.status, final_url=page.url)
        if page.status >= 400:
            raise ToolError(
                f"HTTP {page.status} {_reason(page.status)} for {page.url}"
                + (f"; the page says: {_excerpt(page.text, 300)}" if page.text.strip() else "")
                + (f" (you are still on {self.current.url})" if self.current else "")
            )
        self.history.append(page)
        return page

    async def follow(self, number: Any) -> Page:
        """Open link ``number`` of the current page.

        Raises:
            ToolError: no page open, or no such link.
        """
        page = self._require_page()
        links = page.document.links if page.document else []
        n = _as_int(number, "link number")
        if not links:
            raise ToolError(f"The current page ({page.url}) has no links.")
        if not 1 <= n <= len(links):
            raise ToolError(f"There is no link {number} on this page: its links are numbered 1 to {len(links)}.")
        return await self.open(links[n - 1].url)

    async def submit(self, form: Any = 1, fields: Mapping[str, Any] | None = None) -> Page:
        """Fill in form ``form`` of the current page with ``fields`` (name -> value) and send it.

        Fields not given keep their defaults (hidden fields, preselected options, checked boxes).

        Raises:
            ToolError: no such form, an unknown field, or a value a select does not offer.
        """
        page = self._require_page()
        forms = page.document.forms if page.document else []
        n = _as_int(form, "form number") if form not in (None, "") else 1
        if not forms:
            raise ToolError(f"The current page ({page.url}) has no forms.")
        if not 1 <= n <= len(forms):
            raise ToolError(f"There is no form {form} on this page: its forms are numbered 1 to {len(forms)}.")
        chosen = forms[n - 1]
        data = _fill(chosen, fields or {})
        if chosen.method == "GET":
            parts = urlsplit(chosen.action)
            return await self.open(urlunsplit(parts._replace(query=urlencode(data), fragment="")))
        return await self.open(chosen.action, method="POST", data=data)

    def back(self) -> Page:
        """Go back to the previous page (shown again, not fetched again).

        Raises:
            ToolError: there is no earlier page.
        """
        if len(self.history) < 2:
            raise ToolError("There is no earlier page to go back to.")
        self.history.pop()
        return self.history[-1]

    # reading
    def render(self, page: Page | None = None) -> str:
        """The page as the model sees it: a header line, the text up to ``max_chars``, notes, forms."""
        page = page or self._require_page()
        kind = "" if page.content_type == "text/html" else f" ({page.content_type})"
        lines = [f"Page: {page.title}{kind}", f"URL: {page.url}", ""]
        text = page.text.strip() or "(the page has no text)"
        limit = self.limits.max_chars
        if len(text) > limit:
            cut = text.rfind("\n", 0, limit)
            cut = cut if cut > limit // 2 else limit
            lines.append(text[:cut].rstrip())
            lines.append(
                f"\n[Showing {cut:,} of {len(text):,} characters: use find_in_page to search the rest of this page.]"
            )
        else:
            lines.append(text)
        for note in page.notes:
            lines.append(f"[{note}]")
        if page.document and page.document.forms:
            lines.append("")
            lines.append("Forms (send one with submit_form):")
            lines.extend(f"  {f.describe()}" for f in page.document.forms)
        return "\n".join(lines)

    def find(self, query: str, *, context: int = 120, max_matches: int = 5) -> str:
        """Where ``query`` occurs in the current page's whole text (case-insensitive), with context.

        When the phrase does not occur, the lines sharing most of its words are shown instead.

        Raises:
            ToolError: no page open, or an empty query.
        """
        page = self._require_page()
        query = " ".join(str(query or "").split())
        if not query:
            raise ToolError("find_in_page needs some text to look for.")
        lines = page.text.split("\n")
        q = query.lower()
        found = [i for i, line in enumerate(lines) if q in line.lower()]
        if found:
            total = sum(line.lower().count(q) for line in lines)
            out = [f"{total} match{'es' if total != 1 else ''} for {query!r} on {page.url}:"]
            for i in found[:max_matches]:
                line = lines[i].strip()
                if len(line) > 2 * context:  # a long line: the part around the match
                    at = line.lower().find(q)
                    a, b = max(0, at - context), min(len(line), at + len(q) + context)
                    line = f"{'...' if a else ''}{line[a:b]}{'...' if b < len(line) else ''}"
                before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
                if len(line) < 60 and before:  # a short line (a table row) reads better after the line above it
                    line = f"{_excerpt(before, 100)} / {line}"
                out.append(f"- {line}")
            if len(found) > max_matches:
                out.append(f"({len(found) - max_matches} more lines match: search for something more specific.)")
            return "\n".join(out)
        words = [w for w in re.findall(r"\w+", q) if len(w) > 2]
        scored = []
        for line in lines:
            line_low = line.lower()
            score = sum(w in line_low for w in words)
            if score:
                scored.append((score, line.strip()))
        scored.sort(key=lambda s: -s[0])
        if not scored:
            return f"No match for {query!r} on {page.url} ({page.title})."
        best = [f"- {_excerpt(line, 2 * context)}" for _, line in scored[:3]]
        return "\n".join([f"No exact match for {query!r}; lines with some of its words:", *best])

    # HTTP
    def _absolute(self, url: Any) -> str:
        url = str(url or "").strip()
        if not url:
            raise ToolError("open_url needs a URL.")
        if "://" not in url and (self.current is None or _HOSTLIKE.match(url)):
            url = "http://" + url  # "127.0.0.1:8000/x", "localhost/x": a host without a scheme
        if self.current is not None:
            url = urljoin(self.current.url, url)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ToolError(f"Only http and https URLs can be opened, not {url!r}.")
        if not parts.hostname:
            raise ToolError(f"{url!r} has no host: give a full URL like http://127.0.0.1:8000/.")
        return url

    def _check_host(self, url: str) -> None:
        host = urlsplit(url).hostname or ""
        if not self.policy.allows(host):
            raise ToolError(
                f"{host} is not an allowed host (allowed: {', '.join(self.policy.allow)}); this page cannot be opened."
            )

    async def _fetch(self, method: str, url: str, data: Mapping[str, str] | None) -> Page:
        chain = [url]
        for _ in range(self.limits.max_redirects + 1):
            self._check_host(url)
            try:
                request = self._client.build_request(method, url, data=dict(data) if data is not None else None)
                response = await self._client.send(request, stream=True)
            except httpx.ConnectError as exc:
                raise ToolError(f"Could not connect to {urlsplit(url).netloc} ({_why(exc)}).") from None
            except httpx.TimeoutException:
                raise ToolError(f"{url} did not answer within {self.limits.timeout:g} s.") from None
            except httpx.HTTPError as exc:
                raise ToolError(f"Fetching {url} failed: {_why(exc)}.") from None
            try:
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    url = urljoin(url, location)
                    chain.append(url)
                    if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                        method, data = "GET", None
                    continue
                page = await self._read(response, url)
            finally:
                await response.aclose()
            if len(chain) > 1:
                page.notes.append(f"Redirected from {chain[0]}")
            return page
        shown = " -> ".join(chain[:4]) + (" -> ..." if len(chain) > 4 else "")
        raise ToolError(f"Too many redirects (more than {self.limits.max_redirects}): {shown}.")

    async def _read(self, response: httpx.Response, url: str) -> Page:
        media = response.headers.get("content-type", "").split(";")[0].strip().lower()
        cap = self.limits.max_bytes
        body = bytearray()
        truncated = False
        binary_suspect = bool(media) and not _is_textual(media)
        async for chunk in response.aiter_bytes():
            body += chunk
            if binary_suspect and len(body) >= 1024:  # a binary is refused from its first bytes: read no more
                break
            if len(body) > cap:  # stop downloading at the cap
                truncated = True
                del body[cap:]
                break
        raw = bytes(body)
        if binary_suspect or (not media and b"\x00" in raw[:1024]):
            size = response.headers.get("content-length")
            size_text = f"{int(size):,} bytes" if size and size.isdigit() else "unknown size"
            raise ToolError(
                f"{url} is not a page I can read: it is {media or 'binary data'} ({size_text}). "
                "Only HTML, text and JSON can be shown."
            )
        text = raw.decode(_charset(response, raw), errors="replace")
        notes = [f"Only the first {cap:,} bytes of this page were read."] if truncated else []
        status = response.status_code
        if media in ("text/html", "application/xhtml+xml") or (not media and "<html" in text[:2048].lower()):
            doc = parse_html(text, url)
            return Page(url=url, status=status, content_type="text/html", text=doc.text, document=doc, notes=notes)
        if media == "application/json" or media.endswith("+json"):
            try:
                text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
            except ValueError:
                notes.append("The JSON did not parse; shown as it came.")
        return Page(url=url, status=status, content_type=media or "text/plain", text=text, notes=notes)


def _is_textual(media: str) -> bool:
    return (media.startswith(_TEXT_TYPES) or media.endswith(("+xml", "+json")) or media == "application/json"
            or media in ("application/xhtml+xml",))


def _charset(response: httpx.Response, raw: bytes) -> str:
    declared = response.charset_encoding
    if not declared and (m := _META_CHARSET.search(raw[:4096])):
        declared = m.group(1).decode("ascii", "replace")
    try:
        "".encode(declared or "utf-8")
    except LookupError:
        return "utf-8"
    return declared or "utf-8"


def _fill(form: Form, given: Mapping[str, Any]) -> list[tuple[str, str]]:
    names = [f.name for f in form.fields if f.name and f.kind not in ("submit", "button", "reset", "image")]
    unknown = [k for k in given if k not in names]
    if unknown:
        offered = ", ".join(dict.fromkeys(n for n in names if form.field(n) and form.field(n).kind != "hidden"))
        raise ToolError(f"Form {form.number} has no field {unknown[0]!r}; its fields are: {offered or 'none'}.")
    data: list[tuple[str, str]] = []
    done: set[str] = set()
    for f in form.fields:
        if not f.name or f.name in done:
            continue
        if f.kind in ("submit", "button", "reset", "image"):
            continue
        if f.name in given:
            done.add(f.name)
            value = given[f.name]
            if f.kind == "checkbox" and isinstance(value, bool):
                if value:
                    data.append((f.name, f.value or "on"))
                continue
            value = "" if value is None else str(value)
            if f.options:
                match = next((o for o in f.options if o.lower() == value.strip().lower()), None)
                if match is None:
                    raise ToolError(f"{f.name!r} takes one of: {', '.join(f.options)}; not {value!r}.")
                value = match
            data.append((f.name, value))
        elif f.value is not None:
            data.append((f.name, f.value))
    button = next((f for f in form.fields if f.kind == "submit" and f.name), None)
    if button is not None:
        data.append((button.name, button.value or ""))
    return data


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise ToolError(f"The {what} must be a number like 3, not {value!r}.")
    if isinstance(value, int):
        return value
    text = str(value).strip().strip("[]()#")
    if re.fullmatch(r"\d+", text):
        return int(text)
    raise ToolError(f"The {what} must be a number like 3, not {value!r}.")


def _why(exc: BaseException) -> str:
    seen: BaseException | None = exc
    while seen is not None:  # httpx says "All connection attempts failed"; the OS error under it says why
        if isinstance(seen, ConnectionRefusedError) or "refused" in str(seen).lower():
            return "connection refused"
        seen = seen.__cause__ or seen.__context__
    return (str(exc) or type(exc).__name__)[:200]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _excerpt(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
