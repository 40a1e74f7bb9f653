"""parc.Process: multiprocessing.Process on libparc's processes (a fork,
joined through a pidfd with a timeout), and the functions that go with it
(docs/python.md, "Queue, Pipe, Lock, Process").

    p = parc.Process(target=f, args=(q,))
    p.start(); p.join(timeout=10); print(p.exitcode)

As multiprocessing's, with its "fork" start method: the child is a copy of
the parent, runs target(*args, **kwargs) and exits with 0; an exception in
target prints its traceback and exits with 1; sys.exit(n) exits with n; a
child killed by a signal has exitcode -signal. The child never runs the
parent's atexit handlers. At the parent's exit, daemon children are
terminated and the others joined.
"""
import atexit
import functools
import itertools
import os
import signal
import sys
import threading

from . import _core

__all__ = ["Process", "current_process", "active_children",
           "parent_process", "cpu_count", "physical_cores"]


def cpu_count():
    """Logical CPUs of the machine, as multiprocessing.cpu_count()
    (os.cpu_count(); the process's affinity mask is not applied)."""
    n = os.cpu_count()
    if n is None:
        raise NotImplementedError("cannot determine number of cpus")
    return n


def physical_cores():
    """Physical cores this process may run on (its affinity mask applied):
    the worker count parc's pools use by default."""
    return _core.physical_cores()


def current_process():
    """The Process object of this process (MainProcess in the parent)."""
    return _current


def parent_process():
    """The parent's Process object in a child, None in the main process."""
    return _parent


def active_children():
    """The children started by this process that are still running."""
    _cleanup()
    return list(_children)


def _cleanup():
    for p in list(_children):
        if p._popen is not None and p._popen.poll() is not None:
            _children.discard(p)


_exitcode_to_name = {-s: f"-{s.name}" for s in signal.Signals}


class Process:
    """multiprocessing.Process: target, args, kwargs, name, daemon; start,
    run, join(timeout), is_alive, exitcode, pid, terminate, kill, close."""

    def __init__(self, group=None, target=None, name=None, args=(),
                 kwargs={}, *, daemon=None):
        assert group is None, "group argument must be None for now"
        count = next(_counter)
        self._identity = _current._identity + (count,)
        self._config = dict(_current._config)
        self._parent_pid = os.getpid()
        self._parent_name = _current.name
        self._popen = None
        self._closed = False
        self._target = target
        self._args = tuple(args)
        self._kwargs = dict(kwargs)
        self._name = name or type(self).__name__ + "-" + ":".join(
            str(i) for i in self._identity)
        if daemon is not None:
            self.daemon = daemon

    def _check_closed(self):
        if self._closed:
            raise ValueError("process object is closed")

    def run(self):
        """What the child runs; subclasses may override it."""
        if self._target:
            self._target(*self._args, **self._kwargs)

    def start(self):
        self._check_closed()
        assert self._popen is None, "cannot start a process twice"
        assert self._parent_pid == os.getpid(), \
            "can only start a process object created by current process"
        assert not _current._config.get("daemon"), \
            "daemonic processes are not allowed to have children"
        _cleanup()
        ends = _connections_in(self)
        _flush_std()
        self._popen = _core.start(functools.partial(_bootstrap, self, ends),
                                  bool(ends))
        del self._target, self._args, self._kwargs
        _children.add(self)

    def terminate(self):
        """SIGTERM."""
        self._check_closed()
        if self._popen is not None:
            self._popen.kill(signal.SIGTERM)

    def kill(self):
        """SIGKILL."""
        self._check_closed()
        if self._popen is not None:
            self._popen.kill(signal.SIGKILL)

    def join(self, timeout=None):
        """Waits for the child to end, at most timeout seconds."""
        self._check_closed()
        assert self._parent_pid == os.getpid(), "can only join a child process"
        assert self._popen is not None, "can only join a started process"
        if self._popen.join(timeout) is not None:
            _children.discard(self)

    def is_alive(self):
        self._check_closed()
        if self is _current:
            return True
        assert self._parent_pid == os.getpid(), "can only test a child process"
        if self._popen is None:
            return False
        if self._popen.poll() is None:
            return True
        _children.discard(self)
        return False

    def close(self):
        """Frees what the Process object holds; an error while it runs."""
        if self._popen is not None:
            if self._popen.poll() is None:
                raise ValueError("Cannot close a process while it is still "
                                 "running. You should first call join() or "
                                 "terminate().")
            self._popen.close()
            self._popen = None
            _children.discard(self)
        self._closed = True

    @property
    def name(self):
        return self._name

    @name.setter
    def name(self, name):
        assert isinstance(name, str), "name must be a string"
        self._name = name

    @property
    def daemon(self):
        return self._config.get("daemon", False)

    @daemon.setter
    def daemon(self, daemonic):
        assert self._popen is None, "process has already started"
        self._config["daemon"] = daemonic

    @property
    def exitcode(self):
        """None while it runs; its exit status, or -signal if a signal
        killed it."""
        self._check_closed()
        if self._popen is None:
            return None
        return self._popen.poll()

    @property
    def ident(self):
        self._check_closed()
        if self is _current:
            return os.getpid()
        return self._popen and self._popen.pid

    pid = ident

    @property
    def sentinel(self):
        """A file descriptor that becomes readable when the process ends
        (its pidfd), for select() or multiprocessing.connection.wait()."""
        self._check_closed()
        if self._popen is None:
            raise ValueError("process not started")
        return self._popen.sentinel

    def __repr__(self):
        exitcode = None
        if self is _current:
            status = "started"
        elif self._closed:
            status = "closed"
        elif self._parent_pid != os.getpid():
            status = "unknown"
        elif self._popen is None:
            status = "initial"
        else:
            exitcode = self._popen.poll()
            status = "started" if exitcode is None else "stopped"
        info = [type(self).__name__, "name=%r" % self._name]
        if self._popen is not None:
            info.append("pid=%s" % self._popen.pid)
        info.append("parent=%s" % self._parent_pid)
        info.append(status)
        if exitcode is not None:
            info.append("exitcode=%s" % _exitcode_to_name.get(exitcode,
                                                              exitcode))
        if self.daemon:
            info.append("daemon")
        return "<%s>" % " ".join(info)


class _MainProcess(Process):
    def __init__(self, name="MainProcess", identity=(), daemon=False):
        self._identity = identity
        self._config = {"daemon": daemon}
        self._parent_pid = None
        self._parent_name = None
        self._popen = None
        self._closed = False
        self._name = name

    def close(self):
        pass


class _ParentProcess(_MainProcess):
    def __init__(self, name, pid):
        super().__init__(name)
        self._pid = pid

    @property
    def ident(self):
        return self._pid

    pid = ident

    def is_alive(self):
        try:
            os.kill(self._pid, 0)
        except ProcessLookupError:
            return False
        return True


_current = _MainProcess()
_parent = None
_children = set()
_counter = itertools.count(1)


def _set_current(name, daemon=False, identity=None):
    """For processes parc forks itself (pool workers): what
    current_process() says in them. Call it first thing in the child."""
    global _current
    _current = _MainProcess(name, identity if identity is not None
                            else _current._identity, daemon)


def _after_fork_in_child():
    # A fork that is not a Process start (os.fork, a pool worker): the
    # parent's children are not this process's, and it is not the parent.
    global _children, _counter, _current, _parent
    parent = _current
    _children = set()
    _counter = itertools.count(1)
    _parent = _ParentProcess(parent.name, os.getppid())
    _current = _MainProcess(f"{parent.name}:fork-{os.getpid()}",
                            parent._identity, parent.daemon)


os.register_at_fork(after_in_child=_after_fork_in_child)


def _flush_std():
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (AttributeError, ValueError, OSError):
            pass


def _close_stdin():
    if sys.stdin is None:
        return
    try:
        sys.stdin.close()
    except (OSError, ValueError):
        pass
    try:
        fd = os.open(os.devnull, os.O_RDONLY)
        try:
            sys.stdin = open(fd, encoding="utf-8", closefd=False)
        except BaseException:
            os.close(fd)
            raise
    except (OSError, ValueError):
        pass


def _connections_in(proc):
    """The Connections a Process passes to its child (in args, kwargs, its
    attributes; inside lists, tuples, sets and dicts): the child binds them
    before start() returns, so the parent may close its copies at once."""
    connection = sys.modules.get("parc.connection")
    if connection is None:
        return []
    conn = connection.Connection
    found, seen = [], set()

    def walk(x, depth):
        if isinstance(x, conn):
            if not x.closed:
                found.append(x)
        elif depth < 4 and id(x) not in seen:
            if isinstance(x, (list, tuple, set, frozenset)):
                seen.add(id(x))
                for y in x:
                    walk(y, depth + 1)
            elif isinstance(x, dict):
                seen.add(id(x))
                for y in x.values():
                    walk(y, depth + 1)
            elif isinstance(x, functools.partial):
                walk((x.args, x.keywords), depth + 1)

    walk((proc._args, proc._kwargs, proc._target), 0)
    walk([v for k, v in vars(proc).items()
          if k not in ("_args", "_kwargs", "_target")], 0)
    return found


def _bootstrap(proc, ends):
    """The child's life: returns its exit code (_chan_proc.c exits)."""
    global _current, _parent, _children, _counter
    exitcode = 1
    try:
        _children = set()
        _counter = itertools.count(1)
        _current = proc
        _parent = _ParentProcess(proc._parent_name, proc._parent_pid)
        for c in ends:
            c._bind()
        _core._child_ready()
        _close_stdin()
        try:
            proc.run()
            exitcode = 0
        finally:
            _exit_function()
    except SystemExit as e:
        if e.code is None:
            exitcode = 0
        elif isinstance(e.code, int):
            exitcode = e.code
        else:
            sys.stderr.write(str(e.code) + "\n")
            exitcode = 1
    except BaseException:
        exitcode = 1
        import traceback
        sys.stderr.write("Process %s:\n" % proc.name)
        traceback.print_exc()
    finally:
        try:
            threading._shutdown()
        except Exception:
            pass
        _flush_std()
    return exitcode


def _exit_function():
    """At exit (of the main process, or of a child after run): what this
    process put in queues is sent, daemon children are terminated, the
    others joined -- multiprocessing's rule."""
    queues = sys.modules.get("parc.queues")
    if queues is not None:
        queues._join_feeders()
    for p in active_children():
        if p.daemon:
            p.terminate()
    for p in active_children():
        p.join()


atexit.register(_exit_function)
