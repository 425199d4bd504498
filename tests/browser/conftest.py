"""The built book served on 127.0.0.1 and a headless Chromium (Debian's) driven by Playwright.

The book is ``_build/html`` of the checkout (``$AUDIOMNIST_BOOK_HTML`` overrides); without a
built book the browser tests skip. ``make browser-test`` builds the smoke book first.
"""
from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# Headless, no sandbox (CI runs as root in a container), and nothing that phones home.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "browser: opens the built book in headless Chromium (needs _build/html)")


@pytest.fixture(scope="session")
def html() -> Path:
    from audiomnist_core.book import built_html

    root = built_html()
    if not (root / "index.html").is_file():
        pytest.skip(f"no built book at {root}; run `make book PROFILE=smoke DATA=synthetic` first")
    return root


@pytest.fixture(scope="session")
def server(html):
    """Base URL of a static file server for the book on 127.0.0.1 (a free port)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(html)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def ensure_chromium() -> Path:
    """Debian's chromium, installed with apt-get when missing and we are root."""
    if CHROMIUM.is_file():
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.fail(f"{CHROMIUM} is missing; install it with: sudo apt-get install -y chromium")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env, stdout=subprocess.DEVNULL)
    return CHROMIUM


@pytest.fixture(scope="session")
def chromium() -> tuple[Path, list[str]]:
    """Debian's chromium and the flags above, for a test that launches it with flags of its own."""
    return ensure_chromium(), list(CHROMIUM_ARGS)


@pytest.fixture(scope="session")
def playwright():
    """The session's one Playwright (its sync API allows one at a time), for every browser test."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing; install the test extra: pip install -e '.[test]'")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser_context(playwright, tmp_path_factory):
    """A fresh Chromium profile (its own user-data-dir) for the whole session."""
    executable = ensure_chromium()
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path_factory.mktemp("chromium-profile")),
        executable_path=str(executable),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 900},
    )
    yield context
    context.close()
