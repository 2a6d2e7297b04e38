"""The layout holds, read from the source of every module under app/: arrows point one way
(models ← services ← views, API, portal / jobs / CLI, with app/queue.py the services' one door
to the jobs), no screen module imports another, models and services never speak HTTP, and
every job a service queues by its dotted name is a job."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


MODULES = {
    module_name(path): (path, ast.parse(path.read_text(encoding="utf-8"), str(path)))
    for path in sorted(APP.rglob("*.py"))
}


def imports(name: str) -> set[str]:
    """The app modules `name` imports, at the top or inside a function; `from app.x import y`
    counts as importing app.x and, when y is a module, app.x.y."""
    path, tree = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.add(base)
            found.update(
                f"{base}.{alias.name}" for alias in node.names if is_module(f"{base}.{alias.name}")
            )
    return {target for target in found if target == "app" or target.startswith("app.")}


def layer(name: str) -> str:
    for area in ("models", "services", "views", "jobs"):
        if name == f"app.{area}" or name.startswith(f"app.{area}."):
            return area
    return {"app": "factory", "app.queue": "queue", "app.cli": "cli", "app.errors": "errors"}.get(
        name, "other"
    )


# What each layer may not import: whatever stands above it. The views (screens, REST API,
# portal), the jobs and the CLI stand side by side on top; only the CLI starts job machinery.
ABOVE = {
    "errors": {"models", "services", "queue", "views", "jobs", "cli", "factory"},
    "models": {"services", "queue", "views", "jobs", "cli", "factory"},
    "queue": {"models", "services", "views", "jobs", "cli", "factory"},
    "services": {"views", "jobs", "cli", "factory"},
    "jobs": {"views", "cli"},
    "views": {"jobs", "cli"},
}


def test_the_layout_test_reads_every_area():
    assert {layer(name) for name in MODULES} >= set(ABOVE) | {"cli", "factory"}


@pytest.mark.parametrize("lower", sorted(ABOVE))
def test_nothing_imports_what_stands_above_it(lower):
    wrong = [
        f"{name} imports {target}"
        for name in sorted(MODULES)
        if layer(name) == lower
        for target in sorted(imports(name))
        if layer(target) in ABOVE[lower]
    ]
    assert wrong == []


def test_services_reach_the_jobs_only_through_the_queue_module():
    wrong = [
        f"{name} imports {target}"
        for name in sorted(MODULES)
        if layer(name) == "services"
        for target in sorted(imports(name))
        if layer(target) == "jobs"
    ]
    assert wrong == []
    assert any("app.queue" in imports(name) for name in MODULES if layer(name) == "services")


def test_nothing_but_the_factory_and_the_views_import_a_view():
    wrong = [
        f"{name} imports {target}"
        for name in sorted(MODULES)
        if layer(name) not in ("views", "factory")
        for target in sorted(imports(name))
        if layer(target) == "views"
    ]
    assert wrong == []


# Shared by the screens: helpers (common), FAB glue (base) and what it wires in (guards, the
# error pages), column labels and the partner picker field, the data sheet's parts (sheet: every
# form that comes back on a tab renders it) and the lines editor's mixins (lines).
SHARED_VIEW_MODULES = {
    "app.views.sheet",
    "app.views.lines",
    "app.views",
    "app.views.common",
    "app.views.base",
    "app.views.guards",
    "app.views.error_pages",
    "app.views.labels",
    "app.views.fields",
}


def test_no_screen_module_imports_another():
    """Shared screen helpers live in views/common.py (and the shared modules above);
    views/__init__.py
    registers every screen, so it imports them all."""
    wrong = [
        f"{name} imports {target}"
        for name in sorted(MODULES)
        if layer(name) == "views" and name != "app.views"
        for target in sorted(imports(name))
        if layer(target) == "views" and target not in SHARED_VIEW_MODULES
    ]
    assert wrong == []


HTTP_NAMES = {"request", "g", "session", "abort", "redirect", "make_response", "jsonify"}
HTTP_CALLS = {"get_or_404", "first_or_404", "one_or_404", "abort"}


def http_uses(tree: ast.AST) -> list[str]:
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "flask":
            uses += [alias.name for alias in node.names if alias.name in HTTP_NAMES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("werkzeug.exc"):
            uses.append(node.module)
        elif isinstance(node, ast.Attribute) and (
            node.attr in HTTP_CALLS
            or isinstance(node.value, ast.Name)
            and node.value.id == "flask"
            and node.attr in HTTP_NAMES
        ):
            uses.append(node.attr)
    return uses


@pytest.mark.parametrize("area", ["models", "services"])
def test_models_and_services_never_speak_http(area):
    """They raise domain errors (NotFound among them); views and the API answer them."""
    wrong = {
        name: http_uses(tree)
        for name, (_, tree) in sorted(MODULES.items())
        if layer(name) == area and http_uses(tree)
    }
    assert wrong == {}


def queued_job_names() -> list[tuple[str, str]]:
    names = []
    for module, (_, tree) in sorted(MODULES.items()):
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "enqueue"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.append((module, node.args[0].value))
    return names


def test_every_job_a_service_queues_by_name_is_a_job():
    names = queued_job_names()
    assert {job for _, job in names} >= {
        "app.jobs.mail.send_mails",
        "app.jobs.mail.send_mail",
        "app.jobs.invoicing.run_invoicing",
    }
    for module, job in names:
        where, _, function = job.rpartition(".")
        assert layer(where) == "jobs", (module, job)
        assert callable(getattr(importlib.import_module(where), function, None)), (module, job)
