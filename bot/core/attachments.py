"""Files customers send (MMS pictures, email attachments): checked, then kept in the
document store (local files under `var/attachments/`, or S3: see `bot.core.documents`).

Files are kept by content hash, so the same picture sent twice (or a redelivered webhook)
is kept once; the database records each one's reference.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Set

import structlog

from bot.core.documents import DocumentStore, DocumentStoreError
from bot.core.store.inbound import AttachmentRef

log = structlog.get_logger("bot.attachments")


class AttachmentRejected(ValueError):
    """A file we will not keep; `reason` can be shown to the customer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AttachmentNotKept(AttachmentRejected):
    """An acceptable file the document store could not keep just now (its error is the
    cause); the reason shown to the customer says nothing of the store."""


def base_type(content_type: str) -> str:
    """`image/jpeg; name=x.jpg` -> `image/jpeg`."""
    return content_type.split(";", 1)[0].strip().lower()


class AttachmentStore:
    """Checks a file's type and size and keeps it once, by content hash."""

    def __init__(
        self, documents: DocumentStore, *, max_bytes: int, allowed_types: Set[str]
    ) -> None:
        self._documents = documents
        self._max_bytes = max_bytes
        self._allowed = frozenset(base_type(t) for t in allowed_types)

    @property
    def documents(self) -> DocumentStore:
        """Where the files' bytes are kept."""
        return self._documents

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

    async def save(
        self, data: bytes, *, content_type: str, filename: str | None = None
    ) -> AttachmentRef:
        """Check and keep a file; where it is and what it is.

        AttachmentRejected for a file we do not accept; AttachmentNotKept when the
        document store fails (the file may be sent again later).
        """
        self.check(content_type=content_type, size_bytes=len(data))
        kind = base_type(content_type)
        digest = hashlib.sha256(data).hexdigest()
        key = f"{digest[:2]}/{digest}{mimetypes.guess_extension(kind) or '.bin'}"
        try:
            if await self._documents.exists(key):
                storage_ref = self._documents.ref(key)
            else:
                storage_ref = await self._documents.put(data, key=key, content_type=kind)
        except DocumentStoreError as error:
            log.error("attachment_not_kept", key=key, error=str(error))
            raise AttachmentNotKept("our file store is unavailable right now") from error
        return AttachmentRef(
            content_type=kind, size_bytes=len(data), storage_ref=storage_ref, filename=filename
        )

    async def read(self, storage_ref: str) -> bytes:
        """The bytes of a kept file, by its `storage_ref` (DocumentStoreError if unreadable)."""
        return await self._documents.get(storage_ref)

    async def aclose(self) -> None:
        """Release the document store's connections."""
        await self._documents.aclose()
