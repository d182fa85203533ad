"""The mutation check's breaks (tests/mutations.py) still apply to the product code.

Running the breaks takes minutes and is not part of the suite; this only checks that each
break's anchor is found exactly once, so a change that moves the code fails here, loudly,
instead of leaving the mutation check to skip the break.
"""

from __future__ import annotations

import mutations
import pytest


@pytest.mark.parametrize("brk", mutations.BREAKS, ids=lambda b: b.name)
def test_the_break_applies_to_the_current_code(brk: mutations.Break) -> None:
    assert mutations.anchor_problem(brk) == "", (
        f"rewrite the break {brk.name}: it no longer applies"
    )


def test_break_names_are_unique() -> None:
    names = [b.name for b in mutations.BREAKS]
    assert len(names) == len(set(names))
