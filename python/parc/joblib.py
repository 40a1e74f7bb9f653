"""parc.joblib -- joblib's "parc" backend: scikit-learn's n_jobs on parc.

    import joblib
    import parc.joblib                          # registers the backend
    with joblib.parallel_backend("parc"):
        GridSearchCV(SVC(), grid, n_jobs=-1).fit(X, y)

Importing this module registers the backend under the name "parc"; the
options of `joblib.parallel_backend("parc", n_jobs=-1, **options)` are

    workers="processes"  forked worker processes (default), or "threads"
                         (parc.Pool's backend=, which joblib's
                         parallel_backend keeps for its own first argument;
                         ParcBackend(backend="threads") takes either name)
    timeout=None         seconds one batch may run in its worker; over it,
                         that worker is killed and replaced and the call
                         raises TimeoutError (parc.Pool's timeout=)
    max_retries=0        a batch whose worker died is run again on a new
                         worker up to this many times (parc.Pool's)
    maxtasksperchild=None, initializer=None, initargs=()   as parc.Pool's
    reuse=True           keep the workers for the next Parallel call, as
                         loky does; False: a pool per call
    keep_heap=True       a process worker keeps up to 256 MiB of freed heap
                         between tasks (glibc's trim threshold) rather than
                         faulting it in again for the next; False: glibc's
                         default; a number: that many bytes (at most 1 GiB)
    inner_max_num_threads  (joblib's own argument) BLAS/OpenMP threads in
                         each worker; default cpu_count() // n_jobs, as loky

Design (docs/python.md, "joblib and scikit-learn"):

- joblib hands the backend batches (joblib.parallel.BatchedCalls); each is
  one task of a parc.Pool, `apply_async` with joblib's completion callback,
  which dispatches the next batch. Batch sizes are joblib's AutoBatchingMixin.
- For processes a batch travels as cloudpickle bytes (functions defined in
  __main__ or interactively after the workers were forked still arrive, as
  under loky) to `_run_batch`, which the workers import by reference.
- One pool is shared by successive Parallel calls with the same options (a
  GridSearchCV makes one call per fit), so the workers are forked once per
  process; a call with other options while it is in use gets its own pool.
  `shutdown()` (or the interpreter's exit) ends the shared pool.
- Failures are parc's: a worker that dies fails the batch it held with
  parc.WorkerDied (pid, signal or exit code), joblib raises it and aborts
  the call (abort_everything kills the pool's workers; the next call gets
  new ones). Nothing waits on a dead process, so nothing hangs.
- Nested Parallel calls inside a task run as joblib runs them under loky:
  threads at the first level, sequentially below; the "parc" backend asked
  for explicitly inside a worker process runs sequentially, with a warning.
"""
import atexit
import gc
import os
import pickle
import threading
import warnings

import joblib
from joblib import parallel as _jparallel
from joblib._parallel_backends import (AutoBatchingMixin, FallbackToBackend,
                                       ParallelBackendBase, SequentialBackend)
from joblib.my_exceptions import WorkerInterrupt

try:
    from joblib.externals import cloudpickle
except ImportError:  # a joblib without its vendored copy (Debian keeps it)
    import cloudpickle

__all__ = ["ParcBackend", "register", "shutdown"]

NAME = "parc"
_KINDS = ("processes", "threads")
_POOL_OPTIONS = ("timeout", "max_retries", "maxtasksperchild")
KEEP_HEAP = 256 << 20  # keep_heap=True: freed heap a worker keeps, bytes

# In a worker process of a parc.joblib pool (set by _worker_init).
_in_worker = False


# ------------------------------------------------------------ worker side

def _worker_init(inner_threads, explicit, keep_heap, user_init, user_args):
    """Runs once in each worker process, before its first batch."""
    global _in_worker
    _in_worker = True
    if inner_threads is not None:
        _limit_threads(inner_threads, explicit)
    if keep_heap:
        _keep_heap(keep_heap)
    if user_init is not None:
        user_init(*user_args)


def _keep_heap(nbytes):
    """Tells glibc's malloc to keep up to nbytes of freed heap instead of
    handing it back to the kernel after each task, and to serve blocks up
    to 32 MiB from the heap rather than from fresh mmaps: a task that frees
    its working memory and the next that allocates it again (a libsvm fit's
    kernel cache, up to 200 MB) then reuse the pages instead of faulting
    them in again, zeroed (examples/gridsearch, "Memory between fits").
    A worker holds no more at its peak; it keeps it between tasks."""
    try:
        import ctypes
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc: nothing to tell
        return
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    mallopt(M_TRIM_THRESHOLD, ctypes.c_int(min(int(nbytes), 1 << 30)))
    mallopt(M_MMAP_THRESHOLD, ctypes.c_int(32 << 20))


def _limit_threads(n, explicit):
    """BLAS and OpenMP pools of a forked worker, as loky sizes them: n
    threads (cpu_count() // n_jobs, or inner_max_num_threads when given),
    except where the caller's environment already says (OMP_NUM_THREADS
    ...), which loky passes on. loky sets the environment of the
    interpreters it starts; a forked worker has its libraries loaded
    already, so they are told at run time (threadpoolctl), and the
    environment is set for what loads later."""
    names = ParallelBackendBase.MAX_NUM_THREADS_VARS
    preset = any(v in os.environ for v in names)
    for var in names:
        if explicit:
            os.environ[var] = str(n)
        else:
            os.environ.setdefault(var, str(n))
    if preset and not explicit:
        return  # the libraries read the caller's setting when they loaded
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    try:
        threadpool_limits(limits=n)
    except Exception:  # a library threadpoolctl cannot drive: leave it
        pass


def _run_batch(payload):
    """A process worker's task: one joblib batch, sent as pickled bytes."""
    batch = pickle.loads(payload)
    try:
        return batch()
    except KeyboardInterrupt as e:
        # As joblib's SafeFunction: a worker's Ctrl-C is not the caller's.
        raise WorkerInterrupt() from e


def _run_batch_in_thread(batch):
    try:
        return batch()
    except KeyboardInterrupt as e:
        raise WorkerInterrupt() from e


# ------------------------------------------------------------ shared pool

class _Pools:
    """The pool kept between Parallel calls (loky's reusable executor).

    One at a time: its key is (kind, n_jobs, options); `users` counts the
    Parallel calls holding it. A call whose key differs replaces it when
    it is idle and gets a private pool when it is not."""

    def __init__(self):
        self.lock = threading.Lock()
        self.pool = None
        self.key = None
        self.users = 0

    def acquire(self, key, make):
        """Returns (pool, shared)."""
        with self.lock:
            if self.pool is not None and self.key == key:
                self.users += 1
                return self.pool, True
            if self.users > 0:
                return make(), False
            old, self.pool, self.key = self.pool, None, None
        if old is not None:
            _close(old, kill=False)
        pool = make()
        with self.lock:
            if self.pool is None:
                self.pool, self.key, self.users = pool, key, 1
                return pool, True
        return pool, False

    def release(self, pool):
        with self.lock:
            if pool is self.pool:
                self.users = max(0, self.users - 1)
                return True
        return False

    def abort(self, pool):
        """A call using pool aborts: True if the caller may kill pool (then
        it is forgotten), False if another call still uses it (then this
        call's batches are left to finish, and their results dropped)."""
        with self.lock:
            if pool is not self.pool:
                return True
            if self.users > 1:
                self.users -= 1
                return False
            self.pool, self.key, self.users = None, None, 0
            return True

    def shutdown(self):
        with self.lock:
            pool, self.pool, self.key, self.users = self.pool, None, None, 0
        if pool is not None:
            _close(pool, kill=False)


_pools = _Pools()


def _forget_after_fork():
    # A forked child (a worker, or the program's own fork) does not own the
    # parent's pool: it leaves it alone and makes its own if it needs one.
    global _pools
    _pools = _Pools()


os.register_at_fork(after_in_child=_forget_after_fork)


def _close(pool, kill):
    """Ends a pool: kill=True terminates its workers where they are,
    False lets them finish what they hold."""
    try:
        if kill:
            pool.terminate()
        else:
            pool.close()
        pool.join()
    except Exception:  # an already broken pool has nothing left to end
        pass


def shutdown():
    """Ends the workers kept between Parallel calls (they are also ended
    when the interpreter exits). The next call starts new ones."""
    _pools.shutdown()


atexit.register(shutdown)


def _new_pool(kind, n_jobs, inner_threads, explicit_threads, options):
    import parc
    init = options.get("initializer")
    kwargs = {k: options[k] for k in _POOL_OPTIONS
              if options.get(k) is not None}
    if kind == "threads":
        if init is not None:
            kwargs["initializer"] = init
            kwargs["initargs"] = options.get("initargs", ())
        return parc.Pool(n_jobs, backend="threads", **kwargs)
    # What the workers inherit by fork should not carry garbage.
    gc.collect()
    return parc.Pool(n_jobs, initializer=_worker_init,
                     initargs=(inner_threads, explicit_threads,
                               options.get("keep_heap"), init,
                               tuple(options.get("initargs", ()))),
                     backend="processes", **kwargs)


# ------------------------------------------------------------ the backend

class ParcBackend(AutoBatchingMixin, ParallelBackendBase):
    """joblib's ParallelBackendBase on a parc.Pool (see the module's note)."""

    supports_timeout = True
    supports_inner_max_num_threads = True

    def __init__(self, nesting_level=None, inner_max_num_threads=None,
                 workers=None, backend=None, timeout=None, max_retries=None,
                 maxtasksperchild=None, initializer=None, initargs=(),
                 reuse=True, keep_heap=True, **kwargs):
        super().__init__(nesting_level=nesting_level,
                         inner_max_num_threads=inner_max_num_threads,
                         **kwargs)
        if workers is not None and backend is not None and workers != backend:
            raise ValueError("parc joblib backend: workers=%r and backend=%r"
                             % (workers, backend))
        backend = workers or backend or "processes"
        if backend not in _KINDS:
            raise ValueError("parc joblib backend: workers=%r, expected one "
                             "of %r" % (backend, _KINDS))
        if timeout is not None and not timeout > 0:
            raise ValueError("parc joblib backend: timeout must be > 0 "
                             "seconds, got %r" % (timeout,))
        if keep_heap is True:
            keep_heap = KEEP_HEAP
        self.kind = backend
        self.reuse = bool(reuse)
        self.options = dict(timeout=timeout, max_retries=max_retries,
                            maxtasksperchild=maxtasksperchild,
                            initializer=initializer, initargs=tuple(initargs),
                            keep_heap=int(keep_heap or 0))
        # joblib reads these to honour prefer= and require="sharedmem".
        self.uses_threads = backend == "threads"
        self.supports_sharedmem = backend == "threads"
        self._pool = None
        self._shared = False
        self.parallel = None

    # -- how many workers

    def effective_n_jobs(self, n_jobs):
        if n_jobs == 0:
            raise ValueError("n_jobs == 0 in Parallel has no meaning")
        if n_jobs is None:
            return 1
        if self.kind == "processes" and n_jobs != 1:
            why = None
            if _in_worker:
                why = ("parc-backed parallel loops cannot be nested in a "
                       "parc worker process, setting n_jobs=1")
            elif not (self.in_main_thread() or self.nesting_level == 0):
                why = ("parc-backed parallel loops cannot be nested below "
                       "threads, setting n_jobs=1")
            if why is not None:
                warnings.warn(why, stacklevel=3)
                return 1
        if n_jobs < 0:
            n_jobs = max(_jparallel.cpu_count() + 1 + n_jobs, 1)
        return n_jobs

    # -- one Parallel call: configure ... terminate

    def configure(self, n_jobs=1, parallel=None, prefer=None, require=None,
                  **backend_args):
        # backend_args (max_nbytes, mmap_mode, temp_folder, context) are
        # loky's and multiprocessing's memmapping: parc pickles arrays.
        n_jobs = self.effective_n_jobs(n_jobs)
        if n_jobs == 1:
            raise FallbackToBackend(
                SequentialBackend(nesting_level=self.nesting_level))
        self.parallel = parallel
        self._n_jobs = n_jobs
        if self._pool is None:
            self._pool, self._shared = self._get_pool(n_jobs)
        return n_jobs

    def _inner_threads(self, n_jobs):
        if self.kind == "threads":
            return None
        if self.inner_max_num_threads is not None:
            return self.inner_max_num_threads
        return max(_jparallel.cpu_count() // n_jobs, 1)

    def _get_pool(self, n_jobs):
        inner = self._inner_threads(n_jobs)

        def make():
            return _new_pool(self.kind, n_jobs, inner,
                             self.inner_max_num_threads is not None,
                             self.options)

        if not self.reuse:
            return make(), False
        key = (self.kind, n_jobs, inner,
               tuple(sorted((k, repr(v)) for k, v in self.options.items())))
        return _pools.acquire(key, make)

    def terminate(self):
        pool, self._pool = self._pool, None
        if pool is not None and not (self._shared and _pools.release(pool)):
            _close(pool, kill=False)
        self._shared = False
        self.reset_batch_stats()

    def abort_everything(self, ensure_ready=True):
        """A batch failed: the rest of the call's results will be dropped,
        so its workers are killed where they are rather than waited for."""
        pool, self._pool = self._pool, None
        if pool is not None and _pools.abort(pool):
            _close(pool, kill=True)
        self._shared = False
        if ensure_ready and self.parallel is not None:
            self.configure(n_jobs=self.parallel.n_jobs,
                           parallel=self.parallel,
                           **self.parallel._backend_args)

    # -- the work

    def apply_async(self, func, callback=None):
        if self.kind == "threads":
            return self._pool.apply_async(_run_batch_in_thread, (func,),
                                          callback=callback)
        payload = cloudpickle.dumps(func, protocol=pickle.HIGHEST_PROTOCOL)
        return self._pool.apply_async(_run_batch, (payload,),
                                      callback=callback)


def register(make_default=False):
    """Registers the backend as "parc" (done on import); make_default=True
    also makes it joblib's default, so n_jobs runs on parc without a
    `with joblib.parallel_backend("parc")`."""
    joblib.register_parallel_backend(NAME, ParcBackend,
                                     make_default=make_default)


register()
