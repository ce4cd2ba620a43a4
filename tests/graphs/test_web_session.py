"""The web tools against real pages: a real HTTP server on 127.0.0.1 sees every request."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest

from agentscale.errors import ConfigError, ToolError
from agentscale.graphs.web import SITE_DIR, SITE_QUESTIONS, HostPolicy, SiteServer, WebLimits, WebSession, web_tools
from agentscale.graphs.web._html import parse_html
from agentscale.graphs.web.site import site_tasks
from agentscale.protocols import Tool
from agentscale.rollout import RolloutContext


@pytest.fixture(scope="module")
def site():
    with SiteServer() as server:
        yield server


@pytest.fixture
async def web():
    async with WebSession(WebLimits(timeout=2.0)) as session:
        yield session


def _seen(site, since):
    return site.requests[since:]


async def test_pages_are_really_fetched_and_links_followed(site, web):
    since = len(site.requests)
    page = await web.open(site.url + "/")
    assert page.status == 200 and page.title == "Maplewood Town Portal"
    shown = web.render(page)
    assert "Parks and gardens [11]" in shown and "form 1 (GET" in shown
    await web.follow(11)
    page = await web.follow(8)  # relative links resolve against the page: /parks/ + riverside-park.html
    assert page.url == site.url + "/parks/riverside-park.html"
    assert "Area | 14 hectares" in web.render(page)
    assert _seen(site, since) == [("GET", "/"), ("GET", "/parks/"), ("GET", "/parks/riverside-park.html")]


async def test_get_form_sends_fields_and_defaults(site, web):
    await web.open(site.url + "/library/catalogue.html")
    since = len(site.requests)
    page = await web.submit(1, {"title": "quiet orchard", "branch": "North"})  # an option matched case-insensitively
    assert _seen(site, since) == [("GET", "/library/catalogue?title=quiet+orchard&branch=north")]
    assert "The Quiet Orchard | Mara Ellison | north | 3 | F-ELL" in page.text
    assert "harbour" not in page.text


async def test_post_form_keeps_hidden_fields(site, web):
    await web.open(site.url + "/parcels.html")
    since = len(site.requests)
    page = await web.submit("1", {"tracking": "mw-4471"})
    assert _seen(site, since) == [("POST", "/parcels/track tracking=mw-4471&source=portal")]
    assert "Delivered to the front desk of the Town Hall on 3 May." in page.text


async def test_form_mistakes_are_explained(site, web):
    with pytest.raises(ToolError, match="No page is open yet"):
        await web.submit(1, {})
    await web.open(site.url + "/library/catalogue.html")
    with pytest.raises(ToolError, match=r"has no field 'author'; its fields are: title, branch"):
        await web.submit(1, {"author": "x"})
    with pytest.raises(ToolError, match=r"'branch' takes one of: all, north, east, harbour; not 'west'"):
        await web.submit(1, {"title": "x", "branch": "west"})
    with pytest.raises(ToolError, match="There is no form 2 on this page: its forms are numbered 1 to 1"):
        await web.submit(2, {})
    await web.open(site.url + "/parks/")
    with pytest.raises(ToolError, match="has no forms"):
        await web.submit(1, {"q": "x"})


@pytest.mark.parametrize("bad", [0, 99, "abc", True, -1, 2.5])
async def test_bad_link_numbers_are_explained(site, web, bad):
    await web.open(site.url + "/parks/")
    requests = len(site.requests)
    with pytest.raises(ToolError, match="no link|must be a number"):
        await web.follow(bad)
    assert len(site.requests) == requests  # nothing was fetched


async def test_link_numbers_as_the_model_writes_them(site, web):
    await web.open(site.url + "/parks/")
    assert (await web.follow("[9]")).url.endswith("/parks/oak-hill.html")


async def test_find_searches_the_whole_page(site):
    async with WebSession(WebLimits(max_chars=1000)) as web:
        page = await web.open(site.url + "/library/hours.html")
        assert "[Showing" not in web.render(page)
        await web.open(site.url + "/services/waste.html")
        assert "3 matches for 'thursday'" in web.find("thursday")
        assert "Ward | General waste | Glass | Garden waste / Elm | Monday | Thursday | Friday" in web.find("Elm")
        assert web.find("glass elm ward").startswith("No exact match for 'glass elm ward'; lines with some")
        assert web.find("zebra crossing").startswith("No match for 'zebra crossing'")
        with pytest.raises(ToolError, match="needs some text"):
            web.find("  ")


async def test_long_pages_are_shown_in_part_and_found_whole(site):
    async with WebSession(WebLimits(max_chars=400)) as web:
        page = await web.open(site.url + "/council/")
        shown = web.render(page)
        assert "[Showing" in shown and "use find_in_page" in shown
        assert "meetings and minutes [" not in shown  # past the cut...
        assert "meetings and minutes [" in web.find("meetings and minutes")  # ...but found


async def test_go_back_shows_the_earlier_page_without_fetching(site, web):
    with pytest.raises(ToolError, match="no earlier page"):
        web.back()
    await web.open(site.url + "/parks/")
    await web.follow(9)
    requests = len(site.requests)
    assert web.back().url == site.url + "/parks/"
    assert len(site.requests) == requests
    with pytest.raises(ToolError, match="no earlier page"):
        web.back()


async def test_redirects_are_followed_and_bounded(site, web):
    page = await web.open(site.url + "/edge/redirect?n=3")
    assert page.url == site.url + "/" and any("Redirected from" in n for n in page.notes)
    since = len(site.requests)
    with pytest.raises(ToolError, match=r"Too many redirects \(more than 5\)"):
        await web.open(site.url + "/edge/redirect-loop")
    assert len(_seen(site, since)) == 6  # the first request and 5 hops, then it stopped
    assert web.current.url == site.url + "/"  # still on the last good page


async def test_a_redirect_to_another_host_is_refused(site, web):
    with pytest.raises(ToolError, match="example.org is not an allowed host"):
        await web.open(site.url + "/edge/redirect-away")


async def test_slow_and_dripping_pages_time_out(site):
    async with WebSession(WebLimits(timeout=0.8)) as web:
        for path in ("/edge/slow?n=3", "/edge/drip?n=5"):
            started = time.monotonic()
            with pytest.raises(ToolError, match="did not answer within 0.8 s"):
                await web.open(site.url + path)
            assert time.monotonic() - started < 2.5


async def test_huge_pages_are_read_up_to_the_cap(site):
    async with WebSession(WebLimits(max_bytes=100_000, timeout=10)) as web:
        page = await web.open(site.url + "/edge/huge?n=200")
        assert "Only the first 100,000 bytes of this page were read." in web.render(page)
        assert 90_000 < len(page.text) < 100_000
    for _ in range(50):  # the server notices the hang-up when its next write fails
        if "/edge/huge" in site.bytes_sent:
            break
        await asyncio.sleep(0.1)
    assert site.bytes_sent["/edge/huge"] < 50_000_000  # of 200 MB: the download stopped


async def test_non_html_bodies(site, web):
    page = await web.open(site.url + "/edge/json")
    assert page.content_type == "application/json"
    assert json.loads(page.text) == {"name": "Maplewood", "population": 38000} and "\n  " in page.text
    page = await web.open(site.url + "/edge/text")
    assert "(text/plain)" in web.render(page) and "ferry leaves at noon" in page.text
    assert "Café crème" in (await web.open(site.url + "/edge/latin1")).text
    with pytest.raises(ToolError, match=r"is not a page I can read: it is image/png \(10,248 bytes\)"):
        await web.open(site.url + "/edge/binary")


@pytest.mark.parametrize("status", [404, 500, 403])
async def test_http_errors_are_observations(site, web, status):
    await web.open(site.url + "/parks/")
    with pytest.raises(ToolError, match=rf"HTTP {status} .*status {status}.*still on {site.url}/parks/"):
        await web.open(f"{site.url}/edge/status?n={status}")
    assert web.current.url == site.url + "/parks/"


async def test_connection_refused_is_an_observation(web):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ToolError, match=rf"Could not connect to 127.0.0.1:{port} \(connection refused\)"):
        await web.open(f"http://127.0.0.1:{port}/")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/", "http://10.0.0.1/", "http://169.254.169.254/",
                                 "http://example.org/", "javascript:alert(1)"])
async def test_only_allowed_hosts_and_schemes(web, url):
    with pytest.raises(ToolError, match="not an allowed host|Only http and https"):
        await web.open(url)
    assert web.requests <= 1 and web.current is None


def test_host_policy():
    loop = HostPolicy()
    assert loop.allows("127.0.0.1") and loop.allows("127.8.9.1") and loop.allows("[::1]") and loop.allows("localhost")
    assert not loop.allows("10.0.0.1") and not loop.allows("example.org") and not loop.allows("localhost.evil.org")
    wiki = HostPolicy(("*.wikipedia.org", "docs.python.org"))
    assert wiki.allows("en.wikipedia.org") and wiki.allows("wikipedia.org") and wiki.allows("docs.python.org")
    assert not wiki.allows("evilwikipedia.org") and not wiki.allows("127.0.0.1")
    assert HostPolicy(("*",)).allows("anything.example")
    with pytest.raises(ConfigError, match="allow_hosts is a list"):
        HostPolicy("example.org")  # type: ignore[arg-type]


async def test_page_and_time_limits(site):
    async with WebSession(WebLimits(max_pages=2)) as web:
        await web.open(site.url + "/")
        await web.follow(11)
        with pytest.raises(ToolError, match=r"page limit is reached \(2 requests"):
            await web.follow(4)
    async with WebSession(WebLimits(max_seconds=0.6, timeout=5)) as web:
        with pytest.raises(ToolError, match="did not answer within 0.6 s"):
            await web.open(site.url + "/edge/slow?n=2")
        with pytest.raises(ToolError, match="time for web requests is used up"):
            await web.open(site.url + "/")


async def test_urls_as_models_write_them(site, web):
    host = site.url.removeprefix("http://")
    assert (await web.open(host + "/parks/")).url == site.url + "/parks/"
    assert (await web.open("oak-hill.html")).url == site.url + "/parks/oak-hill.html"
    with pytest.raises(ToolError, match="needs a URL"):
        await web.open("")


async def test_the_tools_act_on_their_session(site, web):
    tools = {t.name: t for t in web_tools(web)}
    assert all(isinstance(t, Tool) for t in tools.values())
    run = RolloutContext()
    assert "Page: Maplewood Town Portal" in await tools["open_url"]({"url": site.url + "/"}, run)
    assert "Page: Track a parcel" in await tools["follow_link"]({"number": 15}, run)
    out = await tools["submit_form"]({"fields": '{"tracking": "MW-9902"}'}, run)  # the object as a JSON string
    assert "Delivery attempts | 2" in out
    assert "Delivery attempts | 2" in await tools["find_in_page"]({"text": "attempts"}, run)
    assert "Page: Track a parcel" in await tools["go_back"]({}, run)
    with pytest.raises(ToolError, match="Missing argument 'number'"):
        await tools["follow_link"]({}, run)
    with pytest.raises(ToolError, match="fields must be an object"):
        await tools["submit_form"]({"fields": "tracking=1"}, run)


def test_html_to_text():
    doc = parse_html(
        """<html><head><title>T</title><style>.x{}</style><script>var a = "<a href='/no'>";</script></head><body>
        <nav><a href="/">Home</a></nav><h2>Hours</h2><table><tr><th>Day<th>Open</tr><tr><td>Mon<td>9-5</tr></table>
        <div hidden><div>secret</div><p>also secret</p></div><p>Shown <a href="a b.html">next&nbsp;page</a>
        <a href="javascript:void(0)">js</a><img alt="a map"></p>
        <form method=post action="/send"><input name=q value="x"><select name=s><option>a<option selected>b</select>
        <input type=checkbox name=c value=yes checked><input type=radio name=r value=1>
        <input type=radio name=r value=2 checked>
        <textarea name=t>hi</textarea><input type=submit name=go value=Send></form></body></html>""",
        "http://h/dir/page.html",
    )
    assert doc.title == "T"
    assert "secret" not in doc.text and "var a" not in doc.text and ".x" not in doc.text
    assert "## Hours\n\nDay | Open\nMon | 9-5" in doc.text
    assert "Shown next page [2] js [image: a map]" in doc.text
    assert [(link.number, link.text, link.url) for link in doc.links] == [
        (1, "Home", "http://h/"), (2, "next page", "http://h/dir/a%20b.html")
    ] or doc.links[1].url == "http://h/dir/a b.html"
    form = doc.forms[0]
    assert (form.method, form.action) == ("POST", "http://h/send")
    assert [(f.name, f.kind, f.value, f.options) for f in form.fields] == [
        ("q", "text", "x", []), ("s", "select", "b", ["a", "b"]), ("c", "checkbox", "yes", []),
        ("r", "radio", "2", ["1", "2"]), ("t", "textarea", "hi", []), ("go", "submit", "Send", []),
    ]


def test_malformed_html_is_read_as_well_as_possible():
    doc = parse_html("<p>unclosed <b>bold <a href='/x'>link<div><<>><p>after</td></tr></table>", "http://h/")
    assert "unclosed bold link [1]" in doc.text and "after" in doc.text


def test_site_has_questions_with_answers_on_its_pages():
    assert len(SITE_QUESTIONS) >= 15
    assert len({q["id"] for q in SITE_QUESTIONS}) == len(SITE_QUESTIONS)
    pages = list(SITE_DIR.rglob("*.html"))
    assert len(pages) > 2 * len(SITE_QUESTIONS) // 2  # more pages than the questions need
    corpus = " ".join(p.read_text() for p in pages) + (SITE_DIR.parent / "site_data.json").read_text()
    for q in SITE_QUESTIONS:
        assert q["answer"] in corpus, q["id"]
    tasks = site_tasks("http://127.0.0.1:1234", ["fair-park-year"])
    assert tasks[0].id == "site/fair-park-year" and tasks[0].expected == "2005"
    assert "Start at http://127.0.0.1:1234/" in tasks[0].prompt
    with pytest.raises(ConfigError, match="unknown site question 'nope'"):
        site_tasks("http://x", ["nope"])
