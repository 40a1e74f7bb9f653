"""The seeds' producer/consumer program, run on parc.

Lecture 003 ("Parallel Programming", "Consumer-Producer"): four producer
processes each sleep a random while, put a random number on a Queue and
say so under a Lock, three times; two consumer processes take numbers off
the queue for ever, each sleeping a random while and saying what it got.
Every process draws from its own np.random.RandomState(pid), as the
lecture does (docs/rng.md says why that is crude and what parc.rng does
instead). The consumers are daemons: when the producers are joined the
program ends and, as with multiprocessing, its daemon children are
terminated -- so it stops although they loop for ever.

The program is the lecture's with the import line changed (the
"# original:" comment above it is the lecture's) and the sleeps shortened
tenfold (likewise marked), so that it runs in about a second:

    /usr/bin/python3 examples/python/producer_consumer.py

With PYTHONPATH naming a built parc (build/python) and numpy installed.
"""
import time

import numpy as np

# original: from multiprocessing import (Pool, Process, Queue, Lock,
#                                         cpu_count, current_process)
from parc import Process, Queue, Lock


def producer(pid, q, lock):
    re = np.random.RandomState(pid)
    for i in range(3):
        # original: time.sleep(re.uniform(0, 3))
        time.sleep(re.uniform(0, 0.3))
        n = re.randint(0, 100)
        with lock:
            print("Producer %d put %d in queue!" % (pid, n))
        q.put(n)


def consumer(pid, q, lock):
    re = np.random.RandomState(pid)
    while True:
        n = q.get()
        # original: time.sleep(re.uniform(0, 1))
        time.sleep(re.uniform(0, 0.1))
        with lock:
            print("Conusmer %d got %d" % (pid, n))


q = Queue()
lock = Lock()

producers = []
for i in range(4):
    p = Process(target=producer, args=(i, q, lock))
    producers.append(p)

consumers = []
for i in range(2):
    c = Process(target=consumer, args=(i, q, lock))
    c.daemon = True
    consumers.append(c)

for p in producers:
    p.start()

for c in consumers:
    c.start()

# Optional syncrhonization step
for p in producers:
    p.join()
