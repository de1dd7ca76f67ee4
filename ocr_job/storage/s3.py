"""S3 / MinIO (any S3-compatible store) as source or destination, with the minio SDK.

Layout under an output URL `s3://bucket/prefix` (see docs/s3.md):

    prefix/<input key>.json        one record per input; user metadata carries the
                                   source ETag and the status (resume = one HEAD)
    prefix/_mapped/<…>~<hash>.json the record of an input whose key cannot be a record
                                   key as such (too long, control characters, ...: see
                                   `base.record_name`)
    prefix/_shards/shard-NNNN.json a shard's summary
    prefix/_manifests/...          manifests written by the planner
    prefix/results.jsonl|csv       written by `ocr-job merge`

Every call goes through `retry.call_with_retry`: transient failures are retried
with backoff for a bounded time, then `StorageError` is raised. Credentials are
never put into a message, a log line or a record.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, Self, TypeVar
from urllib.parse import unquote_plus
from xml.etree import ElementTree

import certifi
import urllib3
from minio import Minio
from minio.error import InvalidResponseError, S3Error, ServerError

from ocr_job.config import DEFAULT_MAX_OBJECT_BYTES, S3Settings
from ocr_job.records import ResultRecord
from ocr_job.storage.base import (
    MAX_RECORD_BYTES,
    MAX_RECORD_NAME_BYTES,
    RECORD_SUFFIX,
    RESERVED_DIRS,
    InputItem,
    InputTooLarge,
    RecordWriteError,
    StorageError,
    is_image_key,
    is_mapped_name,
    is_record_at,
    manifest_text,
    mapped_name,
    parse_manifest,
    record_name,
    safe_key,
)
from ocr_job.storage.retry import RetryPolicy, call_with_retry, describe, is_transient

#: Part size of a streamed upload (results.jsonl/csv): what it holds in memory at a time.
STREAM_PART_BYTES = 5 << 20

log = logging.getLogger("ocr_job.storage.s3")

T = TypeVar("T")

SCHEME = "s3://"
#: User-metadata names on a record object (sent as `x-amz-meta-<name>`).
META_SOURCE_ETAG = "source-etag"
META_STATUS = "status"

#: Socket timeouts of the HTTP pool (seconds). A read stalls at most this long
#: before the retry loop takes over.
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0

_NOT_FOUND = frozenset({"NoSuchKey", "NoSuchObject", "ResourceNotFound"})
_BAD_CREDENTIALS = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"})
#: Answers to a record PUT that say the bucket cannot be written at all; any other client
#: error (a key too long or refused, ...) concerns that one record.
_WRITE_FATAL = _BAD_CREDENTIALS | {
    "NoSuchBucket",
    "AccessDenied",
    "AllAccessDisabled",
    "AccountProblem",
    "InvalidBucketName",
}
#: S3's limit on an object key (bytes).
MAX_KEY_BYTES = 1024
#: Longest output prefix (bytes): room is left for every mapped record name under it.
MAX_PREFIX_BYTES = 768

_CONTENT_TYPES = {
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
    ".csv": "text/csv; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".jpg": "image/jpeg",
}


# --------------------------------------------------------------------------- URLs and keys


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix/` → `("bucket", "some/prefix")` (prefix may be "")."""
    if not url.startswith(SCHEME):
        raise ValueError(f"not an s3:// URL: {url!r}")
    bucket, _, prefix = url[len(SCHEME) :].partition("/")
    if not bucket:
        raise ValueError(f"the s3:// URL names no bucket: {url!r}")
    return bucket, "/".join(p for p in prefix.split("/") if p)


def join_key(prefix: str, name: str) -> str:
    """`prefix/<safe name>`: a name can never leave the prefix."""
    name = safe_key(name)
    return f"{prefix}/{name}" if prefix else name


def record_key(prefix: str, source_key: str, *, mapped: bool = False) -> str:
    """The object key of the record for input `source_key` (see `base.record_name`)."""
    room = MAX_KEY_BYTES - (len(prefix.encode()) + 1 if prefix else 0)
    name = mapped_name(source_key) if mapped else record_name(source_key, min(room, MAX_RECORD_NAME_BYTES))
    return f"{prefix}/{name}" if prefix else name


# --------------------------------------------------------------------------- listing

#: The S3 XML namespace (some servers answer without it).
_S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def list_names(client: Minio, bucket: str, prefix: str | None) -> Iterator[tuple[str, int | None]]:
    """(key, size) of every object under `prefix`, recursively, a page (1,000) at a time
    (ListObjectsV2, keys URL-encoded on the wire like the SDK's `list_objects`).

    What the SDK's `list_objects` gives, without its per-object parsing (dates, owners,
    ETags, ... read with `find` and `strptime`: about 0.3 ms a key, most of a million-key
    listing's time); S3Error as the SDK raises it."""
    token: str | None = None
    while True:
        query: dict[str, str | list[str] | tuple[str]] = {
            "list-type": "2",
            "delimiter": "",
            "encoding-type": "url",
            "max-keys": "1000",
        }
        query["prefix"] = prefix or ""
        if token:
            query["continuation-token"] = token
        response = client._execute("GET", bucket, query_params=query)
        root = ElementTree.fromstring(response.data)
        ns = _S3_NS if root.tag.startswith(_S3_NS) else ""
        url_encoded = (root.findtext(f"{ns}EncodingType") or "").lower() == "url"
        for item in root.iterfind(f"{ns}Contents"):
            key = item.findtext(f"{ns}Key") or ""
            if url_encoded:
                key = unquote_plus(key)
            size = item.findtext(f"{ns}Size")
            yield key, int(size) if size else None
        token = root.findtext(f"{ns}NextContinuationToken")
        if (root.findtext(f"{ns}IsTruncated") or "").lower() != "true" or not token:
            return


# --------------------------------------------------------------------------- client


def _split_endpoint(endpoint: str, secure: bool) -> tuple[str, bool]:
    """Accept `host:port` or `http(s)://host:port[/]` (the SDK wants the former)."""
    for scheme, is_secure in (("https://", True), ("http://", False)):
        if endpoint.startswith(scheme):
            return endpoint[len(scheme) :].rstrip("/"), is_secure
    return endpoint.rstrip("/"), secure


def make_client(
    settings: S3Settings,
    *,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    read_timeout_s: float = READ_TIMEOUT_S,
) -> Minio:
    """A minio client with the region pinned and no urllib3 retries (ours decide)."""
    endpoint, secure = _split_endpoint(settings.endpoint, settings.secure)
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s),
        maxsize=16,
        retries=False,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
    )
    access = settings.access_key.get_secret_value() if settings.access_key else None
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    try:
        return Minio(
            endpoint,
            access_key=access,
            secret_key=secret,
            secure=secure,
            region=settings.region,
            http_client=http,
        )
    except ValueError as exc:  # bad endpoint; the SDK's message holds no secret
        raise StorageError(f"invalid S3 endpoint {endpoint!r}: {exc}") from None


def _endpoint_of(client: Minio) -> str:
    """`http(s)://host:port` of a client, for messages (never with credentials)."""
    url = getattr(client, "_base_url", None)  # the SDK keeps no public accessor
    if url is None:
        return "the S3 endpoint"
    return f"{'https' if url.is_https else 'http'}://{url.host}"


def check_bucket(client: Minio, bucket: str, prefix: str = "", policy: RetryPolicy | None = None) -> None:
    """Fail fast, with a clear message, when the bucket is missing or the keys are wrong."""
    endpoint = _endpoint_of(client)

    def probe() -> None:
        # One ListObjectsV2 page: unlike HEAD bucket it says *why* it fails.
        objects = client.list_objects(bucket, prefix=f"{prefix}/" if prefix else None)
        next(iter(objects), None)

    try:
        call_with_retry(policy or RetryPolicy(), f"checking bucket {bucket!r}", probe)
    except S3Error as exc:
        raise _client_error(exc, bucket, endpoint) from None
    except (InvalidResponseError, ServerError) as exc:  # not an S3 server, or a proxy error
        raise StorageError(f"{endpoint} does not answer like an S3 server ({describe(exc)})") from None
    except ValueError as exc:  # the SDK validates bucket names locally
        raise StorageError(f"invalid bucket name {bucket!r}: {exc}") from None


def _client_error(exc: S3Error, bucket: str, endpoint: str) -> StorageError:
    code = exc.code or "error"
    if code == "NoSuchBucket":
        return StorageError(f"bucket {bucket!r} does not exist at {endpoint}")
    if code in _BAD_CREDENTIALS:
        return StorageError(
            f"{endpoint} rejected the S3 credentials ({code}); check OCR_S3_ACCESS_KEY and OCR_S3_SECRET_KEY"
        )
    if code == "AccessDenied":
        return StorageError(
            f"access to bucket {bucket!r} at {endpoint} was denied (AccessDenied); check the "
            "credentials and the bucket policy"
        )
    return StorageError(f"bucket {bucket!r} at {endpoint} cannot be used ({describe(exc)})")


# --------------------------------------------------------------------------- shared base


class _S3Location:
    def __init__(
        self,
        client: Minio,
        bucket: str,
        prefix: str = "",
        *,
        policy: RetryPolicy | None = None,
        check: bool = True,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = "/".join(p for p in prefix.split("/") if p)
        self.policy = policy or RetryPolicy()
        self.endpoint = _endpoint_of(client)
        if check:
            check_bucket(client, bucket, self.prefix, self.policy)

    @classmethod
    def from_url(cls, url: str, settings: S3Settings, *, policy: RetryPolicy | None = None) -> Self:
        """Connect per `settings` and check the bucket; StorageError if it cannot be used."""
        try:
            bucket, prefix = parse_s3_url(url)
        except ValueError as exc:
            raise StorageError(str(exc)) from None
        return cls(make_client(settings), bucket, prefix, policy=policy or _policy_of(settings))

    @property
    def url(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.prefix}" if self.prefix else f"{SCHEME}{self.bucket}"

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """One SDK call with retries; client errors (4xx) come through as S3Error."""
        try:
            return call_with_retry(self.policy, what, fn)
        except (InvalidResponseError, ServerError) as exc:  # a non-S3 answer (a proxy?)
            raise StorageError(f"{what}: unexpected answer from {self.endpoint} ({describe(exc)})") from None

    def _fatal(self, exc: S3Error) -> StorageError:
        return _client_error(exc, self.bucket, self.endpoint)

    def _get_bytes(self, key: str, limit: int | None = None) -> bytes:
        """The object's bytes; with `limit`, at most `limit + 1` of them (the rest is never
        downloaded)."""

        return self._call(
            f"GET s3://{self.bucket}/{key}",
            lambda: get_object_bytes(self.client, self.bucket, key, limit),
        )

    def _put_bytes(
        self,
        key: str,
        data: bytes,
        content_type: str,
        metadata: dict[str, str] | None = None,
    ) -> None:
        def put() -> None:
            self.client.put_object(
                self.bucket,
                key,
                io.BytesIO(data),
                len(data),
                content_type=content_type,
                metadata=metadata,  # type: ignore[arg-type]
            )

        try:
            self._call(f"PUT s3://{self.bucket}/{key}", put)
        except S3Error as exc:  # a write that cannot succeed is fatal for the run
            raise self._fatal(exc) from None


def get_object_bytes(client: Minio, bucket: str, key: str, limit: int | None = None) -> bytes:
    """One GET: the object's bytes (with `limit`, at most `limit + 1` of them), the
    connection released to the pool whatever happens. S3Error comes through."""
    response = client.get_object(bucket, key)
    try:
        return response.read() if limit is None else _read_bounded(response, limit + 1)
    finally:
        response.close()
        response.release_conn()


def _read_bounded(response: urllib3.BaseHTTPResponse, most: int) -> bytes:
    chunks: list[bytes] = []
    left = most
    while left > 0:
        chunk = response.read(min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _policy_of(settings: S3Settings) -> RetryPolicy:
    return RetryPolicy(total_s=settings.retry_timeout_s)


# --------------------------------------------------------------------------- source


class S3Source(_S3Location):
    """Inputs are the image objects under `s3://bucket/prefix/`; keys are full object keys.

    `skip` is a key prefix (a folder) that is not listed: the output, when it lies inside
    the source."""

    skip: str | None = None

    def list(self) -> Iterator[InputItem]:
        # Some S3 servers (SeaweedFS among them) list in directory order, not key
        # order, so the keys are collected and sorted; a listing interrupted by an
        # outage restarts from the top (start_after is not reliable on those servers).
        def list_all() -> list[InputItem]:
            found: list[InputItem] = []
            for obj in self.client.list_objects(
                self.bucket, prefix=f"{self.prefix}/" if self.prefix else None, recursive=True
            ):
                name = obj.object_name
                if name is None or obj.is_dir or not is_image_key(name):
                    continue
                if self.skip and name.startswith(self.skip.rstrip("/") + "/"):
                    continue
                found.append(InputItem(key=name, size=obj.size, etag=obj.etag or None))
            found.sort(key=lambda item: item.key)
            return found

        try:
            items = self._call(f"listing {self.url}", list_all)
        except S3Error as exc:
            raise self._fatal(exc) from None
        log.info("listed %d inputs under %s", len(items), self.url)
        yield from items

    def resolve(self, keys: Iterable[str]) -> Iterator[InputItem]:
        for key in keys:
            yield self._stat(key)

    def _stat(self, key: str) -> InputItem:
        try:
            stat = self._call(
                f"HEAD s3://{self.bucket}/{key}", lambda: self.client.stat_object(self.bucket, key)
            )
        except S3Error as exc:  # missing or forbidden: the pipeline records fetch_failed
            log.warning("input %r cannot be used: %s", key, describe(exc))
            return InputItem(key=key)
        except ValueError:  # the SDK rejects an empty or otherwise invalid key
            return InputItem(key=key)
        return InputItem(key=key, size=stat.size, etag=stat.etag or None)

    def read(self, item: InputItem, max_bytes: int = DEFAULT_MAX_OBJECT_BYTES) -> bytes:
        if item.size is not None and item.size > max_bytes:
            raise InputTooLarge(item.size)
        try:
            return self._get_bytes(item.key, max_bytes)
        except S3Error as exc:
            if exc.code in _NOT_FOUND:
                raise FileNotFoundError(f"object {item.key!r} does not exist") from None
            raise PermissionError(f"object {item.key!r}: {describe(exc)}") from None


# --------------------------------------------------------------------------- sink


class S3Sink(_S3Location):
    """Results under `s3://bucket/prefix/`: one record object per input plus batch files."""

    #: Parallel GETs when reading records back (merge).
    read_workers = 8
    #: Objects skipped by the last `iter_records` (not records written here).
    ignored = 0

    def __init__(
        self,
        client: Minio,
        bucket: str,
        prefix: str = "",
        *,
        policy: RetryPolicy | None = None,
        check: bool = True,
    ) -> None:
        super().__init__(client, bucket, prefix, policy=policy, check=check)
        if len(self.prefix.encode()) > MAX_PREFIX_BYTES:
            raise StorageError(
                f"the output prefix is longer than {MAX_PREFIX_BYTES} bytes: records would not fit "
                f"S3's {MAX_KEY_BYTES}-byte keys"
            )

    def record_key(self, source_key: str, *, mapped: bool = False) -> str:
        return record_key(self.prefix, source_key, mapped=mapped)

    def lock(self, shared: bool = False) -> contextlib.AbstractContextManager[None]:
        """No lock on S3: the shards of one batch write to one prefix together by design."""
        return contextlib.nullcontext()

    def done_etag(self, key: str) -> str | None:
        obj = self.record_key(key)
        try:
            stat = self._call(
                f"HEAD s3://{self.bucket}/{obj}", lambda: self.client.stat_object(self.bucket, obj)
            )
        except S3Error as exc:
            if exc.code in _NOT_FOUND:
                return None
            raise self._fatal(exc) from None
        meta = stat.metadata or {}
        etag = meta.get(f"x-amz-meta-{META_SOURCE_ETAG}")
        if etag:
            return str(etag)
        if meta.get(f"x-amz-meta-{META_STATUS}"):
            return None  # written by us, from an input that had no ETag
        # A record written without metadata (by hand, or by a copy tool): read it.
        try:
            record = ResultRecord.model_validate_json(self._get_bytes(obj))
        except S3Error:
            return None
        except ValueError:
            log.warning("ignoring unparsable record %s", obj)
            return None
        return record.source_etag

    def write_record(self, record: ResultRecord, key: str | None = None, *, mapped: bool = False) -> None:
        metadata: dict[str, str] = {META_STATUS: record.status}
        if record.source_etag and record.source_etag.isascii() and record.source_etag.isprintable():
            metadata[META_SOURCE_ETAG] = record.source_etag
        obj = self.record_key(record.source if key is None else key, mapped=mapped)
        data = record.model_dump_json(indent=1).encode("utf-8")

        def put() -> None:
            self.client.put_object(
                self.bucket,
                obj,
                io.BytesIO(data),
                len(data),
                content_type="application/json",
                metadata=metadata,  # type: ignore[arg-type]
            )

        try:
            self._call("PUT of a record", put)
        except S3Error as exc:  # transient failures were retried already
            if exc.code in _WRITE_FATAL:
                raise self._fatal(exc) from None
            raise RecordWriteError(describe(exc)) from None
        except ValueError as exc:  # the SDK refuses the key itself
            raise RecordWriteError(f"invalid object key ({type(exc).__name__})") from None

    def write_blob(self, name: str, data: bytes) -> None:
        obj = join_key(self.prefix, name)

        def put() -> None:
            self.client.put_object(
                self.bucket, obj, io.BytesIO(data), len(data), content_type=_content_type(obj)
            )

        try:
            self._call("PUT of a crop", put)  # the key may hold a name: never logged
        except S3Error as exc:
            if exc.code in _WRITE_FATAL:
                raise self._fatal(exc) from None
            raise RecordWriteError(describe(exc)) from None
        except ValueError as exc:
            raise RecordWriteError(f"invalid object key ({type(exc).__name__})") from None

    def write_text(self, name: str, text: str) -> None:
        key = join_key(self.prefix, name)
        self._put_bytes(key, text.encode("utf-8"), _content_type(key))

    def write_stream(self, name: str, stream: BinaryIO) -> None:
        """A multipart upload read from `stream` a part at a time (not retried: a stream
        cannot be read twice; the caller writes again)."""
        key = join_key(self.prefix, name)
        try:
            self.client.put_object(
                self.bucket,
                key,
                stream,
                length=-1,
                part_size=STREAM_PART_BYTES,
                content_type=_content_type(key),
            )
        except S3Error as exc:
            raise self._fatal(exc) from None

    def read_text(self, name: str) -> str | None:
        key = join_key(self.prefix, name)
        try:
            return self._get_bytes(key).decode("utf-8")
        except S3Error as exc:
            if exc.code in _NOT_FOUND:
                return None
            raise self._fatal(exc) from None

    def record_keys(self) -> Iterator[str]:
        """Object keys of every `.json` object that may be a per-input record: those at their
        input's name sorted, then the mapped ones (`_mapped/`) sorted; the bookkeeping folders
        (`_shards/`, `_manifests/`) and objects too large to be a record are left out.

        When the server lists the plain ones in key order (AWS S3 and MinIO always, SeaweedFS
        unless a folder's name is a prefix of a sibling file's), which a first listing checks
        keeping nothing, they are streamed from a second listing: the merge's memory does
        not grow with the output. Otherwise they are collected and sorted."""
        base = f"{self.prefix}/" if self.prefix else ""

        def candidates(count: bool) -> Iterator[tuple[str, bool]]:
            for name, size in list_names(self.client, self.bucket, base or None):
                if not name.endswith(RECORD_SUFFIX):
                    continue
                rel = name[len(base) :]
                if rel.split("/", 1)[0] in RESERVED_DIRS:
                    continue
                if size is not None and size > MAX_RECORD_BYTES:
                    self.ignored += count
                    continue
                yield name, is_mapped_name(rel)

        def in_order() -> bool:
            last = ""
            for name, mapped in candidates(count=False):
                if not mapped:
                    if name < last:
                        return False
                    last = name
            return True

        def list_all() -> list[str]:
            plain: list[str] = []
            mapped: list[str] = []
            for name, is_mapped in candidates(count=True):
                (mapped if is_mapped else plain).append(name)
            return sorted(plain) + sorted(mapped)

        try:
            if not self._call(f"listing {self.url}", in_order):
                yield from self._call(f"listing {self.url}", list_all)
                return
            mapped: list[str] = []
            for name, is_mapped in candidates(count=True):
                if is_mapped:
                    mapped.append(name)
                else:
                    yield name
        except S3Error as exc:
            raise self._fatal(exc) from None
        yield from sorted(mapped)

    def iter_records(self) -> Iterator[ResultRecord]:
        self.ignored = 0
        keys = self.record_keys()
        base = len(self.prefix) + 1 if self.prefix else 0

        def load(key: str) -> ResultRecord | None:
            try:
                data = self._get_bytes(key, MAX_RECORD_BYTES)
            except S3Error as exc:
                if exc.code in _NOT_FOUND:  # deleted since the listing
                    return None
                raise self._fatal(exc) from None
            if len(data) > MAX_RECORD_BYTES:
                return None
            try:
                record = ResultRecord.model_validate_json(data)
            except ValueError:
                return None
            return record if is_record_at(key[base:], record) else None

        # Bounded read-ahead: at most `window` records in memory at a time.
        window = self.read_workers * 4
        with ThreadPoolExecutor(self.read_workers, thread_name_prefix="s3-read") as pool:
            while chunk := list(itertools.islice(keys, window)):
                for record in pool.map(load, chunk):
                    if record is None:
                        self.ignored += 1
                    else:
                        yield record


def _content_type(key: str) -> str:
    suffix = os.path.splitext(key)[1].lower()
    return _CONTENT_TYPES.get(suffix, "application/octet-stream")


# --------------------------------------------------------------------------- manifests


def _client_of(target: Minio | S3Settings | _S3Location | None) -> Minio:
    if isinstance(target, Minio):
        return target
    if isinstance(target, _S3Location):
        return target.client
    return make_client(target or S3Settings())


def _policy_for(target: Minio | S3Settings | _S3Location | None) -> RetryPolicy:
    if isinstance(target, _S3Location):
        return target.policy
    if isinstance(target, S3Settings):
        return _policy_of(target)
    return RetryPolicy()


def write_manifest(target: Minio | S3Settings | _S3Location | None, url: str, keys: Iterable[str]) -> int:
    """Write `keys` (`manifest_text`: any key, escaped) to the object at `url`. Returns
    the count. `target` gives the connection: a client, settings, or an S3Source/S3Sink.
    """
    bucket, key = parse_s3_url(url)
    if not key:
        raise ValueError(f"the manifest URL names no object: {url!r}")
    text = manifest_text(keys)
    data = text.encode("utf-8")
    client = _client_of(target)

    def put() -> None:
        client.put_object(bucket, key, io.BytesIO(data), len(data), content_type="text/plain; charset=utf-8")

    try:
        call_with_retry(_policy_for(target), f"PUT {url}", put)
    except S3Error as exc:
        raise _client_error(exc, bucket, _endpoint_of(client)) from None
    return text.count("\n") - 1  # the header line


def read_manifest(url: str, target: Minio | S3Settings | _S3Location | None = None) -> list[str]:
    """The keys of a manifest written by `write_manifest` (blank lines ignored)."""
    try:
        bucket, key = parse_s3_url(url)
    except ValueError as exc:
        raise StorageError(str(exc)) from None
    client = _client_of(target)

    try:
        data = call_with_retry(
            _policy_for(target), f"GET {url}", lambda: get_object_bytes(client, bucket, key)
        )
    except S3Error as exc:
        if exc.code in _NOT_FOUND:
            raise StorageError(f"manifest {url} does not exist") from None
        raise _client_error(exc, bucket, _endpoint_of(client)) from None
    try:
        return parse_manifest(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise StorageError(f"manifest {url} is not UTF-8 text") from None
    except ValueError as exc:  # a damaged line (the message never quotes it)
        raise StorageError(f"manifest {url} cannot be read: {exc}") from None


__all__ = [
    "S3Sink",
    "S3Source",
    "check_bucket",
    "is_transient",
    "join_key",
    "make_client",
    "parse_s3_url",
    "read_manifest",
    "record_key",
    "write_manifest",
]
