"""Simulation behind TVM RPC: `serve` (the ``hawk sim-server`` entry) and the client-side RPCSimulatorRunner.

Protocol: the server process registers the global function ``hawk.sim.simulate(scheduled_text, reference_text,
options_json) -> result_json`` (TVMScript in, `MeasureResult.to_dict()` JSON out; ``reference_text`` may be
empty). Every RPC session runs in its own forked process and the listen loop survives a session process that
dies (`_serve_session`, `_listen_forever`), so a crashing candidate ends that session only; the functional check
therefore runs in-process there. The client asks the tracker for a session per candidate, releases it at once
(`RPCSimulatorRunner._attempt`) and, when a session or server dies, retries on another server; a session that hits
its timeout (a hanging candidate) is reported as an error without a retry. The server binds loopback unless told
``--allow-remote``, and a client may only name shipped profiles.
"""

from __future__ import annotations

import argparse
import errno
import functools
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.runner import PyRunner, RunnerFuture, RunnerInput

from ..hardware.profile import list_profiles, load_profile
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
        result = simulate(sched, ref, load_profile(_client_profile(opts.get("profile"), profile_name)),
                          functional=bool(opts.get("functional", True)), seed=int(opts.get("seed", 0)), isolate=False)
    except Exception as exc:  # bad text or options: an error result, never an RPC exception
        result = MeasureResult.failure("internal", f"sim server: {str(exc).strip().splitlines()[-1][:300]}")
    return json.dumps(result.to_dict(), default=str)


def _client_profile(requested: Any, served: str) -> str:
    """The profile a client may ask for: the one this server was started with, or a shipped profile by name.

    A client never names a file: ``load_profile`` reads any path it is given, and the RPC port may be reachable by
    others than the user who started the server.
    """
    if requested in (None, "", served):
        return served
    if not isinstance(requested, str) or requested not in list_profiles():
        raise ValueError(f"profile {str(requested)[:80]!r} is not a shipped profile ({', '.join(list_profiles())})")
    return requested


def register_server_functions(profile_name: str) -> None:
    """Register ``hawk.sim.simulate`` for `profile_name` in this process (the RPC server init callback)."""
    import tvm

    from .intrinsics import register_intrinsics

    profile = load_profile(profile_name)
    register_intrinsics(profile)
    tvm.register_global_func(GLOBAL_FUNC, functools.partial(_simulate_text, profile_name), override=True)


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _serve_session(serving: Any, sock: Any, addr: Any, opts: Any, load_library: Any) -> None:
    """TVM's ``_serving`` that never raises: a session child that died (a crashing candidate) ends that session only.

    TVM raises ``RuntimeError`` when the session child exits non-zero, outside the listen loop's ``try``: the listen
    thread then ends while the server process stays alive, and the server silently leaves the tracker.
    """
    old_cwd = os.getcwd()
    try:
        serving(sock, addr, opts, load_library)
    except Exception as exc:  # the session child crashed: log it, close the client's socket, keep listening
        log.warning("RPC session from %s ended abnormally: %s", addr, exc)
    finally:
        os.chdir(old_cwd)
        sock.close()


def _listen_forever(sock: Any, port: int, key: str, tracker_addr: tuple[str, int]) -> None:
    """TVM's listen loop, restarted (and re-registered with the tracker) whenever it exits for any reason."""
    from tvm.rpc import server as tvm_server

    while True:
        try:
            tvm_server._listen_loop(sock, port, key, tracker_addr, None, None)
        except Exception as exc:  # e.g. a client dropping its connection mid-handshake
            log.warning("RPC listen loop exited (%s); restarting it", str(exc)[:200] or type(exc).__name__)
            time.sleep(0.2)


def _start_in_worker(host: str, port: int, port_end: int, tracker_addr: tuple[str, int], key: str,
                     init: Any) -> int:
    """Runs in the server's worker process: init, bind, listen in a daemon thread; returns the bound port."""
    import socket

    from tvm.rpc import server as tvm_server

    init()
    tvm_server._serving = functools.partial(_serve_session, tvm_server._serving)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for candidate in range(port, port_end):
        try:
            sock.bind((host, candidate))
            break
        except OSError as err:
            if err.errno != errno.EADDRINUSE:
                raise
    else:
        raise ValueError(f"cannot bind to any port in [{port}, {port_end})")
    sock.listen(1)
    bound = sock.getsockname()[1]
    _LISTENERS.append(threading.Thread(target=_listen_forever, args=(sock, bound, key, tracker_addr), daemon=True))
    _LISTENERS[-1].start()
    return int(bound)


_LISTENERS: list[threading.Thread] = []


class SimServer:
    """A sim-server in its own worker process (like ``tvm.rpc.Server``, with a listen loop that survives crashes)."""

    def __init__(self, host: str, port: int, port_end: int, tracker_addr: tuple[str, int], key: str,
                 init: Any) -> None:
        from tvm.support.popen_pool import PopenWorker

        self.proc: Any = PopenWorker()
        self.proc.send(_start_in_worker, [host, port, port_end, tracker_addr, key, init])
        self.port = int(self.proc.recv())
        self.host = host

    def terminate(self) -> None:
        """Kill the worker process (and with it every session)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc = None


def serve(tracker: str, key: str, profile: str, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
          port_end: int | None = None, block: bool = True, allow_remote: bool = False,
          init: Any | None = None) -> Any:
    """Start an RPC server that simulates on `profile` and registers with `tracker` (``HOST:PORT``) under `key`.

    Binds loopback only unless `allow_remote` (TVM's RPC server runs whatever a client sends: remote code
    execution by design). `init` replaces the server-side registration (tests inject faults with it).
    Blocks until SIGINT/SIGTERM when `block`, else returns the `SimServer` (call ``terminate()``).
    """
    if not allow_remote and not is_loopback(host):
        raise ValueError(f"refusing to bind {host!r}: TVM RPC executes what any client sends; "
                         "pass --allow-remote on a trusted network only")
    load_profile(profile)  # fail fast on a bad profile name
    thost, _, tport = tracker.rpartition(":")
    init = init or functools.partial(register_server_functions, profile)

    def start() -> SimServer:
        return SimServer(host, port, port_end or port + 100, (thost, int(tport)), key, init)

    server = start()
    log.info("hawk sim-server (%s) on %s:%s, tracker %s, key %s", profile, host, server.port, tracker, key)
    if not block:
        return server
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            if server.proc is None or not server.proc.is_alive():  # the worker process itself died
                log.warning("sim-server worker exited; restarting it")
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
    add_allow_remote(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        serve(args.tracker, args.key, args.profile, host=args.host, port=args.port, allow_remote=args.allow_remote)
    except ValueError as exc:  # a non-loopback host without --allow-remote, or a bad profile
        print(f"hawk sim-server: error: {exc}", file=sys.stderr)
        return 2
    return 0


def add_allow_remote(parser: Any) -> None:
    """The ``--allow-remote`` flag (shared by ``hawk sim-server`` and ``python -m hawk_tvm.sim.server``)."""
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback --host (TVM RPC runs any code a client sends)")


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

    def _attempt(self, sched_text: str, ref_text: str, opts: str) -> str:
        """One tracker request and remote call; the session is always released before returning or raising.

        TVM's ``TrackerSession.request`` keeps ``last_err`` in its frame, so an exception raised by an earlier
        attempt forms a reference cycle (exception -> traceback -> frames) that can pin the caller's locals until
        the cycle collector runs. A session kept alive that way makes the server's session child wait for its
        client, and the server does not re-register with the tracker meanwhile (the failover hang). The session
        and the tracker connection therefore live only in this frame and are dropped in ``finally``.
        """
        from tvm import rpc

        client = sess = None
        try:
            client = rpc.connect_tracker(self.tracker_host, self.tracker_port)
            # a tracker whose queue never frees a server must not hang the compile: time out, ask again
            client._sock.settimeout(self.request_timeout_s)
            sess = client.request(self.key, priority=self.priority, session_timeout=self.session_timeout_s,
                                  max_retry=1)
            return str(sess.get_function(GLOBAL_FUNC)(sched_text, ref_text, opts))
        finally:
            sess = None  # frees the RPC session now: the server's session child ends and the server re-registers
            if client is not None:
                client.close()
            client = None

    def _one(self, scheduled: Any, reference: Any | None) -> MeasureResult:
        sched_text = module_to_text(scheduled)
        ref = reference if reference is not None else self.reference
        ref_text = module_to_text(ref) if ref is not None else ""
        opts = json.dumps(self.options)
        last = ""
        for attempt in range(self.max_retries + 1):
            try:
                reply = self._attempt(sched_text, ref_text, opts)
            except Exception as exc:  # dead server / session: try another one
                last = str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else type(exc).__name__
                exc.__traceback__ = None  # break the traceback -> frame cycle (see `_attempt`)
                log.info("sim RPC attempt %d failed: %s", attempt + 1, last)
                if "RPCSessionTimeoutError" in last:  # a hanging candidate hangs on every server: do not retry
                    return MeasureResult.failure("run", f"RPC simulation timed out after {self.session_timeout_s:g} "
                                                        f"s: {last}", retries=attempt)
                time.sleep(0.2 * (attempt + 1))
                continue
            result = MeasureResult.from_dict(json.loads(reply))
            result.breakdown["rpc_retries"] = attempt
            return result
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
