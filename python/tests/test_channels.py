"""parc's Queue, Pipe and locks: multiprocessing's behaviour on the same
calls, and what parc adds -- a dead peer is EOFError, a killed lock holder
does not block the next acquire, a killed producer or consumer costs one
object, objects of any size, timeouts everywhere, and pickling to the
processes forked after an object was made."""
import gc
import multiprocessing
import os
import pickle
import queue
import signal
import threading
import time
import warnings

import pytest

import parc
from parc import _core

mp = multiprocessing.get_context("fork")
BOTH = [pytest.param(mp, id="multiprocessing"), pytest.param(parc, id="parc")]


# every test ends with no child of parc's or multiprocessing's left
pytestmark = pytest.mark.usefixtures("no_child_left")


def start(mod, target, *args, **kw):
    p = mod.Process(target=target, args=args, **kw)
    p.start()
    return p


def finish(p, timeout=10):
    p.join(timeout)
    if p.is_alive():
        p.kill()
        p.join(5)
        pytest.fail("a child did not end")
    return p.exitcode


# ------------------------------------------------------------------ queue

@pytest.mark.parametrize("mod", BOTH)
def test_queue_is_fifo_and_reports_empty_and_full(mod):
    q = mod.Queue(2)
    assert q.empty() and not q.full()
    q.put("a")
    q.put_nowait({"b": [1, 2]})
    time.sleep(0.1)             # multiprocessing's feeder thread
    assert q.full() and not q.empty() and q.qsize() == 2
    with pytest.raises(queue.Full):
        q.put_nowait("c")
    t = time.monotonic()
    with pytest.raises(queue.Full):
        q.put("c", timeout=0.2)
    assert time.monotonic() - t >= 0.15
    assert q.get() == "a"
    assert q.get(timeout=1) == {"b": [1, 2]}
    with pytest.raises(queue.Empty):
        q.get_nowait()
    t = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.2)
    assert 0.15 <= time.monotonic() - t < 5
    with pytest.raises(queue.Empty):
        q.get(True, -1)         # a negative timeout does not wait


@pytest.mark.parametrize("mod", BOTH)
def test_a_closed_queue_refuses_puts_and_gets(mod):
    q = mod.Queue()
    with pytest.raises(AssertionError):
        q.join_thread()
    q.put(1)
    q.close()
    q.join_thread()
    with pytest.raises(ValueError):
        q.put(2)
    with pytest.raises(ValueError):
        q.get()


def produce(q, who, n):
    for i in range(n):
        q.put((who, i))


def consume(q, out, n):
    got = [q.get(timeout=20) for _ in range(n)]
    out.put(got)


def test_several_producers_and_consumers_deliver_each_object_once():
    q, out = parc.Queue(), parc.Queue()
    producers = [start(parc, produce, q, w, 500) for w in range(3)]
    consumers = [start(parc, consume, q, out, 750) for _ in range(2)]
    got = out.get(timeout=30) + out.get(timeout=30)
    for p in producers + consumers:
        assert finish(p, 30) == 0
    assert sorted(got) == sorted((w, i) for w in range(3) for i in range(500))
    for w in range(3):          # each producer's objects stay in order
        for part in (got[:750], got[750:]):
            mine = [i for who, i in part if who == w]
            assert mine == sorted(mine)


def test_put_does_not_block_while_maxsize_is_0():
    q = parc.Queue(capacity=1 << 20)     # a small ring: it fills
    for i in range(20000):
        q.put(i)                         # the feeder thread takes the rest
    assert q.qsize() == 20000
    assert [q.get(timeout=10) for _ in range(20000)] == list(range(20000))
    assert q.empty()


def test_the_feeder_sends_everything_before_the_child_exits():
    q = parc.Queue(capacity=1 << 20)
    p = start(parc, produce, q, "w", 30000)
    got = [q.get(timeout=30) for _ in range(30000)]
    assert finish(p, 30) == 0
    assert got == [("w", i) for i in range(30000)]


def test_a_bounded_queue_blocks_a_producer_until_a_get():
    q = parc.Queue(1)
    q.put(0)
    p = start(parc, produce, q, "w", 1)
    time.sleep(0.3)
    assert q.qsize() == 1          # the child waits for a slot
    assert q.get(timeout=5) == 0
    assert q.get(timeout=5) == ("w", 0)
    assert finish(p) == 0


def test_joinable_queue_task_done_and_join():
    for mod in (mp, parc):
        q = mod.JoinableQueue()
        q.put(1)
        q.put(2)
        done = []

        def worker():
            for _ in range(2):
                q.get()
                time.sleep(0.05)
                done.append(1)
                q.task_done()

        t = threading.Thread(target=worker)
        t.start()
        q.join()
        assert len(done) == 2
        t.join()
        with pytest.raises(ValueError):
            q.task_done()
    q = parc.JoinableQueue()
    q.put(1)
    assert q.join(timeout=0.1) is False      # a parc extension


@pytest.mark.parametrize("mod", BOTH)
def test_simple_queue(mod):
    q = mod.SimpleQueue()
    assert q.empty()
    q.put([1, "two"])
    assert not q.empty()
    assert q.get() == [1, "two"]
    q.close()
    with pytest.raises(OSError):
        q.get()


def test_simple_queue_timeouts():
    q = parc.SimpleQueue()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.1)


# ------------------------------------------------------------------ big

def put_array(q, n):
    import numpy as np
    q.put(np.arange(n, dtype=np.float64))


def echo(conn):
    conn.send(conn.recv())


def echo_bytes(conn):
    conn.send_bytes(conn.recv_bytes())


def test_a_100_mb_array_through_a_queue():
    np = pytest.importorskip("numpy")
    n = 100_000_000 // 8
    q = parc.Queue()
    p = start(parc, put_array, q, n)
    a = q.get(timeout=60)
    assert finish(p, 30) == 0
    assert a.shape == (n,) and a.flags.writeable
    assert (a == np.arange(n, dtype=np.float64)).all()
    q.put(a)                       # in the same process: the feeder sends it
    b = q.get(timeout=60)
    assert (a == b).all()


def test_a_100_mb_array_and_bytes_through_a_pipe():
    np = pytest.importorskip("numpy")
    a = np.random.default_rng(1).random(100_000_000 // 8)
    x, y = parc.Pipe()
    p = start(parc, echo, y)
    x.send(a)
    assert (x.recv() == a).all()
    assert finish(p, 30) == 0
    data = os.urandom(30_000_000)
    p = start(parc, echo_bytes, y)
    x.send_bytes(data)
    assert x.recv_bytes() == data
    assert finish(p, 30) == 0


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 262143, 262144,
                                  262145, 3 << 20])
def test_messages_of_every_size_at_the_framing_edges(size):
    data = os.urandom(size)
    q = parc.Queue()
    q.put(data)
    q.put(bytearray(data))
    assert q.get(timeout=10) == data
    assert q.get(timeout=10) == bytearray(data)
    x, y = parc.Pipe()
    got = []
    reader = threading.Thread(   # a message larger than the pipe's ring
        target=lambda: got.extend([y.poll(5), y.recv_bytes(), y.recv()]))
    reader.start()               # waits for its receiver, as an OS pipe
    x.send_bytes(data)
    x.send(data)
    reader.join(10)
    assert got == [True, data, data]


def test_bytes_that_look_like_parc_control_messages_travel_verbatim():
    fake = b"\x00PARCP1\x00" + bytes(8) + b"rest"
    x, y = parc.Pipe()
    x.send_bytes(fake)
    x.send_bytes(b"")
    assert y.recv_bytes() == fake
    assert y.recv_bytes() == b""


# ------------------------------------------------------------------ pipe

@pytest.mark.parametrize("mod", BOTH)
def test_pipe_api_as_multiprocessing(mod):
    a, b = mod.Pipe()
    a.send({"x": 1})
    assert b.poll(1) and b.recv() == {"x": 1}
    assert not b.poll(0)
    b.send_bytes(b"0123456789", 2, 5)
    assert a.recv_bytes() == b"23456"
    with pytest.raises(ValueError):
        b.send_bytes(b"abc", 2, 5)
    b.send_bytes(b"hello")
    buf = bytearray(10)
    assert a.recv_bytes_into(buf, 3) == 5 and buf[3:8] == b"hello"
    b.send_bytes(b"too long for it")
    with pytest.raises(multiprocessing.BufferTooShort) as e:
        a.recv_bytes_into(bytearray(4))
    assert e.value.args[0] == b"too long for it"
    b.send_bytes(b"12345")
    with pytest.raises(OSError):
        a.recv_bytes(maxlength=3)
    a.close()
    assert a.closed
    with pytest.raises(OSError):
        a.send(1)


@pytest.mark.parametrize("mod", BOTH)
def test_a_one_way_pipe_refuses_the_other_way(mod):
    r, w = mod.Pipe(duplex=False)
    assert r.readable and not r.writable and w.writable and not w.readable
    with pytest.raises(OSError):
        r.send(1)
    with pytest.raises(OSError):
        w.recv()
    w.send("x")
    assert r.recv() == "x"


@pytest.mark.parametrize("mod", BOTH)
def test_recv_after_the_other_end_is_closed_is_eof(mod):
    a, b = mod.Pipe()
    b.send("last words")
    b.close()
    assert a.recv() == "last words"
    assert a.poll(1)
    with pytest.raises(EOFError):
        a.recv()
    with pytest.raises(OSError):   # BrokenPipeError
        a.send("anyone?")


def send_then_die(conn, sig):
    conn.send("before")
    os.kill(os.getpid(), sig)


def never_sends(conn):
    time.sleep(60)


def test_a_dead_peer_is_eof_not_a_hang():
    a, b = parc.Pipe()
    p = start(parc, send_then_die, b, signal.SIGKILL)
    b.close()
    assert a.recv() == "before"
    t = time.monotonic()
    with pytest.raises(EOFError):
        a.recv()                   # multiprocessing: a hang
    assert time.monotonic() - t < 5
    finish(p)
    # killed while the parent waits in recv
    a, b = parc.Pipe()
    p = start(parc, never_sends, b)
    killer = threading.Timer(0.3, p.kill)
    killer.start()
    t = time.monotonic()
    with pytest.raises(EOFError):
        a.recv()
    assert time.monotonic() - t < 10
    finish(p)


def returns(conn):
    conn.send("bye")


def test_eof_even_while_the_parent_keeps_its_copy_of_the_child_s_end():
    a, b = parc.Pipe()
    p = start(parc, returns, b)      # b stays open here (multiprocessing:
    assert a.recv() == "bye"         # the next recv would wait for ever)
    finish(p)
    with pytest.raises(EOFError):
        a.recv(timeout=10)
    assert not b.closed


def test_a_dead_receiver_breaks_a_large_send():
    a, b = parc.Pipe()
    p = start(parc, never_sends, b)
    threading.Timer(0.3, p.kill).start()
    with pytest.raises(BrokenPipeError):
        for _ in range(100):
            a.send_bytes(bytes(1 << 20))     # the ring fills; then its end
    finish(p)


def test_recv_and_send_take_a_timeout():
    a, b = parc.Pipe()
    t = time.monotonic()
    with pytest.raises(TimeoutError):
        a.recv(timeout=0.2)
    assert 0.15 <= time.monotonic() - t < 5
    assert not a.poll(0.1)
    with pytest.raises(TimeoutError):
        for _ in range(1000):
            a.send_bytes(bytes(100_000), timeout=0.1)


def parent_closes_at_once(conn):
    time.sleep(0.2)
    conn.send("still here")


def test_the_parent_may_close_its_copy_right_after_start():
    a, b = parc.Pipe()
    p = start(parc, parent_closes_at_once, b)
    b.close()
    assert a.recv() == "still here"
    finish(p)


def test_objects_with_several_large_buffers_keep_their_order():
    np = pytest.importorskip("numpy")
    a, b = parc.Pipe()
    objs = [{"x": np.full(300_000, i), "y": np.arange(3 << 20),
             "z": bytes(10)} for i in range(3)] + ["last"]
    got = []
    reader = threading.Thread(target=lambda: got.extend(
        a.recv() for _ in objs))
    reader.start()
    for o in objs:
        b.send(o)
    reader.join(30)
    assert got[-1] == "last"
    for i, o in enumerate(got[:-1]):
        assert (o["x"] == i).all() and (o["y"] == objs[i]["y"]).all()
        assert o["z"] == bytes(10)


# ------------------------------------------------------------------ locks

@pytest.mark.parametrize("mod", BOTH)
def test_lock_as_multiprocessing(mod):
    lock = mod.Lock()
    assert lock.acquire()
    assert not lock.acquire(False)
    t = time.monotonic()
    assert not lock.acquire(timeout=0.2)
    assert 0.15 <= time.monotonic() - t < 5
    lock.release()
    with pytest.raises(ValueError):
        lock.release()
    with lock:
        assert not lock.acquire(block=False)


@pytest.mark.parametrize("mod", BOTH)
def test_rlock_as_multiprocessing(mod):
    lock = mod.RLock()
    with lock:
        with lock:
            assert lock.acquire(False)
            lock.release()
    with pytest.raises(AssertionError):
        lock.release()


@pytest.mark.parametrize("mod", BOTH)
def test_semaphores_as_multiprocessing(mod):
    s = mod.Semaphore(2)
    assert s.acquire() and s.acquire(timeout=0.1)
    assert not s.acquire(False)
    assert s.get_value() == 0
    s.release()
    s.release()
    s.release()
    assert s.get_value() == 3
    b = mod.BoundedSemaphore(1)
    assert b.acquire()
    b.release()
    with pytest.raises(ValueError):
        b.release()


def hold_forever(lock, ready):
    lock.acquire()
    ready.set()
    time.sleep(60)


def test_a_lock_whose_holder_was_killed_is_acquired_with_a_warning():
    lock, ready = parc.Lock(), parc.Event()
    p = start(parc, hold_forever, lock, ready)
    assert ready.wait(10)
    assert not lock.acquire(timeout=0.1)
    p.kill()
    finish(p)
    with pytest.warns(parc.LockOwnerDiedWarning):
        assert lock.acquire(timeout=5)
    assert lock.owner_died
    lock.release()
    assert lock.acquire(timeout=1) and not lock.owner_died
    lock.release()


def test_a_killed_holder_wakes_a_waiting_acquire():
    lock, ready = parc.RLock(), parc.Event()
    p = start(parc, hold_forever, lock, ready)
    assert ready.wait(10)
    threading.Timer(0.3, p.kill).start()
    t = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert lock.acquire(timeout=10)
    assert time.monotonic() - t < 5
    lock.release()
    finish(p)


def test_the_warning_as_an_error_leaves_the_lock_free():
    lock, ready = parc.Lock(), parc.Event()
    p = start(parc, hold_forever, lock, ready)
    assert ready.wait(10)
    p.kill()
    finish(p)
    with warnings.catch_warnings():
        warnings.simplefilter("error", parc.LockOwnerDiedWarning)
        with pytest.raises(parc.LockOwnerDiedWarning):
            with lock:
                pass
    assert lock.acquire(False)
    lock.release()


@pytest.mark.parametrize("mod", BOTH)
def test_event_as_multiprocessing(mod):
    e = mod.Event()
    assert not e.is_set() and not e.wait(0.1)
    e.set()
    assert e.is_set() and e.wait() and e.wait(0)
    e.clear()
    assert not e.wait(0)


def set_later(e):
    time.sleep(0.2)
    e.set()


def test_event_wakes_a_waiter_in_another_process():
    e = parc.Event()
    p = start(parc, set_later, e)
    assert e.wait(10)
    finish(p)


def notifier(cond, box):
    with cond:
        box.put("set")
        cond.notify_all()


def test_condition_across_processes():
    cond, box = parc.Condition(), parc.Queue()
    with cond:
        p = start(parc, notifier, cond, box)
        assert cond.wait(10)
        assert cond.wait_for(lambda: not box.empty(), 1)
    assert box.get(timeout=1) == "set"
    finish(p)


@pytest.mark.parametrize("mod", BOTH)
def test_condition_api_as_multiprocessing(mod):
    cond = mod.Condition(mod.Lock())
    with pytest.raises(AssertionError):
        cond.wait(0.1)
    with pytest.raises(AssertionError):
        cond.notify()
    with cond:
        assert not cond.wait(0.1)
        cond.notify()
        assert cond.wait_for(lambda: 42, 0.1) == 42


def test_notify_one_wakes_one_waiter():
    cond = parc.Condition()
    woken = []

    def waiter(i):
        with cond:
            if cond.wait(3):
                woken.append(i)

    threads = [threading.Thread(target=waiter, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    with cond:
        cond.notify()
    time.sleep(0.5)
    assert len(woken) == 1
    with cond:
        cond.notify_all()
    for t in threads:
        t.join()
    assert sorted(woken) == [0, 1, 2]


def barrier_party(barrier, out):
    out.put(barrier.wait(10))


@pytest.mark.parametrize("mod", BOTH)
def test_barrier_as_multiprocessing(mod):
    b, out = mod.Barrier(3), mod.Queue()
    ps = [start(mod, barrier_party, b, out) for _ in range(2)]
    assert b.n_waiting in (0, 1, 2)
    mine = b.wait(10)
    got = sorted([mine, out.get(timeout=10), out.get(timeout=10)])
    assert got == [0, 1, 2]
    for p in ps:
        finish(p)
    with pytest.raises(threading.BrokenBarrierError):
        b.wait(0.1)              # a timeout breaks the barrier
    assert b.broken
    b.reset()
    assert not b.broken


# ------------------------------------------------------------------ deaths

def get_slowly(q, started):
    started.set()
    q.get()


def test_a_consumer_killed_inside_a_get_costs_at_most_that_object():
    np = pytest.importorskip("numpy")
    for delay in (0.0, 0.02, 0.05):
        q, started = parc.Queue(), parc.Event()
        q.put(np.ones(20_000_000 // 8))
        q.put("marker")
        time.sleep(0.2)
        p = start(parc, get_slowly, q, started)
        assert started.wait(10)
        time.sleep(delay)
        p.kill()
        finish(p)
        got = q.get(timeout=10)
        assert isinstance(got, np.ndarray) or got == "marker"
        if isinstance(got, np.ndarray):
            assert (got == 1).all() and q.get(timeout=10) == "marker"
        q.put("after")
        assert q.get(timeout=10) == "after"


def put_big_then_hang(q):
    import numpy as np
    q.put(np.ones(50_000_000 // 8))   # the feeder stops when the ring is full
    time.sleep(60)


def test_a_producer_killed_inside_a_put_leaves_no_partial_object():
    pytest.importorskip("numpy")
    q = parc.Queue(capacity=1 << 20)
    p = start(parc, put_big_then_hang, q)
    time.sleep(0.5)
    p.kill()
    finish(p)
    q.put("after")
    assert q.get(timeout=10) == "after"
    with pytest.raises(queue.Empty):
        q.get(timeout=0.2)


def put_big_slowly(q):
    import numpy as np
    q.put(np.ones(50_000_000 // 8))
    time.sleep(60)


def test_a_consumer_reading_a_killed_producer_s_object_drops_it():
    pytest.importorskip("numpy")
    q = parc.Queue(capacity=1 << 20)
    p = start(parc, put_big_slowly, q)
    time.sleep(0.3)
    os.kill(p.pid, signal.SIGSTOP)   # frozen in the middle of the object
    threading.Timer(0.5, p.kill).start()
    t = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(timeout=3)       # reads what there is, waits, then drops it
    assert time.monotonic() - t < 8
    finish(p)
    q.put("after")
    assert q.get(timeout=10) == "after"


# ------------------------------------------------------------------ pickling

def unpickle(conn):
    try:
        obj = pickle.loads(conn.recv_bytes())
        if isinstance(obj, parc.Queue):
            obj.put("through the pickled queue")
        conn.send("ok")
    except Exception as e:
        conn.send(f"{type(e).__name__}: {e}")


def test_pickling_works_in_processes_forked_after_the_object_was_made():
    q = parc.Queue()
    a, b = parc.Pipe()
    p = start(parc, unpickle, b)         # forked after q
    a.send_bytes(pickle.dumps(q))
    assert a.recv(timeout=10) == "ok"
    assert q.get(timeout=10) == "through the pickled queue"
    finish(p)
    p = start(parc, unpickle, b)
    too_late = parc.Event()              # made after the child was forked
    a.send_bytes(pickle.dumps(too_late))
    msg = a.recv(timeout=10)
    assert msg.startswith("RuntimeError") and "forked after" in msg
    finish(p)


def test_every_channel_object_round_trips_through_pickle_here():
    objs = [parc.Queue(), parc.SimpleQueue(), parc.JoinableQueue(),
            parc.Lock(), parc.RLock(), parc.Semaphore(3),
            parc.BoundedSemaphore(2), parc.Event(), parc.Condition(),
            parc.Barrier(2), parc.Pipe()[0]]
    for obj in objs:
        copy = pickle.loads(pickle.dumps(obj))
        assert type(copy) is type(obj)
    q = pickle.loads(pickle.dumps(objs[0]))
    q.put(1)
    assert objs[0].get(timeout=1) == 1


def put_it(q, x):
    q.put(x)
    return "ok"


def test_a_pool_task_may_take_a_queue_made_before_the_pool():
    before = parc.Queue()
    with parc.Pool(2) as pool:
        assert pool.apply(put_it, (before, 7)) == "ok"
        assert before.get(timeout=10) == 7
        after = parc.Queue()           # the workers were forked before it
        with pytest.raises(RuntimeError, match="forked after it was made"):
            pool.apply(put_it, (after, 8))


def test_channels_are_inherited_by_pool_workers():
    # a multiprocessing (fork) pool forks its workers after the queue
    q = parc.Queue()
    with mp.Pool(2, initializer=_init_worker, initargs=(q,)) as pool:
        pool.map(_put_from_worker, range(4))
    assert sorted(q.get(timeout=10) for _ in range(4)) == [0, 1, 2, 3]


_worker_q = None


def _init_worker(q):
    global _worker_q
    _worker_q = q


def _put_from_worker(i):
    _worker_q.put(i)


# ------------------------------------------------------------------ lifetime

def use_after_the_parent_let_go(go, q, lock, sem, out):
    if not go.wait(10):
        out.send("no go")
        return
    q.put("mine")
    with lock:
        got = q.get(timeout=5)
    assert sem.acquire(timeout=5) and sem.get_value() == 1
    sem.release()
    out.send((got, q.full(), sem.get_value()))


def test_a_parent_that_drops_a_channel_leaves_it_to_its_children():
    # A wrapper's last reference in a process destroys that process's
    # handles (parc_*_destroy), which ends its use only.
    go, (a, b) = parc.Event(), parc.Pipe()
    gc.collect()
    entries = _core._live_entries()
    maps = open("/proc/self/maps").read().count("memfd:parc")
    q, lock, sem = parc.Queue(2), parc.Lock(), parc.BoundedSemaphore(2)
    p = start(parc, use_after_the_parent_let_go, go, q, lock, sem, b)
    del q, lock, sem
    gc.collect()
    assert _core._live_entries() == entries
    assert open("/proc/self/maps").read().count("memfd:parc") == maps
    go.set()
    assert a.recv(timeout=10) == ("mine", False, 2)
    assert finish(p) == 0


def test_a_queue_too_long_for_a_semaphore_is_unbounded():
    q = parc.Queue(1 << 40)
    q.put(1)
    assert not q.full() and q.get(timeout=1) == 1
    with pytest.raises(ValueError):
        parc.Semaphore(1 << 40)


# ------------------------------------------------------------------ leaks

def test_100_queues_and_pipes_leave_nothing_mapped():
    gc.collect()
    entries = _core._live_entries()
    maps = open("/proc/self/maps").read().count("memfd:parc")
    fds = len(os.listdir("/proc/self/fd"))
    for i in range(100):
        q = parc.Queue(3)
        a, b = parc.Pipe()
        lock, ev, cond = parc.Lock(), parc.Event(), parc.Condition()
        q.put(i)
        a.send(i)
        assert q.get() == b.recv() == i
        with cond:
            cond.notify()
        del q, a, b, lock, ev, cond
    gc.collect()
    assert _core._live_entries() == entries
    assert open("/proc/self/maps").read().count("memfd:parc") == maps
    assert len(os.listdir("/proc/self/fd")) == fds
