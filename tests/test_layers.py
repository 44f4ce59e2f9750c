"""DESIGN.md's import rule, held by a test over the import graph, for every layer.

`runtime/` (the clock, the settings) imports nothing of ours; `catalog_schema/` (the
declarations) only `runtime/`. `connectors/`, `quality/` and `warehouse/` stand side by side on
those two and never reach sideways: a batch (gdx/batch.py) takes rows from a connector, has
`quality` judge them and gives them to the warehouse's unit of work. The API stands on the
warehouse and reads a key the way `quality` normalises it; the portal stands beside the API;
`gdx/` (pipeline, command line, Airflow, demo) may use everything, and nothing imports it but
the portal's upload of a fixed file."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {
    "runtime",
    "catalog_schema",
    "connectors",
    "quality",
    "warehouse",
    "services",
    "portal",
    "gdx",
}
BOTTOM = {"runtime", "catalog_schema"}
ALLOWED = {
    "runtime": set(),
    "catalog_schema": {"runtime"},
    "connectors": BOTTOM,
    "quality": BOTTOM,
    "warehouse": BOTTOM,
    "services": BOTTOM | {"warehouse", "quality"},
    # the portal's upload of a fixed file runs the batch pipeline of gdx/ (gdx.pipeline) and
    # judges the file with the connectors' own encoding detection
    "portal": {
        "runtime",
        "catalog_schema",
        "connectors",
        "warehouse",
        "services",
        "quality",
        "gdx",
    },
}
BELOW_THE_PORTAL = ("runtime", "catalog_schema", "connectors", "quality", "warehouse", "services")
PORTAL_MAY_USE_OF_GDX = {
    "gdx.pipeline",
    "gdx.errors",
    "gdx.catalog_import",
    "gdx.quarantine_report",
}


def imported_packages(package: str, root: Path = ROOT) -> dict[str, set[str]]:
    """{file: our top-level packages it imports}, at module level or inside functions alike."""
    found: dict[str, set[str]] = {}
    for path in sorted((root / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(root))] = (names & OURS) - {package}
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_bottom_layers_import_nothing_above_them(package):
    files = imported_packages(package)
    assert files, f"{package}/ has no Python files"
    wrong = {f: sorted(n - ALLOWED[package]) for f, n in files.items() if n - ALLOWED[package]}
    assert not wrong, f"{package}/ may import only {sorted(ALLOWED[package])}: {wrong}"


def test_the_graph_sees_imports_inside_functions(tmp_path):
    (tmp_path / "catalog_schema").mkdir()
    (tmp_path / "catalog_schema" / "m.py").write_text(
        "def f():\n    from warehouse import engine\n", encoding="utf-8"
    )
    assert imported_packages("catalog_schema", tmp_path) == {"catalog_schema/m.py": {"warehouse"}}


@pytest.mark.parametrize("package", BELOW_THE_PORTAL)
def test_nothing_below_the_portal_imports_it(package):
    files = imported_packages(package)
    wrong = sorted(f for f, names in files.items() if "portal" in names)
    assert not wrong, f"{package}/ imports portal/: {wrong}"


def modules_of_gdx_used(path: Path) -> set[str]:
    """The modules of gdx/ that the file imports, as dotted names (`from gdx import batch` and
    `from gdx.batch import run_batch` alike give gdx.batch)."""
    used = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module in ("gdx", "gdx.cli", "gdx.airflow", "gdx.demo"):  # from PKG import m
                used |= {f"{node.module}.{alias.name}" for alias in node.names}
            elif node.module.split(".")[0] == "gdx":
                used.add(node.module)
        elif isinstance(node, ast.Import):
            used |= {a.name for a in node.names if a.name.split(".")[0] == "gdx"}
    return used


def test_the_portal_uses_only_the_pipeline_of_gdx():
    """gdx/ is the command line and Airflow's operations; the portal may call its batch
    pipeline (the same as `gdx load`), never a command."""
    used = set()
    for path in sorted((ROOT / "portal").rglob("*.py")):
        used |= modules_of_gdx_used(path)
    assert used <= PORTAL_MAY_USE_OF_GDX, sorted(used - PORTAL_MAY_USE_OF_GDX)


# inside gdx/: the pipeline (gdx/*.py) is used by Airflow's operations, the demo and the command
# line; Airflow's operations by the demo and the command line; the demo by the command line
GDX_PARTS_MAY_NOT_USE = {
    "": ("gdx.cli", "gdx.airflow", "gdx.demo"),
    "airflow": ("gdx.cli", "gdx.demo"),
    "demo": ("gdx.cli",),
}


@pytest.mark.parametrize("part", sorted(GDX_PARTS_MAY_NOT_USE))
def test_gdx_parts_import_only_below_them(part):
    folder = ROOT / "gdx" / part
    paths = sorted(folder.glob("*.py") if not part else folder.rglob("*.py"))
    assert paths
    banned = GDX_PARTS_MAY_NOT_USE[part]
    wrong = {
        str(path.relative_to(ROOT)): sorted(
            m for m in modules_of_gdx_used(path) if m.startswith(banned)
        )
        for path in paths
    }
    wrong = {f: m for f, m in wrong.items() if m}
    assert not wrong, f"gdx/{part} may not import {banned}: {wrong}"


def test_the_gdx_parts_check_sees_a_wrong_import(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("from gdx.cli import console\nfrom gdx import batch\n", encoding="utf-8")
    assert modules_of_gdx_used(path) == {"gdx.cli.console", "gdx.batch"}
