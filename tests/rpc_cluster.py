"""Real TVM RPC trackers and sim-servers on 127.0.0.1 for the RPC tests and the fault benchmark."""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

FAULT_SERVER = str(Path(__file__).with_name("fault_sim_server.py"))


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str]) -> subprocess.Popen:
    """``python ARGS...`` in its own process group (so `stop` also ends its forked workers)."""
    return subprocess.Popen([sys.executable, *args], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen) -> None:
    """SIGKILL the process group of `proc` and reap it."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def start_tracker(port: int) -> subprocess.Popen:
    """A TVM RPC tracker on 127.0.0.1:`port`."""
    return start(["-m", "tvm.exec.rpc_tracker", "--host", "127.0.0.1", "--port", str(port),
                  "--port-end", str(port + 1), "--silent"])


def start_server(tracker_port: int, key: str, faulty: bool = False) -> subprocess.Popen:
    """A `hawk sim-server` (davinci) registered with the tracker; `faulty` = the fault-injecting test server."""
    prog = [FAULT_SERVER] if faulty else ["-m", "hawk_tvm.sim.server"]
    return start([*prog, "--tracker", f"127.0.0.1:{tracker_port}", "--key", key, "--profile", "davinci",
                  "--port", str(free_port())])


def queue(tracker_port: int, key: str) -> dict:
    """The tracker's queue info for `key` ({} when the tracker is not reachable)."""
    from tvm import rpc

    try:
        return rpc.connect_tracker("127.0.0.1", tracker_port).summary()["queue_info"].get(key, {})
    except Exception:  # tracker not up (yet)
        return {}


def wait_free(tracker_port: int, key: str, count: int, timeout_s: float = 40.0) -> float:
    """Seconds until the tracker has `count` free servers for `key`; raises TimeoutError."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if queue(tracker_port, key).get("free", 0) >= count:
            return time.monotonic() - t0
        time.sleep(0.2)
    raise TimeoutError(f"{count} free sim-server(s) for {key!r} not seen within {timeout_s} s: "
                       f"{queue(tracker_port, key)}")


def register_dead(tracker_port: int, key: str) -> socket.socket:
    """Register a server address nobody listens on under `key` (keep the socket open to keep it registered)."""
    from tvm.rpc import base

    sock = socket.create_connection(("127.0.0.1", tracker_port))
    sock.sendall(struct.pack("<i", base.RPC_TRACKER_MAGIC))
    assert struct.unpack("<i", base.recvall(sock, 4))[0] == base.RPC_TRACKER_MAGIC
    base.sendjson(sock, [base.TrackerCode.PUT, key, (free_port(), "dead-matchkey"), "127.0.0.1"])
    assert base.recvjson(sock) == base.TrackerCode.SUCCESS
    return sock
