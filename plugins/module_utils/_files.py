# Copyright (c) 2026, winfleet.autopilot contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE to the winfleet.autopilot collection: this module_utils file may change
# at any time without notice. Do not import it from outside the collection.

"""Files replaced whole: a temp file in the same folder, then a rename (the upload files, the report, the collected
hash files). Its own small module: a module process that only writes a report does not import the merge."""

from __future__ import annotations

import os
import tempfile

from ansible_collections.winfleet.autopilot.plugins.module_utils._errors import OutputError


def write_atomic(rendered, to_write, to_remove, mode=0o600, fsync=True):
    """Write each file of ``to_write`` (its bytes: ``rendered[path]``) to a temp file in its folder, then rename them
    all into place, then remove ``to_remove``. A failure leaves no temp file and no half-written file; the error is
    an ``OutputError`` naming the file. ``fsync``: flush each file to disk before the rename."""
    temps = []
    try:
        for path in to_write:
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder):
                raise OutputError("cannot write %s: folder %s does not exist" % (path, folder))
            fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=folder)
            temps.append((tmp, path))
            with os.fdopen(fd, "wb") as handle:
                handle.write(rendered[path])
                if fsync:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.chmod(tmp, mode)
        for tmp, path in temps:
            os.replace(tmp, path)
        temps = []
        for path in to_remove:
            os.unlink(path)
    except OSError as exc:
        raise OutputError("cannot write %s: %s" % (getattr(exc, "filename", None) or "output", exc.strerror or exc))
    finally:
        for tmp, _path in temps:
            try:
                os.unlink(tmp)
            except OSError:
                pass
