"""multiprocessing's Queue, SimpleQueue and JoinableQueue on a shared
parc_queue (docs/python.md, "Queue, Pipe, Lock, Process").

Every queue lives in shared memory made when it is created, so it is
usable by the processes forked after that: parc.Process children and pool
workers created later, which get it by inheritance (Process arguments,
Pool initializer arguments) or pickled (see "Pickling" in the docs). A dead
peer costs at most the object it was moving; every blocking call takes a
timeout.
"""
import atexit
import collections
import os
import queue as _queue
import threading
import traceback
import types
import weakref

from . import _core, _payload  # noqa: F401  (_payload: the C side's pickling)

__all__ = ["Queue", "SimpleQueue", "JoinableQueue", "Empty", "Full"]

Empty = _queue.Empty
Full = _queue.Full

_CAPACITY = 4 << 20   # bytes of messages a queue's ring holds


class _Feed:
    """One process's side of a Queue: the objects put() could not hand to
    the ring at once, and the thread that feeds them in (multiprocessing's
    feeder thread, but started only when the ring is full or an object is
    large). Holds no reference to the Queue, so a dropped Queue still
    delivers what was put."""

    def __init__(self, core):
        self.core = core
        self.buffer = collections.deque()
        self.cond = threading.Condition(threading.Lock())
        self.pending = 0          # objects accepted, not yet in the ring
        self.thread = None
        self.cancelled = False    # cancel_join_thread
        self.pid = _pid

    def add(self, payload):
        with self.cond:
            self.buffer.append(payload)
            self.pending += 1
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self.run, name="QueueFeederThread", daemon=True)
                self.thread.start()
                _feeds.add(self)
            self.cond.notify()

    def run(self):
        while True:
            with self.cond:
                while not self.buffer:
                    self.cond.wait()
                payload = self.buffer.popleft()
            if payload is _STOP:
                return
            try:
                self.core.put(payload, None)
            except BaseException:  # pragma: no cover - as multiprocessing
                traceback.print_exc()
            finally:
                with self.cond:
                    self.pending -= 1

    def stop(self):
        """No more objects: the thread ends once it has fed the rest."""
        if self.thread is not None:
            with self.cond:
                self.buffer.append(_STOP)
                self.cond.notify()

    def join(self):
        if self.thread is not None and self.thread is not threading.current_thread():
            self.stop()
            self.thread.join()


_STOP = object()
_feeds = weakref.WeakSet()    # feeds with a thread, in this process
_pid = os.getpid()            # this process's (os.getpid() is a system call)


def _join_feeders():
    """At exit: every object put in this process reaches the ring (unless
    cancel_join_thread), as multiprocessing's Queue joins its thread."""
    for feed in list(_feeds):
        if not feed.cancelled and feed.pid == _pid:
            feed.join()


atexit.register(_join_feeders)


def _forget_feeds():
    global _pid
    _pid = os.getpid()
    _feeds.clear()   # a forked child has none of its parent's threads


os.register_at_fork(after_in_child=_forget_feeds)


class Queue:
    """multiprocessing.Queue on a shared parc_queue.

    put() never blocks while maxsize is 0 (an object that does not fit now
    waits in this process's feeder thread, as in multiprocessing) and
    raises queue.Full when a bounded queue stays full past its timeout;
    get() raises queue.Empty when nothing comes within its timeout. Objects
    of any size travel (large ones in pieces, their buffers out of band).
    A producer or consumer killed in the middle of an object costs that one
    object and leaves the queue usable; get() does not end because
    producers died -- any process holding the queue may put -- so give it a
    timeout, or join the producers.
    """

    def __init__(self, maxsize=0, *, ctx=None, capacity=None):
        self._maxsize = maxsize if maxsize > 0 else 0
        self._core = _core.QueueCore(self._maxsize, capacity or _CAPACITY)
        self._reset()

    def _reset(self):
        self._feed = _Feed(self._core)
        self._closed = False

    def _local(self):
        """This process's feed (a forked child starts its own)."""
        feed = self._feed
        if feed.pid != _pid:
            self._reset()
            feed = self._feed
        return feed

    def __getstate__(self):
        return self._core, self._maxsize

    def __setstate__(self, state):
        self._core, self._maxsize = state
        self._reset()

    def put(self, obj, block=True, timeout=None):
        if self._closed:
            raise ValueError(f"Queue {self!r} is closed")
        if self._maxsize and not self._core.take_slot(timeout if block else 0):
            raise Full
        feed = self._feed
        if feed.pending == 0 and feed.pid == _pid:
            payload = self._core.try_put(obj)   # pickled, and in the ring
            if payload is True:                 # now if it fits
                return
        else:
            payload = self._core.encode(obj)
        self._local().add(payload)

    def get(self, block=True, timeout=None):
        if self._closed:
            raise ValueError(f"Queue {self!r} is closed")
        return self._core.get(timeout if block else 0)

    def put_nowait(self, obj):
        return self.put(obj, False)

    def get_nowait(self):
        return self.get(False)

    def qsize(self):
        """Objects put and not yet taken (approximate, as in
        multiprocessing): those in the queue and this process's unsent."""
        return self._core.qsize() + self._local().pending

    def empty(self):
        return self._core.queued() == 0 and self._local().pending == 0

    def full(self):
        return bool(self._maxsize) and self._core.free_slots() == 0

    def close(self):
        """No more puts from this process; what was put is still sent."""
        self._closed = True
        self._local().stop()

    def join_thread(self):
        assert self._closed, "Queue {0!r} not closed".format(self)
        self._local().join()

    def cancel_join_thread(self):
        self._local().cancelled = True

    __class_getitem__ = classmethod(types.GenericAlias)


class JoinableQueue(Queue):
    """multiprocessing.JoinableQueue: task_done() and join() on a shared
    counter of unfinished tasks."""

    def __init__(self, maxsize=0, *, ctx=None, capacity=None):
        super().__init__(maxsize, capacity=capacity)
        self._unfinished = _core.Shm(8)

    def __getstate__(self):
        return super().__getstate__() + (self._unfinished,)

    def __setstate__(self, state):
        super().__setstate__(state[:2])
        self._unfinished = state[2]

    def put(self, obj, block=True, timeout=None):
        self._unfinished.count_add(0, 1)
        try:
            super().put(obj, block, timeout)
        except BaseException:
            self._unfinished.count_add(0, -1)
            raise

    def task_done(self):
        if self._unfinished.count_done(0) < 0:
            raise ValueError("task_done() called too many times")

    def join(self, timeout=None):
        """Waits until every object put has been task_done(). A parc
        extension: with a timeout, returns False if that did not happen in
        time (True otherwise; None without a timeout, as multiprocessing)."""
        done = self._unfinished.count_wait_zero(0, timeout)
        return None if timeout is None else done


class SimpleQueue:
    """multiprocessing.SimpleQueue: put and get, nothing else; put waits
    while the queue's ring is full. A parc extension: timeouts on both."""

    def __init__(self, *, ctx=None, capacity=None):
        self._core = _core.QueueCore(0, capacity or _CAPACITY)
        self._closed = False

    def __getstate__(self):
        return self._core

    def __setstate__(self, core):
        self._core = core
        self._closed = False

    def _check(self):
        if self._closed:
            raise OSError("handle is closed")

    def put(self, obj, timeout=None):
        self._check()
        if not self._core.put(self._core.encode(obj), timeout):
            raise Full

    def get(self, timeout=None):
        self._check()
        return self._core.get(timeout)

    def empty(self):
        return self._core.queued() == 0

    def close(self):
        self._closed = True

    __class_getitem__ = classmethod(types.GenericAlias)
