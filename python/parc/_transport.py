"""How a call travels to a process worker and how its failure comes back
(docs/python.md, "How functions and arguments travel").

A task is a small head (kind, fn_id), the pickled function and the
pickled arguments (protocol 5; parc/_pool.h): the function pickled by
reference (module and qualified name, standard pickle) when the workers can
find it that way, else by value with cloudpickle (lambdas, closures,
functions of ``__main__`` defined or redefined after the pool forked). Each pool pickles a function once per call
(once for good, for a module-level function, class or builtin), and a worker
unpickles each ``fn_id`` once (parc/_pool_worker.c). The thread backend
pickles nothing: its workers share this interpreter.

A worker sends a failure back as the pickle of ``(exception, formatted
traceback)``; ``failure()`` turns it, or libparc's code for a task that
could not finish, into the exception the caller sees.
"""
import io
import itertools
import _signal
import pickle
import sys
import traceback
import types
from concurrent.futures import CancelledError
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.pool import MaybeEncodingError

from . import _core
from .errors import (InitializerError, RemoteError, RemoteTraceback,
                     TimeoutError, WorkerDied)

PROTOCOL = 5
_ids = itertools.count(1)
_MISSING = object()
_CACHE_MAX = 512
WORKER = None  # in a process worker: (name, daemon, identity) for parc.process


class _AfterFork(Exception):
    """A __main__ function or class the workers do not have."""


class _RefPickler(pickle.Pickler):
    """Standard pickling, refusing references to ``__main__`` objects that
    did not exist (as such) when the pool forked."""

    def __init__(self, file, snapshot):
        super().__init__(file, PROTOCOL)
        self._snapshot = snapshot

    def reducer_override(self, obj):
        if (isinstance(obj, (types.FunctionType, type))
                and getattr(obj, "__module__", None) == "__main__"
                and not _resolves(self._snapshot, obj)):
            raise _AfterFork(obj)
        return NotImplemented


def _resolves(snapshot, obj):
    parts = getattr(obj, "__qualname__", "").split(".")
    if "<locals>" in parts or "<lambda>" in parts:
        return True  # standard pickling refuses it anyway
    found = snapshot.get(parts[0], _MISSING)
    for part in parts[1:]:
        found = getattr(found, part, _MISSING)
    return found is obj


def _stable(fn):
    """Whether a by-reference pickle of fn can be kept for later calls."""
    if isinstance(fn, (types.FunctionType, type)):
        return True
    if isinstance(fn, types.BuiltinFunctionType):
        owner = getattr(fn, "__self__", None)
        return owner is None or isinstance(owner, types.ModuleType)
    return False


class Codec:
    """The pickled functions of one pool. Made before the pool: for a
    process pool, ``main_vars`` is the dict _core.Pool fills with
    ``__main__``'s names as they are at the fork (None for threads)."""

    def __init__(self, backend):
        self.threads = backend == _core.THREADS
        self.main_vars = None if self.threads else {}
        self._snapshot = {} if self.threads else self.main_vars
        # id(fn) -> (fn, fn_id, blob); for threads (fn, 0, fn): no pickling
        self.cache = {}

    def blob(self, fn):
        """(fn_id, what a task carries for fn)."""
        hit = self.cache.get(id(fn))
        if hit is not None and hit[0] is fn:
            return hit[1], hit[2]
        if self.threads:
            fn_id, blob, keep = 0, fn, True
        else:
            blob, keep = self._pickle(fn)
            fn_id = next(_ids)
        if keep and _stable(fn):
            if len(self.cache) >= _CACHE_MAX:
                self.cache.clear()
            self.cache[id(fn)] = (fn, fn_id, blob)
        return fn_id, blob

    def _pickle(self, fn):
        if type(fn) is types.FunctionType and (
                fn.__module__ != "__main__" or _resolves(self._snapshot, fn)):
            try:  # a reference, as _RefPickler would write it, faster
                return pickle.dumps(fn, PROTOCOL), True
            except (pickle.PicklingError, AttributeError, TypeError):
                pass  # a lambda or a closure: as below
        buf = io.BytesIO()
        try:
            _RefPickler(buf, self._snapshot).dump(fn)
            return buf.getvalue(), True
        except _AfterFork:
            first = None
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            first = exc
        try:
            import cloudpickle
        except ImportError:
            raise pickle.PicklingError(
                f"cannot send {fn!r} to the workers: it is not reachable by "
                "name (a lambda, a closure, or defined in __main__ after the "
                "pool was created) and cloudpickle is not installed "
                "(Debian: python3-cloudpickle)") from first
        return cloudpickle.dumps(fn, PROTOCOL), False


# ---------------------------------------------------------------- worker side

def worker_started():
    """In a new process worker, right after PyOS_AfterFork_Child().

    current_process() names it as multiprocessing names a pool's workers
    (ForkPoolWorker-n, _identity (n,): n is the worker's slot, 1-based,
    which a replacement takes over). Ctrl-C is the caller's to handle (it
    cancels what is left), so workers ignore SIGINT; stdout and stderr write
    each line at once, since a worker leaves as os._exit does, flushing
    nothing."""
    global WORKER
    n = _core.worker_id() + 1
    WORKER = (f"ForkPoolWorker-{n}", True, (n,))
    process = sys.modules.get("parc.process")  # not imported: not paid for
    if process is not None:
        try:
            process._set_current(*WORKER)
        except Exception:  # parc.process is another part's: never fail here
            pass
    try:  # _signal's: signal.signal's enum wrapping costs 0.2 ms in a new fork
        _signal.signal(_signal.SIGINT, _signal.SIG_IGN)
    except (ValueError, OSError):
        pass
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name, None)
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and not getattr(stream, "line_buffering",
                                                   True):
            try:
                reconfigure(line_buffering=True)
            except Exception:
                pass


def _format(exc):
    return "".join(traceback.format_exception(type(exc), exc,
                                              exc.__traceback__))


def _describe(exc):
    try:
        text = str(exc)
    except Exception:
        text = "<unprintable>"
    return f"{type(exc).__module__}.{type(exc).__qualname__}: {text}"


def pack_error(exc, kind, value):
    """In a worker: the bytes that carry a task's failure back.

    ``value`` is the result when it is the result that could not be pickled
    (then ``exc`` is why)."""
    tb = _format(exc)
    if value is not None and kind & _core.K_MPSTYLE:
        exc = MaybeEncodingError(exc, value)
    try:
        data = pickle.dumps((exc, tb), PROTOCOL)
        pickle.loads(data)  # what the caller will do
        return data
    except Exception as why:
        if kind & _core.K_MPSTYLE:
            stand = MaybeEncodingError(why, exc)
        else:
            stand = RemoteError(f"{_describe(exc)} (it could not be sent "
                                f"back: {_describe(why)})")
        return pickle.dumps((stand, tb), PROTOCOL)


# ---------------------------------------------------------------- caller side

def failure(code, payload, pid, sig, exitcode, task_rc, kind):
    """The exception for a task that did not return a value."""
    if code == _core.ETASK:
        if (isinstance(payload, tuple) and len(payload) == 2
                and isinstance(payload[0], BaseException)):
            exc, tb = payload
            exc.__cause__ = RemoteTraceback(f'\n"""\n{tb}"""')
            return exc
        if isinstance(payload, BaseException):
            return payload  # what reading the exception raised here
        return RemoteError("the task failed, and so did sending its "
                           "exception back")
    if code == _core.EWORKER:
        return WorkerDied(pid, sig, None if sig else exitcode)
    if code == _core.ETIMEDOUT:
        where = f" (its worker, pid {pid}, was replaced)" if pid else ""
        return TimeoutError(f"the task ran past the pool's timeout{where}")
    if code == _core.ECANCELED:
        return CancelledError()
    if code == _core.EBROKEN:
        return BrokenProcessPool("no worker of the pool can be started")
    if code == _core.ENOMEM:
        return MemoryError("out of memory for the task's input or result")
    return _core.Error(code, "parc", f"libparc error {code}")


def wait_timeout():
    return TimeoutError("the wait timed out")


def initializer_failed(what, backend):
    err = InitializerError("the pool's initializer raised in a worker, so "
                           "the pool was not started")
    if isinstance(what, tuple) and len(what) == 2:
        exc, tb = what
        exc.__cause__ = RemoteTraceback(f'\n"""\n{tb}"""')
        err.__cause__ = exc
    elif isinstance(what, BaseException):
        err.__cause__ = what
    return err
