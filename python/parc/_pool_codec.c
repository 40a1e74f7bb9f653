/* _pool_codec.c -- pickles of the simplest objects, written and read in C.
 *
 * A map of chunksize 1, and every submit().result(), pickles each argument
 * and each result on its own; pickle.dumps and pickle.loads cost about
 * 200 ns a call, most of it the call itself, several times what a small
 * int's bytes take to write. So the objects tasks pass most -- None,
 * bool, int (64 bits), float, str, bytes, tuples of them, and a short
 * list of them at the top -- are written here as protocol-5 pickles (PROTO 5, the
 * standard opcodes, STOP; no FRAME or memo, which a pickle may leave out),
 * and such pickles are read back here. pickle.loads reads these bytes as
 * it reads its own; anything else (another type, a subclass, a str with
 * lone surrogates, an int past 64 bits, deeper nesting) goes through
 * pickle itself, and any opcode the reader does not know sends the whole
 * pickle to pickle.loads.
 *
 * Only immutable values nest (a list only at the top), because a pickle
 * without memo would copy an object that appears twice: for these the
 * copy cannot be told apart.
 */
#include <string.h>

#include "_pool.h"

#define MAX_DEPTH 8
#define MAX_LIST 256  /* longer lists: pickle's, which does them as fast */
#define MAX_READ 4096 /* longer pickles: pickle.loads, as fast for them */

enum {
  OP_PROTO = 0x80,
  OP_FRAME = 0x95,
  OP_MEMOIZE = 0x94,
  OP_STOP = '.',
  OP_NONE = 'N',
  OP_TRUE = 0x88,
  OP_FALSE = 0x89,
  OP_BININT1 = 'K',
  OP_BININT2 = 'M',
  OP_BININT = 'J',
  OP_LONG1 = 0x8a,
  OP_BINFLOAT = 'G',
  OP_SHORT_BINUNICODE = 0x8c,
  OP_BINUNICODE = 'X',
  OP_SHORT_BINBYTES = 'C',
  OP_BINBYTES = 'B',
  OP_EMPTY_TUPLE = ')',
  OP_TUPLE1 = 0x85,
  OP_TUPLE2 = 0x86,
  OP_TUPLE3 = 0x87,
  OP_MARK = '(',
  OP_TUPLE = 't',
  OP_EMPTY_LIST = ']',
  OP_APPEND = 'a',
  OP_APPENDS = 'e'
};

/* ---------------------------------------------------------------- writing */

typedef struct wbuf {
  unsigned char *p;
  size_t len, cap;
  unsigned char local[256];
} wbuf;

static unsigned char *room(wbuf *b, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap * 2 > b->len + n ? b->cap * 2 : b->len + n + 256;
    unsigned char *q = b->p == b->local ? PyMem_Malloc(cap)
                                        : PyMem_Realloc(b->p, cap);
    if (!q)
      return NULL;
    if (b->p == b->local)
      memcpy(q, b->local, b->len);
    b->p = q;
    b->cap = cap;
  }
  unsigned char *at = b->p + b->len;
  b->len += n;
  return at;
}

static int put_op(wbuf *b, int op) {
  unsigned char *at = room(b, 1);
  return at ? (*at = (unsigned char)op, 0) : -1;
}

static void le(unsigned char *at, uint64_t v, int n) {
  for (int i = 0; i < n; i++) at[i] = (unsigned char)(v >> (8 * i));
}

static int put_int(wbuf *b, PyObject *o) {
  int overflow;
  long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
  if (overflow || (v == -1 && PyErr_Occurred()))
    return 1;
  unsigned char *at;
  if (v >= 0 && v < 256) {
    if (!(at = room(b, 2)))
      return -1;
    at[0] = OP_BININT1, at[1] = (unsigned char)v;
  } else if (v >= 0 && v < 65536) {
    if (!(at = room(b, 3)))
      return -1;
    at[0] = OP_BININT2, le(at + 1, (uint64_t)v, 2);
  } else if (v >= INT32_MIN && v <= INT32_MAX) {
    if (!(at = room(b, 5)))
      return -1;
    at[0] = OP_BININT, le(at + 1, (uint64_t)v, 4);
  } else { /* the fewest bytes that keep the sign, as pickle's encode_long */
    int n = 5;
    while (n < 8 && (v >> (8 * n - 1)) != 0 && (v >> (8 * n - 1)) != -1) n++;
    if (!(at = room(b, 2 + (size_t)n)))
      return -1;
    at[0] = OP_LONG1, at[1] = (unsigned char)n;
    le(at + 2, (uint64_t)v, n);
  }
  return 0;
}

static int put_float(wbuf *b, double d) {
  uint64_t bits;
  memcpy(&bits, &d, sizeof bits);
  unsigned char *at = room(b, 9);
  if (!at)
    return -1;
  at[0] = OP_BINFLOAT;
  for (int i = 0; i < 8; i++) /* big-endian, as pickle's */
    at[1 + i] = (unsigned char)(bits >> (56 - 8 * i));
  return 0;
}

/* A str or bytes: the short form under 256 bytes. */
static int put_sized(wbuf *b, int short_op, int op, const char *s, size_t n) {
  if (n > UINT32_MAX)
    return 1;
  unsigned char *at = room(b, n + (n < 256 ? 2 : 5));
  if (!at)
    return -1;
  if (n < 256) {
    at[0] = (unsigned char)short_op, at[1] = (unsigned char)n;
    at += 2;
  } else {
    at[0] = (unsigned char)op;
    le(at + 1, n, 4);
    at += 5;
  }
  memcpy(at, s, n);
  return 0;
}

static int put_str(wbuf *b, PyObject *o) {
  Py_ssize_t n;
  const char *s = PyUnicode_AsUTF8AndSize(o, &n);
  if (!s) { /* lone surrogates: pickle's surrogatepass */
    PyErr_Clear();
    return 1;
  }
  return put_sized(b, OP_SHORT_BINUNICODE, OP_BINUNICODE, s, (size_t)n);
}

static int put_obj(wbuf *b, PyObject *o, int depth);

static int put_items(wbuf *b, PyObject *const *items, Py_ssize_t n, int depth) {
  for (Py_ssize_t i = 0; i < n; i++) {
    int rc = put_obj(b, items[i], depth + 1);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static int put_tuple(wbuf *b, PyObject *o, int depth) {
  Py_ssize_t n = PyTuple_GET_SIZE(o);
  static const unsigned char small[] = {OP_EMPTY_TUPLE, OP_TUPLE1, OP_TUPLE2,
                                        OP_TUPLE3};
  int rc;
  if (n > 3 && put_op(b, OP_MARK) < 0)
    return -1;
  if ((rc = put_items(b, &PyTuple_GET_ITEM(o, 0), n, depth)) != 0)
    return rc;
  return put_op(b, n <= 3 ? small[n] : OP_TUPLE);
}

static int put_list(wbuf *b, PyObject *o) {
  Py_ssize_t n = PyList_GET_SIZE(o);
  int rc;
  if (n > MAX_LIST)
    return 1;
  if (put_op(b, OP_EMPTY_LIST) < 0 || (n > 0 && put_op(b, OP_MARK) < 0))
    return -1;
  /* No Python code runs while the items are written: the list stays. */
  if (n > 0 && (rc = put_items(b, &PyList_GET_ITEM(o, 0), n, 1)) != 0)
    return rc;
  return n > 0 ? put_op(b, OP_APPENDS) : 0;
}

/* 0 written, 1 not an object of ours (nothing set), -1 no memory. */
static int put_obj(wbuf *b, PyObject *o, int depth) {
  if (depth > MAX_DEPTH)
    return 1;
  if (o == Py_None)
    return put_op(b, OP_NONE);
  if (o == Py_True || o == Py_False)
    return put_op(b, o == Py_True ? OP_TRUE : OP_FALSE);
  if (PyLong_CheckExact(o))
    return put_int(b, o);
  if (PyFloat_CheckExact(o))
    return put_float(b, PyFloat_AS_DOUBLE(o));
  if (PyUnicode_CheckExact(o))
    return put_str(b, o);
  if (PyBytes_CheckExact(o))
    return put_sized(b, OP_SHORT_BINBYTES, OP_BINBYTES, PyBytes_AS_STRING(o),
                     (size_t)PyBytes_GET_SIZE(o));
  if (PyTuple_CheckExact(o))
    return put_tuple(b, o, depth);
  if (PyList_CheckExact(o) && depth == 0)
    return put_list(b, o);
  return 1;
}

/* The pickle of obj: ours if it is made of the objects above, else
 * pickle.dumps(obj, 5)'s. A new bytes object, or NULL with an exception. */
PyObject *parc_py_pickle_dumps(PyObject *obj) {
  wbuf b = {.cap = sizeof b.local};
  b.p = b.local;
  int rc = -1;
  unsigned char *at = room(&b, 2);
  if (at) {
    at[0] = OP_PROTO, at[1] = 5;
    rc = put_obj(&b, obj, 0);
    if (rc == 0)
      rc = put_op(&b, OP_STOP);
  }
  PyObject *r = NULL;
  if (rc == 0)
    r = PyBytes_FromStringAndSize((const char *)b.p, (Py_ssize_t)b.len);
  else if (rc > 0)
    r = parc_py_pickle_dumps_std(obj);
  else
    PyErr_NoMemory();
  if (b.p != b.local)
    PyMem_Free(b.p);
  return r;
}

/* ---------------------------------------------------------------- reading */

typedef struct rstack {
  PyObject **v;
  size_t n, cap;
  size_t marks[MAX_DEPTH + 2];
  int nmarks;
  PyObject *local[16];
} rstack;

static int push(rstack *s, PyObject *o) {
  if (!o)
    return -1;
  if (s->n == s->cap) {
    size_t cap = s->cap * 4;
    PyObject **q = s->v == s->local ? PyMem_Malloc(cap * sizeof *q)
                                    : PyMem_Realloc(s->v, cap * sizeof *q);
    if (!q) {
      Py_DECREF(o);
      PyErr_NoMemory();
      return -1;
    }
    if (s->v == s->local)
      memcpy(q, s->local, s->n * sizeof *q);
    s->v = q;
    s->cap = cap;
  }
  s->v[s->n++] = o;
  return 0;
}

static uint64_t rd_le(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* Pops the top k items into a new tuple (k <= n checked by the caller). */
static int make_tuple(rstack *s, size_t k) {
  PyObject *t = PyTuple_New((Py_ssize_t)k);
  if (!t)
    return -1;
  for (size_t i = 0; i < k; i++)
    PyTuple_SET_ITEM(t, (Py_ssize_t)i, s->v[s->n - k + i]);
  s->n -= k;
  return push(s, t);
}

/* Appends the items above the last mark to the list below it. */
static int appends(rstack *s) {
  size_t m = s->marks[--s->nmarks];
  if (m == 0 || !PyList_CheckExact(s->v[m - 1]))
    return 1;
  int rc = 0;
  for (size_t i = m; i < s->n; i++) {
    if (rc == 0 && PyList_Append(s->v[m - 1], s->v[i]) < 0)
      rc = -1;
    Py_DECREF(s->v[i]);
  }
  s->n = m;
  return rc;
}

/* Need n more bytes at p of [p, end)? */
#define NEED(k)                                                                \
  do {                                                                         \
    if ((size_t)(end - p) < (size_t)(k))                                       \
      return 1;                                                                \
  } while (0)

/* One opcode at *pp: 0 done, 2 STOP, 1 not ours (or malformed), -1 error. */
static int step(rstack *s, const unsigned char **pp, const unsigned char *end) {
  const unsigned char *p = *pp;
  NEED(1);
  int op = *p++, rc = 0;
  size_t n;
  switch (op) {
  case OP_FRAME:
    NEED(8);
    p += 8;
    break;
  case OP_MEMOIZE: break; /* no GET follows: the reader knows none */
  case OP_STOP: rc = 2; break;
  case OP_NONE:
    Py_INCREF(Py_None);
    rc = push(s, Py_None);
    break;
  case OP_TRUE:
    Py_INCREF(Py_True);
    rc = push(s, Py_True);
    break;
  case OP_FALSE:
    Py_INCREF(Py_False);
    rc = push(s, Py_False);
    break;
  case OP_BININT1:
    NEED(1);
    rc = push(s, PyLong_FromLong(*p));
    p += 1;
    break;
  case OP_BININT2:
    NEED(2);
    rc = push(s, PyLong_FromLong((long)rd_le(p, 2)));
    p += 2;
    break;
  case OP_BININT:
    NEED(4);
    rc = push(s, PyLong_FromLong((int32_t)(uint32_t)rd_le(p, 4)));
    p += 4;
    break;
  case OP_LONG1: {
    NEED(1);
    int k = *p++;
    if (k < 1 || k > 8)
      return 1;
    NEED(k);
    uint64_t u = rd_le(p, k);
    if (k < 8 && (u >> (8 * k - 1)) & 1) /* sign-extend */
      u |= ~(uint64_t)0 << (8 * k);
    rc = push(s, PyLong_FromLongLong((long long)u));
    p += k;
    break;
  }
  case OP_BINFLOAT: {
    NEED(8);
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++) bits = bits << 8 | p[i];
    double d;
    memcpy(&d, &bits, sizeof d);
    rc = push(s, PyFloat_FromDouble(d));
    p += 8;
    break;
  }
  case OP_SHORT_BINUNICODE:
  case OP_BINUNICODE:
  case OP_SHORT_BINBYTES:
  case OP_BINBYTES: {
    int w = op == OP_SHORT_BINUNICODE || op == OP_SHORT_BINBYTES ? 1 : 4;
    NEED(w);
    n = (size_t)rd_le(p, w);
    p += w;
    NEED(n);
    rc = push(s,
              op == OP_SHORT_BINUNICODE || op == OP_BINUNICODE
                  ? PyUnicode_DecodeUTF8((const char *)p, (Py_ssize_t)n,
                                         "surrogatepass")
                  : PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)n));
    p += n;
    break;
  }
  case OP_EMPTY_TUPLE: rc = push(s, PyTuple_New(0)); break;
  case OP_TUPLE1:
  case OP_TUPLE2:
  case OP_TUPLE3:
    n = (size_t)(op - OP_TUPLE1 + 1);
    if (s->n < n + (s->nmarks ? s->marks[s->nmarks - 1] : 0))
      return 1;
    rc = make_tuple(s, n);
    break;
  case OP_MARK:
    if (s->nmarks == MAX_DEPTH + 2)
      return 1;
    s->marks[s->nmarks++] = s->n;
    break;
  case OP_TUPLE:
    if (!s->nmarks)
      return 1;
    n = s->n - s->marks[--s->nmarks];
    rc = make_tuple(s, n);
    break;
  case OP_EMPTY_LIST: rc = push(s, PyList_New(0)); break;
  case OP_APPEND:
    if (s->n < 2 || !PyList_CheckExact(s->v[s->n - 2]) ||
        (s->nmarks && s->marks[s->nmarks - 1] > s->n - 2))
      return 1;
    rc = PyList_Append(s->v[s->n - 2], s->v[s->n - 1]);
    Py_DECREF(s->v[--s->n]);
    break;
  case OP_APPENDS:
    if (!s->nmarks)
      return 1;
    rc = appends(s);
    break;
  default: return 1;
  }
  *pp = p;
  return rc;
}

/* Reads a pickle of the objects above: 0 and *out, 1 not one (nothing
 * set), -1 with an exception. */
static int read_simple(const unsigned char *p, size_t len, PyObject **out) {
  const unsigned char *end = p + len;
  if (len < 3 || len > MAX_READ || p[0] != OP_PROTO || p[1] < 2 || p[1] > 5)
    return 1;
  p += 2;
  rstack s = {.cap = 16};
  s.v = s.local;
  int rc;
  while ((rc = step(&s, &p, end)) == 0)
    ;
  if (rc == 2 && (s.n != 1 || s.nmarks || p != end))
    rc = 1; /* STOP, but not one whole object: pickle.loads will say */
  if (rc == 2) {
    *out = s.v[0];
    s.n = 0;
    rc = 0;
  }
  for (size_t i = 0; i < s.n; i++) Py_XDECREF(s.v[i]);
  if (s.v != s.local)
    PyMem_Free(s.v);
  return rc;
}

/* pickle.loads of `len` bytes at `data`, read here when they are one of
 * the pickles above. */
PyObject *parc_py_pickle_loads(const void *data, size_t len) {
  PyObject *o;
  int rc = read_simple(data, len, &o);
  if (rc == 0)
    return o;
  if (rc < 0)
    return NULL;
  return parc_py_pickle_loads_std(data, len);
}
