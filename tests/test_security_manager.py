"""The security manager's per-request permission cache and its session and token checks
override Flask-AppBuilder internals: an upgrade of FAB that changes them fails here first."""

import inspect
import re
from pathlib import Path

import flask_appbuilder
import pytest
from flask_appbuilder.security.sqla.manager import SecurityManager

from app.security import DossierSecurityManager

REQUIREMENTS = Path(__file__).resolve().parent.parent / "requirements.txt"
OVERRIDDEN = [
    "_has_view_access",
    "_get_user_permission_view_menus",
    "get_user_by_id",
    "load_user_jwt",
    "create_login_manager",
    "create_jwt_manager",
]


def parameters(method) -> list[tuple]:
    return [(p.name, p.kind) for p in inspect.signature(method).parameters.values()]


def test_the_installed_flask_appbuilder_is_the_pinned_one():
    pin = re.search(r"^Flask-AppBuilder==(\S+)$", REQUIREMENTS.read_text(), re.MULTILINE)
    assert pin, "requirements.txt pins Flask-AppBuilder with =="
    assert flask_appbuilder.__version__ == pin.group(1)


@pytest.mark.parametrize("name", OVERRIDDEN)
def test_each_overridden_fab_method_still_exists_with_the_same_parameters(name):
    fab = getattr(SecurityManager, name, None)
    assert callable(fab), f"FAB's SecurityManager no longer has {name}"
    assert parameters(vars(DossierSecurityManager)[name]) == parameters(fab)
