"""Simulation behind TVM RPC on loopback: a tracker, two sim-servers, a batch, and one server killed mid-batch."""

import threading
import time

import pytest

from hawk_tvm.sim import examples
from hawk_tvm.sim.server import RPCSimulatorRunner

pytestmark = pytest.mark.integration

try:
    import rpc_cluster as rc
except ImportError:  # run from the repository root as a package
    from tests import rpc_cluster as rc

KEY = "hawk-sim-test"


@pytest.fixture(scope="module")
def cluster():
    port = rc.free_port()
    procs = [rc.start_tracker(port)]
    try:
        for _ in range(2):
            procs.append(rc.start_server(port, KEY))
        rc.wait_free(port, KEY, 2)
        yield port, procs
    finally:
        for proc in reversed(procs):
            rc.stop(proc)


def _batch(n: int):
    ref = examples.add(1024)
    good = examples.schedule_add(ref, 256, 128)
    bad = examples.schedule_add(ref, 256, 128, scope_in=None, scope_out=None)
    return ref, [(good if i % 3 else bad, ref) for i in range(n)]


def test_batch_through_tracker_and_kill_one_server(cluster):
    port, procs = cluster
    _, pairs = _batch(6)
    runner = RPCSimulatorRunner(f"127.0.0.1:{port}", KEY, functional=False, parallelism=2)
    results = runner.run_modules(pairs)
    assert [r.ok for r in results] == [False, True, True, False, True, True]
    assert results[0].error.kind == "sim.offchip_compute"
    assert results[1].cycles > 0 and "roofline_fraction" in results[1].breakdown
    # numerics are checked on the server too
    checked = RPCSimulatorRunner(f"127.0.0.1:{port}", KEY, functional=True).run_modules([pairs[1]])
    assert checked[0].ok, checked[0].error
    # kill one server mid-batch: the survivor alone finishes the batch (no replacement server joins)
    killer = threading.Timer(0.3, rc.stop, args=(procs[1],))
    killer.start()
    runner.request_timeout_s = 10.0
    t0 = time.monotonic()
    results = runner.run_modules(_batch(8)[1])
    killer.join()
    assert all(r.ok == bool(i % 3) for i, r in enumerate(results)), [r.error for r in results]
    assert sum(r.breakdown.get("rpc_retries", 0) for r in results) <= 4
    assert time.monotonic() - t0 < 30.0
    # and the survivor is back on the tracker's free list right after the batch
    assert rc.wait_free(port, KEY, 1, timeout_s=3.0) < 3.0


@pytest.mark.slow
def test_failed_attempt_does_not_pin_the_next_session():
    """Root cause of the failover hang: a dead registration handed out first, then the only live server.

    The attempt that fails inside TVM's `TrackerSession.request` leaves a reference cycle; the session of the next
    (successful) attempt must still be released at once, or the server never re-registers and the rest of the
    batch waits for a server that never comes back.
    """
    port = rc.free_port()
    procs = [rc.start_tracker(port)]
    try:
        rc.wait_free(port, "nobody", 0)  # tracker up
        dead = rc.register_dead(port, KEY)  # handed out first (the tracker's free list is FIFO)
        procs.append(rc.start_server(port, KEY))
        rc.wait_free(port, KEY, 2)
        runner = RPCSimulatorRunner(f"127.0.0.1:{port}", KEY, functional=False, parallelism=2, request_timeout_s=8.0)
        results = runner.run_modules(_batch(5)[1])
        assert [r.ok for r in results] == [bool(i % 3) for i in range(5)], [r.error for r in results]
        assert sum(r.breakdown.get("rpc_retries", 0) for r in results) == 1  # only the dead registration failed
        assert rc.wait_free(port, KEY, 1, timeout_s=3.0) < 3.0
        dead.close()
    finally:
        for proc in reversed(procs):
            rc.stop(proc)
