#!/bin/sh
# Make headless Chromium and its WebDriver available for the run browser's tests (tests/serve/).
# Idempotent and silent when both are present. Otherwise installs Debian's chromium and chromium-driver with
# apt-get when this user may (root, or sudo without a password); else says what to run and exits 0, so that
# the rest of the tests still run (the browser tests then skip locally, and fail under CI).
set -u

have() { command -v "$1" >/dev/null 2>&1; }

browser_present() {
    { have chromium || have chromium-browser || have google-chrome; } && have chromedriver
}

browser_present && exit 0

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif have sudo && sudo -n true >/dev/null 2>&1; then
    SUDO="sudo -n"
else
    echo "ensure-browser: chromium and chromium-driver are missing and this user cannot install them;" >&2
    echo "ensure-browser: run 'sudo apt-get install -y chromium chromium-driver' for the run browser's tests" >&2
    exit 0
fi

if ! have apt-get; then
    echo "ensure-browser: chromium and chromium-driver are missing and apt-get is not available here;" >&2
    echo "ensure-browser: install Chromium and a matching chromedriver on the PATH for the run browser's tests" >&2
    exit 0
fi

echo "ensure-browser: installing chromium and chromium-driver (Debian packages) for the run browser's tests" >&2
export DEBIAN_FRONTEND=noninteractive
# the package lists may be absent on a fresh machine or container
$SUDO apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || {
    $SUDO apt-get update -q >/dev/null 2>&1
    $SUDO apt-get install -y -q chromium chromium-driver >/dev/null || {
        echo "ensure-browser: apt-get could not install chromium chromium-driver; the browser tests need them" >&2
        exit 0
    }
}
browser_present || echo "ensure-browser: chromium installed but chromium/chromedriver not found on the PATH" >&2
exit 0
