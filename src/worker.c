/* worker.c -- the loop every worker runs, thread or process, and the layout
 * of the slots and lanes it uses.
 *
 * A worker reads one batch at a time from its inbound lane, runs it, and
 * writes one result per unit to its outbound lane. Before each unit it
 * records in its slot the start time, then bumps `started`; the manager
 * reads them in the other order, so a unit it sees as started has a start
 * time no older than the truth.
 *
 * The worker never takes a lock and never allocates while running a unit,
 * but for the result of a bytes task, which only the task knows the size
 * of: its buffers grow between batches or units only.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

static _Thread_local int tls_worker_id = -1;
static _Thread_local parc_pool *tls_pool; /* the pool of the task running */

int parc_worker_id(void) { return tls_worker_id; }

int parc_task_ask(const void *q, size_t qlen, void *a, size_t acap,
                  size_t *alen, double timeout) {
  parc_pool *p = tls_pool;
  if (alen)
    *alen = 0;
  if (!p || !alen || (qlen && !q) || (acap && !a) || qlen > PARC_ASK_MAX)
    return PARC_EINVAL;
  if (!p->be->ask)
    return PARC_ENOTSUP;
  return p->be->ask(p, (unsigned)tls_worker_id, q, qlen, a,
                    acap < PARC_ASK_MAX ? acap : PARC_ASK_MAX, alen,
                    parc__deadline(timeout));
}

int parc__answer(parc_pool *p, const void *q, size_t qlen, void *a, size_t acap,
                 size_t *alen) {
  *alen = 0;
  if (!p->opts.answer)
    return PARC_ENOTSUP;
  size_t n = 0;
  int rc = p->opts.answer(q, qlen, a, acap, &n, p->opts.answer_arg);
  *alen = n < acap ? n : acap;
  return rc;
}

/* ---------------------------------------------------------------- layout */

#define ALIGN64(x) (((x) + 63u) & ~(size_t)63u)

size_t parc__cell_size(void) {
  return ALIGN64(sizeof(parc__slot)) +
         2 * ALIGN64(parc__ring_footprint(PARC__LANE_BYTES));
}

void parc__cell_attach(parc_pool *p, unsigned w, void *cell) {
  unsigned char *c = cell;
  size_t ring = ALIGN64(parc__ring_footprint(PARC__LANE_BYTES));
  parc__slot *s = (parc__slot *)c;
  s->to_worker = (parc__ring *)(c + ALIGN64(sizeof(parc__slot)));
  s->from_worker = (parc__ring *)(c + ALIGN64(sizeof(parc__slot)) + ring);
  p->workers[w].slot = s;
}

void parc__cell_reset(parc_pool *p, unsigned w) {
  parc__slot *s = p->workers[w].slot;
  bool shared = p->be->shared;
  atomic_store(&s->state, SLOT_EMPTY);
  atomic_store(&s->init_rc, 0);
  atomic_store(&s->started, 0);
  atomic_store(&s->task_start, 0);
  atomic_store(&s->cur_index, 0);
  atomic_store(&s->abort, 0);
  for (int i = 0; i < PARC__INFLIGHT; i++) atomic_store(&s->skip[i], 0);
  /* The worker blocks reading batches and writing results; the manager
   * never blocks: it hears of data and room through the doorbell. */
  parc__ring_init(s->to_worker, PARC__LANE_BYTES, shared,
                  PARC__RING_READER_BLOCKS, NULL, p->doorbell, PARC__SPIN);
  parc__ring_init(s->from_worker, PARC__LANE_BYTES, shared,
                  PARC__RING_WRITER_BLOCKS, p->doorbell, NULL, PARC__SPIN);
}

void parc__slot_close(parc__slot *s) {
  atomic_store(&s->abort, 1);
  parc__event_signal(&s->to_worker->readable, 0);
  parc__event_signal(&s->to_worker->writable, 0);
  parc__event_signal(&s->from_worker->readable, 0);
  parc__event_signal(&s->from_worker->writable, 0);
}

/* ---------------------------------------------------------------- loop */

typedef struct wbuf {
  unsigned char *in, *out, *tmp;
  size_t in_cap, out_cap;
} wbuf;

/* Grows the buffers for a batch; false when memory is short. */
static bool wbuf_fit(wbuf *b, size_t in_size, size_t out_size) {
  if (in_size > b->in_cap) {
    void *q = parc__realloc(b->in, in_size);
    if (!q)
      return false;
    b->in = q;
    b->in_cap = in_size;
  }
  if (out_size > b->out_cap) {
    void *q1 = parc__realloc(b->out, out_size);
    if (q1)
      b->out = q1;
    void *q2 = q1 ? parc__realloc(b->tmp, out_size) : NULL;
    if (q2)
      b->tmp = q2;
    if (!q1 || !q2)
      return false;
    b->out_cap = out_size;
  }
  return true;
}

/* A bytes task's result: kept between tasks, so it grows once. */
struct parc_result {
  unsigned char *data;
  size_t len, cap;
};

void *parc_result_alloc(parc_result *r, size_t len) {
  if (!r)
    return NULL;
  r->len = 0;
  if (len > r->cap) {
    void *q = parc__realloc(r->data, len);
    if (!q)
      return NULL;
    r->data = q;
    r->cap = len;
  }
  r->len = len;
  return len ? r->data : (void *)r; /* no bytes: any valid pointer */
}

int parc_result_set(parc_result *r, const void *data, size_t len) {
  if (!r || (len && !data))
    return PARC_EINVAL;
  void *dst = parc_result_alloc(r, len);
  if (!dst)
    return PARC_ENOMEM;
  if (len)
    memcpy(dst, data, len);
  return 0;
}

typedef struct wctx {
  parc__slot *s;
  void *ctx;
  wbuf buf;
  parc_result res;
} wctx;

static bool skipped(parc__slot *s, uint64_t seq) {
  for (int i = 0; i < PARC__INFLIGHT; i++)
    if (atomic_load_explicit(&s->skip[i], memory_order_seq_cst) == seq)
      return true;
  return false;
}

/* Announces a unit; false if its batch was canceled, and then the unit is
 * reported, not run. Every reported unit is announced, so `started` and
 * the results received always count the same units. The check follows
 * the announcement, pairing with the manager marking the batch and then
 * reading `started`: either the worker sees the mark, or the manager sees
 * the unit started and treats it as running. */
static bool begin_unit(parc__slot *s, uint64_t seq, uint64_t index) {
  atomic_store_explicit(&s->cur_index, index, memory_order_relaxed);
  atomic_store_explicit(&s->task_start, parc__now_ns(), memory_order_relaxed);
  atomic_fetch_add_explicit(&s->started, 1, memory_order_seq_cst);
  return !skipped(s, seq) &&
         !atomic_load_explicit(&s->abort, memory_order_seq_cst);
}

/* Each result is published at once, so a worker that dies later loses
 * none; but the manager is rung only for the last of a batch or after a
 * task of PARC__QUIET_NS or more, which saves a contended atomic per short task
 * and delays no one by more than a batch of short tasks. */
static int send_result(wctx *w, uint64_t seq, int rc, uint32_t flags,
                       uint64_t fail_index, uint64_t t0, const void *out,
                       size_t out_size, bool last) {
  parc__msg_result r = {.seq = seq,
                        .rc = rc,
                        .flags = flags,
                        .fail_index = fail_index,
                        .elapsed_ns = parc__now_ns() - t0,
                        .out_len = out_size};
  bool quiet = !last && r.elapsed_ns < PARC__QUIET_NS;
  struct iovec iov[2] = {{&r, sizeof r}, {(void *)out, out_size}};
  return parc__ring_writev(w->s->from_worker, iov, out_size ? 2 : 1, quiet,
                           PARC__FOREVER, &w->s->abort);
}

/* A unit of a canceled batch (or of an abandoned worker), not run. */
static int send_canceled(wctx *w, uint64_t seq, uint64_t index, uint64_t t0,
                         const void *out, size_t out_size, bool last) {
  return send_result(w, seq, PARC_ECANCELED, PARC__RESULT_LIBRARY_RC, index, t0,
                     out, out_size, last);
}

/* Inputs of a batch are read in one go when they fit the buffer (the
 * manager keeps batches within half a lane), else one by one. */
static int run_map(wctx *w, const parc__msg_batch *m) {
  parc_task_fn fn = (parc_task_fn)(uintptr_t)m->fn;
  const unsigned char *shared = (const unsigned char *)(uintptr_t)m->in_ptr;
  bool whole = shared || m->count * m->in_size <= w->buf.in_cap;
  const unsigned char *base = shared ? shared : w->buf.in;
  if (!shared && whole &&
      parc__ring_read(w->s->to_worker, w->buf.in, m->count * m->in_size,
                      PARC__FOREVER, &w->s->abort) != 0)
    return PARC_ECLOSED;
  for (uint64_t i = 0; i < m->count; i++) {
    const unsigned char *in = whole ? base + i * m->in_size : w->buf.in;
    int rc = whole ? 0
                   : parc__ring_read(w->s->to_worker, w->buf.in, m->in_size,
                                     PARC__FOREVER, &w->s->abort);
    if (rc != 0)
      return rc;
    if (atomic_load(&w->s->abort))
      return PARC_ECLOSED; /* abandoned: run nothing more */
    uint64_t t0 = parc__now_ns();
    bool last = i + 1 == m->count;
    memset(w->buf.out, 0, m->out_size);
    if (begin_unit(w->s, m->seq, m->first + i))
      rc = send_result(w, m->seq, fn(in, w->buf.out, w->ctx), 0, m->first + i,
                       t0, w->buf.out, m->out_size, last);
    else
      rc = send_canceled(w, m->seq, m->first + i, t0, w->buf.out, m->out_size,
                         last);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* Bytes tasks: each input is its length, then its bytes, read into the
 * input buffer (grown to fit); each result is what the task set. */
static int run_bytes(wctx *w, const parc__msg_batch *m) {
  parc_bytes_fn fn = (parc_bytes_fn)(uintptr_t)m->fn;
  for (uint64_t i = 0; i < m->count; i++) {
    uint64_t len;
    int rc = parc__ring_read(w->s->to_worker, &len, sizeof len, PARC__FOREVER,
                             &w->s->abort);
    if (rc == 0 && !wbuf_fit(&w->buf, len ? len : 1, 1))
      rc = PARC_ENOMEM; /* leaves: its unit is charged as a failure */
    if (rc == 0)
      rc = parc__ring_read(w->s->to_worker, w->buf.in, len, PARC__FOREVER,
                           &w->s->abort);
    if (rc == 0 && atomic_load(&w->s->abort))
      rc = PARC_ECLOSED; /* abandoned: run nothing more */
    if (rc != 0) {
      if (rc == PARC_ENOMEM)
        begin_unit(w->s, m->seq, m->first + i);
      return rc;
    }
    uint64_t t0 = parc__now_ns();
    bool last = i + 1 == m->count;
    w->res.len = 0;
    if (begin_unit(w->s, m->seq, m->first + i)) {
      int trc = fn(w->buf.in, len, &w->res, w->ctx); /* before res is read */
      rc = send_result(w, m->seq, trc, 0, m->first + i, t0, w->res.data,
                       w->res.len, last);
    } else
      rc = send_canceled(w, m->seq, m->first + i, t0, NULL, 0, last);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static int run_reduce(wctx *w, const parc__msg_batch *m) {
  parc_task_fn fn = (parc_task_fn)(uintptr_t)m->fn;
  parc_combine_fn combine = (parc_combine_fn)(uintptr_t)m->combine;
  int rc = parc__ring_read(w->s->to_worker, w->buf.out, m->out_size,
                           PARC__FOREVER, &w->s->abort);
  if (rc != 0)
    return rc;
  uint64_t t0 = parc__now_ns(), fail_index = m->first;
  uint32_t flags = 0;
  int trc = 0;
  if (atomic_load(&w->s->abort))
    return PARC_ECLOSED;
  if (!begin_unit(w->s, m->seq, m->first)) {
    trc = PARC_ECANCELED; /* read the inputs, run nothing */
    flags = PARC__RESULT_LIBRARY_RC;
  }
  const unsigned char *shared = (const unsigned char *)(uintptr_t)m->in_ptr;
  for (uint64_t i = 0; i < m->count; i++) {
    const unsigned char *in = shared ? shared + i * m->in_size : w->buf.in;
    rc = shared ? 0
                : parc__ring_read(w->s->to_worker, w->buf.in, m->in_size,
                                  PARC__FOREVER, &w->s->abort);
    if (rc != 0)
      return rc;
    if (trc != 0)
      continue; /* the block failed: consume the rest of its inputs */
    atomic_store_explicit(&w->s->cur_index, m->first + i, memory_order_relaxed);
    memset(w->buf.tmp, 0, m->out_size);
    trc = fn(in, w->buf.tmp, w->ctx);
    if (trc == 0)
      trc = combine(w->buf.out, w->buf.tmp, w->ctx);
    if (trc != 0)
      fail_index = m->first + i;
  }
  return send_result(w, m->seq, trc, flags, fail_index, t0, w->buf.out,
                     m->out_size, true);
}

static int run_for(wctx *w, const parc__msg_batch *m) {
  parc_for_fn body = (parc_for_fn)(uintptr_t)m->fn;
  void *ctx = (void *)(uintptr_t)m->ctx;
  if (m->in_size) {
    int rc = parc__ring_read(w->s->to_worker, w->buf.in, m->in_size,
                             PARC__FOREVER, &w->s->abort);
    if (rc != 0)
      return rc;
    ctx = w->buf.in;
  }
  int64_t b = (int64_t)m->first, e = (int64_t)(m->first + m->count);
  if (atomic_load(&w->s->abort))
    return PARC_ECLOSED;
  uint64_t t0 = parc__now_ns();
  if (!begin_unit(w->s, m->seq, m->first))
    return send_canceled(w, m->seq, m->first, t0, NULL, 0, true);
  return send_result(w, m->seq, body(b, e, ctx), 0, m->first, t0, NULL, 0,
                     true);
}

/* Thread workers only: take chunks of the job's loop until none is left,
 * the call ends, or this worker is abandoned. Each chunk's start is
 * published as the unit's, so task_timeout applies per chunk. */
static int run_loop(wctx *w, const parc__msg_batch *m, unsigned workers) {
  parc__job *j = (parc__job *)(uintptr_t)m->ctx;
  parc_for_fn body = (parc_for_fn)(uintptr_t)m->fn;
  uint64_t t0 = parc__now_ns(), off, count;
  if (!begin_unit(w->s, m->seq, 0))
    return send_canceled(w, m->seq, 0, t0, NULL, 0, true);
  while (!atomic_load_explicit(&w->s->abort, memory_order_relaxed) &&
         parc__loop_take(j, workers, (unsigned)m->first, &off, &count)) {
    atomic_store_explicit(&w->s->cur_index, off, memory_order_relaxed);
    atomic_store_explicit(&w->s->task_start, parc__now_ns(),
                          memory_order_release);
    int64_t b = (int64_t)((uint64_t)j->begin + off);
    int rc = body(b, (int64_t)((uint64_t)b + count), j->ctx);
    if (rc != 0) /* in the job before the chunk counts as done */
      parc__loop_fail(j, off, rc);
    atomic_fetch_add_explicit(&j->units_done, count, memory_order_release);
  }
  return send_result(w, m->seq, 0, 0, 0, t0, NULL, 0, true);
}

void parc__worker_main(parc_pool *p, unsigned id, parc__slot *s) {
  tls_worker_id = (int)id;
  tls_pool = p;
  atomic_store(&s->state, SLOT_STARTING);
  int rc = p->opts.init ? p->opts.init(p->opts.ctx, id) : 0;
  if (rc != 0) {
    atomic_store(&s->init_rc, rc);
    atomic_store(&s->state, SLOT_INIT_FAILED);
    parc__event_signal(p->doorbell, p->be->shared);
    return;
  }
  atomic_store(&s->state, SLOT_READY);
  parc__event_signal(p->doorbell, p->be->shared);

  wctx w = {.s = s, .ctx = p->opts.ctx};
  uint64_t quota = p->opts.max_tasks_per_worker;
  uint64_t units = 0;
  for (;;) {
    parc__msg_batch m;
    if (parc__ring_read(s->to_worker, &m, sizeof m, PARC__FOREVER, &s->abort) !=
            0 ||
        m.kind == MSG_STOP)
      break;
    /* Out of memory for the buffers: announce the first unit and leave,
     * so it is charged as a worker failure (retried, then reported)
     * rather than requeued for a replacement that would fail alike. */
    size_t in_need = m.in_ptr || m.kind == MSG_BYTES ? 0 /* grown per task */
                     : m.kind == MSG_MAP &&
                             m.count * m.in_size <= PARC__LANE_BYTES
                         ? m.count * m.in_size
                         : m.in_size;
    if (!wbuf_fit(&w.buf, in_need ? in_need : 1, m.out_size ? m.out_size : 1)) {
      begin_unit(s, m.seq, m.first);
      break;
    }
    if (m.kind == MSG_MAP)
      rc = run_map(&w, &m);
    else if (m.kind == MSG_BYTES)
      rc = run_bytes(&w, &m);
    else if (m.kind == MSG_REDUCE)
      rc = run_reduce(&w, &m);
    else if (m.kind == MSG_LOOP)
      rc = run_loop(&w, &m, p->nworkers);
    else
      rc = run_for(&w, &m);
    if (rc != 0)
      break;
    units += m.kind == MSG_MAP || m.kind == MSG_BYTES ? m.count : 1;
    if (quota && units >= quota)
      break; /* recycled: the manager sends no more than the quota */
  }
  free(w.buf.in);
  free(w.buf.out);
  free(w.buf.tmp);
  free(w.res.data);
  atomic_store(&s->state, SLOT_EXITED);
  parc__event_signal(p->doorbell, p->be->shared);
}

typedef struct worker_arg {
  parc_pool *p;
  unsigned id;
  parc__slot *slot;
} worker_arg;

static void *worker_thread_main(void *arg) {
  worker_arg a = *(worker_arg *)arg;
  free(arg);
  parc__worker_main(a.p, a.id, a.slot);
  return NULL;
}

int parc__worker_thread(pthread_t *th, parc_pool *p, unsigned id,
                        parc__slot *slot) {
  worker_arg *a = parc__malloc(sizeof *a);
  if (!a)
    return PARC_ENOMEM;
  *a = (worker_arg){p, id, slot};
  int rc = parc__thread_create(th, worker_thread_main, a);
  if (rc != 0)
    free(a);
  return rc;
}
