#!/usr/bin/env bash
# Make sure Debian's `chromium` is installed, for the browser test (tests/test_browser.py).
#
#   scripts/ensure_chromium.sh      # called by `make test`; safe to run any time
#
# Installs the `chromium` package with apt when it is missing and this machine can (root, or
# password-less sudo, and apt-get present). Otherwise it says why not and how to enable the test,
# and still exits 0: without Chromium the browser test is skipped, the rest of `make test` runs.
set -u

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    echo "ensure_chromium: $CHROMIUM is installed ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: no apt-get on this machine; install Chromium yourself so that $CHROMIUM exists" \
         "to run the browser test (it is skipped until then)"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    AS_ROOT=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    AS_ROOT="sudo -n"
else
    echo "ensure_chromium: not root and no password-less sudo; run 'sudo apt-get install chromium'" \
         "to run the browser test (it is skipped until then)"
    exit 0
fi

echo "ensure_chromium: installing Debian's chromium with apt-get (a few minutes, once)"
export DEBIAN_FRONTEND=noninteractive
if ! $AS_ROOT apt-get update -qq; then
    echo "ensure_chromium: 'apt-get update' failed (offline?); the browser test will be skipped"
    exit 0
fi
# fonts-liberation: Chromium's recommended fonts, so screenshots look as they do on a desktop.
if ! $AS_ROOT apt-get install -y -qq --no-install-recommends chromium fonts-liberation; then
    echo "ensure_chromium: 'apt-get install chromium' failed; the browser test will be skipped"
    exit 0
fi
echo "ensure_chromium: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
exit 0
