"""How functions and arguments travel: by reference, cloudpickle for the
rest, a function unpickled once per worker and call, protocol 5."""
import functools
import os
import pickle
import subprocess
import sys
import textwrap
import threading

import pytest

import parc
from parc import _transport


def square(x):
    return x * x


class Scaler:
    def __init__(self, k):
        self.k = k

    def scale(self, x):
        return self.k * x

    @staticmethod
    def double(x):
        return 2 * x

    @classmethod
    def name(cls, _):
        return cls.__name__


class CountsUnpickling:
    """A callable whose every unpickling in a worker is logged to a file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (_revive, (self.path,))

    def __call__(self, x):
        return x + 1


def _revive(path):
    with open(path, "a") as f:
        f.write(f"{os.getpid()}\n")
    return CountsUnpickling(path)


class KnowsItsProtocol:
    def __reduce_ex__(self, protocol):
        return (int, (protocol,))


def protocol_of(obj):
    return obj


@pytest.fixture(scope="module")
def pool():
    p = parc.Pool(2)
    yield p
    p.terminate()


def test_lambdas_closures_partials_and_methods_travel(pool):
    k = 3
    def closure(x):
        return k * x
    cases = [
        (lambda x: x - 1, [-1, 0, 1]),
        (closure, [0, 3, 6]),
        (functools.partial(pow, 2), [1, 2, 4]),
        (functools.partial(lambda a, b: a * b, 5), [0, 5, 10]),
        (Scaler(4).scale, [0, 4, 8]),
        (Scaler.double, [0, 2, 4]),
        (Scaler.name, ["Scaler"] * 3),
        (abs, [0, 1, 2]),
        (str, ["0", "1", "2"]),
    ]
    for fn, want in cases:
        assert pool.map(fn, range(3)) == want, fn
        assert pool.apply(fn, (1,)) == want[1], fn
    with parc.Executor(1) as ex:
        assert ex.submit(lambda: k + 1).result() == 4


def test_by_reference_when_the_workers_can_find_it():
    codec = _transport.Codec(parc._core.PROCESSES)
    fid, blob = codec.blob(square)
    assert b"cloudpickle" not in blob and b"square" in blob
    assert codec.blob(square) == (fid, blob)  # kept for later calls
    lid, lblob = codec.blob(lambda x: x)
    assert b"cloudpickle" in lblob
    assert codec.blob(functools.partial(square))[0] != \
        codec.blob(functools.partial(square))[0]  # a partial: per call


def test_a_function_is_unpickled_once_per_worker_and_call(pool, tmp_path):
    log = tmp_path / "unpickled"
    fn = CountsUnpickling(str(log))
    assert pool.map(fn, range(200), 1) == list(range(1, 201))
    assert 1 <= len(log.read_text().split()) <= 2  # 2 workers
    assert pool.map(fn, range(100), 10) == list(range(1, 101))
    assert 2 <= len(log.read_text().split()) <= 4  # a new call: again


def test_arguments_and_results_use_protocol_5(pool):
    assert pool.apply(protocol_of, (KnowsItsProtocol(),)) == 5
    assert pool.map(protocol_of, [KnowsItsProtocol()]) == [5]


SIMPLE = [None, True, False, 0, 255, 256, 65535, 65536, -1, 2**31 - 1,
          2**31, -2**31 - 1, 2**40, -2**47, 2**63 - 1, -2**63, 2**63, -2**64,
          10**40, 0.0, -0.0, 1.5, -2.5e-300, float("inf"), "", "abc",
          "é" * 200, "\ud800", b"", b"x" * 255, b"x" * 256, (), (1,),
          (1, "a"), (1, 2.0, b"c"), (1, 2, 3, 4), ((1,), None),
          ((((((((((1,),),),),),),),),),), [], [1, (2, "b")],
          list(range(300)), [[1]], {"k": 1}, {1, 2}, bytearray(b"b"), 3j,
          type(True), True.__class__(1)]


def _same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(map(_same, a, b))
    return a == b or (a != a and b != b)


def test_simple_objects_travel_as_standard_pickles():
    # _core.dumps writes the simplest objects itself (parc/_pool_codec.c):
    # pickle reads its bytes, it reads pickle's, and the rest is pickle's.
    for v in SIMPLE + [float("nan")]:
        mine = parc._core.dumps(v)
        assert _same(pickle.loads(mine), v), v
        assert _same(parc._core.loads(mine), v), v
        for protocol in (2, 5):
            assert _same(parc._core.loads(pickle.dumps(v, protocol)), v), v
    assert parc._core.dumps(5) == b"\x80\x05K\x05."  # written here
    shared = [1]
    back = parc._core.loads(parc._core.dumps([shared, shared]))
    assert back[0] is back[1]  # a list inside: pickle's, which keeps sharing
    with pytest.raises(pickle.UnpicklingError):
        parc._core.loads(b"\x80\x05K")  # cut short: pickle's error


def test_simple_objects_through_a_pool(pool):
    items = [v for v in SIMPLE if not isinstance(v, (set, dict, bytearray))]
    assert all(map(_same, pool.map(protocol_of, items, 1), items))
    assert all(map(_same, pool.map(protocol_of, items), items))
    with parc.Executor(1) as ex:
        assert all(_same(ex.submit(protocol_of, v).result(), v)
                   for v in items)


def test_big_arguments_and_results(pool):
    blob = os.urandom(3 << 20)
    assert pool.apply(bytes, (blob,)) == blob
    out = pool.map(len, [blob] * 4, 1)
    assert out == [len(blob)] * 4


def test_a_thread_pool_pickles_nothing():
    lock = threading.Lock()
    with parc.ThreadPool(2) as tp:
        assert tp.apply(lambda l: l, (lock,)) is lock
        assert tp.map(id, [lock]) == [id(lock)]
    with parc.Executor(2, backend="threads") as ex:
        assert ex.submit(lambda: lock).result() is lock


def test_what_cannot_be_pickled_is_said_at_once(pool):
    lock = threading.Lock()
    with pytest.raises(TypeError):
        pool.apply(square, (lock,))
    with pytest.raises(TypeError):
        pool.map(square, [1, lock])
    assert pool.map(square, [3]) == [9]


def test_main_functions_made_before_the_pool_go_by_reference(subprocess_env):
    # __main__'s names are taken at the fork (Pool's main_vars): what
    # existed then travels by reference, in Pool and Executor alike.
    script = textwrap.dedent("""
        import parc
        def before(x):
            return x + 1
        pool = parc.Pool(1)
        ex = parc.Executor(1)
        print([b"cloudpickle" in owner._codec.blob(before)[1]
               for owner in (pool, ex)], pool.apply(before, (1,)),
              ex.submit(before, 2).result(),
              ["pool" in owner._codec.main_vars for owner in (pool, ex)])
        pool.terminate()
        ex.shutdown()
    """)
    out = subprocess.run([sys.executable, "-c", script], env=subprocess_env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "[False, False] 2 3 [False, True]\n"


def test_main_functions_defined_after_the_pool(subprocess_env):
    script = textwrap.dedent("""
        import parc
        def before(x):
            return x + 1
        pool = parc.Pool(2)
        def after(x):                  # the workers never saw it
            return x + 2
        def before(x):                 # redefined: workers have the old one
            return x + 3
        class Point:
            def __init__(self, x):
                self.x = x
            def norm(self, k):
                return self.x * k
        print(pool.map(after, [1, 2]), pool.map(before, [1, 2]),
              pool.apply(after, (0,)), pool.map(lambda v: v * 10, [1]))
        with parc.Executor(1) as ex:
            print(ex.submit(after, 5).result())
        pool.terminate()
    """)
    out = subprocess.run([sys.executable, "-c", script], env=subprocess_env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["[3, 4] [4, 5] 2 [10]", "7"]
