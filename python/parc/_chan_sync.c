/* _chan_sync.c -- LockCore and SemCore: parc_lock and parc_sem (made with
 * PARC_SHARED) for parc.Lock, parc.RLock, parc.Semaphore and
 * parc.BoundedSemaphore (synchronize.py).
 *
 * LockCore is a robust mutex: when its holder died holding it, the next
 * acquire gets it, declares it consistent (Python code has no repair to
 * make that libparc could check) and returns 2 instead of 1, so that
 * synchronize.py tells the caller (a LockOwnerDiedWarning and the lock's
 * `owner_died` attribute). A mutex belongs to the thread that locked it:
 * only that thread can release it.
 *
 * Ownership for RLock and Condition (who holds it, how many times) is
 * kept in the entry: this process's memory, read and written with the
 * GIL held. It is exact for the threads of this process, and a forked
 * child's copy names the parent's pid, so it never thinks it holds what
 * its parent held.
 */
#include "_chan.h"

#include <limits.h>
#include <pythread.h>

/* ---------------------------------------------------------------- lock */

/* Entry fields of a lock. */
#define L_RECURSIVE n[0]
#define L_PID n[1]
#define L_TID n[2]
#define L_COUNT n[3]

typedef struct {
  PyObject_HEAD parc_py_ch_entry *e;
  parc_lock *l;
} LockObject;

static PyTypeObject LockType;

static void lock_release_entry(parc_py_ch_entry *e) {
  parc_lock_destroy(e->h[0]); /* this process's use only (parc.h) */
}

static PyObject *lock_wrap(parc_py_ch_entry *e) {
  LockObject *o = PyObject_New(LockObject, &LockType);
  if (!o) {
    parc_py_ch_entry_decref(e);
    return NULL;
  }
  o->e = e;
  o->l = e->h[0];
  return (PyObject *)o;
}

static PyObject *lock_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
  int recursive = 0;
  if (!PyArg_ParseTuple(args, "|p:LockCore", &recursive))
    return NULL;
  parc_lock *l;
  int rc = parc_lock_create(&l, PARC_SHARED);
  if (rc != 0)
    return parc_py_raise(rc);
  parc_py_ch_entry *e = parc_py_ch_entry_new(PARC_PY_CH_LOCK);
  if (!e) {
    parc_lock_destroy(l);
    return NULL;
  }
  e->h[0] = l;
  e->L_RECURSIVE = recursive;
  e->release = lock_release_entry;
  return lock_wrap(e);
}

static void lock_dealloc(LockObject *o) {
  parc_py_ch_entry_decref(o->e);
  PyObject_Free(o);
}

static int mine(parc_py_ch_entry *e) {
  return e->L_COUNT > 0 && e->L_PID == parc_py_ch_pid() &&
         e->L_TID == (int64_t)PyThread_get_thread_ident();
}

static int lock_op(void *ctx, double timeout) {
  return parc_lock_acquire(ctx, timeout);
}

/* 0 (timed out), 1 (acquired) or 2 (acquired; its holder had died), or
 * -1 with an exception. */
static int acquire(LockObject *o, double timeout) {
  parc_py_ch_entry *e = o->e;
  if (e->L_RECURSIVE && mine(e)) {
    e->L_COUNT++;
    return 1;
  }
  int rc = parc_py_ch_block(lock_op, o->l, timeout);
  int got = 1;
  if (rc == PARC_EOWNERDEAD) {
    parc_lock_consistent(o->l);
    got = 2;
  } else if (rc == PARC_EAGAIN || rc == PARC_ETIMEDOUT) {
    return 0;
  } else if (rc != 0) {
    parc_py_ch_raise(rc);
    return -1;
  }
  e->L_PID = parc_py_ch_pid();
  e->L_TID = (int64_t)PyThread_get_thread_ident();
  e->L_COUNT = 1;
  return got;
}

static PyObject *lock_acquire(LockObject *o, PyObject *args, PyObject *kw) {
  static char *names[] = {"block", "timeout", NULL};
  PyObject *block = Py_True, *timeout_obj = Py_None;
  double timeout;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO:acquire", names, &block,
                                   &timeout_obj) ||
      parc_py_ch_timeout(block, timeout_obj, &timeout) < 0)
    return NULL;
  int got = acquire(o, timeout);
  return got < 0 ? NULL : PyLong_FromLong(got);
}

static int release(LockObject *o) {
  parc_py_ch_entry *e = o->e;
  if (e->L_RECURSIVE) {
    if (!mine(e)) {
      PyErr_SetString(PyExc_AssertionError,
                      "attempt to release recursive lock not owned by thread");
      return -1;
    }
    if (--e->L_COUNT > 0)
      return 0;
  } else if (mine(e)) {
    e->L_COUNT = 0;
  }
  if (parc_lock_release(o->l) != 0) {
    PyErr_SetString(PyExc_ValueError,
                    "semaphore or lock released too many times (or by a "
                    "thread that does not hold it: a parc lock is a mutex, "
                    "released by the thread that acquired it)");
    return -1;
  }
  e->L_COUNT = 0;
  e->L_PID = 0;
  return 0;
}

static PyObject *lock_release(LockObject *o, PyObject *unused) {
  if (release(o) < 0)
    return NULL;
  Py_RETURN_NONE;
}

static PyObject *lock_is_mine(LockObject *o, PyObject *unused) {
  return PyBool_FromLong(mine(o->e));
}

static PyObject *lock_count(LockObject *o, PyObject *unused) {
  return PyLong_FromLongLong(mine(o->e) ? o->e->L_COUNT : 0);
}

/* For Condition.wait: releases every level this thread holds; returns the
 * count to give back to acquire_restore. */
static PyObject *lock_release_save(LockObject *o, PyObject *unused) {
  parc_py_ch_entry *e = o->e;
  if (!mine(e)) {
    PyErr_SetString(PyExc_AssertionError,
                    "attempt to release a lock not owned by thread");
    return NULL;
  }
  long long count = e->L_COUNT;
  e->L_COUNT = 1; /* so that release() below drops the last level */
  if (release(o) < 0)
    return NULL;
  return PyLong_FromLongLong(count);
}

/* Waits for the lock (for ever, in slices), then holds it `count` times.
 * Returns what acquire returned (1, or 2: its holder had died). */
static PyObject *lock_acquire_restore(LockObject *o, PyObject *args) {
  long long count;
  if (!PyArg_ParseTuple(args, "L", &count))
    return NULL;
  int got = acquire(o, -1);
  if (got < 0)
    return NULL;
  o->e->L_COUNT = count > 0 ? count : 1;
  return PyLong_FromLong(got);
}

static PyObject *lock_get_recursive(LockObject *o, void *unused) {
  return PyBool_FromLong((long)o->e->L_RECURSIVE);
}

static PyMethodDef lock_methods[] = {
    {"acquire", (PyCFunction)(void (*)(void))lock_acquire,
     METH_VARARGS | METH_KEYWORDS,
     "acquire(block=True, timeout=None): 0 timed out, 1 acquired, 2 "
     "acquired after its holder died."},
    {"release", (PyCFunction)lock_release, METH_NOARGS, NULL},
    {"is_mine", (PyCFunction)lock_is_mine, METH_NOARGS, NULL},
    {"count", (PyCFunction)lock_count, METH_NOARGS, NULL},
    {"release_save", (PyCFunction)lock_release_save, METH_NOARGS, NULL},
    {"acquire_restore", (PyCFunction)lock_acquire_restore, METH_VARARGS, NULL},
    {"__reduce__", parc_py_ch_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef lock_getset[] = {
    {"recursive", (getter)lock_get_recursive, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject LockType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "parc._core.LockCore",
    .tp_basicsize = sizeof(LockObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "LockCore(recursive=False): a robust parc_lock shared with "
              "processes forked after it (parc internals).",
    .tp_new = lock_new,
    .tp_dealloc = (destructor)lock_dealloc,
    .tp_methods = lock_methods,
    .tp_getset = lock_getset,
};

/* ---------------------------------------------------------------- sem */

#define S_MAX n[0] /* BoundedSemaphore's bound; -1: none */

typedef struct {
  PyObject_HEAD parc_py_ch_entry *e;
  parc_sem *s;
} SemObject;

static PyTypeObject SemType;

static void sem_release_entry(parc_py_ch_entry *e) {
  parc_sem_destroy(e->h[0]); /* this process's use only (parc.h) */
}

static PyObject *sem_wrap(parc_py_ch_entry *e) {
  SemObject *o = PyObject_New(SemObject, &SemType);
  if (!o) {
    parc_py_ch_entry_decref(e);
    return NULL;
  }
  o->e = e;
  o->s = e->h[0];
  return (PyObject *)o;
}

static PyObject *sem_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
  long long value, bound = -1;
  if (!PyArg_ParseTuple(args, "L|L:SemCore", &value, &bound))
    return NULL;
  parc_sem *s;
  int rc = value < 0 || value > UINT_MAX
               ? PARC_EINVAL
               : parc_sem_create(&s, (unsigned)value, PARC_SHARED);
  if (rc == PARC_EINVAL) { /* beyond what a semaphore counts */
    PyErr_SetString(PyExc_ValueError, "semaphore initial value out of range");
    return NULL;
  }
  if (rc != 0)
    return parc_py_raise(rc);
  parc_py_ch_entry *e = parc_py_ch_entry_new(PARC_PY_CH_SEM);
  if (!e) {
    parc_sem_destroy(s);
    return NULL;
  }
  e->h[0] = s;
  e->S_MAX = bound;
  e->release = sem_release_entry;
  return sem_wrap(e);
}

static void sem_dealloc(SemObject *o) {
  parc_py_ch_entry_decref(o->e);
  PyObject_Free(o);
}

/* The count now, or -1 with an exception. */
static long long sem_value(parc_sem *s) {
  unsigned v;
  int rc = parc_sem_value(s, &v);
  if (rc != 0) {
    parc_py_raise(rc);
    return -1;
  }
  return v;
}

static int sem_op(void *ctx, double timeout) {
  return parc_sem_wait(ctx, timeout);
}

static PyObject *sem_acquire(SemObject *o, PyObject *args, PyObject *kw) {
  static char *names[] = {"block", "timeout", NULL};
  PyObject *block = Py_True, *timeout_obj = Py_None;
  double timeout;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|OO:acquire", names, &block,
                                   &timeout_obj) ||
      parc_py_ch_timeout(block, timeout_obj, &timeout) < 0)
    return NULL;
  int rc = parc_py_ch_block(sem_op, o->s, timeout);
  if (rc == 0)
    Py_RETURN_TRUE;
  if (rc == PARC_EAGAIN || rc == PARC_ETIMEDOUT)
    Py_RETURN_FALSE;
  return parc_py_ch_raise(rc);
}

static PyObject *sem_release(SemObject *o, PyObject *args) {
  int n = 1;
  if (!PyArg_ParseTuple(args, "|i:release", &n))
    return NULL;
  if (n < 1) {
    PyErr_SetString(PyExc_ValueError, "n must be one or more");
    return NULL;
  }
  for (int i = 0; i < n; i++) {
    if (o->e->S_MAX >= 0) {
      long long v = sem_value(o->s);
      if (v < 0)
        return NULL;
      if (v >= o->e->S_MAX) {
        PyErr_SetString(PyExc_ValueError,
                        "semaphore or lock released too many times");
        return NULL;
      }
    }
    int rc = parc_sem_post(o->s);
    if (rc != 0)
      return parc_py_raise(rc);
  }
  Py_RETURN_NONE;
}

static PyObject *sem_get_value(SemObject *o, PyObject *unused) {
  long long v = sem_value(o->s);
  return v < 0 ? NULL : PyLong_FromLongLong(v);
}

static PyMethodDef sem_methods[] = {
    {"acquire", (PyCFunction)(void (*)(void))sem_acquire,
     METH_VARARGS | METH_KEYWORDS, NULL},
    {"release", (PyCFunction)sem_release, METH_VARARGS, NULL},
    {"get_value", (PyCFunction)sem_get_value, METH_NOARGS, NULL},
    {"__reduce__", parc_py_ch_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyTypeObject SemType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "parc._core.SemCore",
    .tp_basicsize = sizeof(SemObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "SemCore(value, bound=-1): a parc_sem shared with processes "
              "forked after it (parc internals).",
    .tp_new = sem_new,
    .tp_dealloc = (destructor)sem_dealloc,
    .tp_methods = sem_methods,
};

/* ---------------------------------------------------------------- init */

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

int parc_py_ch_sync_init(PyObject *m) {
  if (add_type(m, &LockType, "LockCore") < 0 ||
      add_type(m, &SemType, "SemCore") < 0)
    return -1;
  parc_py_ch_register_kind(PARC_PY_CH_LOCK, lock_wrap, "lock");
  parc_py_ch_register_kind(PARC_PY_CH_SEM, sem_wrap, "semaphore");
  return 0;
}
