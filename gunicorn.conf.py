"""gunicorn's settings, for `gunicorn "app:create_app()"` started in this folder (`flask dossier
serve`, deploy/systemd, Procfile); the values come from config.py (HOST, PORT, WEB_CONCURRENCY,
WEB_THREADS). A `--bind`, `--workers` … on the command line still wins."""

from config import Config

bind = f"[{Config.HOST}]:{Config.PORT}" if ":" in Config.HOST else f"{Config.HOST}:{Config.PORT}"
workers = Config.WEB_CONCURRENCY
threads = Config.WEB_THREADS  # more than one: gunicorn's threaded (gthread) workers
graceful_timeout = 10  # what a request gets to finish on a stop or restart
# Which proxy headers to believe is TRUSTED_PROXIES' decision (Werkzeug's ProxyFix in the
# app), not gunicorn's own list of trusted addresses.
forwarded_allow_ips = ""
