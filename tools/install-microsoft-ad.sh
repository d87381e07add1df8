#!/usr/bin/env bash
# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Install ONLY the microsoft.ad collection (its microsoft.ad.ldap inventory plugin targets AD computers from an
# OU / LDAP filter) without Ansible Galaxy, which is unreachable here: take it out of the pinned, hash-checked
# 'ansible' community package wheel on PyPI and drop it into .build/collections next to winfleet.autopilot.
# Its Python requirements for LDAP (sansldap, pyspnego, cryptography) are pinned in requirements/dev.txt.
#
# usage: tools/install-microsoft-ad.sh [COLLECTIONS_DIR]      (default: .build/collections)
set -euo pipefail

ANSIBLE_VERSION=12.3.0            # the community package built for ansible-core 2.19; ships microsoft.ad 1.10.0
ANSIBLE_SHA256=cd156f82fa87f7a899212b0efa9f7ca3a24d609212de9f78428a572eb01e5414
MICROSOFT_AD_VERSION=1.10.0

cd "$(dirname "$0")/.."
DEST=$(realpath -m "${1:-.build/collections}")
PYTHON=${PYTHON:-.venv/bin/python}
TARGET=$DEST/ansible_collections/microsoft/ad
STAMP=$TARGET/.installed-from-ansible-$ANSIBLE_VERSION

if [[ -f $STAMP ]]; then
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "ansible==$ANSIBLE_VERSION --hash=sha256:$ANSIBLE_SHA256" > "$work/requirements.txt"
"$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --require-hashes -r "$work/requirements.txt" --dest "$work"

"$PYTHON" - "$work/ansible-$ANSIBLE_VERSION-py3-none-any.whl" "$DEST" "$MICROSOFT_AD_VERSION" <<'PY'
import json, os, shutil, sys, zipfile

wheel, dest, want = sys.argv[1:4]
prefix = "ansible_collections/microsoft/ad/"
target = os.path.join(dest, prefix)
staging = target.rstrip("/") + ".new"
shutil.rmtree(staging, ignore_errors=True)
with zipfile.ZipFile(wheel) as zf:
    members = [m for m in zf.infolist() if m.filename.startswith(prefix) and not m.is_dir()]
    if not members:
        sys.exit("microsoft.ad is not in %s" % wheel)
    for m in members:
        rel = m.filename[len(prefix):]
        path = os.path.realpath(os.path.join(staging, rel))
        if not path.startswith(os.path.realpath(staging) + os.sep):
            sys.exit("refusing to extract %s outside the collection directory" % m.filename)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with zf.open(m) as src, open(path, "wb") as out:
            shutil.copyfileobj(src, out)
version = json.load(open(os.path.join(staging, "MANIFEST.json")))["collection_info"]["version"]
if version != want:
    sys.exit("expected microsoft.ad %s in the wheel, found %s" % (want, version))
shutil.rmtree(target, ignore_errors=True)
os.rename(staging, target.rstrip("/"))
print("microsoft.ad %s installed in %s (%d files)" % (version, target, len(members)))
PY
touch "$STAMP"
