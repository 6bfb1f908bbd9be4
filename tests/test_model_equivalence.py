"""The models compute what they computed when tests/fixtures/model_equivalence.pt was recorded.

Rewrites for speed (docs/fidelity.md, "Speed") must leave every output, loss, gradient and initial
weight of every ablation, baseline and bundled checkpoint unchanged to 1e-9 in float64
(tests/equivalence.py lists the cases and how they are recorded).
"""

from __future__ import annotations

import pytest
import torch
from equivalence import FIXTURE, cases, run_case, unpack

TOLERANCE = 1e-9
RECORDED = torch.load(FIXTURE, weights_only=True)
CASES = list(cases())


def test_the_record_covers_every_case() -> None:
    assert sorted(RECORDED) == sorted(case.name for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_model_reproduces_the_record(case) -> None:
    expected = unpack(RECORDED[case.name])
    actual = run_case(case)
    assert sorted(actual) == sorted(expected), case.name
    for name, value in expected.items():
        torch.testing.assert_close(
            actual[name], value, rtol=TOLERANCE, atol=TOLERANCE, msg=lambda text, name=name: f"{name}: {text}"
        )
