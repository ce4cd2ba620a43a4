"""A real browser for MiniWoB++ tasks: headless Chromium driven through Selenium, offline.

``Browser`` runs one Chromium (Debian's ``chromium`` and ``chromium-driver``, found on ``PATH``;
``scripts/chromium-deps.sh`` installs them) with a fresh profile, loads a MiniWoB++ task page
from the ``miniwob`` package's own HTML (``file://``, no server, no network), starts an episode
with a seed, reads the page's elements (``core.getDOMInfo()``: ref, tag, id, text, value) and
acts on them: click an element, type text into one, press a key. Episodes get a long timer
(``episode_seconds``): a slow model must not lose the episode to MiniWoB's 10-second clock.
``BrowserPool`` starts browsers as they are needed (at most ``size``) and lends them out.

Selenium is blocking, so every call runs in a worker thread (``asyncio.to_thread``); one browser
serves one episode at a time.
"""

from __future__ import annotations

import asyncio
import atexit
import colorsys
import datetime
import importlib.util
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentscale.errors import ConfigError, ToolError

__all__ = [
    "CHROME_FLAGS", "Browser", "BrowserPool", "Element", "Observation", "chromium_paths", "color_name",
    "date_value", "is_field", "miniwob_html_dir", "time_value",
]

CHROME_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=800,600",
)
"""Chromium's flags: headless, no network of its own (no updates, sync or background fetches)."""

_KEYS = {
    "enter": "\ue007", "return": "\ue007", "tab": "\ue004", "backspace": "\ue003", "escape": "\ue00c",
    "esc": "\ue00c", "space": " ", "delete": "\ue017", "arrowup": "\ue013", "arrowdown": "\ue015",
    "arrowleft": "\ue012", "arrowright": "\ue014", "up": "\ue013", "down": "\ue015", "left": "\ue012",
    "right": "\ue014", "home": "\ue011", "end": "\ue010", "pageup": "\ue00e", "pagedown": "\ue00f",
}
_INTERACTIVE = ("button", "a", "input", "select", "textarea", "option", "label")
_NAMED_BY_TEXT = ("label", "button", "a")
_SCAFFOLD_ID = re.compile(r"wrap|area|query|ui-id-\d+")
_LAYOUT_CLASSES = frozenset({"spacer", "clear", "clearfix", "hidden", "hide", "row", "col", "container", "wrapper"})
_DOM_INFO = """
var info = core.getDOMInfo(), selects = {};
for (var ref in core.previousDOMInfo) {
  var el = core.previousDOMInfo[ref];
  if (el instanceof HTMLSelectElement) {
    var chosen = Array.from(el.selectedOptions).map(function (o) { return o.text.trim(); });
    selects[ref] = {options: Array.from(el.options).map(function (o) { return o.text.trim(); }),
                    value: chosen.length ? chosen.join(", ") : null};
  }
}
return [info, selects];
"""
_MODIFIERS = {"ctrl": "\ue009", "control": "\ue009", "shift": "\ue008", "alt": "\ue00a", "meta": "\ue03d"}


def chromium_paths() -> tuple[str, str]:
    """``(chromium, chromedriver)`` found on ``PATH``.

    Raises:
        ConfigError: either is missing (with how to install them).
    """
    chrome = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    driver = shutil.which("chromedriver")
    if not chrome or not driver:
        missing = " and ".join(n for n, p in (("chromium", chrome), ("chromedriver", driver)) if not p)
        raise ConfigError(f"MiniWoB++ needs {missing}: run scripts/chromium-deps.sh "
                          "(apt-get install chromium chromium-driver)")
    return chrome, driver


def miniwob_html_dir() -> Path:
    """The MiniWoB++ task pages inside the installed ``miniwob`` package (found without importing it).

    Raises:
        ConfigError: the package is not installed.
    """
    spec = importlib.util.find_spec("miniwob")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("MiniWoB++ needs the miniwob package: pip install 'agentscale[web]'")
    html = Path(next(iter(spec.submodule_search_locations))) / "html" / "miniwob"
    if not html.is_dir():
        raise ConfigError(f"the miniwob package has no task pages at {html}")
    return html


@dataclass(frozen=True)
class Element:
    """One element of the task's page: ``ref`` is what actions name."""

    ref: int
    tag: str
    text: str = ""
    id: str = ""
    value: Any = None
    classes: str = ""
    focused: bool = False
    depth: int = 0
    leaf: bool = True
    color: str = ""
    options: tuple[str, ...] = ()


@dataclass
class Observation:
    """What the page shows: the instruction, the elements, and the episode's state."""

    utterance: str
    elements: list[Element] = field(default_factory=list)
    done: bool = False
    reward: float = 0.0
    raw_reward: float = 0.0
    reason: Any = None

    def render(self, max_elements: int = 80) -> str:
        """The page for the model: the task, then one line per element worth acting on or reading."""
        lines = [f"Task: {self.utterance}"]
        if self.done:
            lines.append(f"The episode is over: reward {self.raw_reward:g}.")
            return "\n".join(lines)
        lines.append("Elements ([ref] tag #id \"text\" value=...):")
        listed = [e for e in self.elements if _worth_listing(e)]
        class_counts = Counter(c for e in listed for c in set(e.classes.split()))
        shown = 0
        for e in listed:
            if shown >= max_elements:
                lines.append(f"... more elements not shown ({len(self.elements)} in all)")
                break
            bits = [f"[{e.ref}] {e.tag}" if e.ref > 0 else "text"]
            if e.id:
                bits.append(f"#{e.id}")
            elif not e.text and e.classes:
                bits.append(_class_label(e.classes.split(), class_counts))
            if e.text and not (isinstance(e.value, str) and e.text in " ".join(e.value.split())):
                bits.append(f'"{e.text[:80]}"')  # a text area's text is its value, shown once
            if e.value not in (None, ""):
                bits.append(f"value={e.value!r}")
            if e.options:
                more = len(e.options) - _OPTIONS_SHOWN
                bits.append("options: " + ", ".join(f'"{o[:40]}"' for o in e.options[:_OPTIONS_SHOWN])
                            + (f" (+{more} more)" if more > 0 else ""))
            if e.color and not e.text:
                bits.append(f"color={e.color}")
            if e.focused:
                bits.append("(focused)")
            lines.append(" ".join(bits))
            shown += 1
        return "\n".join(lines)


def _class_label(classes: list[str], counts: Counter[str]) -> str:
    """An element known by its classes: the first, and the first that no other listed element has when
    the first is shared (a spinner's two arrows: ``.ui-button.ui-spinner-up``, ``.ui-button.ui-spinner-down``)."""
    own = next((c for c in classes if counts[c] == 1), None) if counts[classes[0]] > 1 else None
    return "." + classes[0] + (f".{own}" if own and own != classes[0] else "")


def _worth_listing(e: Element) -> bool:
    """Whether the model should see ``e``: something to act on or read. An empty container is not,
    even with an id (MiniWoB's ``#wrap``, ``#area``: small models clicked them first); an empty leaf
    with a colour, a value or an id that means something may be the target (a swatch, a field, a
    grid point ``#(-2,1)``), and so may an icon named by a one-word class (``.star``, ``.reply``);
    one whose id is the page's scaffolding or generated (``#area`` once the dialog left it, jQuery
    UI's ``#ui-id-1``), or whose class is a widget's part (``.ui-resizable-handle``), is not."""
    if e.tag.startswith(_INTERACTIVE) or e.text:
        return True
    meaningful_id = bool(e.id) and not _SCAFFOLD_ID.fullmatch(e.id)
    word = (e.classes.split() or [""])[0]
    icon = word.isalpha() and word.lower() not in _LAYOUT_CLASSES
    return e.leaf and (meaningful_id or e.value not in (None, "") or bool(e.color) or icon)


# CSS colour names a task may say ("Click on the grey colored box"), by their computed rgb()
_COLOR_NAMES = {
    (0, 0, 0): "black", (255, 255, 255): "white", (255, 0, 0): "red", (0, 128, 0): "green", (0, 255, 0): "lime",
    (0, 0, 255): "blue", (255, 255, 0): "yellow", (0, 255, 255): "cyan", (255, 0, 255): "magenta",
    (128, 128, 128): "grey", (192, 192, 192): "silver", (128, 0, 0): "maroon", (128, 128, 0): "olive",
    (128, 0, 128): "purple", (0, 128, 128): "teal", (0, 0, 128): "navy", (255, 165, 0): "orange",
    (255, 192, 203): "pink", (165, 42, 42): "brown", (255, 215, 0): "gold", (238, 130, 238): "violet",
    (75, 0, 130): "indigo", (245, 245, 220): "beige", (210, 180, 140): "tan", (250, 128, 114): "salmon",
    (255, 127, 80): "coral", (64, 224, 208): "turquoise", (240, 230, 140): "khaki", (230, 230, 250): "lavender",
    (211, 211, 211): "lightgrey", (169, 169, 169): "darkgrey", (173, 216, 230): "lightblue",
    (144, 238, 144): "lightgreen", (0, 100, 0): "darkgreen", (0, 0, 139): "darkblue", (139, 0, 0): "darkred",
}
_OPTIONS_SHOWN = 20


def color_name(css: Any) -> str:
    """A computed CSS background (``rgb(128, 128, 128)``) as the name a task would use (``grey``);
    without a common name, the ``rgb()`` and the family it is a shade of; ``""`` when transparent.

    Example:
        >>> color_name("rgb(128, 128, 128)"), color_name("rgba(0, 0, 0, 0)"), color_name("rgb(221, 182, 182)")
        ('grey', '', 'rgb(221, 182, 182) (red)')
    """
    numbers = re.findall(r"[\d.]+", str(css or ""))
    if len(numbers) < 3 or (len(numbers) >= 4 and float(numbers[3]) == 0):
        return ""
    r, g, b = (int(float(n)) for n in numbers[:3])
    return _COLOR_NAMES.get((r, g, b)) or f"rgb({r}, {g}, {b}) ({_shade_of(r, g, b)})"


_NOT_TYPED_INTO = frozenset({
    "button", "a", "label", "option", "input_checkbox", "input_radio", "input_button", "input_submit", "input_reset",
    "input_image", "input_file", "input_range", "input_color",
})


def is_field(e: Element) -> bool:
    """Whether ``e`` is a form field that takes text: a text-like input, a text area or a select list."""
    return e.tag.startswith(("input_", "textarea", "select")) and _takes_text(e)


def _takes_text(e: Element) -> bool:
    """Whether typing into ``e`` may make sense: not a button, link, label, box to tick or option
    (a ``div`` may be an editor: the page is asked, ``Browser._editable``)."""
    return e.tag not in _NOT_TYPED_INTO


def time_value(text: str) -> str | None:
    """A time as a time field holds it (``HH:MM``, 24-hour), or ``None`` when ``text`` is not one.

    Example:
        >>> time_value("8:04 PM"), time_value("12:30 am"), time_value("20:04"), time_value("7 pm"), time_value("25:00")
        ('20:04', '00:30', '20:04', '19:00', None)
    """
    m = re.fullmatch(r"\s*(\d{1,2})(?::(\d{2}))?\s*([ap])?\.?\s*m?\.?\s*", str(text), re.I)
    if not m or (m.group(2) is None and m.group(3) is None):
        return None
    hour, minute, half = int(m.group(1)), int(m.group(2) or 0), (m.group(3) or "").lower()
    if half:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half == "p" else 0)
    if hour > 23 or minute > 59:
        return None
    return f"{hour:02d}:{minute:02d}"


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def date_value(text: str) -> str | None:
    """A date as a date field holds it (``YYYY-MM-DD``), or ``None`` when ``text`` is not one.
    Numbers with slashes or dots are month first (``10/11/2011``, as MiniWoB's tasks write dates)
    unless the first cannot be a month; a month may be named (``Oct 11, 2011``, ``11 October 2011``).

    Example:
        >>> date_value("10/11/2011"), date_value("2011-10-11"), date_value("Oct 11, 2011"), date_value("25/12/2020")
        ('2011-10-11', '2011-10-11', '2011-10-11', '2020-12-25')
    """
    words = str(text).strip().lower().replace(",", " ")
    if m := re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", words):
        year, month, day = (int(g) for g in m.groups())
    elif m := re.fullmatch(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})", words):
        month, day, year = (int(g) for g in m.groups())
        if month > 12 >= day:
            month, day = day, month
    elif (m := re.fullmatch(r"([a-z]{3})[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?\s+(\d{4})", words)) or (
            m := re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]{3})[a-z]*\.?\s+(\d{4})", words)):
        name, number = (m.group(1), m.group(2)) if m.group(1).isalpha() else (m.group(2), m.group(1))
        if name not in _MONTHS:
            return None
        month, day, year = _MONTHS.index(name) + 1, int(number), int(m.group(3))
    else:
        return None
    try:
        return datetime.date(year, month, day).isoformat()
    except ValueError:
        return None


def _shade_of(r: int, g: int, b: int) -> str:
    hue, light, saturation = colorsys.rgb_to_hls(r / 255, g / 255, b / 255)
    if saturation < 0.12 or light > 0.95 or light < 0.06:
        return "white" if light > 0.9 else "black" if light < 0.1 else "grey"
    degrees = hue * 360
    for bound, family in ((15, "red"), (45, "orange"), (70, "yellow"), (165, "green"), (200, "cyan"),
                          (260, "blue"), (290, "purple"), (345, "pink")):
        if degrees < bound:
            return family
    return "red"


def _has_text(node: Mapping[str, Any]) -> bool:
    """Whether ``node`` or anything inside it shows text."""
    return bool(str(node.get("text") or "").strip()) or any(_has_text(c) for c in node.get("children") or [])


def _flatten(node: dict[str, Any], depth: int = 0, out: list[Element] | None = None,
             selects: Mapping[str, Any] | None = None) -> list[Element]:
    out, selects = ([] if out is None else out), (selects or {})
    children = node.get("children") or []
    text = node.get("text")
    tag = str(node["tag"]).lower()
    if children and all(c.get("tag") == "t" for c in children):  # miniwob's own fix: text-only children
        text, children = " ".join(str(c.get("text", "")) for c in children), []
    elif any(c.get("tag") == "t" for c in children) and (
            tag in _NAMED_BY_TEXT or not any(_has_text(c) for c in children if c.get("tag") != "t")):
        # <label><input type=checkbox> USa</label>, <button><span icon/> Close</button>, a menu item
        # <div>Alvera<span icon/></div>: named by their own text (else the text has no ref to click)
        text = " ".join(str(c.get("text", "")) for c in children if c.get("tag") == "t")
        children = [c for c in children if c.get("tag") != "t"]
    classes = node.get("classes", "")
    select = selects.get(str(node.get("ref")))  # a <select>: its options (closed, they have no box of their own)
    if select:
        children = []  # an open list's options are in its line: typing one chooses it, clicking it would not
    out.append(Element(
        ref=int(node["ref"]), tag=tag, text=" ".join(str(text or "").split()),
        id=str(node.get("id") or ""), value=select["value"] if select else node.get("value"),
        classes=classes if isinstance(classes, str) else "", focused=bool(node.get("focused")), depth=depth,
        leaf=not children, color="" if children or tag.startswith(_INTERACTIVE) else color_name(node.get("bgColor")),
        options=tuple(str(o) for o in select["options"]) if select else (),
    ))
    for child in children:
        _flatten(child, depth + 1, out, selects)
    return out


class Browser:
    """One headless Chromium with a fresh profile, for one MiniWoB++ episode at a time.

    Args:
        episode_seconds: the episode's clock (MiniWoB's default is 10 s, too short for a model on
            a CPU); the raw reward has no time penalty either way.
        page_timeout: seconds to wait for a task page to load.
    """

    def __init__(self, *, episode_seconds: float = 900.0, page_timeout: float = 30.0) -> None:
        self.episode_seconds = episode_seconds
        self.page_timeout = page_timeout
        self._driver: Any = None
        self._profile: str | None = None
        self._task: str | None = None
        self._html = miniwob_html_dir()
        self._shown: dict[int, Element] = {}  # the elements of the last observation, by ref

    # lifecycle (blocking parts run in a thread)
    async def start(self) -> Browser:
        """Start Chromium (a few seconds).

        Raises:
            ConfigError: Chromium, chromedriver or miniwob is missing, or Chromium does not start.
        """
        if self._driver is None:
            await asyncio.to_thread(self._start)
        return self

    def _start(self) -> None:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service

        chrome, driver = chromium_paths()
        options = webdriver.ChromeOptions()
        self._profile = tempfile.mkdtemp(prefix="agentscale-chromium-")
        for flag in (*CHROME_FLAGS, f"--user-data-dir={self._profile}"):
            options.add_argument(flag)
        options.binary_location = chrome  # with both paths given, Selenium never looks for a driver online
        try:
            self._driver = webdriver.Chrome(service=Service(executable_path=driver), options=options)
        except WebDriverException as exc:
            shutil.rmtree(self._profile, ignore_errors=True)
            raise ConfigError(f"Chromium did not start: {str(exc).splitlines()[0][:300]}") from exc
        self._driver.set_page_load_timeout(self.page_timeout)

    async def aclose(self) -> None:
        """Quit Chromium and remove its profile."""
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Quit Chromium and remove its profile (blocking)."""
        driver, self._driver = self._driver, None
        if driver is not None:
            try:
                driver.quit()
            except Exception:  # noqa: BLE001 - a browser that already died is closed enough
                pass
        if self._profile:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    # episodes
    async def begin(self, task: str, seed: int) -> Observation:
        """Load task ``task`` (e.g. ``"click-button"``) and start an episode with ``seed``.

        Raises:
            ConfigError: no such task.
        """
        await self.start()
        return await asyncio.to_thread(self._begin, task, seed)

    def _begin(self, task: str, seed: int) -> Observation:
        page = self._html / f"{task}.html"
        if not page.is_file():
            raise ConfigError(f"no MiniWoB++ task {task!r} (pages are in {self._html})")
        if self._task != task:
            self._driver.get(page.as_uri())
            self._wait("return typeof core !== 'undefined' && !!document.getElementById('sync-task-cover');")
            self._task = task
        self._driver.execute_script(
            f"core.EPISODE_MAX_TIME = {int(self.episode_seconds * 1000)}; core.endEpisode(0);"
            f"Math.seedrandom({int(seed)!r}); core.setDataMode('train'); core.startEpisodeReal();"
        )
        self._wait("return WOB_TASK_READY;")
        return self._observe()

    def _wait(self, script: str) -> None:
        deadline = time.monotonic() + self.page_timeout
        while not self._driver.execute_script(script):
            if time.monotonic() > deadline:
                raise ConfigError(f"the MiniWoB++ page did not get ready ({script})")
            time.sleep(0.05)

    async def observe(self) -> Observation:
        """The page now."""
        return await asyncio.to_thread(self._observe)

    def _observe(self) -> Observation:
        meta = self._metadata()
        utterance = self._driver.execute_script("return core.getUtterance();")
        if isinstance(utterance, dict):
            utterance = utterance.get("utterance", "")
        if meta["done"]:
            elements: list[Element] = []
        else:
            info, selects = self._driver.execute_script(_DOM_INFO)
            elements = _flatten(info, selects=selects)
        self._shown = {e.ref: e for e in elements if e.ref > 0}
        return Observation(utterance=str(utterance), elements=elements, done=bool(meta["done"]),
                           reward=float(meta["env_reward"] or 0), raw_reward=float(meta["raw_reward"] or 0),
                           reason=meta.get("reason"))

    def _metadata(self) -> dict[str, Any]:
        return self._driver.execute_script(
            "return {done: WOB_DONE_GLOBAL, env_reward: WOB_REWARD_GLOBAL, raw_reward: WOB_RAW_REWARD_GLOBAL,"
            " reason: WOB_REWARD_REASON};"
        )

    # actions: each returns the page after it
    async def click(self, ref: int) -> Observation:
        """Click element ``ref`` (MiniWoB's own ``core.elementClick``).

        Raises:
            ToolError: no such element, or the episode is over.
        """
        return await asyncio.to_thread(self._act, ref, None)

    async def type(self, ref: int | None, text: str) -> Observation:
        """Click element ``ref`` (when given) to focus it, then type ``text`` key by key, in place of
        what a text field held; into a select list, choose the option with that text.

        Raises:
            ToolError: no such element, or the episode is over.
        """
        return await asyncio.to_thread(self._act, ref, str(text))

    async def press(self, key: str, ref: int | None = None) -> Observation:
        """Press a key (``Enter``, ``Tab``, ``a``) or a combination (``ctrl+a``), on element ``ref``
        when given (it is focused first: Enter on a button presses it).

        Raises:
            ToolError: a key it does not know, no such element, or the episode is over.
        """
        return await asyncio.to_thread(self._press, key, ref)

    def _check(self, ref: int | None) -> None:
        if self._metadata()["done"]:
            raise ToolError("The episode is over: no action can change it now.")
        if ref is not None and ref not in self._shown:
            raise ToolError(f"There is no element [{ref}] on the page: use a ref from the element list.")

    def _act(self, ref: int | None, text: str | None) -> Observation:
        from selenium.webdriver.common.action_chains import ActionChains

        self._check(ref)
        target = self._shown.get(ref) if ref is not None else None
        typing_into = target if text is not None else None
        form_field = typing_into is not None and typing_into.tag.startswith(("input_", "textarea"))
        if typing_into is not None:
            if typing_into.tag == "select":
                return self._choose(typing_into.ref, text)
            if typing_into.tag == "input_time":
                return self._set_time(typing_into.ref, text)
            if typing_into.tag == "input_date":
                return self._set_date(typing_into.ref, text)
            if not _takes_text(typing_into) or not (form_field or self._editable(typing_into.ref)):
                self._not_a_field(typing_into.ref)
        if ref is not None:
            result = self._driver.execute_script(f"return core.elementClick({int(ref)});")
            if result is not True:
                raise ToolError(f"Clicking [{ref}] failed: {result}")
        if form_field and typing_into.value:
            # typing sets the field (as Playwright's fill does): typed after what is there, a second
            # try at the answer made "JeraldJerald", and small models type an answer again often
            self._driver.execute_script(
                "var el = core.previousDOMInfo[arguments[0]]; el.value = '';"
                "el.dispatchEvent(new Event('input', {bubbles: true}));", int(typing_into.ref))
        elif typing_into is not None and not form_field:
            # an editor's text: a script's click moves no caret, so the keys would go nowhere; type at its end
            self._driver.execute_script(
                "var el = core.previousDOMInfo[arguments[0]], editor = el.closest('[contenteditable]') || el;"
                "editor.focus(); var range = document.createRange(); range.selectNodeContents(el);"
                "range.collapse(false); var sel = getSelection(); sel.removeAllRanges(); sel.addRange(range);",
                int(typing_into.ref))
        if text is not None:
            chain = ActionChains(self._driver, duration=0)
            for ch in text:
                chain.key_down(ch).key_up(ch)
            chain.perform()
        return self._observe()

    def _choose(self, ref: int, text: str) -> Observation:
        """Typing into a select list chooses the option with that text (exact, then ignoring case and
        spaces, then the one option that starts with it), as a change the page hears; in a list that
        takes several, it is added to those chosen."""
        options = self._shown[ref].options
        wanted = " ".join(text.split()).casefold()
        index = next((i for i, o in enumerate(options) if o == text), None)
        if index is None:
            index = next((i for i, o in enumerate(options) if " ".join(o.split()).casefold() == wanted), None)
        if index is None:
            starts = [i for i, o in enumerate(options) if wanted and o.casefold().startswith(wanted)]
            index = starts[0] if len(starts) == 1 else None
        if index is None:
            shown = ", ".join(repr(o) for o in options[:_OPTIONS_SHOWN])
            raise ToolError(f"[{ref}] is a select list with no option {text!r}; its options are {shown}.")
        # a list that takes several choices adds this one to them
        choose = "if (el.multiple) { el.options[arg].selected = true; } else { el.selectedIndex = arg; }"
        return self._change(ref, choose, index)

    def _editable(self, ref: int) -> bool:
        """Whether ``[ref]``, not a form field, is an editor (``contenteditable``, or inside one): keys
        typed into a ``span`` or ``td`` go nowhere (the 0.5B typed ``x =`` into simple-algebra's label)."""
        return bool(self._driver.execute_script(
            "var el = core.previousDOMInfo[arguments[0]]; return !!el && el.isContentEditable;", int(ref)))

    def _not_a_field(self, ref: int) -> None:
        """Typing into a button would click it (small models type "Jerald" into Submit, which ends the
        episode lost): refused, naming the fields there are."""
        e = self._shown[ref]
        fields = [f"[{f.ref}] {f.tag}" + (f" #{f.id}" if f.id else "") for f in self._shown.values() if is_field(f)]
        what = f"{e.tag}" + (f' "{e.text[:40]}"' if e.text else "")
        where = f"type into a field: {', '.join(fields[:6])}" if fields else "there is no field to type into here"
        raise ToolError(f"[{ref}] is a {what}, not a field; {where}. Use click to press a button.")

    def _set_time(self, ref: int, text: str) -> Observation:
        """A time field takes its keys segment by segment (``8:04 PM`` typed leaves it empty): the
        time is read (``8:04 PM``, ``20:04``, ``8 pm``) and set as the page would have it."""
        value = time_value(text)
        if value is None:
            raise ToolError(f"[{ref}] is a time field: type a time like 8:04 PM or 20:04, not {text!r}.")
        return self._change(ref, "el.value = arg;", value)

    def _set_date(self, ref: int, text: str) -> Observation:
        """A date field also takes its keys segment by segment, and where typing stops depends on
        what was typed before (``2011-10-11`` typed became ``11011-02-01``): the date is read and set."""
        value = date_value(text)
        if value is None:
            raise ToolError(f"[{ref}] is a date field: type a date like 10/11/2011 (month/day/year), not {text!r}.")
        return self._change(ref, "el.value = arg;", value)

    def _change(self, ref: int, assign: str, arg: Any) -> Observation:
        """Focus ``[ref]``, run ``assign`` (JavaScript on ``el`` and ``arg``), and fire the ``input`` and
        ``change`` events a person's edit would, so the page's handlers see it."""
        self._driver.execute_script(
            f"var el = core.previousDOMInfo[arguments[0]], arg = arguments[1]; el.focus(); {assign}"
            "el.dispatchEvent(new Event('input', {bubbles: true}));"
            "el.dispatchEvent(new Event('change', {bubbles: true}));", int(ref), arg)
        return self._observe()

    def _press(self, key: str, ref: int | None = None) -> Observation:
        from selenium.webdriver.common.action_chains import ActionChains

        self._check(ref)
        *mods, name = [p.strip() for p in str(key).replace("-", "+").split("+")] if len(str(key)) > 1 else [str(key)]
        try:
            codes = [_MODIFIERS[m.lower()] for m in mods]
        except KeyError as exc:
            raise ToolError(f"Unknown modifier {exc.args[0]!r}: use ctrl, shift, alt or meta.") from None
        code = name if len(name) == 1 else _KEYS.get(name.lower().strip("<>"))
        if code is None:
            raise ToolError(f"Unknown key {name!r}: use a character or one of {', '.join(sorted(_KEYS))}.")
        if ref is not None:
            self._driver.execute_script("core.previousDOMInfo[arguments[0]].focus();", int(ref))
        chain = ActionChains(self._driver, duration=0)
        for c in codes:
            chain.key_down(c)
        chain.key_down(code).key_up(code)
        for c in reversed(codes):
            chain.key_up(c)
        chain.perform()
        return self._observe()


class BrowserPool:
    """Up to ``size`` browsers, started as they are first needed and reused across episodes.

    An async context manager; browsers left open at interpreter exit are quit then too.

    Args:
        size: most browsers at once (each is a Chromium: about 150 MB).
        episode_seconds: each episode's clock (see ``Browser``).
    """

    def __init__(self, size: int = 2, *, episode_seconds: float = 900.0) -> None:
        if not isinstance(size, int) or size < 1:
            raise ConfigError(f"a browser pool needs size >= 1, got {size!r}")
        self.size = size
        self.episode_seconds = episode_seconds
        self._idle: list[Browser] = []
        self._all: list[Browser] = []
        self._slots = asyncio.Semaphore(size)
        self._closed = False
        atexit.register(self._close_all)

    async def __aenter__(self) -> BrowserPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[Browser]:
        """A browser for one episode (waits while all ``size`` are lent out).

        Raises:
            ConfigError: the pool is closed, or a browser cannot start.
        """
        if self._closed:
            raise ConfigError("the browser pool is closed")
        async with self._slots:
            browser = self._idle.pop() if self._idle else None
            if browser is None:
                browser = Browser(episode_seconds=self.episode_seconds)
                self._all.append(browser)
            healthy = False
            try:
                await browser.start()
                yield browser
                healthy = True
            finally:
                if healthy and not self._closed:
                    self._idle.append(browser)
                else:  # a failed or cancelled episode may leave the browser in any state: quit it
                    self._all.remove(browser)
                    await asyncio.shield(browser.aclose())

    async def aclose(self) -> None:
        """Quit every browser."""
        self._closed = True
        await asyncio.to_thread(self._close_all)

    def _close_all(self) -> None:
        for browser in self._all:
            browser.close()
        self._all.clear()
        self._idle.clear()
        atexit.unregister(self._close_all)
