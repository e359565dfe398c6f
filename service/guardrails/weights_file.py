"""Model weights as .npz bytes that depend on the arrays only, so identical training gives an identical file.

Why: `np.savez` and `np.savez_compressed` stamp each zip member with the current time, so retraining the
same weights gave a new sha256 — and a new model version in the audit line — every time. Here the members
are written in sorted order with a fixed timestamp; `np.load` reads the result as any .npz.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry


def npz_bytes(arrays: dict[str, np.ndarray], compress: bool = False) -> bytes:
    """An .npz of `arrays`: members sorted by name, fixed timestamps; `compress` deflates each member
    (zlib at its default level: the same arrays give the same bytes with the same zlib)."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=FIXED_TIME)
            info.compress_type = method
            zf.writestr(info, member.getvalue())
    return buf.getvalue()
