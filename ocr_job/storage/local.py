"""A local folder as source or destination: the embedded default without a cluster.

The source reads only regular files inside its folder: a symlink may point elsewhere in
the folder but not out of it, and FIFOs, devices, sockets and folders are refused without
being opened; every read is bounded. The output writes each file through a uniquely named
temporary file, tells a full or read-only disk (fatal: StorageError) from a name this one
file system refuses (RecordWriteError: the run writes an error record instead), and holds
a lock file so that two runs never write one output at once.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import secrets
import shutil
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from ocr_job.config import DEFAULT_MAX_OBJECT_BYTES
from ocr_job.records import ErrorCode, ResultRecord
from ocr_job.storage.base import (
    LOCK_FILE,
    MAX_RECORD_BYTES,
    RECORD_SUFFIX,
    RESERVED_DIRS,
    InputItem,
    InputRefused,
    InputTooLarge,
    RecordWriteError,
    StorageError,
    is_image_key,
    is_mapped_name,
    is_record_at,
    mapped_name,
    record_name,
    safe_key,
)

log = logging.getLogger(__name__)

#: Errors of a write that say the whole output is unusable, not just one name.
_OUTPUT_GONE = {
    errno.ENOSPC: "the output folder is full (no space left on device)",
    errno.EDQUOT: "the output folder is full (disk quota exceeded)",
    errno.EROFS: "the output folder is on a read-only file system",
    errno.EIO: "input/output error on the output folder's disk",
    errno.ENODEV: "the output folder's device is gone",
    errno.ESTALE: "the output folder's network file handle is stale",
}
_READ_CHUNK = 1 << 20
_TMP_SUFFIX = ".tmp"


def _local_etag(st: os.stat_result) -> str:
    return f"{st.st_size}-{st.st_mtime_ns}"


def _reason(exc: OSError) -> str:
    """An OSError without its file name (names may hold personal data)."""
    return os.strerror(exc.errno) if exc.errno else type(exc).__name__


# --------------------------------------------------------------------------- source


class LocalSource:
    """Inputs are the files under `root` with an image suffix; keys are relative paths.

    `skip` is a folder under `root` (relative) that is not listed: the output, when it lies
    inside the source.
    """

    def __init__(self, root: Path, skip: str | None = None) -> None:
        self.root = root
        if not root.is_dir():
            raise StorageError(f"source folder {str(root)!r} does not exist or is not a folder")
        self._real_root = os.path.realpath(root)
        self._skip = skip.strip("/") if skip else None

    def list(self) -> Iterator[InputItem]:
        """Every file (or symlink, FIFO, ...) with an image suffix, in key order. Walked by
        folder descriptors, so trees deeper than PATH_MAX are listed too."""
        keys: list[str] = []
        try:
            # the real path: a SOURCE given as a symlink to a folder is walked too
            for dirpath, dirnames, filenames, dir_fd in os.fwalk(self._real_root, onerror=_raise):
                rel = os.path.relpath(dirpath, self._real_root)
                base = "" if rel == os.curdir else rel.replace(os.sep, "/") + "/"
                kept = []
                for name in sorted(dirnames):
                    if base + name == self._skip:
                        continue
                    if stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                        # not followed; one named like an image is an input (refused on read)
                        if is_image_key(name):
                            keys.append(base + name)
                        continue
                    kept.append(name)
                dirnames[:] = kept
                keys.extend(base + f for f in filenames if is_image_key(f))
        except OSError as exc:
            raise StorageError(f"cannot read the source folder: {_reason(exc)}") from None
        for key in sorted(keys):
            yield self._item(key)

    def resolve(self, keys: Iterable[str]) -> Iterator[InputItem]:
        for key in keys:
            yield self._item(key)

    def _item(self, key: str) -> InputItem:
        st = self._stat(key)
        if st is None:  # missing, a dangling link, a NUL in a manifest key
            return InputItem(key=key)
        return InputItem(key=key, size=st.st_size, etag=_local_etag(st))

    def _stat(self, key: str) -> os.stat_result | None:
        """The input's stat without opening it: through real folders when it is inside (any
        depth), else following the path (`read` then refuses it)."""
        try:
            dir_fd, name = self._folder_of(key)
        except (InputRefused, OSError, ValueError):
            pass
        else:
            try:
                return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                return None
            finally:
                os.close(dir_fd)
        try:
            return os.stat(os.path.join(self.root, key))
        except (OSError, ValueError):
            return None

    def read(self, item: InputItem, max_bytes: int = DEFAULT_MAX_OBJECT_BYTES) -> bytes:
        """The bytes of a regular file inside the source, at most `max_bytes + 1`."""
        fd = self._open_inside(item.key)
        try:
            size = os.fstat(fd).st_size
            if size > max_bytes:
                raise InputTooLarge(size)
            chunks: list[bytes] = []
            left = max_bytes + 1
            while left > 0:
                chunk = os.read(fd, min(left, _READ_CHUNK))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def _folder_of(self, key: str) -> tuple[int, str]:
        """(fd of the folder holding the file `key` names, the file's name in it), reached
        from the source folder through real folders only. Symlinks are resolved first and
        must stay inside the folder (else InputRefused); the walk then refuses any symlink
        (one swapped in meanwhile: ELOOP)."""
        if "\0" in key:
            raise FileNotFoundError(errno.ENOENT, "no such file")
        real = os.path.realpath(os.path.join(self._real_root, key))
        rel = os.path.relpath(real, self._real_root)
        if rel == os.curdir or rel == os.pardir or rel.startswith(os.pardir + os.sep):
            raise InputRefused(
                ErrorCode.OUTSIDE_SOURCE, "the input is a symlink (or path) leading out of the source folder"
            )
        *folders, name = rel.split(os.sep)
        dir_fd = os.open(self._real_root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for folder in folders:
                nxt = os.open(
                    folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd
                )
                os.close(dir_fd)
                dir_fd = nxt
        except BaseException:
            os.close(dir_fd)
            raise
        return dir_fd, name

    def _open_inside(self, key: str) -> int:
        """An fd of the regular file `key` names (see `_folder_of`), checked with lstat before
        and fstat after opening: never opened when it is not a regular file."""
        dir_fd, name = self._folder_of(key)
        try:
            before = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            _require_regular(before)
            fd = os.open(
                name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC, dir_fd=dir_fd
            )
        finally:
            os.close(dir_fd)
        after = os.fstat(fd)
        if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino) or not stat.S_ISREG(after.st_mode):
            os.close(fd)
            raise InputRefused(ErrorCode.NOT_A_FILE, "the input changed while it was opened")
        return fd


def _require_regular(st: os.stat_result) -> None:
    if stat.S_ISREG(st.st_mode):
        return
    kind = (
        "a folder"
        if stat.S_ISDIR(st.st_mode)
        else "a FIFO"
        if stat.S_ISFIFO(st.st_mode)
        else "a socket"
        if stat.S_ISSOCK(st.st_mode)
        else "a device"
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
        else "a symlink"
        if stat.S_ISLNK(st.st_mode)
        else "not a regular file"
    )
    raise InputRefused(ErrorCode.NOT_A_FILE, f"the input is {kind}, not a regular file")


def _raise(exc: OSError) -> None:
    raise exc


# --------------------------------------------------------------------------- output


class LocalSink:
    """Records under `root`: `record_name(key)` each, plus batch files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ignored = 0
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the output folder: {_reason(exc)}") from None
        if not root.is_dir():
            raise StorageError("the output is not a folder")

    # ----------------------------------------------------------------- lock

    @contextlib.contextmanager
    def lock(self, shared: bool = False) -> Iterator[None]:
        """A `flock` on `<output>/.ocr-job.lock`, released when the process ends (however it
        ends): exclusive for a whole run or a merge, `shared` for one shard of a sharded run
        (shards have disjoint inputs, so they may write side by side). A conflicting holder →
        StorageError naming its pid."""
        path = self.root / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise _output_error(exc) from None
        try:
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _live_pid(fd)
                who = f"another ocr-job (pid {holder})" if holder else "another ocr-job"
                raise StorageError(
                    f"{who} is writing to this output folder; wait for it to finish or give another output"
                ) from None
            except OSError as exc:  # a file system without locks: go on unlocked
                log.warning("the output folder cannot be locked (%s)", _reason(exc))
            if not shared or _live_pid(fd) is None:  # one live holder's pid is enough
                with contextlib.suppress(OSError):  # a full disk: the first write says so
                    os.pwrite(fd, f"{os.getpid():<10}\n".encode(), 0)
            yield
        finally:
            os.close(fd)

    # ----------------------------------------------------------------- records

    def done_etag(self, key: str) -> str | None:
        path = self.root / record_name(key)
        try:
            with open(path, "rb") as fh:
                data = json.loads(fh.read(MAX_RECORD_BYTES))
        except (OSError, ValueError):
            return None
        etag = data.get("source_etag") if isinstance(data, dict) else None
        return etag if isinstance(etag, str) else None

    def write_record(self, record: ResultRecord, key: str | None = None, *, mapped: bool = False) -> None:
        key = record.source if key is None else key
        name = mapped_name(key) if mapped else record_name(key)
        try:
            self._write_atomic(name, record.model_dump_json(indent=1))
        except OSError as exc:
            if exc.errno in _OUTPUT_GONE or _is_denied(exc, self.root):
                raise _output_error(exc) from None
            raise RecordWriteError(_reason(exc)) from None

    def write_blob(self, name: str, data: bytes) -> None:
        try:
            self._write_atomic(safe_key(name), data)
        except OSError as exc:
            if exc.errno in _OUTPUT_GONE or _is_denied(exc, self.root):
                raise _output_error(exc) from None
            raise RecordWriteError(_reason(exc)) from None

    def write_text(self, name: str, text: str) -> None:
        try:
            self._write_atomic(safe_key(name), text)
        except OSError as exc:
            raise _output_error(exc) from None

    def write_stream(self, name: str, stream: BinaryIO) -> None:
        try:
            self._write_atomic(safe_key(name), stream)
        except OSError as exc:
            raise _output_error(exc) from None

    def read_text(self, name: str) -> str | None:
        try:
            return (self.root / safe_key(name)).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def iter_records(self) -> Iterator[ResultRecord]:
        self.ignored = 0
        plain: list[str] = []
        mapped: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            base = os.path.relpath(dirpath, self.root)
            if base == os.curdir:
                dirnames[:] = [d for d in dirnames if d not in RESERVED_DIRS]
                base = ""
            for fname in filenames:
                if fname.endswith(RECORD_SUFFIX):
                    rel = f"{base}/{fname}" if base else fname
                    (mapped if is_mapped_name(rel) else plain).append(rel)
        for rel in sorted(plain) + sorted(mapped):
            record = self._load(rel)
            if record is None or not is_record_at(rel, record):
                self.ignored += 1
                continue
            yield record

    def _load(self, rel: str) -> ResultRecord | None:
        """The record at `rel`, or None when it is not one (not a regular file, too large,
        not a record)."""
        try:
            fd = os.open(self.root / rel, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_RECORD_BYTES:
                return None
            with os.fdopen(fd, "rb", closefd=False) as fh:
                data = fh.read(MAX_RECORD_BYTES + 1)
        except OSError:
            return None
        finally:
            os.close(fd)
        try:
            return ResultRecord.model_validate_json(data)
        except ValueError:
            return None

    def _write_atomic(self, rel: str, text: str | bytes | BinaryIO) -> None:
        """Write `rel` (relative to the output) through a temporary file of a unique name in
        the same folder, then rename. Folders are made and entered one by one from the
        output's descriptor, never through a symlink: nothing is written outside the output
        (a symlinked folder is ELOOP, a file where a folder should be ENOTDIR)."""
        *folders, name = rel.split("/")
        dir_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for folder in folders:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(folder, 0o777, dir_fd=dir_fd)
                nxt = os.open(
                    folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd
                )
                os.close(dir_fd)
                dir_fd = nxt
            tmp = f".ocr-{secrets.token_hex(8)}{_TMP_SUFFIX}"
            fd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dir_fd
            )
            try:
                with os.fdopen(fd, "wb") as fh:
                    if isinstance(text, str):
                        fh.write(text.encode("utf-8"))
                    elif isinstance(text, bytes):
                        fh.write(text)
                    else:
                        shutil.copyfileobj(text, fh, 1 << 20)
                os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=dir_fd)
                raise
        finally:
            os.close(dir_fd)


def _live_pid(fd: int) -> int | None:
    """The pid recorded in the lock file, when that process is alive."""
    try:
        pid = int(os.pread(fd, 16, 0).decode("ascii").strip())
        os.kill(pid, 0)
    except PermissionError:  # alive, another user's
        return pid
    except (OSError, ValueError):
        return None
    return pid if pid != os.getpid() else None


def _is_denied(exc: OSError, root: Path) -> bool:
    """Permission denied for the output folder itself (not one subfolder of it)."""
    return exc.errno in (errno.EACCES, errno.EPERM) and not os.access(root, os.W_OK)


def _output_error(exc: OSError) -> StorageError:
    if exc.errno in _OUTPUT_GONE:
        return StorageError(_OUTPUT_GONE[exc.errno])
    if exc.errno in (errno.EACCES, errno.EPERM):
        return StorageError("the output folder is not writable (permission denied)")
    return StorageError(f"cannot write to the output folder: {_reason(exc)}")
