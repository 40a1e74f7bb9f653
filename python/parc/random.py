"""Reproducible random numbers: the Philox4x32-10 streams of C's parc_rng
(docs/rng.md), from Python and as a numpy Generator (docs/python.md,
"Reproducible random numbers").

    r = parc.rng(seed, stream)          # stream = the task's index
    r.random(), r.normal(), r.integers(n), r.random_raw()
    g = parc.generator(seed, stream)    # numpy.random.Generator on it
    g.random(10)                        # == [parc.rng(seed, stream).random() ...]

Rng draws exactly what the C functions draw from the same (seed, stream):
random() is parc_rng_uniform, normal() parc_rng_normal, integers(n)
parc_rng_below(n), random_raw() parc_rng_u64. The numpy Generator runs on
the same 64-bit values (bit_generator.random_raw() is parc_rng_u64 and
Generator.random() is parc_rng_uniform); its other methods are numpy's own
algorithms on those bits. numpy is imported only by generator() and by
size= draws, never by `import parc`.
"""
import threading

from . import _core

__all__ = ["Rng", "rng", "PhiloxBitGenerator", "generator"]

Rng = _core.Rng


def rng(seed=0, stream=0):
    """Stream `stream` of generator `seed` (each below 2**64): a parc.Rng
    at the stream's start."""
    return Rng(seed, stream)


class PhiloxBitGenerator(_core.PhiloxCore):
    """A numpy BitGenerator on stream `stream` of parc generator `seed`:
    numpy.random.Generator(PhiloxBitGenerator(seed, stream)) draws from the
    same 64-bit values as parc.rng(seed, stream) and C's parc_rng.

    It has what numpy's Generator takes -- `capsule` (numpy's bitgen_t in a
    PyCapsule named "BitGenerator") and `lock` -- plus random_raw(), a
    `state` dict that can be read and set, and pickling."""

    def __init__(self, seed=0, stream=0):
        self.lock = threading.Lock()

    @property
    def state(self):
        with self.lock:
            seed, stream, block, used, has32, u32 = self._get_state()
        return {"bit_generator": "parc.PhiloxBitGenerator",
                "state": {"seed": seed, "stream": stream, "block": block,
                          "used": used},
                "has_uint32": has32, "uinteger": u32}

    @state.setter
    def state(self, value):
        if not isinstance(value, dict) or \
                value.get("bit_generator") != "parc.PhiloxBitGenerator":
            raise ValueError("state must be a dict from a "
                             "parc.PhiloxBitGenerator's state")
        s = value["state"]
        with self.lock:
            self._set_state(s["seed"], s["stream"], s["block"], s["used"],
                            int(value.get("has_uint32", 0)),
                            int(value.get("uinteger", 0)))

    def random_raw(self, size=None, output=True):
        """64-bit values of the stream: parc_rng_u64 (an int for size None,
        else a numpy uint64 array)."""
        with self.lock:
            raw = self._raw(size)
        return raw if output else None

    # (ctor, (name,), state), the shape numpy's Generator.__reduce__ takes
    # apart: so a numpy Generator on this bit generator pickles too.
    def __reduce__(self):
        return _bit_generator_ctor, ("parc.PhiloxBitGenerator",), self.state

    def __setstate__(self, state):
        self.state = state

    def __repr__(self):
        s = self.state["state"]
        return (f"parc.PhiloxBitGenerator(seed={s['seed']}, "
                f"stream={s['stream']})")


def _bit_generator_ctor(name="parc.PhiloxBitGenerator"):
    return PhiloxBitGenerator()


def generator(seed=0, stream=0):
    """numpy.random.Generator(PhiloxBitGenerator(seed, stream)): numpy's
    distributions on the stream `stream` of parc generator `seed`."""
    import numpy.random
    return numpy.random.Generator(PhiloxBitGenerator(seed, stream))
