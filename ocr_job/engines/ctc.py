"""Two CTC recognisers' opinions on one text line, joined into one reading and a score.

Each recogniser gives, per time step, a probability for every character of its alphabet
(index 0: the CTC blank). A reading's likelihood under a recogniser is the sum over every
alignment of its characters to the time steps (the CTC forward algorithm), so two
recognisers with different alphabets and time steps can judge the same strings. The
candidates are each recogniser's best path, with its doubtful characters swapped for
their runners-up or left out; the reading is the candidate the two find likeliest
together, and its score is its share of the candidates' joint likelihood.

Why: the bundled PP-OCRv6 recogniser is sure of some substitutions for rare name
characters (骉 read as 弱 at 0.95, 婳 as 嫡 at 0.99), and its own scores cannot tell them
from right readings; a second recogniser trained apart (PP-OCRv5) errs elsewhere.
Measured on name lines in docs/benchmarks.md.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np

#: A character whose best probability at its peak is below this is doubtful: its
#: runners-up (and leaving it out) are candidates too.
DOUBTFUL = 0.95
#: Runners-up considered per doubtful character, and the least probability they need.
RUNNERS_UP = 3
MIN_RUNNER_UP = 0.02
#: A letter this likely at a step the blank won is a candidate too (a character the best
#: path read as nothing).
MIN_CHAR_IN_GAP = 0.05
#: The middle dot of a transcribed name (热娜·吐鲁洪) and the forms it is read as: small
#: enough for the blank to win its steps, so in a gap it is doubted like a letter.
NAME_DOTS = frozenset("·•・‧∙⋅･．")
#: How far a row of probabilities may sum from 1 (float32 softmax).
_ROUNDING = 1e-4
#: A class fainter than this at a step is nobody's rival: it moves a margin by less than
#: the five decimals it is rounded to.
_FAINT = 1e-6
#: The most candidates made from one recogniser's output.
MAX_CANDIDATES = 64
#: When a line must hold one of some known values (a closed vocabulary: the issuing
#: authorities of the place table), any other reading is weighed at this share of its
#: likelihood: a reading no table holds is a misreading unless the recognisers are far
#: surer of it than of every known value (渑池县 read 绳池县: the known 渑 1.6 nats below
#: 绳 on the box, 0.35 over four cuts and recognisers; the other known X池县 ~50 below).
OUTSIDE_KNOWN = 0.01


@dataclass(frozen=True, slots=True)
class Opinion:
    """One recogniser's output for a line: per-step probabilities over its alphabet."""

    probs: np.ndarray  # (steps, len(alphabet)), rows sum to 1
    alphabet: Sequence[str]  # index 0 is the CTC blank

    def index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.alphabet) if i}


def log_likelihood(probs: np.ndarray, labels: Sequence[int]) -> float:
    """log P(labels) under CTC: the sum over every alignment to the steps of `probs`.

    Only the columns of the blank and the labels are taken to logarithms (the alphabet has
    ~18,000: the whole matrix's logarithm, once per candidate, was most of a second
    opinion's CPU time)."""
    ext = np.zeros(2 * len(labels) + 1, dtype=np.int64)
    ext[1::2] = labels
    logp = np.log(np.maximum(probs[:, ext], 1e-30))  # (steps, len(ext))
    skip = np.zeros(len(ext), dtype=bool)
    skip[2:] = (ext[2:] != 0) & (ext[2:] != ext[:-2])
    alpha = np.full(len(ext), -np.inf)
    alpha[0] = logp[0, 0]
    if len(ext) > 1:
        alpha[1] = logp[0, 1]
    for t in range(1, len(logp)):
        stay_or_step = np.logaddexp(alpha, np.concatenate(([-np.inf], alpha[:-1])))
        jump = np.concatenate(([-np.inf, -np.inf], alpha[:-2]))
        alpha = np.where(skip, np.logaddexp(stay_or_step, jump), stay_or_step) + logp[t]
    return float(np.logaddexp(alpha[-1], alpha[-2]) if len(ext) > 1 else alpha[-1])


@dataclass(frozen=True, slots=True)
class Line:
    """The best path of one recogniser's output: what rapidocr's greedy decoder returns
    (text, and the mean of each character's probability at its first step as the score),
    and each character's own doubt."""

    text: str
    score: float
    #: Per character of `text`: its probability at its peak step less the likeliest other
    #: character's there (the CTC blank aside). Near 1: no other character was in view.
    chars: tuple[float, ...]

    def lowest(self) -> float:
        """The least sure letter's or digit's margin (1.0: none): a space or a dot read with
        doubt changes no name."""
        return min((c for c, ch in zip(self.chars, self.text, strict=True) if ch.isalnum()), default=1.0)


def best_path(probs: np.ndarray, alphabet: Sequence[str]) -> Line:
    """Greedy CTC decoding of `probs` (steps × alphabet, index 0 the blank), as rapidocr's
    `CTCLabelDecode` does it, with each emitted character's margin (`Line.chars`).

    A line's score is a mean: one character the recogniser hesitated over (赟 or 赞 at 0.6
    / 0.4) hides among sure ones. Its margin does not. Its rivals are letters and digits
    only: a dash or a dot in second place (一 or —, · or ・) changes no name."""
    best = probs.argmax(axis=1)
    text: list[str] = []
    firsts: list[float] = []
    chars: list[float] = []
    for step in np.flatnonzero(best):
        index = int(best[step])
        row = probs[step]
        top = _top(row)
        margin = _own(row, index, alphabet, top) - _rival(row, index, alphabet, top)
        if step == 0 or best[step - 1] != index:  # a new character begins
            text.append(alphabet[index])
            firsts.append(round(float(row[index]), 5))
            chars.append(margin)
        else:  # the same character held over another step: its best step counts
            chars[-1] = max(chars[-1], margin)
    _doubt_the_gaps(probs, best, alphabet, chars)
    score = float(np.mean(firsts).round(5)) if firsts else 0.0  # as rapidocr rounds it
    return Line("".join(text), score, tuple(round(c, 5) for c in chars))


def _doubt_the_gaps(probs: np.ndarray, best: np.ndarray, alphabet: Sequence[str], chars: list[float]) -> None:
    """Each character's margin lowered to the least margin of the blank steps after it (the
    first character's, of those before it too): a blank that won a step with little margin
    over a letter may be a character read as nothing (韩婳振 read 韩振 at 1.0 per character,
    婳 at 0.12 under a blank of 0.41 at one step), or a name's middle dot read as nothing
    (热娜吐鲁洪 at 0.99 per character, · at 0.46 under the blank). The characters on either
    side of the gap are no rivals there but count with the blank: a character fades in and
    out over the steps around its own."""
    if not chars:
        return
    letters = np.flatnonzero(best)
    starts = [int(t) for t in letters if t == 0 or best[t - 1] != best[t]]
    # A rival there has at most what the blank left (rows sum to 1): most gaps are sure.
    open_gaps = (best == 0) & (probs[:, 0] <= 1.0 - MIN_CHAR_IN_GAP + _ROUNDING)
    for step in np.flatnonzero(open_gaps):
        before = max(int(np.searchsorted(starts, step)) - 1, 0)  # the character the gap follows
        left, right = letters[letters < step], letters[letters > step]
        beside = {_simplified(alphabet[int(best[t])]) for t in (*left[-1:], *right[:1])}
        row = probs[step]
        top = [int(i) for i in _top(row) if i and (alphabet[i].isalnum() or alphabet[i] in NAME_DOTS)]
        nothing_new = float(row[0]) + sum(float(row[i]) for i in top if _simplified(alphabet[i]) in beside)
        rival = next((float(row[i]) for i in top if _simplified(alphabet[i]) not in beside), 0.0)
        if rival >= MIN_CHAR_IN_GAP:  # fainter: no candidate (`candidates`), no doubt
            chars[before] = min(chars[before], nothing_new - rival)


def _top(row: np.ndarray, look: int = 6) -> np.ndarray:
    """The `look` likeliest classes at this step, likeliest first, of those above `_FAINT`
    (a few of the alphabet's ~18,000 at a step: partitioning the whole row was most of the
    decoder's CPU time)."""
    some = np.flatnonzero(row > _FAINT)
    if len(some) > look:
        some = some[np.argpartition(-row[some], look - 1)[:look]]
    return some[np.argsort(-row[some])]


def _own(row: np.ndarray, index: int, alphabet: Sequence[str], top: np.ndarray) -> float:
    """The probability of `index`'s character at this step, in any of its forms among the
    likeliest classes `top`: 鹏 0.77 with 鵬 0.23 (a song face) is one name character at 1.0,
    which the parser prints simplified (`vocab.simplified_char`)."""
    own = _simplified(alphabet[index])
    return float(row[index]) + sum(
        float(row[i]) for i in top if i not in (0, index) and _simplified(alphabet[i]) == own
    )


def _rival(row: np.ndarray, index: int, alphabet: Sequence[str], top: np.ndarray) -> float:
    """The probability of the likeliest letter or digit at this step that is another
    character than `index`'s (not the blank, nor its other form), among the likeliest
    classes `top` (0.0: none there)."""
    own = _simplified(alphabet[index])
    for other in top:
        if other not in (0, index) and alphabet[other].isalnum() and _simplified(alphabet[other]) != own:
            return float(row[other])
    return 0.0


def _simplified(ch: str) -> str:
    from ocr_job.idcard.vocab import simplified_char  # the parser's one definition of it

    return simplified_char(ch)


def candidates(opinion: Opinion) -> set[str]:
    """The best path's text, and the texts with doubtful characters swapped or left out."""
    probs, alphabet = opinion.probs, opinion.alphabet
    options: list[list[str]] = []
    previous = 0
    for step, best in enumerate(probs.argmax(axis=1)):
        if best and best != previous:
            if probs[step, best] >= DOUBTFUL:
                options.append([alphabet[best]])
            else:
                ranked = _runners_up(probs[step])
                options.append([alphabet[i] for i in ranked if probs[step, i] >= MIN_RUNNER_UP] + [""])
        elif not best and probs[step, 0] < DOUBTFUL:  # a doubtful blank: a character read as nothing?
            missed = [alphabet[i] for i in _runners_up(probs[step]) if probs[step, i] >= MIN_CHAR_IN_GAP]
            if missed:
                options.append(["", *missed])
        previous = best
    return {"".join(combo) for combo in itertools.islice(itertools.product(*options), MAX_CANDIDATES)}


def _runners_up(row: np.ndarray) -> list[int]:
    """The RUNNERS_UP likeliest letters at a step (not the blank), likeliest first (`_top`)."""
    return [int(i) for i in _top(row, RUNNERS_UP + 1) if i][:RUNNERS_UP]


def joint_reading(
    opinions: Sequence[Opinion],
    also: Sequence[str] = (),
    same: Callable[[str], str] = str,
    known: Collection[str] = (),
) -> tuple[str, float] | None:
    """The candidate the recognisers find likeliest together, and the share of the
    candidates' joint likelihood of those that read the same as it (`same`: a text's
    meaning, as the parser will take it: 姓名 宋俊強 and 姓名宋俊强 are one name); None
    when no candidate is writable in every alphabet. `known`: the values the line may
    hold, when it must hold one of them: every other reading is weighed at OUTSIDE_KNOWN."""
    pool = set(also) | set(known)
    for opinion in opinions:
        pool |= candidates(opinion)
    indexes = [opinion.index() for opinion in opinions]
    outside = math.log(OUTSIDE_KNOWN) if known else 0.0
    scored: dict[str, float] = {}
    for text in pool:
        if not text.strip():
            continue
        total = 0.0 if text in known else outside
        for opinion, index in zip(opinions, indexes, strict=True):
            labels = [index.get(c) for c in text]
            if None in labels:
                total = -math.inf
                break
            total += log_likelihood(opinion.probs, labels)  # type: ignore[arg-type]
        if total > -math.inf:
            scored[text] = total
    if not scored:
        return None
    best = max(scored, key=scored.__getitem__)
    top = scored[best]
    weights = {text: math.exp(v - top) for text, v in scored.items()}
    meaning = same(best)
    agreeing = sum(w for text, w in weights.items() if same(text) == meaning)
    return best, agreeing / sum(weights.values())


def agreed_chars(
    text: str, lines: Sequence[Line], same: Callable[[str], str] = str, share: float | None = None
) -> tuple[float, ...]:
    """Each character of `text` (a joint reading) scored by the surest recogniser whose own
    best path (`lines`) reads the same (`same`): its character's margin where its best path
    is as long as `text` (character by character: 黃 for 黄 is the same name), else its
    least sure letter's (`Line.lowest`) for every character.

    When no recogniser's best path reads the same (the reading is a known value they were
    offered, or a mix of theirs), `share` (the joint share) scores the characters, but one
    that every best path, each as long as `text`, reads at its place: the surest margin
    (峄城区 offered where both read 峰城区杨: 峄 gets the share, 杨 keeps its own margin).
    Empty without `share`: the joint share is all there is.

    Two recognisers may agree on a wrong reading of a rare character (汤翀梓 read 汤肿梓 by
    both, at margins 0.32 and 0.68: a joint share of 0.99); neither was sure of it."""
    meaning = same(text)
    agreed: tuple[float, ...] = ()
    for line in lines:
        if same(line.text) != meaning:
            continue
        scores = _aligned(line, text)
        agreed = tuple(map(max, agreed, scores)) if agreed else scores
    if agreed or share is None:
        return agreed
    return _placed_alike(text, lines, share)


def _placed_alike(text: str, lines: Sequence[Line], share: float) -> tuple[float, ...]:
    """`share` for each character of `text`, but the surest margin for one that every line
    (each as long as `text`) reads at its place."""
    if not lines or any(len(line.text) != len(text) for line in lines):
        return (share,) * len(text)
    out = []
    for k, ch in enumerate(text):
        alike = all(line.text[k] == ch for line in lines)
        out.append(max(line.chars[k] for line in lines) if alike else share)
    return tuple(out)


def _aligned(line: Line, text: str) -> tuple[float, ...]:
    """`line`'s margins for the characters of `text`: its own, character by character, when
    the two differ in spaces at most (`姓 名 陆鹏安` read for `姓名陆鹏安`: a spaced label), else
    its least sure letter's for every character. A space of `text` gets 1.0 (it is no letter)."""
    if len(line.text) == len(text):
        return line.chars
    mine = [c for c, ch in zip(line.chars, line.text, strict=True) if not ch.isspace()]
    theirs = [i for i, ch in enumerate(text) if not ch.isspace()]
    if len(mine) != len(theirs):
        return (line.lowest(),) * len(text)
    out = [1.0] * len(text)
    for i, c in zip(theirs, mine, strict=True):
        out[i] = c
    return tuple(out)
