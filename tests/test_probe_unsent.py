"""harness.probe.open_stream: a request due before the stream stopped but never sent still comes back."""

from __future__ import annotations

import asyncio
import time

import pytest

from harness.probe import Probe, open_stream, send_lag_ms


async def stalled_stream() -> list[Probe]:
    """100 req/s to a closed port; when request 20 goes out the event loop stalls 0.3 s, and the stream is
    stopped at the end of the stall, before the generator could send the ~30 requests due meanwhile."""
    stop = asyncio.Event()

    def stall_then_stop() -> None:
        time.sleep(0.3)
        stop.set()

    def path_for(i: int) -> str:
        if i == 20:
            asyncio.get_running_loop().call_soon(stall_then_stop)
        return "/"

    return await open_stream("http://127.0.0.1:9", path_for, rate_rps=100.0, duration_s=5.0, stop=stop)


def test_requests_due_before_the_stop_are_returned_as_unsent() -> None:
    probes = sorted(asyncio.run(stalled_stream()), key=lambda p: p.index)
    assert [p.index for p in probes] == list(range(len(probes)))  # none missing
    unsent = [p for p in probes if p.error == "unsent"]
    assert 25 <= len(unsent) <= 35  # the ~0.3 s stall at 100 req/s
    assert len(probes) - len(unsent) <= 25  # what went out before it
    assert all(p.status is None and p.server_error for p in unsent)
    # they count at the time they had waited when the stream stopped: up to the stall's 0.3 s
    assert max(p.latency_s for p in unsent) == pytest.approx(0.3, abs=0.1)
    assert send_lag_ms(probes, 99) > 200  # and the generator's lateness shows
