/* _pool_task.c -- the Task type: one libparc bytes future of a Python pool
 * (see _pool.h), and the waits.
 *
 * Every wait is libparc's own (parc_future_wait, parc_wait_any), in the
 * calling thread, without the GIL: the waiting thread drives the pool, and
 * spins on its doorbell before it sleeps only while that pays (libparc
 * measures it). It waits in slices of at most SLICE seconds; between
 * slices it takes the GIL back to answer Ctrl-C (PyErr_CheckSignals:
 * KeyboardInterrupt in the main thread) and leaves if its pool is closing
 * (close() also ends the slice at once: parc_pool_wake). A task's outcome
 * is made once, the first time it is asked for, and kept: (0, value) or
 * (code, exception).
 *
 * A task dropped before it finished keeps running (as a dropped
 * concurrent.futures.Future does): its future goes to the pool's orphans,
 * freed once finished.
 */
#include <math.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "_pool.h"

#define SLICE 0.05

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The next slice of a wait that ends at `deadline`. */
static double slice_of(double deadline) {
  double left = deadline - now_s();
  return left < SLICE ? (left > 1e-6 ? left : 1e-6) : SLICE;
}

static int finished(parc_future *f) {
  const void *d;
  size_t n;
  return parc_future_bytes(f, &d, &n) != PARC_EAGAIN;
}

PyObject *parc_py_task_new(PoolObject *pool, parc_future *f, int kind,
                           PyObject *entry) {
  TaskObject *t = PyObject_New(TaskObject, &ParcPyTaskType);
  if (!t) {
    parc_future_free(f);
    return NULL;
  }
  Py_INCREF(pool);
  t->pool = pool;
  t->f = f;
  t->kind = kind;
  Py_XINCREF(entry);
  t->entry = entry;
  t->outcome = NULL;
  t->collecting = 0;
  return (PyObject *)t;
}

static void Task_dealloc(TaskObject *t) {
  parc_py_release(t->pool, t->f);
  Py_XDECREF(t->entry);
  Py_XDECREF(t->outcome);
  Py_DECREF(t->pool);
  PyObject_Free(t);
}

/* ---------------------------------------------------------------- waits */

int parc_py_future_wait(PoolObject *pool, parc_future *f, double timeout) {
  double deadline = timeout < 0 ? INFINITY : now_s() + timeout;
  for (;;) {
    if (!f || finished(f))
      return 1;
    int e = parc_py_enter(pool);
    if (e != 0)
      return e == -2 ? -1 : 1; /* destroyed: every future is finished */
    double slice = slice_of(deadline);
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = parc_future_wait(f, NULL, slice, NULL);
    Py_END_ALLOW_THREADS parc_py_leave(pool);
    if (rc != PARC_EAGAIN)
      return 1;
    if (PyErr_CheckSignals() < 0)
      return -1;
    if (now_s() >= deadline)
      return 0;
  }
}

int parc_py_futures_wait_any(PoolObject *pool, parc_future **fs, size_t n,
                             double timeout, size_t *index) {
  double deadline = timeout < 0 ? INFINITY : now_s() + timeout;
  for (size_t i = 0; i < n; i++)
    if (!fs[i] || finished(fs[i])) {
      *index = i;
      return 1;
    }
  for (;;) {
    int e = parc_py_enter(pool);
    if (e != 0) { /* destroyed: all finished */
      *index = 0;
      return e == -2 ? -1 : 1;
    }
    double slice = slice_of(deadline);
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = parc_wait_any(fs, n, slice, index);
    Py_END_ALLOW_THREADS parc_py_leave(pool);
    if (rc == 0)
      return 1;
    if (rc != PARC_ETIMEDOUT) {
      parc_py_raise(rc);
      return -1;
    }
    if (PyErr_CheckSignals() < 0)
      return -1;
    if (now_s() >= deadline)
      return 0;
  }
}

int parc_py_task_wait(TaskObject *t, double timeout) {
  return parc_py_future_wait(t->pool, t->f, timeout);
}

/* ---------------------------------------------------------------- outcome */

PyObject *parc_py_entry_outcome(PyObject *entry, const parc_task_status *st,
                                int kind) {
  PyObject *o = PyList_GET_ITEM(entry, 3);
  if ((st->error == 0 || st->error == PARC_ETASK) && PyTuple_Check(o)) {
    long code = PyLong_AsLong(PyTuple_GET_ITEM(o, 0));
    PyObject *v = PyTuple_GET_ITEM(o, 1);
    return code == 0 ? Py_BuildValue("(iO)", 0, v)
                     : Py_BuildValue("(iO)", PARC_ETASK, v);
  }
  int err = st->error ? st->error : PARC_ECANCELED;
  PyObject *exc = parc_py_failure(err, NULL, st, kind);
  return exc ? Py_BuildValue("(iN)", err, exc) : NULL;
}

PyObject *parc_py_bytes_outcome(parc_future *f, int kind, int err,
                                const parc_task_status *st) {
  const void *d = NULL;
  size_t n = 0;
  parc_future_bytes(f, &d, &n);
  return parc_py_data_outcome(d, n, kind, err, st);
}

PyObject *parc_py_data_outcome(const void *d, size_t n, int kind, int err,
                               const parc_task_status *st) {
  if (err == 0) {
    PyObject *v = parc_py_pickle_loads(d, n);
    if (v)
      return Py_BuildValue("(iN)", 0, v);
    PyObject *tp, *exc, *tb; /* the result cannot be read here */
    PyErr_Fetch(&tp, &exc, &tb);
    PyErr_NormalizeException(&tp, &exc, &tb);
    Py_XDECREF(tp);
    Py_XDECREF(tb);
    return exc ? Py_BuildValue("(iN)", PARC_ETASK, exc) : NULL;
  }
  PyObject *payload = NULL;
  if (err == PARC_ETASK && st->task_rc == RC_RAISED && n > 0) {
    payload = parc_py_pickle_loads(d, n);
    if (!payload) { /* the exception cannot be read here: say why */
      PyObject *tp, *tb;
      PyErr_Fetch(&tp, &payload, &tb);
      PyErr_NormalizeException(&tp, &payload, &tb);
      Py_XDECREF(tp);
      Py_XDECREF(tb);
    }
  }
  PyObject *exc = parc_py_failure(err, payload, st, kind);
  Py_XDECREF(payload);
  return exc ? Py_BuildValue("(iN)", err, exc) : NULL;
}

/* The outcome of a finished task (a new reference), made once. */
static PyObject *task_outcome(TaskObject *t) {
  while (t->collecting && !t->outcome) { /* another thread is making it */
    Py_BEGIN_ALLOW_THREADS sched_yield();
    Py_END_ALLOW_THREADS
  }
  if (t->outcome) {
    Py_INCREF(t->outcome);
    return t->outcome;
  }
  t->collecting = 1;
  parc_task_status st = {0};
  int err = parc_future_wait(t->f, NULL, 0, &st);
  PyObject *out = t->entry ? parc_py_entry_outcome(t->entry, &st, t->kind)
                           : parc_py_bytes_outcome(t->f, t->kind, err, &st);
  t->collecting = 0;
  if (!out)
    return NULL;
  t->outcome = out;
  Py_CLEAR(t->entry); /* the outcome holds what is needed */
  Py_INCREF(out);
  return out;
}

/* ---------------------------------------------------------------- methods */

static int parse_timeout(PyObject *arg, double *timeout) {
  *timeout = -1;
  if (arg == Py_None)
    return 0;
  double t = PyFloat_AsDouble(arg);
  if (t == -1 && PyErr_Occurred())
    return -1;
  *timeout = t < 0 ? 0 : t;
  return 0;
}

static PyObject *Task_wait(TaskObject *t, PyObject *const *args, Py_ssize_t n) {
  double timeout = -1;
  if (n > 1) {
    PyErr_SetString(PyExc_TypeError, "wait(timeout=None)");
    return NULL;
  }
  if (n == 1 && parse_timeout(args[0], &timeout) < 0)
    return NULL;
  int rc = parc_py_task_wait(t, timeout);
  if (rc < 0)
    return NULL;
  return PyBool_FromLong(rc);
}

static PyObject *Task_done(TaskObject *t, PyObject *unused) {
  return PyBool_FromLong(!t->f || finished(t->f));
}

static PyObject *Task_phase(TaskObject *t, PyObject *unused) {
  if (!t->f || finished(t->f))
    return PyLong_FromLong(PHASE_DONE);
  int e = parc_py_enter(t->pool);
  if (e == -2)
    return NULL;
  int ph = e < 0 ? PHASE_DONE : (int)parc_future_get_state(t->f);
  if (e == 0)
    parc_py_leave(t->pool);
  return PyLong_FromLong(ph);
}

/* cancel(): a task not yet started never runs (True); else False. */
static PyObject *Task_cancel(TaskObject *t, PyObject *unused) {
  if (!t->f || finished(t->f))
    Py_RETURN_FALSE;
  int e = parc_py_enter(t->pool);
  if (e == -2)
    return NULL;
  int rc = e < 0 ? PARC_EAGAIN : parc_future_cancel_ex(t->f, 0);
  if (e == 0)
    parc_py_leave(t->pool);
  return PyBool_FromLong(rc == 0);
}

/* kill(): cancel even a running task (its process worker is killed). */
static PyObject *Task_kill(TaskObject *t, PyObject *unused) {
  if (!t->f || finished(t->f))
    Py_RETURN_FALSE;
  int e = parc_py_enter(t->pool);
  if (e == -2)
    return NULL;
  int rc = e < 0 ? PARC_EAGAIN : parc_future_cancel(t->f);
  if (e == 0)
    parc_py_leave(t->pool);
  return PyBool_FromLong(rc == 0);
}

static PyObject *Task_outcome(TaskObject *t, PyObject *unused) {
  if (t->f && !finished(t->f)) {
    PyErr_SetString(PyExc_RuntimeError, "parc: the task has not finished");
    return NULL;
  }
  return task_outcome(t);
}

/* Raises the exception of an outcome, or returns its value. */
static PyObject *deliver(PyObject *out) {
  PyObject *v = PyTuple_GET_ITEM(out, 1);
  if (PyLong_AsLong(PyTuple_GET_ITEM(out, 0)) == 0) {
    Py_INCREF(v);
    Py_DECREF(out);
    return v;
  }
  PyErr_SetObject((PyObject *)Py_TYPE(v), v);
  Py_DECREF(out);
  return NULL;
}

PyObject *parc_py_task_finish(TaskObject *t, PyObject *timeout_obj) {
  double timeout = -1;
  if (timeout_obj && parse_timeout(timeout_obj, &timeout) < 0)
    return NULL;
  if (t->outcome) {
    Py_INCREF(t->outcome);
    return t->outcome;
  }
  int rc = parc_py_task_wait(t, timeout);
  if (rc < 0)
    return NULL;
  if (rc == 0) {
    PyObject *mk = parc_py_transport("wait_timeout");
    PyObject *exc = mk ? PyObject_CallNoArgs(mk) : NULL;
    Py_XDECREF(mk);
    if (exc) {
      PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
      Py_DECREF(exc);
    }
    return NULL;
  }
  return task_outcome(t);
}

/* finish(timeout=None) -> (0, value) or (code, exception): wait and
 * outcome in one call; parc.TimeoutError when the time is up first. */
static PyObject *Task_finish(TaskObject *t, PyObject *const *args,
                             Py_ssize_t n) {
  if (n > 1) {
    PyErr_SetString(PyExc_TypeError, "finish(timeout=None)");
    return NULL;
  }
  return parc_py_task_finish(t, n == 1 ? args[0] : NULL);
}

/* result(timeout=None): the value, or the task's exception raised;
 * parc.TimeoutError when the time is up first. */
static PyObject *Task_result(TaskObject *t, PyObject *const *args,
                             Py_ssize_t n) {
  PyObject *out = Task_finish(t, args, n);
  return out ? deliver(out) : NULL;
}

static PyObject *Task_get_kind(TaskObject *t, void *unused) {
  return PyLong_FromLong(t->kind);
}

static PyMethodDef Task_methods[] = {
    {"wait", (PyCFunction)(void (*)(void))Task_wait, METH_FASTCALL,
     "wait(timeout=None) -> True once finished, False if the time is up"},
    {"done", (PyCFunction)Task_done, METH_NOARGS, "finished?"},
    {"phase", (PyCFunction)Task_phase, METH_NOARGS,
     "0 queued, 1 running, 2 finished"},
    {"cancel", (PyCFunction)Task_cancel, METH_NOARGS,
     "cancel if not started: True if it will never run"},
    {"kill", (PyCFunction)Task_kill, METH_NOARGS,
     "cancel even if running (a process worker is killed and replaced)"},
    {"outcome", (PyCFunction)Task_outcome, METH_NOARGS,
     "(0, value) or (code, exception) of a finished task"},
    {"finish", (PyCFunction)(void (*)(void))Task_finish, METH_FASTCALL,
     "finish(timeout=None) -> (0, value) or (code, exception)"},
    {"result", (PyCFunction)(void (*)(void))Task_result, METH_FASTCALL,
     "result(timeout=None): the value, or the task's exception raised"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Task_getset[] = {
    {"kind", (getter)Task_get_kind, NULL, "the task's kind (K_*)", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

PyTypeObject ParcPyTaskType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "parc._core.Task",
    .tp_basicsize = sizeof(TaskObject),
    .tp_dealloc = (destructor)Task_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One task of a pool (made by Pool.submit).",
    .tp_methods = Task_methods,
    .tp_getset = Task_getset,
};

/* ---------------------------------------------------------------- any */

/* wait_any(tasks, timeout=None): the index of a finished task (the lowest
 * first), or None when the time is up. All of one pool. */
PyObject *parc_py_wait_any(PyObject *self, PyObject *args) {
  PyObject *seq, *tmo = Py_None;
  double timeout;
  if (!PyArg_ParseTuple(args, "O|O", &seq, &tmo) ||
      parse_timeout(tmo, &timeout) < 0)
    return NULL;
  PyObject *fast = PySequence_Fast(seq, "wait_any: a sequence of tasks");
  if (!fast)
    return NULL;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
  PyObject *result = NULL;
  parc_future **fs = PyMem_Calloc(n ? (size_t)n : 1, sizeof *fs);
  PoolObject *pool = NULL;
  if (!fs) {
    PyErr_NoMemory();
    goto out;
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *o = PySequence_Fast_GET_ITEM(fast, i);
    if (!PyObject_TypeCheck(o, &ParcPyTaskType)) {
      PyErr_SetString(PyExc_TypeError, "wait_any: a sequence of tasks");
      goto out;
    }
    TaskObject *t = (TaskObject *)o;
    if (pool && t->pool != pool) {
      PyErr_SetString(PyExc_ValueError, "wait_any: tasks of one pool");
      goto out;
    }
    pool = t->pool;
    fs[i] = t->f;
    if (!t->f || finished(t->f)) {
      result = PyLong_FromSsize_t(i);
      goto out;
    }
  }
  if (n == 0) {
    result = Py_None;
    Py_INCREF(result);
    goto out;
  }
  size_t idx = 0;
  int rc = parc_py_futures_wait_any(pool, fs, (size_t)n, timeout, &idx);
  if (rc > 0)
    result = PyLong_FromSize_t(idx);
  else if (rc == 0) {
    result = Py_None;
    Py_INCREF(result);
  }
out:
  PyMem_Free(fs);
  Py_DECREF(fast);
  return result;
}

/* Pool.watch_wait(tasks, seen, timeout): the finished tasks among `tasks`
 * (at least one), or [] once the pool's wake count is no longer `seen`
 * (Pool.wake, whose parc_pool_wake ends the wait at once), the pool is
 * closing, or the time is up. For the watcher thread (parc/_watch.py),
 * which waits elsewhere while it watches nothing. parc_pool_wake ends the
 * waits that have begun: a wake that falls between the look at `wakes`
 * below and the start of libparc's wait is seen at the end of the slice. */
PyObject *parc_py_watch_wait(PoolObject *self, PyObject *args) {
  PyObject *seq, *tmo = Py_None;
  unsigned long seen;
  double timeout;
  if (!PyArg_ParseTuple(args, "Ok|O", &seq, &seen, &tmo) ||
      parse_timeout(tmo, &timeout) < 0)
    return NULL;
  PyObject *fast = PySequence_Fast(seq, "watch_wait: a sequence of tasks");
  if (!fast)
    return NULL;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
  PyObject *result = NULL;
  parc_future **fs = PyMem_Calloc(n ? (size_t)n : 1, sizeof *fs);
  char *hit = PyMem_Calloc(n ? (size_t)n : 1, 1);
  if (!fs || !hit) {
    PyErr_NoMemory();
    goto out;
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *o = PySequence_Fast_GET_ITEM(fast, i);
    if (!PyObject_TypeCheck(o, &ParcPyTaskType) ||
        ((TaskObject *)o)->pool != self || !((TaskObject *)o)->f) {
      PyErr_SetString(PyExc_TypeError, "watch_wait: tasks of this pool");
      goto out;
    }
    fs[i] = ((TaskObject *)o)->f;
  }
  int e = parc_py_enter(self);
  if (e == -2)
    goto out;
  if (e == 0) {
    double deadline = timeout < 0 ? INFINITY : now_s() + timeout;
    Py_BEGIN_ALLOW_THREADS for (int any = 0;;) {
      for (Py_ssize_t i = 0; i < n; i++)
        if (finished(fs[i]))
          any = hit[i] = 1;
      double left = deadline - now_s();
      if (any || n == 0 || atomic_load(&self->wakes) != (uint32_t)seen ||
          atomic_load(&self->state) != P_RUNNING || left <= 0)
        break;
      size_t i;
      parc_wait_any(fs, (size_t)n, left < SLICE ? left : SLICE, &i);
    }
    Py_END_ALLOW_THREADS parc_py_leave(self);
  } else { /* destroyed: all finished */
    memset(hit, 1, (size_t)n);
  }
  result = PyList_New(0);
  for (Py_ssize_t i = 0; result && i < n; i++)
    if (hit[i] && PyList_Append(result, PySequence_Fast_GET_ITEM(fast, i)) < 0)
      Py_CLEAR(result);
out:
  PyMem_Free(fs);
  PyMem_Free(hit);
  Py_DECREF(fast);
  return result;
}
