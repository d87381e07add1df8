#!/usr/bin/env bash
# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Install Chromium and its WebDriver (Debian packages) for the report's browser test
# (tests/integration/test_report_browser.py). Idempotent: does nothing when both are present.
# Never fails the build: when it cannot install (not root, no apt-get, no network), it says so loudly and
# exits 0; the browser test then skips with a message that names this script.
set -u

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
DRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}

loud() {
    echo "################################################################################" >&2
    echo "# install-chromium.sh: $*" >&2
    echo "# The report's browser test (tests/integration/test_report_browser.py) will be SKIPPED." >&2
    echo "# To run it: as root on Debian/Ubuntu, apt-get install -y chromium chromium-driver" >&2
    echo "################################################################################" >&2
}

if [ -x "$CHROMIUM" ] && [ -x "$DRIVER" ]; then
    echo "install-chromium.sh: $("$CHROMIUM" --version 2>/dev/null || echo chromium) and chromedriver already installed"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    loud "Chromium or chromedriver is missing and this is not root: cannot install them"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    loud "Chromium or chromedriver is missing and there is no apt-get on this machine"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# Another apt-get (a colleague's, unattended-upgrades) may hold the dpkg lock: wait for it rather than fail.
APT=(apt-get -o DPkg::Lock::Timeout=600 -y -q)
if ! "${APT[@]}" install --no-install-recommends chromium chromium-driver; then
    echo "install-chromium.sh: first attempt failed, refreshing the package lists" >&2
    if ! { "${APT[@]}" update && "${APT[@]}" install --no-install-recommends chromium chromium-driver; }; then
        loud "apt-get install chromium chromium-driver failed"
        exit 0
    fi
fi
if [ -x "$CHROMIUM" ] && [ -x "$DRIVER" ]; then
    echo "install-chromium.sh: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
else
    loud "apt-get finished but $CHROMIUM or $DRIVER is still missing"
fi
exit 0
