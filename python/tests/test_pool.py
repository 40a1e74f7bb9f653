"""parc.Pool against multiprocessing.Pool on the same calls: results,
order, exception types, callbacks, life cycle."""
import multiprocessing
import multiprocessing.pool
import os
import pickle
import threading
import time

import pytest

import parc


def square(x):
    return x * x


def add(a, b):
    return a + b


def fail_on_three(x):
    if x == 3:
        raise ValueError(f"three: {x}")
    return x


def sleep_then(x):
    time.sleep(x)
    return x


def kw(a, b=0, *, c=0):
    return (a, b, c)


def worker_pid(_):
    return os.getpid()


_state = {}


def remember(v):
    _state["v"] = v


def recall(_):
    return _state.get("v")


@pytest.fixture(scope="module")
def pools():
    ctx = multiprocessing.get_context("fork")
    mp = ctx.Pool(2)
    pc = parc.Pool(2)
    yield {"mp": mp, "parc": pc}
    mp.terminate()
    pc.terminate()
    mp.join()
    pc.join()


both = pytest.mark.parametrize("which", ["mp", "parc"])

CALLS = [
    ("map", (square, range(20))),
    ("map", (square, range(20), 1)),
    ("map", (square, range(20), 7)),
    ("map", (square, [])),
    ("map", (square, "generator")),
    ("starmap", (add, [(1, 2), (3, 4), (5, 6)])),
    ("starmap", (add, [(i, i) for i in range(9)], 4)),
    ("apply", (kw, (1,), {"b": 2, "c": 3})),
    ("apply", (square, (5,))),
]


@pytest.mark.parametrize("name,args", CALLS)
def test_same_results_as_multiprocessing(pools, name, args):
    def run(which):
        a = tuple((x for x in range(5)) if a == "generator" else a
                  for a in args)
        return getattr(pools[which], name)(*a)
    assert run("parc") == run("mp")


@pytest.mark.parametrize("chunksize", [1, 3])
def test_imap_in_order_and_unordered_complete(pools, chunksize):
    for which in ("mp", "parc"):
        p = pools[which]
        assert list(p.imap(square, range(15), chunksize)) == \
            [x * x for x in range(15)]
        assert sorted(p.imap_unordered(square, range(15), chunksize)) == \
            sorted(x * x for x in range(15))


@both
def test_an_exception_keeps_its_type(pools, which):
    p = pools[which]
    with pytest.raises(ValueError, match="three"):
        p.map(fail_on_three, range(6))
    with pytest.raises(ValueError, match="three"):
        p.apply(fail_on_three, (3,))
    with pytest.raises(ValueError):
        p.map_async(fail_on_three, range(6)).get(10)
    with pytest.raises(ZeroDivisionError):
        p.apply_async(divmod, (1, 0)).get(10)


@both
def test_imap_raises_at_the_item_and_goes_on(pools, which):
    it = pools[which].imap(fail_on_three, range(6))
    got = []
    for _ in range(6):
        try:
            got.append(next(it))
        except ValueError:
            got.append("E")
    assert got == [0, 1, 2, "E", 4, 5]
    with pytest.raises(StopIteration):
        next(it)


@both
def test_callbacks_run_with_the_result_or_the_error(pools, which):
    p = pools[which]
    seen, done = [], threading.Event()
    r = p.apply_async(square, (4,), callback=seen.append)
    assert r.get(10) == 16
    assert seen == [16] and r.ready() and r.successful()
    errs = []
    r = p.apply_async(fail_on_three, (3,), error_callback=errs.append)
    r.wait(10)
    assert r.ready() and not r.successful()
    assert isinstance(errs[0], ValueError)
    m = p.map_async(square, range(5), callback=lambda v: (seen.append(v),
                                                          done.set()))
    assert m.get(10) == [0, 1, 4, 9, 16]
    assert done.wait(10) and seen[-1] == [0, 1, 4, 9, 16]
    errs.clear()
    m = p.starmap_async(add, [(1, 1), (1, "x")], error_callback=errs.append)
    with pytest.raises(TypeError):
        m.get(10)
    assert isinstance(errs[0], TypeError)


@both
def test_callbacks_run_without_anyone_waiting(pools, which):
    got = threading.Event()
    pools[which].apply_async(square, (3,), callback=lambda v: got.set())
    assert got.wait(10)
    got2 = threading.Event()
    pools[which].map_async(square, range(30), 2, callback=lambda v: got2.set())
    assert got2.wait(10)


@both
def test_get_and_next_time_out_as_multiprocessing(pools, which):
    p = pools[which]
    r = p.apply_async(sleep_then, (0.5,))
    with pytest.raises(multiprocessing.TimeoutError):
        r.get(0.05)
    with pytest.raises(ValueError):
        r.successful()  # not ready
    assert r.get(10) == 0.5
    it = p.imap(sleep_then, [0.5])
    with pytest.raises(multiprocessing.TimeoutError):
        it.next(timeout=0.05)
    assert it.next(timeout=10) == 0.5


@both
def test_bad_arguments_raise_as_multiprocessing(pools, which):
    p = pools[which]
    with pytest.raises(ValueError):
        list(p.imap(square, range(3), 0))
    with pytest.raises(TypeError):
        p.map(square, 5)


def test_pool_arguments_are_checked_as_multiprocessing():
    for cls in (multiprocessing.Pool, parc.Pool):
        with pytest.raises(ValueError):
            cls(0)
        with pytest.raises(TypeError):
            cls(1, initializer=5)
        with pytest.raises(ValueError):
            cls(1, maxtasksperchild=0)


def test_life_cycle_as_multiprocessing():
    for cls in (multiprocessing.get_context("fork").Pool, parc.Pool):
        p = cls(2)
        with pytest.raises(ValueError):
            p.join()  # still running
        r = p.map_async(sleep_then, [0.1, 0.1, 0.1])
        p.close()
        with pytest.raises(ValueError):
            p.apply(square, (1,))
        p.join()  # waits for what was given
        assert r.ready() and r.get(0) == [0.1, 0.1, 0.1]
        p.terminate()  # after join: harmless
    with parc.Pool(2) as p:
        assert p.map(square, [3]) == [9]
    with pytest.raises(ValueError):
        p.map(square, [3])  # __exit__ terminated it


def test_terminate_stops_running_tasks_at_once():
    p = parc.Pool(2)
    r = p.map_async(sleep_then, [30, 30])
    time.sleep(0.1)
    t = time.monotonic()
    p.terminate()
    p.join()
    assert time.monotonic() - t < 5
    with pytest.raises(Exception):
        r.get(5)


def test_a_pool_cannot_be_pickled():
    with parc.Pool(1) as p:
        with pytest.raises(NotImplementedError):
            pickle.dumps(p)


def test_initializer_runs_in_every_worker():
    with parc.Pool(2, initializer=remember, initargs=("hello",)) as p:
        assert p.map(recall, range(8), 1) == ["hello"] * 8


def test_maxtasksperchild_replaces_workers():
    with parc.Pool(2, maxtasksperchild=2) as p:
        pids = p.map(worker_pid, range(12), 1)
    assert len(set(pids)) >= 5  # 12 tasks, 2 each


def test_processes_sets_the_worker_count():
    with parc.Pool(3) as p:
        assert p._processes == 3
        assert len(set(p.map(sleep_then, [0.2] * 3, 1))) == 1
    assert "pool_size=3" in repr(p)


def test_threadpool_matches_multiprocessing_threadpool():
    lock = threading.Lock()  # unpicklable: threads pass objects as they are
    def use(x):
        with lock:
            return x + 1
    mp = multiprocessing.pool.ThreadPool(2)
    with parc.ThreadPool(2) as tp:
        assert tp.map(use, range(10)) == mp.map(use, range(10))
        assert sorted(tp.imap_unordered(use, range(10))) == list(range(1, 11))
        assert tp.apply(use, (1,)) == 2
        with pytest.raises(ValueError):
            tp.map(fail_on_three, range(5))
        e = tp.apply_async(fail_on_three, (3,))
        with pytest.raises(ValueError) as info:
            e.get(10)
        assert info.value.__cause__ is None  # the very exception object
    mp.terminate()


def test_threadpool_initializer_and_thread_identity():
    with parc.ThreadPool(3, initializer=remember, initargs=(7,)) as tp:
        assert tp.map(recall, range(6)) == [7] * 6
        names = set(tp.map(lambda _: threading.get_ident(), range(30), 1))
        assert threading.get_ident() not in names


def touch(path):
    with open(path, "w") as f:
        f.write("ran")


def test_a_dropped_async_result_still_runs(tmp_path):
    with parc.Pool(2) as p:
        p.apply_async(touch, (str(tmp_path / "a"),))  # result dropped
        p.map_async(touch, [str(tmp_path / "b")])
        p.close()
        p.join()
    assert (tmp_path / "a").read_text() == "ran"
    assert (tmp_path / "b").read_text() == "ran"


def test_map_on_a_long_iterable_in_auto_chunks():
    with parc.Pool(2) as p:
        assert p.map(square, range(10000)) == [x * x for x in range(10000)]
        assert sum(p.imap_unordered(square, range(3000), 50)) == \
            sum(x * x for x in range(3000))
