"""Files customers send (MMS pictures, email attachments): checked, then kept on disk.

Files are stored by content hash under `var/attachments/`, so the same picture sent twice
(or a redelivered webhook) is kept once; the store records where each one is.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import tempfile
from collections.abc import Set
from pathlib import Path

from bot.core.store.inbound import AttachmentRef


class AttachmentRejected(ValueError):
    """A file we will not keep; `reason` can be shown to the customer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def base_type(content_type: str) -> str:
    """`image/jpeg; name=x.jpg` -> `image/jpeg`."""
    return content_type.split(";", 1)[0].strip().lower()


class AttachmentStore:
    """Checks a file's type and size and writes it once, by content hash."""

    def __init__(self, root: Path, *, max_bytes: int, allowed_types: Set[str]) -> None:
        self._root = root
        self._max_bytes = max_bytes
        self._allowed = frozenset(base_type(t) for t in allowed_types)

    @property
    def max_bytes(self) -> int:
        """The largest file kept."""
        return self._max_bytes

    def check(self, *, content_type: str, size_bytes: int) -> None:
        """Raise AttachmentRejected for a type we do not accept or a file too big."""
        kind = base_type(content_type)
        if kind not in self._allowed:
            raise AttachmentRejected(f"files of type {kind or 'unknown'} are not accepted")
        if size_bytes > self._max_bytes:
            limit_mb = self._max_bytes / (1024 * 1024)
            raise AttachmentRejected(f"files can be at most {limit_mb:g} MB")

    def save(self, data: bytes, *, content_type: str, filename: str | None = None) -> AttachmentRef:
        """Check and keep a file; where it is and what it is."""
        self.check(content_type=content_type, size_bytes=len(data))
        digest = hashlib.sha256(data).hexdigest()
        suffix = mimetypes.guess_extension(base_type(content_type)) or ".bin"
        path = self._root / digest[:2] / f"{digest}{suffix}"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written to a temporary name first: a crash never leaves half a file behind.
            fd, temporary = tempfile.mkstemp(dir=path.parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(temporary, path)
        return AttachmentRef(
            content_type=base_type(content_type),
            size_bytes=len(data),
            storage_ref=str(path.relative_to(self._root)),
            filename=filename,
        )
