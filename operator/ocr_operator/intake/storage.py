"""The intake's object storage: list folders, read and write markers (the claim with a
conditional create), move or delete a finished folder's objects. Every call goes through
the worker's retry loop with a short budget (a poll must not hang for minutes)."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Protocol, TypeVar

from minio import Minio
from minio.commonconfig import CopySource
from minio.error import S3Error

from ocr_job.config import S3Settings
from ocr_job.storage.base import StorageError, parse_manifest
from ocr_job.storage.retry import RetryPolicy, call_with_retry, describe
from ocr_job.storage.s3 import get_object_bytes, make_client, read_manifest
from ocr_operator.intake.model import ObjectInfo

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds a poll keeps retrying one call that fails for a transient reason.
RETRY_BUDGET_S = 5.0
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0

_NOT_FOUND = frozenset({"NoSuchKey", "NoSuchObject", "ResourceNotFound", "NotFound"})
#: What S3 servers answer to `If-None-Match: *` on an existing key.
_EXISTS = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})


class IntakeStorage(Protocol):
    def list_folders(self, base: str) -> list[str]:
        """Common prefixes directly under `base` (full keys ending in '/'), all pages."""
        ...

    def list_folder(self, prefix: str) -> list[ObjectInfo]:
        """Every object under `prefix` (recursive), keys relative to it."""
        ...

    def exists(self, key: str) -> bool: ...

    def read(self, key: str) -> bytes | None: ...

    def put(self, key: str, data: bytes) -> None: ...

    def create_if_absent(self, key: str, data: bytes) -> bool:
        """Write only if no object has the key (atomic where the server supports it)."""
        ...

    def move(self, src: str, dst: str) -> bool:
        """Copy then delete; False when `src` is gone already."""
        ...

    def copy(self, src: str, dst: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def read_lines(self, url_key: str) -> list[str] | None: ...


class S3IntakeStorage:
    def __init__(self, settings: S3Settings, bucket: str, *, policy: RetryPolicy | None = None) -> None:
        self.client: Minio = make_client(
            settings, connect_timeout_s=CONNECT_TIMEOUT_S, read_timeout_s=READ_TIMEOUT_S
        )
        self.bucket = bucket
        self.policy = policy or RetryPolicy(total_s=RETRY_BUDGET_S)

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return call_with_retry(self.policy, what, fn)
        except S3Error as exc:
            raise StorageError(f"{what}: {exc.code or 'error'}") from None
        except ValueError as exc:  # the SDK validates names locally
            raise StorageError(f"{what}: {exc}") from None

    def list_folders(self, base: str) -> list[str]:
        def run() -> list[str]:
            return sorted(
                o.object_name
                for o in self.client.list_objects(self.bucket, prefix=base or None)
                if o.is_dir and o.object_name
            )

        return self._call(f"listing bucket {self.bucket!r}", run)

    def list_folder(self, prefix: str) -> list[ObjectInfo]:
        def run() -> list[ObjectInfo]:
            found = []
            for o in self.client.list_objects(self.bucket, prefix=prefix, recursive=True):
                if o.is_dir or not o.object_name:
                    continue
                found.append(
                    ObjectInfo(
                        key=o.object_name[len(prefix) :],
                        size=int(o.size or 0),
                        etag=o.etag or "",
                        modified=o.last_modified.timestamp() if o.last_modified else 0.0,
                    )
                )
            return found

        return self._call(f"listing a folder of {self.bucket!r}", run)

    def exists(self, key: str) -> bool:
        def run() -> bool:
            try:
                self.client.stat_object(self.bucket, key)
            except S3Error as exc:
                if exc.code in _NOT_FOUND:
                    return False
                raise
            return True

        return self._call(f"checking a marker in {self.bucket!r}", run)

    def read(self, key: str) -> bytes | None:
        def run() -> bytes | None:
            try:
                return get_object_bytes(self.client, self.bucket, key)
            except S3Error as exc:
                if exc.code in _NOT_FOUND:
                    return None
                raise

        return self._call(f"reading a marker in {self.bucket!r}", run)

    def put(self, key: str, data: bytes) -> None:
        def run() -> None:
            self.client.put_object(
                self.bucket, key, io.BytesIO(data), len(data), content_type="application/json"
            )

        self._call(f"writing a marker in {self.bucket!r}", run)

    def create_if_absent(self, key: str, data: bytes) -> bool:
        def run() -> bool:
            try:
                # The public put_object has no way to send a precondition header.
                self.client._put_object(
                    self.bucket,
                    key,
                    data,
                    {"If-None-Match": "*", "Content-Type": "application/json"},
                )
            except S3Error as exc:
                if exc.code in _EXISTS:
                    return False
                raise
            return True

        return self._call(f"claiming a folder in {self.bucket!r}", run)

    def copy(self, src: str, dst: str) -> bool:
        def run() -> bool:
            try:
                self.client.copy_object(self.bucket, dst, CopySource(self.bucket, src))
            except S3Error as exc:
                if exc.code in _NOT_FOUND:
                    return False
                raise
            return True

        return self._call(f"copying an object in {self.bucket!r}", run)

    def move(self, src: str, dst: str) -> bool:
        if not self.copy(src, dst):
            return False
        self.delete(src)
        return True

    def delete(self, key: str) -> None:
        self._call(
            f"deleting an object in {self.bucket!r}",
            lambda: self.client.remove_object(self.bucket, key),
        )

    def read_lines(self, key: str) -> list[str] | None:
        data = self.read(key)
        if data is None:
            return None
        return parse_manifest(data.decode("utf-8"))


def read_manifests(settings: S3Settings, template: str, shard_count: int) -> set[str]:
    """Every key in a batch's shard manifests (`s3://…/shard-{index:04d}.txt`)."""
    client = make_client(settings, connect_timeout_s=CONNECT_TIMEOUT_S)
    keys: set[str] = set()
    for index in range(shard_count):
        try:
            keys.update(read_manifest(template.format(index=index), client))
        except StorageError as exc:
            log.warning("a manifest could not be read: %s", describe(exc))
    return keys
