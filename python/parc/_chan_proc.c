/* _chan_proc.c -- Proc: a child process forked by parc_proc_start that
 * runs a Python callable, for parc.Process (process.py).
 *
 * Python's fork protocol: PyOS_BeforeFork and PyOS_AfterFork_Parent around
 * the fork in the parent, PyOS_AfterFork_Child first thing in the child
 * (process.py has flushed sys.stdout and sys.stderr before). The child
 * calls the callable, which returns the exit code; libparc then flushes C
 * stdio and _exit()s, so the child never runs the parent's atexit
 * handlers or finalizers.
 *
 * Start may wait for the child to say it is ready (a byte on a pipe made
 * for that start, or the pipe's end when the child dies first): Process
 * uses it to have the pipe ends it passes bound to the child before
 * start() returns (_chan_pipe.c).
 *
 * Join waits on the child's pidfd (parc_proc_join) in slices, so it takes
 * a timeout and Ctrl-C; once the child is reaped its handle is freed at
 * once, so a finished Process holds no descriptor.
 */
#include "_chan.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct {
  PyObject_HEAD parc_proc *p; /* NULL once reaped */
  int pid;
  int exitcode; /* valid once reaped */
  int sentinel; /* -1 until asked for */
} ProcObject;

static PyTypeObject ProcType;

typedef struct {
  PyObject *fn;
  int ready[2]; /* the start's pipe; -1 when start does not wait */
} child_arg;

static int ready_fd = -1; /* in a child: where to say it is ready */

static int child_main(void *arg) {
  child_arg *a = arg;
  PyOS_AfterFork_Child();
  if (a->ready[0] >= 0)
    close(a->ready[0]);
  ready_fd = a->ready[1];
  PyObject *r = PyObject_CallNoArgs(a->fn);
  long code = 1;
  if (r && PyLong_Check(r))
    code = PyLong_AsLong(r);
  if (!r || PyErr_Occurred())
    PyErr_Print();
  Py_XDECREF(r);
  return (int)(code & 0xff);
}

/* In the child: tells a parent waiting in start() to go on. */
static PyObject *child_ready(PyObject *m, PyObject *unused) {
  if (ready_fd >= 0) {
    char one = 1;
    ssize_t w = write(ready_fd, &one, 1);
    (void)w; /* a parent that is gone does not wait */
    close(ready_fd);
    ready_fd = -1;
  }
  Py_RETURN_NONE;
}

/* start(fn, wait_ready=False) -> Proc: forks; the child calls fn() and
 * exits with what it returns. */
static PyObject *start(PyObject *m, PyObject *args) {
  PyObject *fn;
  int wait_ready = 0;
  if (!PyArg_ParseTuple(args, "O|p:start", &fn, &wait_ready))
    return NULL;
  ProcObject *o = PyObject_New(ProcObject, &ProcType);
  if (!o)
    return NULL;
  o->p = NULL;
  o->sentinel = -1;
  o->exitcode = 0;
  child_arg a = {fn, {-1, -1}};
  if (wait_ready && pipe2(a.ready, O_CLOEXEC) < 0) {
    Py_DECREF(o);
    return PyErr_SetFromErrno(PyExc_OSError);
  }
  PyOS_BeforeFork();
  int rc = parc_proc_start(&o->p, child_main, &a, sizeof a);
  PyOS_AfterFork_Parent();
  if (a.ready[1] >= 0)
    close(a.ready[1]);
  if (rc != 0) {
    if (a.ready[0] >= 0)
      close(a.ready[0]);
    Py_DECREF(o);
    return parc_py_raise(rc);
  }
  o->pid = parc_proc_pid(o->p);
  if (a.ready[0] >= 0) { /* a byte, or the end of the pipe if it died */
    char byte;
    ssize_t n;
    do {
      Py_BEGIN_ALLOW_THREADS n = read(a.ready[0], &byte, 1);
      Py_END_ALLOW_THREADS
    } while (n < 0 && errno == EINTR && PyErr_CheckSignals() == 0);
    close(a.ready[0]);
    if (PyErr_Occurred()) {
      Py_DECREF(o);
      return NULL;
    }
  }
  return (PyObject *)o;
}

static void proc_dealloc(ProcObject *o) {
  if (o->p) {
    parc_proc_status st;
    if (parc_proc_join(o->p, &st, 0) == 0)
      parc_proc_free(o->p);
    /* else: still running -- parc_proc_free would kill it; a dropped
     * Process does not (multiprocessing's does not either) */
  }
  if (o->sentinel >= 0)
    close(o->sentinel);
  PyObject_Free(o);
}

/* ---------------------------------------------------------------- wait */

static int join_op(void *ctx, double timeout) {
  ProcObject *o = ctx;
  parc_proc_status st;
  int rc = parc_proc_join(o->p, &st, timeout);
  if (rc == 0)
    o->exitcode = st.signal ? -st.signal : st.exit_code;
  return rc;
}

/* Reaps it if it ended within timeout: 1 reaped, 0 running, -1 error. */
static int reap(ProcObject *o, double timeout) {
  if (!o->p)
    return 1;
  int rc = parc_py_ch_block(join_op, o, timeout);
  if (rc == 0) {
    parc_proc_free(o->p);
    o->p = NULL;
    return 1;
  }
  if (rc == PARC_EAGAIN || rc == PARC_ETIMEDOUT)
    return 0;
  parc_py_ch_raise(rc);
  return -1;
}

/* join(timeout=None) -> exit code (negative: the signal), or None. */
static PyObject *proc_join(ProcObject *o, PyObject *args) {
  PyObject *timeout_obj = Py_None;
  double timeout;
  if (!PyArg_ParseTuple(args, "|O:join", &timeout_obj) ||
      parc_py_ch_timeout1(timeout_obj, &timeout) < 0)
    return NULL;
  int r = reap(o, timeout);
  if (r < 0)
    return NULL;
  if (r == 0)
    Py_RETURN_NONE;
  return PyLong_FromLong(o->exitcode);
}

/* poll() -> exit code, or None while it runs. */
static PyObject *proc_poll(ProcObject *o, PyObject *unused) {
  int r = reap(o, 0);
  if (r < 0)
    return NULL;
  if (r == 0)
    Py_RETURN_NONE;
  return PyLong_FromLong(o->exitcode);
}

static PyObject *proc_kill(ProcObject *o, PyObject *args) {
  int sig;
  if (!PyArg_ParseTuple(args, "i:kill", &sig))
    return NULL;
  if (o->p) {
    int rc = parc_proc_kill(o->p, sig);
    if (rc != 0 && rc != PARC_EAGAIN)
      return parc_py_raise(rc);
  }
  Py_RETURN_NONE;
}

/* A descriptor that becomes readable when the process ends: its pidfd
 * (an eventfd already readable if it was reaped before anyone asked). */
static PyObject *proc_get_sentinel(ProcObject *o, void *unused) {
  if (o->sentinel < 0) {
    if (o->p)
      o->sentinel = (int)syscall(SYS_pidfd_open, o->pid, 0);
    else
      o->sentinel = eventfd(1, EFD_CLOEXEC);
    if (o->sentinel < 0)
      return PyErr_SetFromErrno(PyExc_OSError);
    fcntl(o->sentinel, F_SETFD, FD_CLOEXEC);
  }
  return PyLong_FromLong(o->sentinel);
}

static PyObject *proc_close(ProcObject *o, PyObject *unused) {
  if (o->sentinel >= 0) {
    close(o->sentinel);
    o->sentinel = -1;
  }
  Py_RETURN_NONE;
}

static PyObject *proc_get_pid(ProcObject *o, void *unused) {
  return PyLong_FromLong(o->pid);
}

static PyMethodDef proc_methods[] = {
    {"join", (PyCFunction)proc_join, METH_VARARGS,
     "join(timeout=None) -> exit code (-signal if killed), or None."},
    {"poll", (PyCFunction)proc_poll, METH_NOARGS, NULL},
    {"kill", (PyCFunction)proc_kill, METH_VARARGS, NULL},
    {"close", (PyCFunction)proc_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef proc_getset[] = {
    {"pid", (getter)proc_get_pid, NULL, NULL, NULL},
    {"sentinel", (getter)proc_get_sentinel, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject ProcType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "parc._core.Proc",
    .tp_basicsize = sizeof(ProcObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A child process (parc internals; parc._core.start makes "
              "one).",
    .tp_dealloc = (destructor)proc_dealloc,
    .tp_methods = proc_methods,
    .tp_getset = proc_getset,
};

static PyMethodDef proc_functions[] = {
    {"start", start, METH_VARARGS,
     "start(fn, wait_ready=False) -> Proc: fork; the child calls fn() and "
     "exits with its return value."},
    {"_child_ready", child_ready, METH_NOARGS,
     "In a child started with wait_ready: let the parent's start() return."},
    {NULL, NULL, 0, NULL}};

int parc_py_ch_proc_init(PyObject *m) {
  if (PyType_Ready(&ProcType) < 0)
    return -1;
  Py_INCREF(&ProcType);
  if (PyModule_AddObject(m, "Proc", (PyObject *)&ProcType) < 0) {
    Py_DECREF(&ProcType);
    return -1;
  }
  return PyModule_AddFunctions(m, proc_functions);
}
