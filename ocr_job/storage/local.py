"""A local folder as source or destination: the embedded default without a cluster."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from ocr_job.records import ResultRecord
from ocr_job.storage.base import (
    RECORD_SUFFIX,
    RESERVED_DIRS,
    InputItem,
    StorageError,
    is_image_key,
    safe_key,
)


def _local_etag(stat: os.stat_result) -> str:
    return f"{stat.st_size}-{stat.st_mtime_ns}"


class LocalSource:
    def __init__(self, root: Path) -> None:
        self.root = root
        if not root.is_dir():
            raise StorageError(f"source folder {str(root)!r} does not exist or is not a folder")

    def list(self) -> Iterator[InputItem]:
        keys: list[str] = []
        try:
            for dirpath, dirnames, filenames in os.walk(self.root, onerror=_raise):
                dirnames.sort()
                base = Path(dirpath).relative_to(self.root)
                keys.extend(
                    (base / f).as_posix() for f in filenames if is_image_key(f)
                )
        except OSError as exc:
            raise StorageError(f"cannot read source folder: {exc}") from exc
        for key in sorted(keys):
            yield self._item(key)

    def resolve(self, keys: Iterable[str]) -> Iterator[InputItem]:
        for key in keys:
            yield self._item(key)

    def _item(self, key: str) -> InputItem:
        try:
            st = (self.root / key).stat()
        except OSError:
            return InputItem(key=key)
        return InputItem(key=key, size=st.st_size, etag=_local_etag(st))

    def read(self, item: InputItem) -> bytes:
        return (self.root / item.key).read_bytes()


def _raise(exc: OSError) -> None:
    raise exc


class LocalSink:
    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create output folder: {exc}") from exc

    def _record_path(self, key: str) -> Path:
        return self.root / (safe_key(key) + RECORD_SUFFIX)

    def done_etag(self, key: str) -> str | None:
        path = self._record_path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        etag = data.get("source_etag")
        return etag if isinstance(etag, str) else None

    def write_record(self, record: ResultRecord) -> None:
        self._write_atomic(self._record_path(record.source), record.model_dump_json(indent=1))

    def write_text(self, name: str, text: str) -> None:
        self._write_atomic(self.root / safe_key(name), text)

    def read_text(self, name: str) -> str | None:
        try:
            return (self.root / safe_key(name)).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def iter_records(self) -> Iterator[ResultRecord]:
        records: list[tuple[str, Path]] = []
        for path in self.root.rglob("*" + RECORD_SUFFIX):
            rel = path.relative_to(self.root)
            if rel.parts[0] in RESERVED_DIRS:
                continue
            records.append((rel.as_posix(), path))
        for _, path in sorted(records):
            yield ResultRecord.model_validate_json(path.read_bytes())

    @staticmethod
    def _write_atomic(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
