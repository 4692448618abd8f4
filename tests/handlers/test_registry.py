"""The handler registry, its module names and the handlers package's import boundaries."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from core.models import CATALOG_SEVERITY, Scenario
from handlers import HANDLERS

PACKAGE = Path(importlib.import_module("handlers").__file__ or "").parent
SUPPORT_MODULES = {"__init__", "types", "actions", "probing"}  # everything else is a scenario
# What a scenario module may import: the vocabulary, its own package, pure standard modules.
# No clients, no I/O libraries: a handler reaches the world only through the Probes it is given.
SCENARIO_IMPORTS = {"__future__", "dataclasses", "datetime", "core", "handlers"}


def imported_roots(path: Path) -> set[str]:
    """Top-level names of every module `path` imports (relative imports count as handlers)."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add("handlers" if node.level else (node.module or "").split(".")[0])
    return roots


def test_every_scenario_has_exactly_one_handler() -> None:
    """The catalogue and the registry list the same scenarios."""
    assert set(HANDLERS) == set(Scenario)


@pytest.mark.parametrize("scenario", list(Scenario), ids=str)
def test_handler_module_names_match_scenario_ids(scenario: Scenario) -> None:
    """handlers/<id>.py handles Scenario('<id>'), and the registry holds that very handler."""
    module = importlib.import_module(f"handlers.{scenario.value}")
    assert module.HANDLER.scenario is scenario
    assert HANDLERS[scenario] is module.HANDLER


def test_handlers_package_holds_only_scenario_and_support_modules() -> None:
    """Every module in handlers/ is a scenario id or one of the few shared support modules."""
    names = {p.stem for p in PACKAGE.glob("*.py")}
    assert names - SUPPORT_MODULES == {s.value for s in Scenario}


@pytest.mark.parametrize("scenario", list(Scenario), ids=str)
def test_handler_docstring_cites_id_and_catalogue_severity(scenario: Scenario) -> None:
    """A handler's docstring starts with its scenario id and the catalogue's severity."""
    doc = importlib.import_module(f"handlers.{scenario.value}").__doc__ or ""
    assert doc.startswith(f"{scenario.value} ({CATALOG_SEVERITY[scenario]}), ")


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_handlers_import_nothing_from_webhook_or_worker(path: Path) -> None:
    """handlers/ never imports the edges (STYLE "Layout": core <- handlers <- worker)."""
    assert not imported_roots(path) & {"webhook", "worker"}


@pytest.mark.parametrize("scenario", list(Scenario), ids=str)
def test_scenario_modules_import_no_io_libraries(scenario: Scenario) -> None:
    """A scenario module imports only core, handlers and pure standard modules."""
    assert imported_roots(PACKAGE / f"{scenario.value}.py") <= SCENARIO_IMPORTS
