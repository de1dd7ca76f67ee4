"""Printed vocabulary of the resident identity card: labels, ethnic groups, text clean-up.

Only things printed on the card live here (labels and the 56 ethnic group names as the
card prints them); region codes and check digits come from python-stdnum.
"""

from __future__ import annotations

import json
import re
import tempfile
from functools import cache
from pathlib import Path

import opencc
from rapidfuzz.distance import Hamming

#: The 56 ethnic groups as printed on the card (without the 族 suffix).
_ETHNICITY_TEXT = """
汉 蒙古 回 藏 维吾尔 苗 彝 壮 布依 朝鲜 满 侗 瑶 白 土家 哈尼 哈萨克 傣 黎 傈僳 佤 畲
高山 拉祜 水 东乡 纳西 景颇 柯尔克孜 土 达斡尔 仫佬 羌 布朗 撒拉 毛南 仡佬 锡伯 阿昌
普米 塔吉克 怒 乌孜别克 俄罗斯 鄂温克 德昂 保安 裕固 京 塔塔尔 独龙 鄂伦春 赫哲 门巴
珞巴 基诺
"""
ETHNICITIES: frozenset[str] = frozenset(_ETHNICITY_TEXT.split())

#: Old official spellings still printed on older cards.
OLD_ETHNICITIES: dict[str, str] = {"毛难": "毛南", "崩龙": "德昂"}

#: Front labels by field, with common misreadings. The first spelling is the printed one.
FRONT_LABELS: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "娃名", "姓各", "妵名"),
    "sex": ("性别", "性列", "姓别", "性刖"),
    "ethnicity": ("民族", "民旅", "民蔟", "民挨"),
    "birth_date": ("出生", "岀生", "出士"),
    "address": ("住址", "佳址", "往址", "住扯", "住趾", "住垃"),
    "id_number": ("公民身份号码", "公民身份证号码", "公民身份号", "民身份号码", "身份号码"),
}

#: Back labels by field, with common misreadings.
BACK_LABELS: dict[str, tuple[str, ...]] = {
    "issuing_authority": ("签发机关", "签发机美", "鉴发机关", "签友机关"),
    "validity": ("有效期限", "有效朝限", "有效期陨", "有效期"),
}

#: The last character of a whole address: a house, flat, group or village word. Used only
#: where the card's geometry cannot tell (see `front._read_address`).
ADDRESS_ENDINGS = frozenset(
    "号室组村队社屯户庄楼栋幢座层院巷弄里街路道园苑区场站厂所校舍寓门坊元"
    "湾沟坪寨营堡岗铺集口坝塘岭冲垸店坡峪洼圩窝台嘴坎滩桥"
)

#: Printed titles of the back.
BACK_TITLES: tuple[str, ...] = ("中华人民共和国", "居民身份证")

#: Characters OCR returns for the middle dot of transliterated names. (Not the em dash:
#: the recognisers return it for 一, as in 孟怡— and 公孙—永; a dot comes back as ・.)
_DOT_LOOKALIKES = "•・.-．‧∙⋅･－"
#: Dashes the recognisers return for 一 (郝莉一 read 郝莉— at 0.28 of the step, 孟怡—,
#: 公孙—永): no name holds a dash, so in a name each is the 一 it was read for.
_ONE_LOOKALIKES = "—―ー"
_NOT_CJK = r"\x00-\u2e7f"
_DOT_BETWEEN = re.compile(rf"(?<=[^{_NOT_CJK}])\s*[{re.escape(_DOT_LOOKALIKES)}·]\s*(?=[^{_NOT_CJK}])")

#: The marks an address is written with besides CJK characters, ASCII letters and digits
#: (3-2-501, 5#楼, A座, 东区（二期）). What else a recogniser reads there (a blurred 4 read +)
#: is no character of it.
ADDRESS_MARKS = frozenset("-#()（）·")
#: A dash between an address's digits or letters, as recognisers return it (3—2—501: the
#: dashes they return for 一, and the CJK 一 no address writes between two digits).
_ADDRESS_DASH = re.compile(rf"(?<=[0-9A-Za-z])[{_ONE_LOOKALIKES}一‐‑–−](?=[0-9A-Za-z])")


def address_text(text: str) -> str:
    """An address as cards print it: `normalise_place`, with dashes between its digits as
    the hyphen."""
    return _ADDRESS_DASH.sub("-", normalise_place(text))


def not_address_chars(text: str) -> str:
    """The characters of `text` that no address is written with (see ADDRESS_MARKS)."""
    return "".join(ch for ch in text if not _address_char(ch))


def _address_char(ch: str) -> bool:
    return bool(_CJK.match(ch)) or (ch.isascii() and ch.isalnum()) or ch in ADDRESS_MARKS


def to_halfwidth(text: str) -> str:
    """Map full-width ASCII and the ideographic space to their plain forms."""
    out = []
    for ch in text:
        code = ord(ch)
        if 0xFF01 <= code <= 0xFF5E:
            out.append(chr(code - 0xFEE0))
        elif code == 0x3000:
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def squeeze(text: str) -> str:
    """Half-width text without any whitespace (CJK card values carry no spaces)."""
    return "".join(to_halfwidth(text).split())


@cache
def _to_simplified() -> opencc.OpenCC:
    return opencc.OpenCC("t2s.json")


def _in_simplified_set(ch: str) -> bool:
    """In GB 2312, the simplified character set (乾, 於, 著, 藉 and 瞭 are in it too)."""
    try:
        ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def simplify(text: str) -> str:
    """Traditional forms the recogniser may return (黃, 涼, 區) → the simplified ones.

    Character by character, and only characters outside the simplified set whose OpenCC
    conversion is in it: a simplified character that also has a traditional use (乾县,
    not 干县) and a simplified character outside GB 2312 (硚口, 埇桥) stay as they are.
    """
    out = []
    for ch in text:
        if ch > "\u2e7f" and not _in_simplified_set(ch):
            converted = _to_simplified().convert(ch)
            if len(converted) == 1 and _in_simplified_set(converted):
                ch = converted
        out.append(ch)
    return "".join(out)


@cache
def _to_traditional() -> opencc.OpenCC:
    """OpenCC's simplified → traditional character table alone. Only single characters are
    converted here, and the whole `s2t` conversion also loads its phrase tables: 27 MiB that
    stay resident for the rest of the run, against 1 MiB for the characters."""
    return _character_converter("STCharacters.ocd2", fallback="s2t.json")


def _character_converter(table: str, fallback: str) -> opencc.OpenCC:
    """An OpenCC converter made of one of the wheel's dictionary files, else `fallback`."""
    share = Path(opencc.__file__).resolve().parent / "clib" / "share" / "opencc"
    config = {"name": table, "conversion_chain": [{"dict": {"type": "ocd2", "file": str(share / table)}}]}
    try:
        with tempfile.TemporaryDirectory(prefix="opencc-") as folder:
            path = Path(folder) / "config.json"
            path.write_text(json.dumps(config), encoding="utf-8")
            return opencc.OpenCC(str(path))  # reads the config and the table now
    except Exception:  # no writable temp folder, or a wheel laid out otherwise
        return opencc.OpenCC(fallback)


@cache
def simplified_char(ch: str) -> str:
    """`ch` as a card prints it in a name (`_simplified_name_char`; a dash is the 一 it was
    read for), cached: the recogniser's decoder asks it of every character's rival
    (`engines.ctc`: 一 at 0.72 with — at 0.28 at its step is 一 at 1.0)."""
    if ch in _ONE_LOOKALIKES:
        return "一"
    return _simplified_name_char(ch)


def _simplified_name_char(ch: str) -> str:
    """The simplified form of a traditional character (強 → 强, 別 → 别, 黃 → 黄), only when
    the two are a true pair (each converts to the other): a variant of a character that is
    printed in names as it is (昇, not 升; 喆, 堃) is kept."""
    if ch <= "\u2e7f" or _in_simplified_set(ch):
        return ch
    converted: str = _to_simplified().convert(ch)
    if len(converted) == 1 and _in_simplified_set(converted) and _to_traditional().convert(converted) == ch:
        return converted
    return ch


def normalise_place(text: str) -> str:
    """An address or authority without spaces, in the simplified forms cards print."""
    return simplify(squeeze(text))


def normalise_name(text: str) -> str:
    """Remove spaces, turn an em dash after a CJK character into the 一 it was read for
    (no name holds a dash), middle-dot look-alikes between CJK characters into `·`, and
    traditional forms the recogniser returns into the simplified ones cards print."""
    name = _DASH_AFTER_CJK.sub("一", to_halfwidth(text))
    name = squeeze(_DOT_BETWEEN.sub("·", name)).strip("·.-")
    return "".join(_simplified_name_char(ch) for ch in name)


_DASH_AFTER_CJK = re.compile(rf"(?<=[^{_NOT_CJK}])\s*[{_ONE_LOOKALIKES}]")
#: The name label at the start of a line, as read and as misread (娃名, 蛙名, 姓各, 名; 姓 and
#: any one character: a recogniser that reads 姓名龙新宇 as 姓老龙新宇 reads the same name).
_NAME_LABEL_START = re.compile(r"^(?:[姓娃蛙妵][名各]|姓(?=\S{3})\S|名)")


def name_meaning(text: str) -> str:
    """What a line read for the name says the name is: normalised, without the label
    (`姓名 宋俊強`, `娃名宋俊强` and `宋俊强` all mean 宋俊强), and without the dot between a
    transcribed name's parts: two recognisers that read every character of 努尔古丽·艾尔肯
    alike may differ on the small dot alone (one leaves it out), and the joint reading,
    which weighs both, says whether it is printed (`engines.ctc.joint_reading`)."""
    return _NAME_LABEL_START.sub("", normalise_name(text)).replace("·", "")


def period_meaning(text: str) -> str:
    """What a line read for a validity period says: its letters and digits as printed,
    half-width (２０１４ and 2014 are one date), spaces aside."""
    return squeeze(text)


def place_meaning(text: str) -> str:
    """What a line read for the address says: normalised, without its label (`住址 北京市`,
    `住址北京市` and `北京市` all mean 北京市), with a place name misread in one character
    mended when only one name fits (`places.mend_names`: 凉山彞族自治州 is 凉山彝族自治州;
    the place table is the card's vocabulary, as the parser's check of the address)."""
    from .places import mend_names  # places reads the table through idnumber, not vocab

    value = normalise_place(text)
    label = match_label(value, {"address": FRONT_LABELS["address"]})
    return mend_names(value[len(label[1]) :] if label else value)


#: Characters no name holds: 址 of 住址, 码 of 号码, 号 of a house number; 省, 县, 栋, 室 of
#: an address. (A misread rare character, such as 骉 read as 弱, is caught by the name's
#: confidence floor, not by a list of characters: real names may hold 弱.)
NOT_NAME_CHARS = frozenset("址码号省县栋室")
_CJK = re.compile(r"[\u3400-\u9fff\U00020000-\U0003134f]")


def implausible_name(name: str) -> str | None:
    """Why `name` cannot be a name on a card, or None when it can be one."""
    if not name:
        return None
    if any(s in name for spellings in FRONT_LABELS.values() for s in spellings):
        return "it holds a label"
    if any(ch in NOT_NAME_CHARS for ch in name):
        return "it holds a character of a label or an address"
    if any(not (_CJK.match(ch) or ch == "·") for ch in name):
        return "it holds digits, letters or signs"
    if len(name.replace("·", "")) < 2 or "··" in name:
        return "it is too short"
    return None


def normalise_ethnicity(text: str) -> str:
    """The printed name of the group: `汉族` → `汉`, old spellings → current ones, and the
    traditional forms some fonts are read as (`漢` → `汉`, `維吾爾` → `维吾尔`) → the
    simplified name the card prints, when that is one of the 56 groups."""
    value = squeeze(text)
    if value.endswith("族") and len(value) > 1:
        value = value[:-1]
    value = OLD_ETHNICITIES.get(value, value)
    if value in ETHNICITIES:
        return value
    for simplified in (simplify(value), _to_simplified().convert(value)):
        simplified = OLD_ETHNICITIES.get(simplified, simplified)
        if simplified in ETHNICITIES:
            return simplified
    return value


def is_known_ethnicity(value: str) -> bool:
    return value in ETHNICITIES


def _one_edit_apart(a: str, b: str) -> bool:
    """One character replaced, added or dropped."""
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long_ = sorted((a, b), key=len)
    if len(long_) - len(short) != 1:
        return False
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def nearest_ethnicity(value: str) -> str | None:
    """The one group of two or more characters that `value` is one misread character
    away from (`仏佬` would be 仫佬 or 仡佬: None); single-character groups are never
    guessed (any one character is one edit away from all of them)."""
    if len(value) < 2 or value in ETHNICITIES:
        return None
    near = [e for e in ETHNICITIES if len(e) >= 2 and _one_edit_apart(value, e)]
    return near[0] if len(near) == 1 else None


#: Fields whose values never begin with their label's first character (男/女; no group of
#: the 56 begins with 民): a box of that character and at most one more is the label.
_CLOSED_VALUE_LABELS = ("sex", "ethnicity")


def is_label_alone(text: str, field: str) -> bool:
    """Whether `text` (a box's, squeezed) is `field`'s label and nothing else: as spelled,
    or, for sex and ethnicity, its first character and at most one more (民方 and 民 for
    民族, the second character misread or lost: no value begins with 民)."""
    spellings = FRONT_LABELS[field]
    if text in spellings:
        return True
    first = spellings[0]
    return field in _CLOSED_VALUE_LABELS and 0 < len(text) <= len(first) and text[0] == first[0]


#: A label this long or longer read with one character wrong (警发机关 for 签发机关) is still
#: the label: no value begins with all but one of a four-character label's characters in
#: place. Not its last character: that one lost puts the value's first in its place
#: (签发机石屏县公安局 is 签发机 and 石屏县). Shorter labels are matched as spelled (民X may be
#: any word).
FUZZY_LABEL_LENGTH = 4


def match_label(text: str, labels: dict[str, tuple[str, ...]]) -> tuple[str, str] | None:
    """The (field, spelling) of the label `text` starts with, longest spelling first; else
    the (field, text's start) of a label of FUZZY_LABEL_LENGTH or more characters (its
    first, printed spelling) that `text` begins with one character but the last misread."""
    best: tuple[str, str] | None = None
    for field, spellings in labels.items():
        for spelling in spellings:
            if text.startswith(spelling) and (best is None or len(spelling) > len(best[1])):
                best = (field, spelling)
    if best is not None:
        return best
    for field, (printed, *_) in labels.items():
        start = text[: len(printed)]
        long_enough = len(printed) >= FUZZY_LABEL_LENGTH and len(start) == len(printed)
        if long_enough and start[-1] == printed[-1] and Hamming.distance(start, printed) == 1:
            return field, start
    return None
