"""Synthetic but internally consistent people for the ID-card generator.

Everything is drawn from a `random.Random`, so an identity is a pure function of
its seed. The region codes and county names come from python-stdnum's table
(`stdnum/cn/loc.dat`), so the address, the issuing authority and the first six
digits of the ID number always name the same place, and every number passes
`stdnum.cn.ric.is_valid`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources

from stdnum.cn import ric

from ocr_job.records import Fields

#: The 56 ethnic groups as printed on the card (without the trailing 族).
ETHNICITIES: tuple[str, ...] = (
    "汉", "蒙古", "回", "藏", "维吾尔", "苗", "彝", "壮", "布依", "朝鲜", "满", "侗", "瑶",
    "白", "土家", "哈尼", "哈萨克", "傣", "黎", "傈僳", "佤", "畲", "高山", "拉祜", "水",
    "东乡", "纳西", "景颇", "柯尔克孜", "土", "达斡尔", "仫佬", "羌", "布朗", "撒拉", "毛南",
    "仡佬", "锡伯", "阿昌", "普米", "塔吉克", "怒", "乌孜别克", "俄罗斯", "鄂温克", "德昂",
    "保安", "裕固", "京", "塔塔尔", "独龙", "鄂伦春", "赫哲", "门巴", "珞巴", "基诺",
)  # fmt: skip

#: The larger minorities, weighted roughly by population.
_BIG_MINORITIES: dict[str, int] = {
    "壮": 19, "回": 11, "满": 10, "维吾尔": 12, "苗": 11, "彝": 10, "土家": 10, "藏": 7,
    "蒙古": 6, "侗": 3, "布依": 3, "瑶": 3, "白": 2, "朝鲜": 2, "哈尼": 2, "黎": 2,
    "哈萨克": 2,
}  # fmt: skip

#: Groups whose names are usually written with a middle dot (given·father's name).
_DOT_NAME_ETHNICITIES: tuple[str, ...] = ("维吾尔", "哈萨克", "柯尔克孜", "乌孜别克", "塔吉克")

SURNAMES: tuple[str, ...] = tuple(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
    "龚邵万钱严覃武戴莫孔向汤"
)
COMPOUND_SURNAMES: tuple[str, ...] = (
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "宇文",
    "长孙", "夏侯", "轩辕", "司徒", "端木", "独孤", "南宫", "西门", "澹台",
)  # fmt: skip
_GIVEN_MALE = "伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林峰建国志文博彬晨"
_GIVEN_FEMALE = "芳娜敏静丽艳娟霞秀玲桂英华兰红梅琳婷雪慧莉萍颖倩琴云洁蓉燕丹玉晶佳欣怡悦萱妍"
_GIVEN_ANY = "子一思嘉雨梓涵诗晓天春海月金振永家荣德新明成安宏心若"
#: Rare characters seen in real names; only used when the fonts cover them.
RARE_CHARS: tuple[str, ...] = tuple("堃喆淼犇昇䶮垚珺燚琮玥婳翀骉焱赟琤淏暐曌嫄玙璟瑀珏焜甦彧祎昳婕")

_DOT_GIVEN_MALE = (
    "买买提", "艾力", "吐尔逊", "艾尔肯", "努尔兰", "阿不都", "热合曼", "帕尔哈提", "依明",
    "库尔班", "阿迪力", "阿卜杜拉", "艾合买提", "吾买尔", "斯拉木", "叶尔兰", "别克", "吐鲁洪",
)  # fmt: skip
_DOT_GIVEN_FEMALE = (
    "阿依古丽", "热依拉", "古丽娜尔", "迪丽热巴", "玛依拉", "努尔古丽", "热娜", "古丽米热",
    "帕提古丽", "阿依努尔", "再努尔", "米娜", "祖丽菲亚", "阿娜尔",
)  # fmt: skip

_ROAD_STEMS = (
    "人民", "解放", "建设", "中山", "和平", "胜利", "新华", "文化", "光明", "幸福", "长江",
    "黄河", "东风", "朝阳", "复兴", "青年", "工农", "团结", "迎宾", "滨河", "南京", "北京",
    "健康", "振兴", "育才", "府前", "红旗", "前进", "民主", "东环", "西环", "花园", "金桥",
)  # fmt: skip
_ROAD_KINDS = ("路", "街", "大道", "大街", "东路", "西路", "南路", "北路", "中路", "巷")
_PLACE_STEMS = (
    "城关", "新城", "东关", "西关", "南关", "北关", "石桥", "柳树", "杨庄", "李庄", "王村",
    "张家", "马坊", "白水", "高桥", "河口", "双河", "青山", "长岭", "花园", "大营", "新兴",
    "桃源", "清泉", "龙泉", "黄土", "沙河", "金沙", "红星", "太平", "永安", "安乐",
)  # fmt: skip
_COMPOUNDS = ("小区", "花园", "新村", "家园", "公寓", "嘉园", "苑")
_ESTATE_STEMS = (
    "华润城", "复城", "锦绣", "阳光", "翡翠", "世纪", "滨江", "金色", "中央", "东方", "海棠",
    "紫荆", "香榭", "御景", "凤凰", "天悦", "星河", "明珠", "万象", "君悦", "书香", "云锦",
)  # fmt: skip
_ESTATE_KINDS = (
    "润府", "国际", "华府", "名都", "壹号院", "公馆", "首府", "天地", "城市花园", "新城",
    "雅苑", "御园", "湾", "府", "里", "华庭", "广场", "国际社区",
)  # fmt: skip
#: Kinds of address ending, as `Identity.address_kind` names them.
ADDRESS_KINDS: tuple[str, ...] = ("rural", "road", "room", "digits", "estate", "estate_digits")
#: Kinds of name, as `Identity.name_kind` names them.
NAME_KINDS: tuple[str, ...] = ("plain", "compound", "rare", "dotted")
_DIGITS_CN = "一二三四五六七八九十"

LIVE_FROM = date(1940, 1, 1)
LIVE_TO = date(2015, 12, 31)
ISSUE_FIRST = date(2005, 1, 1)
ISSUE_LAST = date(2025, 12, 31)
LONG_TERM = "长期"
#: The longest address drawn (every layout style's address block holds it).
ADDRESS_MAX_CHARS = 40


@dataclass(frozen=True)
class Region:
    """A current county-level region of stdnum's table."""

    code: str  # six digits
    province: str
    prefecture: str  # "" for municipalities and directly administered counties
    county: str
    since: int  # first year the code had this name (0: always)

    @property
    def prefix(self) -> str:
        """The province/prefecture/county part of an address."""
        if self.county.startswith(self.province):  # e.g. a municipality's own code
            return self.county
        return f"{self.province}{self.prefecture}{self.county}"

    def issuing_authority(self) -> str:
        """The public security bureau that issues cards here (市/县/旗 局 or 区 分局)."""
        if self.county.endswith("区"):
            city = self.prefecture or self.province
            district = self.county[:-1] if len(self.county) > 2 else self.county
            return f"{city}公安局{district}分局"
        return f"{self.county}公安局"


@dataclass(frozen=True)
class Identity:
    """One person: both sides of one card."""

    name: str
    sex: str
    ethnicity: str
    birth_date: date
    address: str
    id_number: str
    issuing_authority: str
    valid_from: date
    valid_to: date | None  # None: 长期
    region: Region
    address_kind: str = "road"  # one of ADDRESS_KINDS
    name_kind: str = "plain"  # one of NAME_KINDS

    def fields(self) -> Fields:
        return Fields(
            name=self.name,
            sex=self.sex,
            ethnicity=self.ethnicity,
            birth_date=self.birth_date.isoformat(),
            address=self.address,
            id_number=self.id_number,
            issuing_authority=self.issuing_authority,
            valid_from=self.valid_from.isoformat(),
            valid_to=self.valid_to.isoformat() if self.valid_to else LONG_TERM,
        )

    def side_fields(self, side: str) -> Fields:
        """The fields printed on `side`; those of the other side are null."""
        full = self.fields().model_dump()
        keep: tuple[str, ...] = ("name", "sex", "ethnicity", "birth_date", "address", "id_number")
        if side == "back":
            keep = ("issuing_authority", "valid_from", "valid_to")
        return Fields(**{k: (v if k in keep else None) for k, v in full.items()})

    @property
    def validity_text(self) -> str:
        """The back side's 有效期限 value, e.g. `2015.03.01-2035.03.01`."""
        end = self.valid_to.strftime("%Y.%m.%d") if self.valid_to else LONG_TERM
        return f"{self.valid_from.strftime('%Y.%m.%d')}-{end}"


# --------------------------------------------------------------------------- regions

_LOC_LINE = re.compile(r'^(\s*)(\d+) (?:province|county)="([^"]*)"')
_EXCLUDED_PROVINCES = ("71", "81", "82")  # Taiwan, Hong Kong, Macao: no mainland cards
_NOT_A_PLACE = ("市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划")


def _current_name(spec: str) -> tuple[str, int] | None:
    """The name in use today and the year it started, from `[1983-]X,[1995-]Y` forms."""
    if not spec.startswith("["):
        return spec, 0
    for part in reversed(spec.split(",")):
        period, name = part[1:].split("]", 1)
        start, end = period.split("-")
        if not end:
            return name, int(start) if start else 0
    return None


@lru_cache(maxsize=1)
def regions() -> tuple[Region, ...]:
    """All current county-level regions of stdnum's table, in table order."""
    text = resources.files("stdnum").joinpath("cn/loc.dat").read_text(encoding="utf-8")
    out: list[Region] = []
    province = ""
    prov_code = ""
    prefecture = ""
    for line in text.splitlines():
        match = _LOC_LINE.match(line)
        if not match:
            continue
        indent, code, spec = match.groups()
        if not indent:
            prov_code, province = code, spec
            continue
        current = _current_name(spec)
        if code.endswith("00"):
            name = current[0] if current else ""
            prefecture = "" if name in _NOT_A_PLACE or name == province else name
            continue
        if prov_code in _EXCLUDED_PROVINCES or not current or current[0] in _NOT_A_PLACE:
            continue
        if prefecture == "" and not _is_directly_administered(prov_code, province, code):
            continue  # the prefecture was abolished: the code is history
        out.append(Region(prov_code + code, province, prefecture, current[0], current[1]))
    return tuple(out)


def _is_directly_administered(prov_code: str, province: str, code: str) -> bool:
    """Municipalities' districts and counties directly under a province (xx90yy)."""
    return province.endswith("市") or code.startswith("90")


@lru_cache(maxsize=1)
def _regions_by_code() -> dict[str, Region]:
    return {r.code: r for r in regions()}


def region_for(id_number: str) -> Region:
    """The region named by an ID number's first six digits."""
    return _regions_by_code()[id_number[:6]]


def _pick_region(rng: random.Random, birth_year: int, xinjiang: bool) -> Region:
    """A region that existed in `birth_year`; in Xinjiang when asked, else 6% in
    Xinjiang and 12% in another autonomous region, prefecture or county (their long
    names: 广西壮族自治区…, …蒙古族藏族自治州…)."""
    pool = [r for r in regions() if r.since <= birth_year]
    roll = rng.random()
    if xinjiang or roll < 0.06:
        pool = [r for r in pool if r.code.startswith("65")] or pool
    elif roll < 0.18:
        pool = [r for r in pool if "自治" in r.prefix] or pool
    return rng.choice(pool)


# --------------------------------------------------------------------------- people


def _pick_ethnicity(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.75:
        return "汉"
    if roll < 0.88:
        names = list(_BIG_MINORITIES)
        return rng.choices(names, weights=[_BIG_MINORITIES[n] for n in names])[0]
    return rng.choice(ETHNICITIES[1:])


def _han_name(rng: random.Random, sex: str, covered: Callable[[str], bool]) -> tuple[str, str]:
    """A name and its kind: "compound" (欧阳…), "rare" (a rare given character) or
    "plain"."""
    compound = rng.random() < 0.08
    surname = rng.choice(COMPOUND_SURNAMES) if compound else rng.choice(SURNAMES)
    pool = (_GIVEN_MALE if sex == "男" else _GIVEN_FEMALE) + _GIVEN_ANY
    given_len = 1 if rng.random() < 0.3 else 2
    if len(surname) == 1 and rng.random() < 0.03:
        given_len = 3  # the occasional four-character name
    given = [rng.choice(pool) for _ in range(given_len)]
    kind = "compound" if compound else "plain"
    if rng.random() < 0.1:
        rare = [c for c in RARE_CHARS if covered(c)]
        if rare:
            given[rng.randrange(given_len)] = rng.choice(rare)
            kind = "rare"
    return surname + "".join(given), kind


def _dot_name(rng: random.Random, sex: str) -> str:
    own = _DOT_GIVEN_MALE if sex == "男" else _DOT_GIVEN_FEMALE
    father = rng.choice(_DOT_GIVEN_MALE)
    return f"{rng.choice(own)}·{father}"


def _birth_date(rng: random.Random) -> date:
    return LIVE_FROM + timedelta(days=rng.randrange((LIVE_TO - LIVE_FROM).days + 1))


def _id_number(region: Region, birth: date, sex: str, rng: random.Random) -> str:
    seq = rng.randrange(0, 1000)
    if (seq % 2 == 1) != (sex == "男"):
        seq = seq + 1 if seq < 999 else seq - 1
    body = f"{region.code}{birth:%Y%m%d}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


def _number(rng: random.Random, low: int, high: int) -> str:
    return str(rng.randint(low, high))


def _room(rng: random.Random) -> str:
    """A flat's number: floor then door, e.g. 1806, 501."""
    return f"{rng.randint(1, 33)}{rng.randint(1, 6):02d}"


def _estate(rng: random.Random) -> str:
    """An estate's name as developers coin them: 华润城润府, 复城国际, 锦绣华府."""
    return rng.choice(_ESTATE_STEMS) + rng.choice(_ESTATE_KINDS)


def _building(rng: random.Random) -> str:
    """Building / unit / flat written the ways addresses end in a number:
    5栋1806, 3-2-501, 29号楼2单元1601, 7幢302."""
    form = rng.randrange(4)
    if form == 0:
        return f"{_number(rng, 1, 32)}栋{_room(rng)}"
    if form == 1:
        return f"{_number(rng, 1, 12)}-{_number(rng, 1, 6)}-{_room(rng)}"
    if form == 2:
        return f"{_number(rng, 1, 40)}号楼{_number(rng, 1, 6)}单元{_room(rng)}"
    return f"{_number(rng, 1, 20)}幢{_room(rng)}"


def _street(rng: random.Random) -> tuple[str, str]:
    """The part after the county and its kind (`ADDRESS_KINDS`): rural (…组 / …号),
    road (…号), room (…室), digits (…5栋1806, …3-2-501), estate (…复城国际) or
    estate_digits (…华润城润府3栋2单元1601)."""
    kind = rng.choices(ADDRESS_KINDS, weights=(20, 12, 20, 20, 14, 14))[0]
    if kind == "rural":  # 乡镇 + 村 + 组 (+ 号)
        town = rng.choice(_PLACE_STEMS) + rng.choice(("镇", "乡"))
        village = rng.choice(_PLACE_STEMS) + "村"
        group = rng.choice(_DIGITS_CN) + "组" if rng.random() < 0.5 else _number(rng, 1, 12) + "组"
        return town + village + group + (_number(rng, 1, 199) + "号" if rng.random() < 0.7 else ""), kind
    road = rng.choice(_ROAD_STEMS) + rng.choice(_ROAD_KINDS)
    prefix = rng.choice(_PLACE_STEMS) + "街道" if rng.random() < 0.3 else ""
    street = prefix + road + _number(rng, 1, 999) + "号"
    if kind == "road":
        return street, kind
    if kind == "room":  # a flat: 小区 / 栋 / 单元 / 室
        if rng.random() < 0.5:
            street += rng.choice(_PLACE_STEMS) + rng.choice(_COMPOUNDS)
        street += _number(rng, 1, 32) + "栋"
        if rng.random() < 0.5:
            street += _number(rng, 1, 6) + "单元"
        return street + _room(rng) + "室", kind
    if kind == "digits":
        return street + _building(rng), kind
    if kind == "estate":
        return (street if rng.random() < 0.6 else road) + _estate(rng), kind
    return (street if rng.random() < 0.3 else road) + _estate(rng) + _building(rng), kind


def _address(rng: random.Random, region: Region) -> tuple[str, str]:
    prefix = region.prefix
    for _ in range(30):
        street, kind = _street(rng)
        if len(prefix) + len(street) <= ADDRESS_MAX_CHARS:
            return prefix + street, kind
    return (prefix + rng.choice(_ROAD_STEMS) + "路1号")[:ADDRESS_MAX_CHARS], "road"


def validity_years(birth: date, issued: date) -> int | None:
    """Years of validity by 《居民身份证法》第五条 (None: 长期), by age at issue."""
    age = issued.year - birth.year - ((issued.month, issued.day) < (birth.month, birth.day))
    if age < 16:
        return 5
    if age <= 25:
        return 10
    if age <= 45:
        return 20
    return None


def _add_years(day: date, years: int) -> date:
    return day.replace(year=day.year + years)


def _validity(rng: random.Random, birth: date) -> tuple[date, date | None]:
    first = max(birth + timedelta(days=1), ISSUE_FIRST)
    issued = first + timedelta(days=rng.randrange((ISSUE_LAST - first).days + 1))
    if issued.month == 2 and issued.day == 29:  # keep valid_to on the same month/day
        issued = issued.replace(day=28)
    years = validity_years(birth, issued)
    return issued, (_add_years(issued, years) if years else None)


def make_identity(rng: random.Random, covered: Callable[[str], bool] | None = None) -> Identity:
    """Draw one person. `covered(char)` says whether the fonts can draw a character."""
    covered = covered or (lambda _c: True)
    sex = rng.choice(("男", "女"))
    birth = _birth_date(rng)
    dotted = rng.random() < 0.05
    if dotted:
        ethnicity = rng.choice(_DOT_NAME_ETHNICITIES)
        name, name_kind = _dot_name(rng, sex), "dotted"
    else:
        ethnicity = _pick_ethnicity(rng)
        name, name_kind = _han_name(rng, sex, covered)
    region = _pick_region(rng, birth.year, xinjiang=dotted)
    valid_from, valid_to = _validity(rng, birth)
    address, address_kind = _address(rng, region)
    return Identity(
        name=name,
        sex=sex,
        ethnicity=ethnicity,
        birth_date=birth,
        address=address,
        id_number=_id_number(region, birth, sex, rng),
        issuing_authority=region.issuing_authority(),
        valid_from=valid_from,
        valid_to=valid_to,
        region=region,
        address_kind=address_kind,
        name_kind=name_kind,
    )
