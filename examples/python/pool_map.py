"""The seeds' "embarrassingly parallel" program, run on parc.

Lecture 003 ("Parallel Programming", "Embarrassingly parallel"): a pool of
four workers maps a function that sleeps over a list of sleep times, each
worker printing, under a lock, who it is and how long it slept. The program
is the lecture's, with one change: the import line (the "# original:"
comment above it is the lecture's). parc's Lock is made, as the lecture's,
before the pool, so the workers share it.

    /usr/bin/python3 examples/python/pool_map.py

With PYTHONPATH naming a built parc (build/python). It runs about 6 s: the
three 5-second sleeps on four workers.
"""
import time

# original: from multiprocessing import (Pool, Process, Queue, Lock,
#                                         cpu_count, current_process)
from parc import (Pool, Process, Queue, Lock, cpu_count, current_process)

lock = Lock()


def f(n, lock=lock):
    worker = current_process()
    time.sleep(n)
    with lock:
        print("Worker %d slept for %.2f seconds!" % (worker._identity[0], n))


sleep_times = [0.1, 0.5, 5, 5, 0.1, 0.1, 1, 1, 5, 1, 1]

with Pool(processes=4) as p:
    p.map(f, sleep_times)
