"""XFetch probabilistic early recomputation (Vattani, Chierichetti, Lowenstein, VLDB 2015).

A reader recomputes before expiry when `now - delta * beta * ln(U) >= expiry`, U uniform in (0, 1],
where `delta` is how long the value took to compute. Expensive values and hot keys refresh earlier,
so one reader recomputes before the entry expires instead of all readers stampeding after.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable


def should_refresh_early(
    now: float,
    expiry: float,
    delta: float,
    beta: float = 1.0,
    rand: Callable[[], float] = random.random,
) -> bool:
    """The XFetch rule. beta > 1 favours earlier refresh, beta = 0 disables it."""
    if beta <= 0 or delta <= 0:
        return False
    u = rand()
    if u <= 0.0:
        return True
    return now - delta * beta * math.log(u) >= expiry
