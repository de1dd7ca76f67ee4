"""Run pytest in this process and print the CPU time of the process itself (all its threads:
the test, the in-process Kubernetes API, the pod runner, kopf) apart from its children's
(the workers it started), e.g.

    OCRBATCH_E2E_SIZE=smoke python -m scripts.harness_cpu -q tests/e2e/cluster/test_1_happy_path.py

(docs/reliability.md quotes its figures). Its exit status is pytest's."""

from __future__ import annotations

import resource
import sys
import time

import pytest


def main(args: list[str]) -> int:
    started = time.monotonic()
    code = pytest.main(args)
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        f"harness (this process) CPU {own.ru_utime + own.ru_stime:.1f} s "
        f"(user {own.ru_utime:.1f}, sys {own.ru_stime:.1f}); children "
        f"{children.ru_utime + children.ru_stime:.1f} s; wall {time.monotonic() - started:.0f} s",
        flush=True,
    )
    return int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
