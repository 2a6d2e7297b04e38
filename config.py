"""Configuration: the only place that reads the environment (SPEC section 1)."""

import os
import secrets
from pathlib import Path

from flask_appbuilder.const import AUTH_DB

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_PATH = Path(os.environ.get("DOSSIER_INSTANCE") or BASE_DIR / "instance")

OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in instance/."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = INSTANCE_PATH / "secret_key"
    if not path.exists():
        INSTANCE_PATH.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


class Config:
    APP_NAME = "Dossier"
    APP_ICON = "/static/dossier/logo.svg"
    SECRET_KEY = _secret_key()
    INSTANCE_DIR = str(INSTANCE_PATH)

    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{INSTANCE_PATH / 'dossier.sqlite'}"
    )
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    REDIS_URL = os.environ.get("REDIS_URL")

    # Flask-AppBuilder: the schema is Alembic's; permissions are synced by `flask dossier init`.
    AUTH_TYPE = AUTH_DB
    FAB_CREATE_DB = False
    FAB_UPDATE_PERMS = False
    FAB_API_SWAGGER_UI = True
    # The OpenAPI view and Swagger UI are registered by create_app (app/views/openapi.py).
    FAB_ADD_OPENAPI_VIEWS = False
    FAB_API_MAX_PAGE_SIZE = 100
    FAB_SECURITY_MANAGER_CLASS = "app.security.DossierSecurityManager"
    FAB_INDEX_VIEW = "app.views.home.HomeView"
    # FAB's layout with Dossier's stylesheet (app/templates/layout/base.html).
    FAB_BASE_TEMPLATE = "layout/base.html"
    FAB_ROLE_KEYS = {}
    AUTH_ROLE_ADMIN = "Admin"
    AUTH_ROLE_PUBLIC = "Public"
    WTF_CSRF_ENABLED = True
    JWT_ACCESS_TOKEN_EXPIRES = 3600
    # FAB's user and password forms ask app.services.auth.check_password_policy (set by
    # create_app): at least 10 characters and not a common password.
    FAB_PASSWORD_COMPLEXITY_ENABLED = True
    # The session cookie: never read by scripts, not sent with cross-site posts, Secure on
    # HTTPS (per request; SESSION_COOKIE_SECURE=1 forces it).
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _flag("SESSION_COOKIE_SECURE")
    # Failed logins per user name (and per address, with more room): from LOGIN_SLOWDOWN_AFTER
    # failures each try waits 1, 2, 4 … seconds; LOGIN_LOCK_AFTER failures lock for
    # LOGIN_LOCK_MINUTES, after which old failures are forgotten.
    LOGIN_SLOWDOWN_AFTER = int(os.environ.get("LOGIN_SLOWDOWN_AFTER", "3"))
    LOGIN_LOCK_AFTER = int(os.environ.get("LOGIN_LOCK_AFTER", "10"))
    LOGIN_ADDRESS_LOCK_AFTER = int(os.environ.get("LOGIN_ADDRESS_LOCK_AFTER", "50"))
    LOGIN_LOCK_MINUTES = int(os.environ.get("LOGIN_LOCK_MINUTES", "15"))

    BABEL_DEFAULT_LOCALE = os.environ.get("DEFAULT_LOCALE", "en")
    BABEL_DEFAULT_TIMEZONE = os.environ.get("DEFAULT_TIMEZONE", "Europe/Budapest")
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "translations")
    LANGUAGES = {
        "en": {"flag": "gb", "name": "English"},
        "hu": {"flag": "hu", "name": "Magyar"},
        "pl": {"flag": "pl", "name": "Polski"},
        "de": {"flag": "de", "name": "Deutsch"},
        "ru": {"flag": "ru", "name": "Русский"},
    }

    UPLOAD_FOLDER = str(INSTANCE_PATH / "uploads") + "/"
    IMG_UPLOAD_FOLDER = str(INSTANCE_PATH / "uploads" / "pictures") + "/"
    IMG_UPLOAD_URL = "/partner/picture/"
    PICTURE_MAX_MB = 5
    # Backups (app/services/backup.py): `flask dossier backup` writes to BACKUP_DIR, else
    # instance/backups; with BACKUP_DIR set the scheduler makes one every night and keeps the
    # newest BACKUP_KEEP (0 keeps them all).
    BACKUP_DIR = os.environ.get("BACKUP_DIR")
    BACKUP_KEEP = int(os.environ.get("BACKUP_KEEP", "14"))

    MAIL_SERVER = os.environ.get("MAIL_SERVER")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
    MAIL_USE_TLS = _flag("MAIL_USE_TLS")
    MAIL_USE_SSL = _flag("MAIL_USE_SSL")
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "dossier@localhost")
    # Seconds to wait for the SMTP server to connect and to answer each command.
    MAIL_TIMEOUT = float(os.environ.get("MAIL_TIMEOUT", "30"))
    # Flask-Mail would suppress sending whenever TESTING is on; the outbox decides instead.
    MAIL_SUPPRESS_SEND = False

    NOTE_EDIT_MINUTES = int(os.environ.get("NOTE_EDIT_MINUTES", "30"))
    MAX_UPLOAD_MB = int(os.environ.get("MAX_UPLOAD_MB", "20"))
    MAX_CONTENT_LENGTH = (MAX_UPLOAD_MB + 1) * 1024 * 1024
    # What the zone users of one partner may upload in all (portal files).
    ZONE_UPLOAD_QUOTA_MB = int(os.environ.get("ZONE_UPLOAD_QUOTA_MB", "200"))
    DIGEST_TIME = os.environ.get("DIGEST_TIME", "07:30")
    DEFAULT_TIMEZONE = BABEL_DEFAULT_TIMEZONE
    DEFAULT_LOCALE = BABEL_DEFAULT_LOCALE
    MAP_TILE_URL = os.environ.get("MAP_TILE_URL", OSM_TILES)
    INVOICE_PRINT_BATCH = int(os.environ.get("INVOICE_PRINT_BATCH", "500"))
    # Links in e-mails (invitations, zone news): the address users reach the app at.
    PUBLIC_URL = os.environ.get("PUBLIC_URL")

    # Serving (`make run`, `flask dossier serve`, gunicorn.conf.py): the address and port,
    # gunicorn's processes and threads, how long browsers keep /static files, and how many
    # reverse proxies in front may set X-Forwarded-For/-Proto/-Host/-Port/-Prefix (0: none).
    # DOSSIER_ENV=production (or a HOST beyond loopback, or a proxy) makes `flask dossier check`
    # hold the installation to production rules.
    HOST = os.environ.get("HOST", "127.0.0.1")
    PORT = int(os.environ.get("PORT", "5000"))
    WEB_CONCURRENCY = int(os.environ.get("WEB_CONCURRENCY") or max(2, os.cpu_count() or 1))
    WEB_THREADS = int(os.environ.get("WEB_THREADS", "4"))
    STATIC_MAX_AGE = int(os.environ.get("STATIC_MAX_AGE", "43200"))
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))
    PREFERRED_URL_SCHEME = os.environ.get("PREFERRED_URL_SCHEME", "http")
    DOSSIER_ENV = os.environ.get("DOSSIER_ENV", "development")

    ADMIN_USER = os.environ.get("DOSSIER_ADMIN_USER", "admin")
    ADMIN_PASSWORD = os.environ.get("DOSSIER_ADMIN_PASSWORD")

    # Counting every row of a very large table dominates a list page on PostgreSQL;
    # above this many rows an unfiltered list shows the planner's estimate.
    COUNT_ESTIMATE_THRESHOLD = int(os.environ.get("COUNT_ESTIMATE_THRESHOLD", "200000"))
    # A filtered list on PostgreSQL counts its matches up to this many, then shows the
    # planner's estimate; a name search with more matches reads its page in name order
    # (app/views/base.py, DossierInterface.query).
    FILTERED_COUNT_LIMIT = int(os.environ.get("FILTERED_COUNT_LIMIT", "1000"))
