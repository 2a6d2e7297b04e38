"""Logins and sessions: the password policy, session generations, throttled failed logins,
and the "forgot password" links."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import generate_password_hash

from app.errors import InvalidValue, LoginRefused
from app.extensions import db
from app.models import LoginThrottle, PasswordReset, UserProfile, utcnow
from app.services import acting_as
from app.services.outbox import mail_link, queue_mail
from app.services.tasks import render_mail
from app.services.users import locale_of, profile_or_none

log = logging.getLogger("dossier.security")


# -- the password policy ------------------------------------------------------------------

MIN_PASSWORD_LENGTH = 10


def password_problem(password: str | None) -> str | None:
    """Why a password is refused (in the user's language), or None when it is good enough:
    at least 10 characters and not a common or easily guessed one."""
    if not password or len(password) < MIN_PASSWORD_LENGTH:
        return gettext(
            "The password must be at least %(length)s characters long.", length=MIN_PASSWORD_LENGTH
        )
    from zxcvbn import zxcvbn

    # zxcvbn's score 2 means more than a million guesses: no common password, keyboard row,
    # repeated character or dictionary word with digits appended reaches it.
    if zxcvbn(password[:100])["score"] < 2:
        return gettext("This password is too common or too easy to guess.")
    return None


def check_password_policy(password: str) -> None:
    """FAB's FAB_PASSWORD_COMPLEXITY_VALIDATOR: its user and password forms call it."""
    from flask_appbuilder.exceptions import PasswordComplexityValidationError

    problem = password_problem(password)
    if problem:
        raise PasswordComplexityValidationError(problem)


def set_password(user, password: str) -> None:
    """Hash and store a new password and end every session and token of the user (the caller
    commits; a request that keeps its own session asks `generation` again)."""
    problem = password_problem(password)
    if problem:
        raise InvalidValue("password", problem)
    user.password = generate_password_hash(
        password=password,
        method=current_app.config.get("FAB_PASSWORD_HASH_METHOD", "scrypt"),
        salt_length=current_app.config.get("FAB_PASSWORD_HASH_SALT_LENGTH", 16),
    )
    end_sessions(user.id)


# -- session generations -----------------------------------------------------------------


def generation(user_id: int) -> int:
    found = db.session.scalar(
        select(UserProfile.session_generation).where(UserProfile.user_id == user_id)
    )
    return found or 0


def end_sessions(user_id: int) -> int:
    """Every session cookie and JWT issued to the user so far stops working; returns the new
    generation. Takes effect when the caller commits."""
    profile = db.session.get(UserProfile, user_id)
    if profile is None:
        profile = UserProfile(user_id=user_id, zone_mail=True, session_generation=0)
        db.session.add(profile)
        db.session.flush()
    db.session.execute(
        update(UserProfile)
        .where(UserProfile.user_id == user_id)
        .values(session_generation=UserProfile.session_generation + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(profile)
    return profile.session_generation


# -- throttling failed logins ---------------------------------------------------------------


def _keys(username: str | None, address: str | None) -> dict[str, tuple[int, int]]:
    """The counters a login attempt is judged by, each with the failures after which it slows
    down and those that lock it. An address (an office behind one router) is given more."""
    config = current_app.config
    keys = {
        "name:" + (username or "").strip().casefold()[:250]: (
            config["LOGIN_SLOWDOWN_AFTER"],
            config["LOGIN_LOCK_AFTER"],
        )
    }
    if address:
        keys["address:" + address] = (
            config["LOGIN_LOCK_AFTER"],
            config["LOGIN_ADDRESS_LOCK_AFTER"],
        )
    return keys


def _delay(failures: int, slow_after: int) -> timedelta:
    """From `slow_after` failures on, each try waits 1, 2, 4 … (at most 60) seconds."""
    over = failures - slow_after
    return timedelta(seconds=min(2**over, 60)) if over >= 0 else timedelta(0)


def _window() -> timedelta:
    return timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"])


def check_login_allowed(
    username: str | None, address: str | None, now: datetime | None = None
) -> None:
    """Raise LoginRefused while the name or the address is slowed down or locked. The same
    answer for a name that exists and one that does not."""
    now = now or utcnow()
    keys = _keys(username, address)
    rows = db.session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys))).all()
    db.session.rollback()
    for row in rows:
        if row.locked_until and row.locked_until > now:
            minutes = max(1, -(-int((row.locked_until - now).total_seconds()) // 60))
            raise LoginRefused(LoginRefused.locked, minutes=minutes)
    for row in rows:
        if row.last_failure_at + _window() < now:
            continue  # the failures are old and forgotten
        wait = row.last_failure_at + _delay(row.failures, keys[row.key][0]) - now
        if wait.total_seconds() > 0:
            raise LoginRefused(LoginRefused.slowed, seconds=max(1, int(wait.total_seconds() + 1)))


def record_failure(username: str | None, address: str | None, now: datetime | None = None) -> None:
    """Count a failed login for the name and the address; lock those that reached their limit.
    Committed on its own, whatever the request does next."""
    now = now or utcnow()
    for _attempt in range(3):
        try:
            _count_failure(_keys(username, address), now)
            break
        except IntegrityError:  # a parallel failure made the same counter first
            db.session.rollback()
    log.warning("failed login for %r from %s", username, address)


def _count_failure(keys: dict[str, tuple[int, int]], now: datetime) -> None:
    for key, (_slow_after, lock_after) in keys.items():
        row = db.session.get(LoginThrottle, key, with_for_update=True)
        if row is None:
            row = LoginThrottle(key=key, failures=0, last_failure_at=now)
            db.session.add(row)
        elif row.last_failure_at + _window() < now and not (
            row.locked_until and row.locked_until > now
        ):
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        if row.failures >= lock_after:
            row.locked_until = now + _window()
            row.failures = 0
            log.warning(
                "login locked for %s minutes: %s", current_app.config["LOGIN_LOCK_MINUTES"], key
            )
    db.session.commit()


def record_success(username: str | None) -> None:
    """A good password forgives the name's failures (not the address's: one account known to
    an attacker must not reset the count of their guesses at others)."""
    key = next(iter(_keys(username, None)))
    row = db.session.get(LoginThrottle, key)
    if row is not None and not (row.locked_until and row.locked_until > utcnow()):
        db.session.delete(row)
        db.session.commit()


# -- "forgot password" links --------------------------------------------------------------

RESET_VALID = timedelta(hours=1)
RESET_EVERY = timedelta(minutes=5)  # at most one link a user per this long


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_reset(email_or_username: str) -> None:
    """Mail a one-time link to set a new password to the active user with this e-mail address
    or user name (either in any case), in the user's language; the link goes under PUBLIC_URL
    when it is set. Nothing tells the caller whether such a user exists."""
    wanted = (email_or_username or "").strip().lower()
    if not wanted:
        return
    User = current_app.appbuilder.sm.user_model
    users = db.session.scalars(
        select(User).where(
            User.active.is_(True),
            or_(func.lower(User.email) == wanted, func.lower(User.username) == wanted),
        )
    ).all()
    now = utcnow()
    with acting_as(None):
        for user in users:
            if user.email and not _recently_sent(user.id, now):
                _send_reset(user, now)
    log.info("password reset asked for %r: %s account(s)", wanted[:250], len(users))


def _recently_sent(user_id: int, now: datetime) -> bool:
    return (
        db.session.scalar(
            select(PasswordReset.id).where(
                PasswordReset.user_id == user_id, PasswordReset.created_at > now - RESET_EVERY
            )
        )
        is not None
    )


def _send_reset(user, now: datetime) -> None:
    """A new link; the user's earlier, unused ones stop working."""
    _close_links(user.id, now)
    token = secrets.token_urlsafe(32)
    reset = PasswordReset(user_id=user.id, token_hash=_token_hash(token), created_at=now)
    db.session.add(reset)
    db.session.flush()
    subject, body = render_mail(
        "password_reset",
        locale_of(profile_or_none(user.id)),
        user=user,
        minutes=int(RESET_VALID.total_seconds() // 60),
        link=mail_link("PasswordResetView.reset", token=token),
    )
    queue_mail(db.session, f"password-reset:{reset.id}", user.email, subject, body, check=False)


def _close_links(user_id: int, now: datetime) -> None:
    db.session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user_id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )


def reset_user(token: str):
    """The active user a still valid, unused link belongs to, or None."""
    reset = db.session.scalar(
        select(PasswordReset).where(PasswordReset.token_hash == _token_hash(token))
    )
    if reset is None or reset.used_at or reset.created_at + RESET_VALID < utcnow():
        return None
    user = db.session.get(current_app.appbuilder.sm.user_model, reset.user_id)
    return user if user is not None and user.active else None


def reset_with_token(token: str, password: str):
    """Set a new password through the link, once: the link is claimed by one conditional
    UPDATE, so of two simultaneous uses one fails. Every session of the user ends."""
    user = reset_user(token)
    expired = InvalidValue("token", _l("This link has expired or was already used."))
    if user is None:
        raise expired
    with acting_as(user.id):
        claimed = db.session.execute(
            update(PasswordReset)
            .where(PasswordReset.token_hash == _token_hash(token), PasswordReset.used_at.is_(None))
            .values(used_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:
            raise expired
        set_password(user, password)
        _close_links(user.id, utcnow())
    log.info("password reset through a mailed link by user %s", user.id)
    return user
