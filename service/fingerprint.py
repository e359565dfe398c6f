"""The one question fingerprint: HMAC-SHA256 with a per-deployment secret, and owner-only file creation.

Why keyed: a plain SHA-256 of a question is not private. Clinical questions are short and predictable, so
anyone holding the audit or answer log can hash guesses ("pt 2 days post VP now can't lift R leg") until one
matches; the hardening probe recovered 4 of 4 that way. With a secret key, a guess cannot be checked without
the key, yet equal questions still get equal fingerprints, so an audited red flag can be joined to its
answer log line (both are written with the same key).

The key comes from `GQA_HASH_KEY`, else from `<store_dir>/hash.key`, generated on first use and readable by
the owner only. Replicas that should produce joinable fingerprints need the same `GQA_HASH_KEY`.

Text is encoded as UTF-8 with `surrogatepass`, so a lone surrogate (valid JSON, not valid Unicode text) is
fingerprinted instead of crashing the audit or log line; before this module the audit log and the answer log
encoded differently and could disagree on such text.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import time
from pathlib import Path

log = logging.getLogger(__name__)

KEY_FILE = "hash.key"
OWNER_ONLY = 0o600
_EPHEMERAL: dict[Path, bytes] = {}


def ensure_owner_only(path: Path) -> None:
    """Create `path` empty with mode 0600 if missing, and tighten it to 0600 if it exists with wider bits.

    Called before SQLite or an append opens the file, so it is never world-readable even for a moment (the
    process umask can only narrow the mode given to os.open, never widen it).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, OWNER_ONLY)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, OWNER_ONLY)
    finally:
        os.close(fd)


def _read_or_create_key(path: Path) -> bytes:
    """The key stored at `path`, creating it (32 random bytes, hex, mode 0600) exactly once.

    O_EXCL makes creation race-free between processes that start together (a replica and an ingest, or two
    test servers): one creates, the others read what it wrote.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY)
    except FileExistsError:
        for _ in range(50):  # the creator may not have written yet
            key = path.read_bytes().strip()
            if key:
                return key
            time.sleep(0.02)
        raise RuntimeError(f"hash key file {path} is empty; delete it to generate a new one") from None
    key = secrets.token_hex(32).encode()
    try:
        os.write(fd, key + b"\n")
    finally:
        os.close(fd)
    return key


class Fingerprinter:
    """`fingerprint(text)` → 64 hex characters; the same text and key always give the same value."""

    def __init__(self, key: bytes):
        if not key:
            raise ValueError("the fingerprint key must not be empty")
        self._key = key

    @classmethod
    def from_settings(cls, settings) -> Fingerprinter:
        """The deployment's key: `settings.hash_key`, else `<store_dir>/hash.key` (created if missing)."""
        configured = getattr(settings, "hash_key", None)
        if configured:
            return cls(configured.encode("utf-8"))
        path = Path(settings.store_dir) / KEY_FILE
        try:
            return cls(_read_or_create_key(path))
        except OSError as exc:
            # a read-only store must not stop the service: fingerprints stay private, but are only joinable
            # within this process's lifetime
            log.error("hash key %s unusable (%s); using a key for this process only",
                      path, type(exc).__name__)
            key = _EPHEMERAL.setdefault(path, secrets.token_hex(32).encode())  # one per process
            return cls(key)

    def __call__(self, text: str) -> str:
        return hmac.new(self._key, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
