#!/usr/bin/env python3
"""Turns the lines printed by the benchmark programs into the results table.

    report.py RAW_LOG RESULTS_MD RESULTS_CSV

RAW_LOG holds, in any order, the output of every step of bench/run:
    sample LABEL REP SECONDS    info LABEL KEY=VALUE ...    error LABEL TEXT
    step NAME rc=RC secs=S ...  meta KEY VALUE...   note STEP TEXT
Prints the table to stdout and writes it as Markdown and CSV. Standard
library only. Exits 0 even when goals are missed: the table says so.
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
]

UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
UNIT_TEXT = {"ns": "ns", "us": "µs", "ms": "ms", "s": "s"}


def parse(path):
    samples = collections.defaultdict(list)
    infos = collections.defaultdict(list)
    errors = collections.defaultdict(list)
    steps, meta = [], []
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
    return samples, infos, errors, steps, meta


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


def cell(st, errs, rc):
    """median [min–max], each in the unit that reads best for the median."""
    if st is None:
        if errs:
            return "FAILED: " + errs[0][:60]
        return step_failure(rc) or "missing (step not run)"
    med, lo, hi, _ = st
    unit = auto_unit(med)
    s = UNITS[unit]
    return f"{num(med / s)} {UNIT_TEXT[unit]} [{num(lo / s)}–{num(hi / s)}]"


def evaluate(c, ps, qs):
    """(ratio text, range text, goal text, met text, ratio value)."""
    if ps is None or qs is None or ps[0] <= 0 or qs[0] <= 0:
        return "—", "—", goal_text(c), ("NO (no figure)" if c["goal"] else "—"), None
    if c["kind"] in ("faster", "info"):
        r, lo, hi = qs[0] / ps[0], qs[1] / ps[2], qs[2] / ps[1]
        text = f"{num(r)}× faster" if r >= 1 else f"{num(1 / r)}× slower"
        rng = f"{num(lo)}–{num(hi)}×"
    else:
        r, lo, hi = ps[0] / qs[0], ps[1] / qs[2], ps[2] / qs[1]
        label = "parc/OpenMP" if c["kind"] == "time" else "parc/floor"
        text = f"{label} = {num(r)}"
        rng = f"{num(lo)}–{num(hi)}"
    if c["goal"] is None:
        met = "—"
    elif c["kind"] == "faster":
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
    return f"parc ≤ {c['goal']:g}× OpenMP's time"


def build_rows(samples, errors, steps):
    rcs = {name: rest.split()[0].split("=", 1)[1]
           for name, rest in steps if rest.startswith("rc=")}
    rows = []
    for c in COMPARISONS:
        ps, qs = stats(samples.get(c["parc"])), stats(samples.get(c["peer"]))
        ratio, rng, goal, met, _ = evaluate(c, ps, qs)
        reps = max(ps[3] if ps else 0, qs[3] if qs else 0)
        for st, key in ((ps, "parc"), (qs, "peer")):
            bad = step_failure(rcs.get(c.get(key + "_step", c[key])))
            if st is not None and bad:
                met += f" (partial: {key} step {bad.split(' (')[0]})"
        rows.append(dict(id=c["id"], what=c["what"], peer_name=c["peer_name"],
                         parc=cell(ps, errors.get(c["parc"]), rcs.get(c.get("parc_step", c["parc"]))),
                         peer=cell(qs, errors.get(c["peer"]), rcs.get(c.get("peer_step", c["peer"]))),
                         ratio=ratio, range=rng, goal=goal, met=met, reps=reps,
                         parc_med=ps[0] if ps else "", peer_med=qs[0] if qs else ""))
    return rows


HEAD = ["#", "comparison", "parc: median [min–max]", "peer", "peer: median [min–max]",
        "ratio of medians", "ratio range", "goal", "met"]


def row_cells(r):
    return [r["id"], r["what"], r["parc"], r["peer_name"], r["peer"], r["ratio"],
            r["range"], r["goal"], r["met"]]


def text_table(rows):
    cells = [HEAD] + [row_cells(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEAD))]
    out = []
    for k, c in enumerate(cells):
        out.append("  ".join(x.ljust(w) for x, w in zip(c, widths)).rstrip())
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def md_table(rows):
    out = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    for r in rows:
        out.append("| " + " | ".join(x.strip().replace("|", "\\|")
                                     for x in row_cells(r)) + " |")
    return "\n".join(out)


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


def problems(errors, steps, samples):
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


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    samples, infos, errors, steps, meta = parse(argv[1])
    rows = build_rows(samples, errors, steps)
    notes = checks(infos, samples)
    probs = problems(errors, steps, samples)

    lines = []
    lines.append("parc pool benchmarks — medians of the timed repetitions, "
                 "[min–max] across them; warm-ups not counted")
    for k, v in meta:
        lines.append(f"  {k}: {v}")
    noisy = interference(steps)
    if noisy:
        lines.append("  WARNING: other work shared the CPUs during some steps; "
                     "their figures are noisy (details under the table)")
    lines.append("")
    table = text_table(rows)
    lines.append(table)
    lines.append("")
    lines.append("ratio: for 'faster' rows peer/parc (higher is better for parc); "
                 "for OpenMP rows parc/OpenMP time (lower is better); 'ratio range' "
                 "is worst to best pairing of the two spreads.")
    lines.append("")
    lines.append("What each interval times:")
    for c in COMPARISONS:
        lines.append(f"  {c['id']:>3}  {c['interval']}")
    lines.append("")
    lines.append("Context reported by the programs:")
    for label in sorted(infos):
        for text in infos[label]:
            lines.append(f"  {label}: {text}")
    for n in notes:
        lines.append(f"  check: {n}")
    lines.append("")
    if noisy:
        lines.append("INTERFERENCE (CPU used by other processes while a step ran):")
        lines.extend("  " + n for n in noisy)
        lines.append("")
    if probs:
        lines.append("PROBLEMS:")
        lines.extend("  " + p for p in probs)
    else:
        lines.append("No problems: every step exited 0 and every result was checked.")
    print("\n".join(lines))

    with open(argv[2], "w", encoding="utf-8") as f:
        f.write("# parc pool benchmarks\n\n")
        for k, v in meta:
            f.write(f"- {k}: {v}\n")
        if noisy:
            f.write("\n**Warning:** other work shared the CPUs during some "
                    "steps; their figures are noisy:\n\n")
            f.write("".join(f"- {n}\n" for n in noisy))
        f.write("\nMedian of the timed repetitions, [min–max] across them; "
                "warm-ups not counted.\n\n")
        f.write(md_table(rows) + "\n\n")
        f.write("Ratio: for 'faster' rows peer/parc (higher is better for parc); "
                "for OpenMP rows parc/OpenMP time (lower is better). 'Ratio range' "
                "pairs the two spreads worst to best.\n\n## What each interval times\n\n")
        for c in COMPARISONS:
            f.write(f"- **{c['id']}** {c['interval']}\n")
        f.write("\n## Context\n\n")
        for label in sorted(infos):
            for text in infos[label]:
                f.write(f"- `{label}`: {text}\n")
        for n in notes:
            f.write(f"- check: {n}\n")
        f.write("\n## Problems\n\n")
        f.write("\n".join("- " + p for p in probs) + "\n" if probs else "None.\n")
        f.write("\n## CSV\n\n```csv\n")
        with open(argv[3], "w", encoding="utf-8", newline="") as fc:
            fields = ["id", "what", "parc", "peer_name", "peer", "parc_med", "peer_med",
                      "ratio", "range", "goal", "met", "reps"]
            w = csv.DictWriter(fc, fieldnames=fields, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        with open(argv[3], encoding="utf-8") as fc:
            f.write(fc.read())
        f.write("```\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
