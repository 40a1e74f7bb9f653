"""parc.Executor: a concurrent.futures.Executor on a parc pool
(docs/python.md, "Executor (concurrent.futures)").

    with parc.Executor() as ex:                  # processes; backend="threads"
        fut = ex.submit(pow, 2, 10)              # a concurrent.futures.Future
        print(fut.result(), list(ex.map(abs, range(-3, 3))))

submit() returns real ``concurrent.futures.Future`` objects (a subclass),
so ``concurrent.futures.wait`` / ``as_completed``, ``asyncio.wrap_future``
and ``loop.run_in_executor`` work as with the standard executors.

``result()`` waits in the calling thread, in C, without the GIL; no helper
thread carries the result. A pool's watcher thread (parc/_watch.py) comes
in only for futures that have callbacks or that ``wait`` / ``as_completed``
watch. A worker that dies fails only its own future (``parc.WorkerDied``),
and the executor keeps working.
"""
import threading
import time
from concurrent.futures import _base

from . import _core
from ._transport import Codec
from ._watch import LOGGER, Watcher, track
from .errors import TimeoutError

__all__ = ["Executor", "ProcessPoolExecutor", "ThreadPoolExecutor", "Future"]

PENDING = _base.PENDING
RUNNING = _base.RUNNING
CANCELLED = _base.CANCELLED
CANCELLED_AND_NOTIFIED = _base.CANCELLED_AND_NOTIFIED
FINISHED = _base.FINISHED
_DONE = (CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED)
_BACKENDS = {"processes": _core.PROCESSES, "threads": _core.THREADS}
_cond_lock = threading.Lock()
_settle = _core.settle              # wait for the task, settle the future
_add_callback = _core.add_callback  # append unless settled (atomically)
_core.set_future_states(PENDING, FINISHED, CANCELLED_AND_NOTIFIED)


class _Waiters(list):
    """A future's waiters: concurrent.futures.wait and as_completed append
    theirs, which puts the future under the watcher's eye."""
    __slots__ = ("_future",)

    def append(self, waiter):
        super().append(waiter)
        self._future._watch()


class Future(_base.Future):
    """A ``concurrent.futures.Future`` whose task runs in a parc pool.

    Its state is read from the task when asked (``done()``, ``result()``
    ...); the Condition, waiter list and callback list of the standard
    Future are made only when something needs them."""

    _state = PENDING
    _result = None
    _exception = None
    _done_callbacks = ()
    _cond = None
    _w = None
    _watched = False

    def __init__(self, task=None, owner=None):
        # No super().__init__(): it makes a Condition and two lists.
        self._task = task
        self._owner = owner

    @property
    def _condition(self):
        cond = self._cond
        if cond is None:
            with _cond_lock:
                cond = self._cond
                if cond is None:
                    cond = self._cond = threading.Condition()
        return cond

    @property
    def _waiters(self):
        w = self._w
        if w is None:
            w = _Waiters()
            w._future = self
            self._w = w
        return w

    # -------------------------------------------------------- completion

    def _watch(self):
        if not self._watched and self._state == PENDING and self._task:
            self._watched = True
            self._owner._watcher.watch(self._task, self._on_task)

    def _on_task(self, task):
        self._complete()

    def _complete(self):
        """Takes the task's outcome into the future (once) and tells whoever
        listens (_tell); waits for the task if it has not finished."""
        if self._state == PENDING:
            _settle(self)

    def _tell(self, code):
        with self._condition:
            for waiter in self._w or ():
                if code == 0:
                    waiter.add_result(self)
                elif code == _core.ECANCELED:
                    waiter.add_cancelled(self)
                else:
                    waiter.add_exception(self)
            self._condition.notify_all()
        self._invoke_callbacks()

    def _refresh(self):
        if self._state == PENDING and self._task.done():
            self._complete()

    # -------------------------------------------------------- public

    def cancel(self):
        """Cancels the task if it has not started: True if it never runs."""
        if self._state in (CANCELLED, CANCELLED_AND_NOTIFIED):
            return True
        if self._state == PENDING and self._task.cancel():
            self._complete()
        else:
            self._refresh()
        return self._state in (CANCELLED, CANCELLED_AND_NOTIFIED)

    def cancelled(self):
        self._refresh()
        return self._state in (CANCELLED, CANCELLED_AND_NOTIFIED)

    def running(self):
        self._refresh()
        if self._state == PENDING:
            return self._task.phase() == _core.PHASE_RUNNING
        return self._state == RUNNING

    def done(self):
        self._refresh()
        return self._state in _DONE

    def result(self, timeout=None):
        if self._state == PENDING:
            _settle(self, timeout)
        try:
            if self._state == FINISHED:
                if self._exception is not None:
                    raise self._exception
                return self._result
            if self._state in (CANCELLED, CANCELLED_AND_NOTIFIED):
                raise _base.CancelledError()
            return super().result(timeout)  # set by hand (set_result)
        finally:
            self = None  # no cycle through the traceback (as the stdlib)

    def exception(self, timeout=None):
        if self._state == PENDING:
            _settle(self, timeout)
        if self._state in (CANCELLED, CANCELLED_AND_NOTIFIED):
            raise _base.CancelledError()
        if self._state == FINISHED:
            return self._exception
        return super().exception(timeout)

    def add_done_callback(self, fn):
        self._refresh()
        if _add_callback(self, fn):
            self._watch()
            return
        try:
            fn(self)
        except Exception:
            LOGGER.exception("exception calling callback for %r", self)


class Executor(_base.Executor):
    """A ``concurrent.futures.Executor`` running calls on a parc pool.

    ``backend``: ``"processes"`` (forked at creation; see docs/python.md,
    "Start method, fork and threads") or ``"threads"``. ``max_workers``:
    default one per physical core (processes) or ``min(32, cpu_count + 4)``
    (threads, as ThreadPoolExecutor). ``timeout``: seconds a task may run;
    an overdue task raises ``parc.TimeoutError`` and only its worker is
    replaced. ``max_retries``: re-runs of a task whose worker died.
    ``max_tasks_per_child``: a worker is replaced after that many tasks.
    """

    def __init__(self, max_workers=None, *, backend="processes",
                 initializer=None, initargs=(), max_tasks_per_child=None,
                 timeout=None, max_retries=0):
        if backend not in _BACKENDS:
            raise ValueError(f"backend must be 'processes' or 'threads', "
                             f"not {backend!r}")
        if max_workers is not None and max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if max_tasks_per_child is not None and (
                not isinstance(max_tasks_per_child, int)
                or max_tasks_per_child < 1):
            raise ValueError("max_tasks_per_child must be >= 1")
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be > 0 seconds or None")
        b = _BACKENDS[backend]
        if max_workers is None and b == _core.THREADS:
            import os
            max_workers = min(32, (os.cpu_count() or 1) + 4)
        self._lock = threading.Lock()
        self._shutdown = False
        self._codec = Codec(b)  # before the fork, as in Pool
        self._fns = self._codec.cache
        self._watcher = Watcher("parc-executor-watcher")
        self._core = _core.Pool(b, max_workers or 0, timeout or 0.0,
                                max_retries, max_tasks_per_child or 0,
                                initializer, tuple(initargs),
                                self._codec.main_vars)
        self._watcher.bind(self._core)
        self._max_workers = self._core.workers
        self._closer = None
        track(self)

    def __repr__(self):
        state = "shutdown" if self._shutdown else "running"
        return (f"<{type(self).__module__}.{type(self).__qualname__} {state}"
                f" max_workers={self._max_workers}>")

    def submit(self, fn, /, *args, **kwargs):
        """Runs fn(*args, **kwargs) in a worker; returns a Future."""
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        hit = self._fns.get(id(fn))  # the codec's cache, looked at inline
        if hit is not None and hit[0] is fn:
            fn_id, blob = hit[1], hit[2]
        else:
            fn_id, blob = self._codec.blob(fn)
        try:
            return self._core.submit_future(Future, self, _core.K_CALL, fn_id,
                                            blob, (args, kwargs or None))
        except ValueError:
            raise RuntimeError("cannot schedule new futures after shutdown")

    submit.__doc__ = _base.Executor.submit.__doc__

    def map(self, fn, *iterables, timeout=None, chunksize=1, buffersize=None):
        """As concurrent.futures' map: results in order, lazily; at most
        ``buffersize`` tasks (chunks) submitted ahead of the one whose
        result is next (Python 3.14's argument); ``chunksize`` items per
        task. ``timeout`` counts from this call. Without buffersize the
        input is read at once, as the standard map does, and its tasks are
        submitted a window at a time (about two per worker in flight),
        the pool's watcher thread feeding them while the results wait."""
        if buffersize is not None and not isinstance(buffersize, int):
            raise TypeError("buffersize must be an integer or None")
        if buffersize is not None and buffersize < 1:
            raise ValueError("buffersize must be None or > 0")
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        end_time = None if timeout is None else timeout + time.monotonic()
        args = zip(*iterables)
        if buffersize is None:
            args = list(args)
        from .pool import _MapJob
        job = _MapJob(self, fn, args, chunksize, True, True, mpstyle=False,
                      ahead=buffersize).start()
        chunked = chunksize > 1
        del self

        def result_iterator():
            try:
                index = 0
                while True:
                    outcome = job.take(index, end_time)
                    if outcome is None:
                        return
                    index += 1
                    ok, value = outcome
                    if not ok:
                        raise value
                    if chunked:
                        yield from value
                    else:
                        yield value
            finally:
                job.cancel()

        return result_iterator()

    def shutdown(self, wait=True, *, cancel_futures=False):
        """As concurrent.futures': no more submissions; with cancel_futures
        the tasks not started are canceled; with wait, returns once every
        task has finished (and its callbacks have run) and the workers are
        gone, else that happens in the background."""
        with self._lock:
            first = not self._shutdown
            self._shutdown = True
        if cancel_futures and self._core.state == 0:
            self._core.cancel_queued()
        if first:
            if wait:
                self._close()
                return
            self._closer = threading.Thread(target=self._close,
                                            name="parc-executor-shutdown",
                                            daemon=True)
            self._closer.start()
        elif wait:
            closer = self._closer
            if closer is not None and closer is not threading.current_thread():
                closer.join()
            self._core.close()


    def _close(self):
        self._core.idle()
        self._watcher.close()
        self._core.close()

    def _at_exit(self):
        self.shutdown(wait=True)

    def __del__(self):
        if not getattr(self, "_shutdown", True):
            try:
                self._shutdown = True
                self._watcher.closing()
                self._core.close(True)
            except Exception:
                pass


class ProcessPoolExecutor(Executor):
    """``concurrent.futures.ProcessPoolExecutor``'s signature on parc
    (mp_context is accepted and ignored: workers are forked when the
    executor is made)."""

    def __init__(self, max_workers=None, mp_context=None, initializer=None,
                 initargs=(), *, max_tasks_per_child=None, timeout=None,
                 max_retries=0):
        super().__init__(max_workers, backend="processes",
                         initializer=initializer, initargs=initargs,
                         max_tasks_per_child=max_tasks_per_child,
                         timeout=timeout, max_retries=max_retries)


class ThreadPoolExecutor(Executor):
    """``concurrent.futures.ThreadPoolExecutor``'s signature on parc's
    thread backend (thread_name_prefix is accepted and ignored)."""

    def __init__(self, max_workers=None, thread_name_prefix="",
                 initializer=None, initargs=(), *, timeout=None):
        super().__init__(max_workers, backend="threads",
                         initializer=initializer, initargs=initargs,
                         timeout=timeout)
