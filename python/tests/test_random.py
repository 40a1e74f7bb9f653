"""parc.rng and parc.generator: the very numbers of C's parc_rng (known
answers, an independent Python Philox, and a C program built from libparc's
rng.c), and numpy's Generator on the same streams."""
import math
import os
import pickle
import shutil
import subprocess
import sys

import pytest

import parc
from parc import _core

MASK32 = 0xFFFFFFFF
MASK64 = (1 << 64) - 1

# Random123's kat_vectors for philox4x32 10 (as test/test_rng.c).
KATS = [
    ((0, 0, 0, 0), (0, 0), (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)),
    ((MASK32,) * 4, (MASK32, MASK32),
     (0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd)),
    ((0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344),
     (0xa4093822, 0x299f31d0),
     (0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1)),
    ((1, 0, 0, 0), (1, 0), (0xac08141b, 0xdfc5ccbe, 0x79c07a47, 0xa7f66093)),
    ((0, 0, 0, 1), (0, 1), (0x96b27e8c, 0x28826d0f, 0x66d958ef, 0x081509dc)),
    ((0, 0, 0x80000000, 0), (0, 0x80000000),
     (0xae56ca02, 0x7609ba67, 0x25abd7df, 0x46ce39a3)),
]


@pytest.mark.parametrize("ctr,key,want", KATS)
def test_philox_block_matches_random123(ctr, key, want):
    assert _core.philox4x32_10(ctr, key) == want
    assert philox(ctr, key) == want       # and so does the reference below


# ------------------------------------------------------------------ reference

def philox(ctr, key):
    """Philox4x32-10, written from the paper, independently of rng.c."""
    x0, x1, x2, x3 = ctr
    k0, k1 = key
    for r in range(10):
        if r:
            k0 = (k0 + 0x9E3779B9) & MASK32
            k1 = (k1 + 0xBB67AE85) & MASK32
        p0 = 0xD2511F53 * x0
        p1 = 0xCD9E8D57 * x2
        x0, x1, x2, x3 = ((p1 >> 32) ^ x1 ^ k0, p1 & MASK32,
                          (p0 >> 32) ^ x3 ^ k1, p0 & MASK32)
    return x0, x1, x2, x3


class Reference:
    """docs/rng.md's contract, in Python: block b of stream s is
    philox((b, s), seed); u64 = out[0] | out[1] << 32, then out[2..3]."""

    def __init__(self, seed, stream):
        self.key = (seed & MASK32, seed >> 32)
        self.stream = stream
        self.block = 0
        self.words = []
        self.spare = None

    def u64(self):
        if not self.words:
            b, s = self.block, self.stream
            self.words = list(philox((b & MASK32, b >> 32, s & MASK32,
                                      s >> 32), self.key))
            self.block += 1
        lo, hi = self.words.pop(0), self.words.pop(0)
        return lo | hi << 32

    def uniform(self):
        return (self.u64() >> 11) * 2.0 ** -53

    def below(self, n):
        if n == 0:
            return 0
        m = self.u64() * n
        if m & MASK64 < n:
            threshold = (1 << 64) % n
            while m & MASK64 < threshold:
                m = self.u64() * n
        return m >> 64

    def normal(self):
        if self.spare is not None:
            z, self.spare = self.spare, None
            return z
        while True:
            u = 2.0 * self.uniform() - 1.0
            v = 2.0 * self.uniform() - 1.0
            s = u * u + v * v
            if 0.0 < s < 1.0:
                break
        f = math.sqrt(-2.0 * math.log(s) / s)
        self.spare = v * f
        return u * f


SEEDS = [(0, 0), (42, 7), (MASK64, MASK64), (0x0123456789abcdef, 1 << 40)]


@pytest.mark.parametrize("seed,stream", SEEDS)
def test_every_draw_matches_the_reference(seed, stream):
    r, ref = parc.rng(seed, stream), Reference(seed, stream)
    for i in range(2000):
        kind = i % 4
        if kind == 0:
            assert r.random_raw() == ref.u64()
        elif kind == 1:
            assert r.random() == ref.uniform()
        elif kind == 2:
            n = [1, 2, 3, 10, 1 << 33, MASK64, (1 << 63) + 12345][i % 7]
            assert r.integers(n) == ref.below(n)
        else:
            assert r.normal() == ref.normal()


def test_a_stream_that_crosses_block_2_to_the_32():
    r = parc.rng(7, 9)
    state = bytearray(r.__getstate__())
    # parc_rng: key[2], ctr[4] (block low, block high, stream), ... -- jump
    # to block 2**32 - 1 as test_rng.c does, through the plain-data state
    state[8:12] = MASK32.to_bytes(4, "little")
    r.__setstate__(bytes(state))
    r.random_raw()
    r.random_raw()
    ref = Reference(7, 9)
    ref.block = 1 << 32
    assert r.random_raw() == ref.u64()


# ------------------------------------------------------------------ C itself

C_MAIN = r"""
#include <parc.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
  uint64_t seed = strtoull(argv[1], 0, 0), stream = strtoull(argv[2], 0, 0);
  int n = atoi(argv[3]);
  parc_rng r;
  parc_rng_init(&r, seed, stream);
  for (int i = 0; i < n; i++) {
    printf("%llu ", (unsigned long long)parc_rng_u64(&r));
    printf("%a ", parc_rng_uniform(&r));
    printf("%llu ", (unsigned long long)parc_rng_below(&r, 1000003));
    printf("%a\n", parc_rng_normal(&r));
  }
  return 0;
}
"""


def source_dir():
    here = os.environ.get("PARC_SOURCE_DIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")
    return here if os.path.exists(os.path.join(here, "src", "sys", "rng.c")) \
        else None


@pytest.fixture(scope="module")
def c_program(tmp_path_factory):
    src, cc = source_dir(), shutil.which("cc") or shutil.which("gcc")
    if not src or not cc:
        pytest.skip("needs libparc's sources and a C compiler")
    d = tmp_path_factory.mktemp("rng")
    (d / "main.c").write_text(C_MAIN)
    exe = d / "rng"
    subprocess.run([cc, "-O2", "-std=c11", "-I", os.path.join(src, "include"),
                    str(d / "main.c"), os.path.join(src, "src", "sys", "rng.c"),
                    "-lm", "-o", str(exe)], check=True)
    return exe


@pytest.mark.parametrize("seed,stream", SEEDS)
def test_10000_draws_equal_a_c_program_s(c_program, seed, stream):
    out = subprocess.run([str(c_program), str(seed), str(stream), "10000"],
                         capture_output=True, text=True, check=True).stdout
    r = parc.rng(seed, stream)
    for line in out.splitlines():
        u64, uni, below, normal = line.split()
        assert r.random_raw() == int(u64)
        assert r.random() == float.fromhex(uni)
        assert r.integers(1000003) == int(below)
        assert r.normal() == float.fromhex(normal)


# ------------------------------------------------------------------ Rng API

def test_rng_api():
    r = parc.rng(5, 6)
    assert (r.seed, r.stream) == (5, 6) and isinstance(r, parc.Rng)
    assert "seed=5" in repr(r)
    r.normal()                       # leaves a spare
    c = r.copy()
    p = pickle.loads(pickle.dumps(r))
    assert [r.normal() for _ in range(5)] == [c.normal() for _ in range(5)] \
        == [p.normal() for _ in range(5)]
    ref = Reference(1, 2)
    r = parc.rng(1, 2)
    assert r.integers(10, 20) == 10 + ref.below(10)
    assert r.uniform(2.0, 4.0) == 2.0 + 2.0 * ref.uniform()
    assert r.normal(1.0, 3.0) == 1.0 + 3.0 * ref.normal()
    with pytest.raises(ValueError):
        parc.rng(-1, 0)
    with pytest.raises(ValueError):
        parc.rng(1 << 64, 0)
    with pytest.raises(ValueError):
        r.integers(0)
    with pytest.raises(ValueError):
        r.integers(5, 5)


def test_different_streams_and_seeds_differ():
    draws = {(s, t): tuple(parc.rng(s, t).random_raw() for _ in range(8))
             for s in (0, 1, MASK64) for t in (0, 1, 1 << 32, MASK64)}
    assert len(set(draws.values())) == len(draws)


def draw_in_child(out, stream):
    out.put([parc.rng(2024, stream).random() for _ in range(100)])


def test_the_same_numbers_in_any_process():
    out = parc.Queue()
    ps = [parc.Process(target=draw_in_child, args=(out, s)) for s in range(3)]
    for p in ps:
        p.start()
    got = sorted(out.get(timeout=20) for _ in ps)
    for p in ps:
        p.join(10)
    want = sorted([parc.rng(2024, s).random() for _ in range(100)]
                  for s in range(3))
    assert got == want


def test_import_parc_does_not_import_numpy():
    code = ("import sys, parc; parc.rng(1, 2).random(); "
            "parc.PhiloxBitGenerator(1, 2).random_raw(); "
            "q = parc.Queue(); q.put([1]); q.get(); parc.Pipe(); parc.Lock(); "
            "print('numpy' in sys.modules)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, env=env, check=True).stdout
    assert out.strip() == "False"


# ------------------------------------------------------------------ numpy

@pytest.fixture
def np():
    return pytest.importorskip("numpy")


def test_size_draws_equal_scalar_draws(np):
    a, b = parc.rng(3, 4), parc.rng(3, 4)
    assert a.random(10).tolist() == [b.random() for _ in range(10)]
    assert a.normal(size=(2, 3)).ravel().tolist() == \
        [b.normal() for _ in range(6)]
    assert a.integers(100, size=7).tolist() == \
        [b.integers(100) for _ in range(7)]
    raw = a.random_raw(5)
    assert raw.dtype == np.uint64
    assert raw.tolist() == [b.random_raw() for _ in range(5)]


def test_numpy_generator_accepts_the_bit_generator(np):
    bg = parc.PhiloxBitGenerator(11, 12)
    g = np.random.Generator(bg)
    ref = parc.rng(11, 12)
    assert g.random(1000).tolist() == [ref.random() for _ in range(1000)]
    assert g.bit_generator is bg
    assert bg.random_raw(3).tolist() == [ref.random_raw() for _ in range(3)]
    g.standard_normal(10)
    g.integers(0, 10, size=10)
    g.choice(10, 3)
    g.shuffle(np.arange(10))
    assert isinstance(g.exponential(), float)


def test_generator_is_numpy_s_on_the_parc_stream(np):
    g = parc.generator(2, 3)
    assert isinstance(g, np.random.Generator)
    assert isinstance(g.bit_generator, parc.PhiloxBitGenerator)
    ref = parc.rng(2, 3)
    assert g.random() == ref.random()
    # 32-bit draws are the two halves of one 64-bit value, low first
    v = ref.random_raw()
    assert g.integers(0, 1 << 32, size=2, dtype=np.uint32).tolist() == \
        [v & MASK32, v >> 32]


def test_state_round_trips_and_continues_identically(np):
    g = parc.generator(8, 9)
    g.random(7)
    g.integers(0, 1 << 32, dtype=np.uint32)     # leaves a 32-bit half
    state = g.bit_generator.state
    assert state["bit_generator"] == "parc.PhiloxBitGenerator"
    assert state["has_uint32"] == 1
    a = g.random(5).tolist() + g.integers(0, 1 << 32, size=3,
                                          dtype=np.uint32).tolist()
    g.bit_generator.state = state
    b = g.random(5).tolist() + g.integers(0, 1 << 32, size=3,
                                          dtype=np.uint32).tolist()
    assert a == b
    with pytest.raises(ValueError):
        g.bit_generator.state = {"bit_generator": "PCG64"}


def test_generator_and_bit_generator_pickle(np):
    g = parc.generator(4, 5)
    g.random(3)
    h = pickle.loads(pickle.dumps(g))
    assert isinstance(h, np.random.Generator)
    assert h.random(10).tolist() == g.random(10).tolist()
    bg = pickle.loads(pickle.dumps(parc.PhiloxBitGenerator(6, 7)))
    assert bg.random_raw() == parc.rng(6, 7).random_raw()
    plain = np.random.Generator(parc.PhiloxBitGenerator(1, 1))
    again = pickle.loads(pickle.dumps(plain))   # parc is imported here
    assert again.random() == plain.random()


def test_a_pickled_generator_continues_in_a_fresh_interpreter(np):
    g = parc.generator(9, 10)
    g.random(5)
    code = ("import pickle, sys; g = pickle.loads(sys.stdin.buffer.read()); "
            "print(repr(g.random()))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(g),
                         capture_output=True, env=env, check=True).stdout
    assert float(out) == g.random()
