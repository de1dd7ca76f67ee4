"""Joining two CTC recognisers' opinions: the forward algorithm, candidates, agreement."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocr_job.engines import ctc
from ocr_job.idcard.vocab import simplified_char

ALPHABET = ["blank", "a", "b", "c"]


def _collapse(path: tuple[int, ...]) -> tuple[int, ...]:
    out: list[int] = []
    previous = -1
    for step in path:
        if step != previous and step != 0:
            out.append(step)
        previous = step
    return tuple(out)


def _brute_force(probs: np.ndarray, labels: tuple[int, ...]) -> float:
    """log P(labels): every path over the steps whose collapse is `labels`."""
    total = 0.0
    for path in itertools.product(range(probs.shape[1]), repeat=probs.shape[0]):
        if _collapse(path) == labels:
            total += math.prod(probs[t, c] for t, c in enumerate(path))
    return math.log(total) if total else -math.inf


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    steps=st.integers(1, 5),
    labels=st.lists(st.integers(1, 3), min_size=1, max_size=3),
)
def test_log_likelihood_is_the_sum_over_all_alignments(seed: int, steps: int, labels: list[int]) -> None:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(len(ALPHABET)), size=steps)
    got = ctc.log_likelihood(probs, labels)
    want = _brute_force(probs, tuple(labels))
    if want == -math.inf:
        assert got < -50  # no alignment fits: only the 1e-30 floor remains
    else:
        assert got == pytest.approx(want, rel=1e-6)


def _opinion(peaks: list[dict[str, float]], alphabet: list[str]) -> ctc.Opinion:
    """Steps alternating a character peak (the given probabilities) and a sure blank."""
    rows = []
    for peak in peaks:
        row = np.full(len(alphabet), 1e-6)
        for char, p in peak.items():
            row[alphabet.index(char)] = p
        rows.append(row / row.sum())
        blank = np.full(len(alphabet), 1e-6)
        blank[0] = 1.0
        rows.append(blank / blank.sum())
    return ctc.Opinion(np.array(rows), alphabet)


def test_candidates_swap_and_drop_only_doubtful_characters() -> None:
    opinion = _opinion([{"a": 0.99}, {"b": 0.6, "c": 0.3}], ALPHABET)
    assert ctc.candidates(opinion) == {"ab", "ac", "a"}


def test_a_character_one_recogniser_misreads_with_confidence_is_outvoted() -> None:
    """The first is sure-ish of the wrong `b`; the second, trained apart, of `c`."""
    first = _opinion([{"a": 0.99}, {"b": 0.55, "c": 0.35}], ALPHABET)
    second = _opinion([{"a": 0.99}, {"c": 0.9, "b": 0.05}], ALPHABET)
    text, share = ctc.joint_reading([first, second])  # type: ignore[misc]
    assert text == "ac"
    assert 0.5 < share < 1.0
    alone, _ = ctc.joint_reading([first])  # type: ignore[misc]
    assert alone == "ab"


def test_readings_that_mean_the_same_pool_their_share() -> None:
    alphabet = [*ALPHABET, "A"]
    first = _opinion([{"a": 0.5, "A": 0.45}, {"b": 0.99}], alphabet)
    text, share = ctc.joint_reading([first])  # type: ignore[misc]
    assert text == "ab" and share < 0.6
    _, pooled = ctc.joint_reading([first], same=str.lower)  # type: ignore[misc]
    assert pooled > 0.95


def test_a_known_value_outweighs_a_slightly_likelier_reading_no_table_holds() -> None:
    """A line that must hold a known value (an authority): 渑池县 read 绳池县 (`b` for `c`)
    by a little is taken as the known one; a known value the glyphs speak against is not."""
    close = _opinion([{"a": 0.99}, {"b": 0.6, "c": 0.35}], ALPHABET)
    assert ctc.joint_reading([close]) == ("ab", pytest.approx(0.6 / 0.95, abs=0.05))
    text, share = ctc.joint_reading([close], also=["ab"], known=["ac"])  # type: ignore[misc]
    assert text == "ac" and share > 0.9
    far = _opinion([{"a": 0.99}, {"b": 0.97, "c": 0.001}], ALPHABET)
    text, _ = ctc.joint_reading([far], also=["ab"], known=["ac"])  # type: ignore[misc]
    assert text == "ab"


def test_two_known_values_the_glyphs_cannot_tell_apart_share_the_doubt() -> None:
    alphabet = [*ALPHABET, "d"]
    both = _opinion([{"a": 0.99}, {"b": 0.5, "c": 0.25, "d": 0.24}], alphabet)
    text, share = ctc.joint_reading([both], also=["ab"], known=["ac", "ad"])  # type: ignore[misc]
    assert text in ("ac", "ad") and share < 0.6


def test_no_reading_when_no_candidate_is_in_both_alphabets() -> None:
    first = _opinion([{"a": 0.99}], ALPHABET)
    second = _opinion([{"x": 0.99}], ["blank", "x"])
    assert ctc.joint_reading([first, second]) is None


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), steps=st.integers(1, 12), peaked=st.booleans())
def test_the_best_path_reads_as_rapidocrs_decoder_does(seed: int, steps: int, peaked: bool) -> None:
    """The engine decodes the recogniser's output itself (to keep each character's margin):
    text and score must stay what rapidocr's `CTCLabelDecode` gives."""
    from rapidocr.ch_ppocr_rec.utils import CTCLabelDecode

    rng = np.random.default_rng(seed)
    alphabet = ["x", "y", "z", "w"]
    probs = rng.dirichlet(np.full(len(alphabet) + 2, 0.3 if peaked else 1.0), size=steps)
    decoder = CTCLabelDecode(character=list(alphabet))
    [(text, score)], _ = decoder(probs[np.newaxis])
    line = ctc.best_path(probs, decoder.character)
    assert (line.text, line.score) == (text, score)
    assert len(line.chars) == len(line.text)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), steps=st.integers(1, 30))
def test_faint_classes_move_no_margin_beyond_its_rounding(seed: int, steps: int) -> None:
    """The decoder looks only at the classes above `ctc._FAINT` at a step: over a wide
    alphabet where most classes are faint, each margin is what the whole row gives (the
    peak less the likeliest other letter there) to its five decimals."""
    rng = np.random.default_rng(seed)
    # characters that are their own simplified form: no two are forms of one character
    # (`ctc._own` counts those as one)
    alphabet = ["blank", *(c for c in map(chr, range(0x4E00, 0x5400)) if simplified_char(c) == c)][:2001]
    logits = rng.normal(0.0, 4.0, size=(steps, len(alphabet)))
    logits[np.arange(steps), rng.integers(0, len(alphabet), steps)] += rng.uniform(10, 40, steps)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    best = probs.argmax(axis=1)
    margins: list[float] = []
    for t in np.flatnonzero(best):
        others = np.delete(probs[t], [0, best[t]])
        margin = float(probs[t, best[t]] - others.max())
        if t and best[t - 1] == best[t]:
            margins[-1] = max(margins[-1], margin)
        else:
            margins.append(margin)
    no_doubtful_gap = probs[best == 0, 0].min(initial=1.0) > 1.0 - ctc.MIN_CHAR_IN_GAP
    line = ctc.best_path(probs, alphabet)
    if no_doubtful_gap:
        assert line.chars == pytest.approx(tuple(margins), abs=2e-5)
    else:  # a doubtful gap may only lower a margin
        assert all(c <= m + 2e-5 for c, m in zip(line.chars, margins, strict=True))


def test_a_characters_margin_is_its_lead_over_the_likeliest_other_character() -> None:
    """A mean over the line hides the one character the recogniser hesitated over; its
    margin shows it. The blank is no rival, and a character held over several steps
    counts at its best step."""
    probs = np.array(
        [
            # blank  a     b     c
            [0.00, 0.95, 0.05, 0.00],  # a, sure
            [1.00, 0.00, 0.00, 0.00],
            [0.05, 0.00, 0.60, 0.35],  # b, or c?
            [0.50, 0.45, 0.03, 0.02],  # blank
            [0.40, 0.55, 0.03, 0.02],  # a, beginning faint...
            [0.00, 0.95, 0.03, 0.02],  # ...and held: its best step counts
        ]
    )
    line = ctc.best_path(probs, ALPHABET)
    assert line.text == "aba"
    assert line.chars == pytest.approx((0.90, 0.25, 0.92))
    assert line.score == pytest.approx((0.95 + 0.60 + 0.55) / 3, abs=1e-5)


def test_the_same_character_in_its_other_form_is_no_rival() -> None:
    """鵬 behind 鹏 is one name character (the parser prints it simplified): the margin is
    the lead of the character in any of its forms over the likeliest *other* character; a
    true rival still counts."""
    alphabet = ["blank", "鹏", "鵬", "朋"]
    probs = np.array([[0.00, 0.77, 0.23, 0.00], [1.0, 0.0, 0.0, 0.0], [0.00, 0.60, 0.05, 0.35]])
    line = ctc.best_path(probs, alphabet)
    assert line.text == "鹏鹏"
    assert line.chars == pytest.approx((1.0, 0.30))


def test_a_dash_behind_one_is_the_same_name_character() -> None:
    """The recognisers return a dash for 一 (郝莉一: 一 0.72, — 0.28 at its step); no name
    holds a dash, and the parser reads one after a name's character as 一: the dash's
    probability is 一's own, not a doubt about it."""
    alphabet = ["blank", "莉", "一", "—", "二"]
    probs = np.array([[0.0, 1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.72, 0.28, 0.0]])
    assert ctc.best_path(probs, alphabet).chars == pytest.approx((1.0, 1.0))
    rival = np.array([[0.0, 1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.60, 0.10, 0.30]])
    assert ctc.best_path(rival, alphabet).chars == pytest.approx((1.0, 0.40))


def test_agreed_characters_line_up_across_a_spaced_label() -> None:
    """A recogniser that read the spaced label `姓 名` still scores each character of the
    joint reading `姓名陆鹏安` as its own, not its least sure letter's for all of them."""
    spaced = ctc.Line("姓 名 陆鹏安", 0.88, (1.0, 0.5, 1.0, 0.6, 1.0, 0.36, 1.0))
    plain = ctc.Line("姓名陆鹏安", 0.96, (1.0, 1.0, 0.98, 0.6, 1.0))
    unspaced = lambda t: t.replace(" ", "")  # noqa: E731 - what the parser's meaning does
    assert ctc.agreed_chars("姓名陆鹏安", [spaced, plain], unspaced) == (1.0, 1.0, 1.0, 0.6, 1.0)
    short = ctc.Line("姓名陆安", 0.9, (1.0, 1.0, 0.99, 0.7))
    assert ctc.agreed_chars("姓名陆鹏安", [short], same=lambda t: "x") == (0.7,) * 5


def test_a_known_value_no_recogniser_read_keeps_the_margins_of_the_characters_all_read_alike() -> None:
    """峄城区 offered where both recognisers read 峰城区杨: the changed character scores the
    joint share, the ones every best path reads at their place keep the surest margin (the
    street's 杨 stays sure, so the doubt lies in the place name alone); with a best path of
    another length, or none, every character scores the share."""
    first = ctc.Line("峰城区杨", 0.8, (0.42, 1.0, 0.97, 0.99))
    second = ctc.Line("峰城区杨", 0.9, (0.6, 0.98, 1.0, 0.9))
    assert ctc.agreed_chars("峄城区杨", [first, second], share=0.51) == (0.51, 1.0, 1.0, 0.99)
    mixed = ctc.Line("峰城区扬", 0.9, (0.6, 0.98, 1.0, 0.9))
    assert ctc.agreed_chars("峄城区杨", [first, mixed], share=0.51) == (0.51, 1.0, 1.0, 0.51)
    shorter = ctc.Line("峰城杨", 0.9, (0.6, 0.98, 0.9))
    assert ctc.agreed_chars("峄城区杨", [first, shorter], share=0.51) == (0.51,) * 4
    assert ctc.agreed_chars("峄城区杨", [first, second]) == ()


def test_a_character_read_as_nothing_is_doubted_and_is_a_candidate() -> None:
    """A blank that wins a step by little over a letter may be a character the best path
    read as nothing (韩婳振 read 韩振, each character at 1.0): the character before the gap
    takes that doubt, and the text with the letter in the gap is a candidate."""
    probs = np.array(
        [
            # blank  a     b     c
            [0.00, 1.00, 0.00, 0.00],  # a
            [1.00, 0.00, 0.00, 0.00],
            [0.55, 0.00, 0.40, 0.05],  # blank, or b?
            [1.00, 0.00, 0.00, 0.00],
            [0.00, 0.00, 0.00, 1.00],  # c
        ]
    )
    line = ctc.best_path(probs, ALPHABET)
    assert line.text == "ac"
    assert line.chars == pytest.approx((0.20, 1.0))  # a: 0.55 + 0.05 (c fading in) - 0.40 (b) at the gap
    assert {"ac", "abc"} <= ctc.candidates(ctc.Opinion(probs, ALPHABET))


@pytest.mark.parametrize(("sign", "doubted"), [("·", True), (".", False), ("-", False)])
def test_a_names_middle_dot_read_as_nothing_is_doubted(sign: str, doubted: bool) -> None:
    """热娜·吐鲁洪 read 热娜吐鲁洪 at 0.99 per character, the dot at 0.46 under the blank:
    the character before the gap takes that doubt, so the name is read again. A full stop
    or a dash in a gap is no name's (dates and numbers hold them)."""
    alphabet = [*ALPHABET, sign]
    probs = np.array(
        [
            # blank  a     b     c   sign
            [0.00, 1.00, 0.00, 0.00, 0.00],  # a
            [0.54, 0.00, 0.00, 0.00, 0.46],  # blank, or the dot?
            [0.00, 0.00, 0.00, 1.00, 0.00],  # c
        ]
    )
    line = ctc.best_path(probs, alphabet)
    assert line.text == "ac"
    assert line.chars == pytest.approx((0.08, 1.0) if doubted else (1.0, 1.0))


def test_a_character_fading_in_beside_the_gap_is_no_rival_there() -> None:
    """The steps around a character's own hold some of it (it fades in and out): the
    characters on either side of a gap are no rivals of its blank."""
    probs = np.array(
        [
            # blank  a     b     c
            [0.00, 1.00, 0.00, 0.00],  # a
            [0.55, 0.45, 0.00, 0.00],  # a fading out
            [0.55, 0.00, 0.00, 0.45],  # c fading in
            [0.00, 0.00, 0.00, 1.00],  # c
        ]
    )
    assert ctc.best_path(probs, ALPHABET).chars == pytest.approx((1.0, 1.0))
