/* _chan_queue.c -- QueueCore: a parc_queue (PARC_SHARED) that carries
 * pickled objects of any size, for parc.Queue, SimpleQueue and
 * JoinableQueue (queues.py).
 *
 * An entry of a queue holds four libparc objects and a counter block, all
 * made with PARC_SHARED before any process that uses them was forked: the
 * parc_queue, its write and read locks (how an object becomes messages,
 * and why the locks, is _chan_queue_frame.c's), and for Queue(maxsize)
 * a parc_sem of free slots -- a put takes one (queues.py), a get gives
 * it back. The counter block (objects put, objects taken) gives qsize().
 * When the last wrapper of the entry in a process goes, that process
 * destroys its handles, which ends only its own use of them (parc.h).
 *
 * Waiting is parc_py_ch_block's, like every wait of the package (_chan.h).
 */
#include "_chan.h"

#include <limits.h>
#include <string.h>

#define CHUNK PARC_PY_QCHUNK
#define RAW PARC_PY_QRAW

/* Entry fields of a queue. */
#define Q_QUEUE h[0]
#define Q_WLOCK h[1]
#define Q_RLOCK h[2]
#define Q_SLOTS h[3] /* NULL when unbounded */
#define Q_COUNTS h[4]
#define Q_MAXSIZE n[0]
#define Q_CAPACITY n[1]

/* Each on its own cache line: producers write one, consumers the other. */
typedef struct {
  _Alignas(64) _Atomic uint64_t put; /* objects put whole */
  _Alignas(64) _Atomic uint64_t got; /* objects taken whole */
} counts;

typedef struct {
  PyObject_HEAD parc_py_ch_entry *e;
  parc_py_qframe f; /* the queue, its locks, this wrapper's scratch */
  parc_sem *slots;
  counts *counts;
} QueueObject;

static PyTypeObject QueueType;

static void queue_release_entry(parc_py_ch_entry *e) {
  parc_queue_destroy(e->Q_QUEUE); /* this process's use only (parc.h) */
  parc_lock_destroy(e->Q_WLOCK);
  parc_lock_destroy(e->Q_RLOCK);
  parc_sem_destroy(e->Q_SLOTS);
  parc_shm_free(e->Q_COUNTS);
}

static PyObject *queue_wrap(parc_py_ch_entry *e) {
  QueueObject *o = PyObject_New(QueueObject, &QueueType);
  if (!o) {
    parc_py_ch_entry_decref(e);
    return NULL;
  }
  o->e = e;
  o->f = (parc_py_qframe){e->Q_QUEUE, e->Q_WLOCK, e->Q_RLOCK, NULL, NULL};
  o->slots = e->Q_SLOTS;
  o->counts = e->Q_COUNTS;
  return (PyObject *)o;
}

/* The slots of Queue(maxsize): 0, or a libparc code. A maxsize too large
 * for a semaphore is as unbounded as a queue gets: no slots. */
static int make_slots(parc_py_ch_entry *e, long long maxsize) {
  if (maxsize <= 0)
    return 0;
  int rc = parc_sem_create((parc_sem **)&e->Q_SLOTS, (unsigned)maxsize,
                           PARC_SHARED);
  if (rc == PARC_EINVAL) { /* above the semaphore's largest count */
    e->Q_MAXSIZE = 0;
    return 0;
  }
  return rc;
}

static PyObject *queue_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
  static char *names[] = {"maxsize", "capacity", NULL};
  long long maxsize = 0;
  Py_ssize_t capacity = (Py_ssize_t)4 << 20;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "|Ln:QueueCore", names, &maxsize,
                                   &capacity))
    return NULL;
  if (capacity < (Py_ssize_t)(2 * CHUNK))
    capacity = 2 * CHUNK;
  if ((unsigned long long)maxsize > UINT_MAX)
    maxsize = 0;
  parc_py_ch_entry *e = parc_py_ch_entry_new(PARC_PY_CH_QUEUE);
  if (!e)
    return NULL;
  e->release = queue_release_entry;
  e->Q_MAXSIZE = maxsize > 0 ? maxsize : 0;
  e->Q_CAPACITY = capacity;
  int rc = parc_queue_create((parc_queue **)&e->Q_QUEUE, (size_t)capacity,
                             CHUNK, PARC_SHARED);
  if (rc == 0)
    rc = parc_lock_create((parc_lock **)&e->Q_WLOCK, PARC_SHARED);
  if (rc == 0)
    rc = parc_lock_create((parc_lock **)&e->Q_RLOCK, PARC_SHARED);
  if (rc == 0)
    rc = make_slots(e, maxsize);
  if (rc == 0 && !(e->Q_COUNTS = parc_shm_alloc(sizeof(counts))))
    rc = PARC_ENOMEM;
  if (rc != 0) {
    parc_py_ch_entry_decref(e);
    return parc_py_raise(rc);
  }
  return queue_wrap(e);
}

static void queue_dealloc(QueueObject *o) {
  parc_py_qframe_free(&o->f);
  parc_py_ch_entry_decref(o->e);
  PyObject_Free(o);
}

/* ---------------------------------------------------------------- put */

/* True (put), False (timed out: nothing was put). */
static PyObject *put_parts(QueueObject *o, Py_buffer *parts, int nparts,
                           double timeout) {
  int rc = parc_py_qframe_put(&o->f, parts, nparts,
                              parc_py_ch_deadline(timeout));
  if (rc == 0) {
    atomic_fetch_add(&o->counts->put, 1);
    Py_RETURN_TRUE;
  }
  if (rc == -1)
    return NULL;
  if (rc == PARC_EAGAIN || rc == PARC_ETIMEDOUT)
    Py_RETURN_FALSE;
  return parc_py_ch_raise(rc);
}

/* put(payload, timeout=-1): payload is a bytes-like object, or a list of
 * them (a pickle and its out-of-band buffers). */
static PyObject *queue_put(QueueObject *o, PyObject *const *args,
                           Py_ssize_t nargs) {
  if (nargs < 1 || nargs > 2) {
    PyErr_SetString(PyExc_TypeError, "put(payload, timeout=-1)");
    return NULL;
  }
  double timeout = -1;
  if (nargs == 2 && parc_py_ch_timeout1(args[1], &timeout) < 0)
    return NULL;
  PyObject *payload = args[0];
  int list = PyList_Check(payload) || PyTuple_Check(payload);
  Py_ssize_t nparts = list ? PySequence_Fast_GET_SIZE(payload) : 1;
  if (nparts < 1 || (size_t)nparts > PARC_PY_QMAX_PARTS) {
    PyErr_SetString(PyExc_ValueError, "1 to 32000 parts");
    return NULL;
  }
  Py_buffer one, *parts = &one;
  if (nparts > 1 && !(parts = PyMem_Calloc((size_t)nparts, sizeof *parts)))
    return PyErr_NoMemory();
  Py_ssize_t got = 0;
  PyObject *r = NULL;
  for (; got < nparts; got++) {
    PyObject *p = list ? PySequence_Fast_ITEMS(payload)[got] : payload;
    if (PyObject_GetBuffer(p, &parts[got], PyBUF_C_CONTIGUOUS) < 0)
      goto out;
  }
  r = put_parts(o, parts, (int)nparts, timeout);
out:
  for (Py_ssize_t i = 0; i < got; i++) PyBuffer_Release(&parts[i]);
  if (parts != &one)
    PyMem_Free(parts);
  return r;
}

/* What the queue carries for obj: RAW and its bytes for a bytes object
 * shorter than a chunk (no pickling), else its pickle or parts. */
static PyObject *encode(PyObject *obj) {
  if (PyBytes_CheckExact(obj) && (size_t)PyBytes_GET_SIZE(obj) + 1 < CHUNK) {
    Py_ssize_t n = PyBytes_GET_SIZE(obj);
    PyObject *p = PyBytes_FromStringAndSize(NULL, n + 1);
    if (p) {
      PyBytes_AS_STRING(p)[0] = RAW;
      memcpy(PyBytes_AS_STRING(p) + 1, PyBytes_AS_STRING(obj), (size_t)n);
    }
    return p;
  }
  return parc_py_ch_encode(obj);
}

static PyObject *queue_encode(QueueObject *o, PyObject *obj) {
  return encode(obj);
}

/* A whole message put now, or not at all (the write lock busy, the ring
 * full): 1 put, 0 not. */
static int put_now(QueueObject *o, const void *p, size_t n) {
  if (!parc_py_qframe_put_now(&o->f, p, n))
    return 0;
  atomic_fetch_add(&o->counts->put, 1);
  return 1;
}

/* try_put(obj): True if obj went into the queue now; else its payload,
 * for the feeder thread to put (queues.py). */
static PyObject *queue_try_put(QueueObject *o, PyObject *obj) {
  if (PyBytes_CheckExact(obj) && (size_t)PyBytes_GET_SIZE(obj) + 1 < 4096) {
    unsigned char buf[4096]; /* a small bytes object: framed on the stack */
    size_t n = (size_t)PyBytes_GET_SIZE(obj);
    buf[0] = RAW;
    memcpy(buf + 1, PyBytes_AS_STRING(obj), n);
    if (put_now(o, buf, n + 1))
      Py_RETURN_TRUE;
    return PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)n + 1);
  }
  PyObject *p = encode(obj);
  if (p && PyBytes_Check(p) &&
      parc_py_qframe_whole(PyBytes_AS_STRING(p), (size_t)PyBytes_GET_SIZE(p)) &&
      put_now(o, PyBytes_AS_STRING(p), (size_t)PyBytes_GET_SIZE(p))) {
    Py_DECREF(p);
    Py_RETURN_TRUE;
  }
  return p;
}

/* ---------------------------------------------------------------- get */

static PyObject *empty_error(void) {
  PyErr_SetNone(parc_py_ch_empty ? parc_py_ch_empty : PyExc_TimeoutError);
  return NULL;
}

static PyObject *queue_get(QueueObject *o, PyObject *const *args,
                           Py_ssize_t nargs) {
  double timeout = -1;
  if (nargs > 1) {
    PyErr_SetString(PyExc_TypeError, "get(timeout=-1)");
    return NULL;
  }
  if (nargs == 1 && parc_py_ch_timeout1(args[0], &timeout) < 0)
    return NULL;
  PyObject *r = parc_py_qframe_get(&o->f, parc_py_ch_deadline(timeout));
  if (!r)
    return PyErr_Occurred() ? NULL : empty_error();
  atomic_fetch_add(&o->counts->got, 1);
  if (o->slots)
    parc_sem_post(o->slots);
  /* Unpickled once the lock is free: unpickling may run any code. */
  PyObject *obj;
  if (PyTuple_Check(r)) {
    obj = PyTuple_GET_ITEM(r, 0);
    Py_INCREF(obj);
  } else {
    obj = parc_py_ch_decode(r);
  }
  Py_DECREF(r);
  return obj;
}

/* ---------------------------------------------------------------- slots */

static int slot_op(void *ctx, double timeout) {
  return parc_sem_wait(ctx, timeout);
}

static PyObject *queue_take_slot(QueueObject *o, PyObject *args) {
  PyObject *timeout_obj = Py_None;
  double timeout;
  if (!PyArg_ParseTuple(args, "|O", &timeout_obj) ||
      parc_py_ch_timeout1(timeout_obj, &timeout) < 0)
    return NULL;
  if (!o->slots)
    Py_RETURN_TRUE;
  int rc = parc_py_ch_block(slot_op, o->slots, timeout);
  if (rc == 0)
    Py_RETURN_TRUE;
  if (rc == PARC_EAGAIN || rc == PARC_ETIMEDOUT)
    Py_RETURN_FALSE;
  return parc_py_ch_raise(rc);
}

static PyObject *queue_give_slot(QueueObject *o, PyObject *unused) {
  if (o->slots)
    parc_sem_post(o->slots);
  Py_RETURN_NONE;
}

static PyObject *queue_free_slots(QueueObject *o, PyObject *unused) {
  unsigned v;
  if (!o->slots)
    return PyLong_FromLong(-1);
  int rc = parc_sem_value(o->slots, &v);
  return rc == 0 ? PyLong_FromUnsignedLong(v) : parc_py_raise(rc);
}

/* ---------------------------------------------------------------- stats */

static PyObject *queue_qsize(QueueObject *o, PyObject *unused) {
  uint64_t put = atomic_load(&o->counts->put);
  uint64_t got = atomic_load(&o->counts->got);
  return PyLong_FromUnsignedLongLong(put > got ? put - got : 0);
}

static PyObject *queue_queued(QueueObject *o, PyObject *unused) {
  uint64_t queued;
  parc_queue_stats(o->f.q, NULL, &queued);
  return PyLong_FromUnsignedLongLong(queued);
}

static PyObject *queue_get_maxsize(QueueObject *o, void *unused) {
  return PyLong_FromLongLong(o->e->Q_MAXSIZE);
}

static PyObject *queue_get_capacity(QueueObject *o, void *unused) {
  return PyLong_FromLongLong(o->e->Q_CAPACITY);
}

static PyMethodDef queue_methods[] = {
    {"put", (PyCFunction)(void (*)(void))queue_put, METH_FASTCALL,
     "put(payload, timeout=-1): True, or False if the timeout ran out first "
     "(nothing was put). payload: bytes-like, or a list of them."},
    {"get", (PyCFunction)(void (*)(void))queue_get, METH_FASTCALL,
     "get(timeout=-1): the next object; queue.Empty if the timeout ran "
     "out first."},
    {"try_put", (PyCFunction)queue_try_put, METH_O,
     "try_put(obj): True if obj went in now, else its payload (for put)."},
    {"encode", (PyCFunction)queue_encode, METH_O,
     "encode(obj): the payload put() takes for obj."},
    {"take_slot", (PyCFunction)queue_take_slot, METH_VARARGS, NULL},
    {"give_slot", (PyCFunction)queue_give_slot, METH_NOARGS, NULL},
    {"free_slots", (PyCFunction)queue_free_slots, METH_NOARGS,
     "Free places of Queue(maxsize) now; -1 when unbounded."},
    {"qsize", (PyCFunction)queue_qsize, METH_NOARGS,
     "Objects put and not yet taken, as counted in shared memory."},
    {"queued", (PyCFunction)queue_queued, METH_NOARGS,
     "Messages in the ring (chunks count one each)."},
    {"__reduce__", parc_py_ch_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef queue_getset[] = {
    {"maxsize", (getter)queue_get_maxsize, NULL, NULL, NULL},
    {"capacity", (getter)queue_get_capacity, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject QueueType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "parc._core.QueueCore",
    .tp_basicsize = sizeof(QueueObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "QueueCore(maxsize=0, capacity=4 MiB): a shared parc_queue "
              "framed for messages of any size (parc internals).",
    .tp_new = queue_new,
    .tp_dealloc = (destructor)queue_dealloc,
    .tp_methods = queue_methods,
    .tp_getset = queue_getset,
};

int parc_py_ch_queue_init(PyObject *m) {
  if (PyType_Ready(&QueueType) < 0)
    return -1;
  Py_INCREF(&QueueType);
  if (PyModule_AddObject(m, "QueueCore", (PyObject *)&QueueType) < 0) {
    Py_DECREF(&QueueType);
    return -1;
  }
  if (PyModule_AddIntConstant(m, "QUEUE_CHUNK", (long)CHUNK) < 0)
    return -1;
  parc_py_ch_register_kind(PARC_PY_CH_QUEUE, queue_wrap, "queue");
  return 0;
}
