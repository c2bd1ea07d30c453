"""Which tests each make target runs: `make test` all but sam_local, `make unit` all but e2e and sam_local.

Read from the Makefile's own pytest calls (`make -n`), then put to pytest's collection, so a
target that silently runs nothing, or one that runs the Docker tests without Docker, fails here.
"""

from __future__ import annotations

import shlex
import subprocess
import sys

from local.launcher import ROOT


def pytest_call(target: str) -> list[str]:
    """The arguments after `-m pytest` in the one pytest command `make -n TARGET` would run."""
    dry_run = subprocess.run(["make", "-n", "-o", ".venv/.installed", "-o", ".venv-sam/.installed", target],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
    calls = [shlex.split(line) for line in dry_run.splitlines() if " -m pytest" in line]
    assert len(calls) == 1, f"make {target} runs {len(calls)} pytest commands:\n{dry_run}"
    words = calls[0]
    return words[words.index("pytest") + 1:]


def marker_expression(arguments: list[str]) -> str:
    assert "-m" in arguments, f"no marker selection in {arguments}"
    return arguments[arguments.index("-m") + 1]


def collected(expression: str, *paths: str) -> set[str]:
    """The test ids pytest collects under `paths` with `-m expression` (files, not each parameter)."""
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          "-m", expression, *paths], cwd=ROOT, capture_output=True, text=True).stdout
    return {line.split("::")[0] for line in out.splitlines() if "::" in line}


# The two folders where the markers live, at the grain of files (each file is all e2e or all sam_local or neither).
FOLDERS = ("tests/e2e", "tests/sam_local")
EVERY_FILE = {path.relative_to(ROOT).as_posix() for folder in FOLDERS for path in (ROOT / folder).glob("test_*.py")}
E2E = {"tests/e2e/test_local_stack.py", "tests/e2e/test_clients.py", "tests/e2e/test_swagger_ui.py",
       "tests/e2e/test_openapi_fuzz.py", "tests/e2e/test_weaviate_with_auth.py",
       "tests/e2e/test_file_jobs_real_model.py", "tests/e2e/test_file_jobs_scale.py"}


def test_make_test_runs_every_test_but_the_sam_local_ones() -> None:
    arguments = pytest_call("test")
    assert not [word for word in arguments if word.startswith("tests/")], "make test must run over all of tests/"
    kept = collected(marker_expression(arguments), *FOLDERS)
    assert kept == EVERY_FILE - {"tests/sam_local/test_events.py"}
    assert kept >= E2E


def test_make_unit_runs_the_fast_tests_only() -> None:
    kept = collected(marker_expression(pytest_call("unit")), *FOLDERS)
    assert kept == EVERY_FILE - {"tests/sam_local/test_events.py"} - E2E
    assert kept >= {"tests/sam_local/test_plumbing.py"}


def test_make_sam_local_runs_only_the_sam_local_tests() -> None:
    arguments = pytest_call("sam-local")
    assert marker_expression(arguments) == "sam_local"
    assert arguments[-1] == "tests/sam_local"
