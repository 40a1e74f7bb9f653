"""multiprocessing's Lock, RLock, Semaphore, BoundedSemaphore, Event,
Condition and Barrier in shared memory (docs/python.md, "Queue, Pipe, Lock,
Process"). The locks are robust: a holder that dies hands the lock on with
a LockOwnerDiedWarning instead of a hang; every blocking call takes a
timeout; a lock is released by the thread that acquired it.
"""
import threading
import time
import warnings

from . import _core

__all__ = ["Lock", "RLock", "Semaphore", "BoundedSemaphore", "Event",
           "Condition", "Barrier", "LockOwnerDiedWarning"]

class LockOwnerDiedWarning(RuntimeWarning):
    """A parc lock was acquired from a holder that died holding it: what
    the lock protects may be half updated. The acquire succeeded (the lock
    is held and usable); the lock's `owner_died` is True until its next
    acquire. Turn it into an error with warnings.simplefilter("error",
    LockOwnerDiedWarning): the acquire then releases the lock and raises."""


def _process_name():
    from .process import current_process
    name = current_process().name
    if threading.current_thread() is not threading.main_thread():
        name += "|" + threading.current_thread().name
    return name


class Lock:
    """multiprocessing.Lock on a robust parc_lock: if the process (or
    thread) holding it dies, the next acquire gets it, with a
    LockOwnerDiedWarning, instead of waiting for ever."""

    _recursive = False

    def __init__(self, *, ctx=None):
        self._core = _core.LockCore(self._recursive)
        self.owner_died = False

    def __reduce__(self):
        return _rebuild_lock, (type(self), self._core)

    def acquire(self, block=True, timeout=None):
        got = self._core.acquire(block, timeout)
        if got == 1:
            self.owner_died = False
            return True
        if got == 2:
            self._inherited()
            return True
        return False

    def _inherited(self):
        self.owner_died = True
        try:
            warnings.warn(
                f"{type(self).__name__} acquired from a holder that died "
                f"holding it: what it protects may be half updated",
                LockOwnerDiedWarning, stacklevel=3)
        except BaseException:
            self._core.release()
            raise

    def release(self):
        self._core.release()

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()

    def _is_owned(self):
        return self._core.is_mine()

    def __repr__(self):
        owner = _process_name() if self._core.is_mine() else "unknown"
        return f"<{type(self).__name__}(owner={owner})>"


class RLock(Lock):
    """multiprocessing.RLock: a Lock its holder may acquire again (and must
    release as often)."""

    _recursive = True

    def __repr__(self):
        count = self._core.count()
        owner = _process_name() if count else "unknown"
        return f"<{type(self).__name__}({owner}, {count})>"


def _rebuild_lock(cls, core):
    lock = cls.__new__(cls)
    lock._core = core
    lock.owner_died = False
    return lock


class Semaphore:
    """multiprocessing.Semaphore on a shared parc_sem."""

    def __init__(self, value=1, *, ctx=None):
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        self._core = _core.SemCore(value)

    def acquire(self, block=True, timeout=None):
        return self._core.acquire(block, timeout)

    def release(self):
        self._core.release()

    def get_value(self):
        return self._core.get_value()

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()

    def __repr__(self):
        return f"<{type(self).__name__}(value={self.get_value()})>"


class BoundedSemaphore(Semaphore):
    """multiprocessing.BoundedSemaphore: release() past the initial value
    raises ValueError."""

    def __init__(self, value=1, *, ctx=None):
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        self._core = _core.SemCore(value, value)
        self._maxvalue = value

    def __repr__(self):
        return (f"<{type(self).__name__}(value={self.get_value()}, "
                f"maxvalue={self._maxvalue})>")


# ------------------------------------------------------------------ events

class Event:
    """multiprocessing.Event on a futex word in shared memory."""

    def __init__(self, *, ctx=None):
        self._shm = _core.Shm(8)

    def is_set(self):
        return self._shm.event_is_set(0)

    def set(self):
        self._shm.event_set(0)

    def clear(self):
        self._shm.event_clear(0)

    def wait(self, timeout=None):
        return self._shm.event_wait(0, timeout)

    def __repr__(self):
        return f"<{type(self).__name__}(set={self.is_set()})>"


class Condition:
    """multiprocessing.Condition: a Lock or RLock (an RLock by default) and
    a shared futex word; notify(n) hands out n wake-ups to the waiters."""

    # Shm layout: the sequence word at byte 0; waiters not yet woken (u64
    # index 1) and wake-ups not yet taken (u64 index 2), both changed only
    # under the lock.
    def __init__(self, lock=None, *, ctx=None):
        if lock is None:
            lock = RLock()
        if not isinstance(lock, Lock):
            raise TypeError("a parc Condition needs a parc Lock or RLock")
        self._lock = lock
        self._shm = _core.Shm(24)
        self._setup()

    def _setup(self):
        self._words = memoryview(self._shm).cast("Q")
        self.acquire = self._lock.acquire
        self.release = self._lock.release

    def __getstate__(self):
        return self._lock, self._shm

    def __setstate__(self, state):
        self._lock, self._shm = state
        self._setup()

    def __enter__(self):
        return self._lock.__enter__()

    def __exit__(self, *exc):
        return self._lock.__exit__(*exc)

    def _check_owned(self, what):
        if not self._lock._core.is_mine():
            raise AssertionError(f"must acquire() condition before using "
                                 f"{what}()")

    def _restore(self, saved):
        if self._lock._core.acquire_restore(saved) == 2:
            self._lock._inherited()

    def wait(self, timeout=None):
        self._check_owned("wait")
        shm, words, core = self._shm, self._words, self._lock._core
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0)
        words[1] += 1
        while True:
            seen = shm.seq_get(0)
            saved = core.release_save()
            try:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                changed = shm.seq_wait(0, seen, left)
            except BaseException:
                self._restore(saved)
                self._withdraw()
                raise
            self._restore(saved)
            if words[2] > 0:
                words[2] -= 1
                return True
            if not changed or (deadline is not None
                               and time.monotonic() >= deadline):
                words[1] -= 1
                return False

    def _withdraw(self):
        words = self._words
        if words[2] > 0:
            words[2] -= 1
        elif words[1] > 0:
            words[1] -= 1

    def wait_for(self, predicate, timeout=None):
        result = predicate()
        if result:
            return result
        deadline = None if timeout is None else time.monotonic() + timeout
        while not result:
            left = None
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
            self.wait(left)
            result = predicate()
        return result

    def notify(self, n=1):
        self._check_owned("notify")
        words = self._words
        k = min(n, words[1])
        if k > 0:
            words[1] -= k
            words[2] += k
            self._shm.seq_bump(0, k)

    def notify_all(self):
        self.notify(1 << 62)

    notifyAll = notify_all

    def __repr__(self):
        return f"<{type(self).__name__}({self._lock!r}, {self._words[1]})>"


class Barrier(threading.Barrier):
    """multiprocessing.Barrier (threading.Barrier's behaviour: wait returns
    the arrival index, the action runs once a round, a timeout breaks the
    barrier) with its state and Condition in shared memory."""

    def __init__(self, parties, action=None, timeout=None, *, ctx=None):
        self.__setstate__((parties, action, timeout, Condition(Lock()),
                           _core.Shm(8)))
        self._state = 0
        self._count = 0

    def __setstate__(self, state):
        (self._parties, self._action, self._timeout, self._cond,
         self._shm) = state
        self._array = memoryview(self._shm).cast("i")

    def __getstate__(self):
        return (self._parties, self._action, self._timeout, self._cond,
                self._shm)

    @property
    def _state(self):
        return self._array[0]

    @_state.setter
    def _state(self, value):
        self._array[0] = value

    @property
    def _count(self):
        return self._array[1]

    @_count.setter
    def _count(self, value):
        self._array[1] = value
