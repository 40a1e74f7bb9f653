"""parc's Pool and Executor against multiprocessing, concurrent.futures and
joblib/loky on the same work, in one run, with ratios (issue 13).

    PYTHONPATH=build/python /usr/bin/python3 bench/python/pool_bench.py
    ... --reps 9 --workers 2          (defaults)
    ... --quick                       (3 repetitions, smaller sizes)
    ... --sections 13 --no-loky       (only measurements 1 and 3; start
                                       without loky's seconds-long one)

What is measured, each as the median of --reps timed repetitions after one
warm-up, the implementations taking turns within each repetition so that
they share whatever load the machine has at that moment:

  1. Pool.map of a no-op function, chunksize=1: wall time per task
  2. Pool.map of a no-op function, automatic chunksize: wall time per task,
     beside its floor: the same pickling and calls with no pool (the
     caller's part plus the workers' part divided by the workers)
  3. Executor.submit(f).result() (and Pool.apply): one round trip
  4. pool start: creation to the first result; and the shut-down after it,
     beside its floor: one fork of this interpreter to a child whose
     Python is ready (os.fork, which runs Python's after-fork protocol in
     the child) -- no pool of forked Python workers starts faster, so
     multiprocessing's start over the floor is the most any of them can
     gain on it

Peers: multiprocessing.Pool (fork), concurrent.futures.ProcessPoolExecutor
(fork), joblib.Parallel on loky (joblib's default backend; its workers are
reused between calls, as joblib does, so its start is measured with loky's
get_reusable_executor(reuse=False), three times, apart from the others). The goals of issue 13 are printed
beside each ratio: 1 and 2 at least 10x lower than multiprocessing.Pool,
3 at least 50x faster than ProcessPoolExecutor, 4 at least 5x faster than
multiprocessing.Pool. Each line gives the median [min-max] of the
repetitions; the load average before and after says how busy the machine
was.
"""
import argparse
import concurrent.futures as cf
import multiprocessing
import os
import pickle
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

try:
    import joblib
except ImportError:  # the joblib rows are left out
    joblib = None


def noop(x):
    return x


class WrongResult(Exception):
    pass


def check(got, want, what):
    if got != want:
        raise WrongResult(f"{what}: a wrong result")


# ---------------------------------------------------------------- work

class Impl:
    """One implementation of one measurement: setup(), run() -> seconds per
    unit, teardown()."""

    def __init__(self, name, run, setup=None, teardown=None):
        self.name, self.run = name, run
        self.setup = setup or (lambda: None)
        self.teardown = teardown or (lambda: None)


def per_item(fn, n):
    """fn(n) maps noop over range(n): seconds per item (checked after)."""
    t = time.perf_counter()
    out = fn(n)
    t = (time.perf_counter() - t) / n
    check(list(out), list(range(n)), "map")
    return t


def floor_per_item(n, workers, chunk):
    """What a map in chunks of `chunk` costs with no pool at all: the
    caller's part (make the list, pickle the chunks, unpickle the results
    into one list) plus the workers' part (unpickle, call, pickle) shared
    by `workers`, all run here, one after the other: seconds per item. No
    implementation that pickles goes much below it."""
    t0 = time.perf_counter()
    items = list(range(n))
    blobs = [pickle.dumps(items[i:i + chunk], 5) for i in range(0, n, chunk)]
    t1 = time.perf_counter()
    outs = [pickle.dumps([noop(x) for x in pickle.loads(b)], 5)
            for b in blobs]
    t2 = time.perf_counter()
    res = []
    for o in outs:
        res.extend(pickle.loads(o))
    t3 = time.perf_counter()
    check(res, items, "floor")
    return ((t1 - t0) + (t3 - t2) + (t2 - t1) / workers) / n


def median_call(call, n):
    """Median of n timed calls (round trips) of call() -> 1."""
    ts, bad = [], 0
    for _ in range(n):
        t = time.perf_counter()
        r = call()
        ts.append(time.perf_counter() - t)
        bad += r != 1
    check(bad, 0, "round trip")
    return statistics.median(ts)


def timed(impl, noisy, retries):
    """One repetition of impl: (seconds, re-runs, CPUs others kept busy).
    A repetition during which other programs kept more than `noisy` CPUs
    busy is run again, up to `retries` times."""
    reruns = 0
    while True:
        b0, f0 = benchlib.busy_seconds(), benchlib.tree_cpu()
        w0 = time.perf_counter()
        t = impl.run()
        wall = time.perf_counter() - w0
        b1, f1 = benchlib.busy_seconds(), benchlib.tree_cpu()
        others = None
        if b0 is not None and b1 is not None and wall > 0:
            others = max(0.0, (b1 - b0) - (f1 - f0)) / wall
        if others is None or others <= noisy or reruns >= retries:
            return t, reruns, others
        reruns += 1


class Pools:
    """The pools the per-task measurements share, warm."""

    def __init__(self, workers):
        self.workers = workers
        self.parc = parc.Pool(workers)
        self.mp = multiprocessing.get_context("fork").Pool(workers)
        self.cf = cf.ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("fork"))
        self.parc_ex = parc.Executor(workers)
        self.joblib = (joblib.Parallel(n_jobs=workers, backend="loky")
                       if joblib else None)

    def close(self):
        self.parc.terminate()
        self.mp.terminate()
        self.mp.join()
        self.cf.shutdown()
        self.parc_ex.shutdown()


def map_impls(p, chunk1, sizes):
    w = p.workers

    def mp_auto_chunks(n):
        c, extra = divmod(n, w * 4)
        return c + 1 if extra else max(c, 1)
    if chunk1:
        impls = [
            Impl("parc.Pool.map", lambda: per_item(
                lambda n: p.parc.map(noop, range(n), 1), sizes["parc"])),
            Impl("multiprocessing.Pool.map", lambda: per_item(
                lambda n: p.mp.map(noop, range(n), 1), sizes["mp"])),
            Impl("ProcessPoolExecutor.map", lambda: per_item(
                lambda n: list(p.cf.map(noop, range(n), chunksize=1)),
                sizes["cf"])),
        ]
        if p.joblib:
            impls.append(Impl("joblib(loky) batch_size=1", lambda: per_item(
                lambda n: joblib.Parallel(n_jobs=w, batch_size=1)(
                    joblib.delayed(noop)(x) for x in range(n)),
                sizes["joblib"])))
    else:
        impls = [
            Impl("parc.Pool.map", lambda: per_item(
                lambda n: p.parc.map(noop, range(n)), sizes["parc"])),
            Impl("floor: the pickling and calls alone", lambda: floor_per_item(
                sizes["parc"], w, mp_auto_chunks(sizes["parc"]))),
            Impl("multiprocessing.Pool.map", lambda: per_item(
                lambda n: p.mp.map(noop, range(n)), sizes["mp"])),
            Impl("ProcessPoolExecutor.map", lambda: per_item(
                lambda n: list(p.cf.map(noop, range(n),
                                        chunksize=mp_auto_chunks(n))),
                sizes["cf"])),
        ]
        if p.joblib:
            impls.append(Impl("joblib(loky) batch_size=auto", lambda: per_item(
                lambda n: joblib.Parallel(n_jobs=w)(
                    joblib.delayed(noop)(x) for x in range(n)),
                sizes["joblib"])))
    return impls


def rtt_impls(p, sizes):
    return [
        Impl("parc.Executor.submit().result()", lambda: median_call(
            lambda: p.parc_ex.submit(noop, 1).result(), sizes["parc"])),
        Impl("ProcessPoolExecutor.submit().result()", lambda: median_call(
            lambda: p.cf.submit(noop, 1).result(), sizes["cf"])),
        Impl("parc.Pool.apply", lambda: median_call(
            lambda: p.parc.apply(noop, (1,)), sizes["parc"])),
        Impl("multiprocessing.Pool.apply", lambda: median_call(
            lambda: p.mp.apply(noop, (1,)), sizes["cf"])),
    ]


FORKS = []  # seconds os.fork() took to return in the parent, per floor run


def fork_floor():
    """Seconds from os.fork() to the child's first word through a pipe:
    the fork (a copy of this interpreter's page tables) and, in the child,
    Python's after-fork protocol, which any forked worker needs before it
    runs Python."""
    r, w = os.pipe()
    try:
        t = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os.write(w, b"1")
            os._exit(0)
        FORKS.append(time.perf_counter() - t)
        check(os.read(r, 1), b"1", "fork floor")
        t1 = time.perf_counter()
        os.waitpid(pid, 0)
    finally:
        os.close(r)
        os.close(w)
    return t1 - t


def resident():
    """This process's resident memory and mappings, which a fork copies the
    page tables of."""
    try:
        with open("/proc/self/status") as f:
            kib = next(int(line.split()[1]) for line in f
                       if line.startswith("VmRSS:"))
        with open("/proc/self/maps") as f:
            maps = sum(1 for _ in f)
    except (OSError, StopIteration):
        return "size unknown"
    return f"{kib / 1024:.0f} MB resident, {maps} mappings"


def start_impls(workers, shutdown_times):
    fork = multiprocessing.get_context("fork")

    def timed(make, first, close, name):
        t = time.perf_counter()
        pool = make()
        first(pool)
        t1 = time.perf_counter()
        close(pool)
        shutdown_times.setdefault(name, []).append(time.perf_counter() - t1)
        return t1 - t

    def mp_close(pool):
        pool.terminate()
        pool.join()
    impls = [
        Impl("parc.Pool", lambda: timed(
            lambda: parc.Pool(workers), lambda q: q.apply(noop, (1,)),
            lambda q: q.terminate(), "parc.Pool")),
        Impl("multiprocessing.Pool", lambda: timed(
            lambda: fork.Pool(workers), lambda q: q.apply(noop, (1,)),
            mp_close, "multiprocessing.Pool")),
        Impl("parc.Executor", lambda: timed(
            lambda: parc.Executor(workers),
            lambda q: q.submit(noop, 1).result(),
            lambda q: q.shutdown(), "parc.Executor")),
        Impl("ProcessPoolExecutor", lambda: timed(
            lambda: cf.ProcessPoolExecutor(workers, mp_context=fork),
            lambda q: q.submit(noop, 1).result(),
            lambda q: q.shutdown(), "ProcessPoolExecutor")),
        Impl("floor: one fork, its Python ready", fork_floor),
    ]
    return impls


def loky_start(workers, shutdown_times):
    """loky's executor start, apart: it starts fresh interpreters, whose
    seconds of CPU would weigh on whatever ran beside them."""
    from joblib.externals.loky import get_reusable_executor
    t = time.perf_counter()
    ex = get_reusable_executor(max_workers=workers, reuse=False)
    ex.submit(noop, 1).result()
    t1 = time.perf_counter()
    ex.shutdown(wait=True)
    shutdown_times.setdefault("loky (joblib's executor)", []).append(
        time.perf_counter() - t1)
    time.sleep(0.5)  # let its processes go before the next measurement
    return t1 - t


# ---------------------------------------------------------------- running

NOISE = {}  # name -> [re-runs, [CPUs others kept busy]]


def run_interleaved(impls, reps, noisy=0.25, retries=2):
    """One warm-up, then reps rounds in which each implementation runs once
    (in turn, so all see the same load). name -> list of seconds."""
    out = {i.name: [] for i in impls}
    for i in impls:
        i.setup()
    for r in range(reps + 1):
        for i in impls:
            if r == 0:
                i.run()
                continue
            t, reruns, others = timed(i, noisy, retries)
            out[i.name].append(t)
            note = NOISE.setdefault(i.name, [0, []])
            note[0] += reruns
            if others is not None:
                note[1].append(others)
    for i in impls:
        i.teardown()
    return out


def fmt(seconds):
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def report(title, results, base, against, goal, rows):
    print(f"\n{title}")
    med = {k: statistics.median(v) for k, v in results.items()}
    for name, v in results.items():
        ratio = ""
        if name != base:
            ratio = f"  {med[name] / med[base]:6.1f}x parc's"
        note = NOISE.get(name)
        busy = ""
        if note and note[1]:
            busy = f"  others {statistics.median(note[1]):.2f} CPU"
            if note[0]:
                busy += f", {note[0]} re-run"
        print(f"  {name:38s} {fmt(med[name]):>10s}  "
              f"[{fmt(min(v))}-{fmt(max(v))}]{ratio}{busy}")
    r = med[against] / med[base]
    met = "met" if r >= goal else "NOT met"
    print(f"  -> {base} vs {against}: {r:.1f}x (goal >= {goal}x: {met})")
    rows.append((title, base, med[base], against, med[against], r, goal,
                 r >= goal))


def per_task(pools, sections, k, run, rows):
    """Measurements 1-3, on warm pools."""
    if "1" in sections:
        res = run(map_impls(pools, True, {
            "parc": int(20000 * k), "mp": int(3000 * k), "cf": int(2000 * k),
            "joblib": int(1000 * k)}))
        report("1. Pool.map, no-op, chunksize=1: time per task", res,
               "parc.Pool.map", "multiprocessing.Pool.map", 10, rows)
    if "2" in sections:
        res = run(map_impls(pools, False, {
            "parc": int(200000 * k), "mp": int(200000 * k),
            "cf": int(200000 * k), "joblib": int(100000 * k)}))
        report("2. Pool.map, no-op, automatic chunksize: time per task", res,
               "parc.Pool.map", "multiprocessing.Pool.map", 10, rows)
    if "3" in sections:
        res = run(rtt_impls(pools, {
            "parc": int(3000 * k), "cf": int(500 * k)}))
        report("3. one call's round trip (median call)", res,
               "parc.Executor.submit().result()",
               "ProcessPoolExecutor.submit().result()", 50, rows)


def start(workers, reps, run, rows, loky):
    """Measurement 4: a pool's start, and its shut-down."""
    shutdowns = {}
    res = run(start_impls(workers, shutdowns))
    if loky:
        res["loky (joblib's executor)"] = [
            loky_start(workers, shutdowns) for _ in range(min(reps, 3))]
    report("4. pool start: creation to the first result", res,
           "parc.Pool", "multiprocessing.Pool", 5, rows)
    floor = statistics.median(res["floor: one fork, its Python ready"])
    mp = statistics.median(res["multiprocessing.Pool"])
    print(f"  floor: {fmt(floor)}, of which the fork "
          f"{fmt(statistics.median(FORKS))} (this interpreter: {resident()});"
          f" multiprocessing.Pool / floor = {mp / floor:.1f}x, the most a "
          "pool of forked workers can gain on it")
    print("  shut-down after it (terminate / shutdown):")
    for name, v in shutdowns.items():
        print(f"    {name:38s} {fmt(statistics.median(v[1:] or v)):>10s}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--quick", action="store_true",
                    help="3 repetitions and smaller sizes (a smoke run)")
    ap.add_argument("--noisy", type=float, default=0.25,
                    help="CPUs other programs may keep busy during a "
                         "repetition before it is run again (default 0.25)")
    ap.add_argument("--retry-noisy", type=int, default=2)
    ap.add_argument("--sections", default="1234",
                    help="which measurements to run (default 1234)")
    ap.add_argument("--no-loky", action="store_true",
                    help="leave loky out of the start measurement (its "
                         "interpreters take seconds)")
    a = ap.parse_args()

    def run(impls):
        return run_interleaved(impls, reps, a.noisy, a.retry_noisy)
    reps = 3 if a.quick else a.reps
    k = 0.2 if a.quick else 1.0
    print(f"parc {parc.__version__} pool benchmark: Python "
          f"{platform.python_version()}, {os.cpu_count()} CPUs "
          f"({platform.processor() or platform.machine()}), "
          f"{a.workers} workers, {reps} repetitions")
    print(f"load average before: {benchlib.loadavg()}; 'others' below: "
          f"the CPUs other programs kept busy during a repetition (median)")
    rows = []
    if set("123") & set(a.sections):
        pools = Pools(a.workers)
        try:
            per_task(pools, a.sections, k, run, rows)
        finally:
            pools.close()
    if "4" in a.sections:
        start(a.workers, reps, run, rows, joblib and not a.no_loky)
    print(f"\nload average after: {benchlib.loadavg()}")
    print("\nsummary (parc vs the peer named in issue 13):")
    for title, base, b, against, o, r, goal, ok in rows:
        print(f"  {title.split(':')[0]:55s} {fmt(b):>10s} vs {fmt(o):>10s}"
              f"  {r:6.1f}x  goal {goal}x  {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except WrongResult as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
