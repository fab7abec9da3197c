"""Keyed pseudonyms for client and employer identifiers (HMAC-SHA-256).

The key is 32 random bytes created on first use and stored with owner-only permissions, outside
the warehouse (a warehouse copied elsewhere must not carry the means to reverse its pseudonyms).
Default location: the user's configuration folder; override with ``--key-file`` or
``ESMONITOR_KEY_FILE``. The warehouse records a fingerprint of the key so that a later batch made
with another key is refused instead of silently splitting every client in two.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from platformdirs import user_config_path

from esmonitor.errors import PseudonymKeyError

KEY_ENV = "ESMONITOR_KEY_FILE"
KEY_BYTES = 32  # at most 64 (SHA-256's block size), so the key is never pre-hashed
PSEUDONYM_HEX_CHARS = 20  # 80 bits: collision odds ~1e-12 for ten million identifiers


def default_key_path() -> Path:
    env = os.environ.get(KEY_ENV)
    return Path(env) if env else user_config_path("esmonitor") / "pseudonym.key"


def load_or_create_key(path: Path | None = None, *, create: bool = True) -> bytes:
    """The key in ``path`` (default: :func:`default_key_path`), created there first if it does
    not exist and ``create`` allows it."""
    path = Path(path) if path else default_key_path()
    where = "give the key file with --key-file or ESMONITOR_KEY_FILE"
    if path.is_dir():
        raise PseudonymKeyError(f"pseudonymization key {path} is a folder", hint=f"{where}, not its folder")
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise PseudonymKeyError(
                f"pseudonymization key {path} is readable by others (mode {oct(mode)})",
                hint=f"run: chmod 600 {path}")
        try:
            key = bytes.fromhex(path.read_text("ascii").strip())
        except (ValueError, UnicodeDecodeError):
            key = b""
        except OSError as err:
            raise PseudonymKeyError(f"cannot read the pseudonymization key {path}: {err.strerror}",
                                    hint=where) from None
        if len(key) != KEY_BYTES:
            raise PseudonymKeyError(f"pseudonymization key {path} is not {KEY_BYTES} bytes of hex")
        return key
    if not create:
        raise PseudonymKeyError(f"the pseudonymization key {path} does not exist, and this warehouse was built "
                                "with a key: a new one would split every client in two",
                                hint=f"{where} (the one that built the warehouse); nothing was created")
    key = secrets.token_bytes(KEY_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as err:
        raise PseudonymKeyError(f"cannot create the pseudonymization key {path}: {err.strerror}",
                                hint=f"choose a writable place: {where}") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(key.hex() + "\n")
    return key


class Pseudonymizer:
    """HMAC-SHA-256 of the trimmed identifier, hex, truncated to 80 bits."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, raw: str) -> str:
        return hmac.new(self._key, raw.encode("utf-8"), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX_CHARS]

    def pads(self) -> tuple[bytes, bytes]:
        """The keyed inner and outer blocks of HMAC-SHA-256 (RFC 2104), so that the engine can
        compute ``sha256(outer || sha256(inner || message))`` in parallel, over whole columns.
        They are passed to the engine as statement parameters, never written anywhere."""
        block = self._key.ljust(64, b"\0")
        return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)

    @property
    def fingerprint(self) -> str:
        return self("esmonitor key fingerprint")[:12]
