"""The package's rooms import only what docs/ARCHITECTURE.md says they may, read from their source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "vectorizer" / "vectorizer"
TOP = "top"  # the shared modules directly in the package: settings, errors, config, ...
MAY_IMPORT = {
    TOP: {TOP},
    "hf": {TOP, "hf"},
    "jobs": {TOP, "hf", "jobs"},
    "api": {TOP, "hf", "jobs", "api"},
    "protocols": {TOP, "hf", "api", "protocols"},
    # File jobs feed the job pipeline (messages, ports, stores); the API's rules come in as callables.
    "files": {TOP, "jobs", "files"},
}
WIRING = "vectorizer.services"  # builds every room's objects, so it may import any of them
# The handlers, the local stack and the tests sit outside the package; so do event shapes.
OUTSIDE = ("functions", "local", "tests", "app", "api_runtime", "compat_routes")
EVENT_SHAPES = (
    "aws_lambda_powertools.event_handler", "aws_lambda_powertools.utilities.data_classes",
    "aws_lambda_powertools.utilities.batch", "aws_lambda_powertools.utilities.parser",
)


def module_name(path: Path) -> str:
    """The dotted module name of a file in the package (`vectorizer.hf.client`)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room_of(module: str) -> str:
    """The room a `vectorizer...` module belongs to: its subpackage, or TOP for a shared module."""
    parts = module.split(".")
    if len(parts) > 1 and (PACKAGE / parts[1]).is_dir():
        return parts[1]
    return TOP


def imported_modules(module: str, source: str, is_package: bool = False) -> list[str]:
    """Every module `source` imports, anywhere in it, absolute; `from x import y` counts `x.y` too."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append(base)
            # `from vectorizer import hf` imports the room itself.
            found.extend(f"{base}.{alias.name}" for alias in node.names if base == "vectorizer")
    return found


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """Each import of `module` its room may not make, as `<module> imports <what> (<room>)`."""
    room = room_of(module)
    found = []
    for name in imported_modules(module, source, is_package):
        if name.split(".")[0] in OUTSIDE or name.startswith(EVENT_SHAPES):
            found.append(f"{module} imports {name} (outside the package)")
        elif name.startswith("vectorizer.") and module != WIRING:
            target = room_of(name)
            if target not in MAY_IMPORT[room]:
                found.append(f"{module} imports {name} ({target})")
    return found


def test_every_room_has_its_rule() -> None:
    rooms = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}
    assert rooms == set(MAY_IMPORT) - {TOP}


def test_no_room_imports_one_it_may_not() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        found += violations(module_name(path), path.read_text(), path.name == "__init__.py")
    assert found == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("vectorizer.hf.client", "from vectorizer.jobs.vector_store import StoredVector",
         ["vectorizer.hf.client imports vectorizer.jobs.vector_store (jobs)"]),
        ("vectorizer.settings", "def f():\n    from vectorizer import hf",
         ["vectorizer.settings imports vectorizer.hf (hf)"]),
        ("vectorizer.jobs.service", "from ..api import models",
         ["vectorizer.jobs.service imports vectorizer.api (api)"]),
        ("vectorizer.protocols.embedding_call", "import vectorizer.jobs.service",
         ["vectorizer.protocols.embedding_call imports vectorizer.jobs.service (jobs)"]),
        ("vectorizer.api.inline", "from local.api_gateway import proxy_event",
         ["vectorizer.api.inline imports local.api_gateway (outside the package)"]),
        ("vectorizer.jobs.service", "from aws_lambda_powertools.utilities.data_classes import SQSEvent",
         ["vectorizer.jobs.service imports aws_lambda_powertools.utilities.data_classes (outside the package)"]),
        ("vectorizer.jobs.service", "from vectorizer.files.splitter import split_step",
         ["vectorizer.jobs.service imports vectorizer.files.splitter (files)"]),
        ("vectorizer.files.records", "from vectorizer.api.weaviate_objects import object_text",
         ["vectorizer.files.records imports vectorizer.api.weaviate_objects (api)"]),
        ("vectorizer.files.splitter", "from vectorizer.jobs.message import signed\nfrom vectorizer import packing", []),
        ("vectorizer.services", "from vectorizer.protocols import embedding_call", []),
        ("vectorizer.api.inline", "from vectorizer.hf.client import EmbedOutcome\nfrom . import models", []),
    ],
)
def test_the_rule_catches_each_kind_of_forbidden_import(module: str, source: str, expected: list[str]) -> None:
    assert violations(module, source) == expected
