"""A real `hawk sim-server` whose ``hawk.sim.simulate`` crashes or hangs on marked candidates (fault tests only).

A candidate whose PrimFunc has the attribute ``hawk_fault = "exit"`` ends the session process with ``os._exit(3)``
(a stand-in for a segfault in a functional check); ``"hang"`` sleeps for an hour. Every other candidate is simulated
by the shipped server function. Same command line as ``python -m hawk_tvm.sim.server``.
"""

from __future__ import annotations

import functools
import os
import sys
import time


def _faulty_simulate(profile: str, scheduled: str, reference: str, options: str) -> str:
    from hawk_tvm.sim import server

    if '"hawk_fault": "exit"' in scheduled:
        os._exit(3)
    if '"hawk_fault": "hang"' in scheduled:
        time.sleep(3600)
    return server._simulate_text(profile, scheduled, reference, options)


def _init(profile: str) -> None:
    import tvm

    from hawk_tvm.sim import server

    server.register_server_functions(profile)
    tvm.register_global_func(server.GLOBAL_FUNC, functools.partial(_faulty_simulate, profile), override=True)


def main() -> int:
    """Parse the sim-server flags and serve with the faulty function."""
    import argparse

    from hawk_tvm.sim import server

    parser = argparse.ArgumentParser()
    for flag in ("--tracker", "--key", "--profile"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--port", type=int, default=server.DEFAULT_PORT)
    args = parser.parse_args()
    server.serve(args.tracker, args.key, args.profile, port=args.port, init=functools.partial(_init, args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
