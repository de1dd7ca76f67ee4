"""Finding the fonts the card is printed with, and checking they cover a text.

Every face comes from a Debian package (`FACES` names it): Noto Sans/Serif CJK
(`fonts-noto-cjk`), the hei faces WenQuanYi Zen Hei and Micro Hei
(`fonts-wqy-zenhei`, `fonts-wqy-microhei`), the song (Ming) faces AR PL UMing
and AR PL SungtiL GB (`fonts-arphic-uming`, `fonts-arphic-gbsn00lp`), Droid Sans
Fallback (`fonts-droid-fallback`), the kai (brush) faces AR PL KaitiM GB, AR PL UKai
and LXGW WenKai regular, bold and light (`fonts-arphic-gkai00mp`, `fonts-arphic-ukai`,
`fonts-lxgw-wenkai`), the condensed oblique Smiley Sans (`fonts-smiley-sans`), and
the number's OCR-B (`fonts-ocr-b`) or DejaVu Sans Mono Bold (`fonts-dejavu-core`). They are
found by searching the usual font directories (then `fc-match`), never by a fixed
path; a face that is not installed raises `FontNotFoundError` naming its package
(no silent fallback).

The text faces do not all cover the same characters (SungtiL GB holds GB 2312
only): `has_glyph` tells, and the renderer draws a character a face lacks with
`FALLBACK_FACE`, as a card printer's font system would.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from PIL import ImageFont

FONT_DIRS: tuple[Path, ...] = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path.home() / ".local/share/fonts",
)


class FontNotFoundError(RuntimeError):
    """A font the generator needs is not installed."""


@dataclass(frozen=True)
class FontFace:
    """One face of a font file (a .ttc holds several)."""

    path: str
    index: int
    name: str


#: Face key → (file name, family name of the wanted face in the collection, package).
FACES: dict[str, tuple[str, str, str]] = {
    "sans": ("NotoSansCJK-Regular.ttc", "Noto Sans CJK SC", "fonts-noto-cjk"),
    "sans-bold": ("NotoSansCJK-Bold.ttc", "Noto Sans CJK SC", "fonts-noto-cjk"),
    "serif": ("NotoSerifCJK-Regular.ttc", "Noto Serif CJK SC", "fonts-noto-cjk"),
    "serif-bold": ("NotoSerifCJK-Bold.ttc", "Noto Serif CJK SC", "fonts-noto-cjk"),
    "hei": ("wqy-zenhei.ttc", "WenQuanYi Zen Hei", "fonts-wqy-zenhei"),
    "microhei": ("wqy-microhei.ttc", "WenQuanYi Micro Hei", "fonts-wqy-microhei"),
    "ming": ("uming.ttc", "AR PL UMing CN", "fonts-arphic-uming"),
    "sungti": ("gbsn00lp.ttf", "AR PL SungtiL GB", "fonts-arphic-gbsn00lp"),
    "droid": ("DroidSansFallbackFull.ttf", "Droid Sans Fallback", "fonts-droid-fallback"),
    "kai": ("gkai00mp.ttf", "AR PL KaitiM GB", "fonts-arphic-gkai00mp"),
    "wenkai": ("LXGWWenKai-Regular.ttf", "LXGW WenKai", "fonts-lxgw-wenkai"),
    "wenkai-bold": ("LXGWWenKai-Bold.ttf", "LXGW WenKai", "fonts-lxgw-wenkai"),
    "wenkai-light": ("LXGWWenKai-Light.ttf", "LXGW WenKai", "fonts-lxgw-wenkai"),
    "ukai": ("ukai.ttc", "AR PL UKai CN", "fonts-arphic-ukai"),
    "smiley": ("SmileySans-Oblique.ttf", "Smiley Sans", "fonts-smiley-sans"),
    "ocrb": ("OCRB.otf", "OCR B", "fonts-ocr-b"),
    "mono-bold": ("DejaVuSansMono-Bold.ttf", "DejaVu Sans Mono", "fonts-dejavu-core"),
}
#: The hei-style (sans) and song-style (serif) text faces.
HEI_FACES: tuple[str, ...] = ("sans", "sans-bold", "hei", "microhei", "droid", "smiley")
SONG_FACES: tuple[str, ...] = ("serif", "serif-bold", "ming", "sungti")
#: Draws the characters another text face lacks.
FALLBACK_FACE = "sans"


def _search_dirs(file_name: str) -> Path | None:
    for root in FONT_DIRS:
        if root.is_dir():
            for hit in sorted(root.rglob(file_name)):
                return hit
    return None


def _fc_match(family: str, file_name: str) -> Path | None:
    exe = shutil.which("fc-match")
    if not exe:
        return None
    try:
        out = subprocess.run(
            [exe, "-f", "%{file}", family], capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out) if out and Path(out).name == file_name else None


@cache
def face(key: str) -> FontFace:
    """The face named `key` (a key of `FACES`); FontNotFoundError names the package
    to install when it is missing."""
    if key not in FACES:
        raise KeyError(f"unknown font face {key!r}; known: {sorted(FACES)}")
    file_name, family, package = FACES[key]
    path = _search_dirs(file_name) or _fc_match(family, file_name)
    if path is None:
        raise FontNotFoundError(
            f"font {file_name} ({family}) not found; install the Debian package {package!r}"
        )
    for index in range(16):
        try:
            found = ImageFont.truetype(str(path), 12, index=index)
        except OSError:
            break
        if found.getname()[0] == family:
            return FontFace(str(path), index, family)
    raise FontNotFoundError(f"{path} has no face {family!r}; reinstall {package!r}")


@lru_cache(maxsize=512)
def font(key: str, size_px: int) -> ImageFont.FreeTypeFont:
    """A loaded font of `key` at `size_px` (em size), cached."""
    f = face(key)
    return ImageFont.truetype(f.path, max(4, size_px), index=f.index, layout_engine=ImageFont.Layout.BASIC)


@lru_cache(maxsize=8)
def _notdef_masks(key: str) -> frozenset[bytes]:
    f = font(key, 40)
    return frozenset(_mask(f, ch) for ch in ("\U0010fffd", "\ue000", "\u0378"))


def _mask(f: ImageFont.FreeTypeFont, ch: str) -> bytes:
    mask = f.getmask(ch)
    return repr(mask.size).encode() + bytes(mask)


@lru_cache(maxsize=65536)
def has_glyph(key: str, ch: str) -> bool:
    """Whether face `key` draws `ch` with a glyph of its own (not the .notdef box)."""
    if ch.isspace():
        return True
    return _mask(font(key, 40), ch) not in _notdef_masks(key)


def missing_glyphs(text: str, keys: tuple[str, ...] = ("sans", "serif")) -> set[str]:
    """The characters of `text` that any of the faces `keys` cannot draw."""
    return {ch for ch in set(text) for k in keys if not has_glyph(k, ch)}


def covered(ch: str) -> bool:
    """Whether the Noto faces (the fallback of every text face) can draw `ch`."""
    return not missing_glyphs(ch, ("sans", "serif", "sans-bold", "serif-bold"))


def runs(key: str, text: str) -> list[tuple[str, str]]:
    """`text` cut into (face, part) runs: `key` where it has the glyph, else
    `FALLBACK_FACE`."""
    out: list[tuple[str, str]] = []
    for ch in text:
        use = key if key == FALLBACK_FACE or has_glyph(key, ch) else FALLBACK_FACE
        if out and out[-1][0] == use:
            out[-1] = (use, out[-1][1] + ch)
        else:
            out.append((use, ch))
    return out
