/* _chan_pipe.c -- PipeEnd: one end of a parc_pipe (PARC_SHARED), for
 * parc.Pipe's Connections (connection.py).
 *
 * Framing. parc_pipe carries messages of any size, streaming the large
 * ones through its ring, so a message is a user's message as it is --
 * send_bytes' bytes, send's pickle -- with three exceptions, announced by
 * a control message (16 bytes or more that begin with CTRL_MAGIC):
 *   EMPTY  the user's message is b'' (a parc message is never empty, so
 *          that poll can ask for a message's length without taking it);
 *   ESC    the next message is the user's, verbatim (its bytes begin with
 *          CTRL_MAGIC themselves);
 *   PARTS  the next n messages are a pickle and its out-of-band buffers
 *          (protocol 5), each received straight into its own buffer.
 *
 * Ends and processes. parc_pipe ties an end to the process that binds it:
 * when that process dies, or closes the end, the other end's recv returns
 * what was sent and then PARC_ECLOSED (EOFError), never a hang. Here an
 * end is bound by the first process that sends, receives or polls on it
 * through this wrapper -- and again whenever another process does (the
 * entry remembers the pid it bound for), so an end handed to a child
 * follows the child. Process.start binds the ends it passes before it
 * returns (_chan_proc.c, process.py), so the parent may close its copy at
 * once, as with multiprocessing.
 */
#include "_chan.h"

#include <errno.h>
#include <string.h>

#define SCRATCH ((size_t)64 << 10)
static const char CTRL_MAGIC[8] = {0, 'P', 'A', 'R', 'C', 'P', '1', 0};
enum { CTRL_EMPTY = 1, CTRL_ESC = 2, CTRL_PARTS = 3 };
#define CTRL_HEADER 16
#define MAX_PARTS 4096
/* parc_pipe streams a message larger than its ring (2 MiB) once begun,
 * whatever the timeout, so only calls on messages up to this size are
 * tried holding the GIL (parc_py_ch_block); larger ones never hold it
 * while they wait (parc_py_ch_block_nogil). */
#define GIL_MAX ((size_t)1 << 20)

/* Entry fields of an end. */
#define P_END h[0]
#define P_BOUND n[0] /* the pid this end was last bound for */
#define P_SKIP n[1]  /* messages of an interrupted object still to drop */

typedef struct {
  PyObject_HEAD parc_py_ch_entry *e;
  unsigned char *scratch;
} PipeObject;

static PyTypeObject PipeType;

static void pipe_release_entry(parc_py_ch_entry *e) {
  parc_pipe_close(e->P_END); /* closes it for both sides only if it is
                                this process's end (see parc.h) */
}

static PyObject *pipe_wrap(parc_py_ch_entry *e) {
  PipeObject *o = PyObject_New(PipeObject, &PipeType);
  if (!o) {
    parc_py_ch_entry_decref(e);
    return NULL;
  }
  o->e = e;
  o->scratch = NULL;
  return (PyObject *)o;
}

static PyObject *end_of(parc_pipe *p) {
  parc_py_ch_entry *e = parc_py_ch_entry_new(PARC_PY_CH_PIPE);
  if (!e) {
    parc_pipe_close(p);
    return NULL;
  }
  e->P_END = p;
  e->release = pipe_release_entry;
  return pipe_wrap(e);
}

/* pipe() -> (end0, end1) */
static PyObject *make_pipe(PyObject *m, PyObject *unused) {
  parc_pipe *a, *b;
  int rc = parc_pipe_create(&a, &b, (size_t)1 << 40, PARC_SHARED);
  if (rc != 0)
    return parc_py_raise(rc);
  PyObject *ea = end_of(a);
  if (!ea) {
    parc_pipe_close(b);
    return NULL;
  }
  PyObject *eb = end_of(b);
  if (!eb) {
    Py_DECREF(ea);
    return NULL;
  }
  return Py_BuildValue("(NN)", ea, eb);
}

static void pipe_dealloc(PipeObject *o) {
  PyMem_RawFree(o->scratch);
  parc_py_ch_entry_decref(o->e);
  PyObject_Free(o);
}

/* The end, bound for this process; NULL with OSError once closed. */
static parc_pipe *end(PipeObject *o) {
  if (!o->e) {
    PyErr_SetString(PyExc_OSError, "handle is closed");
    return NULL;
  }
  parc_py_ch_entry *e = o->e;
  if (e->P_BOUND != parc_py_ch_pid()) {
    parc_pipe_bind(e->P_END);
    e->P_BOUND = parc_py_ch_pid();
  }
  return e->P_END;
}

static PyObject *closed_error(int sending) {
  if (sending)
    PyErr_SetFromErrno(PyExc_BrokenPipeError);
  else
    PyErr_SetString(PyExc_EOFError, "the other end of the pipe is closed "
                                    "(closed, or its process died)");
  return NULL;
}

/* ---------------------------------------------------------------- send */

typedef struct {
  parc_pipe *p;
  const void *buf;
  size_t len;
} send_ctx;

static int send_op(void *ctx, double timeout) {
  send_ctx *c = ctx;
  return parc_pipe_send(c->p, c->buf, c->len, timeout);
}

/* The rest of an object once it has begun: no timeout, and no stop for a
 * signal either (the receiver would take the next object for its rest);
 * only the other end's death ends it. */
static int send_rest(parc_pipe *p, const void *buf, size_t len) {
  int rc;
  Py_BEGIN_ALLOW_THREADS rc = parc_pipe_send(p, buf, len, -1);
  Py_END_ALLOW_THREADS return rc;
}

static int looks_like_control(const Py_buffer *b) {
  return b->len >= CTRL_HEADER && memcmp(b->buf, CTRL_MAGIC, 8) == 0;
}

/* 0 sent, 1 timed out (nothing sent), -1 exception. */
static int send_parts(parc_pipe *p, Py_buffer *parts, int nparts, int list,
                      double timeout) {
  unsigned char small[CTRL_HEADER + 8 * 64], *hdr = small;
  uint32_t kind = list ? CTRL_PARTS : parts[0].len == 0 ? CTRL_EMPTY : CTRL_ESC;
  int plain = !list && parts[0].len > 0 && !looks_like_control(&parts[0]);
  send_ctx c = {p, parts[0].buf, (size_t)parts[0].len};
  size_t hlen = CTRL_HEADER;
  if (!plain) {
    uint32_t np = list ? (uint32_t)nparts : 0;
    if (np > 64 && !(hdr = PyMem_Malloc(CTRL_HEADER + 8 * (size_t)np))) {
      PyErr_NoMemory();
      return -1;
    }
    memcpy(hdr, CTRL_MAGIC, 8);
    memcpy(hdr + 8, &kind, 4);
    memcpy(hdr + 12, &np, 4);
    for (uint32_t i = 0; i < np; i++) {
      uint64_t len = (uint64_t)parts[i].len;
      memcpy(hdr + CTRL_HEADER + 8 * i, &len, 8);
    }
    hlen += 8 * (size_t)np;
    c.buf = hdr;
    c.len = hlen;
  }
  int rc = c.len <= GIL_MAX ? parc_py_ch_block(send_op, &c, timeout)
                            : parc_py_ch_block_nogil(send_op, &c, timeout);
  if (rc == 0 && kind == CTRL_ESC && !plain)
    rc = send_rest(p, parts[0].buf, (size_t)parts[0].len);
  for (int i = 0; rc == 0 && kind == CTRL_PARTS && i < nparts; i++)
    rc = send_rest(p, parts[i].buf, (size_t)parts[i].len);
  if (hdr != small)
    PyMem_Free(hdr);
  if (rc == 0)
    return 0;
  if (rc == PARC_EAGAIN || rc == PARC_ETIMEDOUT)
    return 1;
  if (rc == PARC_ECLOSED) {
    errno = EPIPE;
    closed_error(1);
  } else {
    parc_py_ch_raise(rc);
  }
  return -1;
}

/* send(payload, timeout=-1): True, or False if the timeout ran out before
 * anything was sent. payload: bytes-like (one message), or a list of them
 * (a pickle and its buffers, received as one object). */
static PyObject *pipe_send(PipeObject *o, PyObject *const *args,
                           Py_ssize_t nargs) {
  if (nargs < 1 || nargs > 2) {
    PyErr_SetString(PyExc_TypeError, "send(payload, timeout=-1)");
    return NULL;
  }
  double timeout = -1;
  if (nargs == 2 && parc_py_ch_timeout1(args[1], &timeout) < 0)
    return NULL;
  parc_pipe *p = end(o);
  if (!p)
    return NULL;
  PyObject *payload = args[0];
  int list = PyList_Check(payload) || PyTuple_Check(payload);
  Py_ssize_t nparts = list ? PySequence_Fast_GET_SIZE(payload) : 1;
  if (nparts < 1 || nparts > MAX_PARTS) {
    PyErr_SetString(PyExc_ValueError, "1 to 4096 parts");
    return NULL;
  }
  Py_buffer one, *parts = &one;
  if (nparts > 1 && !(parts = PyMem_Calloc((size_t)nparts, sizeof *parts)))
    return PyErr_NoMemory();
  Py_ssize_t got = 0;
  int rc = -1;
  for (; got < nparts; got++) {
    PyObject *x = list ? PySequence_Fast_ITEMS(payload)[got] : payload;
    if (PyObject_GetBuffer(x, &parts[got], PyBUF_C_CONTIGUOUS) < 0)
      goto out;
  }
  rc = send_parts(p, parts, (int)nparts, list, timeout);
out:
  for (Py_ssize_t i = 0; i < got; i++) PyBuffer_Release(&parts[i]);
  if (parts != &one)
    PyMem_Free(parts);
  if (rc < 0)
    return NULL;
  return PyBool_FromLong(rc == 0);
}

/* send_obj(obj, timeout=-1): send(obj's payload), TimeoutError if the
 * timeout ran out before anything was sent. */
static PyObject *pipe_send_obj(PipeObject *o, PyObject *const *args,
                               Py_ssize_t nargs) {
  if (nargs < 1 || nargs > 2) {
    PyErr_SetString(PyExc_TypeError, "send_obj(obj, timeout=-1)");
    return NULL;
  }
  if (!o->e) { /* closed: say so before pickling, as multiprocessing */
    end(o);
    return NULL;
  }
  PyObject *payload = parc_py_ch_encode(args[0]);
  if (!payload)
    return NULL;
  PyObject *call[2] = {payload, nargs == 2 ? args[1] : Py_None};
  PyObject *r = pipe_send(o, call, 2);
  Py_DECREF(payload);
  if (r == Py_False) {
    Py_DECREF(r);
    PyErr_SetString(PyExc_TimeoutError, "send timed out");
    return NULL;
  }
  return r;
}

/* ---------------------------------------------------------------- recv */

typedef struct {
  parc_pipe *p;
  void *buf;
  size_t cap, len;
} recv_ctx;

static int recv_op(void *ctx, double timeout) {
  recv_ctx *c = ctx;
  return parc_pipe_recv(c->p, c->buf, c->cap, &c->len, timeout);
}

/* One parc message into exactly `len` bytes at buf (the object it belongs
 * to has begun). 0, or -1 with EOFError / OSError. */
static int recv_exact(parc_pipe *p, void *buf, size_t len) {
  recv_ctx c = {p, buf, len, 0};
  int rc = len <= GIL_MAX ? parc_py_ch_block(recv_op, &c, -1)
                          : parc_py_ch_block_nogil(recv_op, &c, -1);
  if (rc == 0 && c.len == len)
    return 0;
  if (rc == PARC_ECLOSED)
    closed_error(0);
  else if (rc == 0 || rc == PARC_ETOOBIG)
    PyErr_SetString(PyExc_OSError, "bad message length");
  else
    parc_py_ch_raise(rc);
  return -1;
}

/* Drops the rest of an object whose recv was interrupted. */
static int skip_rest(PipeObject *o, parc_pipe *p) {
  while (o->e->P_SKIP > 0) {
    recv_ctx c = {p, NULL, 0, 0};
    int rc = parc_py_ch_block(recv_op, &c, -1);
    if (rc == PARC_ETOOBIG) { /* the message stays: take it whole */
      PyObject *b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)c.len);
      if (!b || recv_exact(p, PyBytes_AS_STRING(b), c.len) < 0) {
        Py_XDECREF(b);
        return -1;
      }
      Py_DECREF(b);
    } else if (rc != 0) {
      if (rc == PARC_ECLOSED)
        closed_error(0);
      else
        parc_py_ch_raise(rc);
      return -1;
    }
    o->e->P_SKIP--;
  }
  return 0;
}

/* The parts of a PARTS object, its header in hdr. */
static PyObject *recv_parts(PipeObject *o, parc_pipe *p,
                            const unsigned char *hdr, size_t hlen) {
  uint32_t np;
  memcpy(&np, hdr + 12, 4);
  if (np == 0 || np > MAX_PARTS || hlen != CTRL_HEADER + 8 * (size_t)np) {
    PyErr_SetString(PyExc_OSError, "bad message header");
    return NULL;
  }
  uint64_t *lens = PyMem_Malloc(8 * (size_t)np);
  if (!lens)
    return PyErr_NoMemory();
  memcpy(lens, hdr + CTRL_HEADER, 8 * (size_t)np);
  PyObject *list = PyList_New(np);
  o->e->P_SKIP = np;
  for (uint32_t i = 0; list && i < np; i++) {
    PyObject *part = i == 0
                         ? PyBytes_FromStringAndSize(NULL, (Py_ssize_t)lens[i])
                         : PyByteArray_FromStringAndSize(NULL,
                                                         (Py_ssize_t)lens[i]);
    if (!part) {
      Py_CLEAR(list);
      break;
    }
    PyList_SET_ITEM(list, i, part);
    char *dst = i == 0 ? PyBytes_AS_STRING(part) : PyByteArray_AS_STRING(part);
    if (recv_exact(p, dst, (size_t)lens[i]) < 0) {
      Py_CLEAR(list);
      break;
    }
    o->e->P_SKIP--;
  }
  PyMem_Free(lens);
  return list;
}

/* What a control message m (len bytes) announces, received now: bytes
 * (EMPTY, ESC) or a list (PARTS); NULL with an exception. */
static PyObject *decode_control(PipeObject *o, parc_pipe *p,
                                const unsigned char *m, size_t len) {
  uint32_t kind;
  memcpy(&kind, m + 8, 4);
  if (kind == CTRL_EMPTY)
    return PyBytes_FromStringAndSize(NULL, 0);
  if (kind == CTRL_PARTS)
    return recv_parts(o, p, m, len);
  if (kind != CTRL_ESC) {
    PyErr_SetString(PyExc_OSError, "bad message header");
    return NULL;
  }
  recv_ctx n = {p, NULL, 0, 0}; /* the escaped message: its length, then it */
  o->e->P_SKIP = 1;
  int rc = parc_py_ch_block(recv_op, &n, -1);
  if (rc != PARC_ETOOBIG) {
    if (rc == PARC_ECLOSED)
      return closed_error(0);
    return parc_py_ch_raise(rc == 0 ? PARC_EINVAL : rc);
  }
  PyObject *r = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n.len);
  if (r && recv_exact(p, PyBytes_AS_STRING(r), n.len) < 0)
    Py_CLEAR(r);
  if (r)
    o->e->P_SKIP = 0;
  return r;
}

static int is_control(const unsigned char *m, size_t len) {
  return len >= CTRL_HEADER && memcmp(m, CTRL_MAGIC, 8) == 0;
}

/* The next user message: bytes, a list (PARTS), or NULL -- with an
 * exception, or without one when the timeout ran out. */
static PyObject *recv_message(PipeObject *o, parc_pipe *p, double timeout) {
  if (!o->scratch && !(o->scratch = PyMem_RawMalloc(SCRATCH)))
    return PyErr_NoMemory();
  if (o->e->P_SKIP > 0 && skip_rest(o, p) < 0)
    return NULL;
  recv_ctx c = {p, o->scratch, SCRATCH, 0};
  int rc = parc_py_ch_block(recv_op, &c, timeout);
  PyObject *big = NULL;
  if (rc == PARC_ETOOBIG) { /* it stays: receive it into its own bytes */
    big = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)c.len);
    if (!big || recv_exact(p, PyBytes_AS_STRING(big), c.len) < 0) {
      Py_XDECREF(big);
      return NULL;
    }
    rc = 0;
  }
  if (rc == PARC_EAGAIN || rc == PARC_ETIMEDOUT)
    return NULL;
  if (rc == PARC_ECLOSED)
    return closed_error(0);
  if (rc != 0)
    return parc_py_ch_raise(rc);
  const unsigned char *m = big ? (unsigned char *)PyBytes_AS_STRING(big)
                               : o->scratch;
  if (!is_control(m, c.len))
    return big ? big
               : PyBytes_FromStringAndSize((const char *)m, (Py_ssize_t)c.len);
  PyObject *r = decode_control(o, p, m, c.len);
  Py_XDECREF(big);
  return r;
}

static PyObject *pipe_recv(PipeObject *o, PyObject *const *args,
                           Py_ssize_t nargs) {
  double timeout = -1;
  if (nargs > 1) {
    PyErr_SetString(PyExc_TypeError, "recv(timeout=-1)");
    return NULL;
  }
  if (nargs == 1 && parc_py_ch_timeout1(args[0], &timeout) < 0)
    return NULL;
  parc_pipe *p = end(o);
  if (!p)
    return NULL;
  PyObject *r = recv_message(o, p, timeout);
  if (!r && !PyErr_Occurred())
    Py_RETURN_NONE;
  return r;
}

/* recv_obj(timeout=-1): the next object; TimeoutError if the timeout ran
 * out first. */
static PyObject *pipe_recv_obj(PipeObject *o, PyObject *const *args,
                               Py_ssize_t nargs) {
  PyObject *r = pipe_recv(o, args, nargs);
  if (r == Py_None) {
    Py_DECREF(r);
    PyErr_SetString(PyExc_TimeoutError, "recv timed out");
    return NULL;
  }
  if (!r)
    return NULL;
  PyObject *obj = parc_py_ch_decode(r);
  Py_DECREF(r);
  return obj;
}

/* A message that recv_into could not write in place: its length once
 * written, ("short", bytes) when it does not fit, or the list of a PARTS
 * object (connection.py writes its in-band pickle). */
static PyObject *into(PyObject *msg, Py_buffer *b, Py_ssize_t offset) {
  if (!msg || !PyBytes_Check(msg))
    return msg;
  Py_ssize_t n = PyBytes_GET_SIZE(msg);
  if (n > b->len - offset)
    return Py_BuildValue("(sN)", "short", msg);
  memcpy((char *)b->buf + offset, PyBytes_AS_STRING(msg), (size_t)n);
  Py_DECREF(msg);
  return PyLong_FromSsize_t(n);
}

/* recv_into(buffer, offset): the next message written into buffer at
 * offset (see into() for what it returns). */
static PyObject *pipe_recv_into(PipeObject *o, PyObject *args) {
  Py_buffer b;
  Py_ssize_t offset = 0;
  if (!PyArg_ParseTuple(args, "w*|n", &b, &offset))
    return NULL;
  PyObject *r = NULL;
  parc_pipe *p = end(o);
  if (!p)
    goto out;
  if (offset < 0 || offset > b.len) {
    PyErr_SetString(PyExc_ValueError,
                    offset < 0 ? "negative offset" : "offset too large");
    goto out;
  }
  if (o->e->P_SKIP > 0 && skip_rest(o, p) < 0)
    goto out;
  recv_ctx c = {p, NULL, 0, 0}; /* the next message's length */
  int rc = parc_py_ch_block(recv_op, &c, -1);
  if (rc != PARC_ETOOBIG) {
    if (rc == PARC_ECLOSED)
      closed_error(0);
    else
      parc_py_ch_raise(rc == 0 ? PARC_EINVAL : rc); /* never empty (top) */
    goto out;
  }
  if (c.len > (size_t)(b.len - offset)) {
    r = into(recv_message(o, p, -1), &b, offset);
    goto out;
  }
  unsigned char *m = (unsigned char *)b.buf + offset;
  if (recv_exact(p, m, c.len) < 0)
    goto out;
  if (!is_control(m, c.len)) {
    r = PyLong_FromSize_t(c.len);
    goto out;
  }
  unsigned char *hdr = PyMem_Malloc(c.len); /* the buffer is reused */
  if (!hdr) {
    PyErr_NoMemory();
    goto out;
  }
  memcpy(hdr, m, c.len);
  r = into(decode_control(o, p, hdr, c.len), &b, offset);
  PyMem_Free(hdr);
out:
  PyBuffer_Release(&b);
  return r;
}

/* poll(timeout=0): True when a message -- or the other end's close -- is
 * there to receive. */
static PyObject *pipe_poll(PipeObject *o, PyObject *args) {
  PyObject *timeout_obj = NULL;
  double timeout = 0;
  if (!PyArg_ParseTuple(args, "|O", &timeout_obj))
    return NULL;
  if (timeout_obj && parc_py_ch_timeout1(timeout_obj, &timeout) < 0)
    return NULL;
  parc_pipe *p = end(o);
  if (!p)
    return NULL;
  if (o->e->P_SKIP > 0 && skip_rest(o, p) < 0)
    return NULL;
  recv_ctx c = {p, NULL, 0, 0};
  int rc = parc_py_ch_block(recv_op, &c, timeout);
  if (rc == PARC_ETOOBIG || rc == PARC_ECLOSED)
    Py_RETURN_TRUE;
  if (rc == PARC_EAGAIN || rc == PARC_ETIMEDOUT)
    Py_RETURN_FALSE;
  return parc_py_ch_raise(rc == 0 ? PARC_EINVAL : rc);
}

static PyObject *pipe_bind(PipeObject *o, PyObject *unused) {
  if (!end(o))
    return NULL;
  Py_RETURN_NONE;
}

static PyObject *pipe_close(PipeObject *o, PyObject *unused) {
  parc_py_ch_entry *e = o->e;
  o->e = NULL;
  parc_py_ch_entry_decref(e);
  Py_RETURN_NONE;
}

static PyObject *pipe_get_closed(PipeObject *o, void *unused) {
  return PyBool_FromLong(o->e == NULL);
}

static PyMethodDef pipe_methods[] = {
    {"send", (PyCFunction)(void (*)(void))pipe_send, METH_FASTCALL,
     "send(payload, timeout=-1) -> True, or False on timeout."},
    {"recv", (PyCFunction)(void (*)(void))pipe_recv, METH_FASTCALL,
     "recv(timeout=-1) -> bytes, a list of parts, or None on timeout."},
    {"send_obj", (PyCFunction)(void (*)(void))pipe_send_obj, METH_FASTCALL,
     "send_obj(obj, timeout=-1): pickles obj and sends it."},
    {"recv_obj", (PyCFunction)(void (*)(void))pipe_recv_obj, METH_FASTCALL,
     "recv_obj(timeout=-1): receives and unpickles the next object."},
    {"recv_into", (PyCFunction)pipe_recv_into, METH_VARARGS, NULL},
    {"poll", (PyCFunction)pipe_poll, METH_VARARGS, NULL},
    {"bind", (PyCFunction)pipe_bind, METH_NOARGS,
     "Binds this end to the calling process now."},
    {"close", (PyCFunction)pipe_close, METH_NOARGS, NULL},
    {"__reduce__", parc_py_ch_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef pipe_getset[] = {
    {"closed", (getter)pipe_get_closed, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject PipeType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "parc._core.PipeEnd",
    .tp_basicsize = sizeof(PipeObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One end of a shared parc_pipe (parc internals; "
              "parc._core.pipe() makes a pair).",
    .tp_dealloc = (destructor)pipe_dealloc,
    .tp_methods = pipe_methods,
    .tp_getset = pipe_getset,
};

static PyMethodDef pipe_functions[] = {
    {"pipe", make_pipe, METH_NOARGS, "pipe() -> (PipeEnd, PipeEnd)"},
    {NULL, NULL, 0, NULL}};

int parc_py_ch_pipe_init(PyObject *m) {
  if (PyType_Ready(&PipeType) < 0)
    return -1;
  Py_INCREF(&PipeType);
  if (PyModule_AddObject(m, "PipeEnd", (PyObject *)&PipeType) < 0) {
    Py_DECREF(&PipeType);
    return -1;
  }
  if (PyModule_AddFunctions(m, pipe_functions) < 0)
    return -1;
  parc_py_ch_register_kind(PARC_PY_CH_PIPE, pipe_wrap, "pipe end");
  return 0;
}
