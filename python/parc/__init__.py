"""parc for Python: the APIs of multiprocessing, concurrent.futures and
joblib on libparc, with pools that never hang (docs/python.md).

    import parc
    with parc.Pool() as pool:               # multiprocessing.Pool's API
        print(pool.map(f, range(100)))

Each name is loaded on first use, so `import parc` stays cheap.
"""
import importlib

from . import _core  # noqa: F401  (the extension: libparc)

__version__ = "0.1.0"

# name -> the module of the package that defines it
_WHERE = {
    # pools and futures (pool.py, futures.py, errors.py)
    "Pool": "pool", "ThreadPool": "pool", "AsyncResult": "pool",
    "MapResult": "pool",
    "Executor": "futures", "ProcessPoolExecutor": "futures",
    "ThreadPoolExecutor": "futures",
    "Future": "futures", "IMapIterator": "pool",
    "WorkerDied": "errors", "RemoteTraceback": "errors",
    "RemoteError": "errors", "InitializerError": "errors",
    "TimeoutError": "errors",
    # processes, queues, pipes and locks (process.py, queues.py,
    # connection.py, synchronize.py)
    "Process": "process", "current_process": "process",
    "parent_process": "process", "active_children": "process",
    "cpu_count": "process", "physical_cores": "process",
    "Queue": "queues", "SimpleQueue": "queues", "JoinableQueue": "queues",
    "Pipe": "connection", "Connection": "connection",
    "Lock": "synchronize", "RLock": "synchronize",
    "Semaphore": "synchronize", "BoundedSemaphore": "synchronize",
    "Event": "synchronize", "Barrier": "synchronize",
    "Condition": "synchronize", "LockOwnerDiedWarning": "synchronize",
    # reproducible random numbers (random.py)
    "rng": "random", "Rng": "random", "PhiloxBitGenerator": "random",
    "generator": "random",
}

__all__ = sorted(_WHERE)


def __getattr__(name):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'parc' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
