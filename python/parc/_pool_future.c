/* _pool_future.c -- the hot paths of parc.futures.Future, in C.
 *
 * A Future (futures.py) is a concurrent.futures.Future whose task is a
 * Task. Settling it -- taking the task's outcome into _state, _result,
 * _exception -- must happen once, and must not slip between a thread that
 * registers a callback or a waiter and one that settles: both do their
 * check-and-change here, in C, holding the GIL and calling no Python code
 * in between, so each is atomic for every other Python thread. Then the
 * one who settled tells the listeners (Future._tell, in Python).
 *
 *   Pool.submit_future(cls, owner, kind, fn_id, fn, payload) -> a cls
 *       whose task was just submitted (cls.__init__ is not run)
 *   settle(future, timeout=None): waits for its task (in C, without the
 *       GIL) and settles it; parc.TimeoutError if the time is up first
 *   add_callback(future, fn) -> True if appended (not yet settled)
 */
#include "_pool.h"

static PyObject *s_PENDING, *s_FINISHED, *s_CANCELLED_AND_NOTIFIED;
static PyObject *n_state, *n_result, *n_exception, *n_task, *n_owner, *n_cond,
    *n_w, *n_callbacks, *n_tell;

static int is_pending(PyObject *fut) {
  PyObject *st = PyObject_GetAttr(fut, n_state);
  if (!st)
    return -1;
  int r = st == s_PENDING ? 1 : PyObject_RichCompareBool(st, s_PENDING, Py_EQ);
  Py_DECREF(st);
  return r;
}

/* Truthy attribute? -1 on error. */
static int truthy(PyObject *obj, PyObject *name) {
  PyObject *v = PyObject_GetAttr(obj, name);
  if (!v)
    return -1;
  int r = PyObject_IsTrue(v);
  Py_DECREF(v);
  return r;
}

/* Settles fut with an outcome (code, value): 1 if this call did (and
 * someone listens: `*heard`), 0 if it was settled already, -1. */
static int publish(PyObject *fut, PyObject *outcome, int *heard) {
  int p = is_pending(fut);
  if (p <= 0)
    return p;
  long code = PyLong_AsLong(PyTuple_GET_ITEM(outcome, 0));
  PyObject *v = PyTuple_GET_ITEM(outcome, 1);
  int rc = 0;
  if (code == 0)
    rc = PyObject_SetAttr(fut, n_result, v);
  else if (code != PARC_ECANCELED)
    rc = PyObject_SetAttr(fut, n_exception, v);
  if (rc == 0)
    rc = PyObject_SetAttr(fut, n_state,
                          code == PARC_ECANCELED ? s_CANCELLED_AND_NOTIFIED
                                                 : s_FINISHED);
  if (rc < 0)
    return -1;
  PyObject *cond = PyObject_GetAttr(fut, n_cond);
  if (!cond)
    return -1;
  int w = 0, cb = 0;
  *heard = cond != Py_None || (w = truthy(fut, n_w)) != 0 ||
           (cb = truthy(fut, n_callbacks)) != 0;
  Py_DECREF(cond);
  return w < 0 || cb < 0 ? -1 : 1;
}

static PyObject *settle(PyObject *self, PyObject *args) {
  PyObject *fut, *tmo = Py_None;
  if (!PyArg_ParseTuple(args, "O|O", &fut, &tmo))
    return NULL;
  int p = is_pending(fut);
  if (p <= 0)
    return p < 0 ? NULL : (Py_INCREF(Py_None), Py_None);
  PyObject *task = PyObject_GetAttr(fut, n_task);
  if (!task)
    return NULL;
  if (!PyObject_TypeCheck(task, &ParcPyTaskType)) {
    Py_DECREF(task);
    PyErr_SetString(PyExc_TypeError, "settle: a future of a parc pool");
    return NULL;
  }
  PyObject *outcome = parc_py_task_finish((TaskObject *)task, tmo);
  Py_DECREF(task);
  if (!outcome)
    return NULL;
  int heard = 0;
  int rc = publish(fut, outcome, &heard);
  if (rc == 1 && heard) { /* tell the waiters and callbacks */
    PyObject *r = PyObject_CallMethodObjArgs(
        fut, n_tell, PyTuple_GET_ITEM(outcome, 0), NULL);
    Py_XDECREF(r);
    rc = r ? rc : -1;
  }
  Py_DECREF(outcome);
  if (rc < 0)
    return NULL;
  Py_RETURN_NONE;
}

static PyObject *add_callback(PyObject *self, PyObject *args) {
  PyObject *fut, *fn;
  if (!PyArg_ParseTuple(args, "OO", &fut, &fn))
    return NULL;
  int p = is_pending(fut);
  if (p <= 0)
    return p < 0 ? NULL : PyBool_FromLong(0);
  PyObject *cbs = PyObject_GetAttr(fut, n_callbacks);
  if (!cbs)
    return NULL;
  if (!PyList_CheckExact(cbs)) { /* the class's empty tuple */
    Py_DECREF(cbs);
    if (!(cbs = PyList_New(0)) || PyObject_SetAttr(fut, n_callbacks, cbs) < 0) {
      Py_XDECREF(cbs);
      return NULL;
    }
  }
  int rc = PyList_Append(cbs, fn);
  Py_DECREF(cbs);
  return rc < 0 ? NULL : PyBool_FromLong(1);
}

static PyObject *set_states(PyObject *self, PyObject *args) {
  PyObject *p, *f, *c;
  if (!PyArg_ParseTuple(args, "OOO", &p, &f, &c))
    return NULL;
  Py_INCREF(p);
  Py_INCREF(f);
  Py_INCREF(c);
  Py_XSETREF(s_PENDING, p);
  Py_XSETREF(s_FINISHED, f);
  Py_XSETREF(s_CANCELLED_AND_NOTIFIED, c);
  Py_RETURN_NONE;
}

/* Pool.submit_future(cls, owner, kind, fn_id, fn, payload). */
PyObject *parc_py_submit_future(PoolObject *self, PyObject *const *args,
                                Py_ssize_t nargs) {
  if (nargs != 6 || !PyType_Check(args[0])) {
    PyErr_SetString(PyExc_TypeError,
                    "submit_future(cls, owner, kind, fn_id, fn, payload)");
    return NULL;
  }
  PyTypeObject *cls = (PyTypeObject *)args[0];
  PyObject *task = parc_py_submit(self, args + 2, 4);
  if (!task)
    return NULL;
  PyObject *fut = cls->tp_alloc(cls, 0);
  if (!fut || PyObject_SetAttr(fut, n_task, task) < 0 ||
      PyObject_SetAttr(fut, n_owner, args[1]) < 0)
    Py_CLEAR(fut);
  Py_DECREF(task);
  return fut;
}

static PyMethodDef future_functions[] = {
    {"settle", settle, METH_VARARGS,
     "settle(future, timeout=None): wait for its task and settle it"},
    {"add_callback", add_callback, METH_VARARGS,
     "add_callback(future, fn) -> True if appended (not yet settled)"},
    {"set_future_states", set_states, METH_VARARGS,
     "set_future_states(PENDING, FINISHED, CANCELLED_AND_NOTIFIED)"},
    {NULL, NULL, 0, NULL}};

int parc_py_future_init(PyObject *m) {
#define NAME(v, s)                                                             \
  if (!(v = PyUnicode_InternFromString(s)))                                    \
    return -1;
  NAME(n_state, "_state")
  NAME(n_result, "_result")
  NAME(n_exception, "_exception")
  NAME(n_task, "_task")
  NAME(n_owner, "_owner")
  NAME(n_cond, "_cond")
  NAME(n_w, "_w")
  NAME(n_callbacks, "_done_callbacks")
  NAME(n_tell, "_tell")
#undef NAME
  s_PENDING = PyUnicode_InternFromString("PENDING");
  s_FINISHED = PyUnicode_InternFromString("FINISHED");
  s_CANCELLED_AND_NOTIFIED = PyUnicode_InternFromString(
      "CANCELLED_AND_NOTIFIED");
  if (!s_PENDING || !s_FINISHED || !s_CANCELLED_AND_NOTIFIED)
    return -1;
  return PyModule_AddFunctions(m, future_functions);
}
