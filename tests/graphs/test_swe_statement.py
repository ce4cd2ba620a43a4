"""Problem statements report the symptom (call, input, got vs expected), never the injected change."""

from __future__ import annotations

import pytest

from agentscale.graphs.swe import TestResult, write_statement
from agentscale.graphs.swe.statement import normalise_output

PYTEST_FAILURE = TestResult(
    "test_inflection.py::test_camelize[foo_bar-FooBar]",
    "failed",
    message=(
        "AssertionError: assert 'FooBar' == 'Foo_bar'\n  - Foo_bar\n  + FooBar\n"
        " +  where 'Foo_bar' = <function camelize at 0x7f3a2b1c9d30>('foo_bar')\n"
        " +    where <function camelize at 0x7f3a2b1c9d30> = inflection.camelize"
    ),
    source=(
        '@pytest.mark.parametrize(("underscored", "camel"), CASES)\n'
        "def test_camelize(underscored, camel):\n"
        "    assert camel == inflection.camelize(underscored)"
    ),
)
UNITTEST_FAILURE = TestResult(
    "test.py::TestSlugify::test_accented_text",
    "failed",
    message="AssertionError: 'c-est-deja-l-et' != 'c-est-deja-l-ete'\n- c-est-deja-l-et\n+ c-est-deja-l-ete",
    source=(
        "    def test_accented_text(self):\n"
        "        txt = 'C\\'est déjà l\\'été.'\n"
        "        r = slugify(txt)\n"
        '        self.assertEqual(r, "c-est-deja-l-ete")'
    ),
)
CRASH = TestResult(
    "toolz/tests/test_itertoolz.py::test_nth",
    "failed",
    message="IndexError: list index out of range",
    source="def test_nth():\n    assert nth(2, 'ABCDE') == 'C'\n    assert nth(1, (3, 2, 1)) == 2",
)


def test_pytest_assertion_gives_call_got_and_expected():
    text = write_statement("inflection", "0.5.1", [PYTEST_FAILURE])
    assert text.splitlines()[0] == "`camelize` returns a wrong result"
    assert "`camelize('foo_bar')` returns `'Foo_bar'`, but I expect `'FooBar'`." in text
    assert "inflection 0.5.1" in text
    assert "assert camel == inflection.camelize(underscored)" in text
    assert "0x7f" not in text  # memory addresses never make two runs differ


def test_unittest_assertion_uses_the_side_the_call_produced():
    text = write_statement("python-slugify", "5.0.2", [UNITTEST_FAILURE])
    assert text.startswith("`slugify` returns a wrong result")
    assert "`slugify` gives `'c-est-deja-l-et'` where I expect `'c-est-deja-l-ete'`." in text
    assert "r = slugify(txt)" in text


def test_an_exception_is_reported_as_such_with_other_failures_listed():
    others = [TestResult(f"toolz/tests/test_itertoolz.py::test_{i}", "failed", "IndexError") for i in range(8)]
    text = write_statement("toolz", "1.0.0", [CRASH, *others])
    assert text.startswith("`nth` raises IndexError")
    assert "IndexError: list index out of range" in text
    assert "`test_0`, `test_1`, `test_2`, `test_3`, `test_4` and 3 more" in text


def test_it_is_deterministic_and_needs_a_failure():
    assert write_statement("p", "1", [PYTEST_FAILURE, CRASH]) == write_statement("p", "1", [PYTEST_FAILURE, CRASH])
    with pytest.raises(ValueError):
        write_statement("p", "1", [])


def test_normalise_output():
    assert normalise_output("<function f at 0xdeadbeef>(1) at /work/pkg/x.py") == "f(1) at pkg/x.py"
    assert normalise_output("<bound method A.g of <A object at 0x1234>>(2)") == "g(2)"
    assert normalise_output("returned <function f at 0x1234>") == "returned <function f>"  # a value, not a call


def test_the_tests_own_variables_are_not_the_api():
    r = TestResult("t.py::test_x", "failed", message="AssertionError: assert False",
                   source="def test_x(check=ok):\n    f = curry(g)\n    assert check(f(1))")  # fmt: skip
    assert write_statement("toolz", "1", [r]).startswith("`curry` returns a wrong result")


def test_only_the_packages_names_are_blamed():
    source = (
        "def test_all(self):\n    expected = iterable[slice(1, 2)]\n    out = ''.join(x)\n"
        "    actual = list(mi.islice_extended(iterable, 1, 2))\n    self.assertEqual(actual, expected)"
    )
    r = TestResult("t.py::T::test_all", "failed", message="AssertionError: Lists differ: [] != ['2']", source=source)
    text = write_statement("more-itertools", "1", [r])
    assert text.startswith("`islice_extended` returns a wrong result")  # not the builtin slice, not str.join
    assert "`islice_extended` gives `[]` where I expect `['2']`." in text
    source = "def test_h():\n    assert helper(1)"
    helper = TestResult("t.py::test_h", "failed", message="AssertionError", source=source)
    assert write_statement("p", "1", [helper], api={"islice_extended"}).startswith("`test_h` fails with")


def test_without_a_call_the_test_is_named():
    source = "def test_y(self):\n    self.d['a']"
    r = TestResult("t.py::TestA::test_y", "failed", message="KeyError: 'a'", source=source)
    assert write_statement("toolz", "1", [r]).startswith("`TestA::test_y` fails with KeyError")
