/* _rng.c -- parc_rng for Python: parc.Rng (the C streams, draw for draw)
 * and the engine of parc.PhiloxBitGenerator, a numpy BitGenerator on the
 * same streams (random.py; docs/python.md, "Reproducible random numbers").
 *
 * Rng calls parc_rng_* and nothing else, so its numbers are the C
 * library's: random() is parc_rng_uniform, normal() parc_rng_normal,
 * integers(n) parc_rng_below, random_raw() parc_rng_u64. With size= they
 * fill a numpy array (numpy is imported then, never before).
 *
 * PhiloxCore holds numpy's bitgen_t -- {state, next_uint64, next_uint32,
 * next_double, next_raw}, declared here as numpy/random/bitgen.h does --
 * in a PyCapsule named "BitGenerator", which numpy.random.Generator takes
 * from the object's `capsule`. next_uint64 and next_raw are parc_rng_u64,
 * next_double is parc_rng_uniform (numpy's own formula for it, the top 53
 * bits times 2^-53), and next_uint32 hands out the two halves of one u64,
 * low first, as numpy's own bit generators do.
 */
#include "_core.h"

#include <string.h>

typedef struct bitgen {
  void *state;
  uint64_t (*next_uint64)(void *st);
  uint32_t (*next_uint32)(void *st);
  double (*next_double)(void *st);
  uint64_t (*next_raw)(void *st);
} bitgen_t;

/* ---------------------------------------------------------------- helpers */

static int parse_u64(PyObject *o, uint64_t *out, const char *what) {
  if (!PyLong_Check(o)) {
    PyErr_Format(PyExc_TypeError, "%s must be an int", what);
    return -1;
  }
  if (_PyLong_Sign(o) < 0) {
    PyErr_Format(PyExc_ValueError, "%s must be >= 0", what);
    return -1;
  }
  unsigned long long v = PyLong_AsUnsignedLongLong(o);
  if (v == (unsigned long long)-1 && PyErr_Occurred()) {
    PyErr_Format(PyExc_ValueError, "%s must be below 2**64", what);
    return -1;
  }
  *out = (uint64_t)v;
  return 0;
}

static uint64_t rng_seed(const parc_rng *r) {
  return r->key[0] | (uint64_t)r->key[1] << 32;
}

static uint64_t rng_stream(const parc_rng *r) {
  return r->ctr[2] | (uint64_t)r->ctr[3] << 32;
}

/* numpy.empty(size, dtype) -- numpy imported only here. */
static PyObject *np_empty(PyObject *size, const char *dtype) {
  PyObject *np = PyImport_ImportModule("numpy");
  if (!np)
    return NULL;
  PyObject *a = PyObject_CallMethod(np, "empty", "Os", size, dtype);
  Py_DECREF(np);
  return a;
}

/* ---------------------------------------------------------------- Rng */

typedef struct {
  PyObject_HEAD parc_rng r;
} RngObject;

static PyObject *rng_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
  static char *names[] = {"seed", "stream", NULL};
  PyObject *seed_obj = NULL, *stream_obj = NULL;
  uint64_t seed = 0, stream = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO:Rng", names, &seed_obj,
                                   &stream_obj))
    return NULL;
  if ((seed_obj && parse_u64(seed_obj, &seed, "seed") < 0) ||
      (stream_obj && parse_u64(stream_obj, &stream, "stream") < 0))
    return NULL;
  RngObject *o = (RngObject *)type->tp_alloc(type, 0);
  if (o)
    parc_rng_init(&o->r, seed, stream);
  return (PyObject *)o;
}

typedef enum { D_UNIFORM, D_NORMAL, D_RAW, D_BELOW } draw_kind;

/* One draw, or an array of them (size not None). */
static PyObject *draw(RngObject *o, draw_kind kind, uint64_t n, PyObject *size,
                      double loc, double scale) {
  if (size == Py_None || !size) {
    switch (kind) {
    case D_UNIFORM:
      return PyFloat_FromDouble(loc + scale * parc_rng_uniform(&o->r));
    case D_NORMAL:
      return PyFloat_FromDouble(loc + scale * parc_rng_normal(&o->r));
    case D_RAW: return PyLong_FromUnsignedLongLong(parc_rng_u64(&o->r));
    case D_BELOW: return PyLong_FromUnsignedLongLong(parc_rng_below(&o->r, n));
    }
  }
  int floats = kind == D_UNIFORM || kind == D_NORMAL;
  PyObject *a = np_empty(size, floats ? "float64" : "uint64");
  if (!a)
    return NULL;
  Py_buffer b;
  if (PyObject_GetBuffer(a, &b, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
    Py_DECREF(a);
    return NULL;
  }
  Py_ssize_t count = b.len / 8;
  double *d = b.buf;
  uint64_t *u = b.buf;
  for (Py_ssize_t i = 0; i < count; i++) {
    switch (kind) {
    case D_UNIFORM: d[i] = loc + scale * parc_rng_uniform(&o->r); break;
    case D_NORMAL: d[i] = loc + scale * parc_rng_normal(&o->r); break;
    case D_RAW: u[i] = parc_rng_u64(&o->r); break;
    case D_BELOW: u[i] = parc_rng_below(&o->r, n); break;
    }
  }
  PyBuffer_Release(&b);
  return a;
}

static PyObject *rng_random(RngObject *o, PyObject *args, PyObject *kw) {
  static char *names[] = {"size", NULL};
  PyObject *size = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:random", names, &size))
    return NULL;
  return draw(o, D_UNIFORM, 0, size, 0.0, 1.0);
}

static PyObject *rng_uniform(RngObject *o, PyObject *args, PyObject *kw) {
  static char *names[] = {"low", "high", "size", NULL};
  double low = 0.0, high = 1.0;
  PyObject *size = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|ddO:uniform", names, &low, &high,
                                   &size))
    return NULL;
  return draw(o, D_UNIFORM, 0, size, low, high - low);
}

static PyObject *rng_normal(RngObject *o, PyObject *args, PyObject *kw) {
  static char *names[] = {"loc", "scale", "size", NULL};
  double loc = 0.0, scale = 1.0;
  PyObject *size = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|ddO:normal", names, &loc, &scale,
                                   &size))
    return NULL;
  return draw(o, D_NORMAL, 0, size, loc, scale);
}

static PyObject *rng_random_raw(RngObject *o, PyObject *args, PyObject *kw) {
  static char *names[] = {"size", NULL};
  PyObject *size = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:random_raw", names, &size))
    return NULL;
  return draw(o, D_RAW, 0, size, 0, 0);
}

/* integers(n) in [0, n); integers(low, high) in [low, high). */
static PyObject *rng_integers(RngObject *o, PyObject *args, PyObject *kw) {
  static char *names[] = {"low", "high", "size", NULL};
  PyObject *low = NULL, *high = Py_None, *size = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OO:integers", names, &low,
                                   &high, &size))
    return NULL;
  PyObject *base = NULL, *span;
  if (high == Py_None) {
    span = low;
    Py_INCREF(span);
  } else {
    base = low;
    span = PyNumber_Subtract(high, low);
    if (!span)
      return NULL;
  }
  uint64_t n;
  int bad = !PyLong_Check(span) || _PyLong_Sign(span) <= 0;
  if (bad || parse_u64(span, &n, "high - low") < 0) {
    if (bad)
      PyErr_SetString(PyExc_ValueError,
                      "integers needs 0 < n (or low < high), n <= 2**64 - 1");
    Py_DECREF(span);
    return NULL;
  }
  Py_DECREF(span);
  PyObject *r = draw(o, D_BELOW, n, size, 0, 0);
  if (r && base && !(PyLong_Check(base) && _PyLong_Sign(base) == 0)) {
    PyObject *shifted = PyNumber_Add(r, base);
    Py_DECREF(r);
    r = shifted;
  }
  return r;
}

static PyObject *rng_get_seed(RngObject *o, void *unused) {
  return PyLong_FromUnsignedLongLong(rng_seed(&o->r));
}

static PyObject *rng_get_stream(RngObject *o, void *unused) {
  return PyLong_FromUnsignedLongLong(rng_stream(&o->r));
}

/* The state: the parc_rng struct's bytes (plain data, docs/rng.md). */
static PyObject *rng_getstate(RngObject *o, PyObject *unused) {
  return PyBytes_FromStringAndSize((const char *)&o->r, sizeof o->r);
}

static PyObject *rng_setstate(RngObject *o, PyObject *state) {
  if (!PyBytes_Check(state) || PyBytes_GET_SIZE(state) != sizeof o->r) {
    PyErr_SetString(PyExc_ValueError, "not a parc.Rng state");
    return NULL;
  }
  memcpy(&o->r, PyBytes_AS_STRING(state), sizeof o->r);
  Py_RETURN_NONE;
}

static PyObject *rng_reduce(RngObject *o, PyObject *unused) {
  return Py_BuildValue(
      "(O(KK)N)", (PyObject *)Py_TYPE(o), (unsigned long long)rng_seed(&o->r),
      (unsigned long long)rng_stream(&o->r), rng_getstate(o, NULL));
}

static PyObject *rng_copy(RngObject *o, PyObject *unused) {
  RngObject *c = (RngObject *)Py_TYPE(o)->tp_alloc(Py_TYPE(o), 0);
  if (c)
    c->r = o->r;
  return (PyObject *)c;
}

static PyObject *rng_repr(RngObject *o) {
  return PyUnicode_FromFormat("parc.Rng(seed=%llu, stream=%llu)",
                              (unsigned long long)rng_seed(&o->r),
                              (unsigned long long)rng_stream(&o->r));
}

#define KW (METH_VARARGS | METH_KEYWORDS)
#define FN(f) (PyCFunction)(void (*)(void))(f)
static PyMethodDef rng_methods[] = {
    {"random", FN(rng_random), KW,
     "random(size=None): uniform in [0, 1) -- parc_rng_uniform."},
    {"uniform", FN(rng_uniform), KW,
     "uniform(low=0.0, high=1.0, size=None): low + (high - low) * random()."},
    {"normal", FN(rng_normal), KW,
     "normal(loc=0.0, scale=1.0, size=None): loc + scale * parc_rng_normal."},
    {"integers", FN(rng_integers), KW,
     "integers(n) in [0, n), integers(low, high) in [low, high), size=None "
     "-- parc_rng_below(n) (+ low)."},
    {"random_raw", FN(rng_random_raw), KW,
     "random_raw(size=None): 64 random bits -- parc_rng_u64."},
    {"copy", (PyCFunction)rng_copy, METH_NOARGS,
     "A copy that continues exactly as this one would."},
    {"__getstate__", (PyCFunction)rng_getstate, METH_NOARGS, NULL},
    {"__setstate__", (PyCFunction)rng_setstate, METH_O, NULL},
    {"__reduce__", (PyCFunction)rng_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef rng_getset[] = {
    {"seed", (getter)rng_get_seed, NULL, "the seed", NULL},
    {"stream", (getter)rng_get_stream, NULL, "the stream", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject RngType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "parc.Rng",
    .tp_basicsize = sizeof(RngObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Rng(seed=0, stream=0): stream `stream` of Philox4x32-10 "
              "generator `seed`, the numbers of C's parc_rng.",
    .tp_new = rng_new,
    .tp_methods = rng_methods,
    .tp_getset = rng_getset,
    .tp_repr = (reprfunc)rng_repr,
};

/* ---------------------------------------------------------------- bitgen */

typedef struct {
  parc_rng r;
  int has_uint32;
  uint32_t uinteger;
} philox_state;

typedef struct {
  PyObject_HEAD philox_state st;
  bitgen_t bitgen;
  PyObject *capsule;
} PhiloxObject;

static uint64_t next_u64(void *st) { return parc_rng_u64(st); }
static double next_double(void *st) { return parc_rng_uniform(st); }
static uint32_t next_u32(void *st) {
  philox_state *s = st;
  if (s->has_uint32) {
    s->has_uint32 = 0;
    return s->uinteger;
  }
  uint64_t v = parc_rng_u64(&s->r);
  s->has_uint32 = 1;
  s->uinteger = (uint32_t)(v >> 32);
  return (uint32_t)v;
}

static PyObject *philox_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
  static char *names[] = {"seed", "stream", NULL};
  PyObject *seed_obj = NULL, *stream_obj = NULL;
  uint64_t seed = 0, stream = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO:PhiloxBitGenerator", names,
                                   &seed_obj, &stream_obj))
    return NULL;
  if ((seed_obj && seed_obj != Py_None &&
       parse_u64(seed_obj, &seed, "seed") < 0) ||
      (stream_obj && parse_u64(stream_obj, &stream, "stream") < 0))
    return NULL;
  PhiloxObject *o = (PhiloxObject *)type->tp_alloc(type, 0);
  if (!o)
    return NULL;
  parc_rng_init(&o->st.r, seed, stream);
  o->bitgen = (bitgen_t){&o->st, next_u64, next_u32, next_double, next_u64};
  o->capsule = PyCapsule_New(&o->bitgen, "BitGenerator", NULL);
  if (!o->capsule) {
    Py_DECREF(o);
    return NULL;
  }
  return (PyObject *)o;
}

static void philox_dealloc(PhiloxObject *o) {
  Py_XDECREF(o->capsule);
  Py_TYPE(o)->tp_free((PyObject *)o);
}

static PyObject *philox_get_capsule(PhiloxObject *o, void *unused) {
  Py_INCREF(o->capsule);
  return o->capsule;
}

/* _raw(size) -> uint64 array, or an int for size None (random.py holds
 * the lock). */
static PyObject *philox_raw(PhiloxObject *o, PyObject *size) {
  RngObject view; /* draw() wants an RngObject; lend it the state */
  view.r = o->st.r;
  PyObject *r = draw(&view, D_RAW, 0, size, 0, 0);
  o->st.r = view.r;
  return r;
}

/* _get_state() -> (seed, stream, block, used, has_uint32, uinteger) */
static PyObject *philox_get_state(PhiloxObject *o, PyObject *unused) {
  const parc_rng *r = &o->st.r;
  uint64_t block = r->ctr[0] | (uint64_t)r->ctr[1] << 32;
  /* The block number counts blocks computed; `used` words of the last. */
  return Py_BuildValue("(KKKIiI)", (unsigned long long)rng_seed(r),
                       (unsigned long long)rng_stream(r),
                       (unsigned long long)block, r->used, o->st.has_uint32,
                       o->st.uinteger);
}

static PyObject *philox_set_state(PhiloxObject *o, PyObject *args) {
  unsigned long long seed, stream, block;
  unsigned int used, uinteger;
  int has_uint32;
  if (!PyArg_ParseTuple(args, "KKKIiI", &seed, &stream, &block, &used,
                        &has_uint32, &uinteger))
    return NULL;
  if (used > 4 || used % 2) {
    PyErr_SetString(PyExc_ValueError, "used must be 0, 2 or 4");
    return NULL;
  }
  parc_rng *r = &o->st.r;
  parc_rng_init(r, seed, stream);
  if (used < 4) { /* inside block - 1: recompute it */
    if (block == 0) {
      PyErr_SetString(PyExc_ValueError, "block 0 with words used");
      return NULL;
    }
    uint64_t b = block - 1;
    r->ctr[0] = (uint32_t)b;
    r->ctr[1] = (uint32_t)(b >> 32);
    parc_philox4x32_10(r->ctr, r->key, r->out);
  }
  r->ctr[0] = (uint32_t)block;
  r->ctr[1] = (uint32_t)(block >> 32);
  r->used = used;
  o->st.has_uint32 = has_uint32 != 0;
  o->st.uinteger = uinteger;
  Py_RETURN_NONE;
}

static PyMethodDef philox_methods[] = {
    {"_raw", (PyCFunction)philox_raw, METH_O, NULL},
    {"_get_state", (PyCFunction)philox_get_state, METH_NOARGS, NULL},
    {"_set_state", (PyCFunction)philox_set_state, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef philox_getset[] = {
    {"capsule", (getter)philox_get_capsule, NULL,
     "numpy's bitgen_t in a PyCapsule named \"BitGenerator\"", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject PhiloxType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "parc._core.PhiloxCore",
    .tp_basicsize = sizeof(PhiloxObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "The engine of parc.PhiloxBitGenerator.",
    .tp_new = philox_new,
    .tp_dealloc = (destructor)philox_dealloc,
    .tp_methods = philox_methods,
    .tp_getset = philox_getset,
};

/* ---------------------------------------------------------------- module */

/* philox4x32_10(ctr, key) -> 4 words: one raw block, for known answers. */
static PyObject *philox_block(PyObject *m, PyObject *args) {
  uint32_t ctr[4], key[2], out[4];
  if (!PyArg_ParseTuple(args, "(IIII)(II)", &ctr[0], &ctr[1], &ctr[2], &ctr[3],
                        &key[0], &key[1]))
    return NULL;
  parc_philox4x32_10(ctr, key, out);
  return Py_BuildValue("(IIII)", out[0], out[1], out[2], out[3]);
}

static PyMethodDef rng_functions[] = {
    {"philox4x32_10", philox_block, METH_VARARGS,
     "philox4x32_10((c0, c1, c2, c3), (k0, k1)) -> (o0, o1, o2, o3)"},
    {NULL, NULL, 0, NULL}};

static int add_type(PyObject *m, PyTypeObject *t, const char *name) {
  if (PyType_Ready(t) < 0)
    return -1;
  Py_INCREF(t);
  if (PyModule_AddObject(m, name, (PyObject *)t) < 0) {
    Py_DECREF(t);
    return -1;
  }
  return 0;
}

int parc_py_rng_init(PyObject *m) {
  if (add_type(m, &RngType, "Rng") < 0 ||
      add_type(m, &PhiloxType, "PhiloxCore") < 0)
    return -1;
  return PyModule_AddFunctions(m, rng_functions);
}
