"""Personal data never leaves the worker except in its records.

ID numbers written in every way people write them, names and addresses in file names,
credentials in URLs, uncaught tracebacks: `scrub` and the logging set-up mask them; the
real `ocr-job run` and `ocr-job show` are run on generated identities and everything they
print is searched for them.
"""

from __future__ import annotations

import datetime
import io
import json
import logging
import os
import subprocess
import sys
import textwrap
import unicodedata
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ocr_job import privacy
from ocr_job.cli import _brief
from ocr_job.config import S3Settings
from ocr_job.logs import JsonFormatter
from ocr_job.privacy import ScrubFilter, key_ref, mask_address, mask_id, remember_keys, scrub
from ocr_job.records import Fields, ResultRecord
from ocr_job.storage import open_sink
from ocr_job.synth import Identity, make_sample

#: Ways to write the gap between two groups of an ID number.
SEPARATORS = (" ", "-", "_", "\u3000", "\u00a0", "－", "–")
#: How people group the digits (18- and 15-digit numbers).
GROUPINGS_18 = ((18,), (6, 8, 4), (6, 4, 4, 4), (4, 4, 4, 4, 2), (3, 3, 4, 4, 4), (1,) * 18)
GROUPINGS_15 = ((15,), (6, 6, 3), (3, 3, 3, 3, 3))
FULL_WIDTH = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")


@pytest.fixture(autouse=True)
def _no_keys_between_tests() -> Iterator[None]:
    privacy.forget_keys()
    yield
    privacy.forget_keys()


# --------------------------------------------------------------------------- ID numbers


def group(digits: str, sizes: tuple[int, ...], sep: str) -> str:
    parts, at = [], 0
    for size in sizes:
        parts.append(digits[at : at + size])
        at += size
    return sep.join(parts)


def normalised(text: str) -> str:
    """Full-width digits as ASCII, separators gone: how a reader would re-assemble a number."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in text if ch not in " -_–\u3000\u00a0").upper()


@st.composite
def written_numbers(draw: st.DrawFn) -> tuple[str, str, str]:
    """(the number as written, its digits, its birth date digits)."""
    region = draw(st.integers(110000, 659999))
    birth = draw(st.dates(datetime.date(1920, 1, 1), datetime.date(2024, 12, 31)))
    order = draw(st.integers(0, 999))
    if draw(st.booleans()):  # 18 digits, the last may be X
        digits = f"{region}{birth:%Y%m%d}{order:03d}" + draw(st.sampled_from("0123456789Xx"))
        born, sizes = f"{birth:%Y%m%d}", draw(st.sampled_from(GROUPINGS_18))
    else:  # first generation: YYMMDD, no check digit
        digits = f"{region}{birth:%y%m%d}{order:03d}"
        born, sizes = f"{birth:%y%m%d}", draw(st.sampled_from(GROUPINGS_15))
    written = group(digits, sizes, draw(st.sampled_from(SEPARATORS)))
    if draw(st.booleans()):
        written = written.translate(FULL_WIDTH)
    return written, digits.upper(), born


#: Text around a number: letters (Latin, Han), punctuation; no digits.
GLUE = st.text(st.sampled_from("abcsfzXYZ身份证张三._-()[]'\"/: "), max_size=8)


@settings(max_examples=300)
@given(written_numbers(), GLUE, GLUE)
def test_an_id_number_is_masked_however_it_is_written(
    number: tuple[str, str, str], before: str, after: str
) -> None:
    written, digits, born = number
    assume(not after[:1].isdigit())
    text = f"input {before}{written}{after}.jpg failed"
    clean = normalised(scrub(text))
    assert digits not in clean
    assert born not in clean  # the masked part is the birth date, whatever the grouping
    assert digits[:6] in clean  # the region code stays: the line is still useful


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "ok",
                    "error",
                    "skipped",
                    "inputs",
                    "in",
                    "peak RSS",
                    "retry",
                    "took",
                    "limit",
                    "bytes",
                    "progress:",
                    "attempts",
                    "MiB",
                    "ms",
                ]
            ),
            st.one_of(
                st.integers(0, 10**14 - 1).map(str),
                st.floats(0, 1e12, allow_nan=False).map(lambda f: f"{f:.1f}"),
                st.tuples(st.integers(0, 10**7), st.integers(0, 10**7)).map(lambda t: f"{t[0]}/{t[1]}"),
                st.datetimes().map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S,%f")[:23]),
                st.datetimes().map(lambda d: d.isoformat()),
            ),
        ),
        min_size=1,
        max_size=10,
    ),
    st.sampled_from([", ", "; ", " (", "); ", ": "]),
)
def test_ordinary_numbers_in_log_lines_are_left_alone(pairs: list[tuple[str, str]], joint: str) -> None:
    """Counts, byte sizes, timings, dates: fewer than 15 digits in a row (or joined by a
    single space, hyphen or underscore) are never touched."""
    line = joint.join(f"{word} {number}" for word, number in pairs)
    assert scrub(line) == line


def test_masks_keep_region_and_hide_the_birth_date() -> None:
    assert mask_id("11010519900307803X") == "110105********803X"
    assert mask_id("110105900307803") == "110105******803"
    assert scrub("sfz15252319900101123x.jpg") == "sfz152523********123x.jpg"
    assert scrub("1101 0519 9001 0112 34") == "1101 05** **** **12 34"
    assert scrub("110105-19900101-1234") == "110105-********-1234"
    assert mask_address("北京市朝阳区建国路88号") == "北京市****"
    assert mask_address("内蒙古自治区呼和浩特市新城区") == "内蒙古自治区呼和浩特市****"
    assert mask_address("福建省漳州市东山县府前路1号") == "福建省漳州市****"
    assert mask_address("云南省大理白族自治州洱源县") == "云南省大理白族自治州****"


def test_names_and_addresses_in_free_text_are_masked() -> None:
    text = "cannot read 张三-身份证.jpg (新疆维吾尔自治区乌鲁木齐市 ئەخمەت ཀུན་དགའ་)"
    clean = scrub(text)
    assert clean.startswith("cannot read **-***.jpg (")
    assert not any(unicodedata.name(ch, "").startswith(("CJK", "ARABIC", "TIBETAN LETTER")) for ch in clean)


# --------------------------------------------------------------------------- keys


KEY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=3, max_size=40)
TEMPLATES = (
    lambda k: f"input {k!r} cannot be used: NoSuchKey",
    lambda k: f"HEAD s3://bucket/{k} failed (timed out); retry 2 in 1.0 s",
    lambda k: f"[Errno 13] Permission denied: {'/src/' + k!r}",
    lambda k: f"resource: /bucket/{urllib.parse.quote(k)}, request_id: 17",
    lambda k: f"record {k}.json cannot be written",
)


@settings(max_examples=300)
@given(KEY_TEXT, st.sampled_from(TEMPLATES))
def test_a_key_of_the_run_is_replaced_in_any_message(key: str, template: object) -> None:
    """Keys may hold a name in Latin letters (`zhangsan.jpg`), which no pattern recognises:
    the run's keys are replaced whole, as written, escaped or URL-quoted."""
    assert callable(template)
    text = template(key)
    assume(key not in template("\x00"))  # the key is not a word of the message itself
    remember_keys([key])
    clean = scrub(text)
    assert key_ref(key) in clean
    assert key not in clean
    assert repr(key)[1:-1] not in clean


def test_a_file_name_that_is_not_utf8_is_replaced_as_the_os_writes_it() -> None:
    key = os.fsdecode(b"zhangsan-\xff\xfe.jpg")
    remember_keys([key])
    for text in (f"cannot open {key!r}", "cannot open '/src/zhangsan-\\xff\\xfe.jpg'"):
        assert "zhangsan" not in scrub(text), text


def test_key_references_are_stable_within_a_process_and_tell_keys_apart() -> None:
    assert key_ref("a/张三.jpg") == key_ref("a/张三.jpg") != key_ref("a/李四.jpg")
    assert "张三" not in key_ref("a/张三.jpg")


# --------------------------------------------------------------------------- credentials


@settings(max_examples=200)
@given(
    st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=4, max_size=20),
    st.text("abcdefghijklmnopqrstuvwxyz0123456789+/@:=!$", min_size=6, max_size=40),
    st.sampled_from(["http://", "https://", ""]),
)
def test_credentials_in_an_endpoint_are_removed(user: str, password: str, scheme: str) -> None:
    assume(user not in "S3 endpoint http https host invalid")
    for text in (
        f"invalid S3 endpoint '{scheme}{user}:{password}@host.example:9000': bad port",
        f"bucket 'b' at {scheme}{user}:{password}@10.0.0.1:8333 cannot be used",
    ):
        clean = scrub(text)
        assert user not in clean and password not in clean, clean
        assert "host.example:9000" in clean or "10.0.0.1:8333" in clean


def test_signatures_and_authorization_are_removed() -> None:
    text = (
        "GET /b/k?X-Amz-Credential=AKIAXYZ%2F2024&X-Amz-Signature=deadbeef01 "
        "headers {'Authorization': 'AWS4-HMAC-SHA256 Credential=AKIAXYZ/x, Signature=feed'}"
    )
    clean = scrub(text)
    assert "AKIAXYZ" not in clean and "deadbeef01" not in clean and "feed'" not in clean


def test_a_validation_error_never_echoes_the_refused_value() -> None:
    """A secret given to the wrong variable (OCR_S3_SECURE=<the secret key>) is not echoed
    by the one-line message nor by pydantic's own text, should it reach a traceback."""
    secret = "wJalrXUtnFEMIK7MDENGbPxRfiCYzz"
    with pytest.raises(ValidationError) as caught:
        S3Settings(secure=secret)  # type: ignore[arg-type]
    assert secret in str(caught.value)  # pydantic's text would leak it
    assert secret not in _brief(caught.value)
    assert secret not in scrub(str(caught.value))
    assert "secure" in _brief(caught.value)


# --------------------------------------------------------------------------- logging


def test_tracebacks_and_stacks_in_log_records_are_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.privacy.hostile")
    logger.addFilter(ScrubFilter())
    remember_keys(["scans/liuxiaoming.jpg"])
    with caplog.at_level(logging.INFO, logger=logger.name):
        try:
            raise ValueError("bad 110105199003078031 of 刘小明 in scans/liuxiaoming.jpg")
        except ValueError:
            logger.exception("internal error", stack_info=True)
    record = caplog.records[-1]
    text = caplog.text + (record.exc_text or "") + (record.stack_info or "")
    for secret in ("110105199003078031", "刘小明", "liuxiaoming"):
        assert secret not in text
    assert f"in {key_ref('scans/liuxiaoming.jpg')}" in text
    line = JsonFormatter().format(record)
    assert "110105199003078031" not in line and "110105********8031" in json.loads(line)["exception"]


HOOKS_SCRIPT = textwrap.dedent("""
    import sys, threading, warnings
    from ocr_job.config import LogFormat
    from ocr_job.logs import setup_logging
    setup_logging(LogFormat.{fmt})
    secret = "张三 110105199003078031 http://AKIA:s3cr3t@host:9000"
    warnings.warn("warned about " + secret)
    class Finalised:
        def __del__(self):
            raise RuntimeError("finalizer " + secret)
    Finalised()
    def fail():
        raise KeyError("thread " + secret)
    thread = threading.Thread(target=fail, name="prefetch")
    thread.start(); thread.join()
    raise ValueError("main " + secret)
""")


@pytest.mark.parametrize("fmt", ["PLAIN", "JSON"])
def test_uncaught_exceptions_and_warnings_are_scrubbed(fmt: str) -> None:
    """A real process: exceptions nobody catches (main thread, another thread, a finalizer)
    and warnings reach stderr through the scrubber, never as a raw traceback."""
    done = subprocess.run(
        [sys.executable, "-c", HOOKS_SCRIPT.format(fmt=fmt)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1
    for where in ("warned about", "finalizer", "thread", "main"):
        assert f"{where} *" in out, out  # each one was reported ...
    for secret in ("张三", "110105199003078031", "s3cr3t", "AKIA"):
        assert secret not in out  # ... masked
    assert out.count("Traceback") == 3


# --------------------------------------------------------------------------- show


def identities(count: int) -> list[Identity]:
    return [make_sample(f"privacy:{i}").identity for i in range(count)]


def forms_of(who: Identity) -> list[str]:
    """Every written form of this person's number the tests look for (normalised)."""
    number = who.id_number
    return [number.upper(), (number[:6] + number[8:17])]


def show(dest: Path, *flags: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ocr_job.cli", "show", str(dest), *flags],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "1000", "OCR_LOG_FORMAT": "plain"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def assert_nothing_personal(text: str, people: list[Identity], extra: tuple[str, ...] = ()) -> None:
    flat = normalised(text)
    for who in people:
        for number in forms_of(who):
            assert number not in flat, f"ID number of {mask_id(who.id_number)} found"
        for value in (who.name, who.address, who.birth_date.isoformat(), *extra):
            assert value not in text, f"{value!r} found"


def test_show_masks_number_birth_date_name_address_and_keys(tmp_path: Path) -> None:
    people = identities(3)
    sink = open_sink(str(tmp_path), S3Settings())
    sources = [
        f"{people[0].name}-身份证.jpg",
        f"sfz{people[1].id_number}.jpg",
        f"[bold]{people[2].id_number[:6]}-{people[2].id_number[6:14]}-{people[2].id_number[14:]}"
        "[/x]\x1b[2J.jpg",
    ]
    for who, source in zip(people, sources, strict=True):
        sink.write_record(
            ResultRecord(source=source, status="ok", side="front", fields=who.side_fields("front"))
        )
    masked = show(tmp_path)
    assert_nothing_personal(masked, people)
    assert masked.count("<key ") == 3  # file names may hold names in any script: replaced
    for who in people:
        assert mask_id(who.id_number) in masked and who.name[0] in masked
        assert mask_address(who.address) in masked
    unmasked = show(tmp_path, "--unmasked")
    for who, source in zip(people, sources, strict=True):
        for value in (who.id_number, who.name, who.address, who.birth_date.isoformat()):
            assert value in unmasked
        assert source.replace("\x1b", "\\x1b") in unmasked  # as written, not read as markup
    assert "\x1b[2J" not in unmasked  # no terminal escape sequence from a key


def test_show_escapes_fields_too(tmp_path: Path) -> None:
    sink = open_sink(str(tmp_path), S3Settings())
    sink.write_record(
        ResultRecord(
            source="a.jpg",
            status="ok",
            side="back",
            fields=Fields(issuing_authority="[red]x[/y]\x07", valid_to="长期"),
        )
    )
    out = show(tmp_path, "--unmasked")
    assert "[red]x[/y]\\x07" in out


# --------------------------------------------------------------------------- the real worker

#: A name written in Latin letters in file names: no pattern can tell it is a name.
LATIN_NAME = "liuxiaoming"


def hostile_names(people: list[Identity]) -> list[str]:
    """File names holding each person's name or number, in the forms people write them."""
    _, b, c, d, e, f = (who.id_number for who in people)
    return [
        f"{people[0].name}-身份证.jpg",
        f"sfz{b}.jpg",
        f"scans/{group(c, (4, 4, 4, 4, 2), ' ')}.jpg",
        f"{people[3].name}/{group(d, (6, 8, 4), '-')}.jpg",
        f"old/{e[:6] + e[8:17]}.jpg",
        f"{LATIN_NAME}_{f.translate(FULL_WIDTH)}.jpg",
    ]


def ocr_job(*args: str, env: dict[str, str] | None = None) -> str:
    """Run the real worker; everything it prints (stdout, stderr: every log line)."""
    done = subprocess.run(
        [sys.executable, "-m", "ocr_job.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("OCR_")},
            "OCR_LOG_FORMAT": "plain",
            "COLUMNS": "1000",
            **(env or {}),
        },
    )
    return f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"


@pytest.mark.timeout(900)
def test_the_worker_prints_no_personal_data(tmp_path: Path, s3_server: object) -> None:
    """`ocr-job run` (onnx) on cards whose file names hold names and ID numbers, plus inputs
    that fail (a truncated picture, an empty file, keys that do not exist, an endpoint with
    credentials), then `ocr-job show`: no number, name or address of anyone appears in
    anything printed; the records and `show --unmasked` hold them."""
    from tests.support.s3server import S3Server

    assert isinstance(s3_server, S3Server)
    people = identities(6)
    src, dest = tmp_path / "src", tmp_path / "dest"
    broken = f"{people[0].name}{people[0].address}-{people[0].id_number}.jpg"
    for index, name in enumerate(hostile_names(people)):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(make_sample(f"privacy:{index}").jpeg())
    (src / broken).write_bytes(make_sample("privacy:0").jpeg()[:2000])  # decoding fails
    (src / f"{LATIN_NAME}-{people[1].birth_date:%Y%m%d}.jpg").write_bytes(b"")
    printed = [ocr_job("run", str(src), "--output", str(dest))]
    assert printed[0].startswith("exit 0"), printed[0]

    # S3: keys of a manifest that do not exist are logged by the worker; a bad endpoint
    # carrying credentials is reported
    bucket = s3_server.make_bucket()
    s3_server.client().put_object(bucket, f"in/{broken}", io.BytesIO(b"x"), 1)
    manifest = tmp_path / "manifest.txt"
    manifest.write_text(
        f"in/{broken}\nin/{LATIN_NAME}-{people[2].id_number}.jpg\n"
        f"in/{people[4].name}/{people[4].address}.jpg\n",
        encoding="utf-8",
    )
    env = s3_server.env()
    printed.append(
        ocr_job(
            "run", f"s3://{bucket}/in", "--manifest", str(manifest), "--output", f"s3://{bucket}/out", env=env
        )
    )
    assert printed[-1].startswith("exit 0"), printed[-1]
    assert "cannot be used" in printed[-1]  # the missing keys were logged ...
    password = "s3cr3t/Pa55@word"
    endpoint = f"http://{env['OCR_S3_ACCESS_KEY']}:{password}@{env['OCR_S3_ENDPOINT']}"
    bad_endpoint = {**env, "OCR_S3_ENDPOINT": endpoint}
    printed.append(ocr_job("run", f"s3://{bucket}/in", "--output", f"s3://{bucket}/out", env=bad_endpoint))
    assert not printed[-1].startswith("exit 0")
    printed += [ocr_job("show", str(dest)), ocr_job("show", f"s3://{bucket}/out", env=env)]

    everything = "\n".join(printed)
    assert_nothing_personal(everything, people, extra=(LATIN_NAME, password, env["OCR_S3_SECRET_KEY"]))
    assert "Traceback" not in everything

    # positive control: the records hold what the check looks for, so it would see a leak
    records = [json.loads(line) for line in (dest / "results.jsonl").read_text().splitlines()]
    assert len(records) == 8
    read = [r for r in records if r["status"] == "ok" and r["fields"]["id_number"]]
    assert len(read) >= 4
    unmasked = ocr_job("show", str(dest), "--unmasked")
    for record in read:
        for field in ("id_number", "name", "address", "birth_date"):
            value = record["fields"][field]
            assert value is None or value in unmasked
        assert record["fields"]["id_number"] not in everything
    for name in hostile_names(people):
        assert name in unmasked


ARGS_SCRIPT = textwrap.dedent("""
    import logging
    from ocr_job.config import LogFormat
    from ocr_job.logs import setup_logging
    setup_logging(LogFormat.PLAIN)
    number = "".join(["110105", "19900307", "8031"])
    logging.getLogger("ocr_job.x").warning("input %d of %d", "刘小明 " + number)
    logging.getLogger("ocr_job.x").warning("input %s", "sfz" + number + ".jpg")
""")


def test_a_line_whose_arguments_do_not_fit_is_not_printed_raw() -> None:
    """logging prints the raw arguments of a message it cannot format: the filter formats
    (and scrubs) first, so they never reach it."""
    done = subprocess.run(
        [sys.executable, "-c", ARGS_SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    err = done.stderr
    assert "110105199003078031" not in err and "刘小明" not in err
    assert "input %d of %d (the arguments did not fit the message)" in err
    assert "input sfz110105********8031.jpg" in err
    assert "Logging error" not in err


def test_the_plan_masks_its_keys_and_their_mapped_record_names(tmp_path: Path) -> None:
    """A key whose record cannot be named after it (too long, a line break) is stored under
    a mapped name that keeps a readable start of the key: it is masked like the key."""
    from ocr_job.pipeline import plan_items
    from ocr_job.storage import open_source
    from ocr_job.storage.base import mapped_name

    keys = [f"{LATIN_NAME}-" + "x" * 300 + ".jpg", f"{LATIN_NAME}\nsfz.jpg", f"{LATIN_NAME}.jpg"]
    items = plan_items(open_source(str(tmp_path), S3Settings()), None, keys)
    assert [item.key for item in items] == keys
    for key in keys:
        for text in (f"input {key!r} cannot be used", f"PUT s3://b/out/{mapped_name(key)} failed"):
            assert LATIN_NAME in text
            assert LATIN_NAME not in scrub(text), scrub(text)
