"""What Dossier keeps about a user: language, time zone, calendar feed token."""

from __future__ import annotations

import secrets
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import UserProfile

LOCALES = ("en", "hu", "pl", "de", "ru")


def profile(user_id: int) -> UserProfile:
    found = db.session.get(UserProfile, user_id)
    if found is None:
        found = UserProfile(user_id=user_id, zone_mail=True)
        db.session.add(found)
    return found


def save_settings(user_id: int, **values) -> UserProfile:
    """My settings: language, time zone, phone, zone mail; all of them or, when one is
    refused, none."""
    p = profile(user_id)
    try:
        for key, value in values.items():
            setattr(p, key, value)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return p


def profile_or_none(user_id: int) -> UserProfile | None:
    return db.session.get(UserProfile, user_id)


def profiles(user_ids) -> dict[int, UserProfile]:
    ids = list(set(user_ids))
    if not ids:
        return {}
    rows = db.session.scalars(select(UserProfile).where(UserProfile.user_id.in_(ids)))
    return {p.user_id: p for p in rows}


def locale_of(p: UserProfile | None) -> str:
    if p is not None and p.locale in LOCALES:
        return p.locale
    return current_app.config["DEFAULT_LOCALE"]


def zone_of(p: UserProfile | None) -> ZoneInfo:
    for name in ((p.timezone if p else None), current_app.config["DEFAULT_TIMEZONE"], "UTC"):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def ics_token(user_id: int) -> str:
    """The secret of a user's calendar feed, made on first use."""
    p = profile(user_id)
    if not p.ics_token:
        p.ics_token = secrets.token_urlsafe(24)
        db.session.commit()
    return p.ics_token


def renew_ics_token(user_id: int) -> str:
    p = profile(user_id)
    p.ics_token = secrets.token_urlsafe(24)
    db.session.commit()
    return p.ics_token
