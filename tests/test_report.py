"""Reporting: sentences computed from the numbers say what the numbers say."""
from __future__ import annotations

import numpy as np

from audiomnist_core import report


def _padding(default: float, flat: float) -> dict:
    return {("digits", None): np.array([default, default]), ("digits", "epsilon_plus_flat"): np.array([flat, flat])}


def test_the_padding_reading_says_a_zero_under_z_plus_confirms_the_code_not_the_paper():
    text = report.padding_reading(_padding(0.0, 0.12), "digits")
    assert text.startswith("exactly 0 % under the default composite, as it must be")
    assert "it is 12.0 %" in text and "only under rules that scale with the input" in text


def test_the_padding_reading_flags_a_default_share_that_is_not_zero():
    text = report.padding_reading(_padding(0.003, 0.001), "digits")
    assert text.startswith("0.3 % under the default composite, where z+ should give exactly 0 %")
    assert "even the flat rule leaves the padding almost nothing" in text


def test_mean_std_is_the_sample_std_over_folds():
    assert report.mean_std([1.0, 3.0]) == (2.0, 2.0 ** 0.5)
    assert report.mean_std([5.0]) == (5.0, 0.0)
    assert report.pm([1.0, 3.0]) == "2.0 ± 1.4" and report.pm([5.0]) == "5.0"
