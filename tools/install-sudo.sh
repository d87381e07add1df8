#!/usr/bin/env bash
# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Install sudo (Debian package) for the test that shows modules honour become_user
# (tests/integration/test_stock_execution.py). Idempotent: does nothing when sudo is present.
# Never fails the build: when it cannot install (not root, no apt-get, no network), it says so loudly and exits 0;
# the test then skips with a message that names this script.
set -u

if command -v sudo >/dev/null 2>&1; then
    echo "install-sudo.sh: $(sudo -V 2>/dev/null | head -1 || echo sudo) already installed"
    exit 0
fi
loud() {
    echo "################################################################################" >&2
    echo "# install-sudo.sh: $*" >&2
    echo "# The become test (tests/integration/test_stock_execution.py) will be SKIPPED." >&2
    echo "# To run it: as root on Debian/Ubuntu, apt-get install -y sudo" >&2
    echo "################################################################################" >&2
}
if [ "$(id -u)" -ne 0 ]; then
    loud "sudo is missing and this is not root: cannot install it"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    loud "sudo is missing and there is no apt-get"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends sudo >/dev/null 2>&1; then
    apt-get update >/dev/null 2>&1 || true
    apt-get install -y --no-install-recommends sudo >/dev/null 2>&1 || { loud "apt-get install sudo failed"; exit 0; }
fi
echo "install-sudo.sh: installed $(sudo -V | head -1)"
