"""Argument types shared by the sub-commands: a bad number is refused by argparse, before anything runs.

    parser.add_argument("--epochs", type=positive_int)      # "argument --epochs: expected an integer >= 1, got '0'"
    parser.add_argument("--seeds", type=int_list)           # "1 2" or "1,2" -> (1, 2)
"""

from __future__ import annotations

import argparse
import math


def _integer(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < low:
        raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _integer(text, 1)


def non_negative_int(text: str) -> int:
    return _integer(text, 0)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _integers(text: str, low: int) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.replace(",", " ").split())
    except ValueError:
        values = ()
    if not values or min(values) < low:
        raise argparse.ArgumentTypeError(f"expected integers >= {low} such as '1 2' or '1,2', got {text!r}")
    return values


def int_list(text: str) -> tuple[int, ...]:
    """Integers >= 0 separated by spaces or commas, e.g. seeds ``'0 1'`` or ``'0,1'``."""
    return _integers(text, 0)


def positive_int_list(text: str) -> tuple[int, ...]:
    """Integers >= 1 separated by spaces or commas, e.g. lengths ``'256,1024'``."""
    return _integers(text, 1)
