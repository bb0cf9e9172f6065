"""Argument types shared by the course's command lines (the benchmarks, the claims
runner): each refuses a bad value with the value in the message. Imports nothing heavy,
so a script can parse its arguments before Keras chooses a backend.
"""

from __future__ import annotations

import argparse

#: Mixed-precision choices of the benchmarks: "auto" is :func:`alexnet_book.speed.choose_precision`.
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


def at_least(minimum: int):
    """An argparse type: an integer >= ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
        return value
    return parse


def number_at_least(minimum: float):
    """An argparse type: a finite number >= ``minimum``."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = None
        if value is None or not minimum <= value < float("inf"):
            raise argparse.ArgumentTypeError(f"must be a number >= {minimum:g}, got {text!r}")
        return value
    return parse


def fraction(text: str) -> float:
    """An argparse type: a number in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got {text!r}")
    return value
