import argparse

import pytest

from alexnet_book import cli, speed


def test_at_least_accepts_integers_from_the_minimum_and_names_a_bad_value():
    assert cli.at_least(1)("3") == 3
    for bad in ("0", "-2", "1.5", "many"):
        with pytest.raises(argparse.ArgumentTypeError, match=f"must be an integer >= 1, got '{bad}'"):
            cli.at_least(1)(bad)


def test_fraction_is_a_number_in_zero_to_one():
    assert cli.fraction("0") == 0.0 and cli.fraction("0.5") == 0.5
    for bad in ("1", "-0.1", "half"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"must be a number in \[0, 1\)"):
            cli.fraction(bad)


def test_number_at_least_accepts_finite_numbers_from_the_minimum():
    assert cli.number_at_least(0.0625)("0.25") == 0.25 and cli.number_at_least(0.0625)("0.0625") == 0.0625
    for bad in ("0.05", "inf", "nan", "wide"):
        with pytest.raises(argparse.ArgumentTypeError, match=f"must be a number >= 0.0625, got '{bad}'"):
            cli.number_at_least(0.0625)(bad)


def test_precisions_are_those_compile_for_speed_accepts():
    assert set(cli.PRECISIONS) <= set(speed.PRECISIONS)
