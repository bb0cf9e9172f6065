"""Argument types shared by the course's command lines (the benchmarks, the claims
runner): each refuses a bad value with the value in the message. Imports nothing heavy,
so a script can parse its arguments before Keras chooses a backend.
"""

from __future__ import annotations

import argparse

#: Mixed-precision choices of the benchmarks: "auto" is :func:`alexnet_book.speed.choose_precision`.
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


def _argument(convert, accepted, expected: str):
    """An argparse type: ``convert(text)`` where ``accepted`` holds for it, else an error
    saying what was ``expected`` and what was given."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accepted(value):
            raise argparse.ArgumentTypeError(f"must be {expected}, got {text!r}")
        return value
    return parse


def at_least(minimum: int):
    """An argparse type: an integer >= ``minimum``."""
    return _argument(int, lambda value: value >= minimum, f"an integer >= {minimum}")


def number_at_least(minimum: float):
    """An argparse type: a finite number >= ``minimum``."""
    return _argument(float, lambda value: minimum <= value < float("inf"), f"a number >= {minimum:g}")


#: An argparse type: a number in [0, 1).
fraction = _argument(float, lambda value: 0 <= value < 1, "a number in [0, 1)")
