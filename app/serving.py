"""How the app meets the network: the proxy headers it believes (TRUSTED_PROXIES, through
Werkzeug's ProxyFix) and how long browsers keep its static files (STATIC_MAX_AGE)."""

from __future__ import annotations

from flask import Flask, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix


def init_serving(app: Flask) -> None:
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        app.wsgi_app = ProxyFix(
            app.wsgi_app,
            x_for=proxies,
            x_proto=proxies,
            x_host=proxies,
            x_port=proxies,
            x_prefix=proxies,
        )
    app.after_request(_cache_static_files)


def _cache_static_files(response):
    """Our /static and Flask-AppBuilder's are the same for everybody: browsers and proxies
    may keep them. Other files (documents, pictures, PDFs) keep Flask's default: no max-age."""
    endpoint = request.endpoint or ""
    static = endpoint == "static" or endpoint.endswith(".static")
    if static and response.status_code in (200, 304):
        response.cache_control.public = True
        response.cache_control.max_age = current_app.config["STATIC_MAX_AGE"]
    return response
