"""The watcher: one thread per pool, started on first need, that finishes
the tasks nobody is waiting for -- those with callbacks (apply_async's,
add_done_callback, asyncio), those concurrent.futures.wait / as_completed
watch, and the chunks of async maps it keeps feeding.

A caller that waits for a task (result(), get(), next()) never goes
through this thread: it waits in C in its own thread. The watcher waits in
``Pool.watch_wait`` (libparc's ``parc_wait_any``, without the GIL) until
one of its tasks finishes or ``watch`` wakes it (``parc_pool_wake``) to
look at a new one; with nothing to watch it sleeps on a Condition.
"""
import logging
import os
import threading
import weakref

LOGGER = logging.getLogger("parc")


class Watcher:
    def __init__(self, name):
        self._core = None  # bind() gives it, once the pool is made
        self._name = name
        self._lock = threading.Lock()
        self._nonempty = threading.Condition(self._lock)
        self._watched = {}  # task -> [callback(task), ...]
        self._thread = None
        self._closing = False
        self._waiting = False  # in watch_wait: a new task must wake it

    def bind(self, core):
        self._core = core

    def watch(self, task, callback):
        """Calls callback(task) in the watcher thread once task finishes."""
        with self._lock:
            self._watched.setdefault(task, []).append(callback)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._nonempty.notify()
            waiting = self._waiting
        if waiting:
            self._core.wake()

    def _call(self, callback, task):
        try:
            callback(task)
        except BaseException:
            LOGGER.exception("exception calling callback for %r", task)

    def _run(self):
        core = self._core
        while True:
            with self._lock:
                while not self._watched:
                    if self._closing:
                        self._thread = None
                        return
                    self._nonempty.wait()
                tasks = list(self._watched)
                seen = core.wakes
                self._waiting = True
            try:
                done = core.watch_wait(tasks, seen)
            finally:
                self._waiting = False
            for task in done:
                with self._lock:
                    callbacks = self._watched.pop(task, ())
                for callback in callbacks:
                    self._call(callback, task)

    def close(self):
        """Once every watched task is finished or will be (the pool is being
        closed): lets the thread finish their callbacks, then end."""
        with self._lock:
            self._closing = True
            thread = self._thread
            self._nonempty.notify()
        self._core.wake()
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def closing(self):
        """Marks the watcher closing without waiting for it (terminate)."""
        with self._lock:
            self._closing = True
            self._nonempty.notify()
        self._core.wake()


# ---------------------------------------------------------------- exit

_live = weakref.WeakSet()


def track(obj):
    """obj._at_exit() is called at interpreter exit if obj is still alive:
    a Pool is terminated (as multiprocessing's are), an Executor waits for
    what was submitted (as concurrent.futures' do)."""
    _live.add(obj)


def _forget_in_child():
    # A forked child (os.fork, a multiprocessing worker, a parc worker) has
    # copies of the parent's pools, which are not its to close.
    _live.clear()


os.register_at_fork(after_in_child=_forget_in_child)


def _at_exit():
    for obj in list(_live):
        try:
            obj._at_exit()
        except BaseException:
            LOGGER.exception("parc: closing %r at exit", obj)


try:  # before threads are joined and modules torn down, as concurrent.futures
    threading._register_atexit(_at_exit)
except (AttributeError, RuntimeError):
    import atexit
    atexit.register(_at_exit)
