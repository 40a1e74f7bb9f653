"""parc.Executor against concurrent.futures' executors on the same calls:
futures, map (timeout, chunksize, buffersize), shutdown, wait and
as_completed, asyncio."""
import asyncio
import concurrent.futures as cf
import itertools
import threading
import time

import pytest

import parc


def square(x):
    return x * x


def add(a, b=0):
    return a + b


def sleep_then(x):
    time.sleep(x)
    return x


def boom(x):
    raise KeyError(x)


@pytest.fixture(scope="module", params=["processes", "threads"])
def ex(request):
    e = parc.Executor(2, backend=request.param)
    yield e
    e.shutdown()


@pytest.fixture(scope="module")
def std():
    e = cf.ProcessPoolExecutor(2)
    yield e
    e.shutdown()


def wait_running(*fs):
    deadline = time.monotonic() + 10
    while not all(f.running() for f in fs) and time.monotonic() < deadline:
        time.sleep(0.005)


def test_it_is_a_concurrent_futures_executor(ex):
    assert isinstance(ex, cf.Executor)
    f = ex.submit(square, 3)
    assert isinstance(f, cf.Future)
    assert f.result(10) == 9 and f.done() and not f.cancelled()
    assert f.exception() is None
    assert issubclass(parc.ProcessPoolExecutor, cf.Executor)
    assert issubclass(parc.ThreadPoolExecutor, cf.Executor)


def test_submit_and_map_give_what_processpoolexecutor_gives(ex, std):
    for e in (ex, std):
        assert e.submit(add, 1, b=2).result(10) == 3
        assert list(e.map(square, range(10))) == [x * x for x in range(10)]
        assert list(e.map(add, range(5), range(5), chunksize=2)) == \
            [0, 2, 4, 6, 8]
        assert list(e.map(square, [])) == []


def test_an_exception_arrives_with_its_type_and_traceback(ex, std):
    for e in (ex, std):
        f = e.submit(boom, "k")
        with pytest.raises(KeyError):
            f.result(10)
        assert isinstance(f.exception(), KeyError)
    f = ex.submit(boom, "k")
    with pytest.raises(KeyError) as info:
        f.result(10)
    if ex._core.backend == parc._core.PROCESSES:
        assert isinstance(info.value.__cause__, parc.RemoteTraceback)
        assert "in boom" in str(info.value.__cause__)
        assert "raise KeyError(x)" in str(info.value.__cause__)
    else:
        assert info.value.__traceback__ is not None


def test_result_timeout_raises_timeouterror_and_the_future_goes_on(ex, std):
    for e in (ex, std):
        f = e.submit(sleep_then, 0.5)
        with pytest.raises(cf.TimeoutError):
            f.result(timeout=0.05)
        assert f.result(10) == 0.5


def test_map_timeout_counts_from_the_call(ex):
    it = ex.map(sleep_then, [0.01, 0.8, 0.01], timeout=0.4)
    assert next(it) == 0.01
    with pytest.raises(cf.TimeoutError):
        next(it)
    ex._core.idle(10)  # the overdue call still runs: let it end


def test_map_buffersize_submits_only_that_far_ahead(ex):
    pulled = []

    def source():
        for i in itertools.count():
            pulled.append(i)
            yield i
    it = ex.map(square, source(), buffersize=3)
    assert len(pulled) == 3  # submitted at once, no further
    assert [next(it) for _ in range(5)] == [0, 1, 4, 9, 16]
    assert len(pulled) <= 5 + 3
    with pytest.raises(ValueError):
        ex.map(square, [1], buffersize=0)
    with pytest.raises(TypeError):
        ex.map(square, [1], buffersize=1.5)


def test_map_with_buffersize_and_chunks(ex):
    out = list(ex.map(square, range(50), chunksize=4, buffersize=2))
    assert out == [x * x for x in range(50)]


def test_wait_and_as_completed(ex):
    fs = [ex.submit(sleep_then, d) for d in (0.3, 0.01, 0.2)]
    order = [f.result() for f in cf.as_completed(fs, timeout=10)]
    assert sorted(order) == [0.01, 0.2, 0.3] and order[0] == 0.01
    a, b = ex.submit(sleep_then, 0.01), ex.submit(sleep_then, 0.4)
    done, not_done = cf.wait([a, b], timeout=10,
                             return_when=cf.FIRST_COMPLETED)
    assert done == {a} and not_done == {b}
    done, not_done = cf.wait([a, b], timeout=10)
    assert done == {a, b} and not not_done
    c = ex.submit(boom, 1)
    done, _ = cf.wait([c, ex.submit(sleep_then, 0.5)], timeout=10,
                      return_when=cf.FIRST_EXCEPTION)
    assert done == {c}
    ex._core.idle(10)


def test_done_callbacks_run_once_the_task_finishes(ex):
    got, ev = [], threading.Event()
    f = ex.submit(sleep_then, 0.1)
    f.add_done_callback(lambda fut: (got.append(fut.result()), ev.set()))
    assert ev.wait(10) and got == [0.1]
    late = []
    f.add_done_callback(lambda fut: late.append(fut))  # already done: now
    assert late == [f]


def test_cancel_only_what_has_not_started(ex):
    blockers = [ex.submit(sleep_then, 0.5) for _ in range(2)]
    wait_running(*blockers)
    queued = ex.submit(square, 2)
    assert blockers[0].running() and blockers[1].running()
    assert not blockers[0].cancel() and not blockers[1].cancel()
    assert queued.cancel() and queued.cancelled() and queued.done()
    with pytest.raises(cf.CancelledError):
        queued.result()
    assert [b.result(10) for b in blockers] == [0.5, 0.5]
    done, _ = cf.wait([queued], timeout=1)
    assert done == {queued}


def test_asyncio_run_in_executor_and_wrap_future(ex):
    async def main():
        loop = asyncio.get_running_loop()
        one = await loop.run_in_executor(ex, square, 5)
        many = await asyncio.gather(
            *[loop.run_in_executor(ex, square, i) for i in range(20)])
        wrapped = await asyncio.wrap_future(ex.submit(add, 2, 3))
        with pytest.raises(KeyError):
            await loop.run_in_executor(ex, boom, 0)
        slow = asyncio.wrap_future(ex.submit(sleep_then, 0.5))
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(slow), 0.05)
        return one, many, wrapped
    one, many, wrapped = asyncio.run(main())
    ex._core.idle(10)
    assert one == 25 and many == [i * i for i in range(20)] and wrapped == 5


def test_shutdown_waits_and_refuses_new_work():
    for backend in ("processes", "threads"):
        e = parc.Executor(2, backend=backend)
        fs = [e.submit(sleep_then, 0.05) for _ in range(6)]
        e.shutdown(wait=True)
        assert all(f.done() and f.result() == 0.05 for f in fs)
        with pytest.raises(RuntimeError):
            e.submit(square, 1)


def test_shutdown_cancel_futures_cancels_the_queued_ones():
    e = parc.Executor(1)
    fs = [e.submit(sleep_then, 0.3) for _ in range(5)]
    wait_running(fs[0])
    e.shutdown(wait=True, cancel_futures=True)
    assert fs[0].result() == 0.3
    assert all(f.cancelled() for f in fs[1:])


def test_shutdown_without_waiting_finishes_in_the_background():
    e = parc.Executor(2)
    got = threading.Event()
    f = e.submit(sleep_then, 0.2)
    f.add_done_callback(lambda _: got.set())
    e.shutdown(wait=False)
    assert got.wait(10) and f.result() == 0.2


def test_context_manager_and_aliases():
    with parc.ProcessPoolExecutor(2) as e:
        assert e.submit(square, 4).result() == 16
        assert e._max_workers == 2
    with parc.ThreadPoolExecutor(3) as e:
        assert list(e.map(square, range(4))) == [0, 1, 4, 9]
    with pytest.raises(ValueError):
        parc.Executor(0)
    with pytest.raises(ValueError):
        parc.Executor(1, backend="gpu")


def test_many_futures_at_once():
    with parc.Executor(2) as e:
        fs = [e.submit(square, i) for i in range(2000)]
        assert sum(f.result() for f in fs) == sum(i * i for i in range(2000))
        assert sum(f.result() for f in cf.as_completed(
            [e.submit(square, i) for i in range(500)])) == \
            sum(i * i for i in range(500))
