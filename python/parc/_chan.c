/* _chan.c -- processes, queues, pipes and locks between processes: the
 * C half of parc.process, parc.queues, parc.connection and
 * parc.synchronize (docs/python.md, "Queue, Pipe, Lock, Process").
 *
 *   _chan.c        the registry of shared objects, timeouts and sliced
 *                  waits, futex words, the Shm block type, module functions
 *   _chan_sync.c   LockCore (parc_lock; Lock and RLock), SemCore (parc_sem)
 *   _chan_queue.c  QueueCore: a parc_queue of Python objects, its slots
 *                  (maxsize) and counts
 *   _chan_queue_frame.c  how an object of any size travels through it
 *   _chan_pipe.c   PipeEnd: parc_pipe framed for objects of any size
 *   _chan_proc.c   Proc: parc_proc_start with Python's fork protocol
 *
 * Lifetime. A Python object may be dropped by its creator while children
 * still use it, as with multiprocessing's. libparc allows for that: the
 * destroy of a PARC_SHARED queue, lock or semaphore ends only the calling
 * process's use (it unmaps; the object lives while any process maps it).
 * So when the last wrapper of an entry in a process goes, that process
 * destroys its handles (parc_queue_destroy, parc_lock_destroy,
 * parc_sem_destroy; parc_shm_free for a Shm block) or closes its pipe end;
 * the memory goes with the last process that maps it. Nothing is named in
 * /dev/shm, so nothing is left behind.
 *
 * Pickling: a wrapper pickles as its token. Unpickling finds the entry in
 * this process's registry -- there when the process made the object or was
 * forked after it was made -- and refuses otherwise (RuntimeError).
 */
#include "_chan.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- pid */

static int cached_pid;
static void forget_pid(void) { cached_pid = 0; }

int parc_py_ch_pid(void) {
  if (cached_pid == 0)
    cached_pid = (int)getpid();
  return cached_pid;
}

/* ---------------------------------------------------------------- registry */

static parc_py_ch_entry **entries;
static size_t n_entries, cap_entries;
static uint64_t token_counter;

static struct {
  parc_py_ch_wrap_fn wrap;
  const char *what;
} kinds[PARC_PY_CH_KINDS];

void parc_py_ch_register_kind(int kind, parc_py_ch_wrap_fn wrap,
                              const char *what) {
  kinds[kind].wrap = wrap;
  kinds[kind].what = what;
}

static void new_token(unsigned char token[16]) {
  if (getrandom(token, 16, GRND_NONBLOCK) != 16) {
    /* No entropy yet (early boot): pid, time and a counter are unique
     * enough within one tree of processes. */
    uint64_t a = ((uint64_t)parc_py_ch_pid() << 32) ^ ++token_counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t b = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    memcpy(token, &a, 8);
    memcpy(token + 8, &b, 8);
  }
}

parc_py_ch_entry *parc_py_ch_entry_new(int kind) {
  if (n_entries == cap_entries) {
    size_t cap = cap_entries ? 2 * cap_entries : 64;
    parc_py_ch_entry **grown = PyMem_RawRealloc(entries, cap * sizeof *grown);
    if (!grown) {
      PyErr_NoMemory();
      return NULL;
    }
    entries = grown;
    cap_entries = cap;
  }
  parc_py_ch_entry *e = PyMem_RawCalloc(1, sizeof *e);
  if (!e) {
    PyErr_NoMemory();
    return NULL;
  }
  new_token(e->token);
  e->kind = kind;
  e->refs = 1;
  e->creator = parc_py_ch_pid();
  entries[n_entries++] = e;
  return e;
}

static parc_py_ch_entry *entry_find(const unsigned char *token, int kind) {
  for (size_t i = 0; i < n_entries; i++)
    if (entries[i]->kind == kind && memcmp(entries[i]->token, token, 16) == 0)
      return entries[i];
  return NULL;
}

void parc_py_ch_entry_decref(parc_py_ch_entry *e) {
  if (!e || --e->refs > 0)
    return;
  for (size_t i = 0; i < n_entries; i++)
    if (entries[i] == e) {
      entries[i] = entries[--n_entries];
      break;
    }
  if (e->release)
    e->release(e);
  PyMem_RawFree(e);
}

PyObject *parc_py_ch_reduce(PyObject *self, PyObject *unused) {
  parc_py_ch_entry *e = ((parc_py_ch_obj *)self)->e;
  if (!e) {
    PyErr_SetString(PyExc_ValueError, "cannot pickle a closed object");
    return NULL;
  }
  PyObject *mod = PyImport_ImportModule("parc._core");
  if (!mod)
    return NULL;
  PyObject *fn = PyObject_GetAttrString(mod, "_rebuild");
  Py_DECREF(mod);
  if (!fn)
    return NULL;
  return Py_BuildValue("(N(iy#))", fn, e->kind, (const char *)e->token,
                       (Py_ssize_t)16);
}

static PyObject *rebuild(PyObject *mod, PyObject *args) {
  int kind;
  const char *token;
  Py_ssize_t n;
  if (!PyArg_ParseTuple(args, "iy#", &kind, &token, &n))
    return NULL;
  if (kind <= 0 || kind >= PARC_PY_CH_KINDS || !kinds[kind].wrap || n != 16) {
    PyErr_SetString(PyExc_ValueError, "not a pickled parc object");
    return NULL;
  }
  parc_py_ch_entry *e = entry_find((const unsigned char *)token, kind);
  if (!e) {
    PyErr_Format(PyExc_RuntimeError,
                 "this %s is not shared with process %d: a parc channel can "
                 "be passed only to processes forked after it was made "
                 "(Process arguments, a Pool created after it, or any "
                 "object sent to them)",
                 kinds[kind].what, parc_py_ch_pid());
    return NULL;
  }
  e->refs++;
  return kinds[kind].wrap(e);
}

/* ---------------------------------------------------------------- time */

double parc_py_ch_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double parc_py_ch_deadline(double timeout) {
  return timeout > 0 ? parc_py_ch_now() + timeout : timeout;
}

double parc_py_ch_left(double deadline) {
  if (deadline <= 0)
    return deadline;
  double left = deadline - parc_py_ch_now();
  return left > 0 ? left : 0;
}

int parc_py_ch_timeout1(PyObject *timeout, double *out) {
  if (!timeout || timeout == Py_None) {
    *out = -1;
    return 0;
  }
  double t = PyFloat_AsDouble(timeout);
  if (t == -1.0 && PyErr_Occurred())
    return -1;
  if (t != t) {
    PyErr_SetString(PyExc_ValueError, "timeout is NaN");
    return -1;
  }
  *out = t < 0 ? 0 : t;
  return 0;
}

int parc_py_ch_timeout(PyObject *block, PyObject *timeout, double *out) {
  if (block) {
    int b = PyObject_IsTrue(block);
    if (b < 0)
      return -1;
    if (!b) {
      *out = 0;
      return 0;
    }
  }
  return parc_py_ch_timeout1(timeout, out);
}

static int again(int rc) { return rc == PARC_EAGAIN || rc == PARC_ETIMEDOUT; }

/* The spin before the yields (see _chan.h): the misses in a row, a hint
 * shared by the threads of this process, read and written without the
 * GIL. */
static _Atomic uint32_t spin_misses;
static _Atomic uint32_t spin_skipped;

/* How long this wait spins: PARC_PY_CH_SPIN_NS, or 0. */
static uint32_t spin_begin(void) {
  if (atomic_load_explicit(&spin_misses, memory_order_relaxed) <
          PARC_PY_CH_SPIN_MISSES ||
      atomic_fetch_add_explicit(&spin_skipped, 1, memory_order_relaxed) %
              PARC_PY_CH_SPIN_RETRY ==
          0)
    return PARC_PY_CH_SPIN_NS;
  return 0;
}

/* Only waits that the yields ended say whether spinning pays: a wait that
 * had to sleep was for something far off, spin or not. */
static void spin_end(uint32_t ns, int hit) {
  if (ns == 0)
    return;
  uint32_t misses = atomic_load_explicit(&spin_misses, memory_order_relaxed);
  if (hit)
    atomic_store_explicit(&spin_misses, 0, memory_order_relaxed);
  else if (misses < PARC_PY_CH_SPIN_MISSES)
    atomic_store_explicit(&spin_misses, misses + 1, memory_order_relaxed);
}

/* Looks again, without the GIL, until op succeeds or `until`: first with
 * pauses for the spin, then between sched_yields. op's last code. */
static int look_again(parc_py_ch_op op, void *ctx, double until) {
  int rc = PARC_EAGAIN;
  double t0 = parc_py_ch_now();
  uint32_t ns = spin_begin();
  double spin_until = t0 + ns * 1e-9 < until ? t0 + ns * 1e-9 : until;
  while (again(rc) && parc_py_ch_now() < spin_until) {
    parc_py_ch_relax();
    rc = op(ctx, 0);
  }
  int hit = !again(rc);
  while (again(rc) && parc_py_ch_now() < until) {
    sched_yield();
    rc = op(ctx, 0);
  }
  if (!again(rc))
    spin_end(ns, hit);
  return rc;
}

static int block(parc_py_ch_op op, void *ctx, double timeout, int gil_first) {
  int rc;
  if (gil_first) {
    rc = op(ctx, 0);
  } else {
    Py_BEGIN_ALLOW_THREADS rc = op(ctx, 0);
    Py_END_ALLOW_THREADS
  }
  if (!again(rc))
    return rc;
  if (timeout == 0)
    return PARC_EAGAIN;
  double deadline = timeout < 0 ? -1 : parc_py_ch_now() + timeout;
  double until = parc_py_ch_now() + PARC_PY_CH_YIELD;
  if (deadline >= 0 && deadline < until)
    until = deadline;
  Py_BEGIN_ALLOW_THREADS rc = look_again(op, ctx, until);
  Py_END_ALLOW_THREADS if (!again(rc)) return rc;
  for (;;) {
    double slice = PARC_PY_CH_SLICE;
    if (deadline >= 0) {
      double left = deadline - parc_py_ch_now();
      if (left <= 0)
        return PARC_ETIMEDOUT;
      if (left < slice)
        slice = left;
    }
    Py_BEGIN_ALLOW_THREADS rc = op(ctx, slice);
    Py_END_ALLOW_THREADS if (!again(rc)) return rc;
    if (PyErr_CheckSignals() < 0)
      return PARC_PY_CH_EINTR;
  }
}

int parc_py_ch_block(parc_py_ch_op op, void *ctx, double timeout) {
  return block(op, ctx, timeout, 1);
}

int parc_py_ch_block_nogil(parc_py_ch_op op, void *ctx, double timeout) {
  return block(op, ctx, timeout, 0);
}

PyObject *parc_py_ch_raise(int rc) {
  if (rc == PARC_PY_CH_EINTR)
    return NULL;
  return parc_py_raise(rc);
}

/* ---------------------------------------------------------------- futex */

int parc_py_ch_futex_wait(_Atomic uint32_t *w, uint32_t expected,
                          double timeout) {
  if (atomic_load(w) != expected)
    return 0;
  if (timeout <= 0)
    return PARC_ETIMEDOUT;
  struct timespec ts;
  ts.tv_sec = (time_t)timeout;
  ts.tv_nsec = (long)((timeout - (double)ts.tv_sec) * 1e9);
  /* Not FUTEX_PRIVATE: the word may be mapped by several processes. A
   * relative FUTEX_WAIT timeout runs on CLOCK_MONOTONIC. */
  long r = syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT, expected, &ts, NULL,
                   0);
  if (r < 0 && errno == ETIMEDOUT && atomic_load(w) == expected)
    return PARC_ETIMEDOUT;
  return 0;
}

void parc_py_ch_futex_wake(_Atomic uint32_t *w, int n) {
  syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE, n, NULL, NULL, 0);
}

/* ---------------------------------------------------------------- pickle */

static PyObject *py_dumps;   /* _payload._dumps: out-of-band buffers */
static PyObject *pk_dumps;   /* pickle.dumps */
static PyObject *pk_loads;   /* pickle.loads */
static PyObject *protocol;   /* 5 */
static PyObject *buffers_kw; /* ("buffers",) */
PyObject *parc_py_ch_empty;

static PyObject *setup(PyObject *m, PyObject *args) {
  PyObject *dumps, *empty, *pickle = PyImport_ImportModule("pickle");
  if (!pickle)
    return NULL;
  if (!PyArg_ParseTuple(args, "OO", &dumps, &empty)) {
    Py_DECREF(pickle);
    return NULL;
  }
  Py_XSETREF(pk_dumps, PyObject_GetAttrString(pickle, "dumps"));
  Py_XSETREF(pk_loads, PyObject_GetAttrString(pickle, "loads"));
  Py_DECREF(pickle);
  Py_XSETREF(protocol, PyLong_FromLong(5));
  Py_XSETREF(buffers_kw, Py_BuildValue("(s)", "buffers"));
  Py_INCREF(dumps);
  Py_XSETREF(py_dumps, dumps);
  Py_INCREF(empty);
  Py_XSETREF(parc_py_ch_empty, empty);
  if (!pk_dumps || !pk_loads || !protocol || !buffers_kw)
    return NULL;
  Py_RETURN_NONE;
}

/* Objects whose pickle has no out-of-band buffer: pickled here at once. */
static int plain(PyObject *obj) {
  PyTypeObject *t = Py_TYPE(obj);
  return t == &PyBytes_Type || t == &PyUnicode_Type || t == &PyLong_Type ||
         t == &PyFloat_Type || t == &PyBool_Type || obj == Py_None;
}

/* A bytes object's pickle, written here (pickle would write a FRAME and a
 * MEMOIZE around the same opcode): PROTO 5, SHORT_BINBYTES or BINBYTES,
 * its bytes, STOP. Any unpickler reads it; decode() below reads it back
 * without one. */
static PyObject *bytes_pickle(PyObject *obj) {
  Py_ssize_t n = PyBytes_GET_SIZE(obj);
  Py_ssize_t head = n < 256 ? 4 : 7;
  PyObject *p = PyBytes_FromStringAndSize(NULL, head + n + 1);
  if (!p)
    return NULL;
  unsigned char *d = (unsigned char *)PyBytes_AS_STRING(p);
  d[0] = 0x80;
  d[1] = 5;
  if (n < 256) {
    d[2] = 'C';
    d[3] = (unsigned char)n;
  } else {
    uint32_t le = (uint32_t)n; /* little-endian machines only (Linux x86,
                                  arm64): as libparc's own framing */
    d[2] = 'B';
    memcpy(d + 3, &le, 4);
  }
  memcpy(d + head, PyBytes_AS_STRING(obj), (size_t)n);
  d[head + n] = '.';
  return p;
}

/* The bytes object a pickle is, if it is one of those bytes_pickle writes
 * or pickle.dumps(b, 5) writes for a short one; else NULL, no exception. */
static PyObject *bytes_unpickle(PyObject *payload) {
  const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(payload);
  Py_ssize_t len = PyBytes_GET_SIZE(payload);
  if (len < 5 || d[0] != 0x80 || d[1] != 5 || d[len - 1] != '.')
    return NULL;
  if (d[2] == 'C' && len == 5 + d[3])
    return PyBytes_FromStringAndSize((const char *)d + 4, d[3]);
  if (d[2] == 'B' && len >= 8) {
    uint32_t n;
    memcpy(&n, d + 3, 4);
    if (len == 8 + (Py_ssize_t)n)
      return PyBytes_FromStringAndSize((const char *)d + 7, n);
  }
  /* PROTO, FRAME(8), SHORT_BINBYTES n, bytes, MEMOIZE, STOP */
  if (d[2] == 0x95 && len >= 15 && d[11] == 'C' && len == 15 + d[12] &&
      d[len - 2] == 0x94)
    return PyBytes_FromStringAndSize((const char *)d + 13, d[12]);
  return NULL;
}

PyObject *parc_py_ch_encode(PyObject *obj) {
  if (!py_dumps) {
    PyErr_SetString(PyExc_RuntimeError, "parc._payload is not imported");
    return NULL;
  }
  if (PyBytes_CheckExact(obj) && PyBytes_GET_SIZE(obj) < ((Py_ssize_t)1 << 31))
    return bytes_pickle(obj);
  if (plain(obj)) {
    PyObject *args[2] = {obj, protocol};
    return PyObject_Vectorcall(pk_dumps, args, 2, NULL);
  }
  return PyObject_CallOneArg(py_dumps, obj);
}

PyObject *parc_py_ch_decode(PyObject *payload) {
  if (!pk_loads) {
    PyErr_SetString(PyExc_RuntimeError, "parc._payload is not imported");
    return NULL;
  }
  if (!PyList_Check(payload)) {
    PyObject *b = PyBytes_Check(payload) ? bytes_unpickle(payload) : NULL;
    return b ? b : PyObject_CallOneArg(pk_loads, payload);
  }
  Py_ssize_t n = PyList_GET_SIZE(payload);
  PyObject *rest = PyList_GetSlice(payload, 1, n);
  if (!rest)
    return NULL;
  PyObject *args[2] = {PyList_GET_ITEM(payload, 0), rest};
  PyObject *r = PyObject_Vectorcall(pk_loads, args, 1, buffers_kw);
  Py_DECREF(rest);
  return r;
}

/* ---------------------------------------------------------------- module */

static PyObject *physical_cores(PyObject *m, PyObject *unused) {
  return PyLong_FromUnsignedLong(parc_physical_cores());
}

static PyObject *logical_cpus(PyObject *m, PyObject *unused) {
  return PyLong_FromUnsignedLong(parc_logical_cpus());
}

static PyObject *live_entries(PyObject *m, PyObject *unused) {
  return PyLong_FromSize_t(n_entries);
}

static PyMethodDef chan_functions[] = {
    {"_setup", setup, METH_VARARGS,
     "_setup(dumps, Empty): what _payload.py lends the C side."},
    {"_rebuild", rebuild, METH_VARARGS,
     "Unpickles a channel object by its token (see _chan.c)."},
    {"physical_cores", physical_cores, METH_NOARGS,
     "Physical cores this process may run on (libparc)."},
    {"logical_cpus", logical_cpus, METH_NOARGS,
     "Hardware threads this process may run on (libparc)."},
    {"_live_entries", live_entries, METH_NOARGS,
     "Shared objects this process holds (for leak tests)."},
    {NULL, NULL, 0, NULL}};

int parc_py_chan_init(PyObject *m) {
  pthread_atfork(NULL, NULL, forget_pid);
  if (PyModule_AddFunctions(m, chan_functions) < 0)
    return -1;
  if (parc_py_ch_shm_init(m) < 0 || parc_py_ch_sync_init(m) < 0 ||
      parc_py_ch_queue_init(m) < 0 || parc_py_ch_pipe_init(m) < 0 ||
      parc_py_ch_proc_init(m) < 0)
    return -1;
  return 0;
}
