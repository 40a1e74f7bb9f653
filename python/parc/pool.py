"""parc.Pool: multiprocessing.Pool's API on a parc pool (docs/python.md,
"Pool (multiprocessing.Pool)").

    from parc import Pool                  # instead of multiprocessing's
    with Pool(processes=4) as p:
        print(p.map(f, range(100)))

What it adds: ``timeout=`` (seconds a task may run; an overdue task raises
``parc.TimeoutError`` and only its worker is replaced), ``max_retries=``
(re-runs of a task whose worker died), and a pool that survives its
workers: a worker killed by a signal, a segfault or ``os._exit`` fails
only its own task with ``parc.WorkerDied``.

``map``/``starmap`` run as one libparc map in the calling thread (the GIL
released); ``apply`` waits in the calling thread; the async forms and
``imap`` are fed and finished by whoever waits for them, or by the pool's
watcher thread (parc/_watch.py) when nobody does.
"""
import itertools
import os
import threading
import time
import warnings
from collections import deque

from . import _core
from ._transport import Codec
from ._watch import LOGGER, Watcher, track
from .errors import TimeoutError

__all__ = ["Pool", "ThreadPool", "AsyncResult", "MapResult", "IMapIterator"]

RUN, CLOSE, TERMINATE = "RUN", "CLOSE", "TERMINATE"
_BACKENDS = {"processes": _core.PROCESSES, "threads": _core.THREADS}
_MP = _core.K_MPSTYLE


def _deadline(timeout):
    return None if timeout is None else time.monotonic() + max(timeout, 0)


def _left(deadline):
    return None if deadline is None else max(deadline - time.monotonic(), 0)


class Pool:
    """A pool of worker processes (or threads) with multiprocessing.Pool's
    API. ``processes``: default one per physical core (multiprocessing:
    one per logical CPU). ``context`` is accepted and ignored: workers are
    always forked when the pool is made (docs/python.md)."""

    _default_backend = "processes"

    def __init__(self, processes=None, initializer=None, initargs=(),
                 maxtasksperchild=None, context=None, *, backend=None,
                 timeout=None, max_retries=0):
        self._state = TERMINATE  # until the workers are there
        backend = backend or self._default_backend
        if backend not in _BACKENDS:
            raise ValueError(f"backend must be 'processes' or 'threads', "
                             f"not {backend!r}")
        if processes is not None and processes < 1:
            raise ValueError("Number of processes must be at least 1")
        if maxtasksperchild is not None and (
                not isinstance(maxtasksperchild, int)
                or maxtasksperchild <= 0):
            raise ValueError("maxtasksperchild must be a positive int or None")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be > 0 seconds or None")
        b = _BACKENDS[backend]
        if processes is None and b == _core.THREADS:
            processes = os.cpu_count() or 1
        # What needs no worker is made before the fork: after it, each
        # page this process writes first is copied while the workers start.
        self._codec = Codec(b)
        self._watcher = Watcher("parc-pool-watcher")
        self._core = _core.Pool(b, processes or 0, timeout or 0.0,
                                max_retries, maxtasksperchild or 0,
                                initializer, tuple(initargs),
                                self._codec.main_vars)
        self._watcher.bind(self._core)
        self._processes = self._core.workers
        self._timeout = timeout
        self._pid = os.getpid()
        self._state = RUN
        track(self)

    def __repr__(self):
        return (f"<{type(self).__module__}.{type(self).__qualname__} "
                f"state={self._state} pool_size={self._processes}>")

    def __reduce__(self):
        raise NotImplementedError("pool objects cannot be passed between "
                                  "processes or pickled")

    def _check_running(self):
        if self._state != RUN:
            raise ValueError("Pool not running")

    def _chunksize(self, n):
        if self._timeout is not None:
            return 1  # the timeout is per task: a chunk is one task
        chunksize, extra = divmod(n, self._processes * 4)
        return chunksize + 1 if extra else max(chunksize, 1)

    # ------------------------------------------------------------ apply

    def apply(self, func, args=(), kwds={}):
        """func(*args, **kwds) in a worker; its result, or its exception."""
        self._check_running()
        fn_id, blob = self._codec.blob(func)
        task = self._core.submit(_core.K_CALL | _MP, fn_id, blob,
                                 (tuple(args), dict(kwds) or None))
        try:
            return task.result()
        except KeyboardInterrupt:
            task.kill()
            raise

    def apply_async(self, func, args=(), kwds={}, callback=None,
                    error_callback=None):
        self._check_running()
        fn_id, blob = self._codec.blob(func)
        task = self._core.submit(_core.K_CALL | _MP, fn_id, blob,
                                 (tuple(args), dict(kwds) or None))
        return AsyncResult(self, task, callback, error_callback)

    # ------------------------------------------------------------ map

    def _map(self, func, iterable, chunksize, star):
        self._check_running()
        items = iterable if type(iterable) is list else list(iterable)
        if chunksize is None:
            chunksize = self._chunksize(len(items))
        elif chunksize < 1:
            raise ValueError(f"Chunksize must be 1+, not {chunksize:n}")
        if chunksize == 1:
            kind = _core.K_STAR1 if star else _core.K_MAP1
        else:
            kind = _core.K_STARN if star else _core.K_MAPN
        fn_id, blob = self._codec.blob(func)
        return self._core.map(kind | _MP, fn_id, blob, items, chunksize)

    def map(self, func, iterable, chunksize=None):
        """[func(x) for x in iterable], in parallel, in order."""
        return self._map(func, iterable, chunksize, False)

    def starmap(self, func, iterable, chunksize=None):
        """[func(*args) for args in iterable], in parallel, in order."""
        return self._map(func, iterable, chunksize, True)

    def _map_async(self, func, iterable, chunksize, callback, error_callback,
                   star):
        self._check_running()
        if not hasattr(iterable, "__len__"):
            iterable = list(iterable)
        if chunksize is None:
            chunksize = self._chunksize(len(iterable))
        elif chunksize < 1:
            raise ValueError(f"Chunksize must be 1+, not {chunksize:n}")
        job = _MapJob(self, func, iterable, chunksize, star, True)
        result = MapResult(self, job, len(iterable), callback, error_callback)
        job.start()
        return result

    def map_async(self, func, iterable, chunksize=None, callback=None,
                  error_callback=None):
        return self._map_async(func, iterable, chunksize, callback,
                               error_callback, False)

    def starmap_async(self, func, iterable, chunksize=None, callback=None,
                      error_callback=None):
        return self._map_async(func, iterable, chunksize, callback,
                               error_callback, True)

    def _imap(self, func, iterable, chunksize, ordered):
        self._check_running()
        if chunksize < 1:
            raise ValueError(f"Chunksize must be 1+, not {chunksize:n}")
        job = _MapJob(self, func, iterable, chunksize, False, ordered).start()
        it = IMapIterator(job) if ordered else IMapUnorderedIterator(job)
        if chunksize == 1:
            return it
        return (item for chunk in it for item in chunk)

    def imap(self, func, iterable, chunksize=1):
        """func(x) for x in iterable, lazily, in order."""
        return self._imap(func, iterable, chunksize, True)

    def imap_unordered(self, func, iterable, chunksize=1):
        """func(x) for x in iterable, lazily, as they finish."""
        return self._imap(func, iterable, chunksize, False)

    # ------------------------------------------------------------ life

    def close(self):
        """No more tasks; the workers leave once what was given is done."""
        if self._state == RUN:
            self._state = CLOSE

    def terminate(self):
        """Stops the workers now: running tasks are killed (threads are
        abandoned), the rest canceled."""
        self._state = TERMINATE
        core = getattr(self, "_core", None)
        if core is None:
            return
        self._watcher.closing()
        core.close(True)
        self._watcher.close()

    def join(self):
        """Waits for the workers to leave (after close() or terminate())."""
        if self._state == RUN:
            raise ValueError("Pool is still running")
        if self._state == CLOSE:
            self._core.idle()
        self._watcher.close()
        self._core.close()

    def __enter__(self):
        self._check_running()
        return self

    def __exit__(self, *exc):
        self.terminate()

    def _at_exit(self):
        self.terminate()

    def __del__(self, _warn=warnings.warn, RUN=RUN):
        if getattr(self, "_state", None) == RUN:
            if getattr(self, "_pid", None) == os.getpid():
                _warn(f"unclosed running multiprocessing pool {self!r}",
                      ResourceWarning, source=self)
            try:
                self.terminate()
            except Exception:
                pass


class ThreadPool(Pool):
    """multiprocessing.pool.ThreadPool: the same API, on threads (no
    pickling; tasks share this interpreter and its GIL)."""

    _default_backend = "threads"

    def __init__(self, processes=None, initializer=None, initargs=(), *,
                 timeout=None, max_retries=0):
        super().__init__(processes, initializer, initargs, backend="threads",
                         timeout=timeout, max_retries=max_retries)


class AsyncResult:
    """What apply_async returns (multiprocessing.pool.AsyncResult's API)."""

    def __init__(self, pool, task, callback=None, error_callback=None):
        self._pool = pool
        self._task = task
        self._callback = callback
        self._error_callback = error_callback
        self._event = None
        if callback is not None or error_callback is not None:
            self._event = threading.Event()
            self._claimed = False
            self._lock = threading.Lock()
            pool._watcher.watch(task, self._on_task)

    def _on_task(self, task):
        with self._lock:
            if self._claimed:
                return
            self._claimed = True
        try:
            code, value = task.outcome()
            if code == 0 and self._callback is not None:
                self._callback(value)
            elif code != 0 and self._error_callback is not None:
                self._error_callback(value)
        finally:
            self._event.set()

    def ready(self):
        if self._event is not None:
            return self._event.is_set()
        return self._task.done()

    def successful(self):
        if not self.ready():
            raise ValueError(f"{self!r} not ready")
        return self._task.outcome()[0] == 0

    def wait(self, timeout=None):
        deadline = _deadline(timeout)
        if not self._task.wait(_left(deadline)) or self._event is None:
            return
        try:
            self._on_task(self._task)  # unless the watcher has begun
        except Exception:
            LOGGER.exception("exception calling callback for %r", self)
        self._event.wait(_left(deadline))

    def get(self, timeout=None):
        self.wait(timeout)
        if not self.ready():
            raise TimeoutError("the wait timed out")
        code, value = self._task.outcome()
        if code == 0:
            return value
        raise value


ApplyResult = AsyncResult


class _MapJob:
    """A map in chunks, one task per chunk, at most `window` of them in
    flight (and, with `ahead`, at most that many submitted and not yet
    taken): fed and finished by whoever waits on it, and by the pool's
    watcher (so it runs on when nobody does). Also Executor.map's."""

    def __init__(self, owner, func, iterable, chunksize, star, ordered,
                 mpstyle=True, ahead=None):
        self._core = owner._core
        self._watcher = owner._watcher
        self._fn_id, self._blob = owner._codec.blob(func)
        self._one = chunksize == 1
        if self._one:
            kind = _core.K_STAR1 if star else _core.K_MAP1
        else:
            kind = _core.K_STARN if star else _core.K_MAPN
        self._kind = kind | (_MP if mpstyle else 0)
        self._size = chunksize
        self._source = iter(iterable)
        self._window = 2 * owner._core.workers + 2
        self._ahead = ahead
        self._taken = 0  # ordered: chunks taken by the consumer
        self._lock = threading.RLock()
        self._inflight = {}  # task -> chunk index
        self._by_index = {}  # chunk index -> task
        self._ordered = ordered
        self._outcomes = {} if ordered else deque()
        self._submitted = 0
        self._exhausted = False
        self._stopped = False
        self.on_chunk = None  # (index, ok, value, finished) -> None

    def start(self):
        with self._lock:
            self._feed()
        return self

    def _record(self, index, ok, value):
        if self._ordered:
            self._outcomes[index] = (ok, value)
        else:
            self._outcomes.append((ok, value))

    def _feed(self):
        while (not self._exhausted and not self._stopped
               and len(self._inflight) < self._window
               and (self._ahead is None
                    or self._submitted - self._taken < self._ahead)):
            index = self._submitted
            try:
                chunk = list(itertools.islice(self._source, self._size))
            except Exception as exc:  # the iterable raised
                self._exhausted = True
                self._submitted += 1
                self._record(index, False, exc)
                break
            if not chunk:
                self._exhausted = True
                break
            self._submitted += 1
            try:
                task = self._core.submit(self._kind, self._fn_id, self._blob,
                                         chunk[0] if self._one else chunk)
            except Exception as exc:  # cannot be pickled, or pool gone
                self._record(index, False, exc)
                if self._core.state != 0:
                    self._exhausted = True
                continue
            self._inflight[task] = index
            self._by_index[index] = task
            self._watcher.watch(task, self._on_task)

    def stop(self):
        with self._lock:
            self._stopped = True

    def cancel(self):
        """No more chunks; those not started are canceled."""
        with self._lock:
            self._stopped = True
            tasks = list(self._inflight)
        for task in tasks:
            task.cancel()

    def _on_task(self, task):
        with self._lock:
            index = self._inflight.pop(task, None)
            if index is None:
                return
            del self._by_index[index]
            code, value = task.outcome()
            self._record(index, code == 0, value)
            self._feed()
            finished = self._exhausted and not self._inflight
            hook = self.on_chunk
        if hook is not None:
            hook(index, code == 0, value, finished)

    def finished(self):
        with self._lock:
            return self._exhausted and not self._inflight

    def inflight(self):
        with self._lock:
            return list(self._inflight)

    def take(self, index, deadline):
        """Ordered: the outcome (ok, value) of chunk `index`, or None past
        the last chunk."""
        while True:
            with self._lock:
                if index in self._outcomes:
                    self._taken = index + 1
                    outcome = self._outcomes.pop(index)
                    self._feed()  # room for one more, with `ahead`
                    return outcome
                if index >= self._submitted:
                    if self._exhausted or self._stopped:
                        return None
                    self._feed()
                    continue
                task = self._by_index.get(index)
            if task is None:
                continue
            if not task.wait(_left(deadline)):
                raise TimeoutError("the wait timed out")
            self._on_task(task)

    def take_any(self, deadline):
        """Unordered: the next outcome to finish, or None at the end."""
        while True:
            with self._lock:
                if self._outcomes:
                    return self._outcomes.popleft()
                if not self._inflight:
                    if self._exhausted or self._stopped:
                        return None
                    self._feed()
                    continue
                tasks = list(self._inflight)
            i = _core.wait_any(tasks, _left(deadline))
            if i is None:
                raise TimeoutError("the wait timed out")
            self._on_task(tasks[i])


class MapResult(AsyncResult):
    """What map_async and starmap_async return."""

    def __init__(self, pool, job, length, callback, error_callback):
        self._pool = pool
        self._job = job
        self._callback = callback
        self._error_callback = error_callback
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._success = None
        self._value = None
        self._length = length
        if length == 0:
            self._finish(True, [])
        job.on_chunk = self._on_chunk

    def _finish(self, ok, value):
        with self._lock:
            if self._success is not None:
                return
            self._success, self._value = ok, value
        if not ok:
            self._job.stop()  # as multiprocessing: ready at the first error
        try:
            if ok and self._callback is not None:
                self._callback(value)
            elif not ok and self._error_callback is not None:
                self._error_callback(value)
        finally:
            self._event.set()

    def _on_chunk(self, index, ok, value, finished):
        if not ok:
            self._finish(False, value)
        elif finished:
            job = self._job
            with job._lock:
                outcomes = [job._outcomes.get(i) for i in range(job._submitted)]
            failed = next((v for o in outcomes if o and not o[0]
                           for v in [o[1]]), None)
            if failed is not None:
                self._finish(False, failed)
                return
            result = []
            for o in outcomes:
                if job._one:
                    result.append(o[1])
                else:
                    result.extend(o[1])
            self._finish(True, result)

    def ready(self):
        return self._event.is_set()

    def successful(self):
        if not self.ready():
            raise ValueError(f"{self!r} not ready")
        return self._success

    def wait(self, timeout=None):
        deadline = _deadline(timeout)
        while not self._event.is_set():
            tasks = self._job.inflight()
            left = _left(deadline)
            if left is not None and left <= 0:
                return
            if not tasks:  # the last one is being finished elsewhere
                self._event.wait(0.05 if left is None else min(left, 0.05))
                continue
            i = _core.wait_any(tasks, left)
            if i is not None:
                self._job._on_task(tasks[i])

    def get(self, timeout=None):
        self.wait(timeout)
        if not self.ready():
            raise TimeoutError("the wait timed out")
        if self._success:
            return self._value
        raise self._value


class IMapIterator:
    """What imap returns (chunksize 1): next(timeout=None) as
    multiprocessing's; an exception is raised at its item's place, and
    iteration may go on after it."""

    def __init__(self, job):
        self._job = job
        self._index = 0

    def __iter__(self):
        return self

    def _take(self, deadline):
        outcome = self._job.take(self._index, deadline)
        if outcome is not None:
            self._index += 1
        return outcome

    def next(self, timeout=None):
        outcome = self._take(_deadline(timeout))
        if outcome is None:
            raise StopIteration
        ok, value = outcome
        if ok:
            return value
        raise value

    __next__ = next


class IMapUnorderedIterator(IMapIterator):
    """What imap_unordered returns (chunksize 1)."""

    def _take(self, deadline):
        return self._job.take_any(deadline)
