"""parc's Queue and Pipe against multiprocessing's: an 8-byte round trip
between two processes, in one run, with ratios (issue 13).

    PYTHONPATH=build/python /usr/bin/python3 bench/python/queue_bench.py
    ... --reps 9            (the default)
    ... --quick             (3 repetitions, fewer round trips)

A round trip: the parent sends an 8-byte bytes object, a child sends it
back. Queue: parent put on one queue, child get and put on a second, parent
get (the objects are pickled, as multiprocessing's are). Pipe: one duplex
Pipe, with send_bytes/recv_bytes (raw bytes) and with send/recv (pickled).
Each figure is the median over --reps repetitions of (time of N round
trips) / N, after one warm-up; the implementations take turns within each
repetition, so they share whatever load the machine has at that moment. A
repetition during which other programs kept more than --noisy of a CPU busy
is run again (up to --retry-noisy times) and the count is printed.

Peers use the "fork" start method, as parc does. Goal (issue 13): the
Queue round trip at least 50x faster than multiprocessing.Queue's.

Where the time goes: the same put+get (send+recv) pairs in one process,
where nothing ever waits, time the work of one direction (a round trip is
two such pairs, one in each process); pickle.dumps + loads of the message
is what multiprocessing adds to it (parc sends a bytes object without the
pickle module). What a round trip takes beyond twice that is waiting: the
other process noticing the message, or being woken and scheduled.
"""
import argparse
import multiprocessing
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))        # bench/benchlib.py
if "PYTHONPATH" not in os.environ:
    sys.path.insert(0, os.path.join(HERE, "..", "..", "build", "python"))

import benchlib  # noqa: E402
import parc      # noqa: E402

MSG = b"\x01" * 8
FORK = multiprocessing.get_context("fork")


# ---------------------------------------------------------------- children

def queue_echo(qin, qout):
    while True:
        m = qin.get()
        if m is None:
            return
        qout.put(m)


def pipe_echo_bytes(conn):
    while True:
        m = conn.recv_bytes()
        if m == b"":
            return
        conn.send_bytes(m)


def pipe_echo_objects(conn):
    while True:
        m = conn.recv()
        if m is None:
            return
        conn.send(m)


class Case:
    """One implementation: a child that echoes, and a timed loop."""

    def __init__(self, name, mod, kind, n):
        self.name, self.mod, self.kind, self.n = name, mod, kind, n

    def setup(self):
        mod = self.mod
        if self.kind == "queue":
            self.a, self.b = mod.Queue(), mod.Queue()
            self.child = mod.Process(target=queue_echo, args=(self.a, self.b))
        else:
            self.a, far = mod.Pipe()
            echo = pipe_echo_bytes if self.kind == "bytes" else pipe_echo_objects
            self.child = mod.Process(target=echo, args=(far,))
        self.child.start()
        if self.kind != "queue":
            far.close()

    def run(self):
        n, msg = self.n, MSG
        if self.kind == "queue":
            put, get = self.a.put, self.b.get
            t = time.perf_counter()
            for _ in range(n):
                put(msg)
                get()
        elif self.kind == "bytes":
            send, recv = self.a.send_bytes, self.a.recv_bytes
            t = time.perf_counter()
            for _ in range(n):
                send(msg)
                recv()
        else:
            send, recv = self.a.send, self.a.recv
            t = time.perf_counter()
            for _ in range(n):
                send(msg)
                recv()
        return (time.perf_counter() - t) / n

    def child_cpu(self):
        try:
            with open(f"/proc/{self.child.pid}/stat") as f:
                v = f.read().rsplit(")", 1)[1].split()
            return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0

    def teardown(self):
        if self.kind == "queue":
            self.a.put(None)
        elif self.kind == "bytes":
            self.a.send_bytes(b"")
        else:
            self.a.send(None)
        self.child.join(10)
        if self.child.is_alive():
            self.child.kill()
            self.child.join()


def in_process(kind, n):
    """Seconds per put+get (send+recv) pair of parc's in one process: one
    direction of a round trip without any waiting (best of 5)."""
    import pickle
    if kind == "queue":
        q = parc.Queue()
        put, get = q.put, q.get
    elif kind == "pickle":
        put, get = (lambda m: pickle.loads(pickle.dumps(m, 5))), (lambda: 0)
    else:
        a, b = parc.Pipe()
        put, get = ((a.send_bytes, b.recv_bytes) if kind == "bytes"
                    else (a.send, b.recv))
    best, msg = float("inf"), MSG
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            put(msg)
            get()
        best = min(best, (time.perf_counter() - t) / n)
    return best


def where_it_goes(med, n):
    print("\n  where parc's round trip goes (one put+get or send+recv in one "
          "process: no waiting)")
    pk = in_process("pickle", n)
    print(f"  {'pickle.dumps + loads of the message':48s} {fmt(pk)}  "
          f"(multiprocessing's, each way; parc skips it for bytes)")
    for kind, name in (("queue", "parc.Queue put/get"),
                       ("bytes", "parc.Pipe send_bytes/recv_bytes"),
                       ("objects", "parc.Pipe send/recv")):
        one = in_process(kind, n)
        rest = med[name] - 2 * one
        print(f"  {name:48s} {fmt(one)}  x2 = {fmt(2 * one).strip()}; "
              f"waiting and wake-ups {fmt(rest).strip()} "
              f"({100 * rest / med[name]:.0f}% of the round trip)")


def own_cpu(case):
    t = os.times()
    return t.user + t.system + case.child_cpu()


def timed(case, noisy, retries):
    """One repetition: seconds per round trip, and whether it was re-run
    because other programs were busy."""
    reruns = 0
    while True:
        busy0, own0, w0 = benchlib.busy_seconds(), own_cpu(case), time.perf_counter()
        t = case.run()
        wall = time.perf_counter() - w0
        busy1, own1 = benchlib.busy_seconds(), own_cpu(case)
        others = None
        if busy0 is not None and busy1 is not None and wall > 0:
            others = max(0.0, (busy1 - busy0) - (own1 - own0)) / wall
        if others is None or others <= noisy or reruns >= retries:
            return t, reruns, others
        reruns += 1


def fmt(s):
    return f"{s * 1e6:8.2f} us"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--quick", action="store_true",
                    help="3 repetitions and fewer round trips (a smoke run)")
    ap.add_argument("--noisy", type=float, default=0.25,
                    help="CPUs other programs may keep busy during a "
                         "repetition before it is run again (default 0.25)")
    ap.add_argument("--retry-noisy", type=int, default=2)
    a = ap.parse_args()
    reps = 3 if a.quick else a.reps
    k = 0.1 if a.quick else 1.0
    cases = [
        Case("parc.Queue put/get", parc, "queue", int(20000 * k)),
        Case("multiprocessing.Queue put/get", FORK, "queue", int(2000 * k)),
        Case("parc.Pipe send_bytes/recv_bytes", parc, "bytes", int(20000 * k)),
        Case("multiprocessing.Pipe send_bytes/recv_bytes", FORK, "bytes",
             int(5000 * k)),
        Case("parc.Pipe send/recv", parc, "objects", int(20000 * k)),
        Case("multiprocessing.Pipe send/recv", FORK, "objects", int(5000 * k)),
    ]
    print(f"parc {parc.__version__} queue benchmark: Python "
          f"{platform.python_version()}, {os.cpu_count()} CPUs, "
          f"8-byte round trips between two processes, {reps} repetitions")
    print(f"load average before: {benchlib.loadavg()}")
    results = {c.name: [] for c in cases}
    reruns = {c.name: 0 for c in cases}
    others = {c.name: [] for c in cases}
    for c in cases:
        c.setup()
    try:
        for c in cases:          # warm-up
            c.run()
        for _ in range(reps):
            for c in cases:
                t, r, o = timed(c, a.noisy, a.retry_noisy)
                results[c.name].append(t)
                reruns[c.name] += r
                if o is not None:
                    others[c.name].append(o)
    finally:
        for c in cases:
            c.teardown()
    print(f"load average after: {benchlib.loadavg()}\n")
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"  {'round trip (median [min-max])':48s}")
    for c in cases:
        v = results[c.name]
        busy = (f"  others busy {statistics.median(others[c.name]):.2f} CPU"
                if others[c.name] else "")
        rerun = f", {reruns[c.name]} re-run" if reruns[c.name] else ""
        print(f"  {c.name:48s} {fmt(med[c.name])}  [{fmt(min(v)).strip()}-"
              f"{fmt(max(v)).strip()}]{busy}{rerun}")
    print()
    rows = [("Queue", "parc.Queue put/get", "multiprocessing.Queue put/get", 50),
            ("Pipe (bytes)", "parc.Pipe send_bytes/recv_bytes",
             "multiprocessing.Pipe send_bytes/recv_bytes", None),
            ("Pipe (objects)", "parc.Pipe send/recv",
             "multiprocessing.Pipe send/recv", None)]
    for title, ours, theirs, goal in rows:
        r = med[theirs] / med[ours]
        verdict = ""
        if goal:
            verdict = f"  (goal >= {goal}x: {'met' if r >= goal else 'NOT met'})"
        print(f"  {title:15s} parc {fmt(med[ours]).strip():>10s} vs "
              f"multiprocessing {fmt(med[theirs]).strip():>10s}: "
              f"{r:6.1f}x faster{verdict}")
    where_it_goes(med, int(20000 * k))
    return 0


if __name__ == "__main__":
    sys.exit(main())
