"""Retry policy for connecting: pure functions, no I/O."""

from __future__ import annotations

__all__ = ["backoff"]

import random
from collections.abc import Iterator


def backoff(
    initial: float,
    *,
    factor: float = 1.0,
    maximum: float | None = None,
    jitter: float = 0.0,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """Yield the delays between successive connection attempts [s].

    Parameters
    ----------
    initial : `float`
        First delay [s]. Must be positive.
    factor : `float`, optional
        Each delay is the previous one times ``factor`` (≥ 1). The default, 1,
        retries at a constant interval, as the original implementation did.
    maximum : `float` or `None`, optional
        Cap on the delay before jitter [s]; `None`: no cap.
    jitter : `float`, optional
        Fraction in [0, 1]: each delay is multiplied by a random number in
        ``[1 - jitter, 1]``, so that many clients do not retry in lockstep.
    rng : `random.Random`, optional
        Source of randomness (for reproducible tests).

    Raises
    ------
    ValueError
        If an argument is out of range.
    """
    if initial <= 0:
        raise ValueError(f"initial must be positive, got {initial}")
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    if maximum is not None and maximum < initial:
        raise ValueError(f"maximum ({maximum}) must be >= initial ({initial})")
    if not 0 <= jitter <= 1:
        raise ValueError(f"jitter must be in [0, 1], got {jitter}")
    rand = rng or random.Random()
    delay = initial
    while True:
        yield delay * (1 - jitter * rand.random()) if jitter else delay
        delay *= factor
        if maximum is not None and delay > maximum:
            delay = maximum
