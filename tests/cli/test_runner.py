"""`dana-poet test` and the pytest plugin as a user meets them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from tests.cli.helpers import dana_poet, write

MATH = """\
def inc(x):
    return x + 1

def test_zero():
    assert inc(0) == 1

def test_one():
    assert inc(1) == 2

def test_wrong():
    assert inc(1) == 3
"""

COMPARISONS = """\
def test_eq():
    assert 1 + 1 == 3

def test_ne():
    assert "a" != "a"

def test_lt():
    n = 5
    assert n < 2

def test_in():
    assert 4 in [1, 2]
"""


def test_k_selects_by_name_without_internal_error(tmp_path: Path) -> None:
    write(tmp_path, {"test_math.na": MATH})
    r = dana_poet(tmp_path, "test", "-k", "zero")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 passed, 2 deselected" in r.stdout
    assert "INTERNALERROR" not in r.stdout + r.stderr


def test_k_expression_with_not(tmp_path: Path) -> None:
    write(tmp_path, {"test_math.na": MATH})
    r = dana_poet(tmp_path, "test", "-k", "not wrong", "-v")
    assert r.returncode == 0, r.stdout
    assert "test_math.na::test_zero PASSED" in r.stdout
    assert "test_math.na::test_one PASSED" in r.stdout
    assert "test_wrong" not in r.stdout.split("deselected")[0].split("collected")[1]


def test_x_stops_at_the_first_failure(tmp_path: Path) -> None:
    write(tmp_path, {"test_a.na": "def test_bad():\n    assert 1 == 2\n", "test_b.na": MATH})
    r = dana_poet(tmp_path, "test", "-x", "test_a.na", "test_b.na")
    assert r.returncode == 1
    assert "stopping after 1 failures" in r.stdout
    assert "1 failed in" in r.stdout


def test_last_failed_reruns_only_the_failures(tmp_path: Path) -> None:
    write(tmp_path, {"test_math.na": MATH})
    first = dana_poet(tmp_path, "test")
    assert "1 failed, 2 passed" in first.stdout
    again = dana_poet(tmp_path, "test", "--lf", "-v")
    assert "test_math.na::test_wrong FAILED" in again.stdout
    assert "test_zero" not in again.stdout.split("short test summary")[0].split("collected")[1]
    assert "1 failed" in again.stdout


def test_junitxml_names_each_case(tmp_path: Path) -> None:
    write(tmp_path, {"test_math.na": MATH})
    r = dana_poet(tmp_path, "test", "--junitxml", "report.xml")
    assert r.returncode == 1
    suite = ET.parse(tmp_path / "report.xml").getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("3", "1")
    names = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(names) == {"test_zero", "test_one", "test_wrong"}
    failure = names["test_wrong"].find("failure")
    assert failure is not None and "left: 2, right: 3" in (failure.get("message") or "")


def test_no_path_collects_only_na_tests_under_the_current_folder(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "project/test_math.na": MATH.replace("== 3", "== 2"),
            "project/sub/checks_test.na": "def test_sub():\n    assert true\n",
            "project/test_python.py": "def test_py():\n    raise SystemExit('python collected')\n",
            "elsewhere/test_other.na": "def test_other():\n    assert false\n",
        },
    )
    r = dana_poet(tmp_path / "project", "test", "-v")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "4 passed" in r.stdout
    assert "checks_test.na::test_sub PASSED" in r.stdout
    assert "test_python" not in r.stdout and "test_other" not in r.stdout


def test_no_test_files_says_so(tmp_path: Path) -> None:
    write(tmp_path, {"prog.na": "print(1)\n"})
    r = dana_poet(tmp_path, "test")
    assert r.returncode == 5
    assert "no test_*.na files" in r.stderr


def test_a_syntax_error_fails_that_file_and_the_others_run(tmp_path: Path) -> None:
    write(tmp_path, {"test_broken.na": "def test_a(:\n    pass\n", "test_math.na": MATH})
    r = dana_poet(tmp_path, "test")
    assert r.returncode == 1
    assert "2 failed, 2 passed" in r.stdout, r.stdout
    assert "test_broken.na:1:12: syntax error" in r.stdout
    assert "    def test_a(:\n" in r.stdout and "               ^" in r.stdout
    assert "Interrupted" not in r.stdout and "Traceback" not in r.stdout


def test_assert_failures_show_both_sides(tmp_path: Path) -> None:
    write(tmp_path, {"test_cmp.na": COMPARISONS})
    r = dana_poet(tmp_path, "test")
    assert "4 failed" in r.stdout
    for fragment in (
        "test_cmp.na:2: error: AssertionError: assertion failed: 1 + 1 == 3 (left: 2, right: 3)",
        "assertion failed: \"a\" != \"a\" (left: 'a', right: 'a')",
        "assertion failed: n < 2 (left: 5, right: 2)",
        "assertion failed: 4 in [1, 2] (left: 4, right: [1, 2])",
    ):
        assert fragment in r.stdout, r.stdout
    assert "Traceback" not in r.stdout and "dana_poet/" not in r.stdout


def test_vv_adds_the_python_traceback(tmp_path: Path) -> None:
    write(tmp_path, {"test_cmp.na": COMPARISONS})
    r = dana_poet(tmp_path, "test", "-vv", "-k", "eq")
    assert "Python traceback (--debug)" in r.stdout


def test_each_file_gets_a_fresh_program(tmp_path: Path) -> None:
    counter = "private:count = private:count + 1 if false else 0\n"
    first = "private:seen = 1\ndef test_set():\n    assert private:seen == 1\n"
    second = (
        "def test_not_shared():\n"
        "    ok = false\n"
        "    try:\n"
        "        v = private:seen\n"
        "    except:\n"
        "        ok = true\n"
        "    assert ok\n"
    )
    write(tmp_path, {"test_1.na": counter + first, "test_2.na": second})
    r = dana_poet(tmp_path, "test", "test_1.na", "test_2.na")
    assert r.returncode == 0, r.stdout
    assert "2 passed" in r.stdout


def test_poet_state_goes_to_a_temporary_dana_folder(tmp_path: Path) -> None:
    source = (
        "@poet()\ndef area(w: float, h: float) -> float:\n    return w * h\n\n"
        'def test_area():\n    assert area("2", 3) == 6.0\n'
        '    feedback(area(1, 1), "good")\n'
    )
    write(tmp_path, {"test_poet.na": source})
    r = dana_poet(tmp_path, "test", "-p", "no:cacheprovider")
    assert r.returncode == 0, r.stdout + r.stderr
    # compiled code is cached in __pycache__ as for .py tests; no POET state is left behind
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "__pycache__") == ["test_poet.na"]


def test_top_level_error_fails_every_test_of_the_file(tmp_path: Path) -> None:
    write(
        tmp_path, {"test_top.na": "x = 1 / 0\ndef test_a():\n    pass\ndef test_b():\n    pass\n"}
    )
    r = dana_poet(tmp_path, "test")
    assert "2 failed" in r.stdout
    assert r.stdout.count("test_top.na:1: error: ZeroDivisionError") >= 2


def test_help_lists_the_pytest_options(tmp_path: Path) -> None:
    r = dana_poet(tmp_path, "test", "--help")
    assert r.returncode == 0
    for option in ("-k EXPR", "-x", "--lf", "--junitxml"):
        assert option in r.stdout


def test_deep_recursion_runs_in_tests_and_top_levels(tmp_path: Path) -> None:
    source = (
        "def depth(n):\n    if n == 0:\n        return 0\n    return 1 + depth(n - 1)\n\n"
        "deepest = depth(5000)\n\n"
        "def test_depth():\n    assert depth(5000) == 5000 and deepest == 5000\n"
    )
    write(tmp_path, {"test_deep.na": source})
    r = dana_poet(tmp_path, "test", "-p", "no:cacheprovider")
    assert (r.returncode, "1 passed" in r.stdout) == (0, True), r.stdout + r.stderr
