"""The document store: local files (round trip, atomic writes, references that would leave
the root refused, references written before) and S3 against a real S3 API server (moto's
standalone server on a free port, not a patched boto3): encryption, prefix, missing
objects and buckets, and a server that is gone."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

import boto3
import pytest
from moto.server import ThreadedMotoServer

from bot.core.documents import (
    DocumentNotFound,
    DocumentStoreError,
    LocalDocumentStore,
    S3DocumentStore,
    build_document_store,
)
from bot.core.settings import Settings
from bot.testing.ports import free_port

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

REGION: Final[Literal["eu-west-2"]] = "eu-west-2"
KEY = "ab/abcdef.jpg"
PICTURE = b"\xff\xd8\xff\xe0" + b"jpeg" * 100


# --- local files ---


async def test_local_round_trip(tmp_path: Path) -> None:
    store = LocalDocumentStore(tmp_path / "docs")
    assert not await store.exists(KEY)
    ref = await store.put(PICTURE, key=KEY, content_type="image/jpeg")
    assert ref == "file:ab/abcdef.jpg" == store.ref(KEY)
    assert await store.get(ref) == PICTURE
    assert await store.exists(KEY)
    # Written under a temporary name and renamed: nothing else is left beside it.
    assert [p.name for p in (tmp_path / "docs" / "ab").iterdir()] == ["abcdef.jpg"]


async def test_local_reads_references_written_before_the_store(tmp_path: Path) -> None:
    # Before this store, `storage_ref` was the path relative to var/attachments.
    (tmp_path / "ab").mkdir()
    (tmp_path / "ab" / "abcdef.jpg").write_bytes(PICTURE)
    assert await LocalDocumentStore(tmp_path).get("ab/abcdef.jpg") == PICTURE


async def test_local_put_replaces_atomically(tmp_path: Path) -> None:
    store = LocalDocumentStore(tmp_path)
    await store.put(b"first", key=KEY, content_type="image/jpeg")
    await store.put(b"second", key=KEY, content_type="image/jpeg")
    assert await store.get(store.ref(KEY)) == b"second"


@pytest.mark.parametrize(
    "key", ["../outside.jpg", "ab/../../outside.jpg", "/etc/passwd", "ab//x.jpg", "ab\\x.jpg", ""]
)
async def test_local_refuses_keys_that_are_not_plain_relative_paths(
    tmp_path: Path, key: str
) -> None:
    with pytest.raises(ValueError, match="not a plain relative document key"):
        await LocalDocumentStore(tmp_path / "docs").put(b"x", key=key, content_type="image/png")
    assert not (tmp_path / "outside.jpg").exists()


@pytest.mark.parametrize(
    "ref", ["file:../secret.txt", "../secret.txt", "file:ab/../../secret.txt", "/etc/passwd"]
)
async def test_local_refuses_references_outside_the_root(tmp_path: Path, ref: str) -> None:
    (tmp_path / "secret.txt").write_text("not yours")
    store = LocalDocumentStore(tmp_path / "docs")
    with pytest.raises(DocumentStoreError, match="outside the store"):
        await store.get(ref)


async def test_local_refuses_a_symbolic_link_leading_outside(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("not yours")
    root = tmp_path / "docs"
    root.mkdir()
    (root / "link.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(DocumentStoreError, match="outside the store"):
        await LocalDocumentStore(root).get("file:link.txt")


async def test_local_missing_and_foreign_references(tmp_path: Path) -> None:
    store = LocalDocumentStore(tmp_path)
    with pytest.raises(DocumentNotFound, match=r"no document at file:ab/none\.jpg"):
        await store.get("file:ab/none.jpg")
    with pytest.raises(DocumentStoreError, match="DOCUMENTS_BACKEND is local"):
        await store.get("s3://bucket/evidence/ab/abcdef.jpg")


def test_settings_choose_the_store(tmp_path: Path) -> None:
    local = build_document_store(Settings(var_dir=tmp_path))
    assert isinstance(local, LocalDocumentStore)
    assert local.root == tmp_path / "attachments"
    s3 = build_document_store(
        Settings(var_dir=tmp_path, documents_backend="s3", s3_bucket="b", s3_prefix="/ev/")
    )
    assert isinstance(s3, S3DocumentStore)
    assert s3.ref(KEY) == "s3://b/ev/ab/abcdef.jpg"


# --- S3, against moto's standalone server ---


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A real S3 API server on a free loopback port, for this module."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials found by boto3's standard chain in the environment, as in production;
    no profile, shared file or instance metadata of this machine is consulted."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def s3(s3_endpoint: str) -> S3Client:
    """A plain boto3 client on the server, to set up and inspect what the store did."""
    return boto3.client("s3", region_name=REGION, endpoint_url=s3_endpoint)


@pytest.fixture
def bucket(s3: S3Client) -> str:
    """A new, empty bucket."""
    name = f"evidence-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


def _store(
    endpoint: str,
    bucket: str,
    *,
    prefix: str = "evidence/",
    server_side_encryption: str = "AES256",
    kms_key_id: str = "",
) -> S3DocumentStore:
    # One attempt and short timeouts: a failure is reported at once, not after retries.
    return S3DocumentStore(
        bucket=bucket,
        prefix=prefix,
        region=REGION,
        endpoint_url=endpoint,
        server_side_encryption=server_side_encryption,
        kms_key_id=kms_key_id,
        max_attempts=1,
        timeout_seconds=2,
    )


async def test_s3_round_trip_encrypted_under_the_prefix(
    s3_endpoint: str, s3: S3Client, bucket: str
) -> None:
    store = _store(s3_endpoint, bucket)
    try:
        assert not await store.exists(KEY)
        ref = await store.put(PICTURE, key=KEY, content_type="image/jpeg")
        assert ref == f"s3://{bucket}/evidence/ab/abcdef.jpg"
        assert await store.get(ref) == PICTURE
        assert await store.exists(KEY)
    finally:
        await store.aclose()
    head = s3.head_object(Bucket=bucket, Key="evidence/ab/abcdef.jpg")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentType"] == "image/jpeg"
    listed = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listed["Contents"]] == ["evidence/ab/abcdef.jpg"]


async def test_s3_kms_encryption_names_the_key(s3_endpoint: str, s3: S3Client, bucket: str) -> None:
    key_id = "arn:aws:kms:eu-west-2:123456789012:key/evidence"
    store = _store(
        s3_endpoint,
        bucket,
        prefix="",
        server_side_encryption="aws:kms",
        kms_key_id=key_id,
    )
    ref = await store.put(PICTURE, key=KEY, content_type="image/jpeg")
    assert ref == f"s3://{bucket}/ab/abcdef.jpg"
    head = s3.head_object(Bucket=bucket, Key=KEY)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == key_id
    await store.aclose()


async def test_s3_without_encryption_asks_for_none(
    s3_endpoint: str, s3: S3Client, bucket: str
) -> None:
    # The control for the tests above: the server reports only what was asked for.
    store = _store(s3_endpoint, bucket, server_side_encryption="")
    await store.put(PICTURE, key=KEY, content_type="image/jpeg")
    assert "ServerSideEncryption" not in s3.head_object(Bucket=bucket, Key=f"evidence/{KEY}")
    await store.aclose()


async def test_s3_missing_object_and_bucket_are_clear_errors(s3_endpoint: str, bucket: str) -> None:
    store = _store(s3_endpoint, bucket)
    with pytest.raises(DocumentNotFound, match="no such object"):
        await store.get(f"s3://{bucket}/evidence/ab/none.jpg")
    with pytest.raises(DocumentStoreError, match="not an S3 reference"):
        await store.get(f"s3://{bucket}")
    absent = _store(s3_endpoint, "no-such-bucket")
    with pytest.raises(DocumentStoreError, match="bucket no-such-bucket does not exist"):
        await absent.put(PICTURE, key=KEY, content_type="image/jpeg")
    await store.aclose()


async def test_s3_reads_files_kept_locally_before_the_switch(
    s3_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    (tmp_path / "ab").mkdir()
    (tmp_path / "ab" / "abcdef.jpg").write_bytes(PICTURE)
    store = S3DocumentStore(
        bucket=bucket, endpoint_url=s3_endpoint, local=LocalDocumentStore(tmp_path)
    )
    assert await store.get("ab/abcdef.jpg") == PICTURE
    assert await store.get("file:ab/abcdef.jpg") == PICTURE
    with pytest.raises(DocumentStoreError, match="not an S3 reference"):
        await S3DocumentStore(bucket=bucket).get("file:ab/abcdef.jpg")


async def test_s3_server_gone_is_a_clear_error() -> None:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", region_name=REGION, endpoint_url=endpoint).create_bucket(
        Bucket="gone", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    store = _store(endpoint, "gone")
    ref = await store.put(PICTURE, key=KEY, content_type="image/jpeg")
    server.stop()
    with pytest.raises(DocumentStoreError, match=r"S3 is unreachable at s3://gone/evidence/"):
        await store.get(ref)
    with pytest.raises(DocumentStoreError, match="unreachable"):
        await store.put(PICTURE, key=KEY, content_type="image/jpeg")
    await store.aclose()


async def test_s3_without_credentials_says_how_to_give_them(
    s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    store = _store(s3_endpoint, bucket)
    with pytest.raises(DocumentStoreError, match="no AWS credentials found"):
        await store.put(PICTURE, key=KEY, content_type="image/jpeg")
