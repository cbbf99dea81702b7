"""Fault matrix: inject each fault into a real run and record completed? correct output? data lost? recovery time.

Real components only: a TVM RPC tracker and sim-servers on 127.0.0.1 (tests/fault_sim_server.py for the crashing and
hanging candidates), `hawk compile` subprocesses on small ONNX models (outputs checked against onnxruntime), SQLite,
a tiny tmpfs for the full disk, and tests/llm_server.py (a real OpenAI-protocol HTTP server) for the LLM faults.

    python benchmarks/faults/run.py [--out benchmarks/faults/results.md] [--only NAME,NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

import rpc_cluster as rc  # noqa: E402

KEY = "hawk-faults"


@dataclass
class Row:
    """One fault's outcome."""

    fault: str
    completed: str
    correct: str
    data_lost: str
    recover_s: str
    notes: str


def _hawk(model: Path, db: Path, out: Path, *extra: str, timeout: float = 600) -> tuple[int, str, str, float]:
    """Run `hawk compile --hawk` as a subprocess; (exit, stdout, stderr, seconds)."""
    cmd = [sys.executable, "-m", "hawk_tvm.cli", "compile", str(model), "--hawk", "--database", str(db),
           "--trials", "2", "--repair-rounds", "0", "-o", str(out), *extra]
    if "--knowledge" not in extra:
        cmd.append("--no-knowledge")
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, "TVM_NUM_THREADS": "1", "HAWK_LLM_CACHE": "0"})
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0


def _sources(stdout: str) -> list[str]:
    kinds = ("generated", "default", "fallback", "database", "untimed")
    return [p[3] for p in (line.split() for line in stdout.splitlines()) if len(p) >= 4 and p[3] in kinds]


def _correct(artifact: Path, model: Path) -> bool:
    """The artifact's output equals onnxruntime's on a seeded input."""
    import numpy as np
    import onnxruntime as ort

    from hawk_tvm.artifact import load_artifact

    if not artifact.exists():
        return False
    runner = load_artifact(artifact)
    spec = runner.meta["inputs"][0]
    x = np.random.default_rng(0).standard_normal(spec["shape"]).astype(spec["dtype"])
    want = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {spec["name"]: x})[0]
    return bool(np.allclose(runner.run({spec["name"]: x})[0], want, rtol=1e-3, atol=1e-4))


def _yn(flag: bool) -> str:
    return "yes" if flag else "NO"


class Bench:
    """Fault scenarios sharing a work folder and two small models."""

    def __init__(self, work: Path) -> None:
        from hawk_tvm.models import save

        self.work = work
        self.mlp = save("mlp", work / "mlp.onnx")
        self.conv = save("small_convnet", work / "conv.onnx", size=8)

    # -- RPC faults ---------------------------------------------------------------------------------------------
    def _cluster(self, servers: int, faulty: bool = False) -> tuple[int, list[subprocess.Popen]]:
        port = rc.free_port()
        procs = [rc.start_tracker(port)]
        for _ in range(servers):
            procs.append(rc.start_server(port, KEY, faulty=faulty))
        rc.wait_free(port, KEY, servers, timeout_s=60)
        return port, procs

    @staticmethod
    def _batch(n: int, marks: dict[int, str] | None = None) -> tuple[list, list[bool]]:
        import tvm

        from hawk_tvm.sim import examples

        ref = examples.add(1024)
        good = examples.schedule_add(ref, 256, 128)
        bad = examples.schedule_add(ref, 256, 128, scope_in=None, scope_out=None)
        pairs, want = [], []
        for i in range(n):
            mod = good if i % 3 else bad
            if marks and i in marks:
                mod = tvm.IRModule({"main": good["main"].with_attr("hawk_fault", marks[i])})
            pairs.append((mod, ref))
            want.append(bool(i % 3) and not (marks and i in marks))
        return pairs, want

    def _rpc_row(self, fault: str, servers: int, n: int, marks: dict[int, str] | None, inject: Callable | None,
                 faulty: bool = False, **runner_kw: float) -> Row:
        from hawk_tvm.sim.server import RPCSimulatorRunner

        port, procs = self._cluster(servers, faulty)
        try:
            pairs, want = self._batch(n, marks)
            runner = RPCSimulatorRunner(f"127.0.0.1:{port}", KEY, functional=True, parallelism=2, **runner_kw)
            timer = threading.Timer(0.3, inject, args=(port, procs)) if inject else None
            if timer:
                timer.start()
            t0 = time.monotonic()
            results = runner.run_modules(pairs)
            batch_s = time.monotonic() - t0
            if timer:
                timer.join()
            got = [r.ok for r in results]
            try:
                free_s = rc.wait_free(port, KEY, 1, timeout_s=30)
            except TimeoutError:
                free_s = float("nan")
            wrong = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
            errors = sorted({r.error.message.split(":")[0][:60] for r in results if not r.ok and r.error})
            return Row(fault, _yn(len(results) == n), _yn(not wrong), "no (results are not persisted here)",
                       f"{batch_s:.1f} (batch), server free {free_s:.1f} s after",
                       f"{n} candidates, wrong: {wrong or 'none'}; errors: {'; '.join(errors)[:160]}")
        finally:
            for proc in reversed(procs):
                rc.stop(proc)

    def server_killed(self) -> Row:
        return self._rpc_row("sim-server killed mid-batch (1 of 2)", 2, 8, None,
                             lambda port, procs: rc.stop(procs[1]), request_timeout_s=10.0)

    def crashing_candidate(self) -> Row:
        return self._rpc_row("candidate crashes the session (os._exit), 1 server", 1, 6, {2: "exit"}, None,
                             faulty=True, max_retries=1)

    def hanging_candidate(self) -> Row:
        return self._rpc_row("candidate hangs, 1 server, session timeout 4 s", 1, 6, {2: "hang"}, None,
                             faulty=True, session_timeout_s=4.0)

    def tracker_restart(self) -> Row:
        def restart(port: int, procs: list) -> None:
            rc.stop(procs[0])
            time.sleep(1.0)
            procs[0] = rc.start_tracker(port)

        return self._rpc_row("tracker killed and restarted (1 s) mid-batch", 2, 8, None, restart)

    # -- compile / storage faults -------------------------------------------------------------------------------
    def kill9_resume(self) -> Row:
        from hawk_tvm.database import RESULTS_FILE
        from hawk_tvm.knowledge.store import KnowledgeStore

        db, kn = self.work / "k9db", self.work / "k9.db"
        cmd = [sys.executable, "-m", "hawk_tvm.cli", "compile", str(self.conv), "--hawk", "--database", str(db),
               "--knowledge", str(kn), "--trials", "2", "--repair-rounds", "0", "-o", str(self.work / "k9a.tar")]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, "TVM_NUM_THREADS": "1"})
        log = db / RESULTS_FILE
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if log.exists() and log.read_text().count("\n") >= 2:
                break
            time.sleep(0.05)
        killed = proc.poll() is None
        if killed:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        done = {json.loads(line)["name"] for line in log.read_text().splitlines() if line.strip()} if log.exists() \
            else set()
        code, out, err, secs = _hawk(self.conv, db, self.work / "k9b.tar", "--knowledge", str(kn))
        rows = {p[0]: p[3] for p in (ln.split() for ln in out.splitlines()) if len(p) >= 4}
        regenerated = [n for n in done if rows.get(n) == "generated"]
        integrity = KnowledgeStore(kn).integrity_check() if kn.exists() else "missing"
        return Row("kill -9 of hawk compile after 2 operator records, then resume", _yn(code == 0),
                   _yn(_correct(self.work / "k9b.tar", self.conv)),
                   f"{len(regenerated)} of {len(done)} recorded ops regenerated", f"{secs:.1f} (resume compile)",
                   f"killed mid-compile: {killed}; resume sources {sorted(set(_sources(out)))}; knowledge DB "
                   f"integrity {integrity}; stderr lines {len(err.strip().splitlines())}")

    def concurrent(self) -> Row:
        db = self.work / "ccdb"
        env = {**os.environ, "TVM_NUM_THREADS": "1"}
        t0 = time.monotonic()
        procs = [subprocess.Popen([sys.executable, "-m", "hawk_tvm.cli", "compile", str(m), "--hawk", "--database",
                                   str(db), "--trials", "2", "--repair-rounds", "0", "--no-knowledge", "-o",
                                   str(self.work / f"cc_{m.stem}.tar")], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True, env=env) for m in (self.mlp, self.conv)]
        codes = [p.wait(timeout=600) for p in procs]
        both_s = time.monotonic() - t0
        code, out, _, secs = _hawk(self.conv, db, self.work / "cc_again.tar")
        hits = _sources(out)
        ok = all(c == 0 for c in codes) and code == 0
        correct = all(_correct(self.work / n, m) for n, m in (("cc_mlp.tar", self.mlp), ("cc_again.tar", self.conv)))
        return Row("two hawk compiles at once on one --database", _yn(ok), _yn(correct),
                   "no" if set(hits) == {"database"} else f"sources on re-run {sorted(set(hits))}",
                   f"{both_s:.1f} (both), re-run {secs:.1f}",
                   f"exit codes {codes}; conv re-run: {hits.count('database')}/{len(hits)} database hits")

    def disk_full(self) -> Row:
        mnt = self.work / "tinyfs"
        mnt.mkdir()
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                                 capture_output=True).returncode == 0
        if not mounted:
            return Row("disk full on the database folder", "not run", "-", "-", "-", "mount tmpfs not permitted")
        try:
            filler = mnt / "filler"
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT)  # fill the file system up (unbuffered writes)
            try:
                while os.write(fd, b"\0" * 512):
                    pass
            except OSError:
                pass
            finally:
                os.close(fd)
            db = mnt / "db"
            code, out, err, _secs = _hawk(self.mlp, db, self.work / "full.tar")
            not_recorded = err.count("could not record") + out.count("could not record")
            first = (code == 0, _correct(self.work / "full.tar", self.mlp))
            filler.unlink()  # space comes back
            code2, _out2, _, secs2 = _hawk(self.mlp, db, self.work / "full2.tar")
            code3, out3, _, _ = _hawk(self.mlp, db, self.work / "full3.tar")
            lines = [ln for ln in (err + out).splitlines() if "record" in ln or "error" in ln.lower()][:1]
            return Row("disk full (1 MB tmpfs, filled) on the database folder", _yn(first[0]), _yn(first[1]),
                       f"yes while full: {not_recorded} op records not written (reported per op)",
                       f"{secs2:.1f} (next compile after space is freed)",
                       f"exit {code}; after freeing: exit {code2}, then sources {sorted(set(_sources(out3)))} "
                       f"(exit {code3}); first message: {lines[0][:100] if lines else '-'}")
        finally:
            subprocess.run(["umount", str(mnt)], capture_output=True)

    def corrupt_db_line(self) -> Row:
        db = self.work / "cdb"
        code0, _, _, _ = _hawk(self.conv, db, self.work / "cdb0.tar")
        wpath = db / "database_workload.json"
        lines = wpath.read_text().splitlines()
        lines[1] = lines[1][: len(lines[1]) // 3] + "#garbage"
        wpath.write_text("\n".join(lines) + "\n")
        code, out, err, secs = _hawk(self.conv, db, self.work / "cdb1.tar")
        src = _sources(out)
        return Row("corrupt line in the middle of the workload file", _yn(code0 == 0 and code == 0),
                   _yn(_correct(self.work / "cdb1.tar", self.conv)),
                   f"{len(src) - src.count('database')} of {len(src)} ops regenerated (the damaged workload's)",
                   f"{secs:.1f} (next compile)", f"stderr lines {len(err.strip().splitlines())}")

    def corrupt_knowledge(self) -> Row:
        kn = self.work / "bad_knowledge.db"
        kn.write_bytes(b"SQLite format 3\0" + os.urandom(8192))
        code, _out, err, secs = _hawk(self.mlp, self.work / "kdb", self.work / "kbad.tar", "--knowledge", str(kn))
        msg = [ln for ln in err.splitlines() if "knowledge" in ln][:1]
        _code2, _, err2, _ = _hawk(self.mlp, self.work / "kdb2", self.work / "kbad2.tar", "--knowledge", str(kn))
        still = any("knowledge" in ln for ln in err2.splitlines())
        return Row("corrupt knowledge DB (random bytes after the SQLite header)", _yn(code == 0),
                   _yn(_correct(self.work / "kbad.tar", self.mlp)), "the knowledge store's content (unreadable)",
                   f"{secs:.1f} (first compile after the damage)",
                   f"{msg[0][:110] if msg else 'no message'}; next compile still without knowledge: {still}")

    def _llm_row(self, fault: str, behaviour: Callable | None) -> Row:
        from llm_server import ScriptedLLMServer, closed_port_url

        server = ScriptedLLMServer(behaviour()).start() if behaviour else None
        try:
            url = server.base_url if server else closed_port_url()
            code, out, err, secs = _hawk(self.mlp, self.work / f"llm{abs(hash(fault))}", self.work / "llm.tar",
                                         "--llm-model", "test-model", "--llm-base-url", url)
            return Row(fault, _yn(code == 0), _yn(_correct(self.work / "llm.tar", self.mlp)), "no",
                       f"{secs:.1f} (whole compile)",
                       f"requests {server.count if server else 0}; sources {sorted(set(_sources(out)))}; "
                       f"stderr lines {len(err.strip().splitlines())}")
        finally:
            if server:
                server.stop()

    def llm_down(self) -> Row:
        return self._llm_row("LLM endpoint down (closed port)", None)

    def llm_slow(self) -> Row:
        from llm_server import slow

        return self._llm_row("LLM endpoint slow (5 s per reply, no program)", lambda: slow(5.0, "thinking..."))

    def llm_garbage(self) -> Row:
        from llm_server import garbage

        return self._llm_row("LLM endpoint answers garbage (HTML, HTTP 200)", garbage)


SCENARIOS = ("server_killed", "crashing_candidate", "hanging_candidate", "tracker_restart", "kill9_resume",
             "concurrent", "disk_full", "corrupt_db_line", "corrupt_knowledge", "llm_down", "llm_slow", "llm_garbage")


def main() -> int:
    """Run the scenarios and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).with_name("results.md")))
    parser.add_argument("--only", help="comma-separated scenario names")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(SCENARIOS)
    work = Path(tempfile.mkdtemp(prefix="hawk-faults-"))
    os.environ.setdefault("HAWK_HOME", str(work / "home"))
    bench = Bench(work)
    rows = []
    for name in names:
        t0 = time.monotonic()
        try:
            row = getattr(bench, name)()
        except Exception as exc:  # a scenario that breaks is a result too
            row = Row(name, "NO (harness)", "-", "-", "-", f"{type(exc).__name__}: {str(exc)[:150]}")
        rows.append(row)
        print(f"{name}: {row} ({time.monotonic() - t0:.0f} s)", flush=True)
    head = ("| fault | completed? | correct output? | data lost? | time to recover (s) | notes |\n"
            "|---|---|---|---|---|---|\n")
    body = "".join(f"| {r.fault} | {r.completed} | {r.correct} | {r.data_lost} | {r.recover_s} | "
                   f"{r.notes.replace('|', '/')} |\n" for r in rows)
    cmd = "python benchmarks/faults/run.py" + (f" --only {args.only}" if args.only else "")
    text = (f"# Fault matrix\n\nCommand: `{cmd}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; 2-core "
            "machine shared with other jobs: times are noisy).\n\n" + head + body)
    Path(args.out).write_text(text)
    print(text)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
