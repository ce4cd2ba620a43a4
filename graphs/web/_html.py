"""HTML to readable text, with numbered links and forms (the standard library's ``html.parser``).

What a model reads of a page: the title, the visible text in reading order (headings marked with
``#``, list items with ``-``, table cells split by ``|``), each link's text followed by its number
(``Opening hours [3]``), and each form's fields in place (``[form 1: q (text)]``). Scripts, styles
and other invisible parts are dropped. Link targets and form actions are resolved against the
page's URL (and its ``<base href>``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

__all__ = ["Document", "FormField", "Form", "Link", "parse_html"]

_SKIP = {"script", "style", "noscript", "template", "svg", "math", "iframe", "object", "canvas", "head"}
_BLOCK = {
    "address", "article", "aside", "blockquote", "body", "br", "dd", "details", "dialog", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
    "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "thead", "tfoot", "tr", "ul",
    "caption", "legend",
}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
_PARA = "\n\x00\n"
"""Asks for a blank line (plain newlines never make one, so table rows and list items stay together)."""
_WS = re.compile(r"[ \t\r\f\v\u00a0]+")


@dataclass
class Link:
    """A numbered link: ``number`` is what the model gives ``follow_link``."""

    number: int
    text: str
    url: str


@dataclass
class FormField:
    """One field of a form: a named ``input``, ``select`` or ``textarea``.

    Attributes:
        name: the name it is sent under.
        kind: ``text``, ``hidden``, ``password``, ``number``, ``checkbox``, ``radio``, ``select``,
            ``textarea``, ``submit``...
        value: its default value (a checkbox's or radio's value when it is checked, else ``None``).
        options: the values a ``select`` or a radio group offers.
        label: the text of its ``<label>`` or ``placeholder``, when it has one.
    """

    name: str
    kind: str
    value: str | None = None
    options: list[str] = field(default_factory=list)
    label: str = ""


@dataclass
class Form:
    """A numbered form: where and how it is sent, and its fields."""

    number: int
    method: str
    action: str
    fields: list[FormField] = field(default_factory=list)

    def field(self, name: str) -> FormField | None:
        """The first field called ``name``."""
        return next((f for f in self.fields if f.name == name), None)

    def describe(self) -> str:
        """One line per form for the model: ``form 1 (GET .../search): q (text), kind (select: a|b)``."""
        parts = []
        seen: set[str] = set()
        for f in self.fields:
            if f.kind in ("submit", "button", "image", "reset") or f.name in seen:
                continue
            seen.add(f.name)
            if f.kind == "hidden":
                continue
            bits = [f.kind]
            if f.options:
                bits.append("one of " + "|".join(f.options[:12]) + ("|..." if len(f.options) > 12 else ""))
            elif f.value:
                bits.append(f"default {f.value!r}")
            label = f" '{f.label}'" if f.label and f.label.lower() != f.name.lower() else ""
            parts.append(f"{f.name}{label} ({', '.join(bits)})")
        fields = ", ".join(parts) if parts else "no fields to fill"
        return f"form {self.number} ({self.method} {self.action}): {fields}"


@dataclass
class Document:
    """A parsed page: its title, its text, and its links and forms by number."""

    title: str
    text: str
    links: list[Link] = field(default_factory=list)
    forms: list[Form] = field(default_factory=list)


class _Parser(HTMLParser):
    def __init__(self, url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = url
        self.out: list[str] = []
        self.title: list[str] = []
        self.links: list[Link] = []
        self.forms: list[Form] = []
        self.skip = 0
        self.in_title = False
        self.pre = 0
        self.link: tuple[str, list[str]] | None = None
        self.form: Form | None = None
        self.select: FormField | None = None
        self.option: tuple[str | None, list[str]] | None = None
        self.textarea: tuple[FormField, list[str]] | None = None
        self.label: list[str] | None = None
        self.labels: dict[str, str] = {}
        self.label_for: str | None = None
        self.cell = 0
        self.selected = False
        self.button = False
        self.hidden_tag: str | None = None
        self.hidden_depth = 0

    # output helpers
    def _text(self, s: str) -> None:
        if self.label is not None:
            self.label.append(s)
        if self.link is not None:
            self.link[1].append(s)
        self.out.append(s)

    def _newline(self, blank: bool = False) -> None:
        self.out.append(_PARA if blank else "\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:  # noqa: C901 - one dispatch per tag
        a = {k: (v or "") for k, v in attrs}
        if tag == "option" and self.select is not None and not self.skip:
            if self.option is not None:
                self._end_option()
            self.option = (dict(attrs).get("value"), [])
            self.selected = "selected" in a
            return
        if tag == "title" and not self.title:
            self.in_title = True
            return
        if self.hidden_tag is not None:  # inside an element with the hidden attribute: count its own tag only
            self.hidden_depth += tag == self.hidden_tag
            return
        if tag in _SKIP and tag != "head":
            if tag not in _VOID:
                self.skip += 1
            return
        if self.skip:
            return
        if tag == "base" and a.get("href"):
            self.base = urljoin(self.base, a["href"])
        if "hidden" in a and tag not in _VOID:  # the hidden attribute: not shown, so not read
            self.hidden_tag, self.hidden_depth = tag, 1
            return
        if tag in _BLOCK:
            if self.link is not None and "".join(self.link[1]).strip():
                self.end_link()  # a block inside a link with text: the link was left open
            self._newline(tag in ("p", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "form"))
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.out.append("#" * int(tag[1]) + " ")
        elif tag == "li":
            self.out.append("- ")
        elif tag in ("td", "th"):
            if self.cell:
                self.out.append(" | ")
            self.cell += 1
        elif tag == "tr":
            self.cell = 0
        elif tag == "pre":
            self.pre += 1
        elif tag == "img" and a.get("alt"):
            self._text(f" [image: {a['alt']}]")
        elif tag == "a" and a.get("href") and not a["href"].lower().startswith(("javascript:", "mailto:", "#")):
            self.end_link()  # an <a> left open ends where the next one starts
            self.link = (urljoin(self.base, a["href"]), [])
        elif tag == "label":
            self.label = []
            self.label_for = a.get("for") or None
        elif tag == "form":
            method = (a.get("method") or "GET").upper()
            self.form = Form(
                number=len(self.forms) + 1,
                method="POST" if method == "POST" else "GET",
                action=urljoin(self.base, a.get("action") or ""),
            )
            self.forms.append(self.form)
            self.out.append(f"[form {self.form.number}]\n")
        elif tag in ("input", "select", "textarea", "button"):
            self._field(tag, a)

    def _field(self, tag: str, a: dict[str, str]) -> None:
        name = a.get("name", "")
        kind = a.get("type", "text").lower() if tag == "input" else tag
        if tag == "button":
            kind = "submit" if a.get("type", "submit").lower() == "submit" else "button"
        label = a.get("placeholder", "") or a.get("aria-label", "") or self.labels.get(a.get("id", ""), "")
        if self.label is not None and not label:
            label = " ".join("".join(self.label).split())
        form = self.form
        if tag == "select":
            self.select = FormField(name=name, kind="select", label=label)
            if form is not None and name:
                form.fields.append(self.select)
            self._text(f" [select {name}]")
            return
        if tag == "textarea":
            f = FormField(name=name, kind="textarea", label=label)
            self.textarea = (f, [])
            if form is not None and name:
                form.fields.append(f)
            self._text(f" [textarea {name}]")
            return
        value = a.get("value")
        if kind in ("checkbox", "radio"):
            value = (value or "on") if "checked" in a else None
        if kind == "radio" and form is not None:
            group = next((f for f in form.fields if f.name == name and f.kind == "radio"), None)
            if group is not None:
                group.options.append(a.get("value", "on"))
                if "checked" in a:
                    group.value = a.get("value", "on")
                return
        f = FormField(name=name, kind=kind, value=value, label=label)
        if kind == "radio":
            f.options.append(a.get("value", "on"))
        if form is not None and (name or kind == "submit"):
            form.fields.append(f)
        if kind == "hidden":
            return
        if kind == "submit":
            self._text(f"[button {a.get('value') or 'Submit'}]" if tag == "input" else "[button ")
            self.button = tag == "button"
            return
        self._text(f" [{kind} {name}]" if name else f" [{kind}]")

    def handle_endtag(self, tag: str) -> None:  # noqa: C901 - one dispatch per tag
        if tag == "title" and self.in_title:
            self.in_title = False
            return
        if self.hidden_tag is not None:
            self.hidden_depth -= tag == self.hidden_tag
            if not self.hidden_depth:
                self.hidden_tag = None
            return
        if tag in _SKIP and tag != "head":
            if self.skip:
                self.skip -= 1
            return
        if self.skip:
            return
        if tag == "a":
            self.end_link()
        elif tag == "label" and self.label is not None:
            text = " ".join("".join(self.label).split())
            if self.label_for:
                self.labels[self.label_for] = text
            self.label = None
            self.label_for = None
        elif tag == "option" and self.option is not None:
            self._end_option()
        elif tag == "select" and self.select is not None:
            if self.option is not None:
                self._end_option()
            if self.select.value is None and self.select.options:
                self.select.value = self.select.options[0]
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            f, parts = self.textarea
            f.value = "".join(parts)
            self.textarea = None
        elif tag == "button" and self.button:
            self.out.append("]")
            self.button = False
        elif tag == "form":
            self.form = None
            self._newline()
        elif tag == "pre" and self.pre:
            self.pre -= 1
        if tag in _BLOCK:
            self._newline(tag in ("p", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6"))

    def end_link(self) -> None:
        """Number the open link, if any."""
        if self.link is None:
            return
        url, parts = self.link
        text = " ".join("".join(parts).split())
        self.link = None
        number = len(self.links) + 1
        self.links.append(Link(number=number, text=text or url, url=url))
        self.out.append(f" [{number}]" if text else f"[link {number}]")

    def _end_option(self) -> None:
        value, parts = self.option or (None, [])
        text = " ".join("".join(parts).split())
        value = text if value is None else value
        if self.select is not None:
            self.select.options.append(value)
            if self.selected:
                self.select.value = value
        self.option = None
        self.selected = False

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
            return
        if self.skip or self.hidden_tag is not None:
            return
        if self.textarea is not None:
            self.textarea[1].append(data)
            return
        if self.select is not None:
            if self.option is not None:
                self.option[1].append(data)
            return
        if not self.pre:
            data = _WS.sub(" ", data.replace("\n", " "))
        self._text(data)


def _tidy(text: str) -> str:
    out: list[str] = []
    blank = False
    for line in (raw.strip() for raw in text.split("\n")):
        if line == "\x00":
            blank = bool(out)
        elif line and line not in ("-", "#", "|"):
            if blank:
                out.append("")
            out.append(line)
            blank = False
    return "\n".join(out)


def parse_html(html: str, url: str) -> Document:
    """Parse ``html`` fetched from ``url`` into a ``Document``.

    Malformed HTML is read as well as the parser can (it never raises on bad markup).

    Example:
        >>> doc = parse_html('<title>T</title><p>See <a href="/x">the x page</a>.</p>', "http://h/a/")
        >>> doc.text, doc.links[0].url
        ('See the x page [1].', 'http://h/x')
    """
    parser = _Parser(url)
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # html.parser gives up on a few pathological inputs; keep what it read
        pass
    parser.end_link()
    title = " ".join("".join(parser.title).split())
    return Document(title=title, text=_tidy("".join(parser.out)), links=parser.links, forms=parser.forms)
