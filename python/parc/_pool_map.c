/* _pool_map.c -- Pool.map and starmap: a list of items in chunks, one
 * libparc bytes task per chunk (see _pool.h for the wire format), all of
 * them one parc_map_bytes run in the calling thread without the GIL; the
 * results in order.
 *
 * libparc does the scheduling this needs: a map's tasks go one batch per
 * worker until their cost is known, then short ones several to a message
 * (results read in one pass) and long ones one at a time, a worker never
 * holding a task behind a long one while another is free -- so long tasks
 * of unequal length spread over the workers as multiprocessing's do (each
 * takes its next when done), and short ones cost what a batch costs.
 *
 * Every chunk runs, even when some fail; the call then raises the lowest
 * failed chunk's exception. libparc asks map_should_stop about ten times
 * a second while it waits: Ctrl-C, or the pool closing (terminate() from
 * another thread), ends the map, its unfinished tasks canceled (running
 * ones killed, their workers replaced).
 */
#include <stdlib.h>
#include <string.h>

#include "_pool.h"

typedef struct mapspec {
  PoolObject *self;
  int kind;
  PyObject *fn_id, *fn, *items, *res;
  Py_ssize_t n, chunk, k; /* items, per chunk, chunks */
} mapspec;

/* One chunk: what it travels as. */
typedef struct chunkref {
  PyObject *keep;         /* processes: its message; threads: its entry */
  unsigned long long key; /* threads: its registry key */
} chunkref;

/* ---------------------------------------------------------------- chunks */

static int chunk_prepare(mapspec *m, Py_ssize_t index, chunkref *c,
                         parc_bytes *in) {
  Py_ssize_t lo = index * m->chunk;
  PyObject *payload = m->chunk == 1
                          ? PyList_GET_ITEM(m->items, lo)
                          : PyList_GetSlice(m->items, lo, lo + m->chunk);
  if (!payload)
    return -1;
  if (m->chunk == 1)
    Py_INCREF(payload);
  c->keep = m->self->backend == PARC_THREADS
                ? parc_py_new_entry(m->self, m->kind, m->fn, payload, &c->key)
                : parc_py_message(m->kind, m->fn_id, m->fn, payload);
  Py_DECREF(payload);
  if (!c->keep)
    return -1;
  *in = c->key ? (parc_bytes){&c->key, sizeof c->key}
               : (parc_bytes){PyBytes_AS_STRING(c->keep),
                              (size_t)PyBytes_GET_SIZE(c->keep)};
  return 0;
}

static void chunk_drop(mapspec *m, chunkref *c) {
  if (c->key)
    parc_py_drop_entry(m->self, c->key);
  Py_XDECREF(c->keep);
}

/* A finished chunk's value (a new reference), or NULL with its exception. */
static PyObject *chunk_value(mapspec *m, chunkref *c, const parc_bytes *out,
                             const parc_task_status *st) {
  if (!c->key && st->error == 0) { /* the common case, without a tuple */
    PyObject *v = parc_py_pickle_loads(out->data, out->len);
    if (v)
      return v;
    PyErr_Clear(); /* made into the outcome below, with its reason */
  }
  PyObject *o = c->key ? parc_py_entry_outcome(c->keep, st, m->kind)
                       : parc_py_data_outcome(out->data, out->len, m->kind,
                                              st->error, st);
  if (!o)
    return NULL;
  PyObject *v = PyTuple_GET_ITEM(o, 1);
  Py_INCREF(v);
  if (PyLong_AsLong(PyTuple_GET_ITEM(o, 0)) != 0) {
    PyErr_SetObject((PyObject *)Py_TYPE(v), v);
    Py_CLEAR(v);
  }
  Py_DECREF(o);
  return v;
}

/* Puts a finished chunk's results in place: 0, or -1 with its exception. */
static int chunk_place(mapspec *m, Py_ssize_t index, chunkref *c,
                       const parc_bytes *out, const parc_task_status *st) {
  PyObject *v = chunk_value(m, c, out, st);
  if (!v)
    return -1;
  Py_ssize_t lo = index * m->chunk;
  Py_ssize_t want = lo + m->chunk < m->n ? m->chunk : m->n - lo;
  if (m->chunk == 1) {
    PyList_SET_ITEM(m->res, lo, v);
    return 0;
  }
  int rc = 0;
  if (!PyList_Check(v) || PyList_GET_SIZE(v) != want) {
    PyErr_SetString(PyExc_RuntimeError, "parc: a chunk's results are lost");
    rc = -1;
  } else {
    for (Py_ssize_t i = 0; i < want; i++) {
      PyObject *x = PyList_GET_ITEM(v, i);
      Py_INCREF(x);
      PyList_SET_ITEM(m->res, lo + i, x);
    }
  }
  Py_DECREF(v);
  return rc;
}

/* ---------------------------------------------------------------- run */

typedef struct stop {
  PoolObject *self;
  PyThreadState *ts; /* the caller's, while the GIL is out */
  int interrupted;
} stop;

/* libparc's should_stop: the pool closing, or Ctrl-C (the GIL taken back
 * for PyErr_CheckSignals). */
static int map_should_stop(void *arg) {
  stop *t = arg;
  if (atomic_load(&t->self->state) != P_RUNNING)
    return 1;
  PyEval_RestoreThread(t->ts);
  t->interrupted = PyErr_CheckSignals() < 0;
  t->ts = PyEval_SaveThread();
  return t->interrupted;
}

/* Every chunk, as one parc_map_bytes: 0, or -1 with an exception (the
 * lowest failed chunk's, or KeyboardInterrupt). */
static int map_chunks(mapspec *m) {
  size_t cnt = (size_t)m->k;
  chunkref *c = PyMem_Calloc(cnt, sizeof *c);
  parc_bytes *in = PyMem_Calloc(cnt, sizeof *in);
  parc_bytes *out = PyMem_Calloc(cnt, sizeof *out);
  parc_task_status *st = PyMem_Calloc(cnt, sizeof *st);
  int rc = -1;
  if (!c || !in || !out || !st) {
    PyErr_NoMemory();
    goto out;
  }
  for (size_t i = 0; i < cnt; i++)
    if (chunk_prepare(m, (Py_ssize_t)i, &c[i], &in[i]) < 0)
      goto out;
  if (parc_py_enter(m->self) != 0)
    goto out;
  stop t = {.self = m->self};
  parc_map_opts o = {
      .status = st, .should_stop = map_should_stop, .stop_arg = &t};
  t.ts = PyEval_SaveThread();
  parc_map_bytes(m->self->pool, parc_py_worker_task, in, out, cnt, &o);
  PyEval_RestoreThread(t.ts);
  parc_py_leave(m->self);
  if (t.interrupted)
    goto out;
  rc = 0;
  for (size_t i = 0; i < cnt && rc == 0; i++)
    rc = chunk_place(m, (Py_ssize_t)i, &c[i], &out[i], &st[i]);
out:
  for (size_t i = 0; c && i < cnt; i++) {
    if (out)
      free(out[i].data);
    chunk_drop(m, &c[i]);
  }
  PyMem_Free(c);
  PyMem_Free(in);
  PyMem_Free(out);
  PyMem_Free(st);
  return rc;
}

/* map(kind, fn_id, fn, items, chunksize) -> list: items (a list) in chunks
 * of chunksize, one task each (chunksize 1: the item alone, kind
 * K_MAP1/K_STAR1; else a list, K_MAPN/K_STARN); the results in order, or
 * the lowest failed chunk's exception. */
PyObject *parc_py_map(PoolObject *self, PyObject *args) {
  mapspec m = {.self = self};
  if (!PyArg_ParseTuple(args, "iOOO!n", &m.kind, &m.fn_id, &m.fn, &PyList_Type,
                        &m.items, &m.chunk))
    return NULL;
  if (m.chunk < 1) {
    PyErr_SetString(PyExc_ValueError, "Chunksize must be 1+");
    return NULL;
  }
  if (!parc_py_running(self))
    return NULL;
  /* A copy: pickling an item may run code that changes the caller's list. */
  Py_INCREF(m.items);
  PyObject *items = PyList_GetSlice(m.items, 0, PyList_GET_SIZE(m.items));
  Py_DECREF(m.items);
  if (!items)
    return NULL;
  m.items = items;
  m.n = PyList_GET_SIZE(items);
  m.k = (m.n + m.chunk - 1) / m.chunk;
  m.res = PyList_New(m.n);
  int rc = -1;
  if (m.res)
    rc = m.n == 0 ? 0 : map_chunks(&m);
  Py_DECREF(items);
  if (rc != 0)
    Py_CLEAR(m.res);
  return m.res;
}
