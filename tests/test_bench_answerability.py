"""`python -m bench.answerability --seeds`: several divisions of the articles and their mean."""

from __future__ import annotations

import pytest

from bench.answerability import _seeds, mean_rates


def test_seeds_are_read_as_ranges_and_lists_in_the_order_given() -> None:
    assert _seeds("1-3") == [1, 2, 3]
    assert _seeds("6,1,2") == [6, 1, 2]
    assert _seeds("6, 1-2,") == [6, 1, 2]


def test_the_mean_weighs_each_division_the_same() -> None:
    runs = [
        {"systems": {"ours": {"answer_rate": 1.0, "containment": 0.8, "false_answer_rate": 0.2}}},
        {"systems": {"ours": {"answer_rate": 0.9, "containment": 0.6, "false_answer_rate": 0.0}}},
    ]
    assert mean_rates(runs) == {"ours": pytest.approx({"answer_rate": 0.95, "containment": 0.7,
                                                       "false_answer_rate": 0.1})}
    assert mean_rates([]) == {}
