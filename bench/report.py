#!/usr/bin/env python3
"""Turns the lines printed by the benchmark programs into the results table.

    report.py RAW_LOG RESULTS_MD RESULTS_CSV [CHANNEL_CSV]

RAW_LOG holds, in any order, the output of every step of bench/run:
    sample LABEL REP SECONDS    info LABEL KEY=VALUE ...    error LABEL TEXT
    step NAME rc=RC secs=S ...  meta KEY VALUE...   note STEP TEXT
    skip STEP REASON            (a step that could not be run at all)
Prints the tables to stdout -- the parc-vs-peer table with its goals, then
the channel round trips and bandwidths by message size, then `parc run`
beside xargs and GNU parallel -- and writes them as Markdown and CSV
(CHANNEL_CSV defaults to results_chan.csv beside RESULTS_CSV; the parc run
rows go to results_run.csv beside it). Standard library only. Exits 0 even when goals are missed:
the table says so.
"""
import collections
import csv
import os
import statistics
import sys

# What is compared. kind: "faster" (goal: peer/parc >= goal), "time" (goal:
# parc/peer <= goal), "info" (no goal; ratio shown as peer/parc),
# "floor" (no goal; ratio shown as parc/peer: how many machine floors).
COMPARISONS = [
    dict(id="1", what="map, chunk 1: time per task",
         parc="map_c1", peer="mp_map_cs1", peer_name="Pool.map chunksize=1",
         kind="faster", goal=20.0,
         interval="parc: one parc_map call of N no-op tasks, chunk 1, on a warm "
         "2-process pool, divided by N. Python: one Pool(2).map(noop, "
         "range(N), chunksize=1) on a warm pool, divided by N. Pool creation "
         "and result checking are outside the interval."),
    dict(id="2", what="map, auto chunk: time per task",
         parc="map_c0", peer="mp_map_cs100", peer_name="Pool.map chunksize=100",
         kind="faster", goal=2.0,
         interval="as 1, with parc's automatic chunking (chunk 0) against "
         "chunksize=100."),
    dict(id="3", what="submit + wait round trip",
         parc="rtt", peer="ppe_rtt", peer_name="ProcessPoolExecutor submit().result()",
         kind="faster", goal=20.0,
         interval="parc: N sequential parc_submit + parc_future_wait + "
         "parc_future_free of a no-op on a warm 2-process pool, divided by N "
         "(one task in flight at a time). Python: N sequential "
         "ex.submit(noop).result() on a warm ProcessPoolExecutor(2), divided "
         "by N."),
    dict(id="3b", what="  parc round trip vs cache-line round trip",
         parc="rtt", peer="cacheline_rtt", peer_name="core-to-core cache line",
         peer_step="cacheline", kind="floor", goal=None,
         interval="cache line: two threads pinned to two CPUs ping-pong a "
         "counter on one 64-byte-aligned C11 atomic; time of ITERS round "
         "trips divided by ITERS. The machine's floor for any cross-core "
         "round trip; parc's figure is repeated beside it."),
    dict(id="4a", what="parc_for dynamic, chunk 16: loop time",
         parc="for_c16", peer="omp_c16", peer_name="OpenMP schedule(dynamic,16)",
         kind="time", goal=1.5,
         interval="parc: one parc_for(PARC_SCHEDULE_DYNAMIC, chunk) over the "
         "uneven loop of bench/kernel.h on a warm PARC_THREADS pool. OpenMP: "
         "one '#pragma omp parallel for schedule(dynamic, chunk)' region over "
         "the same loop, same thread count, team already started. Both "
         "outputs are checked element by element against a serial run."),
    dict(id="4b", what="parc_for dynamic, chunk 256: loop time",
         parc="for_c256", peer="omp_c256", peer_name="OpenMP schedule(dynamic,256)",
         kind="time", goal=1.5, interval="as 4a, chunk 256."),
    dict(id="4c", what="parc_for dynamic, chunk 4096: loop time",
         parc="for_c4096", peer="omp_c4096", peer_name="OpenMP schedule(dynamic,4096)",
         kind="time", goal=1.5, interval="as 4a, chunk 4096."),
    dict(id="5", what="process pool start-up to first result",
         parc="startup", peer="mp_startup", peer_name="with Pool(2): p.apply(noop)",
         kind="faster", goal=20.0,
         interval="parc: parc_pool_create(PARC_PROCESSES, 2 workers) + "
         "parc_submit of a no-op + parc_future_wait until its result. "
         "Python, inside the interpreter: from before Pool(2) until "
         "p.apply(noop) returns (pool shut-down excluded)."),
    dict(id="5b", what="  pool shut-down after 5",
         parc="startup_destroy", peer="mp_startup_exit", peer_name="leaving 'with Pool'",
         parc_step="startup", peer_step="mp_startup", kind="info", goal=None,
         interval="parc: parc_pool_destroy right after 5. Python: leaving the "
         "'with' block (Pool.terminate)."),
    dict(id="5c", what="  whole process: start, pool, 1 task, exit",
         parc="parc_proc", peer="py_proc", peer_name="python3 -c '...Pool(2).apply'",
         kind="info", goal=None,
         interval="wall time of a whole child process, fork+exec to exit, "
         "timed by the same Python parent: 'parc-bench-pool once' against "
         "'python3 -c' running 5's Python code (interpreter start-up "
         "included)."),
    dict(id="6a", what="8 B round trip: parc_queue vs MPI",
         parc="ch_parc_queue_8", peer="ch_mpi_8", peer_name="MPI_Send/MPI_Recv, 2 ranks",
         parc_step="chan_parc_queue", peer_step="chan_mpi", peer_short="MPI",
         kind="time", goal=2.0,
         interval="one ping-pong round trip of an 8-byte message between two "
         "processes, timed in the sending process: send, the echo process "
         "receives it whole and sends it back, the sender has it whole. parc: "
         "two PARC_SHARED parc_queues, one each way, echo started with "
         "parc_proc_start. MPI: blocking MPI_Send/MPI_Recv of MPI_BYTE between "
         "2 Open MPI ranks (mpirun --bind-to none). Each repetition is the mean "
         "of a batch of round trips lasting about BENCH_CHAN_TARGET_MS."),
    dict(id="6b", what="8 B round trip: parc_pipe vs MPI",
         parc="ch_parc_pipe_8", peer="ch_mpi_8", peer_name="MPI_Send/MPI_Recv, 2 ranks",
         parc_step="chan_parc_pipe", peer_step="chan_mpi", peer_short="MPI",
         kind="time", goal=2.0,
         interval="as 6a, through one PARC_SHARED parc_pipe (both directions)."),
    dict(id="7a", what="8 B round trip: parc_queue vs mp.Queue",
         parc="ch_parc_queue_8", peer="ch_mp_queue_8", peer_name="multiprocessing.Queue x2",
         parc_step="chan_parc_queue", peer_step="chan_mp_queue",
         kind="faster", goal=100.0,
         interval="as 6a; Python: two multiprocessing.Queue()s (fork context), "
         "put(bytearray) / get(), echo a multiprocessing.Process."),
    dict(id="7b", what="8 B round trip: parc_pipe vs mp.Queue",
         parc="ch_parc_pipe_8", peer="ch_mp_queue_8", peer_name="multiprocessing.Queue x2",
         parc_step="chan_parc_pipe", peer_step="chan_mp_queue",
         kind="faster", goal=100.0, interval="as 7a, parc through one parc_pipe."),
    dict(id="7c", what="  8 B round trip: parc_pipe vs mp.Pipe",
         parc="ch_parc_pipe_8", peer="ch_mp_pipe_8", peer_name="multiprocessing.Pipe",
         parc_step="chan_parc_pipe", peer_step="chan_mp_pipe",
         kind="info", goal=None,
         interval="as 7b against one multiprocessing.Pipe(duplex=True), "
         "send_bytes / recv_bytes (no pickling)."),
    dict(id="8a", what="1 MiB bandwidth: parc_queue vs memcpy",
         parc="ch_parc_queue_1048576", peer="memcpy_1048576", peer_name="memcpy, one core",
         parc_step="chan_parc_queue", peer_step="memcpy", size=1 << 20,
         kind="bw", goal=0.6,
         interval="parc: bandwidth = 1 MiB / (round trip / 2), the round trip "
         "of 6a with 1 MiB messages. memcpy: 1 MiB / the time of one memcpy "
         "of 1 MiB between two warm buffers in one thread (mean of a batch, "
         "median over the repetitions). Bytes are counted once (not read + "
         "write); 1 GiB/s = 2^30 bytes per second."),
    dict(id="8b", what="1 MiB bandwidth: parc_pipe vs memcpy",
         parc="ch_parc_pipe_1048576", peer="memcpy_1048576", peer_name="memcpy, one core",
         parc_step="chan_parc_pipe", peer_step="memcpy", size=1 << 20,
         kind="bw", goal=0.6, interval="as 8a, through one parc_pipe."),
    dict(id="9a", what="parc run, `true` jobs: per-job overhead vs xargs",
         parc="run_true_parc_perjob", peer="run_true_xargs_perjob", peer_name="xargs -P J -n 1",
         parc_step="run_true_parc", peer_step="run_true_xargs", peer_short="xargs",
         kind="time", goal=1.2,
         interval="one whole command running N jobs of `true VALUE`, J at a "
         "time, from fork+exec of the tool to its exit, stdin the input file "
         "(xargs) or /dev/null, stdout /dev/null. Per-job overhead = (wall - "
         "ideal) / N x J, ideal = 0 for `true`: the time each job costs one "
         "of the J lanes. parc: `parc run -j J true :::: FILE`; xargs: "
         "`xargs -P J -n 1 true < FILE`; FILE = seq N. Neither uses a shell."),
    dict(id="9b", what="parc run, `true` jobs: per-job overhead vs GNU parallel",
         parc="run_true_parc_perjob", peer="run_true_parallel_perjob",
         peer_name="parallel -j J (via a shell)",
         parc_step="run_true_parc", peer_step="run_true_parallel",
         kind="faster", goal=4.0,
         interval="as 9a; GNU parallel: `parallel --will-cite -j J true :::: "
         "FILE`, which runs every job through a shell (`$SHELL -c 'true 1'`, "
         "the shell it was started from; see the parc run section)."),
    dict(id="9c", what="parc run, 10 ms sleeps: per-job overhead vs xargs",
         parc="run_sleep_parc_perjob", peer="run_sleep_xargs_perjob", peer_name="xargs -P J -n 1",
         parc_step="run_sleep_parc", peer_step="run_sleep_xargs", peer_short="xargs",
         kind="time", goal=1.2,
         interval="as 9a with N jobs of `sleep 0.01` (FILE = N lines of "
         "0.01); ideal = N x 10 ms / J."),
    dict(id="9d", what="parc run, 10 ms sleeps: per-job overhead vs GNU parallel",
         parc="run_sleep_parc_perjob", peer="run_sleep_parallel_perjob",
         peer_name="parallel -j J (via a shell)",
         parc_step="run_sleep_parc", peer_step="run_sleep_parallel",
         kind="faster", goal=4.0, interval="as 9c against GNU parallel (as 9b)."),
    dict(id="9e", what="parc run start-up (one job, minus a direct run)",
         parc="run_start_parc_net", peer="run_start_xargs_net", peer_name="xargs, one job",
         parc_step="run_start_parc", peer_step="run_start_xargs", peer_short="xargs",
         kind="abs", goal=0.005,
         interval="wall time of a whole one-job run (`parc run -j J true ::: "
         "1`; `xargs -P J -n 1 true` reading one line) minus the median wall "
         "time of running `true 1` directly, timed the same way: what the "
         "tool adds to one job (its own start-up, scheduling the job, "
         "collecting it, exiting). Goal on parc's figure alone."),
    dict(id="9f", what="  parc run start-up vs GNU parallel's",
         parc="run_start_parc_net", peer="run_start_parallel_net",
         peer_name="parallel, one job",
         parc_step="run_start_parc", peer_step="run_start_parallel",
         kind="info", goal=None,
         interval="as 9e against `parallel --will-cite -j J true ::: 1`."),
]

UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
UNIT_TEXT = {"ns": "ns", "us": "µs", "ms": "ms", "s": "s"}


def parse(path):
    samples = collections.defaultdict(list)
    infos = collections.defaultdict(list)
    errors = collections.defaultdict(list)
    steps, meta, skips = [], [], {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split(" ", 2)
            if len(parts) < 2:
                continue
            kind, label = parts[0], parts[1]
            rest = parts[2] if len(parts) > 2 else ""
            if kind == "sample":
                try:
                    samples[label].append(float(rest.split()[1]))
                except (IndexError, ValueError):
                    errors[label].append(f"unreadable sample line: {line.strip()}")
            elif kind == "info":
                infos[label].append(rest)
            elif kind == "error":
                errors[label].append(rest)
            elif kind == "step":
                steps.append((label, rest))
            elif kind == "meta":
                meta.append((label, rest))
            elif kind == "note":
                steps.append((label, "note " + rest))
            elif kind == "skip":
                skips[label] = rest
    return samples, infos, errors, steps, meta, skips


def num(v):
    a = abs(v)
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def stats(values):
    if not values:
        return None
    return statistics.median(values), min(values), max(values), len(values)


def auto_unit(seconds):
    for unit in ("ns", "us", "ms"):
        if abs(seconds) < 1000 * UNITS[unit]:
            return unit
    return "s"


def step_failure(rc):
    """Words for a step's exit status, or None when it exited 0."""
    if rc is None or rc == "0":
        return None
    if rc in ("124", "137"):
        return "HUNG (killed at the step timeout)"
    try:
        code = int(rc)
    except ValueError:
        return f"rc={rc}"
    if code > 128:
        return f"CRASHED (signal {code - 128})"
    return f"FAILED (exit status {code})"


BW_UNITS = [("B/s", 1.0), ("KiB/s", 2.0 ** 10), ("MiB/s", 2.0 ** 20), ("GiB/s", 2.0 ** 30)]


def bw_unit(bps):
    for unit, scale in reversed(BW_UNITS):
        if abs(bps) >= scale:
            return unit, scale
    return BW_UNITS[0]


def time_text(st):
    """median [min–max] of seconds, in the unit that reads best for the median."""
    med, lo, hi = st[0], st[1], st[2]
    unit = auto_unit(med)
    s = UNITS[unit]
    return f"{num(med / s)} {UNIT_TEXT[unit]} [{num(lo / s)}–{num(hi / s)}]"


def bw_text(st):
    """median [min–max] of bytes per second, binary units."""
    unit, s = bw_unit(st[0])
    return f"{num(st[0] / s)} {unit} [{num(st[1] / s)}–{num(st[2] / s)}]"


def missing_text(errs, rc, skip):
    if skip is not None:
        return "skipped (see SKIPPED)"
    if errs:
        return "FAILED: " + errs[0][:60]
    return step_failure(rc) or "missing (step not run)"


def cell(st, errs, rc, skip=None, fmt=time_text):
    """median [min–max], or why there is no figure."""
    if st is None:
        return missing_text(errs, rc, skip)
    return fmt(st)


def evaluate(c, ps, qs):
    """(ratio text, range text, goal text, met text, ratio value)."""
    if c["kind"] == "abs":  # goal on parc's own figure; the peer for scale
        if ps is None:
            return "—", "—", goal_text(c), "NO (no figure)", None
        met = "yes" if ps[0] <= c["goal"] else "NO"
        if met == "yes" and ps[2] > c["goal"]:
            met = "yes (not at worst)"
        if qs is None or qs[0] <= 0 or ps[0] <= 0:
            return "—", "—", goal_text(c), met, None
        r = ps[0] / qs[0]
        return (f"parc/{c['peer_short']} = {num(r)}", f"{num(ps[1] / qs[2])}–{num(ps[2] / qs[1])}",
                goal_text(c), met, r)
    if ps is None or qs is None or ps[0] <= 0 or qs[0] <= 0:
        return "—", "—", goal_text(c), ("NO (no figure)" if c["goal"] else "—"), None
    if c["kind"] in ("faster", "info"):
        r, lo, hi = qs[0] / ps[0], qs[1] / ps[2], qs[2] / ps[1]
        text = f"{num(r)}× faster" if r >= 1 else f"{num(1 / r)}× slower"
        rng = f"{num(lo)}–{num(hi)}×"
    elif c["kind"] == "bw":  # bandwidths: parc / memcpy, higher is better
        r, lo, hi = ps[0] / qs[0], ps[1] / qs[2], ps[2] / qs[1]
        text = f"{100 * r:.0f}% of memcpy"
        rng = f"{100 * lo:.0f}–{100 * hi:.0f}%"
    else:
        r, lo, hi = ps[0] / qs[0], ps[1] / qs[2], ps[2] / qs[1]
        label = (f"parc/{c.get('peer_short', 'OpenMP')}" if c["kind"] == "time"
                 else "parc/floor")
        text = f"{label} = {num(r)}"
        rng = f"{num(lo)}–{num(hi)}"
    if c["goal"] is None:
        met = "—"
    elif c["kind"] in ("faster", "bw"):
        met = "yes" if r >= c["goal"] else "NO"
        if met == "yes" and lo < c["goal"]:
            met = "yes (not at worst)"
    else:
        met = "yes" if r <= c["goal"] else "NO"
        if met == "yes" and hi > c["goal"]:
            met = "yes (not at worst)"
    return text, rng, goal_text(c), met, r


def goal_text(c):
    if c["goal"] is None:
        return "— (info)"
    if c["kind"] == "faster":
        return f"parc ≥ {c['goal']:g}× faster"
    if c["kind"] == "bw":
        return f"parc ≥ {100 * c['goal']:.0f}% of memcpy's bandwidth"
    if c["kind"] == "abs":
        return f"parc ≤ {time_text((c['goal'],) * 3).split(' [')[0]}"
    return f"parc ≤ {c['goal']:g}× {c.get('peer_short', 'OpenMP')}'s time"


def side_values(c, key, samples):
    """The samples of one side; for "bw" rows turned into bytes per second:
    size / (round trip / 2) for parc, size / copy time for memcpy."""
    vals = samples.get(c[key])
    if not vals or c["kind"] != "bw":
        return vals
    per = 2.0 if key == "parc" else 1.0
    return [c["size"] * per / t for t in vals if t > 0]


def step_rcs(steps):
    return {name: rest.split()[0].split("=", 1)[1]
            for name, rest in steps if rest.startswith("rc=")}


def build_rows(samples, errors, steps, skips, chan_why=None):
    """One row per comparison, but none for a comparison whose two steps
    were neither run nor skipped (BENCH_ONLY left them out). chan_why: the
    channel grid's words for a missing figure ("not reached", ...)."""
    chan_why = chan_why or {}
    rcs = step_rcs(steps)
    seen = {name for name, _ in steps} | set(skips)
    rows = []
    for c in COMPARISONS:
        if not {c.get("parc_step", c["parc"]), c.get("peer_step", c["peer"])} & seen:
            continue
        ps, qs = stats(side_values(c, "parc", samples)), stats(side_values(c, "peer", samples))
        ratio, rng, goal, met, _ = evaluate(c, ps, qs)
        reps = max(ps[3] if ps else 0, qs[3] if qs else 0)
        steps_of = {key: c.get(key + "_step", c[key]) for key in ("parc", "peer")}
        for st, key in ((ps, "parc"), (qs, "peer")):
            bad = step_failure(rcs.get(steps_of[key]))
            if st is not None and bad:
                met += f" (partial: {key} step {bad.split(' (')[0]})"
            if st is None and steps_of[key] in skips:
                met = f"n/a ({key} skipped)"
        fmt = bw_text if c["kind"] == "bw" else time_text
        texts = {}
        for st, key in ((ps, "parc"), (qs, "peer")):
            texts[key] = cell(st, errors.get(c[key]), rcs.get(steps_of[key]),
                              skips.get(steps_of[key]), fmt)
            if st is None and chan_why.get(c[key]):
                texts[key] = chan_why[c[key]]
        rows.append(dict(id=c["id"], what=c["what"], peer_name=c["peer_name"],
                         parc=texts["parc"], peer=texts["peer"],
                         ratio=ratio, range=rng, goal=goal, met=met, reps=reps,
                         parc_med=ps[0] if ps else "", peer_med=qs[0] if qs else ""))
    return rows


HEAD = ["#", "comparison", "parc: median [min–max]", "peer", "peer: median [min–max]",
        "ratio of medians", "ratio range", "goal", "met"]


def row_cells(r):
    return [r["id"], r["what"], r["parc"], r["peer_name"], r["peer"], r["ratio"],
            r["range"], r["goal"], r["met"]]


def grid_text(head, rows):
    cells = [head] + rows
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    out = []
    for k, c in enumerate(cells):
        out.append("  ".join(x.ljust(w) for x, w in zip(c, widths)).rstrip())
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def grid_md(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        out.append("| " + " | ".join(x.strip().replace("|", "\\|") for x in r) + " |")
    return "\n".join(out)


def text_table(rows):
    return grid_text(HEAD, [row_cells(r) for r in rows])


def md_table(rows):
    return grid_md(HEAD, [row_cells(r) for r in rows])


# ---------------------------------------------------------------- channels

# (name in the labels ch_<name>_<size> and the step chan_<name>, column title)
TRANSPORTS = [("parc_queue", "parc_queue"), ("parc_pipe", "parc_pipe"),
              ("os_pipe", "OS pipe"), ("socketpair", "socketpair"),
              ("mp_queue", "mp.Queue"), ("mp_pipe", "mp.Pipe"), ("mpi", "MPI")]

CHAN_INTERVAL = (
    "Round trip: one ping-pong between two processes, timed in the sending "
    "process only: send a message of the size shown, the echo process "
    "receives it whole and sends the same bytes back, the sender has them "
    "whole. Each repetition is the mean of a batch of round trips lasting "
    "about BENCH_CHAN_TARGET_MS (fewer at large sizes: at least one); the "
    "cells are the median [min–max] over the timed repetitions, after a "
    "calibration and warm-up batches. Bandwidth = size / (round trip / 2), "
    "the one-way rate, in binary units (1 MiB/s = 2^20 bytes per second). "
    "Every reply is checked (sequence number in its first and last 8 bytes; "
    "the whole last reply of each repetition). Transports: parc_queue = two "
    "PARC_SHARED parc_queues, one each way; parc_pipe = one PARC_SHARED "
    "parc_pipe; OS pipe = two pipe(2)s, blocking read/write loops; "
    "socketpair = one AF_UNIX SOCK_STREAM socketpair(2); mp.Queue = two "
    "multiprocessing.Queues, put/get of a bytearray; mp.Pipe = one "
    "multiprocessing.Pipe, send_bytes/recv_bytes; MPI = blocking "
    "MPI_Send/MPI_Recv between 2 Open MPI ranks. The echo is a fork of the "
    "timer in every case (parc_proc_start for parc, fork() for the OS "
    "channels, a fork-context Process for Python, mpirun for MPI); nothing "
    "is pinned to a CPU (mpirun --bind-to none).")


def size_text(n):
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


def chan_sizes(samples, meta):
    for k, v in meta:
        if k == "chan_sizes":
            try:
                return [int(x) for x in v.split(",") if x]
            except ValueError:
                pass
    found = set()
    for label in samples:
        for name, _ in TRANSPORTS:
            tail = label[len("ch_" + name + "_"):]
            if label.startswith("ch_" + name + "_") and tail.isdigit():
                found.add(int(tail))
    return sorted(found)


def chan_cells(samples, errors, steps, skips, sizes):
    """{(name, size): dict(rtt=stats, bw=stats, text=why not)}"""
    rcs = step_rcs(steps)
    out = {}
    for name, _ in TRANSPORTS:
        step = "chan_" + name
        stopped = False  # a program stops at its first failure: later sizes never ran
        for size in sizes:
            label = f"ch_{name}_{size}"
            rtt = stats(samples.get(label))
            bw = None
            if rtt is not None and rtt[1] > 0:
                bw = (2 * size / rtt[0], 2 * size / rtt[2], 2 * size / rtt[1], rtt[3])
            why = None
            if rtt is None and step in skips:
                why = "skipped"
            elif rtt is None and stopped:
                why = "not reached"
            elif rtt is None:
                why = missing_text(errors.get(label), rcs.get(step), None)
                if why.startswith("FAILED:"):
                    why = "FAILED (see PROBLEMS)"
                elif why.startswith("HUNG"):
                    why = "HUNG"
                stopped = step_failure(rcs.get(step)) is not None or bool(errors.get(label))
            out[(name, size)] = dict(rtt=rtt, bw=bw, why=why)
    return out


def chan_grid(cells, sizes, which):
    head = ["size"] + [title for _, title in TRANSPORTS]
    rows = []
    for size in sizes:
        row = [size_text(size)]
        for name, _ in TRANSPORTS:
            c = cells[(name, size)]
            st = c[which]
            if st is None:
                row.append(c["why"] or "—")
            else:
                row.append(time_text(st) if which == "rtt" else bw_text(st))
        rows.append(row)
    return head, rows


def fit_line(size_times):
    """Least squares T(s) = mu + s/B over (size, one-way time) pairs, each
    residual relative to its own T (else the largest sizes decide alone).
    Returns (mu, B, worst relative residual) or None."""
    if len(size_times) < 3:
        return None
    a11 = a12 = a22 = b1 = b2 = 0.0
    for size, t in size_times:  # rows (1/T, s/T) . (mu, 1/B) = 1
        u, v = 1.0 / t, size / t
        a11, a12, a22 = a11 + u * u, a12 + u * v, a22 + v * v
        b1, b2 = b1 + u, b2 + v
    det = a11 * a22 - a12 * a12
    if det == 0:
        return None
    mu = (b1 * a22 - b2 * a12) / det
    inv_b = (a11 * b2 - a12 * b1) / det
    worst = max(abs(mu + s * inv_b - t) / t for s, t in size_times)
    return mu, (1.0 / inv_b if inv_b > 0 else float("inf")), worst


def chan_fits(cells, sizes):
    lines = []
    for name, title in TRANSPORTS:
        pts = [(s, cells[(name, s)]["rtt"][0] / 2) for s in sizes
               if cells[(name, s)]["rtt"] is not None]
        f = fit_line(pts)
        if f is None:
            continue
        mu, bw, worst = f
        unit = auto_unit(abs(mu)) if mu != 0 else "ns"
        bw_s = "∞ (no size term)" if bw == float("inf") else f"{num(bw / bw_unit(bw)[1])} {bw_unit(bw)[0]}"
        mu_s = f"{num(mu / UNITS[unit])} {UNIT_TEXT[unit]}"
        lines.append(f"{title:<11} mu = {mu_s:<9} B = {bw_s:<12} worst misfit "
                     f"{100 * worst:.0f}% ({len(pts)} sizes)")
    return lines


def chan_context(infos):
    """One line per transport: round trips per repetition, by size."""
    lines = []
    for name, title in TRANSPORTS:
        per = []
        for size_label, texts in infos.items():
            if not size_label.startswith(f"ch_{name}_"):
                continue
            tail = size_label[len(f"ch_{name}_"):]
            if not tail.isdigit():
                continue
            for text in texts:
                kv = dict(x.split("=", 1) for x in text.split() if "=" in x)
                per.append((int(tail), kv.get("iters_per_rep", "?"), kv.get("reps", "?"),
                            kv.get("warm", "?")))
        if per:
            per.sort()
            lines.append(f"ch_{name}: round trips per repetition x timed reps "
                         "(+warm-up) by size: " + ", ".join(
                             f"{size_text(s)}: {i}x{r}(+{w})" for s, i, r, w in per))
    return lines


def is_chan_size_label(label):
    return any(label.startswith(f"ch_{n}_") and label[len(f"ch_{n}_"):].isdigit()
               for n, _ in TRANSPORTS)


def memcpy_line(samples):
    st = stats(samples.get("memcpy_1048576"))
    if st is None:
        return None
    bw = (2 ** 20 / st[0], 2 ** 20 / st[2], 2 ** 20 / st[1], st[3])
    return (f"single-core memcpy of 1 MiB, warm buffers: {time_text(st)} per copy "
            f"= {bw_text(bw)} (1 MiB / time of one copy; median [min–max] of "
            f"{st[3]} repetitions)")


def chan_csv_rows(cells, sizes):
    rows = []
    for name, _ in TRANSPORTS:
        for size in sizes:
            c = cells[(name, size)]
            rtt, bw = c["rtt"], c["bw"]
            rows.append(dict(transport=name, size_bytes=size,
                             rtt_median_s=rtt[0] if rtt else "", rtt_min_s=rtt[1] if rtt else "",
                             rtt_max_s=rtt[2] if rtt else "", reps=rtt[3] if rtt else 0,
                             bw_median_Bps=bw[0] if bw else "", bw_min_Bps=bw[1] if bw else "",
                             bw_max_Bps=bw[2] if bw else "", status=c["why"] or "ok"))
    return rows


def checks(infos, samples):
    """Cross-program checks that no single program can make."""
    notes = []
    for chunk in ("16", "256", "4096"):
        sums = {}
        for side in ("for_c", "omp_c"):
            for text in infos.get(side + chunk, []):
                for kv in text.split():
                    if kv.startswith("checksum="):
                        sums[side] = kv.split("=", 1)[1]
        if len(sums) == 2:
            same = sums["for_c"] == sums["omp_c"]
            notes.append(f"chunk {chunk}: parc and OpenMP reference checksums "
                         f"{'agree' if same else 'DIFFER'} ({sums['for_c']} / "
                         f"{sums['omp_c']})")
    return notes


def problems(errors, steps, skips):
    out = []
    for name, rest in steps:
        if rest.startswith("note "):
            out.append(f"step {name}: {rest[5:]}")
            continue
        rc = rest.split()[0].split("=", 1)[1] if rest.startswith("rc=") else "?"
        why = step_failure(rc)
        if why is None:
            continue
        out.append(f"step {name}: {why} ({rest})")
    for name, why in sorted(skips.items()):
        out.append(f"step {name}: SKIPPED, not run: {why}")
    for label, msgs in sorted(errors.items()):
        for m in msgs:
            out.append(f"{label}: {m}")
    return out


def interference(steps):
    """Steps during which other processes used a noticeable share of the CPUs."""
    cpus = os.cpu_count() or 1
    out = []
    for name, rest in steps:
        kv = dict(x.split("=", 1) for x in rest.split() if "=" in x)
        try:
            secs, other = float(kv["secs"]), float(kv["other_cpu"])
        except (KeyError, ValueError):
            continue
        if secs >= 0.5 and other / secs > 0.1:
            out.append(f"{name}: other processes used {other / secs:.2f} of "
                       f"{cpus} CPUs on average during it ({other:.1f} CPU-s in "
                       f"{secs:.1f} s)")
    return out


RATIO_NOTE = ("ratio: for 'faster' rows peer/parc (higher is better for parc); "
              "for 'time' rows parc/peer time (lower is better); for bandwidth "
              "rows parc's bandwidth as a share of memcpy's (higher is better); "
              "for the start-up row (9e) parc/xargs, the goal being on parc's "
              "own figure; 'ratio range' is the worst to best pairing of the "
              "two spreads.")


# ---------------------------------------------------------------- parc run

# (tool in the labels run_<workload>_<tool>, its name in the tables)
RUN_TOOLS = [("xargs", "xargs -P J -n 1"), ("parc", "parc run -j J"),
             ("parallel", "parallel -j J")]
RUN_WORKLOADS = [("true", "true"), ("sleep", "sleep 0.01")]
RUN_STARTS = [("direct", "true 1, run directly (the baseline)"),
              ("xargs", "xargs -P J -n 1 true, one input line"),
              ("parc", "parc run -j J true ::: 1"),
              ("parc_dry", "parc run -j J --dry-run true ::: 1 (runs nothing)"),
              ("parallel", "parallel --will-cite -j J true ::: 1")]

RUN_INTERVAL = (
    "Each figure times one whole command, from just before posix_spawnp of "
    "the tool to wait4's return (bench/spawn_time.c): the tool's start-up, "
    "all N jobs, J at a time, and its exit. The three tools run the same jobs "
    "from the same input file, one process per job, with output discarded "
    "(the tool's stdout is /dev/null; the jobs print nothing): `xargs -P J "
    "-n 1 CMD < FILE`, `parc run -j J CMD :::: FILE`, `parallel --will-cite "
    "-j J CMD :::: FILE`; each appends the value to CMD (`true 17`, `sleep "
    "0.01`). xargs and parc run exec the job directly (no shell); GNU "
    "parallel ALWAYS runs a job through a shell (`SHELL -c 'true 17'`, the "
    "shell it was started from, see `parallel_shell` above), one more exec "
    "per job, part of its cost as users get it. Per-job overhead = (wall - "
    "ideal) / N x J, ideal = 0 for `true` and N x 10 ms / J for the sleeps: "
    "the time each job costs one of the J lanes beyond its own work. CPU per "
    "job = user + system time of the tool and every process it reaped "
    "(wait4's rusage), / N, job included. Start-up: the median over many "
    "one-job runs, minus the median of running `true 1` directly the same "
    "way; the dry run parses and prints the command line without running it.")


def derive_run(samples):
    """Start-up net of the direct run: run_start_X_net = each sample minus
    the median of run_start_direct (added to samples, in place)."""
    base = samples.get("run_start_direct")
    if not base:
        return
    b = statistics.median(base)
    for tool, _ in RUN_STARTS[1:]:
        vals = samples.get(f"run_start_{tool}")
        if vals:
            samples[f"run_start_{tool}_net"] = [v - b for v in vals]


def info_kv(infos, label):
    for text in infos.get(label, []):
        kv = {}
        for x in text.split():
            if "=" in x and not kv.get("cmd"):
                k, v = x.split("=", 1)
                kv[k] = v
        return kv
    return {}


def us_text(st):
    """median [min–max] in microseconds, always (the per-job unit)."""
    return f"{num(st[0] * 1e6)} µs [{num(st[1] * 1e6)}–{num(st[2] * 1e6)}]"


def run_parts(samples, infos, errors, steps, skips, meta):
    """The parc run tables: (throughput head, rows, csv rows), (start-up head, rows)."""
    rcs = step_rcs(steps)
    seen = {name for name, _ in steps} | set(skips)
    if not any(n.startswith("run_") for n in seen):
        return None
    j = next((v for k, v in meta if k == "run_j"), "J")

    def why(label, step):
        return missing_text(errors.get(label), rcs.get(step), skips.get(step))

    head = ["workload", "tool", "jobs", "wall: median [min–max]",
            "per-job overhead: median [min–max]", "CPU per job", "overhead ratio"]
    rows, csv_rows = [], []
    for wl, wl_text in RUN_WORKLOADS:
        per = {t: stats(samples.get(f"run_{wl}_{t}_perjob")) for t, _ in RUN_TOOLS}
        first = True
        for tool, tool_text in RUN_TOOLS:
            label = f"run_{wl}_{tool}"
            if label not in seen:
                continue
            wall, pj = stats(samples.get(label)), per[tool]
            cpu = stats(samples.get(label + "_cpu"))
            kv = info_kv(infos, label)
            ratio = "—"
            if pj and per["parc"] and tool != "parc" and pj[0] > 0 and per["parc"][0] > 0:
                ratio = (f"parc/xargs = {num(per['parc'][0] / pj[0])}" if tool == "xargs"
                         else f"parallel/parc = {num(pj[0] / per['parc'][0])}")
            rows.append([f"{kv.get('jobs', '?')} × {wl_text}" if first else "",
                         tool_text.replace("J", kv.get("j", j)),
                         kv.get("jobs", "—"),
                         time_text(wall) if wall else why(label, label),
                         us_text(pj) if pj else "—",
                         f"{num(cpu[0] * 1e6)} µs" if cpu else "—", ratio])
            first = False
            csv_rows.append(dict(
                workload=wl, tool=tool, jobs=kv.get("jobs", ""), j=kv.get("j", ""),
                ideal_s=kv.get("ideal_s", ""),
                wall_median_s=wall[0] if wall else "", wall_min_s=wall[1] if wall else "",
                wall_max_s=wall[2] if wall else "",
                perjob_median_s=pj[0] if pj else "", perjob_min_s=pj[1] if pj else "",
                perjob_max_s=pj[2] if pj else "", cpu_per_job_s=cpu[0] if cpu else "",
                reps=wall[3] if wall else 0, status="ok" if wall else why(label, label)))
    shead = ["one-job run", "wall: median [min–max]", "minus the direct run (start-up)"]
    srows = []
    for tool, text in RUN_STARTS:
        label = f"run_start_{tool}"
        if label not in seen:
            continue
        st, net = stats(samples.get(label)), stats(samples.get(label + "_net"))
        srows.append([text.replace("-j J", f"-j {j}").replace("-P J", f"-P {j}"),
                      time_text(st) if st else why(label, label),
                      "—" if tool == "direct" else (time_text(net) if net else "—")])
        csv_rows.append(dict(workload="startup", tool=tool, jobs=1 if tool != "parc_dry" else 0,
                             j=j, wall_median_s=st[0] if st else "",
                             wall_min_s=st[1] if st else "", wall_max_s=st[2] if st else "",
                             net_startup_median_s=net[0] if net else "",
                             reps=st[3] if st else 0,
                             status="ok" if st else why(label, label)))
    return dict(head=head, rows=rows, shead=shead, srows=srows, csv=csv_rows)


RUN_CSV_FIELDS = ["workload", "tool", "jobs", "j", "ideal_s", "wall_median_s", "wall_min_s",
                  "wall_max_s", "perjob_median_s", "perjob_min_s", "perjob_max_s",
                  "cpu_per_job_s", "net_startup_median_s", "reps", "status"]
RUN_TITLE = ("parc run vs xargs -P vs GNU parallel: whole commands, same -j, "
             "same input file, one process per job (GNU parallel's through a "
             "shell), output discarded; median [min–max]")


def report_parts(samples, infos, errors, steps, meta, skips):
    """Everything both outputs show, computed once."""
    derive_run(samples)
    sizes = chan_sizes(samples, meta)
    cells = chan_cells(samples, errors, steps, skips, sizes)
    context = [(label, text) for label in sorted(infos) if not is_chan_size_label(label)
               for text in infos[label]]
    why = {f"ch_{name}_{size}": c["why"] for (name, size), c in cells.items()}
    return dict(rows=build_rows(samples, errors, steps, skips, why), sizes=sizes, cells=cells,
                rtt=chan_grid(cells, sizes, "rtt"), bw=chan_grid(cells, sizes, "bw"),
                fits=chan_fits(cells, sizes), memcpy=memcpy_line(samples),
                context=context, chan_context=chan_context(infos),
                notes=checks(infos, samples), probs=problems(errors, steps, skips),
                noisy=interference(steps), skips=skips,
                run=run_parts(samples, infos, errors, steps, skips, meta))


FIT_TITLE = ("Least-squares fit of the one-way time T(s) = mu + s/B (T = round "
             "trip / 2; residuals relative to T, so small and large sizes weigh "
             "alike; 'worst misfit' = largest |fit - T| / T):")


def text_report(P, meta):
    lines = ["parc benchmarks: pools, channels, parc run — medians of the timed "
             "repetitions, [min–max] across them; warm-ups not counted"]
    lines += [f"  {k}: {v}" for k, v in meta]
    if P["noisy"]:
        lines.append("  WARNING: other work shared the CPUs during some steps; "
                     "their figures are noisy (details under the table)")
    lines += ["", text_table(P["rows"]), "", RATIO_NOTE, ""]
    if P["sizes"]:
        lines += ["Channels: round trip between two processes, by message size "
                  "(median [min–max])", grid_text(*P["rtt"]), "",
                  "Channels: bandwidth = size / (round trip / 2), one way "
                  "(median [min–max]; 1 MiB/s = 2^20 B/s)", grid_text(*P["bw"]), ""]
        if P["memcpy"]:
            lines += [P["memcpy"], ""]
        if P["fits"]:
            lines += [FIT_TITLE] + ["  " + x for x in P["fits"]] + [""]
    if P["run"]:
        R = P["run"]
        lines += [RUN_TITLE, grid_text(R["head"], R["rows"]), ""]
        if R["srows"]:
            lines += ["parc run start-up: one job, whole command (median [min–max])",
                      grid_text(R["shead"], R["srows"]), ""]
    for name, why in sorted(P["skips"].items()):
        lines.append(f"SKIPPED {name}: {why}")
    if P["skips"]:
        lines.append("")
    lines.append("What each interval times:")
    lines += [f"  {c['id']:>3}  {c['interval']}" for c in COMPARISONS]
    if P["sizes"]:
        lines.append(f"  ch   {CHAN_INTERVAL}")
    if P["run"]:
        lines.append(f"  run  {RUN_INTERVAL}")
    lines += ["", "Context reported by the programs:"]
    lines += [f"  {label}: {text}" for label, text in P["context"]]
    lines += [f"  {x}" for x in P["chan_context"]]
    lines += [f"  check: {n}" for n in P["notes"]]
    lines.append("")
    if P["noisy"]:
        lines.append("INTERFERENCE (CPU used by other processes while a step ran):")
        lines += ["  " + n for n in P["noisy"]] + [""]
    if P["probs"]:
        lines.append("PROBLEMS:")
        lines += ["  " + p for p in P["probs"]]
    else:
        lines.append("No problems: every step exited 0 and every result was checked.")
    return "\n".join(lines)


def write_csv(path, fields, rows):
    with open(path, "w", encoding="utf-8", newline="") as fc:
        w = csv.DictWriter(fc, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    with open(path, encoding="utf-8") as fc:
        return fc.read()


def md_report(P, meta, csv_path, chan_csv_path, run_csv_path):
    out = ["# parc benchmarks: pools, channels, parc run", ""]
    out += [f"- {k}: {v}" for k, v in meta]
    if P["noisy"]:
        out += ["", "**Warning:** other work shared the CPUs during some steps; "
                "their figures are noisy:", ""] + [f"- {n}" for n in P["noisy"]]
    out += ["", "Median of the timed repetitions, [min–max] across them; "
            "warm-ups not counted.", "", md_table(P["rows"]), "", RATIO_NOTE, ""]
    if P["sizes"]:
        out += ["## Channels: round trip by message size", "", grid_md(*P["rtt"]), "",
                "## Channels: bandwidth = size / (round trip / 2)", "",
                "One way; median [min–max]; 1 MiB/s = 2^20 bytes per second.", "",
                grid_md(*P["bw"]), ""]
        if P["memcpy"]:
            out += [P["memcpy"][0].upper() + P["memcpy"][1:] + ".", ""]
        if P["fits"]:
            out += [FIT_TITLE, ""] + [f"- `{x}`" for x in P["fits"]] + [""]
    if P["run"]:
        R = P["run"]
        out += ["## parc run vs xargs -P vs GNU parallel", "", "Whole commands, same -j, same input file, one process per job "
                "(GNU parallel's through a shell), output discarded; median "
                "[min–max] of the timed repetitions.", "", grid_md(R["head"], R["rows"]), ""]
        if R["srows"]:
            out += ["Start-up: one job, whole command.", "", grid_md(R["shead"], R["srows"]), ""]
    out += [f"**Skipped** `{name}`: {why}" for name, why in sorted(P["skips"].items())]
    out += ["", "## What each interval times", ""]
    out += [f"- **{c['id']}** {c['interval']}" for c in COMPARISONS]
    if P["sizes"]:
        out.append(f"- **channels** {CHAN_INTERVAL}")
    if P["run"]:
        out.append(f"- **parc run** {RUN_INTERVAL}")
    out += ["", "## Context", ""]
    out += [f"- `{label}`: {text}" for label, text in P["context"]]
    out += [f"- {x}" for x in P["chan_context"]]
    out += [f"- check: {n}" for n in P["notes"]]
    out += ["", "## Problems", ""]
    out += ["- " + p for p in P["probs"]] if P["probs"] else ["None."]
    fields = ["id", "what", "parc", "peer_name", "peer", "parc_med", "peer_med",
              "ratio", "range", "goal", "met", "reps"]
    out += ["", "## CSV", "", "```csv", write_csv(csv_path, fields, P["rows"]).rstrip(), "```"]
    if P["sizes"]:
        fields = ["transport", "size_bytes", "rtt_median_s", "rtt_min_s", "rtt_max_s",
                  "reps", "bw_median_Bps", "bw_min_Bps", "bw_max_Bps", "status"]
        text = write_csv(chan_csv_path, fields, chan_csv_rows(P["cells"], P["sizes"]))
        out += ["", "```csv", text.rstrip(), "```"]
    if P["run"]:
        text = write_csv(run_csv_path, RUN_CSV_FIELDS, P["run"]["csv"])
        out += ["", "```csv", text.rstrip(), "```"]
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    chan_csv = argv[4] if len(argv) == 5 else os.path.join(
        os.path.dirname(argv[3]) or ".", "results_chan.csv")
    run_csv = os.path.join(os.path.dirname(argv[3]) or ".", "results_run.csv")
    samples, infos, errors, steps, meta, skips = parse(argv[1])
    P = report_parts(samples, infos, errors, steps, meta, skips)
    print(text_report(P, meta))
    md = md_report(P, meta, argv[3], chan_csv, run_csv)
    with open(argv[2], "w", encoding="utf-8") as f:
        f.write(md)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
