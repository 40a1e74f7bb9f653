#!/usr/bin/env python3
"""Python standard-library peers of parc-bench-pool (see bench/README.md).

    peer_mp.py map CHUNKSIZE N REPS WARM   Pool(2).map(noop, range(N), chunksize)
    peer_mp.py rtt N REPS WARM             ProcessPoolExecutor(2).submit(noop).result()
    peer_mp.py startup REPS WARM           with Pool(2) as p: p.apply(noop)
    peer_mp.py proc LABEL REPS WARM -- CMD...   wall time of a whole process

Every pool uses the "fork" start method, the one parc uses and the fastest
that multiprocessing has. Clock: time.clock_gettime(CLOCK_MONOTONIC), as the
C side. Output lines are the same as the C programs' (bench/common.h):
    sample LABEL REP SECONDS / info LABEL KEY=VALUE / error LABEL TEXT
Only the standard library is used.
"""
import concurrent.futures as cf
import multiprocessing as mp
import platform
import subprocess
import sys
import time

WORKERS = 2
CTX = mp.get_context("fork")


def now():
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def noop(x=None):
    return x


def sample(label, rep, seconds):
    print(f"sample {label} {rep} {seconds:.9e}", flush=True)


def info(label, text):
    print(f"info {label} {text}", flush=True)


def fail(label, text):
    print(f"error {label} {text}", flush=True)
    print(f"{label}: {text}", file=sys.stderr)
    sys.exit(1)


def versions():
    return (f"python={platform.python_version()} exe={sys.executable} "
            f"start_method={CTX.get_start_method()} workers={WORKERS}")


def cmd_map(chunksize, n, reps, warm):
    label = f"mp_map_cs{chunksize}"
    info(label, f"n={n} chunksize={chunksize} {versions()}")
    want = list(range(n))
    with CTX.Pool(WORKERS) as pool:
        pool.map(noop, range(2 * WORKERS), chunksize=1)  # workers are up
        for r in range(warm + reps):
            t0 = now()
            got = pool.map(noop, range(n), chunksize=chunksize)
            t1 = now()
            if got != want:
                fail(label, "wrong result from Pool.map")
            if r >= warm:
                sample(label, r - warm, (t1 - t0) / n)


def cmd_rtt(n, reps, warm):
    label = "ppe_rtt"
    info(label, f"n={n} {versions()}")
    with cf.ProcessPoolExecutor(WORKERS, mp_context=CTX) as ex:
        for _ in range(4 * WORKERS):  # workers are up
            ex.submit(noop).result()
        for r in range(warm + reps):
            t0 = now()
            for _ in range(n):
                ex.submit(noop).result()
            t1 = now()
            if r >= warm:
                sample(label, r - warm, (t1 - t0) / n)


def cmd_startup(reps, warm):
    label = "mp_startup"
    info(label, versions())
    for r in range(warm + reps):
        t0 = now()
        with CTX.Pool(WORKERS) as p:
            got = p.apply(noop, (42,))
            t1 = now()
        t2 = now()
        if got != 42:
            fail(label, "wrong result from Pool.apply")
        if r >= warm:
            sample(label, r - warm, t1 - t0)
            sample("mp_startup_exit", r - warm, t2 - t1)


def cmd_proc(label, reps, warm, argv):
    info(label, "cmd=" + " ".join(argv).replace("\n", "\\n"))
    for r in range(warm + reps):
        t0 = now()
        done = subprocess.run(argv, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
        t1 = now()
        if done.returncode != 0:
            err = done.stderr.decode(errors="replace").strip().replace("\n", " | ")
            fail(label, f"exit status {done.returncode}: {err[:300]}")
        if r >= warm:
            sample(label, r - warm, t1 - t0)


def usage():
    print(__doc__, file=sys.stderr)
    sys.exit(2)


def main(argv):
    if len(argv) < 2:
        usage()
    cmd, args = argv[1], argv[2:]
    try:
        if cmd == "map" and len(args) == 4:
            cmd_map(*map(int, args))
        elif cmd == "rtt" and len(args) == 3:
            cmd_rtt(*map(int, args))
        elif cmd == "startup" and len(args) == 2:
            cmd_startup(*map(int, args))
        elif cmd == "proc" and len(args) >= 5 and args[3] == "--":
            cmd_proc(args[0], int(args[1]), int(args[2]), args[4:])
        else:
            usage()
    except ValueError:
        usage()


if __name__ == "__main__":
    main(sys.argv)
