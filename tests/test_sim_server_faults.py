"""A crashing and a hanging candidate through a live sim-server: the server keeps serving, the batch gets errors."""

import time

import pytest

from hawk_tvm.sim import examples
from hawk_tvm.sim.server import RPCSimulatorRunner

pytestmark = pytest.mark.integration

try:
    import rpc_cluster as rc
except ImportError:  # run from the repository root as a package
    from tests import rpc_cluster as rc

KEY = "hawk-sim-faults"


def _marked(mod, fault: str):
    import tvm

    return tvm.IRModule({"main": mod["main"].with_attr("hawk_fault", fault)})


@pytest.fixture(scope="module")
def faulty_cluster():
    """A tracker and ONE fault-injecting sim-server: every candidate after a fault must be served by it."""
    port = rc.free_port()
    procs = [rc.start_tracker(port)]
    try:
        procs.append(rc.start_server(port, KEY, faulty=True))
        rc.wait_free(port, KEY, 1)
        yield port
    finally:
        for proc in reversed(procs):
            rc.stop(proc)


def test_crashing_and_hanging_candidates_do_not_take_the_server_down(faulty_cluster):
    port = faulty_cluster
    ref = examples.add(1024)
    good = examples.schedule_add(ref, 256, 128)
    batch = [good, _marked(good, "exit"), good, _marked(good, "hang"), good]
    runner = RPCSimulatorRunner(f"127.0.0.1:{port}", KEY, functional=True, parallelism=1, max_retries=1,
                                session_timeout_s=4.0, request_timeout_s=15.0)
    t0 = time.monotonic()
    results = runner.run_modules([(m, ref) for m in batch])
    elapsed = time.monotonic() - t0
    assert [r.ok for r in results] == [True, False, True, False, True], [r.error for r in results]
    crash, hang = results[1].error, results[3].error
    assert crash.kind == "run" and "2 attempts" in crash.message, crash
    assert hang.kind == "run" and "timed out" in hang.message and hang.context["retries"] == 0, hang
    assert elapsed < 60.0, elapsed
    # the one server is still registered and free afterwards
    assert rc.wait_free(port, KEY, 1, timeout_s=5.0) < 5.0


def test_sim_server_refuses_a_non_loopback_host_without_allow_remote(capsys):
    from hawk_tvm.cli import main

    assert main(["sim-server", "--tracker", "127.0.0.1:9", "--key", "k", "--profile", "davinci",
                 "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--allow-remote" in err, err


def test_a_client_can_only_name_shipped_profiles(tmp_path):
    import json

    from hawk_tvm.hardware.profile import PROFILE_DIR
    from hawk_tvm.sim.functional import module_to_text
    from hawk_tvm.sim.server import _simulate_text

    ref = examples.add(1024)
    text = module_to_text(examples.schedule_add(ref, 256, 128))
    copy = tmp_path / "davinci.json"
    copy.write_text((PROFILE_DIR / "davinci.json").read_text())  # a valid profile, but named by path
    for name in (str(copy), "../profiles/davinci", "/etc/passwd"):
        reply = json.loads(_simulate_text("davinci", text, "", json.dumps({"profile": name, "functional": False})))
        assert not reply["ok"] and "not a shipped profile" in reply["error"]["message"], reply
    reply = json.loads(_simulate_text("davinci", text, "", json.dumps({"profile": "davinci", "functional": False})))
    assert reply["ok"], reply
