#!/usr/bin/env bash
# Run `ansible-test sanity` on a copy of the collection laid out as ansible_collections/winfleet/autopilot.
# ansible-test refuses symlinks and needs that layout; it cannot use Docker here, so it runs with --venv.
# Two workarounds from the toolchain notes:
#  1. ansible-test bootstraps pip in its venvs by downloading get-pip.py, which is unreachable: a stub in its
#     cache runs ensurepip instead (in a subprocess, so pip keeps /etc/pip.conf and its CA settings).
#  2. Only the Python the collection supports (3.11) is tested, so pyenv shims never get in the way.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# Outside the repo (inside it, ansible-test would ask git, which ignores .build, and find no files), and private
# to this run so two runs never remove each other's copy. ansible-test's own venvs live in ~/.ansible/test.
BASE="$(mktemp -d "${TMPDIR:-/tmp}/winfleet-sanity.XXXXXX")"
trap 'rm -rf "$BASE"' EXIT
COPY="$BASE/ansible_collections/winfleet/autopilot"
CACHE="${HOME}/.ansible/test/cache"
mkdir -p "$CACHE"
for v in 24_2 25_2; do
  cat > "$CACHE/get_pip_${v}.py" <<'PY'
import subprocess, sys
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
raise SystemExit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
PY
done
mkdir -p "$COPY"
cd "$ROOT"
# Tracked and new (not ignored) files; the lab, benchmarks and dev tooling (and ansible.cfg, which points at this
# checkout's .build) are not part of the collection; files deleted but not yet committed are skipped.
git ls-files -co --exclude-standard -z \
  | grep -zv -E '^((lab|tests/bench|tools|requirements|\.ci)/|ansible\.cfg$)' \
  | xargs -0 -I{} sh -c 'test ! -e "{}" || printf "%s\0" "{}"' \
  | tar --null -T - -cf - | tar -xf - -C "$COPY"
cd "$COPY"
ansible-test sanity --venv --python 3.11 --color no "$@"
