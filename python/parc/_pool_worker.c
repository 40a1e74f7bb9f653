/* _pool_worker.c -- the worker side of a Python pool (see _pool.h).
 *
 * Process backend. A worker is forked (by the pool's zygote) from the
 * thread that called parc_pool_create holding the GIL, so it starts as a
 * copy of that thread with the GIL held: before any Python runs it makes
 * the fork protocol's child call, PyOS_AfterFork_Child(), then parc's own
 * set-up (parc._transport.worker_started). With an initializer this is
 * the pool's init hook; without one it happens before the first task, so
 * the pool starts without waiting for its workers. Between tasks the
 * worker releases the GIL, so threads a task started keep running.
 *
 * Thread backend. Every worker thread runs the init hook, which gives the
 * thread a Python thread state kept until the pool is destroyed (the
 * destroying thread deletes them: the threads have ended by then); each
 * task takes the GIL with PyGILState_Ensure and gives it back.
 *
 * The state below is per process: each process worker has its own copy.
 */
#include <string.h>

#include "_pool.h"

static int setup_pid;            /* the process whose set-up ran */
static PyThreadState *worker_ts; /* this worker's, while the GIL is out */
static PyObject *fn_cache;       /* fn_id -> function */
static unsigned long long last_id;
static PyObject *last_fn; /* borrowed from fn_cache */

#define FN_CACHE_MAX 256

/* ---------------------------------------------------------------- running */

static PyObject *call_star(PyObject *fn, PyObject *args) {
  if (PyTuple_CheckExact(args))
    return PyObject_Call(fn, args, NULL);
  PyObject *t = PySequence_Tuple(args);
  if (!t)
    return NULL;
  PyObject *r = PyObject_Call(fn, t, NULL);
  Py_DECREF(t);
  return r;
}

static PyObject *run_many(PyObject *fn, PyObject *payload, int star) {
  PyObject *seq = PySequence_Fast(payload, "parc: a chunk must be a sequence");
  if (!seq)
    return NULL;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  PyObject *out = PyList_New(n);
  for (Py_ssize_t i = 0; out && i < n; i++) {
    PyObject *x = PySequence_Fast_GET_ITEM(seq, i);
    PyObject *r = star ? call_star(fn, x) : PyObject_CallOneArg(fn, x);
    if (!r)
      Py_CLEAR(out);
    else
      PyList_SET_ITEM(out, i, r);
  }
  Py_DECREF(seq);
  return out;
}

/* Runs one task; a new reference, or NULL with the task's exception. */
static PyObject *run_kind(int kind, PyObject *fn, PyObject *payload) {
  switch (kind & K_MASK) {
  case K_CALL: {
    PyObject *args, *kw;
    if (!PyTuple_Check(payload) || PyTuple_GET_SIZE(payload) != 2 ||
        !PyTuple_Check(args = PyTuple_GET_ITEM(payload, 0))) {
      PyErr_SetString(PyExc_RuntimeError, "parc: a call of the wrong shape");
      return NULL;
    }
    kw = PyTuple_GET_ITEM(payload, 1);
    return PyObject_Call(fn, args, kw == Py_None ? NULL : kw);
  }
  case K_MAP1: return PyObject_CallOneArg(fn, payload);
  case K_STAR1: return call_star(fn, payload);
  case K_MAPN:
  case K_STARN: return run_many(fn, payload, (kind & K_MASK) == K_STARN);
  default:
    PyErr_SetString(PyExc_RuntimeError, "parc: unknown task kind");
    return NULL;
  }
}

/* The exception being raised, normalized, with its traceback attached;
 * the error indicator is cleared. */
static PyObject *take_exception(void) {
  PyObject *t, *v, *tb;
  PyErr_Fetch(&t, &v, &tb);
  PyErr_NormalizeException(&t, &v, &tb);
  if (v && tb)
    PyException_SetTraceback(v, tb);
  Py_XDECREF(t);
  Py_XDECREF(tb);
  if (!v) {
    Py_INCREF(Py_None);
    v = Py_None;
  }
  return v;
}

/* ---------------------------------------------------------------- processes */

/* The function a task names: the last one, the cache, or unpickled now
 * from the `len` bytes at `blob`. */
static PyObject *lookup_fn(unsigned long long id, const char *blob,
                           size_t len) {
  if (last_fn && id == last_id)
    return last_fn;
  PyObject *key = PyLong_FromUnsignedLongLong(id);
  if (!key)
    return NULL;
  PyObject *fn = PyDict_GetItemWithError(fn_cache, key);
  if (!fn && !PyErr_Occurred() && (fn = parc_py_pickle_loads(blob, len))) {
    if (PyDict_GET_SIZE(fn_cache) >= FN_CACHE_MAX) {
      last_fn = NULL;
      PyDict_Clear(fn_cache);
    }
    int rc = PyDict_SetItem(fn_cache, key, fn);
    Py_DECREF(fn); /* the cache holds it */
    if (rc < 0)
      fn = NULL;
  }
  Py_DECREF(key);
  if (fn) {
    last_id = id;
    last_fn = fn;
  }
  return fn;
}

/* The task failed (value: the result that could not be pickled, or NULL):
 * its result becomes transport.pack_error's bytes. */
static int send_exception(parc_result *res, int kind, PyObject *value) {
  PyObject *exc = take_exception();
  PyObject *pack = parc_py_transport("pack_error");
  PyObject *blob = pack ? PyObject_CallFunction(pack, "OiO", exc, kind,
                                                value ? value : Py_None)
                        : NULL;
  Py_XDECREF(pack);
  Py_DECREF(exc);
  int rc = RC_RAISED;
  if (!blob || !PyBytes_Check(blob) ||
      parc_result_set(res, PyBytes_AS_STRING(blob),
                      (size_t)PyBytes_GET_SIZE(blob)) != 0) {
    PyErr_Clear();
    rc = RC_LOST;
  }
  Py_XDECREF(blob);
  return rc;
}

static int process_run(const void *in, size_t len, parc_result *res) {
  msg_head h = {.kind = K_CALL};
  PyObject *result = NULL;
  if (len >= sizeof h)
    memcpy(&h, in, sizeof h);
  if (len < sizeof h || len - sizeof h < h.fn_len) {
    PyErr_SetString(PyExc_RuntimeError, "parc: a task of the wrong shape");
  } else {
    const char *blob = (const char *)in + sizeof h;
    PyObject *fn = lookup_fn(h.fn_id, blob, h.fn_len);
    PyObject *payload = fn ? parc_py_pickle_loads(blob + h.fn_len,
                                                  len - sizeof h - h.fn_len)
                           : NULL;
    if (payload)
      result = run_kind((int)h.kind, fn, payload);
    Py_XDECREF(payload);
  }
  int kind = (int)h.kind;
  if (!result)
    return send_exception(res, kind, NULL);
  PyObject *out = parc_py_pickle_dumps(result);
  if (!out) {
    int rc = send_exception(res, kind, result);
    Py_DECREF(result);
    return rc;
  }
  Py_DECREF(result);
  int rc = parc_result_set(res, PyBytes_AS_STRING(out),
                           (size_t)PyBytes_GET_SIZE(out));
  Py_DECREF(out);
  return rc == 0 ? 0 : RC_LOST;
}

/* This process has just been forked as a worker, holding the GIL. */
static void become_worker(void) {
  PyOS_AfterFork_Child();
  setup_pid = parc_py_pid();
  /* A worker forked from a worker inherits its cache: ids are the
   * parent's, so start afresh. */
  last_fn = NULL;
  last_id = 0;
  Py_XDECREF(fn_cache);
  fn_cache = PyDict_New();
  PyObject *started = parc_py_transport("worker_started");
  PyObject *r = started ? PyObject_CallNoArgs(started) : NULL;
  if (!r)
    PyErr_WriteUnraisable(started);
  Py_XDECREF(r);
  Py_XDECREF(started);
}

static int process_task(const void *in, size_t len, parc_result *res) {
  if (setup_pid != parc_py_pid())
    become_worker(); /* no initializer: the first task sets up */
  else
    PyEval_RestoreThread(worker_ts);
  int rc = fn_cache ? process_run(in, len, res) : RC_LOST;
  worker_ts = PyEval_SaveThread();
  return rc;
}

/* ---------------------------------------------------------------- threads */

static int thread_task(pyctx *c, const void *in, size_t len) {
  unsigned long long key;
  if (len != sizeof key)
    return RC_LOST;
  memcpy(&key, in, sizeof key);
  PyGILState_STATE g = PyGILState_Ensure();
  PyObject *k = PyLong_FromUnsignedLongLong(key);
  PyObject *entry = k ? PyDict_GetItemWithError(c->registry, k) : NULL;
  if (entry) {
    Py_INCREF(entry);
    if (PyDict_DelItem(c->registry, k) < 0)
      PyErr_Clear();
  }
  Py_XDECREF(k);
  int rc = 0;
  if (entry) { /* else canceled while queued: nothing to run */
    int kind = (int)PyLong_AsLong(PyList_GET_ITEM(entry, 0));
    PyObject *r = run_kind(kind, PyList_GET_ITEM(entry, 1),
                           PyList_GET_ITEM(entry, 2));
    if (!r)
      rc = RC_RAISED;
    PyObject *outcome = r ? Py_BuildValue("(iN)", 0, r)
                          : Py_BuildValue("(iN)", RC_RAISED, take_exception());
    if (!outcome || PyList_SetItem(entry, 3, outcome) < 0)
      rc = RC_LOST;
    Py_DECREF(entry);
  }
  PyErr_Clear();
  PyGILState_Release(g);
  return rc;
}

/* ---------------------------------------------------------------- init */

static void note_tstate(pyctx *c, PyThreadState *ts) {
  pthread_mutex_lock(&c->lock);
  if (c->ntstates == c->captstates) {
    size_t cap = c->captstates ? 2 * c->captstates : 16;
    PyThreadState **q = realloc(c->tstates, cap * sizeof *q);
    if (q) {
      c->tstates = q;
      c->captstates = cap;
    }
  }
  if (c->ntstates < c->captstates)
    c->tstates[c->ntstates++] = ts;
  pthread_mutex_unlock(&c->lock);
}

/* The initializer raised: the parent raises it (InitializerError). */
static void keep_init_error(pyctx *c) {
  if (c->backend == PARC_THREADS) {
    PyObject *exc = take_exception();
    if (!c->init_exc)
      c->init_exc = exc;
    else
      Py_DECREF(exc);
    return;
  }
  PyObject *exc = take_exception();
  PyObject *pack = parc_py_transport("pack_error");
  PyObject *blob = pack ? PyObject_CallFunction(pack, "OiO", exc, K_CALL,
                                                Py_None)
                        : NULL;
  Py_XDECREF(pack);
  Py_DECREF(exc);
  if (blob && PyBytes_Check(blob) && c->initerr &&
      (size_t)PyBytes_GET_SIZE(blob) <= INITERR_BYTES &&
      atomic_exchange(&c->initerr->claimed, 1) == 0) {
    memcpy(c->initerr->data, PyBytes_AS_STRING(blob),
           (size_t)PyBytes_GET_SIZE(blob));
    c->initerr->len = (uint32_t)PyBytes_GET_SIZE(blob);
  }
  Py_XDECREF(blob);
  PyErr_Clear();
}

static int run_initializer(pyctx *c) {
  if (!c->initializer)
    return 0;
  PyObject *r = PyObject_Call(c->initializer, c->initargs, NULL);
  if (r) {
    Py_DECREF(r);
    return 0;
  }
  keep_init_error(c);
  return 1;
}

int parc_py_worker_init(void *vctx, unsigned worker) {
  pyctx *c = vctx;
  int rc;
  if (c->backend == PARC_PROCESSES) {
    become_worker();
    rc = fn_cache ? run_initializer(c) : 1;
    worker_ts = PyEval_SaveThread();
    return rc;
  }
  PyGILState_Ensure(); /* never released: the thread keeps its state */
  note_tstate(c, PyThreadState_Get());
  rc = run_initializer(c);
  PyEval_SaveThread();
  return rc;
}

int parc_py_worker_task(const void *in, size_t len, parc_result *res,
                        void *vctx) {
  pyctx *c = vctx;
  if (c->backend == PARC_THREADS)
    return thread_task(c, in, len);
  return process_task(in, len, res);
}
