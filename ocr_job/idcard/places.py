"""Place names of the mainland's administrative divisions, from python-stdnum's region table.

The address of a card begins with the names of its province, prefecture and county, and
an issuing authority names a prefecture or county (`XX县公安局`, `XX市公安局XX分局`).
Those names are a closed vocabulary: one that is not in the table was misread. The table
is `stdnum.cn.ric`'s (`cn/loc`), with every name a code has had.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from itertools import product
from typing import Literal

from rapidfuzz.distance import Hamming, Levenshtein
from stdnum import numdb

from .idnumber import province_stem

#: Table entries that are groupings, not places (市辖区: "districts of the city").
_NOT_PLACES = frozenset({"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"})
_SPAN = re.compile(r"^\[[^\]]*\]")

#: How many characters of a place chain may be repaired: one per five, at least one.
REPAIR_SHARE = 5


@dataclass(frozen=True, slots=True)
class Division:
    code: str  # 2 (province), 6 ending in 00 (prefecture) or 6 digits (county)
    names: tuple[str, ...]  # every name the code has had, oldest first
    current: tuple[str, ...]  # the name in use today (none for an abolished code)


def _names(spec: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`[-1991]东郊区,[1992-]东丽区` → ((东郊区, 东丽区), (东丽区,)): every name and the
    one in use today, without groupings."""
    names: list[str] = []
    current: list[str] = []
    for part in spec.split(","):
        span = _SPAN.match(part.strip())
        name = part.strip()[span.end() :] if span else part.strip()
        if not name or name in _NOT_PLACES:
            continue
        if name not in names:
            names.append(name)
        if (span is None or span.group().endswith("-]")) and name not in current:
            current.append(name)
    return tuple(names), tuple(current)


def _with_stems(names: tuple[str, ...]) -> tuple[str, ...]:
    stems = tuple(province_stem(n) for n in names)
    return names + tuple(s for s in stems if len(s) >= 2 and s not in names)


@cache
def divisions() -> dict[str, Division]:
    """Every province (2 digits), prefecture (xxyy00) and county (6 digits) by code."""
    out: dict[str, Division] = {}
    for _, low, _, props, children in numdb.get("cn/loc").prefixes:
        names, current = _names(str(props.get("province", "")))
        # addresses also print the short form: 广西, 新疆, 内蒙古, 北京
        out[low] = Division(low, _with_stems(names), _with_stems(current))
        own = set(out[low].names)
        for _, sub, _, sub_props, _ in children:
            names, current = _names(str(sub_props.get("county", "")))
            names = tuple(n for n in names if n not in own)
            if sub == "0000" or not names:
                continue  # the province's own entry, or a grouping
            code = low + sub
            out[code] = Division(code, names, tuple(n for n in current if n not in own))
    return out


def _prefecture(code: str) -> Division | None:
    entry = divisions().get(code[:4] + "00")
    return entry if entry is not None and entry.names and code[4:] != "00" else None


@cache
def _with_counties() -> frozenset[str]:
    """The first four digits of prefectures with counties under them (东莞市 has none)."""
    return frozenset(
        c[:4] for c, d in divisions().items() if len(c) == 6 and not c.endswith("00") and d.names
    )


def chains_of(code: str, full: bool = False) -> tuple[str, ...]:
    """The ways an address may begin for county `code`: province + prefecture + county,
    and province + county (for counties directly under the province, or when the
    prefecture is left out; not when `full`), with every name each has had."""
    table = divisions()
    county = table.get(code)
    province = table.get(code[:2])
    if county is None or province is None or not county.names or not province.names:
        return ()
    prefecture = _prefecture(code)
    middles = prefecture.names if prefecture else ("",)
    if prefecture and not full:
        middles = ("", *middles)
    return tuple(p + m + c for p, m, c in product(province.names, middles, county.names))


def _names_of(entry: Division | None, current: bool) -> tuple[str, ...]:
    if entry is None:
        return ()
    return entry.current if current else entry.names


@cache
def _codes_by_name(current: bool) -> dict[str, tuple[str, ...]]:
    """Every name (today's only, when `current`) → the codes that bear it."""
    out: dict[str, list[str]] = {}
    for code, entry in divisions().items():
        for name in _names_of(entry, current):
            out.setdefault(name, []).append(code)
    return {name: tuple(codes) for name, codes in out.items()}


@cache
def _longest_name() -> int:
    return max(len(name) for name in _codes_by_name(current=False))


def _segments(text: str, at: int, current: bool) -> list[tuple[int, str]]:
    """(end, code) of every name that `text` holds from position `at`."""
    index = _codes_by_name(current)
    out: list[tuple[int, str]] = []
    for end in range(at + 2, min(len(text), at + _longest_name()) + 1):
        out.extend((end, code) for code in index.get(text[at:end], ()))
    return out


def _under(code: str, parent: str) -> bool:
    """Whether `code` lies directly below `parent` (a province or a prefecture)."""
    if len(parent) == 2:
        return code[:2] == parent and code != parent
    return code[:4] == parent[:4] and not code.endswith("00")


def _is_prefecture(code: str) -> bool:
    return len(code) == 6 and code.endswith("00")


def _chain_ends(text: str, current: bool) -> set[int]:
    """Where a place chain that `text` begins with may end: province + prefecture +
    county, province + county, prefecture + county or the county alone (addresses leave
    levels out), and a prefecture without counties (东莞市) in place of the county."""
    ends: set[int] = set()

    def tail(at: int, parent: str) -> None:
        """After `parent`, a county, or a prefecture and then what follows it."""
        for end, code in _segments(text, at, current):
            if not _under(code, parent):
                continue
            if not _is_prefecture(code):
                ends.add(end)
            elif len(parent) == 2:
                finish(end, code)

    def finish(end: int, prefecture: str) -> None:
        if prefecture[:4] not in _with_counties():
            ends.add(end)
        tail(end, prefecture)

    for end, code in _segments(text, 0, current):
        if len(code) == 2:
            tail(end, code)
        elif _is_prefecture(code):
            finish(end, code)
        else:
            ends.add(end)
    return ends


def known_start(text: str) -> str | None:
    """The longest place chain of today's names that `text` begins with."""
    ends = _chain_ends(text, current=True)
    return text[: max(ends)] if ends else None


def begins_with_place(text: str, shortest: int = 3) -> bool:
    """Whether `text` begins with today's name of a province, prefecture or county, of
    `shortest` characters or more (an address line cut before its county still does)."""
    return any(end >= shortest for end, _ in _segments(text, 0, current=True))


def _is_chain(text: str) -> bool:
    """Whether `text` is a place chain, with any name each place has had."""
    return len(text) in _chain_ends(text, current=False)


def _distance(a: str, b: str) -> int:
    """Characters misread between `a` and `b`, and the ones left out of the shorter, when
    one is shorter (Hamming distance for strings of one length, else Levenshtein)."""
    if len(a) == len(b):
        return Hamming.distance(a, b)
    return Levenshtein.distance(a, b)


@dataclass(frozen=True, slots=True)
class AddressPlace:
    """What the address's beginning says about its place names."""

    #: "region": the number's region's names; "other": another known place; "corrected":
    #: repaired to the region's names; "unknown": no known place begins the address
    status: Literal["region", "other", "corrected", "unknown"]
    address: str  # the address (repaired when corrected)
    changed: int = 0  # characters repaired
    #: characters of the address as read that the region's place names take (region and
    #: corrected: what they say beyond the names is the table's, however it was read)
    span: int = 0


def _repair(address: str, code: str, restore_lost: bool) -> tuple[str, int, int] | None:
    """The address with its place chain repaired to one of the region's chains, the
    characters changed and the characters of `address` the chain replaced, when exactly
    one repair is nearest (few characters misread, or, when `restore_lost`, one left out:
    glare or a tight box at a line's end loses one) and what was read is not itself a
    known chain. Only whole chains (with the prefecture, when there
    is one) are repaired to: a shorter one would misplace the prefecture's characters.

    A character left out is always weighed, so that a reading which has lost one inside the
    names is not "repaired" by misplacing every character after it. When a misread last
    character and a lost one are as near (`…泸人民路` for `…泸县人民路`), the misreading
    is taken: the street's first character replaced. No repair is taken where a chain of
    the region is read nearest with two characters or more left out, within its limit
    (`_fewest_edits`): 北川羌族县 is 北川羌族自治县 with 自治 lost, and one misread
    character from the older name 北川县; which chain was printed, the reading cannot tell."""
    repairs: dict[str, tuple[int, int, int, str]] = {}  # address → (-len(chain), edits, lost, read)
    left_out = False  # a chain of the region is best read with two characters or more left out
    for chain in chains_of(code, full=True):
        limit = max(1, len(chain) // REPAIR_SHARE)
        reads = [address[: len(chain) - lost] for lost in (0, 1)]
        edits = [_distance(read, chain) for read in reads]
        fewer = _fewest_edits(address, chain, range(len(chain) - limit, len(chain) - 1))
        left_out |= fewer <= limit and fewer < min(edits)
        for lost, (read, d) in enumerate(zip(reads, edits, strict=True)):
            if len(address) > len(read) and 0 < d <= limit and d < fewer and not _is_chain(read):
                repairs[chain + address[len(read) :]] = (-len(chain), d, lost, read)
    if not repairs:
        return None
    best = min(repairs.values())
    nearest = [a for a, r in repairs.items() if r[:3] == best[:3]]
    _, d, lost, read = best
    if len(nearest) > 1 or (lost and not restore_lost) or left_out:
        return None
    if any(_distance(read, other) <= d for other in _rivals(read, d, code)):
        return None
    return nearest[0], d, len(read)


def _fewest_edits(address: str, chain: str, ends: range) -> int:
    """The fewest edits between `chain` and the starts of `address` that end at `ends`.
    Read with two characters left out, a chain must not be taken for one misread or with
    one left out: 四川省阿坝藏族羌族州汶川县李庄镇 (自治 lost under glare) is two edits from
    四川省阿坝藏族羌族自治州汶川县 up to 县; taken as one left out (three edits up to 李), it
    was "repaired" to …汶川县庄镇, the street's 李 dropped; and it is as near the region's
    older name 四川省阿坝藏族自治州汶川县 with 羌族 misread."""
    return min((_distance(address[:end], chain) for end in ends if end > 0), default=len(address))


def _rivals(read: str, limit: int, code: str) -> Iterator[str]:
    """The chains of places other than `code` (any names, with or without the prefecture)
    as long as `read` or one longer, in the provinces whose name `read` begins with at most
    `limit` characters apart: the other repairs there might be. Made on demand: repairs are
    rare."""
    table = divisions()
    provinces = {
        c
        for c, entry in table.items()
        if len(c) == 2
        and any(
            len(name) < len(read)
            and min(_distance(read[: len(name) - lost], name) for lost in (0, 1)) <= limit
            for name in entry.names
        )
    }
    for other in table:
        if other != code and other[:2] in provinces and len(other) == 6 and not other.endswith("00"):
            yield from (c for c in chains_of(other) if len(read) <= len(c) <= len(read) + 1)


def check_address(address: str, code: str | None, restore_lost: bool = False) -> AddressPlace:
    """Whether the address begins with the place names of the number's region `code`
    (6 digits; None when no number passed its checksum), another known place, a
    misreading of the region's names that can be repaired (a character left out too, when
    `restore_lost`), or nothing known."""
    if code is not None:
        spans = [len(chain) for chain in chains_of(code) if address.startswith(chain)]
        if spans:
            return AddressPlace("region", address, span=max(spans))
        repaired = _repair(address, code, restore_lost)
        if repaired is not None:
            return AddressPlace("corrected", *repaired)
    if known_start(address) is not None:
        return AddressPlace("other", address)
    return AddressPlace("unknown", address)


def address_candidates(address: str, code: str) -> list[str]:
    """`address` with its place names replaced by the known chains one misread character
    away: the number's region's (`chains_of`, with the prefecture) and the other places'
    as near (`_rivals`). `_repair` takes none when two are as near (沪定县 is one character
    from 泸定县, the number's county, and from 康定县): which of them is printed, the
    glyphs must tell (the engine's second opinion judges them). For an address that
    begins with no known place (`check_address`: "unknown")."""
    region = chains_of(code, full=True)
    pool = set(region)
    for length in {len(chain) for chain in region}:
        pool.update(_rivals(address[:length], 1, code))
    out = {
        chain + address[len(chain) :]
        for chain in pool
        if len(chain) < len(address) and Hamming.distance(address[: len(chain)], chain) == 1
    }
    return sorted(out)


_AUTHORITY = re.compile(r"(?P<city>.+?)公安局(?:(?P<district>.+)分局)?")


def authority_known(text: str) -> bool:
    """`XX县公安局` or `XX市公安局XX分局` with XX a known place name (a district may be
    given without its 区)."""
    match = _AUTHORITY.fullmatch(text)
    if match is None:
        return False
    names = _codes_by_name(current=False)
    city = match.group("city")
    if len(city) < 2 or (city not in names and not _is_chain(city)):
        return False  # no place has a one-character name (市公安局: 图们 lost under glare)
    district = match.group("district")
    return district is None or district in names or district + "区" in names


def _one_misread(read: str, pool: Iterator[str] | set[str]) -> list[str]:
    """The names of `pool` as long as `read` with exactly one character otherwise."""
    return [name for name in pool if len(name) == len(read) and Hamming.distance(read, name) == 1]


def _districts_of(city: str) -> set[str]:
    """The names of the places under the prefectures named `city` (or the municipality: 天津市
    is a province's code), with and without 区."""
    table = divisions()
    codes = _codes_by_name(current=False).get(city, ())
    prefectures = [c for c in codes if _is_prefecture(c) or (len(c) == 2 and city.endswith("市"))]
    out: set[str] = set()
    for code, entry in table.items():
        if any(_under(code, p) for p in prefectures) and not _is_prefecture(code):
            out.update(entry.names)
            out.update(n[:-1] for n in entry.names if n.endswith("区") and len(n) > 2)
    return out


def authority_candidates(text: str) -> list[str]:
    """The known authorities one misread character of a place name away from `text`
    (`滩溪县公安局`: 濉溪县公安局, 绩溪县公安局…; `人津市公安局和平分局`: 天津市…, the
    one city a character away that has the district read; `韶关市公安局贞江分局`: …浈江分局,
    …北江分局…: the district among the city's; `黔县公安局`: 黟县, 歙县 and every other
    two-character county): which of them is printed, the glyphs must tell (the engine's
    second opinion judges them); none for a known authority."""
    match = _AUTHORITY.fullmatch(text)
    if match is None or authority_known(text):
        return []
    names = _codes_by_name(current=False)
    city, district = match.group("city"), match.group("district")
    if city not in names:
        if len(city) < 2:
            return []
        if district is None:
            return [f"{name}公安局" for name in _one_misread(city, iter(names))]
        # the district read whole names the city among those one character away (人津市
        # …和平分局: 天津市, whose district 和平 is)
        cities = (name for name in _one_misread(city, iter(names)) if district in _districts_of(name))
        return [f"{name}公安局{district}分局" for name in cities]
    if district is None or len(district) < 2:
        return []
    return [f"{city}公安局{name}分局" for name in _one_misread(district, _districts_of(city))]


def _known_prefix(text: str) -> int:
    """How far `text` is place names, each under the one before it (a province and a
    prefecture, say: a chain not yet at its county counts too); 0: it begins with none."""
    best = 0

    def walk(at: int, parent: str | None) -> None:
        nonlocal best
        best = max(best, at)
        for end, code in _segments(text, at, current=False):
            if parent is None or _under(code, parent):
                walk(end, code)

    walk(0, None)
    return best


@cache
def _names_but_one() -> dict[str, tuple[str, ...]]:
    """Every place name, by each of its characters masked in turn (`凉山?族自治州`)."""
    out: dict[str, set[str]] = {}
    for name in _codes_by_name(current=False):
        for i in range(len(name)):
            out.setdefault(name[:i] + "\0" + name[i + 1 :], set()).add(name)
    return {key: tuple(sorted(names)) for key, names in out.items()}


def mend_names(text: str) -> str:
    """`text` (a line that begins with place names) with the name after its known ones
    mended, when a place name under them is one character away from what was read there
    (`四川省凉山彞族自治州…`: 彞 is a form of 彝 that no place table or character table
    lists) and only one such mending makes the most of the line place names. The same as
    `text` when it begins with no known name, or when the name after them is known,
    unreadable or one character away from several alike (黔县 in 黄山市: 黟县 or 歙县)."""
    at = _known_prefix(text)
    if not at:
        return text
    index = _names_but_one()
    mended: dict[str, int] = {}  # mended text → how far it is place names
    for length in range(2, min(len(text) - at, _longest_name()) + 1):
        read = text[at : at + length]
        for i in range(length):
            for name in index.get(read[:i] + "\0" + read[i + 1 :], ()):
                candidate = text[:at] + name + text[at + length :]
                known = _known_prefix(candidate)
                if name != read and known >= at + length:
                    mended[candidate] = known
    # the mending that makes the most of the line place names (楚雄彞族自治州: 楚雄彝族自治州,
    # not 楚雄市 followed by 族自治州), when only one does
    best = [c for c, known in mended.items() if known == max(mended.values(), default=0)]
    return best[0] if len(best) == 1 else text
