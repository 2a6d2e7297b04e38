"""Browser fixtures: a threaded server on a free port, Debian's chromium through Playwright (a test
fails on any Content-Security-Policy violation the browser reports), and logging in."""

import os
import threading

import pytest
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            item.add_marker(
                pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium not installed")
            )


@pytest.fixture
def server(app):
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page()
        # Our pages work under the Content-Security-Policy: the browser reports no violation.
        violations = []
        page.on(
            "console",
            lambda message: (
                violations.append(message.text)
                if "Content Security Policy" in message.text
                else None
            ),
        )
        yield page
        browser.close()
        assert not violations, violations


def log_in(page, server, username, password=None):
    page.goto(f"{server}/login/")
    page.fill("#username", username)
    page.fill("#password", password or f"{username}-pw")
    with page.expect_navigation():
        page.click("input[type=submit], button[type=submit]")
