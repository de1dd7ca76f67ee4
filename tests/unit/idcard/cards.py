"""Hand-built box lists of cards, as the engine returns them, for the parser's fixtures.

Positions are those of a real card scaled to 1000×631. Run
`python -m tests.unit.idcard.cards` to rewrite `fixtures/hand_*.json`; the expected
values below are written by hand, never taken from the parser.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stdnum.cn import ric

from ocr_job.engines.base import TextBox

W, H = 1000, 631
FIXTURES = Path(__file__).parent / "fixtures"


def id_number(first17: str) -> str:
    """A number with its right check digit."""
    return first17 + ric.calc_check_digit(first17 + "0")


@dataclass
class B:
    """A box spec: text, left x, centre y (of an upright card)."""

    text: str
    x: float
    y: float
    score: float = 0.99
    w: float | None = None
    h: float = 30
    chars: tuple[float, ...] = ()  # each character's own score, as the onnx engine gives

    def width(self) -> float:
        if self.w is not None:
            return self.w
        return sum(16 if ch.isascii() else 34 for ch in self.text)


def render(specs: list[B], skew_deg: float = 0.0, seed: int | None = None) -> list[TextBox]:
    """Rotate the box specs about the card centre by `skew_deg` and shuffle them."""
    a = math.radians(skew_deg)
    cos, sin = math.cos(a), math.sin(a)

    def rot(x: float, y: float) -> tuple[float, float]:
        dx, dy = x - W / 2, y - H / 2
        return (W / 2 + dx * cos - dy * sin, H / 2 + dx * sin + dy * cos)

    boxes = []
    for s in specs:
        x0, x1, y0, y1 = s.x, s.x + s.width(), s.y - s.h / 2, s.y + s.h / 2
        pts = (rot(x0, y0), rot(x1, y0), rot(x1, y1), rot(x0, y1))
        corners = tuple((round(x, 1), round(y, 1)) for x, y in pts)
        box = TextBox(s.text, s.score, corners, chars=s.chars)  # type: ignore[arg-type]
        boxes.append(box)
    if seed is not None:
        random.Random(seed).shuffle(boxes)
    return boxes


def front(
    name: str,
    sex: str,
    ethnicity: str,
    birth: tuple[str, str, str],
    address: list[str],
    number: str,
    merged: bool = False,
) -> list[B]:
    """The boxes of a front as a detector usually splits it."""
    y, m, d = birth
    out: list[B] = []
    if merged:
        out += [B("姓名" + name, 60, 78), B("性别" + sex + "民族" + ethnicity, 60, 150, w=420)]
        out += [B(f"出生{y}年{m}月{d}日", 60, 225, w=330)]
        out += [B("住址" + address[0], 60, 300, w=110 + 34 * len(address[0]))]
    else:
        out += [B("姓名", 60, 78, w=60), B(name, 170, 78)]
        out += [B("性别", 60, 150, w=60), B(sex, 170, 150), B("民族", 330, 150, w=60), B(ethnicity, 430, 150)]
        out += [B("出生", 60, 225, w=60), B(f"{y}年{m}月{d}日", 170, 225, w=280)]
        out += [B("住址", 60, 300, w=60), B(address[0], 170, 300)]
    out += [B(line, 170, 300 + 45 * (i + 1)) for i, line in enumerate(address[1:])]
    out += [B("公民身份号码", 60, 540, w=230), B(number, 340, 540, w=520, h=34)]
    return out


def back(authority: str, validity: str, merged: bool = False) -> list[B]:
    out = [B("中华人民共和国", 380, 95, w=520, h=60), B("居民身份证", 330, 190, w=560, h=70)]
    if merged:
        out += [B("签发机关" + authority, 220, 470), B("有效期限" + validity, 220, 545, w=520)]
    else:
        out += [B("签发机关", 220, 470, w=130), B(authority, 400, 470)]
        out += [B("有效期限", 220, 545, w=130), B(validity, 400, 545, w=360)]
    return out


OK_FRONT = {
    "id_checksum": True,
    "birth_date_matches_id": True,
    "sex_matches_id": True,
    "region_known": True,
    "address_matches_region": True,
    "ethnicity_known": True,
}


@dataclass
class Case:
    name: str
    description: str
    boxes: list[TextBox]
    side: str | None
    fields: dict[str, str]
    checks: dict[str, bool] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "source": "hand",
            "width": W,
            "height": H,
            "boxes": [b.to_json() for b in self.boxes],
            "expected": {
                "side": self.side,
                "fields": self.fields,
                "checks": self.checks,
                "warnings": sorted(self.warnings),
            },
        }


ZHANG = id_number("11010119900102003")  # 北京市东城区, 1990-01-02, 男
ZHANG_F = dict(
    name="张三",
    sex="男",
    ethnicity="汉",
    birth_date="1990-01-02",
    address="北京市东城区景山前街4号",
    id_number=ZHANG,
)
ADDR3 = ["广东省深圳市南山区粤海", "街道科技园社区深南大道", "10000号3栋1单元502室"]
LI_X = "44030519851231107X"  # 广东省深圳市南山区, 1985-12-31, 男 (check digit X)
assert ric.is_valid(LI_X)
LI_F = dict(
    name="欧阳娜娜", sex="男", ethnicity="汉", birth_date="1985-12-31", address="".join(ADDR3), id_number=LI_X
)
UYGHUR = id_number("65310119920815026")  # 新疆喀什市, 1992-08-15, 女
MAONAN = id_number("45272419781105121")  # 广西环江县, 1978-11-05, 男
RARE = id_number("33010619990909004")  # 浙江杭州西湖区, 1999-09-09, 女


def cases() -> list[Case]:
    c: list[Case] = []
    c.append(
        Case(
            "front_clean",
            "labels and values in separate boxes, two-line address",
            render(front("张三", "男", "汉", ("1990", "1", "2"), ["北京市东城区景山前街", "4号"], ZHANG)),
            "front",
            ZHANG_F,
            OK_FRONT,
        )
    )
    c.append(
        Case(
            "front_merged",
            "label and value merged in one box: 姓名张三, 性别男民族汉, 出生…",
            render(
                front(
                    "张三",
                    "男",
                    "汉",
                    ("1990", "1", "2"),
                    ["北京市东城区景山前街", "4号"],
                    ZHANG,
                    merged=True,
                )
            ),
            "front",
            ZHANG_F,
            OK_FRONT,
        )
    )
    split = [
        B("姓名", 60, 78, w=60),
        B("欧阳", 170, 78, score=0.97),
        B("娜娜", 240, 78, score=0.95),
        B("性别", 60, 150, w=60),
        B("男", 170, 150),
        B("民族汉", 330, 150, w=140),
        B("出生", 60, 225, w=60),
        B("1985", 170, 225, w=70),
        B("年", 250, 225),
        B("12", 300, 225, w=30),
        B("月", 340, 225),
        B("3 1", 390, 225, w=30),
        B("日", 430, 225),
        B("住址", 60, 300, w=60),
        B("广东省深圳市", 170, 300),
        B("南山区粤海", 380, 300),
        B(ADDR3[1], 170, 345),
        B(ADDR3[2], 170, 390, score=0.91),
        B("公民身份号码", 60, 540, w=230),
        B("440305 19851231 107X", 340, 540, w=540, h=34),
    ]
    c.append(
        Case(
            "front_split_values",
            "name, birth digits, address line and number split across boxes",
            render(split),
            "front",
            LI_F,
            OK_FRONT,
        )
    )
    shuffled = front("欧阳娜娜", "男", "汉", ("1985", "12", "31"), ADDR3, LI_X)
    c.append(
        Case(
            "front_shuffled_skew_plus5",
            "boxes in random order, card skewed +5°, 3-line address",
            render(shuffled, skew_deg=5, seed=1),
            "front",
            LI_F,
            OK_FRONT,
        )
    )
    noisy = [
        *front("欧阳娜娜", "男", "汉", ("1985", "12", "31"), ADDR3, LI_X),
        B("中国", 700, 200, score=0.6),
        B("居民", 650, 420, score=0.55),
        B("8", 940, 20, score=0.51, w=14),
    ]
    c.append(
        Case(
            "front_noise_skew_minus5",
            "noise boxes on the photo and the edge, skewed -5°, shuffled",
            render(noisy, skew_deg=-5, seed=2),
            "front",
            LI_F,
            OK_FRONT,
        )
    )
    c.append(
        Case(
            "front_reversed_address",
            "3-line address with its boxes in reverse order",
            render(list(reversed(front("欧阳娜娜", "男", "汉", ("1985", "12", "31"), ADDR3, LI_X)))),
            "front",
            LI_F,
            OK_FRONT,
        )
    )
    c.append(
        Case(
            "front_dot_name",
            "transliterated name with • for ·, 维吾尔族 printed with 族",
            render(
                front(
                    "阿卜杜热合曼•买买提",
                    "女",
                    "维吾尔族",
                    ("1992", "8", "15"),
                    ["新疆喀什市解放北路", "88号"],
                    UYGHUR,
                    merged=True,
                )
            ),
            "front",
            dict(
                name="阿卜杜热合曼·买买提",
                sex="女",
                ethnicity="维吾尔",
                birth_date="1992-08-15",
                address="新疆喀什市解放北路88号",
                id_number=UYGHUR,
            ),
            OK_FRONT,
        )
    )
    c.append(
        Case(
            "front_hanzu",
            "ethnicity printed as 汉族",
            render(front("张三", "男", "汉族", ("1990", "1", "2"), ["北京市东城区景山前街", "4号"], ZHANG)),
            "front",
            ZHANG_F,
            OK_FRONT,
        )
    )
    c.append(
        Case(
            "front_maonan",
            "old spelling 毛难 → 毛南",
            render(
                front(
                    "覃小明",
                    "男",
                    "毛难",
                    ("1978", "11", "5"),
                    ["广西环江毛南族自治县思恩镇", "城西路12号"],
                    MAONAN,
                )
            ),
            "front",
            dict(
                name="覃小明",
                sex="男",
                ethnicity="毛南",
                birth_date="1978-11-05",
                address="广西环江毛南族自治县思恩镇城西路12号",
                id_number=MAONAN,
            ),
            OK_FRONT,
        )
    )
    c.append(
        Case(
            "front_rare_chars",
            "rare characters in name and address",
            render(front("王䶮", "女", "汉", ("1999", "9", "9"), ["浙江省杭州市西湖区龑村", "1号"], RARE)),
            "front",
            dict(
                name="王䶮",
                sex="女",
                ethnicity="汉",
                birth_date="1999-09-09",
                address="浙江省杭州市西湖区龑村1号",
                id_number=RARE,
            ),
            OK_FRONT,
        )
    )
    o_for_0 = ZHANG[:10] + "O" + ZHANG[11:]
    c.append(
        Case(
            "front_number_letter_o",
            "number read with O instead of 0: corrected, with a warning",
            render(front("张三", "男", "汉", ("1990", "1", "2"), ["北京市东城区景山前街", "4号"], o_for_0)),
            "front",
            ZHANG_F,
            OK_FRONT,
            ["id_number_corrected"],
        )
    )
    c.append(
        Case(
            "front_number_lower_x",
            "trailing x in lower case is normalised, not a correction",
            render(front("欧阳娜娜", "男", "汉", ("1985", "12", "31"), ADDR3, LI_X.lower())),
            "front",
            LI_F,
            OK_FRONT,
        )
    )
    c.append(
        Case(
            "front_number_dropped_x",
            "17 digits read, the trailing X lost: restored with a warning",
            render(front("欧阳娜娜", "男", "汉", ("1985", "12", "31"), ADDR3, LI_X[:17])),
            "front",
            LI_F,
            OK_FRONT,
            ["id_number_corrected"],
        )
    )
    glued = front("张三", "男", "汉", ("1990", "1", "2"), ["北京市东城区景山前街", "4号"], ZHANG)
    glued = [b for b in glued if b.text not in ("4号", ZHANG, "公民身份号码")]
    glued.append(B("4号" + ZHANG, 170, 345, w=560))
    c.append(
        Case(
            "front_address_glued_number",
            "the number glued to the last address line's box",
            render(glued),
            "front",
            ZHANG_F,
            OK_FRONT,
        )
    )
    nolabel = front("张三", "男", "汉", ("1990", "1", "2"), ["北京市东城区景山前街", "4号"], ZHANG)
    nolabel = [b for b in nolabel if b.text not in ("姓名", "住址")]
    c.append(
        Case(
            "front_labels_missing",
            "姓名 and 住址 labels not read: name and address by position",
            render(nolabel, skew_deg=2),
            "front",
            ZHANG_F,
            OK_FRONT,
        )
    )
    misread = front(
        "张三", "男", "汉", ("1990", "1", "2"), ["北京市东城区景山前街", "4号"], ZHANG, merged=True
    )
    misread[0] = B("娃各张三", 60, 78)
    c.append(
        Case(
            "front_label_misread",
            "姓名 misread as 娃各 in a merged box: dropped by position",
            render(misread),
            "front",
            ZHANG_F,
            OK_FRONT,
        )
    )
    wrong = front("张三", "女", "汉", ("1991", "1", "2"), ["北京市东城区景山前街", "4号"], ZHANG)
    c.append(
        Case(
            "front_confident_wrong",
            "confidently misread sex and birth year: the number contradicts them, left empty",
            render(wrong),
            "front",
            {k: v for k, v in ZHANG_F.items() if k not in ("sex", "birth_date")},
            {**OK_FRONT, "birth_date_matches_id": False, "sex_matches_id": False},
            ["birth_date_mismatch", "field_missing", "field_missing", "sex_mismatch"],
        )
    )
    bad = ZHANG[:10] + "8" + ZHANG[11:]
    c.append(
        Case(
            "front_checksum_failed",
            "a digit misread as another digit: fails its checksum, left empty",
            render(front("张三", "男", "汉", ("1990", "1", "2"), ["北京市东城区景山前街", "4号"], bad)),
            "front",
            {k: v for k, v in ZHANG_F.items() if k != "id_number"},
            {"id_checksum": False, "ethnicity_known": True},
            ["field_missing", "id_checksum_failed"],
        )
    )
    c.append(
        Case(
            "front_address_elsewhere",
            "address in another province than the number's region",
            render(front("张三", "男", "穿青人", ("1990", "1", "2"), ["贵州省织金县城关镇", "1号"], ZHANG)),
            "front",
            {**ZHANG_F, "ethnicity": "穿青人", "address": "贵州省织金县城关镇1号"},
            {**OK_FRONT, "address_matches_region": False, "ethnicity_known": False},
            ["address_region_mismatch", "ethnicity_unknown"],
        )
    )
    partial = [
        b
        for b in front("张三", "男", "汉", ("1990", "1", "2"), ["北京市东城区景山前街"], ZHANG)
        if b.text not in ("张三",)
    ]
    c.append(
        Case(
            "front_name_missing",
            "the name was not read at all: field_missing, nothing invented",
            render(partial),
            "front",
            {k: v for k, v in ZHANG_F.items() if k != "name"} | {"address": "北京市东城区景山前街"},
            OK_FRONT,
            ["field_missing"],
        )
    )
    c.append(
        Case(
            "back_clean",
            "back with separate labels and a 20-year period",
            render(back("北京市公安局东城分局", "2015.01.01-2035.01.01")),
            "back",
            dict(issuing_authority="北京市公安局东城分局", valid_from="2015-01-01", valid_to="2035-01-01"),
            {"validity_period": True},
        )
    )
    c.append(
        Case(
            "back_long_term",
            "merged label and value, 长期",
            render(back("深圳市公安局南山分局", "2010.05.06-长期", merged=True)),
            "back",
            dict(issuing_authority="深圳市公安局南山分局", valid_from="2010-05-06", valid_to="长期"),
            {"validity_period": True},
        )
    )
    c.append(
        Case(
            "back_zhi_skewed",
            "至 as the separator, shuffled and skewed -4°",
            render(back("喀什市公安局", "2012.08.15至2022.08.15"), skew_deg=-4, seed=3),
            "back",
            dict(issuing_authority="喀什市公安局", valid_from="2012-08-15", valid_to="2022-08-15"),
            {"validity_period": True},
        )
    )
    c.append(
        Case(
            "back_bad_period",
            "a 12-year period is not one the law allows: one end misread, both left empty",
            render(back("北京市公安局东城分局", "2015.01.01-2027.01.01")),
            "back",
            dict(issuing_authority="北京市公安局东城分局"),
            {"validity_period": False},
            ["field_missing", "field_missing", "validity_period_invalid"],
        )
    )
    c.append(
        Case(
            "no_card",
            "a shop receipt: no identity card",
            render([B("欢迎光临", 300, 60), B("合计 58.00", 100, 300), B("谢谢惠顾", 300, 500)]),
            None,
            {},
            {},
            ["no_card_text"],
        )
    )
    return c


def main() -> None:
    for old in FIXTURES.glob("hand_*.json"):
        old.unlink()
    for case in cases():
        path = FIXTURES / f"hand_{case.name}.json"
        path.write_text(json.dumps(case.to_json(), ensure_ascii=False, indent=1) + "\n")


if __name__ == "__main__":
    main()
