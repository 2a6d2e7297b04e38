"""Request-level protection: CSRF tokens for every form, action and cookie-authenticated API
call, throttled logins, security headers and session cookies. A refusal for want of a CSRF
token is answered by app/views/error_pages.py, with the other error pages."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Flask, current_app, flash, jsonify, redirect, request
from flask.sessions import SecureCookieSessionInterface
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFProtect

from app.errors import LoginRefused

log = logging.getLogger("dossier.security")
csrf = CSRFProtect()

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Where a user name and a password are tried: the login form and the API's login.
LOGIN_ENDPOINTS = {"DossierAuthDBView.login": "form", "SecurityApi.login": "json"}


class SessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure whenever the request came over HTTPS (directly or through
    a proxy that ProxyFix trusts), so that `make run` on plain HTTP still keeps a session."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


def init_csrf(app: Flask) -> None:
    """Before AppBuilder: FAB exempts its REST blueprints from CSRFProtect and refuses deletes
    and actions by GET once the extension is there."""
    csrf.init_app(app)


def content_security_policy(app: Flask) -> dict:
    images = ["'self'", "data:"]
    tiles = urlsplit(app.config.get("MAP_TILE_URL") or "")
    if tiles.scheme and tiles.netloc:
        images.append(f"{tiles.scheme}://{tiles.netloc.replace('{s}', '*')}")
    return {
        "default-src": "'self'",
        "script-src": "'self'",  # and the request's nonce: no inline script without it
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": images,
        "font-src": ["'self'", "data:"],
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }


def init_protection(app: Flask) -> None:
    """After AppBuilder: headers, session cookies, the API's CSRF rule and login throttling."""
    app.session_interface = SessionInterface()
    talisman = Talisman(
        app,
        force_https=False,  # a reverse proxy terminates HTTPS
        session_cookie_secure=False,  # Secure per request, see SessionInterface
        session_cookie_http_only=True,
        session_cookie_samesite="Lax",
        frame_options="DENY",
        content_security_policy=content_security_policy(app),
        content_security_policy_nonce_in=["script-src"],
        referrer_policy="strict-origin-when-cross-origin",
        strict_transport_security=True,  # sent only on HTTPS requests
    )
    # The page's nonce before CSRFProtect's hook, so that the page refusing a request without a
    # token (app/views/error_pages.py) runs its scripts too.
    app.before_request_funcs.setdefault(None, []).insert(0, talisman._make_nonce)
    app.before_request(_api_cookie_needs_csrf_token)
    app.before_request(_throttle_logins)


def _api_cookie_needs_csrf_token():
    """The REST API answers JWT bearer tokens as it is; a call that rides on the browser's
    session cookie must carry the page's CSRF token (X-CSRFToken) to change anything."""
    if request.method not in UNSAFE_METHODS or not request.path.startswith("/api/"):
        return None
    if request.headers.get("Authorization", "").startswith("Bearer "):
        return None
    if request.endpoint in LOGIN_ENDPOINTS:
        return None  # takes a name and a password, not the cookie
    csrf.protect()
    return None


def _throttle_logins():
    """Too many failures for a name or from an address: refused before the password is
    looked at, with the same answer whether the user exists or not."""
    kind = LOGIN_ENDPOINTS.get(request.endpoint or "")
    if kind is None or request.method != "POST":
        return None
    if kind == "form":
        username = request.form.get("username")
    else:
        payload = request.get_json(silent=True)
        username = payload.get("username") if isinstance(payload, dict) else None
    from app.services.auth import check_login_allowed

    try:
        check_login_allowed(username if isinstance(username, str) else None, request.remote_addr)
    except LoginRefused as error:
        log.warning("login refused (%s) for %r from %s", error, username, request.remote_addr)
        if kind == "json":
            return jsonify(message=str(error)), 429
        flash(str(error), "danger")
        login = current_app.appbuilder.get_url_for_login_with(request.args.get("next"))
        return redirect(login), 303
    return None
