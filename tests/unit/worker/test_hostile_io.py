"""Hostile and careless inputs and outputs (issue 15): names, local files, the output folder.

Every case is generated here at test time. The end-to-end cases run the real worker
(`python -m ocr_job.cli run`, onnx engine) in a child process and assert: exactly one record
per input, the documented code, no traceback, nothing written outside DEST, and that the
inputs after the hostile one are still done.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import socket
import subprocess
import sys
import threading
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocr_job.merge import csv_cell, merge
from ocr_job.pipeline import MAX_HUNG_FETCHES, Fetched, prefetched
from ocr_job.records import ErrorCode, Fields, ResultRecord, display_key
from ocr_job.storage.base import (
    LOCK_FILE,
    MAX_RECORD_NAME_BYTES,
    NAME_MAX_BYTES,
    RESERVED_TOP_NAMES,
    RESULTS_CSV,
    RESULTS_JSONL,
    InputItem,
    InputTooLarge,
    StorageError,
    is_mapped_name,
    record_name,
)
from ocr_job.storage.local import LocalSink, LocalSource
from ocr_job.synth import generate_set

pytestmark = pytest.mark.timeout(600)

#: Bytes that are no image: the worker's fastest path to a record (`unreadable_image`).
JUNK = b"this is not an image\n" * 4


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """One clean generated card (JPEG bytes)."""
    folder = tmp_path_factory.mktemp("card")
    generate_set(folder, 1, seed=15, levels=("clean",))
    return next(p for p in sorted(folder.rglob("*.jpg"))).read_bytes()


def job_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCR_", "AWS_"))}
    env.update({"OCR_LOG_FORMAT": "plain", "OCR_SECOND_OPINION": "false"}, **extra)
    return env


def ocr_job(
    *args: str, env: dict[str, str] | None = None, timeout: float = 400
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ocr_job.cli", *args],
        env=env or job_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_job(src: Path | str, dest: Path | str, **env: str) -> subprocess.CompletedProcess[str]:
    return ocr_job(
        "run", os.fsdecode(src), "--output", os.fsdecode(dest), "--engine", "onnx", env=job_env(**env)
    )


def assert_clean(proc: subprocess.CompletedProcess[str]) -> None:
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out[-3000:]


def error_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in proc.stderr.splitlines() if "ERROR" in line]


def by_source(dest: Path) -> dict[str, ResultRecord]:
    """The records under `dest`, by source; fails on two records for one source."""
    out: dict[str, ResultRecord] = {}
    for record in LocalSink(dest).iter_records():
        assert record.source not in out, f"two records for {record.source!r}"
        out[record.source] = record
    return out


def code(record: ResultRecord) -> str | None:
    return record.error.code.value if record.error else None


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every entry under `root` (by its raw bytes name) → (mode, mtime): a snapshot."""
    out = {}
    for dirpath, dirnames, filenames, dir_fd in os.fwalk(os.fsencode(root)):
        for name in dirnames + filenames:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            out[os.fsdecode(os.path.join(dirpath, name))] = (st.st_mode, st.st_mtime_ns)
    return out


def jsonl_sources(dest: Path) -> list[str]:
    text = (dest / RESULTS_JSONL).read_text(encoding="utf-8")
    return [json.loads(line)["source"] for line in text.splitlines()]


def make_deep(root: Path, parts: list[str], name: str, data: bytes) -> str:
    """Create root/parts.../name through folder descriptors (paths past PATH_MAX work too)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts:
            os.mkdir(part, dir_fd=fd)
            nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        out = os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(out, data)
        os.close(out)
    finally:
        os.close(fd)
    return "/".join([*parts, name])


@contextlib.contextmanager
def mounted(target: Path, *args: str) -> Iterator[None]:
    target.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", *args, str(target)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here (needs root and CAP_SYS_ADMIN): {proc.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


# --------------------------------------------------------------------------- record names


_pieces = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6) | st.sampled_from(
    [
        "/",
        "\\",
        "..",
        ".",
        "\n",
        "\x00",
        "\udcff",
        "\udc80",
        "_shards",
        "results.csv",
        ".json",
        "a" * 200,
        "张" * 90,
        ".jpg",
    ]
)
_names = st.lists(_pieces, min_size=1, max_size=12).map("".join).filter(bool)


@settings(max_examples=400, deadline=None)
@given(st.lists(_names, min_size=1, max_size=8, unique=True))
def test_record_names_are_storable_and_distinct(keys: list[str]) -> None:
    """Whatever the keys, their record names fit any output and no two inputs share one."""
    names = [record_name(key) for key in keys]
    assert len(set(names)) == len(names)
    for key, name in zip(keys, names, strict=True):
        raw = name.encode("utf-8")  # no lone surrogate: always encodable
        assert len(raw) <= MAX_RECORD_NAME_BYTES
        parts = name.split("/")
        assert all(0 < len(p.encode()) <= NAME_MAX_BYTES for p in parts)
        assert all(p not in (".", "..") for p in parts)
        assert not any(unicodedata.category(ch) == "Cc" for ch in name) and "\\" not in name
        assert parts[0] not in RESERVED_TOP_NAMES or is_mapped_name(name)
        assert name.endswith(".json")
        assert record_name(key) == name  # deterministic: resume finds it
        if not is_mapped_name(name):
            assert name == key + ".json"
        # a plain record's folders never clash with another plain record's file
        assert not any(p.endswith(".json") for p in parts[:-1])


def test_display_key_escapes_bytes_that_are_not_utf8() -> None:
    raw = b"\xe5\xbc\xa0\xff\xfe.jpg"  # "张" then two bytes that are no UTF-8
    key = os.fsdecode(raw)
    assert display_key(key) == "张\\xff\\xfe.jpg"
    assert ResultRecord(source=key, status="ok").source == "张\\xff\\xfe.jpg"
    assert display_key("plain 张.jpg") == "plain 张.jpg"


# --------------------------------------------------------------------------- end to end: names


def test_every_local_name_gets_one_record(tmp_path: Path, card: bytes) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    bsrc = os.fsencode(src)
    made: dict[str, bytes] = {}

    def put(name: str | bytes, data: bytes = JUNK) -> None:
        path = os.path.join(bsrc, os.fsencode(name))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
        made[os.fsdecode(os.path.relpath(path, bsrc))] = data

    put("0-first.jpg", card)
    put("l" * 247 + ".jpg", card)  # 251 bytes: fits the disk, not with ".json"
    put(b"bad-\xff\xfe-name.jpg", card)  # not UTF-8
    put("line\nbreak.jpg")
    put("ctl\x1b\x7f.jpg")
    put("-leading-dash.jpg")
    put("back\\slash.jpg")
    put("..jpg")
    put("=cmd|' /C calc'!A0.jpg")
    put("+plus.jpg")
    put("@at.jpg")
    put("_shards/in-shards.jpg")
    put("_manifests/in-manifests.jpg")
    put("_mapped/in-mapped.jpg")
    put("results.csv/in-results.jpg")
    put("x.jpg")
    put("x.jpg.json/y.jpg")  # its record's folder would be x.jpg's record file
    put("/".join(["d" * 230] * 5) + "/over-1024-bytes.jpg")
    deep = make_deep(src, ["p" * 240] * 18, "past-path-max.jpg", JUNK)  # > 4096 bytes
    made[deep] = JUNK
    put("zz-last.jpg", card)
    before = tree(src)

    proc = run_job(src, dest)
    assert_clean(proc)
    assert proc.returncode == 0, proc.stderr[-3000:]

    records = by_source(dest)
    assert set(records) == {display_key(k) for k in made}
    for key, data in made.items():
        record = records[display_key(key)]
        assert (record.status, code(record)) == (
            ("ok", None) if data == card else ("error", "unreadable_image")
        ), key
    assert records["bad-\\xff\\xfe-name.jpg"].fields.id_number  # read, not only recorded
    assert records["zz-last.jpg"].status == "ok"  # the inputs after the hostile ones are done
    assert tree(src) == before  # nothing written into SRC (nor anywhere but DEST)
    assert sorted(os.listdir(tmp_path)) == ["dest", "src"]

    # results.jsonl/csv hold every input, those under _shards/ and _manifests/ included
    assert sorted(jsonl_sources(dest)) == sorted(records)
    with open(dest / RESULTS_CSV, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(records)
    cells = {row["source"] for row in rows}
    assert "'=cmd|' /C calc'!A0.jpg" in cells and "'+plus.jpg" in cells
    assert "'-leading-dash.jpg" in cells and "'@at.jpg" in cells
    assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for c in row.values())

    # A rerun finds every record (deterministic names) and redoes nothing.
    files = tree(dest)
    again = run_job(src, dest)
    assert_clean(again)
    assert again.returncode == 0
    assert f"{len(made)} skipped" in again.stderr

    def records_only(snapshot: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        return {k: v for k, v in snapshot.items() if "results." not in k and LOCK_FILE not in k}

    assert records_only(tree(dest)) == records_only(files)


# --------------------------------------------------------------------------- end to end: source


def test_local_source_reads_only_regular_files_inside(tmp_path: Path, card: bytes) -> None:
    src, dest, outside = tmp_path / "src", tmp_path / "dest", tmp_path / "outside"
    src.mkdir()
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(card)  # would read fine: it must not be read
    (src / "dir.jpg").mkdir()  # a folder named like an image is walked, not read
    (src / "dir.jpg" / "inner.jpg").write_bytes(card)
    os.symlink("dir.jpg/inner.jpg", src / "alias.jpg")  # stays inside: read
    os.symlink("/dev/zero", src / "zero.jpg")
    os.symlink(outside / "secret.jpg", src / "escape.jpg")
    os.symlink("../outside/secret.jpg", src / "relative-escape.jpg")
    os.symlink(outside, src / "folder-link.jpg")
    os.symlink(src / "dir.jpg", src / "inner-folder-link.jpg")
    os.symlink("missing.jpg", src / "dangling.jpg")
    os.mkfifo(src / "fifo.jpg")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(os.fspath(src / "sock.jpg"))
    big = src / "big.jpg"
    with open(big, "wb") as fh:
        fh.truncate(3 * 1024 * 1024)  # sparse: no disk used
    (src / "zz-last.jpg").write_bytes(card)
    before, outside_before = tree(src), tree(outside)

    proc = run_job(src, dest, OCR_MAX_OBJECT_BYTES=str(2 * 1024 * 1024), OCR_ITEM_TIMEOUT_S="60")
    sock.close()
    assert_clean(proc)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = by_source(dest)
    assert {s: code(r) for s, r in records.items()} == {
        "dir.jpg/inner.jpg": None,
        "alias.jpg": None,
        "zero.jpg": "outside_source",
        "escape.jpg": "outside_source",
        "relative-escape.jpg": "outside_source",
        "folder-link.jpg": "outside_source",
        "inner-folder-link.jpg": "not_a_file",
        "dangling.jpg": "fetch_failed",
        "fifo.jpg": "not_a_file",
        "sock.jpg": "not_a_file",
        "big.jpg": "object_too_large",
        "zz-last.jpg": None,
    }
    assert records["big.jpg"].error is not None
    assert records["big.jpg"].error.message == "the input is 3 MiB; the limit is 2 MiB"
    assert records["zz-last.jpg"].status == "ok"
    assert tree(src) == before and tree(outside) == outside_before


def test_reads_are_bounded_by_the_cap(tmp_path: Path) -> None:
    """A file that grows after it was listed is read to the cap + 1 at most."""
    (tmp_path / "grows.jpg").write_bytes(b"x" * 10)
    source = LocalSource(tmp_path)
    item = next(source.list())
    with open(tmp_path / "grows.jpg", "ab") as fh:
        fh.truncate(50 * 1024 * 1024)
    with pytest.raises(InputTooLarge) as refused:
        source.read(item, 1024)
    assert refused.value.size == 50 * 1024 * 1024


def test_a_hung_fetch_gets_a_timeout_record_and_the_run_goes_on() -> None:
    release = threading.Event()
    items = [InputItem(key=k, size=1, etag=k) for k in ("a.jpg", "hangs.jpg", "c.jpg")]

    def get(item: InputItem) -> Fetched:
        if item.key == "hangs.jpg":
            release.wait()  # a read that never returns (until the test ends)
        return Fetched(item, data=b"x")

    try:
        out = list(prefetched(items, get, timeout_s=0.5))
    finally:
        release.set()
    assert [f.item.key for f in out] == ["a.jpg", "hangs.jpg", "c.jpg"]
    assert out[0].data == b"x" and out[2].data == b"x"
    assert out[1].record is not None and out[1].record.error is not None
    assert out[1].record.error.code == ErrorCode.TIMEOUT


def test_a_source_that_stops_answering_ends_the_run() -> None:
    release = threading.Event()
    items = [InputItem(key=f"{i}.jpg", size=1, etag="e") for i in range(MAX_HUNG_FETCHES + 3)]

    def get(item: InputItem) -> Fetched:
        release.wait()
        return Fetched(item, data=b"x")

    try:
        with pytest.raises(StorageError, match="stopped answering"):
            list(prefetched(items, get, timeout_s=0.2))
    finally:
        release.set()


# --------------------------------------------------------------------------- end to end: output


def test_dest_equal_to_src_is_a_usage_error(tmp_path: Path, card: bytes) -> None:
    (tmp_path / "a.jpg").write_bytes(card)
    before = tree(tmp_path)
    for dest in (str(tmp_path), f"{tmp_path}/./", f"{tmp_path}/../{tmp_path.name}"):
        proc = run_job(tmp_path, dest)
        assert_clean(proc)
        assert proc.returncode == 2
        assert len(error_lines(proc)) == 1 and "source folder itself" in proc.stderr
    os.symlink(tmp_path, tmp_path.parent / f"{tmp_path.name}-link")
    proc = run_job(tmp_path, tmp_path.parent / f"{tmp_path.name}-link")
    assert proc.returncode == 2
    assert tree(tmp_path) == before


def test_dest_inside_src_is_not_listed(tmp_path: Path, card: bytes) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.jpg").write_bytes(JUNK)
    (src / "out").mkdir()
    (src / "out" / "old-input.jpg").write_bytes(JUNK)  # DEST's files are DEST's, not inputs
    for _ in range(2):
        proc = run_job(src, src / "out")
        assert_clean(proc)
        assert proc.returncode == 0
        assert set(by_source(src / "out")) == {"a.jpg"}


def test_merge_ignores_what_it_did_not_write(tmp_path: Path, card: bytes) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    (src / "a.jpg").write_bytes(JUNK)
    (src / "sub").mkdir()
    (src / "sub" / "b.jpg").write_bytes(JUNK)
    (src / "c.jpg").write_bytes(card)
    (src / "link").mkdir()
    (src / "link" / "d.jpg").write_bytes(JUNK)
    outside = tmp_path / "outside"
    outside.mkdir()
    dest.mkdir()
    os.symlink(outside, dest / "link")  # a record is never written through it
    stray = ResultRecord(source="elsewhere.jpg", status="ok").model_dump_json()
    (dest / "labels.json").write_text('{"cards": [1, 2]}')
    (dest / "list.json").write_text("[1, 2, 3]")
    (dest / "broken.json").write_bytes(b"\xff\xfe{not json")
    (dest / "copy-of-a.jpg.json").write_text(stray)  # a record, but not where it belongs
    with open(dest / "huge.json", "wb") as fh:
        fh.truncate(64 * 1024 * 1024)
    os.symlink("/etc/hostname", dest / "link.json")
    (dest / "sub").write_text("a file where sub/b.jpg's record folder goes")

    proc = run_job(src, dest)
    assert_clean(proc)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = by_source(dest)
    assert set(records) == {"a.jpg", "sub/b.jpg", "c.jpg", "link/d.jpg"}
    assert code(records["sub/b.jpg"]) == "write_failed"  # its own name was refused
    assert code(records["link/d.jpg"]) == "write_failed"
    assert records["c.jpg"].status == "ok"
    assert sorted(jsonl_sources(dest)) == ["a.jpg", "c.jpg", "link/d.jpg", "sub/b.jpg"]
    assert os.listdir(outside) == []

    # once the obstacle is gone, a rerun stores the real record and merge keeps that one only
    (dest / "sub").unlink()
    proc = run_job(src, dest)
    assert proc.returncode == 0
    assert sorted(jsonl_sources(dest)) == ["a.jpg", "c.jpg", "link/d.jpg", "sub/b.jpg"]
    merged_codes = {
        (r := json.loads(line))["source"]: (r["error"] or {}).get("code")
        for line in (dest / RESULTS_JSONL).read_text().splitlines()
    }
    assert merged_codes["sub/b.jpg"] == "unreadable_image"  # its own record, not the stand-in
    assert merged_codes["link/d.jpg"] == "write_failed"

    merged = ocr_job("merge", str(dest))
    assert_clean(merged)
    assert merged.returncode == 0 and "6 other .json file(s) left out" in merged.stderr


def test_read_only_dest_is_a_clean_error(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    (src / "a.jpg").write_bytes(JUNK)
    dest.mkdir()
    with mounted(dest, "--bind", str(dest)):
        subprocess.run(["mount", "-o", "remount,ro,bind", str(dest)], check=True)
        proc = run_job(src, dest)
        merged = ocr_job("merge", str(dest))
    for p in (proc, merged):
        assert_clean(p)
        assert p.returncode == 1
        assert len(error_lines(p)) == 1 and "read-only file system" in p.stderr
    assert os.listdir(dest) == []


def test_full_disk_stops_the_run_cleanly(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    for i in range(60):
        (src / f"{i:03d}.jpg").write_bytes(JUNK)
    with mounted(dest, "-t", "tmpfs", "-o", "size=64k,nr_inodes=1000", "tmpfs"):
        proc = run_job(src, dest)
        names = os.listdir(dest)
        kept = list(LocalSink(dest).iter_records())
    assert_clean(proc)
    assert proc.returncode == 1
    assert len(error_lines(proc)) == 1 and "no space left on device" in proc.stderr
    assert not any(n.endswith(".tmp") for n in names)  # no temporary file left behind
    assert 0 < len(kept) < 60 and all(r.error and r.error.code == "unreadable_image" for r in kept)


def test_two_runs_on_one_dest(tmp_path: Path, card: bytes) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    for i in range(8):
        (src / f"{i}.jpg").write_bytes(card)
    first = subprocess.Popen(
        [sys.executable, "-m", "ocr_job.cli", "run", str(src), "-o", str(dest), "--engine", "onnx"],
        env=job_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _wait_until_locked(dest / LOCK_FILE, first), "the first run never took the lock"
        second = run_job(src, dest)
        third = ocr_job("merge", str(dest))
    finally:
        _, err = first.communicate(timeout=400)
    assert first.returncode == 0, err[-3000:]
    for proc in (second, third):
        assert_clean(proc)
        assert proc.returncode == 1
        assert len(error_lines(proc)) == 1
        assert f"another ocr-job (pid {first.pid})" in proc.stderr
    assert set(by_source(dest)) == {f"{i}.jpg" for i in range(8)}
    assert all(r.status == "ok" for r in by_source(dest).values())


def _wait_until_locked(lock: Path, holder: subprocess.Popen[str]) -> bool:
    """True once `holder` has taken `lock` (it writes its pid there once it holds it); the
    test never takes the lock itself, so it cannot race the holder for it."""
    while holder.poll() is None:
        with contextlib.suppress(FileNotFoundError):
            if lock.read_text().strip() == str(holder.pid):
                return True
        time.sleep(0.01)
    return False


# --------------------------------------------------------------------------- CSV and config


def test_csv_cells_are_neutralised(tmp_path: Path) -> None:
    sink = LocalSink(tmp_path)
    hostile = ['=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)", "\tx", "\rx", "＝1", "safe"]
    for i, value in enumerate(hostile):
        sink.write_record(
            ResultRecord(source=f"{i}.jpg", status="ok", fields=Fields(name=value, address=value))
        )
    merge(sink)
    with open(tmp_path / RESULTS_CSV, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [row["name"] for row in rows] == [csv_cell(v) for v in hostile]
    assert [row["name"] for row in rows][:-1] == ["'" + v for v in hostile[:-1]]
    assert rows[-1]["name"] == "safe"
    # the JSON keeps the values as read
    names = [
        json.loads(line)["fields"]["name"] for line in (tmp_path / RESULTS_JSONL).read_text().splitlines()
    ]
    assert names == hostile


@pytest.mark.parametrize(
    "env",
    [
        {"OCR_S3_RETRY_TIMEOUT_S": "soon"},
        {"OCR_S3_RETRY_TIMEOUT_S": "-1"},
        {"OCR_S3_SECURE": "maybe"},
        {"OCR_S3_ENDPOINT": "http://admin:hunter2-secret@minio:9000"},
        {"OCR_S3_ENDPOINT": "minio:99999"},
        {"OCR_S3_ENDPOINT": "ftp://minio:9000"},
        {"OCR_S3_ENDPOINT": "minio:9000/bucket/path"},
        {"OCR_MAX_OBJECT_BYTES": "0"},
        {"OCR_ITEM_TIMEOUT_S": "never"},
    ],
)
def test_bad_configuration_exits_2_with_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "in").mkdir()
    for args in (
        ("run", str(tmp_path / "in"), "-o", str(tmp_path / "out")),
        ("merge", str(tmp_path / "out")),
    ):
        if args[0] == "merge" and not any(k.startswith("OCR_S3_") for k in env):
            continue  # merge reads only the S3 settings
        proc = ocr_job(*args, env=job_env(**env), timeout=120)
        assert_clean(proc)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "invalid configuration" in lines[0], lines
        assert "hunter2" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_bad_flags_exit_2(tmp_path: Path) -> None:
    for args in (
        ("run", str(tmp_path), "--threads", "lots"),
        ("run", str(tmp_path), "-o", str(tmp_path / "o"), "--threads", "1000"),
        ("run", str(tmp_path), "-o", str(tmp_path / "o"), "--shard", "5/2"),
    ):
        proc = ocr_job(*args, timeout=120)
        assert_clean(proc)
        assert proc.returncode == 2


def test_shards_share_the_output_but_a_whole_run_does_not(tmp_path: Path) -> None:
    """Shards (disjoint inputs) may write one output side by side; a whole run or a merge
    may not run beside them."""
    import fcntl

    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    dest.mkdir()
    for i in range(4):
        (src / f"{i}.jpg").write_bytes(JUNK)
    fd = os.open(dest / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # as a running shard holds it
        os.pwrite(fd, f"{os.getpid():<10}\n".encode(), 0)
        shard = ocr_job("run", str(src), "-o", str(dest), "--engine", "onnx", "--shard", "0/2")
        whole = run_job(src, dest)
    finally:
        os.close(fd)
    assert_clean(shard)
    assert shard.returncode == 0, shard.stderr[-2000:]
    assert (dest / "_shards" / "shard-0000.json").is_file()
    assert_clean(whole)
    assert whole.returncode == 1 and f"another ocr-job (pid {os.getpid()})" in whole.stderr


def test_merge_keeps_only_records_where_the_worker_puts_them(tmp_path: Path) -> None:
    """A record at a name the worker no longer uses for its source (one an older worker
    wrote for a key with a control character) is not merged beside the current one."""
    sink = LocalSink(tmp_path)
    key = "a\x01b.jpg"
    (tmp_path / f"{key}.json").write_text(ResultRecord(source=key, status="ok").model_dump_json())
    sink.write_record(ResultRecord(source=key, status="ok", source_etag="now"), key)
    sink.write_record(ResultRecord(source="plain.jpg", status="ok"), "plain.jpg")
    summary = merge(sink)
    assert (summary.records, summary.ignored) == (2, 1)
    assert sorted(jsonl_sources(tmp_path)) == sorted([key, "plain.jpg"])


def test_a_source_given_as_a_symlink_is_listed(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.jpg").write_bytes(JUNK)
    os.symlink(tmp_path / "real", tmp_path / "link")
    source = LocalSource(tmp_path / "link")
    assert [item.key for item in source.list()] == ["a.jpg"]
    assert source.read(next(source.list())) == JUNK


def test_a_read_that_hangs_does_not_hang_the_run(tmp_path: Path) -> None:
    """The loop itself (`pipeline.run`, real local source and output, the onnx engine): a read
    that never returns gets a `timeout` record, the inputs after it are done, the run ends."""
    from ocr_job.config import EngineName, JobConfig
    from ocr_job.engines import load_engine
    from ocr_job.pipeline import run
    from ocr_job.reporting import Reporters

    release = threading.Event()

    class StallingSource(LocalSource):
        """A folder whose file `stall.jpg` reads like a hung network mount."""

        def read(self, item: InputItem, max_bytes: int = 1 << 20) -> bytes:
            if item.key == "stall.jpg":
                release.wait()
            return super().read(item, max_bytes)

    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    for name in ("a.jpg", "stall.jpg", "z.jpg"):
        (src / name).write_bytes(JUNK)
    source, sink = StallingSource(src), LocalSink(dest)
    config = JobConfig(source=str(src), output=str(dest), item_timeout_s=1.0)
    try:
        summary = run(
            list(source.list()), source, sink, load_engine(EngineName.ONNX, 1, False), config, Reporters([])
        )
    finally:
        release.set()
    assert summary.processed == 3 and summary.error_codes == {"unreadable_image": 2, "timeout": 1}
    records = by_source(dest)
    assert code(records["stall.jpg"]) == "timeout"
    assert code(records["z.jpg"]) == "unreadable_image"


@pytest.mark.parametrize("text", [b'{"ocrbatchManifest":2}\n"a.jpg"\nnot json\n', b"\xff\xfe.jpg\n"])
def test_a_damaged_manifest_is_a_clean_error(tmp_path: Path, text: bytes) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "keys.txt").write_bytes(text)
    proc = ocr_job(
        "run",
        str(tmp_path / "in"),
        "-o",
        str(tmp_path / "out"),
        "--engine",
        "onnx",
        "--manifest",
        str(tmp_path / "keys.txt"),
        timeout=120,
    )
    assert_clean(proc)
    assert proc.returncode == 1 and len(error_lines(proc)) == 1
    assert "manifest" in proc.stderr and "not json" not in proc.stderr


def test_manifest_keys_are_held_to_the_same_rules(tmp_path: Path, card: bytes) -> None:
    """Keys from a manifest (the operator's escaped format): a line break in a key, a path
    out of SRC, an absolute path, a key that does not exist: one record each."""
    from ocr_job.storage.base import manifest_text

    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    (src / "line\nbreak.jpg").write_bytes(JUNK)
    (src / "ok.jpg").write_bytes(card)
    (tmp_path / "outside.jpg").write_bytes(card)
    keys = [
        "line\nbreak.jpg",
        "../outside.jpg",
        str(tmp_path / "outside.jpg"),
        "gone.jpg",
        "sub/../ok.jpg",
        "ok.jpg",
    ]
    (tmp_path / "keys.txt").write_text(manifest_text(keys))
    proc = ocr_job(
        "run", str(src), "-o", str(dest), "--engine", "onnx", "--manifest", str(tmp_path / "keys.txt")
    )
    assert_clean(proc)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert {s: code(r) for s, r in by_source(dest).items()} == {
        "line\nbreak.jpg": "unreadable_image",
        "../outside.jpg": "outside_source",
        str(tmp_path / "outside.jpg"): "outside_source",
        "gone.jpg": "fetch_failed",
        "sub/../ok.jpg": None,  # resolved inside SRC: read, under its own key
        "ok.jpg": None,
    }
