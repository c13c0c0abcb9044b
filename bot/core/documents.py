"""Where evidence documents (customers' photos, PDFs) are kept: local files or S3.

A store keeps bytes under a key (`ab/abcd….jpg`, chosen by the caller) and answers with a
reference to record in the database: `file:ab/abcd….jpg` for local files,
`s3://bucket/prefix/ab/abcd….jpg` for S3. References written before this module existed
(a plain relative path under `var/attachments/`) are read as local files.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

from bot.core.settings import Settings

if TYPE_CHECKING:  # the stubs are a development dependency only
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import PutObjectRequestTypeDef

T = TypeVar("T")

FILE_SCHEME = "file:"
S3_SCHEME = "s3://"
# Error codes S3 (and S3-compatible stores) answer for an object that is not there.
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


class DocumentStoreError(RuntimeError):
    """A document could not be kept or read; the message says what to check."""


class DocumentNotFound(DocumentStoreError):
    """No document under that reference."""


class DocumentStore(Protocol):
    """Keeps documents' bytes under keys; answers with references to read them back."""

    async def put(self, data: bytes, *, key: str, content_type: str) -> str:
        """Keep `data` under `key` (replacing what was there); the reference to record."""
        ...

    async def get(self, ref: str) -> bytes:
        """The bytes behind a reference `put` returned; DocumentNotFound if none."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether something is kept under `key`."""
        ...

    def ref(self, key: str) -> str:
        """The reference `put` returns for `key` (to record a document already kept)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def checked_key(key: str) -> str:
    """`key` if it is a plain relative path (`ab/abcd.jpg`); ValueError otherwise.

    Keys become file paths and S3 keys, so `..`, absolute paths and backslashes are
    refused before they can point outside the store.
    """
    parts = key.split("/")
    if not key or "\\" in key or "\x00" in key or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not a plain relative document key: {key!r}")
    return key


class LocalDocumentStore:
    """Documents as files under `root`, written atomically."""

    def __init__(self, root: Path) -> None:
        self._root = root

    @property
    def root(self) -> Path:
        """The folder documents are kept under."""
        return self._root

    def ref(self, key: str) -> str:
        """`file:<key>`."""
        return FILE_SCHEME + checked_key(key)

    async def put(self, data: bytes, *, key: str, content_type: str) -> str:
        """Write the file under a temporary name, then rename it into place."""
        path = self._path(checked_key(key))
        await asyncio.to_thread(_write_atomically, path, data)
        return self.ref(key)

    async def get(self, ref: str) -> bytes:
        """Read `file:<key>` or a plain relative path (references written before S3)."""
        if ref.startswith(S3_SCHEME):
            raise DocumentStoreError(
                f"{ref} is kept in S3 but DOCUMENTS_BACKEND is local; set it to s3 to read it."
            )
        relative = ref.removeprefix(FILE_SCHEME)
        if PurePosixPath(relative).is_absolute() or Path(relative).is_absolute():
            raise DocumentStoreError(f"refusing a document reference outside the store: {ref}")
        path = self._path(relative)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as error:
            raise DocumentNotFound(f"no document at {ref} (under {self._root})") from error
        except OSError as error:
            raise DocumentStoreError(f"cannot read document {ref}: {error}") from error

    async def exists(self, key: str) -> bool:
        """Whether the file is there."""
        return await asyncio.to_thread(self._path(checked_key(key)).is_file)

    async def aclose(self) -> None:
        """Nothing to release."""

    def _path(self, relative: str) -> Path:
        # Resolved, so neither `..` nor a symbolic link can lead outside the root.
        root = self._root.resolve()
        path = (root / relative).resolve()
        if not path.is_relative_to(root) or path == root:
            raise DocumentStoreError(f"refusing a document reference outside the store: {relative}")
        return path


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # A crash never leaves half a file under the real name.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class S3DocumentStore:
    """Documents as objects in an S3 bucket (or an S3-compatible store such as MinIO).

    The client is built on first use, with credentials from boto3's standard chain
    (environment, shared credentials file and profile, web identity, container or
    instance role); its blocking calls run in a worker thread. References that are not
    `s3://` (files kept before the switch to S3) are read from `local`, when given.
    """

    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        region: str | None = None,
        endpoint_url: str | None = None,
        server_side_encryption: str = "AES256",
        kms_key_id: str = "",
        local: LocalDocumentStore | None = None,
        max_attempts: int = 3,
        timeout_seconds: float = 10.0,
    ) -> None:
        if not bucket:
            raise ValueError("S3DocumentStore needs a bucket; set S3_BUCKET.")
        self._bucket = bucket
        stripped = prefix.strip("/")
        self._prefix = f"{stripped}/" if stripped else ""
        self._region = region or None
        self._endpoint_url = endpoint_url or None
        self._sse = server_side_encryption
        self._kms_key_id = kms_key_id
        self._local = local
        self._max_attempts = max_attempts
        self._timeout = timeout_seconds
        self._client: S3Client | None = None
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        """`s3://bucket/prefix` (and the endpoint, for S3-compatible stores), for messages."""
        place = f"{S3_SCHEME}{self._bucket}/{self._prefix}"
        return f"{place} at {self._endpoint_url}" if self._endpoint_url else place

    def ref(self, key: str) -> str:
        """`s3://bucket/prefix/key`."""
        return f"{S3_SCHEME}{self._bucket}/{self._prefix}{checked_key(key)}"

    async def put(self, data: bytes, *, key: str, content_type: str) -> str:
        """Upload the object, encrypted at rest as configured."""
        request: PutObjectRequestTypeDef = {
            "Bucket": self._bucket,
            "Key": self._prefix + checked_key(key),
            "Body": data,
            "ContentType": content_type,
        }
        if self._sse == "AES256":
            request["ServerSideEncryption"] = "AES256"
        elif self._sse == "aws:kms":
            request["ServerSideEncryption"] = "aws:kms"
            if self._kms_key_id:
                request["SSEKMSKeyId"] = self._kms_key_id
        await self._call(f"store {request['Key']}", lambda c: c.put_object(**request))
        return self.ref(key)

    async def get(self, ref: str) -> bytes:
        """Download the object behind `s3://bucket/key` (or a local file's reference)."""
        if not ref.startswith(S3_SCHEME):
            if self._local is None:
                raise DocumentStoreError(f"{ref} is not an S3 reference (s3://bucket/key).")
            return await self._local.get(ref)
        bucket, _, key = ref.removeprefix(S3_SCHEME).partition("/")
        if not bucket or not key:
            raise DocumentStoreError(f"{ref} is not an S3 reference (s3://bucket/key).")

        def download(client: S3Client) -> bytes:
            return client.get_object(Bucket=bucket, Key=key)["Body"].read()

        return await self._call(f"read {ref}", download)

    async def exists(self, key: str) -> bool:
        """Whether the object is there (a HEAD request)."""
        full_key = self._prefix + checked_key(key)
        try:
            await self._call(
                f"look up {full_key}", lambda c: c.head_object(Bucket=self._bucket, Key=full_key)
            )
        except DocumentNotFound:
            return False
        return True

    async def aclose(self) -> None:
        """Close the client's connection pool (a new one is built if used again)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(client.close)

    async def _call(self, what: str, call: Callable[[S3Client], T]) -> T:
        return await asyncio.to_thread(self._run, what, call)

    def _run(self, what: str, call: Callable[[S3Client], T]) -> T:
        try:
            return call(self._connected())
        except ClientError as error:
            raise self._client_error(what, error) from error
        except (NoCredentialsError, PartialCredentialsError) as error:
            raise DocumentStoreError(
                f"cannot {what}: no AWS credentials found ({error}). Set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or give the process a role."
            ) from error
        except (EndpointConnectionError, ConnectTimeoutError) as error:
            raise DocumentStoreError(
                f"cannot {what}: S3 is unreachable at {self.where} ({error})."
            ) from error
        except BotoCoreError as error:
            raise DocumentStoreError(f"cannot {what} in {self.where}: {error}") from error

    def _client_error(self, what: str, error: ClientError) -> DocumentStoreError:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in _MISSING:
            return DocumentNotFound(f"cannot {what}: no such object in {self.where}.")
        if code == "NoSuchBucket":
            return DocumentStoreError(f"cannot {what}: the bucket {self._bucket} does not exist.")
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return DocumentStoreError(
                f"cannot {what}: access to {self.where} was refused ({code}); check the "
                "credentials and the bucket policy (and the KMS key policy with aws:kms)."
            )
        return DocumentStoreError(f"cannot {what} in {self.where}: {code or error}")

    def _connected(self) -> S3Client:
        # Built in the worker thread: loading boto3's service models blocks for a while.
        with self._lock:
            if self._client is None:
                self._client = self._build_client()
            return self._client

    def _build_client(self) -> S3Client:
        import boto3  # imported on first use: local-only deployments never pay for it
        from botocore.config import Config

        config = Config(
            retries={"max_attempts": self._max_attempts, "mode": "standard"},
            connect_timeout=self._timeout,
            read_timeout=self._timeout,
        )
        session = boto3.session.Session()
        return session.client(
            "s3", region_name=self._region, endpoint_url=self._endpoint_url, config=config
        )


def build_document_store(settings: Settings) -> DocumentStore:
    """The store DOCUMENTS_BACKEND names: files under `var/attachments/` or S3.

    With S3, files kept locally before the switch stay readable.
    """
    local = LocalDocumentStore(settings.var_dir / "attachments")
    if settings.documents_backend == "local":
        return local
    return S3DocumentStore(
        bucket=settings.s3_bucket,
        prefix=settings.s3_prefix,
        region=settings.s3_region,
        endpoint_url=settings.s3_endpoint_url,
        server_side_encryption=settings.s3_server_side_encryption,
        kms_key_id=settings.s3_kms_key_id,
        local=local,
    )
