"""Masking of personal data for every text the worker writes outside its records.

Records (DEST) hold the fields and the source keys: they are the product. Anything else
(log lines, tracebacks, the shard's status message, `ocr-job show` by default) goes
through `scrub`, which applies, in order:

1. **Keys of the run**: every object key / file name handed to `remember_keys` (the
   plan) is replaced by `key_ref(key)`, `<key 1f0c2a9b>`, wherever it appears, also
   URL-quoted or escaped. A file name may hold a name in any script (`zhangsan.jpg`),
   which no pattern can recognise; the plan knows the keys, so they are replaced whole.
   The reference is a keyed hash with a per-process secret: the same key gives the
   same reference within one process, and it cannot be reversed by trying ID numbers.
2. **Credentials**: the user-info part of any URL (`http://user:pass@host`, also without
   a scheme), `secret=…`-style parameters, `Authorization:` values, pydantic's
   `input_value=…` echo.
3. **ID numbers**: any run of 15 or more digits (ASCII or full-width, the last one may
   be an `X`), even glued to letters (`sfz110105…jpg`), with at most one separator
   (space, hyphen, underscore) between two digits (`1101 0519 9001 0112 34`,
   `110105-19900101-1234`). Region code and last digits kept, birth date hidden. A log's
   counts, sizes and timings have fewer than 15 digits and are left alone.
4. **Names and addresses**: every letter outside the Latin script (Chinese, Uyghur,
   Tibetan, Mongolian, …) becomes `*`. The worker's own messages are English, so such
   text can only come from a card or a file name.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import urllib.parse
from collections.abc import Iterable

# --------------------------------------------------------------------------- ID numbers

#: One separator allowed between two digits of a written ID number.
_SEP = r"[ \t\u00a0\u2000-\u200b\u202f\u3000_\-\u2010-\u2015\u2212\ufe63\uff0d\uff3f]"
_X = "XxＸｘ"
#: 15 or more digits with at most one separator between two, the last may be an X;
#: not preceded by a digit (nor a digit and a separator): the run is taken whole.
_ID_RE = re.compile(rf"(?<!\d)(?<!\d{_SEP})\d(?:{_SEP}?\d){{13,}}(?:{_SEP}?[\d{_X}])")


def _mask_digits(run: str) -> str:
    """Keep the first 6 and the last 4 (3 for fewer than 18) digit positions of `run`,
    separators included; every digit between becomes `*`. For an ID number anywhere in
    the run, its birth date falls in the masked part."""
    positions = [i for i, ch in enumerate(run) if ch.isdigit() or ch in _X]
    keep_tail = 4 if len(positions) >= 18 else 3
    hidden = set(positions[6 : len(positions) - keep_tail])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(run))


def mask_id(number: str | None) -> str:
    """`110105199001011234` → `110105********1234`: region kept, birth date hidden.
    A 15-digit (first-generation) number keeps its last 3 digits."""
    if not number:
        return ""
    if len(number) < 12:
        return "*" * len(number)
    return _mask_digits(number)


def scrub_ids(text: str) -> str:
    return _ID_RE.sub(lambda m: _mask_digits(m[0]), text)


# --------------------------------------------------------------------------- names, addresses, dates


def mask_name(name: str | None) -> str:
    """`张三丰` → `张**`: only the first character is kept."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)


#: Province (省, 自治区, 特别行政区), then prefecture (市, 州, 地区, 盟), each at most 10+3 chars.
_ADDRESS_HEAD = re.compile(
    r"^(?:.{1,10}?(?:省|自治区|特别行政区))?(?:.{1,10}?(?:市|自治州|州(?!市)|地区|盟))?"
)


def mask_address(address: str | None) -> str:
    """`北京市朝阳区建国路88号` → `北京市****`: province and prefecture kept, the rest hidden."""
    if not address:
        return ""
    head = _ADDRESS_HEAD.match(address)
    kept = head[0] if head else ""
    return kept + "****" if len(kept) < len(address) else kept


def mask_date(value: str | None) -> str:
    """A birth date is the ID number's hidden digits: `1990-01-01` → `****-**-**`."""
    if not value:
        return ""
    return re.sub(r"\d", "*", value)


#: Letters outside the Latin script: Han characters and the other scripts of the cards.
_NON_LATIN_LETTER = re.compile(r"[^\W\d_\x00-\u024f]")


def scrub_letters(text: str) -> str:
    return _NON_LATIN_LETTER.sub("*", text)


# --------------------------------------------------------------------------- credentials

# Every repetition is bounded, so that no text makes these patterns quadratic.
#: Up to the last `@` of the word: a password may hold `@` or `/` written raw.
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,30}://)[^\s'\"<>]{0,256}@")
#: `user:secret@host`, with a scheme or without (an endpoint written as host:port).
_BARE_USERINFO = re.compile(
    r"(?i)(?<![\w.%+-])((?:[a-z][a-z0-9+.-]{0,30}://)?)[\w.%+-]{1,128}:[^\s'\"<>]{1,256}@(?=[\w\[])"
)
_SECRET_PARAM = re.compile(
    r"(?i)(?<![\w-])([\w-]{0,64}(?:secret|passw(?:or)?d|token|signature|credential|access[_-]?key"
    r"|api[_-]?key)[\w-]{0,64})=(\"[^\"]{0,1024}\"|'[^']{0,1024}'|[^\s,;&'\"]{1,1024})"
)
_AUTH_HEADER = re.compile(r"(?i)(authorization['\"]?\s{0,8}[:=]\s{0,8}['\"]?)[^'\"\n]+")
#: pydantic's echo of a refused value, up to its `input_type` or the end of the line.
_PYDANTIC_INPUT = re.compile(r"input_value=.*?(?:(?=, input_type=)|$)", re.MULTILINE)


def scrub_credentials(text: str) -> str:
    text = _BARE_USERINFO.sub(r"\1***@", text)
    text = _URL_USERINFO.sub(r"\1***@", text)
    text = _SECRET_PARAM.sub(r"\1=***", text)
    text = _AUTH_HEADER.sub(r"\1***", text)
    return _PYDANTIC_INPUT.sub("input_value=***", text)


# --------------------------------------------------------------------------- keys

_SECRET = secrets.token_bytes(16)


def key_ref(key: str) -> str:
    """How a key appears outside the records: `<key 1f0c2a9b>` (same key, same reference,
    within this process)."""
    digest = hashlib.blake2b(_raw(key), key=_SECRET, digest_size=4)
    return f"<key {digest.hexdigest()}>"


def _raw(key: str) -> bytes:
    """The key's bytes: a file name that is not UTF-8 holds its bytes as surrogates."""
    try:
        return key.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return key.encode("utf-8", "surrogatepass")


#: Shorter keys are left to the patterns (a 1-2 character key would match everywhere).
_MIN_KEY_LEN = 3


class _Keys:
    """The keys of this run and the forms they take in messages, found by exact match."""

    def __init__(self) -> None:
        self.keys: set[str] = set()  # the plan's own strings: no copy is made
        #: hash of another form of a key → the key (the form itself is not kept: a
        #: URL-quoted Chinese name is 3 times the key's size)
        self.variants: dict[int, str] = {}
        self._lengths: set[int] = set()
        self._longest_first: list[int] = []

    def add(self, key: str) -> None:
        if len(key) < _MIN_KEY_LEN or key in self.keys:
            return
        self.keys.add(key)
        self._lengths.add(len(key))
        for form in _forms(key):
            if form != key and len(form) >= _MIN_KEY_LEN:
                self.variants.setdefault(hash(form), key)
                self._lengths.add(len(form))
        self._longest_first = []

    def _find(self, text: str, i: int) -> tuple[str, int] | None:
        if not self._longest_first:
            self._longest_first = sorted(self._lengths, reverse=True)
        for n in self._longest_first:
            form = text[i : i + n]
            if form in self.keys:
                return form, n
            key = self.variants.get(hash(form))
            if key is not None and form in _forms(key):  # not a hash collision
                return key, n
        return None

    def replace(self, text: str) -> str:
        """`text` with every key (or form of one) that starts after a non-alphanumeric
        character replaced by its reference."""
        if not self.keys:
            return text
        out: list[str] = []
        i = done = 0
        while i < len(text):
            found = self._find(text, i) if i == 0 or not text[i - 1].isalnum() else None
            if found is None:
                i += 1
                continue
            out += (text[done:i], key_ref(found[0]))
            i = done = i + found[1]
        out.append(text[done:])
        return "".join(out)


def _forms(key: str) -> Iterable[str]:
    """The key as it may be written besides itself: escaped by repr, its bytes escaped
    (a name that is not UTF-8), URL-quoted (as the S3 SDK writes it)."""
    raw = _raw(key)
    yield repr(key)[1:-1]
    yield raw.decode("utf-8", "backslashreplace")
    yield urllib.parse.quote(raw, safe="/")


_KEYS = _Keys()


def remember_keys(keys: Iterable[str]) -> None:
    """Make `scrub` replace these keys (the run's inputs) wherever they appear."""
    for key in keys:
        _KEYS.add(key)


def forget_keys() -> None:
    global _KEYS
    _KEYS = _Keys()


# --------------------------------------------------------------------------- all together


def scrub(text: str) -> str:
    """`text` with the run's keys, credentials, ID numbers, names and addresses masked."""
    text = _KEYS.replace(text)
    text = scrub_credentials(text)
    text = scrub_ids(text)
    return scrub_letters(text)


class ScrubFilter(logging.Filter):
    """Scrubs every record's message, traceback and stack before any handler formats it."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit: logging would print them raw
            message = f"{record.msg} (the arguments did not fit the message)"
        cleaned = scrub(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
            record.exc_info = None  # formatted once, scrubbed: no handler formats it again
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True
