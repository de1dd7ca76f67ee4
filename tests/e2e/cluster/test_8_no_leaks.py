"""Scenario 8, no personal data in any log: every worker's output, every operator log,
every Event and every API object (batch status, Jobs, Pods) of the whole suite is checked
for the full ID numbers and names of the generated cards. It runs last (file order) and
checks what every earlier scenario left in the session's leak log, plus a batch of its own,
so it means something when run alone too."""

from __future__ import annotations

import math

import pytest

from tests.e2e.cluster.conftest import SIZES, CardLibrary, LeakLog, World, budget_s, report

pytestmark = pytest.mark.timeout(int(budget_s(SIZES.cards) + 600))


def test_no_log_line_holds_an_id_number_or_a_name(
    world: World, cards: CardLibrary, leak_log: LeakLog
) -> None:
    card_set = cards.get("leaks", SIZES.cards, seed=8, bad_inputs=True)
    src, out = world.buckets()
    keys = world.put_cards(src, card_set)
    with world.operator():
        world.apply("leaks", src, out, shardSize=math.ceil(len(keys) / 2))
        status = world.wait_finished("leaks", budget_s(len(keys)))
    records = world.check_complete("leaks", out, keys, status)

    # The values looked for are the ones a leak would show: the records hold them in full.
    read = {r.fields.id_number for r in records.values()} | {r.fields.name for r in records.values()}
    wanted = {lab["fields"][k] for lab in card_set.labels.values() if lab["fields"]
              for k in ("id_number", "name") if lab["fields"][k]}  # fmt: skip
    assert len(read & wanted) >= 0.8 * len(wanted), "the records carry the personal data"
    assert wanted <= leak_log.sensitive
    some_id = next(v for v in wanted if v[:6].isdigit())
    assert leak_log.leaks([("control", f"log line with {some_id}")]), "the check can see a leak"

    # This batch's texts, then everything the suite collected so far.
    world.check_no_leaks()
    sources = {source.split(" ")[0] for source, _ in leak_log.texts}
    assert {"operator", "pod", "events", "OcrBatch", "Job", "Pod"} <= sources
    assert all(text for source, text in leak_log.texts if source.startswith("operator log")), (
        "the operator logs were captured"
    )
    leaks = leak_log.leaks()
    assert not leaks, f"personal data in logs/API objects: {leaks[:20]}"
    size = sum(len(text) for _, text in leak_log.texts)
    report(f"scenario 8 (no leaks): {len(leak_log.sensitive)} ID numbers and names checked "
           f"against {len(leak_log.texts)} texts ({size / 1e6:.1f} MB): none found")  # fmt: skip
