#!/usr/bin/env bash
# Install what the real-browser tests (tests_browser/) need, idempotently:
#   - Debian's chromium at /usr/bin/chromium (apt-get; needs root or sudo), when missing;
#   - Playwright for Python in the virtual environment given as $1 (default .venv), when missing.
# Playwright's own browser download (`playwright install`) is never used: the tests launch
# /usr/bin/chromium through executable_path instead.
set -euo pipefail

VENV="${1:-.venv}"
PLAYWRIGHT_SPEC="${PLAYWRIGHT_SPEC:-playwright>=1.65}"

if [ ! -x /usr/bin/chromium ]; then
    echo "install-browser: installing Debian chromium" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            SUDO="sudo -n"
        else
            echo "install-browser: /usr/bin/chromium is missing and this is not root;" \
                "install Debian's chromium package by hand" >&2
            exit 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        chromium fonts-dejavu-core </dev/null
else
    echo "install-browser: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) present" >&2
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "install-browser: no virtual environment at $VENV (run 'make install' first)" >&2
    exit 1
fi

if "$VENV/bin/python" -c "import playwright.sync_api" >/dev/null 2>&1; then
    echo "install-browser: playwright present in $VENV" >&2
else
    echo "install-browser: installing $PLAYWRIGHT_SPEC into $VENV" >&2
    "$VENV/bin/python" -m pip install --quiet "$PLAYWRIGHT_SPEC" </dev/null
fi
