"""Simulation behind TVM RPC: `serve` (the ``hawk sim-server`` entry) and the client-side RPCSimulatorRunner.

Protocol: the server process registers the global function ``hawk.sim.simulate(scheduled_text, reference_text,
options_json) -> result_json`` (TVMScript in, `MeasureResult.to_dict()` JSON out; ``reference_text`` may be
empty). Every RPC session runs in its own forked process, so a crashing candidate ends that session only; the
functional check therefore runs in-process there. The client asks the tracker for a session per candidate and, when
a session or server dies, retries on another server.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.runner import PyRunner, RunnerFuture, RunnerInput

from ..hardware.profile import load_profile
from ..measure.result import MeasureResult
from .functional import module_from_text, module_to_text
from .runner import _run_inputs

GLOBAL_FUNC = "hawk.sim.simulate"
DEFAULT_PORT = 9190
log = logging.getLogger("hawk.sim.server")


def _simulate_text(profile_name: str, scheduled_text: str, reference_text: str, options_json: str) -> str:
    """Server side of ``hawk.sim.simulate``."""
    from .simulator import simulate

    try:
        opts = json.loads(options_json or "{}")
        sched = module_from_text(scheduled_text)
        ref = module_from_text(reference_text) if reference_text else None
        result = simulate(sched, ref, load_profile(opts.get("profile") or profile_name),
                          functional=bool(opts.get("functional", True)), seed=int(opts.get("seed", 0)), isolate=False)
    except Exception as exc:  # bad text or options: an error result, never an RPC exception
        result = MeasureResult.failure("internal", f"sim server: {str(exc).strip().splitlines()[-1][:300]}")
    return json.dumps(result.to_dict(), default=str)


def register_server_functions(profile_name: str) -> None:
    """Register ``hawk.sim.simulate`` for `profile_name` in this process (the RPC server init callback)."""
    import tvm

    from .intrinsics import register_intrinsics

    profile = load_profile(profile_name)
    register_intrinsics(profile)
    tvm.register_global_func(GLOBAL_FUNC, functools.partial(_simulate_text, profile_name), override=True)


def serve(tracker: str, key: str, profile: str, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
          port_end: int | None = None, block: bool = True) -> Any:
    """Start an RPC server that simulates on `profile` and registers with `tracker` (``HOST:PORT``) under `key`.

    Blocks until SIGINT/SIGTERM when `block`, else returns the ``tvm.rpc.Server`` (call ``terminate()``).
    """
    from tvm import rpc

    load_profile(profile)  # fail fast on a bad profile name
    thost, _, tport = tracker.rpartition(":")
    init = functools.partial(register_server_functions, profile)

    def start() -> Any:
        return rpc.Server(host=host, port=port, port_end=port_end or port + 100, tracker_addr=(thost, int(tport)),
                          key=key, silent=True, server_init_callback=init)

    server = start()
    log.info("hawk sim-server (%s) on %s:%s, tracker %s, key %s", profile, host, server.port, tracker, key)
    if not block:
        return server
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            # TVM's listen loop (a child process) exits on a RuntimeError, e.g. a client that drops its
            # connection during the handshake; a server that stops serving would leave the tracker's queue
            # waiting for ever, so restart it and register again.
            if server.proc is None or not server.proc.is_alive():
                log.warning("RPC listen loop exited; restarting the sim-server")
                server.terminate()
                server = start()
    finally:
        server.terminate()
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """``hawk sim-server --tracker HOST:PORT --key KEY --profile NAME [--host H] [--port P]``."""
    parser = argparse.ArgumentParser(prog="hawk sim-server", description="Serve NPU simulation behind TVM RPC.")
    parser.add_argument("--tracker", required=True, help="RPC tracker HOST:PORT")
    parser.add_argument("--key", required=True, help="device key to register under")
    parser.add_argument("--profile", default="davinci", help="hardware profile name or JSON path")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="first port to try")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    serve(args.tracker, args.key, args.profile, host=args.host, port=args.port)
    return 0


@derived_object
class RPCSimulatorRunner(PyRunner):
    """Measures candidates on sim-servers found through an RPC tracker; retries elsewhere when a server dies."""

    def __init__(self, tracker: str, key: str, *, reference: Any | None = None, functional: bool = True,
                 seed: int = 0, profile: str | None = None, parallelism: int = 2, max_retries: int = 3,
                 session_timeout_s: float = 300.0, priority: int = 1, request_timeout_s: float = 30.0) -> None:
        super().__init__()
        host, _, port = tracker.rpartition(":")
        self.tracker_host, self.tracker_port, self.key = host, int(port), key
        self.reference = reference
        self.options = {"functional": functional, "seed": seed, "profile": profile}
        self.parallelism = parallelism
        self.max_retries = max_retries
        self.session_timeout_s = session_timeout_s
        self.priority = priority
        self.request_timeout_s = request_timeout_s  # waiting for the tracker to hand out a server

    def _one(self, scheduled: Any, reference: Any | None) -> MeasureResult:
        from tvm import rpc

        sched_text = module_to_text(scheduled)
        ref = reference if reference is not None else self.reference
        ref_text = module_to_text(ref) if ref is not None else ""
        opts = json.dumps(self.options)
        last = ""
        for attempt in range(self.max_retries + 1):
            try:
                client = rpc.connect_tracker(self.tracker_host, self.tracker_port)
                # a tracker whose queue never frees a server must not hang the compile: time out, ask again
                client._sock.settimeout(self.request_timeout_s)
                sess = client.request(self.key, priority=self.priority, session_timeout=self.session_timeout_s,
                                      max_retry=1)
                result = MeasureResult.from_dict(json.loads(sess.get_function(GLOBAL_FUNC)(sched_text, ref_text, opts)))
                result.breakdown["rpc_retries"] = attempt
                return result
            except Exception as exc:  # dead server / session: try another one
                last = str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else type(exc).__name__
                log.info("sim RPC attempt %d failed: %s", attempt + 1, last)
                time.sleep(0.2 * (attempt + 1))
        return MeasureResult.failure("run", f"RPC simulation failed after {self.max_retries + 1} attempts: {last}",
                                     retries=self.max_retries)

    def run_modules(self, pairs: Sequence[tuple[Any, Any | None]]) -> list[MeasureResult]:
        """Simulate (scheduled, reference) pairs remotely, `parallelism` at a time, results in input order."""
        with ThreadPoolExecutor(max_workers=max(1, self.parallelism)) as pool:
            return list(pool.map(lambda p: self._one(*p), pairs))

    def run(self, runner_inputs: list[RunnerInput]) -> list[RunnerFuture]:
        """MetaSchedule entry point: artifact paths from `SimulatorBuilder`."""
        return _run_inputs(self.run_modules, self.reference, runner_inputs)


if __name__ == "__main__":
    raise SystemExit(main())
