"""The exceptions of parc's pools and executors (docs/python.md, "Failures,
timeouts, retries").

Each is also the exception that code written for multiprocessing or
concurrent.futures already catches:

- ``WorkerDied``: a worker process died (signal, ``os._exit``, the OOM
  killer) while running the task. Only that task fails; the worker is
  replaced and the pool keeps working. A ``BrokenProcessPool`` too, which is
  what concurrent.futures raises (for the whole pool) in that case.
- ``TimeoutError``: a task ran past the pool's ``timeout=`` (its worker was
  replaced), or a wait such as ``get(timeout)`` ended first. Both
  ``multiprocessing.TimeoutError`` and the built-in ``TimeoutError`` (which
  is ``concurrent.futures.TimeoutError``).
- ``RemoteTraceback``: the ``__cause__`` of an exception raised in a process
  worker; its text is the worker's formatted traceback.
"""
import builtins
import multiprocessing
import signal as _signal
from concurrent.futures import BrokenExecutor
from concurrent.futures.process import BrokenProcessPool

__all__ = ["WorkerDied", "TimeoutError", "RemoteTraceback", "RemoteError",
           "InitializerError"]


class TimeoutError(multiprocessing.TimeoutError, builtins.TimeoutError):
    """A task overran the pool's timeout=, or a wait's timeout passed."""


class WorkerDied(BrokenProcessPool):
    """The worker process running the task died.

    ``pid`` is the worker's process id, ``signal`` the signal that killed it
    (0 if it exited), ``exitcode`` its exit status when it exited (else
    ``None``)."""

    def __init__(self, pid=0, signal=0, exitcode=None, message=None):
        self.pid = pid
        self.signal = signal
        self.exitcode = exitcode
        if message is None:
            if signal:
                try:
                    how = "killed by " + _signal.Signals(signal).name
                except ValueError:
                    how = f"killed by signal {signal}"
            else:
                how = f"exited with status {exitcode}"
            message = (f"the worker running the task (pid {pid}) died: {how};"
                       " it was replaced and the pool keeps working")
        super().__init__(message)

    def __reduce__(self):
        return (type(self), (self.pid, self.signal, self.exitcode,
                             self.args[0] if self.args else None))


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker process (the
    ``__cause__`` of the exception that the caller receives)."""

    def __init__(self, tb):
        super().__init__(tb)
        self.tb = tb

    def __str__(self):
        return self.tb


class RemoteError(Exception):
    """Stands for an exception raised in a worker that could not be sent
    back (it cannot be pickled, or not unpickled here): its type and text."""


class InitializerError(BrokenExecutor):
    """The pool's ``initializer`` raised in a worker, so the pool was not
    started; ``__cause__`` is what it raised."""
