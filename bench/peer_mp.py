#!/usr/bin/env python3
"""Python standard-library peers of parc-bench-pool (see bench/README.md).

    peer_mp.py map CHUNKSIZE N REPS WARM   Pool(2).map(noop, range(N), chunksize)
    peer_mp.py rtt N REPS WARM             ProcessPoolExecutor(2).submit(noop).result()
    peer_mp.py startup REPS WARM           with Pool(2) as p: p.apply(noop)
    peer_mp.py proc LABEL REPS WARM -- CMD...   wall time of a whole process
    peer_mp.py chan queue|pipe SIZES REPS WARM TARGET_MS
                                           round trips through two
                                           multiprocessing.Queues / one Pipe

Every pool uses the "fork" start method, the one parc uses and the fastest
that multiprocessing has. Clock: time.clock_gettime(CLOCK_MONOTONIC), as the
C side. Output lines are the same as the C programs' (bench/common.h):
    sample LABEL REP SECONDS / info LABEL KEY=VALUE / error LABEL TEXT
Only the standard library is used.
"""
import concurrent.futures as cf
import multiprocessing as mp
import platform
import struct
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


# ---------------------------------------------------------------- channels
# The same protocol and timing loop as the C programs (cli/bench/pingpong.h):
# the timer sends a header (size, count) and waits for it back, then times
# `count` round trips of `size` bytes; the echo, a forked
# multiprocessing.Process, sends each message straight back. Size 0 ends it.
# Every message carries a sequence number in its first and last 8 bytes,
# checked on every reply; the whole last reply is compared after each
# repetition. Queue: put(bytearray) / get(), as users write it (the object
# is pickled by the queue's feeder thread). Pipe: Connection.send_bytes /
# recv_bytes, the raw-bytes calls (no pickling).

LARGE_SIZE = 16 << 20  # from here: at most LARGE_REPS timed repetitions
LARGE_REPS = 5
MAX_ITERS = 1 << 22
HEADER = struct.Struct("<QQ")
STAMP = struct.Struct("<Q")


def _queue_ends(a2b, b2a, side):
    if side == "timer":
        return a2b.put, b2a.get
    return b2a.put, a2b.get


def _pipe_ends(conn):
    return conn.send_bytes, conn.recv_bytes


def _echo(kind, chans):
    send, recv = (_queue_ends(*chans, "echo") if kind == "queue"
                  else _pipe_ends(chans[1]))
    while True:
        h = recv()
        send(h)
        size, count = HEADER.unpack(bytes(h))
        if size == 0 and count == 0:
            return
        for _ in range(count):
            send(recv())


class _Timer:
    def __init__(self, label, send, recv, max_size):
        self.label, self.send, self.recv = label, send, recv
        self.out = bytearray((i * 131 + 7) & 0xFF for i in range(256)) * (max_size // 256 + 1)
        self.seq = 0

    def batch(self, size, count):
        h = HEADER.pack(size, count)
        self.send(h)
        if bytes(self.recv()) != h:
            fail(self.label, "header ack is not the header")
        out = memoryview(self.out)[:size]  # a view: the stamp goes in place
        msg = bytearray(out) if size else bytearray()
        got = b""
        pack, unpack = STAMP.pack_into, STAMP.unpack_from
        t0 = now()
        for i in range(count):
            self.seq += 1
            seq = self.seq
            pack(msg, 0, seq)
            pack(msg, size - 8, seq)
            self.send(msg)
            got = self.recv()
            if unpack(got, 0)[0] != seq or unpack(got, size - 8)[0] != seq:
                fail(self.label, f"reply {i + 1} of {count} carries the wrong "
                     "sequence number")
        t1 = now()
        if count and (len(got) != size or bytes(got) != bytes(msg)):
            fail(self.label, f"the last reply ({len(got)} bytes) differs from "
                 f"the message sent ({size} bytes): wrong data")
        return t1 - t0

    def calibrate(self, size, target):
        self.batch(size, 1)  # first touch of this size
        k = 1
        while True:
            dt = self.batch(size, k)
            if dt >= target / 8 or k >= MAX_ITERS:
                per = dt / k
                want = target / per if per > 0 else MAX_ITERS
                return max(1, min(MAX_ITERS, int(want)))
            k *= 2


def cmd_chan(kind, sizes, reps, warm, target):
    name = "mp_queue" if kind == "queue" else "mp_pipe"
    if kind == "queue":
        chans = (CTX.Queue(), CTX.Queue())
        send, recv = _queue_ends(*chans, "timer")
        how = "two multiprocessing.Queue()s, put(bytearray)/get()"
    else:
        chans = CTX.Pipe(duplex=True)
        send, recv = _pipe_ends(chans[0])
        how = "one multiprocessing.Pipe(duplex=True), send_bytes/recv_bytes"
    info("ch_" + name, f"{how}; echo is a Process; python={platform.python_version()} "
         f"exe={sys.executable} start_method={CTX.get_start_method()}")
    echo = CTX.Process(target=_echo, args=(kind, chans), daemon=True)
    echo.start()
    timer = _Timer("ch_" + name, send, recv, max(sizes))
    try:
        for size in sizes:
            timer.label = label = f"ch_{name}_{size}"
            iters = timer.calibrate(size, target)
            r_timed = min(reps, LARGE_REPS) if size >= LARGE_SIZE else reps
            r_warm = min(warm, 1) if size >= LARGE_SIZE else warm
            for r in range(r_warm + r_timed):
                dt = timer.batch(size, iters)
                if r >= r_warm:
                    sample(label, r - r_warm, dt / iters)
            info(label, f"size={size} iters_per_rep={iters} reps={r_timed} warm={r_warm}")
        timer.label = "ch_" + name
        send(HEADER.pack(0, 0))
        recv()
        echo.join(30)
        if echo.exitcode != 0:
            fail("ch_" + name, f"echo process ended badly (exitcode {echo.exitcode})")
    finally:
        if echo.is_alive():
            echo.kill()


def parse_sizes(text):
    sizes = [int(x) for x in text.split(",")]
    if not sizes or min(sizes) < 8:
        raise ValueError("sizes")
    return sizes


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
        elif cmd == "chan" and len(args) == 5 and args[0] in ("queue", "pipe"):
            cmd_chan(args[0], parse_sizes(args[1]), int(args[2]), int(args[3]),
                     int(args[4]) * 1e-3)
        elif cmd == "proc" and len(args) >= 5 and args[3] == "--":
            cmd_proc(args[0], int(args[1]), int(args[2]), args[4:])
        else:
            usage()
    except ValueError:
        usage()


if __name__ == "__main__":
    main(sys.argv)
