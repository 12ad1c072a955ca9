"""A real two-node Ray cluster for the tests, inside a network namespace that has only loopback.

Run as `unshare -n python -m tests.cluster_harness PLAN.json` (tests/test_cluster.py does): it brings loopback up,
starts a head node and a worker node (`ray start --head`, `ray start --address=...`, one CPU each, each in a process
group of its own), runs the plan's commands one after the other, and writes what each did to the plan's `out` file.
Once its library's catalog holds `after` indexed files, a step may kill the worker node (kill -9 of its whole
process group: a node lost mid-run), interrupt its command (Ctrl-C) or kill it (kill -9 of the driver). The cluster is stopped by killing its process groups, never by `ray stop`, which
would stop every Ray process on the machine (another test run's too). Nothing leaves the machine: the namespace has
no other interface, and in it Ray binds 127.0.0.1.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
PORT = 6390  # the namespace is this run's own: no other process can hold the port


def start_node(args: list[str], log: Path, cpus: int = 1) -> subprocess.Popen:
    """A Ray node in a process group of its own (`ray start --block`), so that killing the group ends all of it."""
    return subprocess.Popen([RAY, "start", "--block", "--disable-usage-stats", "--node-ip-address=127.0.0.1",
                             f"--num-cpus={cpus}", "--object-store-memory=200000000", *args],
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)


def alive_nodes(port: int = PORT) -> int:
    probe = ("import ray; ray.init(address='127.0.0.1:%d', logging_level=40, log_to_driver=False); "
             "print(sum(1 for n in ray.nodes() if n['Alive']))" % port)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    return int(done.stdout.strip() or 0) if done.returncode == 0 else 0


def _workers_left(wait: float = 30.0) -> int:
    """Idlens workers still alive in the cluster once `wait` seconds have passed without none (the actors of a
    driver that is gone must not linger: Ray ends them when it sees their owner die)."""
    probe = ("import ray, time; from ray._private import state; ray.init(address='127.0.0.1:%d', logging_level=40,"
             " log_to_driver=False)\nfor _ in range(%d):\n    n = sum(1 for a in state.actors().values() if "
             "a['ActorClassName'] == 'FileIndexer' and a['State'] != 'DEAD')\n    if n == 0: break\n"
             "    time.sleep(1)\nprint(n)" % (PORT, int(wait)))
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=wait + 60)
    return int(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip().isdigit() else -1


def _descendants(pid: int) -> list[int]:
    """Every process below `pid`: Ray gives each worker process a process group of its own, so killing the node's
    group alone would leave its actors running, orphaned."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill(group: subprocess.Popen) -> None:
    """A node, all of it at once (kill -9): its raylet, its store, its worker processes."""
    below = _descendants(group.pid)
    try:
        os.killpg(group.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for pid in below:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    group.wait()


def _indexed(catalog: str) -> int:
    try:
        with sqlite3.connect(f"file:{catalog}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT count(*) FROM media WHERE status = 'indexed'").fetchone()[0]
    except sqlite3.Error:
        return 0


def main(plan_path: str) -> int:
    plan = json.loads(Path(plan_path).read_text())
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    tmp = Path(plan["tmp"])  # short: Ray's socket paths live under it (a Unix socket path has at most 107 bytes)
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    head = start_node(["--head", f"--port={PORT}", "--include-dashboard=false", f"--temp-dir={tmp}"], tmp / "head.log")
    worker = None
    steps = []
    try:
        for _ in range(60):
            if alive_nodes() >= 1:
                break
            time.sleep(1)
        worker = start_node([f"--address=127.0.0.1:{PORT}"], tmp / "worker.log")
        for _ in range(60):
            if alive_nodes() >= 2:
                break
            time.sleep(1)
        else:
            raise SystemExit("the worker node did not join the cluster")
        for step in plan["steps"]:
            env = {**os.environ, **step.get("env", {})}
            started = time.perf_counter()
            proc = subprocess.Popen(step["cmd"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                    cwd=step.get("cwd"), text=True)
            killed_at = None
            if step.get("after") is not None:  # once the catalog holds that many indexed files: `then`
                while proc.poll() is None:
                    done = _indexed(step["catalog"])
                    if done >= step["after"]:
                        if step["then"] == "kill the worker node":
                            kill(worker)
                        elif step["then"] == "interrupt":  # Ctrl-C
                            proc.send_signal(signal.SIGINT)
                        elif step["then"] == "kill the driver":
                            proc.kill()
                        killed_at = done
                        break
                    time.sleep(0.02)
            out, err = proc.communicate(timeout=step.get("timeout", 600))
            steps.append({"rc": proc.returncode, "stdout": out, "stderr": err, "killed_at": killed_at,
                          "seconds": time.perf_counter() - started, "workers_left": _workers_left()})
    finally:
        for group in (worker, head):
            if group is not None:
                kill(group)
        Path(plan["out"]).write_text(json.dumps({"steps": steps}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
