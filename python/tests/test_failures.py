"""A worker that dies fails only its own task (WorkerDied), timeouts,
retries, exceptions that cannot travel, Ctrl-C, and nothing left behind."""
import ctypes
import faulthandler
import multiprocessing.pool
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import parc


def die(how):
    if how == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif how == "segfault":
        faulthandler.disable()  # pytest's would print the worker's stack
        ctypes.string_at(0)
    elif how == "exit":
        os._exit(7)
    return how


def die_at(x):
    if x == 5:
        os.kill(os.getpid(), signal.SIGKILL)
    return x * 10


def sleep_then(x):
    time.sleep(x)
    return x


def die_once(path):
    """Kills its worker on the first attempt only (the file remembers)."""
    try:
        os.open(path, os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return "second attempt"
    os.kill(os.getpid(), signal.SIGKILL)


class Unpicklable(Exception):
    def __init__(self, a, b):  # pickle calls cls(*args): args == (a,)
        super().__init__(a)


def raise_unpicklable(_):
    raise Unpicklable("one", "two")


def return_lock(_):
    return threading.Lock()


def nested_raise(x):
    def inner():
        raise RuntimeError(f"inner {x}")
    inner()


@pytest.fixture(scope="module")
def pool():
    p = parc.Pool(2)
    yield p
    p.terminate()


DEATHS = [("sigkill", signal.SIGKILL, None), ("segfault", signal.SIGSEGV, None),
          ("exit", 0, 7)]


@pytest.mark.parametrize("how,sig,code", DEATHS)
def test_a_dead_worker_fails_only_its_task(pool, how, sig, code):
    with pytest.raises(parc.WorkerDied) as info:
        pool.apply(die, (how,))
    e = info.value
    assert e.signal == sig and e.exitcode == code and e.pid > 0
    assert e.pid != os.getpid()
    assert pool.map(abs, range(-3, 3)) == [3, 2, 1, 0, 1, 2]  # still works


@pytest.mark.parametrize("how,sig,code", DEATHS)
def test_executor_future_of_a_dead_worker(how, sig, code):
    with parc.Executor(2) as ex:
        bad = ex.submit(die, how)
        good = [ex.submit(abs, -i) for i in range(20)]
        with pytest.raises(parc.WorkerDied) as info:
            bad.result(10)
        assert info.value.signal == sig and info.value.exitcode == code
        assert [f.result(10) for f in good] == list(range(20))
        assert ex.submit(abs, -9).result(10) == 9


def test_results_around_a_death_are_not_lost(pool):
    it = pool.imap(die_at, range(10))
    got = []
    while True:
        try:
            got.append(next(it))
        except parc.WorkerDied:
            got.append("died")
        except StopIteration:
            break
    assert got == [0, 10, 20, 30, 40, "died", 60, 70, 80, 90]
    r = pool.map_async(die_at, range(10), 1)
    with pytest.raises(parc.WorkerDied):
        r.get(10)


def test_workerdied_is_what_concurrent_futures_code_catches():
    from concurrent.futures.process import BrokenProcessPool
    assert issubclass(parc.WorkerDied, BrokenProcessPool)
    e = parc.WorkerDied(123, signal.SIGKILL, None)
    assert "SIGKILL" in str(e) and "123" in str(e)
    import pickle
    e2 = pickle.loads(pickle.dumps(e))
    assert (e2.pid, e2.signal, e2.exitcode) == (123, signal.SIGKILL, None)


def test_timeout_fails_the_overdue_task_only():
    with parc.Pool(2, timeout=0.5) as p:
        t = time.monotonic()
        r = [p.apply_async(sleep_then, (d,)) for d in (0.05, 30, 0.05)]
        assert r[0].get(10) == 0.05 and r[2].get(10) == 0.05
        with pytest.raises(parc.TimeoutError) as info:
            r[1].get(10)
        assert isinstance(info.value, TimeoutError)  # the built-in one too
        assert time.monotonic() - t < 10
        assert p.map(sleep_then, [0.01] * 4) == [0.01] * 4  # replaced


def test_timeout_in_an_executor_and_with_threads():
    for backend in ("processes", "threads"):
        with parc.Executor(2, backend=backend, timeout=0.3) as ex:
            f = ex.submit(sleep_then, 1.5 if backend == "threads" else 30)
            with pytest.raises(TimeoutError):
                f.result(10)
            assert ex.submit(sleep_then, 0.01).result(10) == 0.01


def test_max_retries_reruns_a_task_whose_worker_died(tmp_path):
    with parc.Pool(2, max_retries=1) as p:
        assert p.apply(die_once, (str(tmp_path / "m"),)) == "second attempt"
    with parc.Pool(2) as p:
        with pytest.raises(parc.WorkerDied):
            p.apply(die_once, (str(tmp_path / "n"),))


def test_an_exception_carries_the_workers_traceback(pool):
    with pytest.raises(RuntimeError, match="inner 4") as info:
        pool.apply(nested_raise, (4,))
    cause = info.value.__cause__
    assert isinstance(cause, parc.RemoteTraceback)
    text = str(cause)
    assert "in nested_raise" in text and "in inner" in text
    assert "Traceback (most recent call last)" in text


def test_what_cannot_travel_back_is_described(pool):
    with pytest.raises(multiprocessing.pool.MaybeEncodingError):
        pool.apply(raise_unpicklable, (0,))
    with pytest.raises(multiprocessing.pool.MaybeEncodingError):
        pool.apply(return_lock, (0,))
    with parc.Executor(1) as ex:
        with pytest.raises(parc.errors.RemoteError, match="Unpicklable"):
            ex.submit(raise_unpicklable, 0).result(10)
        with pytest.raises(TypeError, match="pickle"):
            ex.submit(return_lock, 0).result(10)


def test_a_failing_initializer_is_raised_by_the_constructor():
    def bad():
        raise KeyError("no config")
    for backend in ("processes", "threads"):
        with pytest.raises(parc.errors.InitializerError) as info:
            parc.Pool(2, initializer=bad, backend=backend)
        assert isinstance(info.value.__cause__, KeyError)


def test_ctrl_c_cancels_the_map_and_the_pool_goes_on(pool):
    def interrupt():
        os.kill(os.getpid(), signal.SIGINT)
    for call in (lambda: pool.map(sleep_then, [20] * 4, 1),
                 lambda: pool.apply(sleep_then, (20,))):
        threading.Timer(0.3, interrupt).start()
        t = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            call()
        assert time.monotonic() - t < 5
        assert pool.map(sleep_then, [0.01] * 3) == [0.01] * 3


def _parc_processes(pids):
    """Those of pids that are a pool's zygote or workers."""
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().startswith("parc-"):
                    out.append(pid)
        except OSError:
            pass
    return out


def _parent_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def test_no_process_fd_or_shm_left_after_100_pools(descendants):
    def fds():
        return len(os.listdir("/proc/self/fd"))

    def shm():  # other programs on this machine use /dev/shm too
        me = str(os.getpid())
        return {n for n in os.listdir("/dev/shm") if "parc" in n or me in n}

    def ours():  # other tests may leave pools running, which may replace
        # a worker meanwhile: only processes outside those count
        return [p for p in _parc_processes(descendants())
                if p in before[0] or _parent_of(p) not in before[0]]
    before = (_parc_processes(descendants()), fds(), shm())
    for i in range(100):
        p = parc.Pool(2, backend="processes" if i % 4 else "threads")
        assert p.map(abs, [-1, -2, -3], 1) == [1, 2, 3]
        if i % 2:
            p.terminate()
        else:
            p.close()
            p.join()
    with parc.Executor(2) as ex:
        ex.submit(abs, 1).result()
    deadline = time.monotonic() + 10
    while ours() != before[0] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (ours(), fds(), shm()) == before


def test_pools_alive_at_exit_are_ended(subprocess_env):
    script = textwrap.dedent("""
        import os, sys, time, parc
        def slow(x):
            time.sleep(x)
            return x
        def below(root):
            kids = {}
            for n in filter(str.isdigit, os.listdir("/proc")):
                try:
                    stat = open(f"/proc/{n}/stat").read()
                except OSError:
                    continue
                ppid = int(stat[stat.rindex(")") + 2:].split()[1])
                kids.setdefault(ppid, []).append(int(n))
            out, todo = [], [root]
            while todo:
                for k in kids.get(todo.pop(), []):
                    out.append(k)
                    todo.append(k)
            return out
        p = parc.Pool(2)
        p.map_async(slow, [30, 30])
        t = parc.ThreadPool(2)
        t.apply_async(slow, (0.1,))
        ex = parc.Executor(2)
        f = ex.submit(slow, 0.2)
        f.add_done_callback(lambda f: print("callback", f.result(), flush=True))
        time.sleep(0.1)
        print("pids", *below(os.getpid()), flush=True)
    """)
    t = time.monotonic()
    out = subprocess.run([sys.executable, "-c", script], env=subprocess_env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "callback 0.2" in out.stdout  # the executor finished its work
    assert time.monotonic() - t < 20  # the pool's 30 s tasks were killed
    line = next(x for x in out.stdout.splitlines() if x.startswith("pids"))
    pids = [int(x) for x in line.split()[1:]]
    assert len(pids) >= 4  # two zygotes and their workers
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(
            os.path.exists(f"/proc/{pid}") for pid in pids):
        time.sleep(0.05)
    assert not [pid for pid in pids if os.path.exists(f"/proc/{pid}")]
