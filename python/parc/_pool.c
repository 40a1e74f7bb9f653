/* _pool.c -- the Pool type of parc._core: one parc_pool running Python
 * callables (see _pool.h for the files and the wire format).
 *
 * Fork. The process backend forks at parc_pool_create, from this thread:
 * so Python's own fork protocol wraps the call -- sys.stdout and
 * sys.stderr flushed, PyOS_BeforeFork(), __main__'s names copied for the
 * pickling of functions (main_vars), the create with the GIL held (no
 * other Python thread is in the middle of anything), then
 * PyOS_AfterFork_Parent(); each worker makes the child's half (see
 * _pool_worker.c). The thread backend's create runs without the GIL: its
 * workers take it to run their init hook.
 *
 * The GIL is never held while waiting in libparc: map releases it (and
 * takes it back about ten times a second, through libparc's progress
 * callback, to answer Ctrl-C), waits are sliced (_pool_task.c), destroy
 * releases it (thread workers may need it to finish).
 *
 * Closing. libparc's destroy needs every other call on the pool to have
 * returned. So a call that may wait counts itself in `users` (under the
 * GIL); close() sets P_CLOSING, which every waiter sees within a slice
 * (and a map within a progress tick), waits for `users` to reach 0, and
 * only then destroys. A wait that saw P_CLOSING waits for P_DESTROYED and
 * carries on with its future, which destroy has finished and detached.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "_pool.h"

#define IDLE_SLICE 0.05 /* idle() answers Ctrl-C this often */

/* ---------------------------------------------------------------- pid */

static int cached_pid;
static void forget_pid(void) { cached_pid = 0; }

int parc_py_pid(void) {
  if (cached_pid == 0)
    cached_pid = (int)getpid();
  return cached_pid;
}

/* ---------------------------------------------------------------- pickle */

static PyObject *pk_dumps, *pk_loads, *pk_protocol; /* pickle's, protocol 5 */

PyObject *parc_py_pickle_dumps_std(PyObject *obj) {
  PyObject *args[2] = {obj, pk_protocol};
  return PyObject_Vectorcall(pk_dumps, args, 2, NULL);
}

PyObject *parc_py_pickle_loads_std(const void *data, size_t len) {
  PyObject *mv = PyMemoryView_FromMemory((char *)(len ? data : ""),
                                         (Py_ssize_t)len, PyBUF_READ);
  if (!mv)
    return NULL;
  PyObject *r = PyObject_CallOneArg(pk_loads, mv);
  Py_DECREF(mv);
  return r;
}

static PyObject *transport_mod;

PyObject *parc_py_transport(const char *name) {
  if (!transport_mod &&
      !(transport_mod = PyImport_ImportModule("parc._transport")))
    return NULL;
  return PyObject_GetAttrString(transport_mod, name);
}

PyObject *parc_py_failure(int code, PyObject *payload,
                          const parc_task_status *st, int kind) {
  PyObject *fn = parc_py_transport("failure");
  if (!fn)
    return NULL;
  PyObject *r = PyObject_CallFunction(
      fn, "iOiiiii", code, payload ? payload : Py_None, st->pid, st->signal,
      st->exit_code, st->task_rc, kind);
  Py_DECREF(fn);
  return r;
}

/* ---------------------------------------------------------------- users */

static void nap(void) {
  struct timespec ts = {0, 1000000};
  Py_BEGIN_ALLOW_THREADS nanosleep(&ts, NULL);
  Py_END_ALLOW_THREADS
}

int parc_py_enter(PoolObject *p) {
  if (p->owner != parc_py_pid()) {
    PyErr_SetString(PyExc_RuntimeError,
                    "parc: this pool belongs to the process that made it");
    return -2;
  }
  if (atomic_load(&p->state) == P_RUNNING && p->pool) {
    p->users++;
    return 0;
  }
  parc_py_await_destroyed(p);
  return -1;
}

void parc_py_leave(PoolObject *p) { p->users--; }

int parc_py_closing(PoolObject *p) {
  return atomic_load(&p->state) != P_RUNNING;
}

void parc_py_await_destroyed(PoolObject *p) {
  while (atomic_load(&p->state) != P_DESTROYED) nap();
}

/* ---------------------------------------------------------------- orphans */

static void sweep_orphans(PoolObject *p, int all) {
  size_t k = 0;
  for (size_t i = 0; i < p->norphans; i++) {
    const void *d;
    size_t n;
    if (all || parc_future_bytes(p->orphans[i], &d, &n) != PARC_EAGAIN)
      parc_future_free(p->orphans[i]);
    else
      p->orphans[k++] = p->orphans[i];
  }
  p->norphans = k;
}

void parc_py_release(PoolObject *p, parc_future *f) {
  if (!f || p->owner != parc_py_pid())
    return; /* a forked copy: the future is not this process's */
  int st = atomic_load(&p->state);
  const void *d;
  size_t n;
  if (st == P_DESTROYED)
    parc_future_free(f); /* detached: touches no pool */
  else if (st == P_DESTROYING || parc_future_bytes(f, &d, &n) == PARC_EAGAIN)
    parc_py_orphan(p, f);
  else
    parc_future_free(f);
}

void parc_py_orphan(PoolObject *p, parc_future *f) {
  if (p->norphans == p->caporphans) {
    if (atomic_load(&p->state) <= P_CLOSING)
      sweep_orphans(p, 0);
    if (p->norphans == p->caporphans) {
      size_t cap = p->caporphans ? 2 * p->caporphans : 64;
      parc_future **q = PyMem_Realloc(p->orphans, cap * sizeof *q);
      if (!q) { /* cannot keep it: the task is canceled */
        if (atomic_load(&p->state) != P_DESTROYING)
          parc_future_free(f);
        return;
      }
      p->orphans = q;
      p->caporphans = cap;
    }
  }
  p->orphans[p->norphans++] = f;
}

/* ---------------------------------------------------------------- create */

static void flush_std(void) {
  static const char *names[] = {"stdout", "stderr"};
  for (int i = 0; i < 2; i++) {
    PyObject *f = PySys_GetObject(names[i]); /* borrowed */
    PyObject *r = f && f != Py_None ? PyObject_CallMethod(f, "flush", NULL)
                                    : NULL;
    Py_XDECREF(r);
    PyErr_Clear();
  }
}

static void free_ctx(pyctx *c) {
  if (!c)
    return;
  Py_XDECREF(c->initializer);
  Py_XDECREF(c->initargs);
  Py_XDECREF(c->registry);
  Py_XDECREF(c->init_exc);
  if (c->initerr)
    parc_shm_free(c->initerr);
  free(c->tstates);
  pthread_mutex_destroy(&c->lock);
  PyMem_Free(c);
}

/* The initializer raised in a worker: transport.initializer_failed. */
static void raise_init_error(pyctx *c) {
  PyObject *what = NULL;
  if (c->backend == PARC_THREADS && c->init_exc) {
    what = c->init_exc;
    Py_INCREF(what);
  } else if (c->initerr && atomic_load(&c->initerr->claimed) &&
             c->initerr->len) {
    what = parc_py_pickle_loads(c->initerr->data, c->initerr->len);
    PyErr_Clear();
  }
  PyObject *fn = parc_py_transport("initializer_failed");
  PyObject *exc = fn ? PyObject_CallFunction(fn, "Oi", what ? what : Py_None,
                                             c->backend)
                     : NULL;
  Py_XDECREF(fn);
  Py_XDECREF(what);
  if (exc) {
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
  }
}

/* main_vars (a dict, or NULL) gets __main__'s names as the workers will
 * have them: copied after the before-fork hooks, with no Python code
 * between it and the fork. (Copied here rather than after the fork, the
 * caller also spares a page copy for each object it touches.) Failing, it
 * stays empty: __main__'s functions then travel by value. */
static void copy_main_vars(PyObject *main_vars) {
  PyObject *mods = PyImport_GetModuleDict(); /* borrowed */
  PyObject *main = mods ? PyDict_GetItemString(mods, "__main__") : NULL;
  PyObject *vars = main && PyModule_Check(main) ? PyModule_GetDict(main) : NULL;
  if (vars && PyDict_Update(main_vars, vars) < 0)
    PyDict_Clear(main_vars);
  PyErr_Clear();
}

static int create(PoolObject *self, parc_pool_opts *o, PyObject *main_vars) {
  int rc;
  if (o->backend == PARC_PROCESSES) {
    flush_std();
    PyOS_BeforeFork();
    if (main_vars)
      copy_main_vars(main_vars);
    rc = parc_pool_create(&self->pool, o);
    PyOS_AfterFork_Parent();
  } else {
    Py_BEGIN_ALLOW_THREADS rc = parc_pool_create(&self->pool, o);
    Py_END_ALLOW_THREADS
  }
  if (rc == PARC_EINIT)
    raise_init_error(self->ctx);
  else if (rc != 0)
    parc_py_raise(rc);
  return rc == 0 ? 0 : -1;
}

static void delete_tstates(pyctx *c);

static int Pool_init(PoolObject *self, PyObject *args, PyObject *kw) {
  static char *kwlist[] = {"backend",     "workers",   "task_timeout",
                           "max_retries", "max_tasks", "initializer",
                           "initargs",    "main_vars", NULL};
  int backend = PARC_PROCESSES;
  unsigned workers = 0, retries = 0, max_tasks = 0;
  double task_timeout = 0;
  PyObject *init = Py_None, *initargs = NULL, *main_vars = NULL;
  if (self->pool || self->ctx) {
    PyErr_SetString(PyExc_RuntimeError, "parc: Pool.__init__ called twice");
    return -1;
  }
  if (!PyArg_ParseTupleAndKeywords(
          args, kw, "|iIdIIOO!O", kwlist, &backend, &workers, &task_timeout,
          &retries, &max_tasks, &init, &PyTuple_Type, &initargs, &main_vars))
    return -1;
  if (main_vars == Py_None)
    main_vars = NULL;
  else if (main_vars && !PyDict_Check(main_vars)) {
    PyErr_SetString(PyExc_TypeError, "parc: main_vars is a dict or None");
    return -1;
  }
  if (backend != PARC_PROCESSES && backend != PARC_THREADS) {
    PyErr_SetString(PyExc_ValueError, "parc: backend is THREADS or PROCESSES");
    return -1;
  }
  pyctx *c = PyMem_Calloc(1, sizeof *c);
  if (!c || pthread_mutex_init(&c->lock, NULL) != 0) {
    PyMem_Free(c);
    PyErr_NoMemory();
    return -1;
  }
  self->ctx = c;
  c->backend = backend;
  if (init != Py_None) {
    Py_INCREF(init);
    c->initializer = init;
    c->initargs = initargs ? initargs : PyTuple_New(0);
    Py_XINCREF(initargs);
    if (backend == PARC_PROCESSES &&
        !(c->initerr = parc_shm_alloc(sizeof *c->initerr + INITERR_BYTES))) {
      PyErr_SetFromErrno(PyExc_OSError);
      return -1;
    }
  }
  if (backend == PARC_THREADS && !(c->registry = PyDict_New()))
    return -1;
  self->backend = backend;
  self->owner = parc_py_pid();
  parc_pool_opts o = {.backend = (parc_backend)backend,
                      .workers = workers,
                      .task_timeout = task_timeout,
                      .max_retries = retries,
                      .max_tasks_per_worker = max_tasks,
                      .init = backend == PARC_THREADS || c->initializer
                                  ? parc_py_worker_init
                                  : NULL,
                      .ctx = c};
  if (create(self, &o, main_vars) < 0) {
    if (backend == PARC_THREADS)
      delete_tstates(c);
    return -1;
  }
  self->workers = parc_pool_workers(self->pool);
  atomic_store(&self->state, P_RUNNING);
  return 0;
}

/* ---------------------------------------------------------------- close */

/* Thread workers' states: their threads have ended (destroy joined them). */
static void delete_tstates(pyctx *c) {
  for (size_t i = 0; i < c->ntstates; i++) {
    PyThreadState_Clear(c->tstates[i]);
    PyThreadState_Delete(c->tstates[i]);
  }
  c->ntstates = 0;
}

static void destroy(PoolObject *self, int cancel_running) {
  atomic_store(&self->state, P_CLOSING);
  parc_pool_wake(self->pool); /* waiters see P_CLOSING and leave */
  if (cancel_running)
    parc_pool_cancel(self->pool, 1);
  while (self->users > 0) nap();
  atomic_store(&self->state, P_DESTROYING);
  parc_pool *pool = self->pool;
  Py_BEGIN_ALLOW_THREADS parc_pool_destroy_ex(pool, cancel_running);
  Py_END_ALLOW_THREADS self->pool = NULL;
  sweep_orphans(self, 1);
  if (self->backend == PARC_THREADS) {
    delete_tstates(self->ctx);
    PyDict_Clear(self->ctx->registry);
  }
  atomic_store(&self->state, P_DESTROYED);
}

/* close(cancel_running=False): destroy the pool (queued tasks canceled;
 * running ones waited for, or killed with cancel_running). */
static PyObject *Pool_close(PoolObject *self, PyObject *args) {
  int cancel = 0;
  if (!PyArg_ParseTuple(args, "|p", &cancel))
    return NULL;
  if (self->owner != parc_py_pid()) { /* a forked copy: forget it */
    self->pool = NULL;
    atomic_store(&self->state, P_DESTROYED);
    Py_RETURN_NONE;
  }
  int st = atomic_load(&self->state);
  if (st == P_RUNNING && self->pool)
    destroy(self, cancel);
  else
    parc_py_await_destroyed(self);
  Py_RETURN_NONE;
}

static void Pool_dealloc(PoolObject *self) {
  if (self->pool && self->owner == parc_py_pid() &&
      atomic_load(&self->state) == P_RUNNING)
    destroy(self, 1);
  if (self->owner == parc_py_pid())
    free_ctx(self->ctx);
  PyMem_Free(self->orphans);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

/* idle(timeout=None): wait until nothing is queued or running; False if
 * the time is up first (for close()+join() and shutdown(wait=True)). In
 * slices, to answer Ctrl-C and leave if the pool is closed meanwhile. */
static PyObject *Pool_idle(PoolObject *self, PyObject *args) {
  double timeout = -1;
  if (!PyArg_ParseTuple(args, "|d", &timeout))
    return NULL;
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    int e = parc_py_enter(self);
    if (e != 0)
      return e == -2 ? NULL : PyBool_FromLong(1);
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double spent = (double)(t1.tv_sec - t0.tv_sec) +
                   1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    double slice = timeout >= 0 && timeout - spent < IDLE_SLICE
                       ? timeout - spent
                       : IDLE_SLICE;
    parc_pool *pool = self->pool;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = parc_pool_drain(pool, slice > 0 ? slice : 0);
    Py_END_ALLOW_THREADS parc_py_leave(self);
    if (rc == 0 || slice <= 0)
      return PyBool_FromLong(rc == 0);
    if (PyErr_CheckSignals() < 0)
      return NULL;
  }
}

/* ---------------------------------------------------------------- submit */

/* The registry entry of a thread task, under a new key. */
PyObject *parc_py_new_entry(PoolObject *self, int kind, PyObject *fn,
                            PyObject *payload, unsigned long long *key) {
  PyObject *entry = Py_BuildValue("[iOOO]", kind, fn, payload, Py_None);
  if (!entry)
    return NULL;
  *key = ++self->next_key;
  PyObject *k = PyLong_FromUnsignedLongLong(*key);
  if (!k || PyDict_SetItem(self->ctx->registry, k, entry) < 0) {
    Py_XDECREF(k);
    Py_DECREF(entry);
    return NULL;
  }
  Py_DECREF(k);
  return entry;
}

/* Drops a thread task's entry if its worker has not taken it; keeps any
 * exception being raised. */
void parc_py_drop_entry(PoolObject *self, unsigned long long key) {
  PyObject *t, *v, *tb;
  PyErr_Fetch(&t, &v, &tb);
  PyObject *k = PyLong_FromUnsignedLongLong(key);
  if (k && PyDict_DelItem(self->ctx->registry, k) < 0)
    PyErr_Clear();
  Py_XDECREF(k);
  PyErr_Restore(t, v, tb);
}

/* The bytes a process task travels as: pickle of (kind, fn_id, fn, payload). */
PyObject *parc_py_message(int kind, PyObject *fn_id, PyObject *fn,
                          PyObject *payload) {
  if (!PyBytes_Check(fn)) {
    PyErr_SetString(PyExc_TypeError, "parc: a process task's function "
                                     "travels pickled (bytes)");
    return NULL;
  }
  msg_head h = {.kind = (uint32_t)kind,
                .fn_len = (uint32_t)PyBytes_GET_SIZE(fn),
                .fn_id = PyLong_AsUnsignedLongLong(fn_id)};
  if (PyErr_Occurred())
    return NULL;
  PyObject *body = parc_py_pickle_dumps(payload);
  if (!body)
    return NULL;
  Py_ssize_t n = (Py_ssize_t)sizeof h + (Py_ssize_t)h.fn_len +
                 PyBytes_GET_SIZE(body);
  PyObject *b = PyBytes_FromStringAndSize(NULL, n);
  if (b) {
    char *d = PyBytes_AS_STRING(b);
    memcpy(d, &h, sizeof h);
    memcpy(d + sizeof h, PyBytes_AS_STRING(fn), h.fn_len);
    memcpy(d + sizeof h + h.fn_len, PyBytes_AS_STRING(body),
           (size_t)PyBytes_GET_SIZE(body));
  }
  Py_DECREF(body);
  return b;
}

int parc_py_running(PoolObject *self) {
  if (atomic_load(&self->state) == P_RUNNING && self->pool)
    return 1;
  PyErr_SetString(PyExc_ValueError, "Pool not running");
  return 0;
}

/* submit(kind, fn_id, fn, payload) -> Task. fn: the pickled function
 * (processes) or the function (threads). */
PyObject *parc_py_submit(PoolObject *self, PyObject *const *args,
                         Py_ssize_t nargs) {
  if (nargs != 4) {
    PyErr_SetString(PyExc_TypeError, "submit(kind, fn_id, fn, payload)");
    return NULL;
  }
  int kind = (int)PyLong_AsLong(args[0]);
  if (kind == -1 && PyErr_Occurred())
    return NULL;
  if (!parc_py_running(self) || parc_py_enter(self) != 0)
    return NULL;
  parc_future *f = NULL;
  PyObject *entry = NULL;
  int rc;
  if (self->backend == PARC_THREADS) {
    unsigned long long key;
    if (!(entry = parc_py_new_entry(self, kind, args[2], args[3], &key))) {
      parc_py_leave(self);
      return NULL;
    }
    rc = parc_submit_bytes(self->pool, parc_py_worker_task, &key, sizeof key,
                           &f);
    if (rc != 0)
      parc_py_drop_entry(self, key);
  } else {
    PyObject *b = parc_py_message(kind, args[1], args[2], args[3]);
    if (!b) {
      parc_py_leave(self);
      return NULL;
    }
    rc = parc_submit_bytes(self->pool, parc_py_worker_task,
                           PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b),
                           &f);
    Py_DECREF(b);
  }
  parc_py_leave(self);
  if (rc != 0) {
    Py_XDECREF(entry);
    return parc_py_raise(rc);
  }
  PyObject *t = parc_py_task_new(self, f, kind, entry);
  Py_XDECREF(entry);
  return t;
}

/* ---------------------------------------------------------------- misc */

/* cancel_queued(): every task not yet started is canceled. */
static PyObject *Pool_cancel_queued(PoolObject *self, PyObject *unused) {
  int e = parc_py_enter(self);
  if (e == -2)
    return NULL;
  if (e == 0) {
    parc_pool_cancel(self->pool, 0);
    parc_py_leave(self);
  }
  Py_RETURN_NONE;
}

static PyObject *Pool_wake(PoolObject *self, PyObject *unused) {
  atomic_fetch_add(&self->wakes, 1);
  if (self->pool && atomic_load(&self->state) <= P_CLOSING &&
      self->owner == parc_py_pid())
    parc_pool_wake(self->pool);
  Py_RETURN_NONE;
}

static PyObject *Pool_get_wakes(PoolObject *self, void *unused) {
  return PyLong_FromUnsignedLong(atomic_load(&self->wakes));
}
static PyObject *Pool_get_workers(PoolObject *self, void *unused) {
  return PyLong_FromUnsignedLong(self->workers);
}
static PyObject *Pool_get_backend(PoolObject *self, void *unused) {
  return PyLong_FromLong(self->backend);
}
static PyObject *Pool_get_state(PoolObject *self, void *unused) {
  return PyLong_FromLong(atomic_load(&self->state));
}

static PyMethodDef Pool_methods[] = {
    {"submit", (PyCFunction)(void (*)(void))parc_py_submit, METH_FASTCALL,
     "submit(kind, fn_id, fn, payload) -> Task"},
    {"submit_future", (PyCFunction)(void (*)(void))parc_py_submit_future,
     METH_FASTCALL,
     "submit_future(cls, owner, kind, fn_id, fn, payload) -> a cls future"},
    {"map", (PyCFunction)parc_py_map, METH_VARARGS,
     "map(kind, fn_id, fn, items, chunksize) -> list of results"},
    {"close", (PyCFunction)Pool_close, METH_VARARGS,
     "close(cancel_running=False): destroy the pool"},
    {"idle", (PyCFunction)Pool_idle, METH_VARARGS,
     "idle(timeout=-1): wait until nothing is queued or running"},
    {"cancel_queued", (PyCFunction)Pool_cancel_queued, METH_NOARGS,
     "cancel every task not yet started"},
    {"wake", (PyCFunction)Pool_wake, METH_NOARGS,
     "end the watcher's current watch_wait"},
    {"watch_wait", (PyCFunction)parc_py_watch_wait, METH_VARARGS,
     "watch_wait(tasks, seen_wakes, timeout=None) -> finished tasks"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Pool_getset[] = {
    {"wakes", (getter)Pool_get_wakes, NULL, "wake() calls so far", NULL},
    {"workers", (getter)Pool_get_workers, NULL, "number of workers", NULL},
    {"backend", (getter)Pool_get_backend, NULL, "THREADS or PROCESSES", NULL},
    {"state", (getter)Pool_get_state, NULL, "0 running, 1 closing, 2-3 gone",
     NULL},
    {NULL, NULL, NULL, NULL, NULL}};

PyTypeObject ParcPyPoolType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "parc._core.Pool",
    .tp_basicsize = sizeof(PoolObject),
    .tp_dealloc = (destructor)Pool_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Pool(backend=PROCESSES, workers=0, task_timeout=0, "
              "max_retries=0, max_tasks=0, initializer=None, initargs=(), "
              "main_vars=None): a libparc pool running Python callables "
              "(use parc.Pool); main_vars, a dict, gets __main__'s names "
              "as at the fork (processes).",
    .tp_methods = Pool_methods,
    .tp_getset = Pool_getset,
    .tp_init = (initproc)Pool_init,
    .tp_new = PyType_GenericNew,
};

static PyObject *worker_id(PyObject *self, PyObject *unused) {
  return PyLong_FromLong(parc_worker_id());
}

/* dumps(obj) / loads(bytes): the pickles tasks travel as (_pool_codec.c),
 * for the tests. */
static PyObject *py_dumps(PyObject *self, PyObject *obj) {
  return parc_py_pickle_dumps(obj);
}

static PyObject *py_loads(PyObject *self, PyObject *arg) {
  Py_buffer v;
  if (PyObject_GetBuffer(arg, &v, PyBUF_SIMPLE) < 0)
    return NULL;
  PyObject *r = parc_py_pickle_loads(v.buf, (size_t)v.len);
  PyBuffer_Release(&v);
  return r;
}

static PyMethodDef pool_functions[] = {
    {"dumps", py_dumps, METH_O,
     "dumps(obj) -> the pickle (protocol 5) a task's arguments travel as"},
    {"loads", py_loads, METH_O, "loads(data) -> the object, as pickle.loads"},
    {"wait_any", parc_py_wait_any, METH_VARARGS,
     "wait_any(tasks, timeout=None) -> index of a finished task, or None"},
    {"worker_id", worker_id, METH_NOARGS,
     "inside a task: the index of the worker running it; else -1"},
    {NULL, NULL, 0, NULL}};

int parc_py_pool_init(PyObject *m) {
  pthread_atfork(NULL, NULL, forget_pid);
  PyObject *pickle = PyImport_ImportModule("pickle");
  if (!pickle)
    return -1;
  pk_dumps = PyObject_GetAttrString(pickle, "dumps");
  pk_loads = PyObject_GetAttrString(pickle, "loads");
  Py_DECREF(pickle);
  pk_protocol = PyLong_FromLong(5);
  if (!pk_dumps || !pk_loads || !pk_protocol)
    return -1;
  if (PyType_Ready(&ParcPyPoolType) < 0 || PyType_Ready(&ParcPyTaskType) < 0)
    return -1;
  Py_INCREF(&ParcPyPoolType);
  if (PyModule_AddObject(m, "Pool", (PyObject *)&ParcPyPoolType) < 0)
    return -1;
  Py_INCREF(&ParcPyTaskType);
  if (PyModule_AddObject(m, "Task", (PyObject *)&ParcPyTaskType) < 0)
    return -1;
  if (PyModule_AddFunctions(m, pool_functions) < 0 ||
      parc_py_future_init(m) < 0)
    return -1;
  static const struct {
    const char *name;
    int value;
  } consts[] = {{"THREADS", PARC_THREADS},
                {"PROCESSES", PARC_PROCESSES},
                {"K_CALL", K_CALL},
                {"K_MAP1", K_MAP1},
                {"K_STAR1", K_STAR1},
                {"K_MAPN", K_MAPN},
                {"K_STARN", K_STARN},
                {"K_MPSTYLE", K_MPSTYLE},
                {"RC_RAISED", RC_RAISED},
                {"RC_LOST", RC_LOST},
                {"PHASE_QUEUED", PHASE_QUEUED},
                {"PHASE_RUNNING", PHASE_RUNNING},
                {"PHASE_DONE", PHASE_DONE}};
  for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++)
    if (PyModule_AddIntConstant(m, consts[i].name, consts[i].value) < 0)
      return -1;
  return 0;
}
