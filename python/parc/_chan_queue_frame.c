/* _chan_queue_frame.c -- how QueueCore (_chan_queue.c) carries a Python
 * object of any size through a parc_queue whose messages are at most
 * PARC_PY_QCHUNK bytes, and takes it back out whole.
 *
 * Framing. An object is one of:
 *   - a whole message: its pickle, 1 to QCHUNK - 1 bytes, first byte not 0
 *     (a pickle's first byte is 0x80), put as it is; or, for a bytes
 *     object, PARC_PY_QRAW and its bytes (no pickling either way);
 *   - a big message: a header (byte 0, "PARCQ1", the number of parts and
 *     each part's length) and then the parts -- the pickle and its
 *     out-of-band buffers (protocol 5), concatenated -- cut into chunks of
 *     exactly QCHUNK bytes, the last padded with zeros.
 * So a message's length alone tells a chunk (== QCHUNK) from the start of
 * an object (< QCHUNK). Chunks that lie inside one part go straight from
 * the sender's memory into the ring and out into the receiver's buffer;
 * only the chunks that straddle two parts, and the last, go through a
 * scratch buffer.
 *
 * Locks. Producers hold the queue's write lock (a robust parc_lock) for a
 * whole object and consumers its read lock, so the chunks of an object
 * are consecutive and taken by one consumer. parc_queue's own locks do the
 * rest. A process killed anywhere leaves the queue usable:
 *   - a producer killed inside a big message: the consumer reading it
 *     finds the chunks stop, looks at the write lock -- its holder died, or
 *     it is free with no chunk left -- and drops the partial object; a
 *     consumer that comes later skips its chunks (orphans: no header);
 *   - a consumer killed inside a get: the next one takes the read lock
 *     (EOWNERDEAD), skips the chunks left of the object being read; that
 *     object, and only it, is lost.
 * A producer interrupted by a signal inside a big message stops the same
 * way (it lets go of the write lock), as does a consumer.
 */
#include "_chan.h"

#include <string.h>

#define CHUNK PARC_PY_QCHUNK
#define HEADER 16
static const char MAGIC[8] = {0, 'P', 'A', 'R', 'C', 'Q', '1', 0};

static unsigned char *scratch(unsigned char **p) {
  if (!*p && !(*p = PyMem_RawMalloc(CHUNK)))
    PyErr_NoMemory();
  return *p;
}

void parc_py_qframe_free(parc_py_qframe *f) {
  PyMem_RawFree(f->in);
  PyMem_RawFree(f->out);
  f->in = f->out = NULL;
}

int parc_py_qframe_whole(const void *p, size_t n) {
  return n > 0 && n < CHUNK && ((const unsigned char *)p)[0] != 0;
}

static int lock_op(void *ctx, double timeout) {
  int rc = parc_lock_acquire(ctx, timeout);
  if (rc == PARC_EOWNERDEAD) { /* a process died inside a put or get: the
                                  framing survives it (see the top) */
    parc_lock_consistent(ctx);
    rc = 0;
  }
  return rc;
}

/* ---------------------------------------------------------------- put */

typedef struct {
  parc_queue *q;
  const void *p;
  size_t n;
} put_ctx;

static int put_op(void *ctx, double timeout) {
  put_ctx *c = ctx;
  return parc_queue_put(c->q, c->p, c->n, timeout);
}

/* Copies bytes [at, at + n) of the parts' concatenation to dst. */
static void gather(const Py_buffer *parts, int nparts, size_t at,
                   unsigned char *dst, size_t n) {
  for (int i = 0; i < nparts && n > 0; i++) {
    size_t len = (size_t)parts[i].len;
    if (at >= len) {
      at -= len;
      continue;
    }
    size_t k = len - at < n ? len - at : n;
    memcpy(dst, (const unsigned char *)parts[i].buf + at, k);
    dst += k;
    n -= k;
    at = 0;
  }
  memset(dst, 0, n); /* the padding of the last chunk */
}

/* Where chunk [at, at + CHUNK) lies inside one part: its address; else
 * NULL (it straddles parts or runs past the end). */
static const unsigned char *within(const Py_buffer *parts, int nparts,
                                   size_t at) {
  for (int i = 0; i < nparts; i++) {
    size_t len = (size_t)parts[i].len;
    if (at < len)
      return len - at >= CHUNK ? (const unsigned char *)parts[i].buf + at
                               : NULL;
    at -= len;
  }
  return NULL;
}

/* The chunks of a big message, its header already in: 0, or
 * PARC_PY_CH_EINTR (a signal came: the object is dropped, the consumer
 * will notice) or another libparc code. */
static int put_chunks(parc_py_qframe *f, const Py_buffer *parts, int nparts,
                      size_t total) {
  for (size_t at = 0; at < total; at += CHUNK) {
    put_ctx c = {f->q, within(parts, nparts, at), CHUNK};
    if (!c.p) {
      gather(parts, nparts, at, f->out, CHUNK);
      c.p = f->out;
    }
    int rc = parc_py_ch_block(put_op, &c, -1);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* A big message's header, HEADER + 8 * nparts bytes at hdr. */
static void write_header(unsigned char *hdr, const Py_buffer *parts,
                         int nparts) {
  uint32_t np = (uint32_t)nparts, zero = 0;
  memcpy(hdr, MAGIC, 8);
  memcpy(hdr + 8, &np, 4);
  memcpy(hdr + 12, &zero, 4);
  for (int i = 0; i < nparts; i++) {
    uint64_t len = (uint64_t)parts[i].len;
    memcpy(hdr + HEADER + 8 * i, &len, 8);
  }
}

int parc_py_qframe_put(parc_py_qframe *f, const Py_buffer *parts, int nparts,
                       double deadline) {
  size_t total = 0;
  for (int i = 0; i < nparts; i++) total += (size_t)parts[i].len;
  int whole = nparts == 1 && parc_py_qframe_whole(parts[0].buf, total);
  unsigned char header[HEADER + 8 * 64], *hdr = header;
  size_t hlen = HEADER + 8 * (size_t)nparts;
  if (!whole) {
    if (!scratch(&f->out))
      return -1;
    if (hlen > sizeof header)
      hdr = f->out + CHUNK - hlen; /* the scratch's end is free until then */
    write_header(hdr, parts, nparts);
  }
  int rc = parc_py_ch_block(lock_op, f->wlock, parc_py_ch_left(deadline));
  if (rc != 0)
    return rc;
  put_ctx c = {f->q, whole ? parts[0].buf : hdr, whole ? total : hlen};
  rc = parc_py_ch_block(put_op, &c, parc_py_ch_left(deadline));
  if (rc == 0 && !whole)
    rc = put_chunks(f, parts, nparts, total);
  parc_lock_release(f->wlock);
  return rc;
}

int parc_py_qframe_put_now(parc_py_qframe *f, const void *p, size_t n) {
  if (lock_op(f->wlock, 0) != 0)
    return 0;
  int rc = parc_queue_put(f->q, p, n, 0);
  parc_lock_release(f->wlock);
  return rc == 0;
}

/* ---------------------------------------------------------------- get */

typedef struct {
  parc_queue *q;
  void *buf;
  size_t len;
} get_ctx;

static int get_op(void *ctx, double timeout) {
  get_ctx *c = ctx;
  return parc_queue_get(c->q, c->buf, CHUNK, &c->len, timeout);
}

/* After a wait for a chunk found none: has its producer gone? It has if
 * the write lock's holder died, or if the lock is free (the producer let
 * go) and still no chunk came. Returns 0 (a message came: in c), 1 (gone),
 * 2 (still at it). */
static int producer_gone(parc_py_qframe *f, get_ctx *c) {
  int rc = parc_lock_acquire(f->wlock, 0);
  if (rc == PARC_EAGAIN)
    return 2;
  if (rc == PARC_EOWNERDEAD)
    parc_lock_consistent(f->wlock);
  if (rc == 0 || rc == PARC_EOWNERDEAD)
    parc_lock_release(f->wlock);
  return get_op(c, 0) == 0 ? 0 : 1;
}

/* Waits for the next message of a big object into c->buf: 0, 1 (its
 * producer is gone), or PARC_PY_CH_EINTR. Its producer is writing it now,
 * so this waits in libparc's own wait, a slice at a time. */
static int next_chunk(parc_py_qframe *f, get_ctx *c) {
  int rc = get_op(c, 0);
  while (rc != 0) {
    Py_BEGIN_ALLOW_THREADS rc = get_op(c, PARC_PY_CH_SLICE);
    if (rc == PARC_EAGAIN || rc == PARC_ETIMEDOUT)
      rc = producer_gone(f, c);
    else if (rc != 0)
      rc = 1; /* cannot happen (max_msg is CHUNK): drop the object */
    Py_END_ALLOW_THREADS if (rc == 1) return 1;
    if (rc == 2 && PyErr_CheckSignals() < 0)
      return PARC_PY_CH_EINTR;
  }
  return 0;
}

typedef struct {
  int nparts;
  PyObject *list;
  unsigned char **ptr;
  size_t *len;
} big;

/* Where chunk [at, at + CHUNK) of the object lies inside one part. */
static unsigned char *big_within(big *b, size_t at) {
  for (int i = 0; i < b->nparts; i++) {
    if (at < b->len[i])
      return b->len[i] - at >= CHUNK ? b->ptr[i] + at : NULL;
    at -= b->len[i];
  }
  return NULL;
}

static void scatter(big *b, size_t at, const unsigned char *src, size_t n) {
  for (int i = 0; i < b->nparts && n > 0; i++) {
    if (at >= b->len[i]) {
      at -= b->len[i];
      continue;
    }
    size_t k = b->len[i] - at < n ? b->len[i] - at : n;
    memcpy(b->ptr[i] + at, src, k);
    src += k;
    n -= k;
    at = 0;
  }
}

/* The parts' buffers, as the header in f->in says: part 0 as bytes (the
 * pickle), the others as bytearrays (so the arrays made on them are
 * writable). Returns their total length; -1 with an exception. */
static Py_ssize_t big_alloc(parc_py_qframe *f, big *b) {
  size_t total = 0;
  if (!b->list || !b->ptr || !b->len) {
    PyErr_NoMemory();
    return -1;
  }
  for (int i = 0; i < b->nparts; i++) {
    uint64_t n;
    memcpy(&n, f->in + HEADER + 8 * i, 8);
    PyObject *part = i == 0
                         ? PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n)
                         : PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)n);
    if (!part)
      return -1;
    PyList_SET_ITEM(b->list, i, part);
    b->ptr[i] = (unsigned char *)(i == 0 ? PyBytes_AS_STRING(part)
                                         : PyByteArray_AS_STRING(part));
    b->len[i] = (size_t)n;
    total += (size_t)n;
  }
  return (Py_ssize_t)total;
}

/* The parts of a big object whose header is in f->in (hlen bytes). NULL
 * with an exception, or NULL without one when the object was dropped;
 * then, if a message that begins another object came instead of a chunk,
 * it is in f->in and *restart is its length. */
static PyObject *get_big(parc_py_qframe *f, size_t hlen, size_t *restart) {
  uint32_t np;
  memcpy(&np, f->in + 8, 4);
  if (np == 0 || hlen != HEADER + 8 * (size_t)np)
    return NULL; /* not a header: skip it */
  big b = {(int)np, PyList_New(np), PyMem_Calloc(np, sizeof(void *)),
           PyMem_Calloc(np, sizeof(size_t))};
  PyObject *r = NULL;
  Py_ssize_t total = big_alloc(f, &b);
  for (size_t at = 0; total >= 0 && at < (size_t)total; at += CHUNK) {
    unsigned char *dst = big_within(&b, at);
    get_ctx c = {f->q, dst ? dst : f->in, 0};
    if (next_chunk(f, &c) != 0)
      goto out; /* a signal (its exception set), or its producer is gone */
    if (c.len != CHUNK) { /* another object begins: this one was dropped */
      if (dst)
        memcpy(f->in, dst, c.len);
      *restart = c.len;
      goto out;
    }
    if (!dst)
      scatter(&b, at, f->in,
              (size_t)total - at < CHUNK ? (size_t)total - at : CHUNK);
  }
  if (total >= 0) {
    r = b.list;
    b.list = NULL;
  }
out:
  Py_XDECREF(b.list);
  PyMem_Free(b.ptr);
  PyMem_Free(b.len);
  return r;
}

/* One object, the read lock held (see parc_py_qframe_get). */
static PyObject *get_locked(parc_py_qframe *f, double deadline) {
  size_t pending = 0; /* a message already in f->in */
  for (;;) {
    get_ctx c = {f->q, f->in, pending};
    if (!pending) {
      int rc = parc_py_ch_block(get_op, &c, parc_py_ch_left(deadline));
      if (rc == PARC_EAGAIN || rc == PARC_ETIMEDOUT)
        return NULL;
      if (rc != 0)
        return parc_py_ch_raise(rc);
    }
    pending = 0;
    if (c.len == CHUNK || c.len == 0)
      continue;                   /* an orphan chunk, of an object dropped */
    if (f->in[0] == PARC_PY_QRAW) /* the object itself, in a 1-tuple */
      return Py_BuildValue("(N)",
                           PyBytes_FromStringAndSize((const char *)f->in + 1,
                                                     (Py_ssize_t)c.len - 1));
    if (f->in[0] != 0)
      return PyBytes_FromStringAndSize((const char *)f->in, (Py_ssize_t)c.len);
    if (c.len < HEADER || memcmp(f->in, MAGIC, 8) != 0)
      continue;
    PyObject *r = get_big(f, c.len, &pending);
    if (r || PyErr_Occurred())
      return r;
  }
}

PyObject *parc_py_qframe_get(parc_py_qframe *f, double deadline) {
  if (!scratch(&f->in))
    return NULL;
  int rc = parc_py_ch_block(lock_op, f->rlock, parc_py_ch_left(deadline));
  if (rc == PARC_EAGAIN || rc == PARC_ETIMEDOUT)
    return NULL;
  if (rc != 0)
    return parc_py_ch_raise(rc);
  PyObject *r = get_locked(f, deadline);
  parc_lock_release(f->rlock);
  return r;
}
