"""parc.joblib: joblib's "parc" backend against loky, joblib's default, on
the same calls; worker deaths and timeouts; scikit-learn's GridSearchCV.

Scenarios that could hang if the backend were wrong (a killed worker, a
timeout) run in a child interpreter with a deadline, so that a hang is a
failure and not a stuck suite."""
import os
import subprocess
import sys
import textwrap
import time
import traceback
import warnings

import pytest

joblib = pytest.importorskip("joblib")
from joblib import Parallel, delayed, parallel_backend  # noqa: E402

import parc  # noqa: E402
import parc.joblib  # noqa: E402

DEADLINE = 120  # seconds a child scenario may take before it counts as hung


@pytest.fixture(autouse=True, scope="module")
def no_workers_left():
    """The workers kept between calls, parc's and loky's, end with this
    module, so that later tests counting processes do not see them."""
    yield
    parc.joblib.shutdown()
    from joblib.externals.loky import get_reusable_executor
    get_reusable_executor().shutdown(wait=True)


def backends():
    return ["parc", "loky"]


def run_on(backend, calls, n_jobs=2, **parallel_kw):
    with parallel_backend(backend, n_jobs=n_jobs):
        return Parallel(**parallel_kw)(calls)


def child_env():
    """This environment, with the parc this test imports first on the
    path (PYTHONPATH may be relative)."""
    env = dict(os.environ)
    here = os.path.dirname(os.path.dirname(os.path.abspath(parc.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(
        [here] + [os.path.abspath(p) for p in
                  env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def run_child(code, deadline=DEADLINE):
    """Runs code in a fresh interpreter; returns its stdout (fails on a
    non-zero exit or past the deadline)."""
    try:
        p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                           capture_output=True, text=True, timeout=deadline,
                           env=child_env())
    except subprocess.TimeoutExpired:
        pytest.fail("hung: no answer in %d s" % deadline)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


# ------------------------------------------------------------ tasks

def slow_square(i):
    # The early ones take longest, so they finish out of order.
    time.sleep(0.002 * (20 - i) if i < 20 else 0)
    return i * i


def pid_of(_):
    return os.getpid()


class CustomError(Exception):
    pass


def _boom(i):
    if i == 5:
        raise CustomError("task %d failed" % i)
    return i


def slow_or_boom(i):
    if i == 0:
        raise ValueError("first")
    time.sleep(30)
    return i


def nested_backend(_):
    backend, n_jobs = joblib.parallel.get_active_backend()
    inner = Parallel(n_jobs=2)(delayed(abs)(-k) for k in range(4))
    return type(backend).__name__, backend.nesting_level, n_jobs, inner


def explicit_parc_inside(_):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with parallel_backend("parc", n_jobs=2):
            out = Parallel()(delayed(pid_of)(k) for k in range(4))
    return os.getpid(), out, [str(x.message) for x in w]


def blas_threads(_):
    from threadpoolctl import threadpool_info
    return sorted({p["num_threads"] for p in threadpool_info()
                   if p["user_api"] == "blas"})


# ------------------------------------------------------------ against loky

def test_registered_on_import():
    assert "parc" in joblib.parallel.BACKENDS
    with parallel_backend("parc") as (backend, n_jobs):
        assert isinstance(backend, parc.joblib.ParcBackend)
        assert n_jobs == -1


@pytest.mark.parametrize("n_jobs", [2, 3, -1])
def test_results_equal_lokys_and_come_in_order(n_jobs):
    calls = [delayed(slow_square)(i) for i in range(40)]
    ours = run_on("parc", calls, n_jobs=n_jobs)
    assert ours == run_on("loky", calls, n_jobs=n_jobs)
    assert ours == [i * i for i in range(40)]


def test_many_small_tasks_are_batched_and_in_order():
    n = 20000
    with parallel_backend("parc", n_jobs=2):
        p = Parallel()
        out = p(delayed(abs)(-i) for i in range(n))
        assert p.n_dispatched_batches < n  # joblib's auto batching ran
    assert out == list(range(n))


def test_lambdas_closures_and_generators_as_loky_takes_them():
    k = 7
    calls = [delayed(lambda x: x + k)(i) for i in range(10)]
    assert run_on("parc", calls) == run_on("loky", calls) == \
        [i + 7 for i in range(10)]


def test_function_defined_after_the_workers_started_still_runs():
    with parallel_backend("parc", n_jobs=2):
        Parallel()(delayed(abs)(i) for i in range(4))  # workers up

        def later(x):  # not in the forked workers' memory
            return -x
        assert Parallel()(delayed(later)(i) for i in range(4)) == \
            [0, -1, -2, -3]


@pytest.mark.parametrize("backend", backends())
def test_an_error_keeps_its_type_message_and_traceback(backend):
    with pytest.raises(CustomError, match="task 5 failed") as info:
        run_on(backend, [delayed(_boom)(i) for i in range(10)])
    text = "".join(traceback.format_exception(info.value))
    assert "_boom" in text  # the worker's frame is in the report


def test_an_error_stops_the_call_without_waiting_for_the_rest():
    t0 = time.monotonic()
    with pytest.raises(ValueError, match="first"):
        run_on("parc", [delayed(slow_or_boom)(i) for i in range(6)])
    # The other tasks sleep 30 s: they were killed, not waited for.
    assert time.monotonic() - t0 < 20
    # And the next call finds working workers.
    assert run_on("parc", [delayed(abs)(-i) for i in range(6)]) == \
        list(range(6))


def test_n_jobs_as_loky_counts_them():
    for n in (1, 2, 3, -1, -2, None):
        with parallel_backend("parc"):
            ours = joblib.effective_n_jobs(n)
        with parallel_backend("loky"):
            assert ours == joblib.effective_n_jobs(n), n
    with pytest.raises(ValueError):
        with parallel_backend("parc"):
            Parallel(n_jobs=0)(delayed(abs)(1) for _ in range(2))


def test_one_job_runs_in_the_caller_as_under_loky():
    assert set(run_on("parc", [delayed(pid_of)(i) for i in range(4)],
                      n_jobs=1)) == {os.getpid()}


def test_workers_are_other_processes_kept_between_calls():
    with parallel_backend("parc", n_jobs=2):
        first = set(Parallel()(delayed(pid_of)(i) for i in range(20)))
        second = set(Parallel()(delayed(pid_of)(i) for i in range(20)))
    assert os.getpid() not in first
    assert second <= first  # the same workers served both calls


def test_reuse_false_gives_each_call_its_own_workers():
    with parallel_backend("parc", n_jobs=2, reuse=False):
        first = set(Parallel()(delayed(pid_of)(i) for i in range(10)))
        second = set(Parallel()(delayed(pid_of)(i) for i in range(10)))
    assert not first & second


def test_thread_workers_share_the_callers_memory():
    seen = []

    def note(i):
        seen.append(i)
        return os.getpid()

    with parallel_backend("parc", n_jobs=2, workers="threads"):
        pids = Parallel()(delayed(note)(i) for i in range(10))
        shared = Parallel(require="sharedmem")(
            delayed(note)(i) for i in range(10, 12))
    assert set(pids) == {os.getpid()} and sorted(seen) == list(range(12))
    assert len(shared) == 2


def test_nested_calls_run_as_under_loky():
    ours = run_on("parc", [delayed(nested_backend)(i) for i in range(2)])
    theirs = run_on("loky", [delayed(nested_backend)(i) for i in range(2)])
    assert ours == theirs
    assert ours[0][0] == "ThreadingBackend" and ours[0][3] == [0, 1, 2, 3]


def test_parc_asked_for_inside_a_worker_runs_sequentially():
    for parent, pids, msgs in run_on(
            "parc", [delayed(explicit_parc_inside)(i) for i in range(2)]):
        assert set(pids) == {parent}  # no pool forked inside the worker
        assert any("cannot be nested" in m for m in msgs)


def test_worker_blas_threads_limited_as_loky_limits_them():
    pytest.importorskip("threadpoolctl")
    pytest.importorskip("numpy")
    ours = run_on("parc", [delayed(blas_threads)(i) for i in range(2)])
    theirs = run_on("loky", [delayed(blas_threads)(i) for i in range(2)])
    assert ours == theirs


HEAP_KEPT = """
    import ctypes, sys
    from joblib import Parallel, delayed, parallel_backend
    import parc.joblib

    def freed_heap_kept(_):
        # MiB of free heap after 200 blocks of 1 MiB were allocated and
        # freed (glibc's mallinfo2). The list is made first: a growing
        # list's array comes from malloc, and one landing between the
        # blocks would pin the heap's top, which glibc trims only from
        # the end.
        libc = ctypes.CDLL(None)
        libc.malloc.restype = ctypes.c_void_p
        libc.malloc.argtypes = [ctypes.c_size_t]
        libc.free.argtypes = [ctypes.c_void_p]

        class Mallinfo2(ctypes.Structure):
            _fields_ = [(n, ctypes.c_size_t) for n in (
                "arena ordblks smblks hblks hblkhd usmblks fsmblks "
                "uordblks fordblks keepcost").split()]
        libc.mallinfo2.restype = Mallinfo2
        blocks = [None] * 200
        for i in range(200):
            blocks[i] = libc.malloc(1 << 20)
        for b in reversed(blocks):
            libc.free(b)
        return libc.mallinfo2().fordblks >> 20

    with parallel_backend("parc", n_jobs=2, keep_heap=%s):
        print(*Parallel()(delayed(freed_heap_kept)(i) for i in range(2)))
"""


def test_process_workers_keep_freed_heap_unless_told_not_to():
    # In a fresh interpreter: a worker inherits its parent's heap, and the
    # free heap that earlier tests left in this one would count.
    import ctypes
    if not hasattr(ctypes.CDLL(None), "mallinfo2"):
        pytest.skip("not glibc 2.33 or later")
    kept = [int(x) for x in run_child(HEAP_KEPT % "True").split()]
    given_back = [int(x) for x in run_child(HEAP_KEPT % "False").split()]
    assert min(kept) >= 150, kept  # 200 MiB freed, under the 256 MiB kept
    assert max(given_back) < 100, given_back  # glibc trims it (<= 64 MiB)


def test_bad_options_are_refused():
    with pytest.raises(ValueError):
        parallel_backend("parc", workers="fibres")
    with pytest.raises(ValueError):
        parallel_backend("parc", timeout=-1)


# ------------------------------------------------------------ failures

KILLED = """
    import os, signal, sys, time, ctypes
    import joblib, parc, parc.joblib
    from joblib import Parallel, delayed

    def task(i):
        if i == 3:
            {how}
        time.sleep(0.05)
        return i

    with joblib.parallel_backend("parc", n_jobs=2):
        try:
            Parallel()(delayed(task)(i) for i in range(8))
            print("no error")
        except parc.WorkerDied as e:
            print("WorkerDied:", e)
        print(Parallel()(delayed(abs)(-i) for i in range(4)))
"""


@pytest.mark.parametrize("how,says", [
    ("os.kill(os.getpid(), signal.SIGKILL)", "SIGKILL"),
    ("ctypes.string_at(0)", "SIGSEGV"),
    ("os._exit(3)", "3"),
])
def test_a_worker_that_dies_raises_worker_died_and_no_hang(how, says):
    out = run_child(KILLED.format(how=how))
    assert "WorkerDied:" in out and says in out, out
    assert "[0, 1, 2, 3]" in out, out  # the backend works afterwards


def test_a_dead_worker_retried_when_asked():
    out = run_child("""
        import os, signal, tempfile
        import joblib, parc.joblib
        from joblib import Parallel, delayed
        mark = tempfile.mktemp()

        def task(i):
            if i == 2 and not os.path.exists(mark):
                open(mark, "w").close()
                os.kill(os.getpid(), signal.SIGKILL)
            return i

        with joblib.parallel_backend("parc", n_jobs=2, max_retries=1):
            print(Parallel()(delayed(task)(i) for i in range(6)))
        os.unlink(mark)
    """)
    assert "[0, 1, 2, 3, 4, 5]" in out, out


def test_a_batch_over_the_backends_timeout_raises_timeout_error():
    out = run_child("""
        import time
        import joblib, parc.joblib
        from joblib import Parallel, delayed
        with joblib.parallel_backend("parc", n_jobs=2, timeout=1):
            t0 = time.monotonic()
            try:
                Parallel()(delayed(time.sleep)(s) for s in (0, 60, 0))
            except TimeoutError as e:
                print("TimeoutError after %.0f s" % (time.monotonic() - t0))
            print(Parallel()(delayed(abs)(-i) for i in range(3)))
    """)
    assert "TimeoutError after" in out, out
    assert float(out.split("after ")[1].split()[0]) < 30, out
    assert "[0, 1, 2]" in out, out


@pytest.mark.parametrize("backend", backends())
def test_parallels_own_timeout_raises_as_under_loky(backend):
    out = run_child("""
        import multiprocessing, time
        import joblib, parc.joblib
        from joblib import Parallel, delayed
        with joblib.parallel_backend(%r, n_jobs=2):
            t0 = time.monotonic()
            try:
                Parallel(timeout=1)(delayed(time.sleep)(s) for s in (0, 60))
            except multiprocessing.TimeoutError:
                print("timed out after %%.0f s" %% (time.monotonic() - t0))
    """ % backend)
    assert "timed out after" in out, out
    assert float(out.split("after ")[1].split()[0]) < 30, out


def test_a_forked_program_gets_its_own_workers():
    out = run_child("""
        import os
        import joblib, parc.joblib
        from joblib import Parallel, delayed
        with joblib.parallel_backend("parc", n_jobs=2):
            print(Parallel()(delayed(abs)(-i) for i in range(4)))
            pid = os.fork()
            if pid == 0:
                ok = Parallel()(delayed(abs)(-i) for i in range(4))
                os._exit(0 if ok == [0, 1, 2, 3] else 1)
            _, status = os.waitpid(pid, 0)
            print("child", os.waitstatus_to_exitcode(status))
            print(Parallel()(delayed(abs)(-i) for i in range(4)))
    """)
    assert out.split("\n")[:3] == ["[0, 1, 2, 3]", "child 0",
                                   "[0, 1, 2, 3]"], out


def test_no_worker_left_behind():
    out = run_child("""
        import os, time
        import joblib, parc.joblib
        from joblib import Parallel, delayed
        with joblib.parallel_backend("parc", n_jobs=2):
            pids = set(Parallel()(delayed(os.getpid)() for _ in range(8)))
        parc.joblib.shutdown()
        time.sleep(0.2)
        alive = [p for p in pids if os.path.exists("/proc/%d" % p)
                 and open("/proc/%d/stat" % p).read().split()[2] != "Z"]
        print("alive", alive)
    """)
    assert "alive []" in out, out


# ------------------------------------------------------------ scikit-learn

def colours(n, noise=0.1, seed=2021):
    """The data of examples/python/gridsearch.py."""
    import numpy as np
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(n, 4)) / 255.0
    red = X[:, 0] - X[:, 2] + noise * rng.standard_normal(n) > 0
    return X, np.where(red, "red", "blue")


def grid_search(backend, X, y):
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.svm import SVC
    gs = GridSearchCV(SVC(gamma="scale"),
                      {"C": [0.001, 0.025, 2.5, 5, 10],
                       "kernel": ["rbf", "poly"]},
                      cv=KFold(5), n_jobs=-1)
    with parallel_backend(backend):
        gs.fit(X, y)
    return gs


def test_gridsearchcv_scores_equal_lokys():
    pytest.importorskip("sklearn")
    X, y = colours(600)
    ours, theirs = grid_search("parc", X, y), grid_search("loky", X, y)
    r, s = ours.cv_results_, theirs.cv_results_
    assert [p for p in r["params"]] == [p for p in s["params"]]
    keys = ["split%d_test_score" % k for k in range(5)] + [
        "mean_test_score", "std_test_score", "rank_test_score"]
    for key in keys:
        assert list(r[key]) == list(s[key]), key
    assert ours.best_params_ == theirs.best_params_
    # and the search did run on parc's workers
    assert isinstance(joblib.parallel.BACKENDS["parc"](),
                      parc.joblib.ParcBackend)
