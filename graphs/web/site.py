"""A small web site served on 127.0.0.1, with questions that need navigation to answer.

The site (a fictional town's portal, "Maplewood") is a folder of linked HTML pages shipped with
the package (``site/``), more than the questions need, plus three dynamic pages: a site search
(``GET /search?q=``), a library catalogue (``GET /library/catalogue?title=&branch=``) and a
parcel tracker (``POST /parcels/track``). ``SITE_QUESTIONS`` lists 20 questions with their
expected answers: some need two or three hops, a form, or the search page (a page only the
search finds). For testing how the web tools behave, ``/edge/...`` serves redirect loops, slow
and dripping pages, huge pages, binaries, JSON, plain text and error statuses.

``SiteServer`` runs it in a thread (``ThreadingHTTPServer``) on a free port and records every
request it answers, so tests can check what was really fetched.

Example:
    ```python
    with SiteServer() as site:                        # or `async with`
        tasks = site_tasks(site.url)                  # Tasks: question + start URL, expected answer
        ...
        site.requests                                 # [("GET", "/"), ("GET", "/parks/"), ...]
    ```
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
from collections.abc import Iterable
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from agentscale.errors import ConfigError
from agentscale.graphs.web._html import parse_html
from agentscale.types import Task

__all__ = ["SITE_DIR", "SITE_QUESTIONS", "SiteServer", "load_site_questions", "site_tasks", "web_task"]

SITE_DIR = Path(str(files("agentscale.graphs.web"))) / "site"
"""The site's static pages."""

_DATA = Path(str(files("agentscale.graphs.web"))) / "site_data.json"
_QUESTIONS = Path(str(files("agentscale.graphs.web"))) / "site_questions.json"


def load_site_questions() -> list[dict[str, Any]]:
    """The site's questions: ``id``, ``question``, ``answer``, optional ``accept`` (other right
    answers) and ``start`` (the path to start from)."""
    return json.loads(_QUESTIONS.read_text())


SITE_QUESTIONS: list[dict[str, Any]] = load_site_questions()
"""The 20 questions of the bundled site (see ``load_site_questions``)."""


def site_tasks(base_url: str, ids: Iterable[str] | None = None) -> list[Task]:
    """The site's questions as ``Task``s for a site served at ``base_url``.

    Each task's prompt is the question and the URL to start from; ``expected`` is the answer
    and ``metadata["accept"]`` other answers that count.

    Raises:
        ConfigError: an id that is not one of the site's questions.
    """
    questions = {q["id"]: q for q in load_site_questions()}
    chosen = list(questions) if ids is None else list(ids)
    unknown = [i for i in chosen if i not in questions]
    if unknown:
        raise ConfigError(f"unknown site question {unknown[0]!r}; the questions are: {', '.join(questions)}")
    base = base_url.rstrip("/")
    return [web_task(questions[i]["question"], base + questions[i].get("start", "/"), questions[i]["answer"],
                     accept=questions[i].get("accept", ()), task_id=f"site/{i}") for i in chosen]


def web_task(question: str, start_url: str, answer: str | None = None, *, accept: Iterable[str] = (),
             task_id: str | None = None) -> Task:
    """A web question as a ``Task``: the prompt says where to start."""
    prompt = f"{question.strip()}\n\nStart at {start_url} and answer with the short answer only."
    metadata: dict[str, Any] = {"start_url": start_url, "question": question.strip()}
    if accept:
        metadata["accept"] = list(accept)
    return Task(prompt=prompt, expected=answer, metadata=metadata, **({"id": task_id} if task_id else {}))


@cache
def _data() -> dict[str, Any]:
    return json.loads(_DATA.read_text())


@cache
def _index() -> list[tuple[str, str, str]]:
    """(path, title, text) of every static page, for the search."""
    out = []
    for path in sorted(SITE_DIR.rglob("*.html")):
        rel = "/" + path.relative_to(SITE_DIR).as_posix()
        doc = parse_html(path.read_text(), "http://site" + rel)
        text = doc.text
        if (start := text.find("\n# ")) >= 0:  # from the page's heading on: the menu bar above it is on every page
            text = text[start + 1:]
        out.append((rel.removesuffix("index.html"), doc.title, text))
    return out


def _page(title: str, body: str) -> bytes:
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head><body>'
            f'<header><a href="/">Maplewood</a> | <a href="/search">Search</a></header><main>{body}</main>'
            "</body></html>").encode()


def _search(query: str) -> bytes:
    words = [w for w in re.findall(r"\w+", query.lower()) if len(w) > 1]
    form = ('<form action="/search" method="get"><input type="text" name="q" value="'
            f'{html.escape(query)}"><button type="submit">Search</button></form>')
    if not words:
        return _page("Search", f"<h1>Search the site</h1>{form}")
    scored = []
    for path, title, text in _index():
        body = (title + " " + text).lower()
        score = sum(body.count(w) for w in words) + 5 * sum(w in title.lower() for w in words)
        if score and all(w in body for w in words[:3]):
            scored.append((score, path, title, text))
    scored.sort(key=lambda s: (-s[0], s[1]))
    items = []
    for _, path, title, text in scored[:8]:
        low = text.lower()
        i = max(0, low.find(words[0]) - 60)
        snippet = " ".join(text[i:i + 160].split())
        items.append(f'<li><a href="{path}">{html.escape(title)}</a>: {html.escape(snippet)}</li>')
    listing = f"<ol>{''.join(items)}</ol>" if items else "<p>No pages match.</p>"
    return _page(f"Search: {query}", f"<h1>Results for {html.escape(query)}</h1>{listing}{form}")


def _catalogue(title: str, branch: str) -> bytes:
    title_l, branch_l = title.strip().lower(), (branch or "all").strip().lower()
    rows = [b for b in _data()["catalogue"]
            if title_l and title_l in b["title"].lower() and branch_l in ("all", "", b["branch"])]
    if not rows:
        body = f"<p>No books match {html.escape(title)!s} ({html.escape(branch_l)}).</p>"
    else:
        cells = "".join(
            f"<tr><td>{html.escape(b['title'])}</td><td>{html.escape(b['author'])}</td><td>{b['branch']}</td>"
            f"<td>{b['available']}</td><td>{b['shelf']}</td></tr>" for b in rows)
        body = ("<table><tr><th>Title</th><th>Author</th><th>Branch</th><th>Copies available</th><th>Shelf</th></tr>"
                f"{cells}</table>")
    back = '<p><a href="/library/catalogue.html">New search</a></p>'
    return _page("Catalogue results", f"<h1>Catalogue: {html.escape(title)}</h1>{body}{back}")


def _parcel(number: str) -> bytes:
    key = number.strip().upper()
    parcel = _data()["parcels"].get(key)
    if parcel is None:
        body = f"<p>No parcel has the tracking number {html.escape(number)}. Numbers look like MW-1234.</p>"
    else:
        body = (f"<table><tr><th>Tracking number</th><td>{key}</td></tr>"
                f"<tr><th>Status</th><td>{parcel['status']}</td></tr><tr><th>Details</th><td>{parcel['detail']}</td></tr>"
                f"<tr><th>Delivery attempts</th><td>{parcel['attempts']}</td></tr></table>")
    return _page(f"Parcel {key}", f"<h1>Parcel tracking</h1>{body}<p><a href=\"/parcels.html\">Track another</a></p>")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        return  # requests are recorded in server.requests instead of printed

    def _send(self, status: int, body: bytes, ctype: str = "text/html; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _record(self, body: str = "") -> tuple[str, dict[str, list[str]]]:
        parts = urlsplit(self.path)
        with self.server.lock:
            self.server.requests.append((self.command, self.path if not body else f"{self.path} {body}"))
        return parts.path, parse_qs(parts.query)

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        path, query = self._record()
        if path.startswith("/edge/"):
            return self._edge(path, query)
        if path == "/search":
            return self._send(200, _search(query.get("q", [""])[0]))
        if path == "/library/catalogue":
            return self._send(200, _catalogue(query.get("title", [""])[0], query.get("branch", ["all"])[0]))
        file = self._static(path)
        if file is None:
            missing = f"<h1>Page not found</h1><p>{html.escape(path)} does not exist.</p>"
            return self._send(404, _page("Not found", missing))
        self._send(200, file.read_bytes())

    def do_POST(self) -> None:  # noqa: N802 - the base class's name
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(min(length, 65536)).decode("utf-8", "replace")
        path, _ = self._record(raw)
        form = parse_qs(raw)
        if path == "/parcels/track":
            return self._send(200, _parcel(form.get("tracking", [""])[0]))
        if path == "/edge/echo":
            return self._send(200, json.dumps(form).encode(), "application/json")
        self._send(405, _page("Not allowed", "<p>This page does not take forms.</p>"))

    def _static(self, path: str) -> Path | None:
        rel = path.lstrip("/")
        if rel == "" or rel.endswith("/"):
            rel += "index.html"
        target = (SITE_DIR / rel).resolve()
        if not target.is_relative_to(SITE_DIR.resolve()) or not target.is_file():
            return None
        return target

    def _edge(self, path: str, query: dict[str, list[str]]) -> None:  # noqa: C901 - one branch per edge case
        arg = query.get("n", ["1"])[0]
        if path == "/edge/redirect-loop":
            return self._send(302, b"", headers={"Location": "/edge/redirect-loop-2"})
        if path == "/edge/redirect-loop-2":
            return self._send(302, b"", headers={"Location": "/edge/redirect-loop"})
        if path == "/edge/redirect":  # n hops, then the home page
            n = int(arg)
            target = "/" if n <= 1 else f"/edge/redirect?n={n - 1}"
            return self._send(302, b"", headers={"Location": target})
        if path == "/edge/redirect-away":
            return self._send(302, b"", headers={"Location": "http://example.org/"})
        if path == "/edge/slow":  # answers after n seconds
            time.sleep(min(float(arg), 30))
            return self._send(200, _page("Slow", "<p>finally</p>"))
        if path == "/edge/drip":  # headers at once, then one byte a second for n seconds
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            for _ in range(min(int(arg), 60)):
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(1)
            self.close_connection = True
            return
        if path == "/edge/huge":  # n megabytes of HTML, streamed (no length)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            chunk = b"<p>" + b"All work and no play makes a dull page. " * 25 + b"</p>\n"
            sent, total = 0, int(float(arg) * 1_000_000)
            try:
                self.wfile.write(b"<html><head><title>Huge</title></head><body><h1>Huge page</h1>")
                while sent < total:
                    self.wfile.write(chunk)
                    sent += len(chunk)
                with self.server.lock:
                    self.server.bytes_sent[path] = sent
            except OSError:  # the client stopped reading: what the byte cap is for
                with self.server.lock:
                    self.server.bytes_sent[path] = sent
            self.close_connection = True
            return
        if path == "/edge/binary":
            return self._send(200, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40, "image/png")
        if path == "/edge/json":
            return self._send(200, json.dumps({"name": "Maplewood", "population": 38000}).encode(), "application/json")
        if path == "/edge/text":
            return self._send(200, b"Plain text: the ferry leaves at noon.\n", "text/plain; charset=utf-8")
        if path == "/edge/latin1":
            return self._send(200, "<p>Caf\u00e9 cr\u00e8me</p>".encode("latin-1"), "text/html; charset=iso-8859-1")
        if path == "/edge/status":
            code = int(arg)
            return self._send(code, _page(f"Status {code}", f"<p>This page answers with status {code}.</p>"))
        self._send(404, _page("Not found", "<p>No such edge case.</p>"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that hung up (a timeout, a byte cap) is expected here, not worth a traceback

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self.bytes_sent: dict[str, int] = {}


class SiteServer:
    """The bundled site on ``127.0.0.1`` (a free port unless ``port`` is given), in a thread.

    A sync or async context manager. ``url`` is its base URL; ``requests`` every request answered
    (method and path, with a POST's body), ``bytes_sent`` what ``/edge/huge`` managed to send.
    """

    def __init__(self, port: int = 0) -> None:
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[tuple[str, str]]:
        """The requests answered so far."""
        with self._server.lock:
            return list(self._server.requests)

    @property
    def bytes_sent(self) -> dict[str, int]:
        """Bytes of the huge page sent before the client stopped reading (per path)."""
        with self._server.lock:
            return dict(self._server.bytes_sent)

    def start(self) -> SiteServer:
        """Serve in a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, name="site-server", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> SiteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> SiteServer:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        self.stop()
