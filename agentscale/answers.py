"""Short answers: pull one out of a model's output, and normalise it so equal answers compare equal.

Voting selectors group rollouts by ``normalize_answer(answer)``; the answer checker compares with
``answers_match``. Both are pure functions of text, so they are cheap to call on every rollout.

Normalisation, in order: LaTeX wrappers go (``$``, ``\\boxed{}``, ``\\text{}``, ``\\left``/``\\right``,
spacing commands), ``\\frac{a}{b}``/``\\dfrac``/``a/b`` become fractions, thousands separators go
(``1,000``), a leading currency sign and a trailing ``%`` or short unit word go, and every number
is written canonically (``1000.0`` -> ``1000``, ``0.50`` -> ``0.5``, ``3/4`` -> ``0.75``,
``1/3`` -> ``1/3``). Numbers also come as words (``twenty-one``, ``three quarters``), mixed
numbers (``2 1/2``), arithmetic of literals (``3 * 4 + 2``, ``2^{10}``, ``12 \\times 5``) and
equations (``3 * 4 = 12``: the right-hand side). Anything that is not a number is lower-cased with
its whitespace collapsed and surrounding quotes and trailing punctuation removed.

Example:
    >>> normalize_answer("The answer is $\\\\boxed{1,000.0}$.")
    '1000'
    >>> normalize_answer(extract_answer("so 3 + 4 = 7\\n#### 7"))
    '7'
"""

from __future__ import annotations

import ast
import math
import re
from fractions import Fraction

__all__ = ["answers_match", "extract_answer", "normalize_answer", "parse_number"]

_NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+]?\d+)?"
_NUMBER_RE = re.compile(rf"^{_NUMBER}$")
_THOUSANDS_RE = re.compile(r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_LAST_NUMBER_RE = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?(?:/\d+)?|[-+]?\.\d+")
_ANSWER_IS_RE = re.compile(
    r"(?:final\s+answer|the\s+answer|answer)\s*(?:is|:|=)\s*:?\s*(.+?)\s*(?:$|\n)", re.IGNORECASE
)
_HASHES_RE = re.compile(r"####\s*(.+?)\s*(?:$|\n)")
_UNIT_WORDS = 2
"""A number followed by at most this many words (``18 dollars``, ``5 cm``) is taken as the number."""


def _balanced_after(text: str, start: int) -> tuple[str, int] | None:
    """The contents of the ``{...}`` group opening at ``text[start]``, and the index after it."""
    if start >= len(text) or text[start] != "{":
        return None
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
    return None


def _last_boxed(text: str) -> str | None:
    found = None
    for match in re.finditer(r"\\(?:boxed|fbox)\s*", text):
        group = _balanced_after(text, match.end())
        if group is not None:
            found = group[0]
    return found


def extract_answer(text: str | None) -> str | None:
    """Find the short final answer in a model's output.

    Looks, in order, for the last ``\\boxed{...}``, a GSM8K-style ``#### X`` line, the last
    "The (final) answer is X" / "Answer: X", then the last number. A one-line output with none of
    these is returned stripped (e.g. a multiple-choice letter); otherwise ``None``.

    Args:
        text: the model's output.

    Returns:
        The answer as written (not normalised), or ``None`` when there is none.
    """
    if not text or not text.strip():
        return None
    if (boxed := _last_boxed(text)) is not None:
        return boxed.strip()
    if hashes := _HASHES_RE.findall(text):
        return hashes[-1].strip()
    if stated := _ANSWER_IS_RE.findall(text):
        # "The answer is 42." -> "42"; keep only up to the first sentence end that is not a decimal point
        answer = re.split(r"\.(?=\s|$)", stated[-1])[0].strip()
        if answer:
            return answer
    numbers = _LAST_NUMBER_RE.findall(text)
    if numbers:
        return numbers[-1].rstrip(",")
    stripped = text.strip()
    return stripped if "\n" not in stripped and len(stripped) <= 100 else None


def _strip_latex(s: str) -> str:
    # unwrap \boxed{..}, \text{..}, \mathrm{..}, \textbf{..} (keep their contents)
    for cmd in ("boxed", "fbox", "text", "textbf", "mathrm", "mathbf", "textit", "mbox"):
        while (m := re.search(rf"\\{cmd}\s*(?=\{{)", s)) is not None:
            group = _balanced_after(s, m.end())
            if group is None:
                break
            s = s[: m.start()] + group[0] + s[group[1] :]
    s = s.replace("$", "")
    s = re.sub(r"\\(?:left|right)\s*", "", s)
    s = re.sub(r"\\[,;:! ]|\\q?quad", "", s)
    s = re.sub(r"\^\s*\{?\\circ\}?|°", "", s)
    s = s.replace("\\%", "%").replace("\\$", "")
    s = re.sub(r"\\(?:times|cdot)", "*", s).replace("\\div", "/").replace("×", "*").replace("÷", "/")
    s = re.sub(r"\^\s*\{([^{}]*)\}", r"^(\1)", s)
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    # \frac{a}{b} and \frac ab -> (a)/(b)
    while (m := re.search(r"\\frac\s*", s)) is not None:
        num = _balanced_after(s, m.end())
        if num is not None:
            den = _balanced_after(s, num[1])
            if den is None:
                break
            s = s[: m.start()] + f"{num[0]}/{den[0]}" + s[den[1] :]
        elif (short := re.match(r"(\d)(\d)", s[m.end() :])) is not None:
            s = s[: m.start()] + f"{short[1]}/{short[2]}" + s[m.end() + 2 :]
        else:
            break
    return s


def parse_number(text: str) -> Fraction | None:
    """Read ``text`` as an exact number: integers, decimals, ``1,000``, ``1e3``, ``3/4``, ``-2.5``.

    Args:
        text: a candidate number (already stripped of LaTeX and units).

    Returns:
        The exact value, or ``None`` when ``text`` is not a number.
    """
    s = text.strip().replace(" ", "")
    if not s:
        return None
    if "/" in s:
        num, _, den = s.partition("/")
        a, b = parse_number(num.strip("()")), parse_number(den.strip("()"))
        if a is None or b is None or b == 0:
            return None
        return a / b
    if not _NUMBER_RE.match(s) or not any(c.isdigit() for c in s):
        return None
    if "," in s and not _THOUSANDS_RE.match(s):
        return None
    try:
        return Fraction(s.replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return None


def _canonical_number(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    den = value.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    if den != 1:  # not a finite decimal: keep it exact
        return f"{value.numerator}/{value.denominator}"
    text = f"{float(value):.15f}".rstrip("0").rstrip(".")
    return text if Fraction(text) == value else f"{value.numerator}/{value.denominator}"


_SMALL = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}
_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}
_PARTS = {"half": 2, "halves": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4, "fourth": 4, "fourths": 4,
          "fifth": 5, "fifths": 5, "tenth": 10, "tenths": 10}


def _words_number(s: str) -> Fraction | None:
    """``"twenty-one"`` -> 21, ``"one hundred and five"`` -> 105, ``"three quarters"`` -> 3/4,
    ``"a dozen"`` -> 12; a few trailing unit words are allowed (``"five apples"``)."""
    words = re.sub(r"[-,]", " ", s.lower()).split()
    sign = -1 if words[:1] == ["minus"] or words[:1] == ["negative"] else 1
    words = words[1:] if sign < 0 else words
    total, current, used, seen = 0, 0, 0, False
    for i, word in enumerate(words):
        if word in _SMALL or word in _TENS:
            current += _SMALL.get(word, _TENS.get(word, 0))
        elif word == "hundred" and seen:
            current = max(current, 1) * 100
        elif word in _SCALES and seen:
            total, current = total + max(current, 1) * _SCALES[word], 0
        elif word == "dozen":
            current = max(current, 1) * 12
        elif word == "and" and seen:
            pass
        elif word == "a" and i + 1 < len(words) and words[i + 1] in ("dozen", "half", "quarter", "third"):
            current = max(current, 1)
        elif word in _PARTS and seen:
            return _with_units(sign * Fraction(total + current, _PARTS[word]), words[i + 1 :])
        else:
            break
        seen, used = True, i + 1
    if not seen or (total + current == 0 and "zero" not in words[:used]):
        return None
    return _with_units(Fraction(sign * (total + current)), words[used:])


def _with_units(value: Fraction, rest: list[str]) -> Fraction | None:
    return value if len(rest) <= _UNIT_WORDS and all(w.isalpha() for w in rest) else None


_EXPRESSION_RE = re.compile(r"^[\d\s.+\-*/^()]+$")
_DATE_RE = re.compile(r"\d+-\d+-\d+")


def _arithmetic(s: str) -> Fraction | None:
    """The exact value of arithmetic on number literals (``3 * (4 + 2)``, ``2^10``, ``7/2 - 1``)."""
    if not _EXPRESSION_RE.match(s) or _DATE_RE.search(s) or len(s) > 120 or not re.search(r"\d", s):
        return None
    try:
        tree = ast.parse(s.replace("^", "**"), mode="eval")
    except SyntaxError:
        return None

    def value(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return Fraction(str(node.value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = value(node.operand)
            return -inner if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.BinOp):
            a, b = value(node.left), value(node.right)
            if isinstance(node.op, ast.Add):
                return a + b
            if isinstance(node.op, ast.Sub):
                return a - b
            if isinstance(node.op, ast.Mult):
                return a * b
            if isinstance(node.op, ast.Div):
                return a / b
            if isinstance(node.op, ast.Pow) and b.denominator == 1 and abs(b) <= 64 and abs(a) < 10**6:
                return a ** int(b)
        raise ValueError("not arithmetic on literals")

    try:
        return value(tree.body)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None


def _as_number(s: str) -> Fraction | None:
    s = s.strip()
    s = re.sub(r"^[$€£¥]\s*", "", s)
    s = re.sub(r"^([-+])\s*[$€£¥]\s*", r"\1", s)
    s = s.rstrip("%").strip()
    if (value := parse_number(s)) is not None:
        return value
    # "18 dollars", "5 cm": a number followed by a few unit words
    m = re.match(rf"^({_NUMBER}(?:/\d+)?)\s+([A-Za-z]+(?:\s+[A-Za-z]+){{0,{_UNIT_WORDS - 1}}})\.?$", s)
    if m is not None:
        return parse_number(m[1])
    # a mixed number: "2 1/2" (cups)
    m = re.match(rf"^([-+]?)(\d+)\s+(\d+)/(\d+)(?:\s+[A-Za-z]+){{0,{_UNIT_WORDS}}}\.?$", s)
    if m is not None and int(m[4]) != 0:
        return (-1 if m[1] == "-" else 1) * (int(m[2]) + Fraction(int(m[3]), int(m[4])))
    if (value := _arithmetic(s)) is not None:
        return value
    return _words_number(s) if re.match(r"^[A-Za-z][A-Za-z\s,-]*\.?$", s) else None


def normalize_answer(answer: str | None) -> str:
    """A canonical key for an answer: equal answers give equal keys.

    Args:
        answer: an answer as written (``"1,000"``, ``"\\\\frac{1}{2}"``, ``"Yes."``); ``None`` gives ``""``.

    Returns:
        The canonical form (numbers written canonically, text lower-cased and collapsed).
    """
    if answer is None:
        return ""
    s = _strip_latex(str(answer)).strip()
    s = re.sub(r"^(?:####|(?:the\s+)?(?:final\s+)?answer\s*(?:is|:))\s*", "", s, flags=re.IGNORECASE)
    # "x = 5" -> "5": a lone variable on the left names the answer, it is not part of it
    s = re.sub(r"^[A-Za-z]\s*=\s*(?=\S)", "", s)
    # "3 * 4 = 12" -> "12": an equation whose right-hand side is a number states that number
    if "=" in s and _as_number(s.rsplit("=", 1)[1].strip().rstrip(".;,!")) is not None:
        s = s.rsplit("=", 1)[1]
    s = s.strip().rstrip(".;,!").strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"`":
        s = s[1:-1].strip()
    if (value := _as_number(s)) is not None:
        return _canonical_number(value)
    # tuples and lists of numbers: "(1, 2.0)" -> "(1,2)"
    m = re.match(r"^([(\[{]?)(.*?)([)\]}]?)$", s, flags=re.DOTALL)
    if m and "," in m[2]:
        parts = [p.strip() for p in m[2].split(",")]
        values = [_as_number(p) for p in parts]
        if all(v is not None for v in values) and len(parts) > 1:
            return m[1] + ",".join(_canonical_number(v) for v in values) + m[3]
    s = re.sub(r"\s+", " ", s).lower()
    return re.sub(r"\s*([=+\-*/^(),\[\]{}])\s*", r"\1", s)


def answers_match(answer: str | None, expected: str | None, *, rel_tol: float = 1e-6) -> bool:
    """Whether two answers are the same after normalisation.

    Numbers match when their normalised keys are equal, when they are within ``rel_tol`` of
    each other (``0.3333333`` vs ``1/3``), or when one is the other as a percentage
    (``50%`` vs ``0.5``).

    Args:
        answer: the candidate's answer.
        expected: the reference answer.
        rel_tol: relative tolerance for numeric comparison.

    Returns:
        ``True`` when they match; ``False`` when either is missing or empty.
    """
    if answer is None or expected is None:
        return False
    a_key, e_key = normalize_answer(answer), normalize_answer(expected)
    if not a_key or not e_key:
        return False
    if a_key == e_key:
        return True
    a_text, e_text = (
        _strip_latex(str(answer)).strip().rstrip("."),
        _strip_latex(str(expected)).strip().rstrip("."),
    )
    a_val, e_val = _as_number(a_text), _as_number(e_text)
    if a_val is None or e_val is None:
        return False
    candidates = [(a_val, e_val)]
    if a_text.endswith("%"):
        candidates.append((a_val / 100, e_val))
    if e_text.endswith("%"):
        candidates.append((a_val, e_val / 100))
    return any(math.isclose(float(x), float(y), rel_tol=rel_tol, abs_tol=1e-12) for x, y in candidates)
