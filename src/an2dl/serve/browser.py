"""Headless Chromium for the run browser's tests, benchmark and screenshots (Selenium + the system chromedriver).

Nothing is downloaded: the browser and its WebDriver are the system's (Debian's ``chromium`` and
``chromium-driver``; ``scripts/ensure-browser.sh`` installs them).  Needs the ``selenium`` package
(in the ``dev`` extra).
"""

from __future__ import annotations

import shutil
from typing import Any

__all__ = ["find_chromium", "headless_chromium"]

_BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> tuple[str, str] | None:
    """``(browser, chromedriver)`` paths found on the PATH with selenium importable, else ``None``."""
    browser = next((p for p in map(shutil.which, _BROWSERS) if p), None)
    driver = shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return None
    return (browser, driver) if browser and driver else None


def headless_chromium(*, width: int = 1280, height: int = 900) -> Any:
    """A headless Chromium WebDriver with its console log readable (``driver.get_log("browser")``).

    Raises:
        RuntimeError: Chromium, chromedriver or selenium is missing (the message says how to install them).
    """
    found = find_chromium()
    if found is None:
        raise RuntimeError("headless Chromium needs chromium, chromedriver and selenium: run "
                           "scripts/ensure-browser.sh (Debian's chromium and chromium-driver) and "
                           "pip install 'an2dl[dev]'")
    browser, driver = found
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--disable-extensions", "--no-first-run",
                "--hide-scrollbars"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)
