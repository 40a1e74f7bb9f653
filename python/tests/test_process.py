"""parc.Process against multiprocessing.Process (its fork start method) on
the same calls: exit codes, join with a timeout, kill and terminate, the
child's view of itself, daemon children at exit, and nothing left behind
after 100 processes."""
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import parc

mp = multiprocessing.get_context("fork")
BOTH = [pytest.param(mp, id="multiprocessing"), pytest.param(parc, id="parc")]


# every test ends with no child of parc's or multiprocessing's left
pytestmark = pytest.mark.usefixtures("no_child_left")


def quiet():
    pass


def raises():
    raise ValueError("boom")


def exits(code):
    sys.exit(code)


def kills_itself(sig):
    os.kill(os.getpid(), sig)


def sleeps(seconds):
    time.sleep(seconds)


def os_exit(code):
    os._exit(code)


def reports_itself(q):
    from parc import process as parc_process
    mod = parc_process if isinstance(q, parc.Queue) else multiprocessing
    p = mod.current_process()
    q.put((p.name, p.pid == os.getpid(), p.daemon, p.is_alive(),
           mod.parent_process().pid))


def run(mod, target, *args, timeout=10):
    p = mod.Process(target=target, args=args)
    p.start()
    p.join(timeout)
    assert not p.is_alive(), "the child did not end"
    return p.exitcode


@pytest.mark.parametrize(
    "target,args,want",
    [(quiet, (), 0), (raises, (), 1), (exits, (3,), 3), (exits, (None,), 0),
     (exits, ("a message",), 1), (os_exit, (5,), 5),
     (kills_itself, (signal.SIGKILL,), -signal.SIGKILL),
     (kills_itself, (signal.SIGTERM,), -signal.SIGTERM)],
    ids=["returns", "raises", "sys.exit(3)", "sys.exit()", "sys.exit(str)",
         "os._exit(5)", "SIGKILL", "SIGTERM"])
def test_exit_codes_are_multiprocessing_s(target, args, want):
    assert run(mp, target, *args) == want
    assert run(parc, target, *args) == want


@pytest.mark.parametrize("mod", BOTH)
def test_an_exception_prints_its_traceback_as_multiprocessing(mod, capfd):
    p = mod.Process(target=raises, name="Boomer")
    p.start()
    p.join(10)
    err = capfd.readouterr().err
    assert "Process Boomer:" in err
    assert "Traceback" in err and "ValueError: boom" in err


@pytest.mark.parametrize("mod", BOTH)
def test_join_with_a_timeout_returns_while_the_child_runs(mod):
    p = mod.Process(target=sleeps, args=(30,))
    assert p.exitcode is None and p.pid is None
    p.start()
    t = time.monotonic()
    p.join(0.2)
    waited = time.monotonic() - t
    assert 0.15 < waited < 5
    assert p.is_alive() and p.exitcode is None
    assert p in mod.active_children()
    p.terminate()
    p.join(10)
    assert p.exitcode == -signal.SIGTERM
    assert p not in mod.active_children()


@pytest.mark.parametrize("mod", BOTH)
def test_kill_sends_sigkill(mod):
    p = mod.Process(target=sleeps, args=(30,))
    p.start()
    p.kill()
    p.join(10)
    assert p.exitcode == -signal.SIGKILL
    assert "exitcode=-SIGKILL" in repr(p)


@pytest.mark.parametrize("mod", BOTH)
def test_misuse_raises_as_multiprocessing(mod):
    p = mod.Process(target=sleeps, args=(30,))
    with pytest.raises(AssertionError):
        p.join()
    p.start()
    with pytest.raises(AssertionError):
        p.start()
    with pytest.raises(ValueError):
        p.close()             # still running
    with pytest.raises(AssertionError):
        p.daemon = True       # already started
    p.kill()
    p.join(10)
    p.close()
    with pytest.raises(ValueError):
        p.exitcode
    assert "closed" in repr(p)


@pytest.mark.parametrize("mod", BOTH)
def test_names_and_identity_follow_multiprocessing(mod):
    a = mod.Process(target=quiet)
    b = mod.Process(target=quiet, name="custom", daemon=True)
    assert a.name.startswith(type(a).__name__ + "-") and b.name == "custom"
    assert not a.daemon and b.daemon
    assert mod.current_process().name == "MainProcess"
    assert "initial" in repr(a) and "daemon" in repr(b)


def test_the_child_sees_itself_as_multiprocessing_s_does():
    got = []
    for mod, q in ((mp, mp.Queue()), (parc, parc.Queue())):
        p = mod.Process(target=reports_itself, args=(q,), name="Kid")
        p.start()
        got.append(q.get(timeout=10))
        p.join(10)
    assert got[0] == got[1] == ("Kid", True, False, True, os.getpid())


class Doubler(parc.Process):
    def __init__(self, q, x):
        super().__init__()
        self.q, self.x = q, x

    def run(self):
        self.q.put(2 * self.x)


def test_a_subclass_runs_its_run_method():
    q = parc.Queue()
    p = Doubler(q, 21)
    p.start()
    assert q.get(timeout=10) == 42
    p.join(10)
    assert p.exitcode == 0


def test_join_is_interrupted_by_a_signal():
    p = parc.Process(target=sleeps, args=(30,))
    p.start()
    old = signal.signal(signal.SIGALRM, lambda *a: 1 / 0)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    t = time.monotonic()
    try:
        with pytest.raises(ZeroDivisionError):
            p.join()
    finally:
        signal.signal(signal.SIGALRM, old)
    assert time.monotonic() - t < 5
    p.kill()
    p.join(10)


def test_daemonic_processes_may_not_have_children():
    q = parc.Queue()

    def parent():
        try:
            parc.Process(target=quiet).start()
            q.put("started")
        except AssertionError as e:
            q.put(str(e))

    p = parc.Process(target=parent, daemon=True)
    p.start()
    assert "daemonic processes are not allowed" in q.get(timeout=10)
    p.join(10)


def test_cpu_counts():
    assert parc.cpu_count() == multiprocessing.cpu_count()
    assert 1 <= parc.physical_cores() <= parc.cpu_count()


def test_sentinel_is_readable_once_the_child_ends():
    import select
    p = parc.Process(target=sleeps, args=(0.2,))
    p.start()
    r, _, _ = select.select([p.sentinel], [], [], 10)
    assert r == [p.sentinel]
    p.join(10)
    assert p.exitcode == 0


SCRIPT = textwrap.dedent("""
    import atexit, os, sys, time
    import parc

    def work(tag):
        time.sleep(0.3)
        print(tag, "done", flush=True)

    def forever():
        while True:
            time.sleep(0.05)

    if __name__ == "__main__":
        atexit.register(lambda: print("atexit in", os.getpid(), flush=True))
        print("buffered before fork", end=" ")
        parc.Process(target=work, args=("worker",)).start()
        d = parc.Process(target=forever, daemon=True)
        d.start()
        with open(sys.argv[1], "w") as f:
            f.write(str(d.pid))
        print("main", os.getpid(), "leaving", flush=True)
""")


def test_at_exit_daemons_are_terminated_and_the_others_joined(tmp_path):
    script = tmp_path / "s.py"
    script.write_text(SCRIPT)
    pidfile = tmp_path / "pid"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, str(script), str(pidfile)],
                         capture_output=True, text=True, timeout=60,
                         env=env).stdout
    lines = out.splitlines()
    # stdout was flushed before the fork: printed once, not by the child
    assert out.count("buffered before fork") == 1
    # the non-daemon child was joined before the parent exited
    assert "worker done" in lines
    # the parent's atexit handler ran once, in the parent
    main = re.findall(r"main (\d+) leaving", out)
    assert [l for l in lines if l.startswith("atexit in")] == \
        [f"atexit in {main[0]}"]
    daemon = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{daemon}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{daemon}"), "the daemon child lives on"


def children_of(pid):
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(d))
    return kids


def echo_once(q, conn):
    conn.send(q.get(timeout=10))


def test_100_processes_leave_no_process_fd_or_shared_memory():
    import gc
    gc.collect()
    fds = len(os.listdir("/proc/self/fd"))
    shm = set(os.listdir("/dev/shm"))
    maps = open("/proc/self/maps").read().count("memfd:parc")
    shm_maps = open("/proc/self/maps").read().count("/dev/shm/")
    kids = set(children_of(os.getpid()))   # (other tests' pools may live on)
    for i in range(100):
        q = parc.Queue()
        a, b = parc.Pipe()
        p = parc.Process(target=echo_once, args=(q, b))
        p.start()
        b.close()
        q.put(i)
        assert a.recv() == i
        p.join(10)
        assert p.exitcode == 0
        a.close()
    del q, a, b, p
    gc.collect()
    assert parc.active_children() == []
    assert set(children_of(os.getpid())) - kids == set()
    assert len(os.listdir("/proc/self/fd")) == fds
    # (other programs may use /dev/shm meanwhile: only names that Python or
    # a POSIX semaphore would make count)
    new = set(os.listdir("/dev/shm")) - shm
    assert not [n for n in new if n.startswith(("sem.", "psm_", "parc", "mp-"))]
    assert open("/proc/self/maps").read().count("/dev/shm/") == shm_maps
    assert open("/proc/self/maps").read().count("memfd:parc") == maps
