"""The batch's object storage as the operator needs it: list the source, write manifests and
the plan, merge the results. The S3 implementation uses `ocr_job.storage.s3`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, Protocol

from minio.error import S3Error

from ocr_job.config import S3Settings
from ocr_job.merge import MergeSummary, merge
from ocr_job.storage.base import RESULTS_CSV, RESULTS_JSONL, SHARDS_DIR, StorageError, is_image_key
from ocr_operator.batch.model import BatchSpec, s3_url
from ocr_operator.batch.planner import MANIFESTS_DIR, PLAN_FILE, Plan, manifest_name

PLAN_KEY = f"{MANIFESTS_DIR}/{PLAN_FILE}"
#: A shard file larger than this is not one a worker wrote (it is ignored).
MAX_SHARD_FILE = 64 * 1024
#: What S3 servers answer to `If-None-Match: *` on an existing key.
_EXISTS = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
_NOT_FOUND = frozenset({"NoSuchKey", "NoSuchObject", "ResourceNotFound"})
#: A shard's final summary (`ocr_job.status.summary_name`), not its live progress.
_SUMMARY = re.compile(r"shard-([0-9]{1,9})\.json")


class BatchStorage(Protocol):
    def list_keys(self) -> Iterator[str]:
        """Input keys relative to the source prefix, sorted."""
        ...

    def write_manifest(self, index: int, keys: list[str]) -> None: ...

    def read_plan(self) -> Plan | None:
        """The output's `plan.json`; None when there is none. ValueError: unreadable."""
        ...

    def create_plan(self, plan: Plan) -> bool:
        """Write `plan.json` only if there is none (If-None-Match: *); False if one exists.
        Servers that ignore the precondition overwrite: callers read the plan back."""
        ...

    def write_plan(self, plan: Plan) -> None: ...

    def read_json(self, name: str) -> dict[str, Any] | None:
        """A small JSON object under the output (a shard's summary or progress); None when
        absent, unparsable or not an object."""
        ...

    def read_text(self, name: str, limit: int) -> str | None:
        """An object under the output as text; None when absent, longer than `limit` bytes
        (never read past it) or not UTF-8."""
        ...

    def write_text(self, name: str, text: str) -> None: ...

    def shard_summaries(self) -> Iterator[int]:
        """The shards with a final summary under `_shards/` (`shard-NNNN.json`)."""
        ...

    def merge(self) -> MergeSummary: ...

    def results(self) -> dict[str, str]:
        """Where the merged results are: {"jsonl": url, "csv": url}."""
        ...


class S3BatchStorage:
    """Source and output of one batch on S3 (connections are made lazily)."""

    def __init__(self, spec: BatchSpec, settings: S3Settings) -> None:
        from ocr_job.storage.s3 import S3Sink, S3Source, make_client

        client = make_client(settings)
        self._source = S3Source(client, spec.source.bucket, spec.source.prefix)
        self._sink = S3Sink(client, spec.output.bucket, spec.output.prefix)
        self._spec = spec

    def _relative(self, key: str) -> str:
        prefix = self._source.prefix
        return key[len(prefix) + 1 :] if prefix and key.startswith(prefix + "/") else key

    def list_keys(self) -> Iterator[str]:
        """Image keys page by page as the server lists them (a page in memory, not the
        listing; `S3Source.list` sorts the whole listing, which the worker can afford for
        one shard, not the operator for a whole batch), with the lean `list_names`."""
        from ocr_job.storage.s3 import list_names

        source = self._source
        prefix = f"{source.prefix}/" if source.prefix else None
        try:
            for name, _ in list_names(source.client, source.bucket, prefix):
                if not name.endswith("/") and is_image_key(name):
                    yield self._relative(name)
        except S3Error as exc:
            raise StorageError(f"cannot list the source {source.url}: {exc.code}") from None

    def _full(self, key: str) -> str:
        prefix = self._source.prefix
        return f"{prefix}/{key}" if prefix else key

    def write_manifest(self, index: int, keys: list[str]) -> None:
        from ocr_job.storage.s3 import write_manifest

        url = s3_url(self._sink.bucket, self._sink.prefix, MANIFESTS_DIR, manifest_name(index))
        write_manifest(self._sink, url, [self._full(k) for k in keys])

    def read_plan(self) -> Plan | None:
        text = self._sink.read_text(PLAN_KEY)
        return Plan.from_json(text) if text is not None else None

    def create_plan(self, plan: Plan) -> bool:
        from ocr_job.storage.retry import call_with_retry
        from ocr_job.storage.s3 import join_key

        sink = self._sink
        data = plan.to_json().encode()
        key = join_key(sink.prefix, PLAN_KEY)

        def put() -> None:  # the public put_object cannot send a precondition
            sink.client._put_object(
                sink.bucket, key, data, {"If-None-Match": "*", "Content-Type": "application/json"}
            )

        try:
            call_with_retry(sink.policy, f"PUT s3://{sink.bucket}/{key}", put)
        except S3Error as exc:
            if exc.code in _EXISTS:
                return False
            raise StorageError(f"cannot write the plan under {sink.url}: {exc.code}") from None
        return True

    def write_plan(self, plan: Plan) -> None:
        self._sink.write_text(PLAN_KEY, plan.to_json())

    def read_json(self, name: str) -> dict[str, Any] | None:
        text = self.read_text(name, MAX_SHARD_FILE)
        if text is None:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def read_text(self, name: str, limit: int) -> str | None:
        from ocr_job.storage.s3 import join_key

        sink = self._sink
        try:
            data = sink._get_bytes(join_key(sink.prefix, name), limit)
        except S3Error as exc:
            if exc.code in _NOT_FOUND:
                return None
            raise StorageError(f"cannot read under {sink.url}: {exc.code}") from None
        if len(data) > limit:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def write_text(self, name: str, text: str) -> None:
        self._sink.write_text(name, text)

    def shard_summaries(self) -> Iterator[int]:
        from ocr_job.storage.s3 import join_key, list_names

        sink = self._sink
        base = join_key(sink.prefix, SHARDS_DIR) + "/"
        try:
            for name, _ in list_names(sink.client, sink.bucket, base):
                found = _SUMMARY.fullmatch(name[len(base) :])
                if found:
                    yield int(found.group(1))
        except S3Error as exc:
            raise StorageError(f"cannot list the shard summaries under {sink.url}: {exc.code}") from None

    def merge(self) -> MergeSummary:
        return merge(self._sink)

    def results(self) -> dict[str, str]:
        out = self._spec.output
        return {
            "jsonl": s3_url(out.bucket, out.prefix, RESULTS_JSONL),
            "csv": s3_url(out.bucket, out.prefix, RESULTS_CSV),
        }
