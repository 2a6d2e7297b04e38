"""Security manager: permission checks cached per request, and the seeded roles of SPEC 2."""

from __future__ import annotations

import secrets
from functools import cached_property

from flask import g, has_request_context, request, session
from flask_appbuilder import expose
from flask_appbuilder.security import views as fab
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.sqla.models import (
    Group,
    Permission,
    PermissionView,
    Role,
    ViewMenu,
    assoc_permissionview_role,
    assoc_user_group,
)
from flask_appbuilder.security.views import AuthDBView
from flask_babel import lazy_gettext as _l
from flask_jwt_extended import current_user as current_user_jwt
from flask_login import current_user, user_logged_in
from sqlalchemy import bindparam, exists, select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value
from werkzeug.local import LocalProxy

from app.models import SecurityVersion, Task, UserProfile
from app.models.base import utcnow

# Views and APIs share one permission per resource: can_read / can_write on "Partner" etc.
READ_WRITE = {
    "list": "read",
    "show": "read",
    "download": "read",
    "get_list": "read",
    "get": "read",
    "info": "read",
    "add": "write",
    "edit": "write",
    "delete": "write",
    "post": "write",
    "put": "write",
    "action": "write",
    "action_post": "write",
    "issue": "write",
    "cancel": "write",
    "change_status": "write",
    "pdf": "read",
    "payment": "write",
    "email": "write",
    "zone_invite": "write",
    "make": "write",
    "invoice": "write",
    "order": "write",
    "send": "write",
    "accept": "write",
    "send_quote": "write",
    "answer": "write",
}

RESOURCES = (
    "Partner",
    "Affiliation",
    "Address",
    "Code",
    "Note",
    "AuditLog",
    "Offer",
    "Order",
    "Task",
    "Document",
    "Product",
    "Invoice",
    "Contract",
    "DocumentTemplate",
    "RecurringInvoice",
    "News",
)
MENUS = (
    "Partners",
    "People",
    "Companies",
    "Contact persons",
    "Addresses",
    "Codes",
    "Change log",
    "Sales",
    "Offers",
    "Orders",
    "Forecast",
    "Tasks",
    "Task list",
    "Calendar",
    "Finance",
    "Products",
    "Invoices",
    "Contracts",
    "Automatic invoicing",
    "Portal",
    "Portal news",
    "Zone users",
)

# What every logged-in user may do with their own account.
OWN_ACCOUNT = [
    ("can_userinfo", "UserDBModelView"),
    ("resetmypassword", "UserDBModelView"),
    ("userinfoedit", "UserDBModelView"),
    ("can_this_form_get", "ResetMyPasswordView"),
    ("can_this_form_post", "ResetMyPasswordView"),
    ("can_this_form_get", "UserInfoEditView"),
    ("can_this_form_post", "UserInfoEditView"),
]


def _read(*resources):
    return [("can_read", r) for r in resources]


def _write(*resources):
    return [("can_write", r) for r in resources]


def _menus(*menus):
    return [("menu_access", m) for m in menus]


CRM = ("Partner", "Affiliation", "Address", "Note", "Offer", "Order", "Task", "Document", "News")

# Zone users reach the portal and their own account, nothing else.
ZONE = _read("Zone") + _write("Zone") + OWN_ACCOUNT
STAFF_MENUS = tuple(m for m in MENUS if m not in ("Change log", "Automatic invoicing"))
READ_CRM = _read(
    *CRM, "Code", "Product", "Invoice", "Contract", "DocumentTemplate", "RecurringInvoice"
)

ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    "Manager": _read(*RESOURCES) + _write(*CRM, "Code", "Contract") + _menus(*MENUS) + OWN_ACCOUNT,
    "Staff": READ_CRM + _write(*CRM) + _menus(*STAFF_MENUS) + OWN_ACCOUNT,
    "Finance": READ_CRM
    + _write("Product", "Invoice", "Order", "Contract", "RecurringInvoice")
    + _read("OurCompany")
    + _write("OurCompany")
    + _menus(*STAFF_MENUS, "Automatic invoicing", "Settings", "Our company")
    + OWN_ACCOUNT,
    "Read-only": READ_CRM + _menus(*STAFF_MENUS) + OWN_ACCOUNT,
    "Client": ZONE,
    "Partner": ZONE,
}


# Role names are permission keys and stay English in the database; users read these.
ROLE_LABELS = {
    "Admin": _l("Administrator"),
    "Manager": _l("Manager"),
    "Staff": _l("Staff"),
    "Finance": _l("Finance"),
    "Read-only": _l("Read-only"),
    "Client": _l("Client"),
    "Partner": _l("Partner"),
    "Public": _l("Public"),
}


def role_label(name: str) -> str:
    label = ROLE_LABELS.get(name)
    return str(label) if label is not None and has_request_context() else name


# FAB shows a role (in lists, show pages and the options of its forms) as its repr.
Role.__repr__ = lambda self: role_label(self.name)


# FAB's security screens with labels it leaves to its English column names; the same class
# names, so that their permissions and endpoints stay FAB's.
class UserDBModelView(fab.UserDBModelView):
    label_columns = {**fab.UserDBModelView.label_columns, "conf_password": _l("Confirm password")}
    description_columns = {
        **fab.UserDBModelView.description_columns,
        "groups": _l("The user's groups; each gives the user the roles of the group"),
        "roles": _l("The user's roles; each gives the user its permissions"),
    }


class RoleModelView(fab.RoleModelView):
    label_columns = {
        **fab.RoleModelView.label_columns,
        "groups": _l("Groups"),
        "user": _l("Users"),
    }

    def _get_list_widget(self, *args, **kwargs):
        # FAB's role list prints the stored name; users read the role's label.
        widgets = super()._get_list_widget(*args, **kwargs)
        rows = list(widgets["list"].template_args["value_columns"])
        for row in rows:
            row["name"] = role_label(row["name"])
        widgets["list"].template_args["value_columns"] = rows
        return widgets


class UserGroupModelView(fab.UserGroupModelView):
    label_columns = {
        "name": _l("Name"),
        "label": _l("Label"),
        "description": _l("Description"),
        "users": _l("Users"),
        "roles": _l("Roles"),
    }


class UserStatsChartView(fab.UserStatsChartView):
    label_columns = {
        **fab.UserModelView.label_columns,
        **fab.UserStatsChartView.label_columns,
        "groups": _l("Groups"),
    }
    definitions = [
        {"label": _l("Login count"), "group": "username", "series": ["login_count"]},
        {"label": _l("Failed login count"), "group": "username", "series": ["fail_login_count"]},
    ]


class PermissionViewModelView(fab.PermissionViewModelView):
    label_columns = {**fab.PermissionViewModelView.label_columns, "role": _l("Role")}


# The session remembers the generation it was made in (see UserProfile.session_generation).
SESSION_GENERATION = "_generation"


class DossierAuthDBView(AuthDBView):
    """FAB's login, with a link to a forgotten password, and a logout that is a POST: a link on
    another site cannot end every session of the user (GET shows the button)."""

    login_template = "appbuilder/login.html"

    @expose("/logout/", methods=["GET", "POST"])
    def logout(self):
        if request.method == "GET":
            return self.render_template("appbuilder/logout.html", appbuilder=self.appbuilder)
        return super().logout()


# Where Flask-Login, Flask-JWT-Extended and FAB keep the request's identities in `g`.
_IDENTITY_KEYS = ("_login_user", "_jwt_extended_jwt_user", "_api_key_user", "user")


def _unproxied(user):
    """The object behind `g.user` (FAB sets it to Flask-Login's proxy)."""
    return user._get_current_object() if isinstance(user, LocalProxy) else user


def _identities(kept: dict) -> tuple:
    return tuple(kept.get(key) for key in _IDENTITY_KEYS)


def _same_identities(identities: tuple, kept: dict) -> bool:
    return all(a is kept.get(key) for a, key in zip(identities, _IDENTITY_KEYS, strict=True))


class DossierSecurityManager(SecurityManager):
    """FAB's manager, with one permission query per request instead of one per check,
    sessions and tokens that end with a logout or a new password, and counted failed logins."""

    authdbview = DossierAuthDBView
    userdbmodelview = UserDBModelView
    rolemodelview = RoleModelView
    groupmodelview = UserGroupModelView
    permissionviewmodelview = PermissionViewModelView
    userstatschartview = UserStatsChartView

    # A role set's permissions, kept per process while the database's security token (read
    # with the user) stays the same: (role ids, token) -> the (permission, view) names.
    KEPT_PERMISSION_SETS = 256

    @cached_property
    def _kept_permissions(self) -> dict:
        return {}

    def _permission_set(self, user) -> frozenset[tuple[str, str]]:
        key = ("_dossier_permissions", user.id)
        if has_request_context():
            cached = g.get("_dossier_permissions")
            if cached and cached[0] == key:
                return cached[1]
        role_ids = sorted({r.id for r in self.get_user_roles(user)})
        token = getattr(user, "security_version", None)
        kept = self._kept_permissions
        permissions = kept.get((tuple(role_ids), token)) if token is not None else None
        if permissions is None:
            rows = self._permissions_of(role_ids)
            permissions = frozenset((p, v) for p, v in rows)
            if token is not None:
                if len(kept) >= self.KEPT_PERMISSION_SETS:
                    kept.clear()
                kept[tuple(role_ids), token] = permissions
        if has_request_context():
            g._dossier_permissions = (key, permissions)
        return permissions

    @cached_property
    def _permissions_statement(self):
        """(permission, view) names of a list of roles, built once: building the select
        cost as much as running it, on every request."""
        return self._permissions_select(bindparam("role_ids", expanding=True))

    @staticmethod
    def _permissions_select(role_ids):
        return (
            select(Permission.name, ViewMenu.name)
            .select_from(PermissionView)
            .join(Permission, PermissionView.permission_id == Permission.id)
            .join(ViewMenu, PermissionView.view_menu_id == ViewMenu.id)
            .join(
                assoc_permissionview_role,
                assoc_permissionview_role.c.permission_view_id == PermissionView.id,
            )
            .where(assoc_permissionview_role.c.role_id.in_(role_ids))
        )

    @cached_property
    def _public_statement(self):
        return self._permissions_select(select(Role.id).where(Role.name == bindparam("role")))

    def _permissions_of(self, role_ids) -> list:
        """(permission, view) names of the roles (a list of ids)."""
        return self.session.execute(self._permissions_statement, {"role_ids": role_ids}).all()

    def is_item_public(self, permission_name, view_name) -> bool:
        # FAB loads the public role, then its permissions, then each one's names: one query.
        if has_request_context() and "_dossier_public" in g:
            public = g._dossier_public
        else:
            public = frozenset(
                self.session.execute(self._public_statement, {"role": self.auth_role_public}).all()
            )
            if has_request_context():
                g._dossier_public = public
        return (permission_name, view_name) in public

    @cached_property
    def _user_statement(self):
        """The user with its roles, groups, session generation, the database's security token
        and whether any of their tasks is overdue (the bell), built once (the options and
        joins cost more than the query itself on every request)."""
        token = select(SecurityVersion.value).where(SecurityVersion.id == 1).scalar_subquery()
        overdue = exists().where(
            Task.responsible_id == self.user_model.id,
            Task.done.is_(False),
            Task.due_at < bindparam("now"),
        )
        # FAB's groups (roles given through a group) are rarely used: the user's row says
        # whether there are any, and only then are they read (the joins cost a quarter of
        # the user's loading on every request).
        in_groups = exists().where(assoc_user_group.c.user_id == self.user_model.id)
        return (
            select(self.user_model, UserProfile.session_generation, token, overdue)
            .outerjoin(UserProfile, UserProfile.user_id == self.user_model.id)
            .where(self.user_model.id == bindparam("pk"))
            .add_columns(in_groups)
            .options(joinedload(self.user_model.roles))
        )

    @cached_property
    def _groups_statement(self):
        """A user's groups with their roles, read only for a user in a group."""
        return (
            select(self.user_model)
            .where(self.user_model.id == bindparam("pk"))
            .options(joinedload(self.user_model.groups).joinedload(Group.roles))
        )

    def get_user_by_id(self, pk):
        # Every request loads the user with its roles, groups and session generation: one
        # query, not four.
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            return None
        row = (
            self.session.execute(self._user_statement, {"pk": pk, "now": utcnow()}).unique().first()
        )
        if row is None:
            return None
        user, generation, token, overdue, in_groups = row
        if in_groups:
            self.session.execute(self._groups_statement, {"pk": pk}).unique().all()
        else:
            set_committed_value(user, "groups", [])
        user.session_generation = generation or 0
        user.security_version = token  # whether the process's permission sets still hold
        user.has_overdue_tasks = bool(overdue)  # the bell reads them only when there are
        return user

    # -- sessions and tokens end with a logout or a new password --------------------------

    def create_login_manager(self, app):
        manager = super().create_login_manager(app)
        manager.user_loader(self.load_session_user)
        # FAB passes current_app: the signal is sent by the real app object.
        user_logged_in.connect(self._remember_generation, app._get_current_object())
        return manager

    def _remember_generation(self, app, user, **extra) -> None:
        session[SESSION_GENERATION] = getattr(user, "session_generation", None)
        if session[SESSION_GENERATION] is None:
            from app.services.auth import generation

            session[SESSION_GENERATION] = generation(user.id)

    def load_session_user(self, pk):
        user = self.load_user(pk)
        if user is not None and session.get(SESSION_GENERATION) != user.session_generation:
            return None  # a logout elsewhere or a new password ended this session
        return user

    def create_jwt_manager(self, app):
        manager = super().create_jwt_manager(app)
        manager.additional_claims_loader(self._token_claims)
        return manager

    @staticmethod
    def _token_claims(identity) -> dict:
        from app.services.auth import generation

        return {"generation": generation(int(identity))}

    def load_user_jwt(self, _jwt_header, jwt_data):
        user = self.load_user(jwt_data["sub"])
        if user is None or jwt_data.get("generation") != user.session_generation:
            return None  # answered 401: the token predates a logout or a new password
        g.user = user
        return user

    def on_user_logout(self, user) -> None:
        from app.services.auth import end_sessions

        end_sessions(user.id)
        self.session.commit()

    def reset_password(self, userid, password):
        """FAB's password forms (own and admin's): the policy, and every other session and
        token of the user ends."""
        from app.services.auth import generation, set_password

        user = self.get_user_by_id(userid)
        set_password(user, password)
        self.session.commit()
        current = g.get("user")
        if current is not None and getattr(current, "id", None) == user.id:
            session[SESSION_GENERATION] = generation(user.id)  # this session goes on

    # -- failed logins slow down, then lock --------------------------------------------------

    def auth_user_db(self, username, password):
        from app.services.auth import record_failure, record_success

        user = super().auth_user_db(username, password)
        address = request.remote_addr if has_request_context() else None
        if user is None:
            record_failure(username, address)
        else:
            record_success(username)
        return user

    def has_access(self, permission_name: str, view_name: str) -> bool:
        """FAB's check (SecurityManager.has_access: an API key's user, the session's, the
        JWT's, else the public role), with whose rights answer worked out once per request:
        FAB looked the user up through Flask-Login's and Flask's proxies about ten times for
        each question, and a data sheet asks some twenty. Another identity later in the
        request (a login, a JWT verified by a view's decorator) is worked out again."""
        if not has_request_context():
            return super().has_access(permission_name, view_name)
        # Kept on the request (an app context, and its `g`, can outlive a request), for the
        # identities found in `g`.
        store = request._get_current_object().__dict__
        kept = g._get_current_object().__dict__
        memo = store.get("_dossier_access")
        if memo is None or not _same_identities(memo[0], kept):
            holder = self._rights_holder()
            memo = store["_dossier_access"] = (_identities(kept), holder, {})
        _, holder, answers = memo
        question = (permission_name, view_name)
        answer = answers.get(question)
        if answer is None:
            if holder is None:
                answer = self.is_item_public(permission_name, view_name)
            else:
                answer = holder is not False and question in self._permission_set(holder)
            answers[question] = answer
        return answer

    def _rights_holder(self):
        """The user whose rights answer the request's questions (FAB's order), False for an
        inactive one, None for the public role."""
        if getattr(g, "_api_key_user", False) and hasattr(g, "user"):
            user = _unproxied(self._get_safe_user(g.user))
            if user and user.is_active:
                return user
        if current_user.is_authenticated:
            user = _unproxied(self._get_safe_user(g.user))
            return user if user and user.is_active else False
        if current_user_jwt and current_user_jwt.is_active:
            return current_user_jwt._get_current_object()
        return None

    def _has_view_access(self, user, permission_name: str, view_name: str) -> bool:
        return (permission_name, view_name) in self._permission_set(user)

    def _get_user_permission_view_menus(self, user, permission_name, view_menus_name):
        if user is None:
            return super()._get_user_permission_view_menus(user, permission_name, view_menus_name)
        allowed = self._permission_set(user)
        return {v for v in view_menus_name if (permission_name, v) in allowed}

    def has_role(self, user, *names: str) -> bool:
        return any(r.name in names for r in self.get_user_roles(user))

    def seed_roles(self) -> None:
        """Create the roles of SPEC section 2 with their permissions; safe to run again."""
        for name, permissions in ROLE_PERMISSIONS.items():
            role = self.find_role(name) or self.add_role(name)
            for permission_name, view_name in permissions:
                pv = self.add_permission_view_menu(permission_name, view_name)
                if pv not in role.permissions:
                    role.permissions.append(pv)
        self.session.commit()

    def ensure_admin(self, username: str, password: str | None) -> str | None:
        """Make the first admin once; returns the generated password when one was made."""
        if self.find_user(username=username):
            return None
        generated = password or secrets.token_urlsafe(12)
        user = self.add_user(
            username=username,
            first_name="Dossier",
            last_name="Admin",
            email=f"{username}@localhost",
            role=self.find_role(self.auth_role_admin),
            password=generated,
        )
        if not user:
            raise RuntimeError(f"could not create the admin user {username!r}")
        return None if password else generated


__all__ = ["DossierSecurityManager", "ROLE_PERMISSIONS", "READ_WRITE", "Role"]
