#!/usr/bin/env bash
# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Build a WinRM client the project did not write: masterzen/winrm (Go, with Azure/go-ntlmssp for NTLM), as Debian
# packages it (golang-github-masterzen-winrm-dev), wrapped by the small driver tools/winrm-go-client/main.go.
# tests/integration/test_wsman_clients.py drives the WS-Man lab with it. The binary goes to .build/bin/winrm-go-client.
# Offline build: GOPATH mode against Debian's /usr/share/gocode, no module proxy (GOPROXY=off).
# Idempotent: rebuilds only when the driver's source is newer than the binary.
# Never fails the build: when it cannot install (not root, no apt-get, no network), it says so loudly and exits 0;
# the tests that need the client then skip with a message that names this script.
set -u

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SRC="$ROOT/tools/winrm-go-client/main.go"
OUT="$ROOT/.build/bin/winrm-go-client"
GOCODE=/usr/share/gocode
PKG_DIR="$GOCODE/src/github.com/masterzen/winrm"

loud() {
    echo "################################################################################" >&2
    echo "# install-winrm-go.sh: $*" >&2
    echo "# The Go WinRM client tests (tests/integration/test_wsman_clients.py) will be SKIPPED." >&2
    echo "# To run them: as root on Debian 12, apt-get install -y golang-go golang-github-masterzen-winrm-dev" >&2
    echo "# then run tools/install-winrm-go.sh again." >&2
    echo "################################################################################" >&2
}

if [ -x "$OUT" ] && [ "$OUT" -nt "$SRC" ]; then
    echo "install-winrm-go.sh: $OUT is up to date"
    exit 0
fi
if ! command -v go >/dev/null 2>&1 || [ ! -d "$PKG_DIR" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        loud "golang-go or golang-github-masterzen-winrm-dev is missing and this is not root: cannot install them"
        exit 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        loud "golang-go or golang-github-masterzen-winrm-dev is missing and there is no apt-get on this machine"
        exit 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Another apt-get (a colleague's, unattended-upgrades) may hold the dpkg lock: wait for it rather than fail.
    APT=(apt-get -o DPkg::Lock::Timeout=600 -y -q)
    if ! "${APT[@]}" install --no-install-recommends golang-go golang-github-masterzen-winrm-dev; then
        echo "install-winrm-go.sh: first attempt failed, refreshing the package lists" >&2
        if ! { "${APT[@]}" update && "${APT[@]}" install --no-install-recommends golang-go golang-github-masterzen-winrm-dev; }; then
            loud "apt-get install golang-go golang-github-masterzen-winrm-dev failed"
            exit 0
        fi
    fi
fi
if ! command -v go >/dev/null 2>&1 || [ ! -d "$PKG_DIR" ]; then
    loud "apt-get finished but go or $PKG_DIR is still missing"
    exit 0
fi
WORK="$ROOT/.build/go"
mkdir -p "$WORK/src/winrm-go-client" "$(dirname "$OUT")"
cp "$SRC" "$WORK/src/winrm-go-client/main.go"
if ! (cd "$WORK/src/winrm-go-client" && env GO111MODULE=off GOPROXY=off GOFLAGS= GOPATH="$WORK:$GOCODE" \
        GOCACHE="$WORK/cache" go build -o "$OUT.tmp" .); then
    loud "go build of tools/winrm-go-client failed"
    rm -f "$OUT.tmp"
    exit 0
fi
mv "$OUT.tmp" "$OUT"
echo "install-winrm-go.sh: built $OUT ($(go version), masterzen/winrm $(dpkg-query -W -f='${Version}' golang-github-masterzen-winrm-dev 2>/dev/null))"
exit 0
