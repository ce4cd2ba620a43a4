# ruff: noqa
"""Runs inside the sandbox (copied there as a file, never imported by agentscale itself).

Reads the checks and a random marker from a JSON file (then deletes it), evaluates every expected
literal before the candidate's code is loaded, loads the candidate program, and runs each check
on its own: a fresh copy of the program's namespace, its own time limit (SIGALRM), prints
captured. Results go out as JSON lines prefixed by the marker on a private copy of stdout; the
candidate's own writes to fd 1 are sent to stderr, so they can neither interleave with nor forge
a result. Written for any Python 3.8+ the sandbox image may have.
"""

import ast
import contextlib
import doctest
import hashlib
import io
import json
import math
import os
import re
import signal
import sys
import time
import traceback

CHECKS_FILE = "_as_checks.json"
_SAFE_BUILTINS = {
    "float": float,
    "set": set,
    "frozenset": frozenset,
    "tuple": tuple,
    "list": list,
    "dict": dict,
    "complex": complex,
    "int": int,
    "str": str,
    "bytes": bytes,
    "range": range,
    "True": True,
    "False": False,
    "None": None,
}
_REPR_LIMIT = 300


class CappedText(io.StringIO):
    """Captured prints, kept up to a cap so a print loop cannot exhaust memory."""

    cap = 100000

    def write(self, text):
        room = self.cap - self.tell()
        if room > 0:
            io.StringIO.write(self, text[:room])
        return len(text)


class CheckTimeout(BaseException):
    """Raised by the alarm; a BaseException so the candidate's `except Exception` cannot swallow it."""


def _on_alarm(signum, frame):
    raise CheckTimeout()


def _short_repr(value):
    try:
        text = repr(value)
    except BaseException as exc:  # a broken __repr__ is the candidate's problem, not ours
        text = "<unrepresentable %s: %s>" % (type(value).__name__, type(exc).__name__)
    return text if len(text) <= _REPR_LIMIT else text[: _REPR_LIMIT - 3] + "..."


def _equal(got, want, depth=0):
    if depth > 50:
        return False
    if isinstance(want, float) or isinstance(got, float):
        if isinstance(got, (int, float)) and isinstance(want, (int, float)) and not isinstance(got, bool):
            if math.isnan(want) and math.isnan(got):
                return True
            return math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-6)
        return False
    if isinstance(want, (list, tuple)) and isinstance(got, (list, tuple)):
        return (
            type(got) is type(want)
            and len(got) == len(want)
            and all(_equal(g, w, depth + 1) for g, w in zip(got, want))
        )
    try:
        return bool(got == want)
    except BaseException:
        return False


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_CANON_BUDGET = 200000


def _canonical(value, parts, depth=0):
    """Append a canonical text of ``value`` to ``parts``: equal behaviour gives equal text.

    Floats are written to 9 significant digits and integral ones as ints (``2.0`` is ``2``, as
    ``==`` says), dicts and sets in sorted order, object addresses removed. Bounded in depth and size.
    """
    if depth > 50 or len(parts) > _CANON_BUDGET:
        parts.append("...")
        return
    if isinstance(value, bool) or value is None:
        parts.append(repr(value))
    elif isinstance(value, float):
        if value != value:
            parts.append("nan")
        elif value in (float("inf"), float("-inf")) or value != int(value) or abs(value) >= 1e15:
            parts.append("%.9g" % value)
        else:
            parts.append(repr(int(value)))
    elif isinstance(value, (int, str, bytes)):
        # hex for huge ints: repr() refuses past 4300 digits on Python 3.11+
        text = hex(value) if isinstance(value, int) and value.bit_length() > 12000 else repr(value)
        parts.append(text if len(text) <= 100000 else "%s:%s" % (len(text), hashlib.sha1(text.encode()).hexdigest()))
    elif isinstance(value, (list, tuple)):
        parts.append("[" if isinstance(value, list) else "(")
        for item in value:
            _canonical(item, parts, depth + 1)
            parts.append(",")
        parts.append("]" if isinstance(value, list) else ")")
    elif isinstance(value, (set, frozenset, dict)):
        items = []
        for key in value:
            sub = []
            _canonical(key, sub, depth + 1)
            if isinstance(value, dict):
                sub.append(":")
                _canonical(value[key], sub, depth + 1)
            items.append("".join(sub))
        parts.append("{" + ",".join(sorted(items)) + "}")
    else:
        parts.append(type(value).__name__ + ":" + _ADDRESS.sub("", _short_repr(value)))


def _digest(value):
    parts = []
    _canonical(value, parts)
    return hashlib.sha1("".join(parts).encode("utf-8", "replace")).hexdigest()[:16]


def _error_text(exc, program_file):
    """`TypeError: msg (solution.py line 7: return x + "a")`, the candidate's innermost frame."""
    text = "%s: %s" % (type(exc).__name__, exc) if str(exc) else type(exc).__name__
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == program_file]
    if frames:
        last = frames[-1]
        text += " (%s line %s: %s)" % (program_file, last.lineno, (last.line or "").strip())
    return text[:600]


def _assert_detail(code, env):
    """For a failed `assert a == b`, say what `a` was."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare) and len(node.test.ops) == 1:
            if isinstance(node.test.ops[0], ast.Eq):
                try:
                    got = eval(compile(ast.Expression(node.test.left), "<check>", "eval"), env)
                    want = eval(compile(ast.Expression(node.test.comparators[0]), "<check>", "eval"), env)
                except BaseException:
                    return None
                if not _equal(got, want):
                    return _short_repr(want), _short_repr(got)
    return None


def _run_check(check, expected, ns, program_file, timeout):
    env = dict(ns)
    out = CappedText()
    result = {"status": "pass"}
    started = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with contextlib.redirect_stdout(out):
            for stmt in check["setup"]:
                exec(compile(stmt, "<setup>", "exec"), env)
            if check["kind"] == "exec":
                try:
                    exec(compile(check["code"], "<check>", "exec"), env)
                except AssertionError as exc:
                    detail = _assert_detail(check["code"], env)
                    result = {"status": "fail", "error": _error_text(exc, program_file)}
                    if detail:
                        result["expected"], result["got"] = detail
            elif check["kind"] == "raises":
                try:
                    value = eval(compile(check["code"], "<check>", "eval"), env)
                except Exception as exc:
                    names = [c.__name__ for c in type(exc).__mro__]
                    if check["want"] not in names:
                        result = {
                            "status": "fail",
                            "expected": "raises " + check["want"],
                            "got": "raised " + _error_text(exc, program_file),
                        }
                else:
                    result = {
                        "status": "fail",
                        "expected": "raises " + check["want"],
                        "got": _short_repr(value),
                    }
            elif check["kind"] == "observe":
                value = eval(compile(check["code"], "<check>", "eval"), env)
                result = {"status": "pass", "got": _short_repr(value), "digest": _digest(value)}
            else:
                value = eval(compile(check["code"], "<check>", "eval"), env)
                ok = False
                if expected is not None:
                    ok = _equal(value, expected[0])
                if not ok and check.get("want") is not None:
                    printed = out.getvalue() + ("" if value is None else _short_repr(value) + "\n")
                    flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
                    ok = doctest.OutputChecker().check_output(check["want"] + "\n", printed, flags)
                if not ok:
                    want = _short_repr(expected[0]) if expected is not None else check["want"]
                    result = {"status": "fail", "expected": want, "got": _short_repr(value)}
    except CheckTimeout:
        result = {"status": "timeout", "error": "no result after %gs" % timeout}
    except BaseException as exc:  # SystemExit, KeyboardInterrupt and friends are the candidate's doing
        result = {"status": "error", "error": _error_text(exc, program_file), "raised": type(exc).__name__}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    result["seconds"] = round(time.monotonic() - started, 4)
    printed = out.getvalue()
    if printed:
        result["stdout"] = printed[-200:]
    return result


def main():
    with open(CHECKS_FILE) as f:
        spec = json.load(f)
    os.remove(CHECKS_FILE)  # the candidate must not read the marker
    marker = spec["marker"]
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # the candidate's writes to fd 1 (print, os.write) land in stderr

    def emit(**record):
        out.write(marker + " " + json.dumps(record) + "\n")
        out.flush()

    checks = spec["checks"]
    expected = []
    for check in checks:  # before the candidate's code can touch builtins
        if check.get("expected") is None:
            expected.append(None)
            continue
        try:
            expected.append((eval(check["expected"], {"__builtins__": dict(_SAFE_BUILTINS)}),))
        except Exception:
            expected.append(None)
    signal.signal(signal.SIGALRM, _on_alarm)
    program_file = spec["program"]
    ns = {"__name__": "__candidate__", "__file__": program_file}
    sys.path.insert(0, os.getcwd())
    load_out = CappedText()
    signal.setitimer(signal.ITIMER_REAL, spec["load_timeout"])
    try:
        with open(program_file) as f:
            source = f.read()
        with contextlib.redirect_stdout(load_out):
            exec(compile(source, program_file, "exec"), ns)
    except CheckTimeout:
        emit(event="load", ok=False, error="loading the program took over %gs" % spec["load_timeout"])
        return
    except SyntaxError as exc:
        emit(
            event="load",
            ok=False,
            error="SyntaxError: %s (%s line %s: %s)"
            % (exc.msg, program_file, exc.lineno, (exc.text or "").strip()),
        )
        return
    except BaseException as exc:
        emit(event="load", ok=False, error=_error_text(exc, program_file))
        return
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    emit(event="load", ok=True)
    for i in range(spec["start"], spec.get("stop", len(checks))):
        emit(event="start", i=i)
        result = _run_check(checks[i], expected[i], ns, program_file, spec["per_check_timeout"])
        emit(event="result", i=i, **result)
    emit(event="done")


if __name__ == "__main__":
    main()
    # skip interpreter shutdown: the candidate's threads or atexit hooks must not hold the exit up
    os._exit(0)
