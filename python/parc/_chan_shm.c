/* _chan_shm.c -- Shm: a small block of parc_shm_alloc memory shared with
 * the processes forked after it was made, with the futex words that
 * Event, Condition, Barrier and JoinableQueue are built of (synchronize.py).
 *
 * Its bytes are a writable buffer (memoryview(shm).cast("q") reads and
 * writes them); the word operations below take a byte offset of an
 * aligned 32-bit word:
 *   event_*   bit 0 is the flag; every set adds 2, so a waiter that slept
 *             through a set and a clear still sees the word move
 *   seq_*     a sequence number: bump it and wake n sleepers; wait until it
 *             is no longer what the caller saw
 *   count_*   a counter of unfinished work: waiters wake when it is 0
 * Every wait takes a timeout and goes in slices (parc_py_ch_block).
 */
#include "_chan.h"

#include <limits.h>

typedef struct {
  PyObject_HEAD parc_py_ch_entry *e;
  unsigned char *p;
  Py_ssize_t size;
} ShmObject;

static PyTypeObject ShmType;

static void shm_release(parc_py_ch_entry *e) { parc_shm_free(e->h[0]); }

static PyObject *shm_wrap(parc_py_ch_entry *e) {
  ShmObject *s = PyObject_New(ShmObject, &ShmType);
  if (!s) {
    parc_py_ch_entry_decref(e);
    return NULL;
  }
  s->e = e;
  s->p = e->h[0];
  s->size = (Py_ssize_t)e->n[0];
  return (PyObject *)s;
}

static PyObject *shm_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
  Py_ssize_t size;
  if (!PyArg_ParseTuple(args, "n:Shm", &size))
    return NULL;
  if (size <= 0) {
    PyErr_SetString(PyExc_ValueError, "size must be positive");
    return NULL;
  }
  void *p = parc_shm_alloc((size_t)size);
  if (!p)
    return PyErr_SetFromErrno(PyExc_OSError);
  parc_py_ch_entry *e = parc_py_ch_entry_new(PARC_PY_CH_SHM);
  if (!e) {
    parc_shm_free(p);
    return NULL;
  }
  e->h[0] = p;
  e->n[0] = size;
  e->release = shm_release;
  return shm_wrap(e);
}

static void shm_dealloc(ShmObject *s) {
  parc_py_ch_entry_decref(s->e);
  PyObject_Free(s);
}

static int shm_getbuffer(ShmObject *s, Py_buffer *view, int flags) {
  return PyBuffer_FillInfo(view, (PyObject *)s, s->p, s->size, 0, flags);
}

static PyBufferProcs shm_as_buffer = {(getbufferproc)shm_getbuffer, NULL};

static Py_ssize_t shm_len(ShmObject *s) { return s->size; }

static PySequenceMethods shm_as_sequence = {.sq_length = (lenfunc)shm_len};

/* The aligned 32-bit word at byte `off`, or NULL with ValueError. */
static _Atomic uint32_t *word(ShmObject *s, Py_ssize_t off) {
  if (off < 0 || off % 4 != 0 || off + 4 > s->size) {
    PyErr_SetString(PyExc_ValueError, "bad word offset");
    return NULL;
  }
  return (_Atomic uint32_t *)(s->p + off);
}

/* ---------------------------------------------------------------- waits */

typedef struct {
  _Atomic uint32_t *w;
  uint32_t seen;
  int what; /* 0: event flag set; 1: word != seen; 2: word == 0 */
} wait_ctx;

static int done(wait_ctx *c) {
  uint32_t v = atomic_load(c->w);
  return c->what == 0 ? (v & 1) != 0 : c->what == 1 ? v != c->seen : v == 0;
}

static int wait_op(void *ctx, double timeout) {
  wait_ctx *c = ctx;
  uint32_t v = atomic_load(c->w);
  if (done(c))
    return 0;
  int rc = parc_py_ch_futex_wait(c->w, v, timeout);
  if (done(c))
    return 0;
  return rc == 0 ? PARC_EAGAIN : PARC_ETIMEDOUT;
}

/* True when the condition came, False when the timeout ran out. */
static PyObject *wait_for(ShmObject *s, Py_ssize_t off, uint32_t seen, int what,
                          PyObject *timeout_obj) {
  double timeout;
  wait_ctx c = {word(s, off), seen, what};
  if (!c.w || parc_py_ch_timeout1(timeout_obj, &timeout) < 0)
    return NULL;
  int rc = parc_py_ch_block(wait_op, &c, timeout);
  if (rc == 0)
    Py_RETURN_TRUE;
  if (rc == PARC_PY_CH_EINTR)
    return NULL;
  Py_RETURN_FALSE;
}

/* ---------------------------------------------------------------- event */

static PyObject *event_set(ShmObject *s, PyObject *args) {
  Py_ssize_t off;
  if (!PyArg_ParseTuple(args, "n", &off))
    return NULL;
  _Atomic uint32_t *w = word(s, off);
  if (!w)
    return NULL;
  uint32_t v = atomic_load(w);
  do {
    if (v & 1)
      Py_RETURN_NONE;
  } while (!atomic_compare_exchange_weak(w, &v, (v | 1u) + 2u));
  parc_py_ch_futex_wake(w, INT_MAX);
  Py_RETURN_NONE;
}

static PyObject *event_clear(ShmObject *s, PyObject *args) {
  Py_ssize_t off;
  if (!PyArg_ParseTuple(args, "n", &off))
    return NULL;
  _Atomic uint32_t *w = word(s, off);
  if (!w)
    return NULL;
  atomic_fetch_and(w, ~1u);
  Py_RETURN_NONE;
}

static PyObject *event_is_set(ShmObject *s, PyObject *args) {
  Py_ssize_t off;
  if (!PyArg_ParseTuple(args, "n", &off))
    return NULL;
  _Atomic uint32_t *w = word(s, off);
  if (!w)
    return NULL;
  return PyBool_FromLong(atomic_load(w) & 1);
}

static PyObject *event_wait(ShmObject *s, PyObject *args) {
  Py_ssize_t off;
  PyObject *timeout = Py_None;
  if (!PyArg_ParseTuple(args, "n|O", &off, &timeout))
    return NULL;
  return wait_for(s, off, 0, 0, timeout);
}

/* ---------------------------------------------------------------- seq */

static PyObject *seq_get(ShmObject *s, PyObject *args) {
  Py_ssize_t off;
  if (!PyArg_ParseTuple(args, "n", &off))
    return NULL;
  _Atomic uint32_t *w = word(s, off);
  return w ? PyLong_FromUnsignedLong(atomic_load(w)) : NULL;
}

static PyObject *seq_bump(ShmObject *s, PyObject *args) {
  Py_ssize_t off;
  int n = INT_MAX;
  if (!PyArg_ParseTuple(args, "n|i", &off, &n))
    return NULL;
  _Atomic uint32_t *w = word(s, off);
  if (!w)
    return NULL;
  atomic_fetch_add(w, 1);
  if (n > 0)
    parc_py_ch_futex_wake(w, n);
  Py_RETURN_NONE;
}

static PyObject *seq_wait(ShmObject *s, PyObject *args) {
  Py_ssize_t off;
  unsigned long seen;
  PyObject *timeout = Py_None;
  if (!PyArg_ParseTuple(args, "nk|O", &off, &seen, &timeout))
    return NULL;
  return wait_for(s, off, (uint32_t)seen, 1, timeout);
}

/* ---------------------------------------------------------------- count */

static PyObject *count_add(ShmObject *s, PyObject *args) {
  Py_ssize_t off;
  int delta = 1;
  if (!PyArg_ParseTuple(args, "n|i", &off, &delta))
    return NULL;
  _Atomic uint32_t *w = word(s, off);
  if (!w)
    return NULL;
  uint32_t v = atomic_fetch_add(w, (uint32_t)delta) + (uint32_t)delta;
  if (v == 0)
    parc_py_ch_futex_wake(w, INT_MAX);
  return PyLong_FromUnsignedLong(v);
}

/* One unit done: the new count, or -1 (nothing changed) if it was 0. */
static PyObject *count_done(ShmObject *s, PyObject *args) {
  Py_ssize_t off;
  if (!PyArg_ParseTuple(args, "n", &off))
    return NULL;
  _Atomic uint32_t *w = word(s, off);
  if (!w)
    return NULL;
  uint32_t v = atomic_load(w);
  do {
    if (v == 0)
      return PyLong_FromLong(-1);
  } while (!atomic_compare_exchange_weak(w, &v, v - 1));
  if (v == 1)
    parc_py_ch_futex_wake(w, INT_MAX);
  return PyLong_FromUnsignedLong(v - 1);
}

static PyObject *count_wait_zero(ShmObject *s, PyObject *args) {
  Py_ssize_t off;
  PyObject *timeout = Py_None;
  if (!PyArg_ParseTuple(args, "n|O", &off, &timeout))
    return NULL;
  return wait_for(s, off, 0, 2, timeout);
}

static PyMethodDef shm_methods[] = {
    {"event_set", (PyCFunction)event_set, METH_VARARGS, NULL},
    {"event_clear", (PyCFunction)event_clear, METH_VARARGS, NULL},
    {"event_is_set", (PyCFunction)event_is_set, METH_VARARGS, NULL},
    {"event_wait", (PyCFunction)event_wait, METH_VARARGS,
     "event_wait(off, timeout=None): True once the flag is set, False if "
     "the timeout ran out first."},
    {"seq_get", (PyCFunction)seq_get, METH_VARARGS, NULL},
    {"seq_bump", (PyCFunction)seq_bump, METH_VARARGS,
     "seq_bump(off, n=all): add 1 and wake n sleepers."},
    {"seq_wait", (PyCFunction)seq_wait, METH_VARARGS,
     "seq_wait(off, seen, timeout=None): True once the word is not `seen`."},
    {"count_add", (PyCFunction)count_add, METH_VARARGS, NULL},
    {"count_done", (PyCFunction)count_done, METH_VARARGS, NULL},
    {"count_wait_zero", (PyCFunction)count_wait_zero, METH_VARARGS, NULL},
    {"__reduce__", parc_py_ch_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyTypeObject ShmType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "parc._core.Shm",
    .tp_basicsize = sizeof(ShmObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Shm(size): zeroed memory shared with the processes forked "
              "after it was made, with futex words (parc internals).",
    .tp_new = shm_new,
    .tp_dealloc = (destructor)shm_dealloc,
    .tp_as_buffer = &shm_as_buffer,
    .tp_as_sequence = &shm_as_sequence,
    .tp_methods = shm_methods,
};

int parc_py_ch_shm_init(PyObject *m) {
  if (PyType_Ready(&ShmType) < 0)
    return -1;
  Py_INCREF(&ShmType);
  if (PyModule_AddObject(m, "Shm", (PyObject *)&ShmType) < 0) {
    Py_DECREF(&ShmType);
    return -1;
  }
  parc_py_ch_register_kind(PARC_PY_CH_SHM, shm_wrap, "shared block");
  return 0;
}
