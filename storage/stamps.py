"""How stored things are stamped: content hashes of files and UTC times, one way each."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path


def content_hash(path: Path | str) -> str:
    """BLAKE2b-160 of a file's bytes: the id of a track or a recording whatever its name."""
    return _file_digest(path, lambda: hashlib.blake2b(digest_size=20))


def file_sha256(path: Path | str) -> str:
    """SHA-256 of a file's bytes: checkpoints, as render manifests publish them."""
    return _file_digest(path, hashlib.sha256)


def utc_now() -> str:
    """The time now, UTC, to the second: 2026-11-28T14:56:04Z."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _file_digest(path: Path | str, digest: Callable) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, digest).hexdigest()
