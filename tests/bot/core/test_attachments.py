"""Customers' files: checked (type, size), kept once by content hash in the document store
(local files or S3), read back by their reference; a store that fails is a refusal the
customer can be told about, not a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.attachments import AttachmentNotKept, AttachmentRejected, AttachmentStore
from bot.core.documents import DocumentStoreError, LocalDocumentStore, S3DocumentStore
from bot.testing.ports import free_port

PICTURE = b"\x89PNG\r\n\x1a\n" + b"png" * 100


def _attachments(root: Path) -> AttachmentStore:
    return AttachmentStore(
        LocalDocumentStore(root), max_bytes=1024, allowed_types={"image/png", "image/jpeg"}
    )


def _files(root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]


async def test_a_file_is_kept_once_by_content_hash(tmp_path: Path) -> None:
    attachments = _attachments(tmp_path)
    first = await attachments.save(PICTURE, content_type="image/PNG; name=a.png", filename="a.png")
    again = await attachments.save(PICTURE, content_type="image/png")
    assert first.storage_ref == again.storage_ref
    assert first.storage_ref.startswith("file:") and first.storage_ref.endswith(".png")
    assert (first.content_type, first.size_bytes, first.filename) == (
        "image/png",
        len(PICTURE),
        "a.png",
    )
    assert await attachments.read(first.storage_ref) == PICTURE
    assert _files(tmp_path) == [first.storage_ref.removeprefix("file:")]


async def test_files_kept_before_the_document_store_are_read(tmp_path: Path) -> None:
    (tmp_path / "ab").mkdir()
    (tmp_path / "ab" / "abc.png").write_bytes(PICTURE)
    assert await _attachments(tmp_path).read("ab/abc.png") == PICTURE


@pytest.mark.parametrize(
    ("data", "content_type", "reason"),
    [
        (b"#!/bin/sh", "application/x-sh", "files of type application/x-sh are not accepted"),
        (b"x" * 1025, "image/png", "files can be at most"),
    ],
)
async def test_unacceptable_files_are_refused_and_not_kept(
    tmp_path: Path, data: bytes, content_type: str, reason: str
) -> None:
    with pytest.raises(AttachmentRejected, match=reason):
        await _attachments(tmp_path).save(data, content_type=content_type)
    assert _files(tmp_path) == []


async def test_a_failing_store_is_a_refusal_that_names_no_internals() -> None:
    unreachable = S3DocumentStore(
        bucket="evidence",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        max_attempts=1,
        timeout_seconds=1,
    )
    attachments = AttachmentStore(unreachable, max_bytes=1024, allowed_types={"image/png"})
    with pytest.raises(AttachmentNotKept) as refused:
        await attachments.save(PICTURE, content_type="image/png")
    assert refused.value.reason == "our file store is unavailable right now"
    assert isinstance(refused.value.__cause__, DocumentStoreError)
    await attachments.aclose()
