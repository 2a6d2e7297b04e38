"""The security manager's per-request permission cache and its session and token checks
override Flask-AppBuilder internals: an upgrade of FAB that changes them fails here first."""

import inspect
import re
from pathlib import Path

import flask_appbuilder
import pytest
from flask_appbuilder.security.sqla.manager import SecurityManager
from sqlalchemy import select

from app.extensions import db
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


def test_roles_given_through_a_group_count_and_only_grouped_users_read_groups(app, queries):
    """The user's statement says whether the user is in any of FAB's groups; only then are
    the groups read (one statement more), and their roles give their rights."""
    from flask_appbuilder.security.sqla.models import Group

    sm = app.appbuilder.sm
    with app.app_context():
        grouped = sm.add_user(
            "grouped",
            "Grouped",
            "User",
            "grouped@example.com",
            sm.find_role("Read-only"),
            password="grouped-pw",
        )
        db.session.add(
            Group(name="sales", label="Sales", roles=[sm.find_role("Staff")], users=[grouped])
        )
        db.session.commit()
        ids = grouped.id, sm.find_user(username="staff").id
    counts, roles = [], []
    for pk in ids:
        with app.test_request_context("/"):
            with queries() as q:
                user = sm.get_user_by_id(pk)
                roles.append(sorted(r.name for r in sm.get_user_roles(user)))
                groups = [group.name for group in user.groups]
            counts.append(q.count)
            db.session.rollback()
    with app.app_context():  # FAB's tables are not emptied between tests
        db.session.delete(db.session.scalars(select(Group).filter_by(name="sales")).one())
        db.session.delete(sm.find_user(username="grouped"))
        db.session.commit()
    assert roles == [["Read-only", "Staff"], ["Staff"]]
    assert counts == [2, 1]
    assert groups == []
