#!/usr/bin/env python3
"""peer_mpi4py.py -- mpi4py's side of the MPI task farm (bench/README.md,
"MPI task farm vs mpi4py"): the same tasks as bench/mpi_farm.c, through
mpi4py.futures.MPIPoolExecutor on the same ranks.

  mpiexec -n N python3 -m mpi4py.futures bench/peer_mpi4py.py \\
      CHUNKSIZE TASK_US N_TASKS REPS WARM

Rank 0 runs this script and is the master; ranks 1..N-1 are mpi4py's
shared pool of workers (python -m mpi4py.futures starts them), N-1 workers
as in parc's pool and the C master/worker loop. Each repetition is one
`list(executor.map(farm_task, range(N_TASKS), chunksize=CHUNKSIZE))`,
timed from the call to the last result (submitting the futures
included), its result checked after it. CHUNKSIZE 1 is map's default:
one task per message.

The task: TASK_US = 0 returns its argument; otherwise it takes TASK_US
microseconds of wall time, sleeping until SPIN_US before its end and
spinning on the clock for the rest -- the same as mpi_farm.c's task. The
task length reaches the workers through the executor's initializer.

Prints common.h's lines: `sample LABEL REP SECONDS`, `info LABEL ...`,
`error LABEL ...` (exit status 1).
"""
import platform
import sys
import time

SPIN_US = 300  # as mpi_farm.c: the end of a timed task is spun, not slept
TASK_S = 0.0   # set in each worker by set_task_length


def set_task_length(seconds):
    global TASK_S
    TASK_S = seconds


def farm_task(i):
    if TASK_S:
        now = time.monotonic
        end = now() + TASK_S
        nap = TASK_S - SPIN_US * 1e-6
        if nap > 0:
            time.sleep(nap)
        while now() < end:
            pass
    return i


def info(label, text):
    print("info %s %s" % (label, text), flush=True)


def fail(label, text):
    print("error %s %s" % (label, text), flush=True)
    print("%s: %s" % (label, text), file=sys.stderr, flush=True)
    sys.exit(1)


def arg(s, name, lo, hi):
    try:
        v = int(s)
    except ValueError:
        v = lo - 1
    if v < lo or v > hi:
        sys.exit("bad %s '%s' (want %d..%d)" % (name, s, lo, hi))
    return v


def main():
    if len(sys.argv) != 6:
        sys.exit("usage: mpiexec -n N python3 -m mpi4py.futures "
                 "peer_mpi4py.py CHUNKSIZE TASK_US N_TASKS REPS WARM")
    import mpi4py
    from mpi4py import MPI
    from mpi4py.futures import MPIPoolExecutor
    chunksize = arg(sys.argv[1], "CHUNKSIZE", 1, 1 << 30)
    task_us = arg(sys.argv[2], "TASK_US", 0, 60000000)
    n = arg(sys.argv[3], "N_TASKS", 1, 1 << 31)
    reps = arg(sys.argv[4], "REPS", 1, 1000)
    warm = arg(sys.argv[5], "WARM", 0, 1000)
    label = "mpi4py_cs%d_t%d" % (chunksize, task_us)
    ranks = MPI.COMM_WORLD.Get_size()
    if ranks < 2:
        fail(label, "needs 2 ranks at least (run under mpiexec -n N python3 "
                    "-m mpi4py.futures), got %d" % ranks)
    version = " ".join(MPI.Get_library_version().replace(",", " ").split())
    info(label, "ranks=%d mpi=%s" % (ranks, version))
    info(label, "n=%d chunk=%d task_us=%d workers=%d inflight=1 mpi4py=%s "
         "python=%s" % (n, chunksize, task_us, ranks - 1, mpi4py.__version__,
                        platform.python_version()))
    if task_us:
        set_task_length(task_us * 1e-6)
        t0 = time.monotonic()
        for _ in range(20):
            farm_task(0)
        info(label, "task_alone_us=%.2f (mean of 20; asked %d)"
             % ((time.monotonic() - t0) / 20 * 1e6, task_us))
    want = list(range(n))
    with MPIPoolExecutor(initializer=set_task_length,
                         initargs=(task_us * 1e-6,)) as ex:
        for r in range(warm + reps):
            t0 = time.monotonic()
            got = list(ex.map(farm_task, range(n), chunksize=chunksize))
            t1 = time.monotonic()
            if got != want:
                bad = next(i for i in range(n) if i >= len(got) or
                           got[i] != want[i])
                fail(label, "repetition %d: result %d is %r, want %d"
                     % (r, bad, got[bad] if bad < len(got) else None, bad))
            if r >= warm:
                print("sample %s %d %.9e" % (label, r - warm, t1 - t0),
                      flush=True)


if __name__ == "__main__":
    main()
