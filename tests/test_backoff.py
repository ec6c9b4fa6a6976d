"""Back-off: exponential, capped, fully jittered."""

from __future__ import annotations

from vstream.backoff import backoff_s


def test_backoff_doubles_up_to_the_cap() -> None:
    assert backoff_s(0, rand=lambda: 1.0) == 0.5 and backoff_s(3, rand=lambda: 1.0) == 4.0
    assert backoff_s(50, cap=30.0, rand=lambda: 1.0) == 30.0
    assert backoff_s(10_000, rand=lambda: 1.0) == 30.0  # no overflow however many attempts


def test_backoff_is_jittered_from_zero() -> None:
    assert backoff_s(3, rand=lambda: 0.0) == 0.0
    assert backoff_s(3, rand=lambda: 0.25) == 1.0
