/* sched.c -- the one scheduler of a pool.
 *
 * A round (parc__round) hands batches of units to workers, reads their
 * results, notices workers that died or overran task_timeout, and finishes
 * jobs, all under pool->lock. A caller that waits runs rounds itself and
 * sleeps on the doorbell, which every worker result, every free byte in a
 * worker's inbound lane, every backend event and every finished job rings;
 * the pool's manager thread runs them when no caller does.
 *
 * The manager never blocks on a lane: batches and results move piece by
 * piece as room or data appears, so a worker blocked writing a big result
 * can never deadlock against the manager writing it a big input.
 *
 * Units: a map task, a map-reduce block, or a parallel-for chunk. Each
 * gives exactly one result message. A worker holds at most PARC__INFLIGHT
 * batches; a future goes only to an idle worker, so "queued" and "running"
 * are told apart exactly for parc_future_cancel.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "pool_int.h"

#define TARGET_BATCH_NS 50000.0 /* aim for ~50 us of work per batch */

/* Where the i-th batch in w's fifo is kept. */
static unsigned fifo_pos(const parc__worker *w, unsigned i) {
  return (w->fifo_head + i) % PARC__INFLIGHT;
}

static parc__batch *fifo_at(parc__worker *w, unsigned i) {
  return &w->fifo[fifo_pos(w, i)];
}

static void fifo_pop(parc__worker *w) {
  w->fifo_head = (w->fifo_head + 1) % PARC__INFLIGHT;
  w->fifo_len--;
}

static bool worker_idle(const parc__worker *w) {
  return w->fifo_len == 0 && !w->tx.active;
}

/* ---------------------------------------------------------------- units */

static uint64_t unit_limit(const parc__job *j) {
  switch (j->kind) {
  case JOB_MAP: return j->n;
  case JOB_REDUCE: return j->nblocks;
  default: return (uint64_t)j->end - (uint64_t)j->begin; /* no overflow */
  }
}

static bool static_for(const parc__job *j) {
  return j->kind == JOB_FOR && j->schedule == PARC_SCHEDULE_STATIC;
}

/* A worker left a loop (done, or lost). The loop is over when every
 * iteration is done -- a worker whose turn in it is still queued behind
 * other work then finds nothing to take -- or when no worker is in it and
 * no chunk is left (a lost chunk never counts as done). Else the
 * dispatcher sends a worker in again. */
static void loop_left(parc_pool *p, parc__job *j, unsigned w) {
  j->loop_joined[w] = false;
  j->loop_active--;
  bool all_done = atomic_load_explicit(&j->units_done,
                                       memory_order_acquire) >= j->units_total;
  if ((all_done || (j->loop_active == 0 &&
                    parc__loop_exhausted(j, p->nworkers))) &&
      !atomic_load(&j->finished)) {
    uint64_t off;
    int rc;
    if (parc__loop_failed(j, &off, &rc))
      parc__job_note(j, off, (parc_task_status){.error = PARC_ETASK,
                                                .task_rc = rc, .attempts = 1});
    parc__job_finish(j);
  }
}

static bool static_bounds(const parc_pool *p, const parc__job *j, uint64_t k,
                          uint64_t *first, uint64_t *count) {
  return parc__static_bounds(unit_limit(j), j->for_chunk, p->nworkers, k,
                             first, count);
}

/* Whose static chunks worker w runs next: its own, else those of a slot
 * whose worker could not be restarted. UINT32_MAX: none left for w. */
static unsigned static_owner(const parc_pool *p, const parc__job *j,
                             unsigned w) {
  uint64_t f, c;
  if (static_bounds(p, j, j->static_next[w], &f, &c))
    return w;
  for (unsigned k = 0; k < p->nworkers; k++)
    if (p->workers[k].state == W_GONE &&
        static_bounds(p, j, j->static_next[k], &f, &c))
      return k;
  return UINT32_MAX;
}

/* Which cursor worker w takes a loop's chunks from: for static, as
 * static_owner (a slot whose worker is only starting keeps its chunks for
 * it); for dynamic and guided, any. UINT32_MAX: nothing for w now. */
static unsigned loop_cursor(const parc_pool *p, const parc__job *j,
                            unsigned w) {
  if (j->schedule == PARC_SCHEDULE_STATIC)
    return static_owner(p, j, w);
  return parc__loop_exhausted(j, p->nworkers) ? UINT32_MAX : w;
}

static bool job_has_work_for(const parc_pool *p, const parc__job *j,
                             unsigned w) {
  if (atomic_load(&j->finished))
    return false;
  if (j->kind == JOB_LOOP)
    return !j->loop_joined[w] && loop_cursor(p, j, w) != UINT32_MAX;
  if (j->nrequeue > 0)
    return true;
  if (static_for(j))
    return static_owner(p, j, w) != UINT32_MAX;
  return j->next < unit_limit(j);
}

static bool job_exhausted(const parc_pool *p, const parc__job *j) {
  for (unsigned w = 0; w < p->nworkers; w++)
    if (job_has_work_for(p, j, w))
      return false;
  return true;
}

static void requeue(parc__job *j, uint64_t first, uint64_t count,
                    uint32_t attempt) {
  if (atomic_load(&j->finished) || count == 0)
    return;
  if (j->nrequeue == j->requeue_cap) {
    size_t cap = j->requeue_cap ? 2 * j->requeue_cap : 8;
    parc__requeue *q = parc__realloc(j->requeue, cap * sizeof *q);
    if (!q) { /* cannot remember it: report instead of losing it */
      parc__job_note(j, first, (parc_task_status){.error = PARC_ENOMEM,
                                                  .attempts = (int)attempt});
      parc__job_count(j, j->kind == JOB_MAP ? count
                         : j->kind == JOB_FOR ? count : 1);
      return;
    }
    j->requeue = q;
    j->requeue_cap = cap;
  }
  /* An unfinished job stays on the pending list, so this is seen. */
  j->requeue[j->nrequeue++] = (parc__requeue){first, count, attempt};
}

/* Bytes tasks from `first` (c at most) whose inputs fit half a lane
 * together, at least one: a bigger input goes alone, in pieces. */
static uint64_t bytes_fit(const parc__job *j, uint64_t first, uint64_t c) {
  if (c > PARC__BYTES_BATCH)
    c = PARC__BYTES_BATCH;
  size_t sum = 0;
  for (uint64_t k = 0; k < c; k++) {
    sum += sizeof(uint64_t) + j->bin[first + k].len;
    if (sum > PARC__LANE_BYTES / 2)
      return k ? k : 1;
  }
  return c;
}

/* Tasks per MAP batch: forced, or sized to ~TARGET_BATCH_NS of work but
 * no more than a fair share of what is left, and no more than half a lane. */
static uint64_t map_chunk(const parc_pool *p, const parc__job *j,
                          uint64_t first, uint64_t left) {
  uint64_t c = j->chunk;
  if (c == 0) {
    c = 1;
    if (j->task_ns > 0) {
      double want = TARGET_BATCH_NS / j->task_ns;
      c = want > 65536 ? 65536 : (uint64_t)want;
      uint64_t fair = left / (2 * (uint64_t)p->nworkers);
      if (c > fair)
        c = fair;
    }
  }
  size_t in = j->in_shared ? 0 : j->in_size;
  size_t per = (in > j->out_size ? in : j->out_size) + sizeof(parc__msg_result);
  uint64_t fit = (PARC__LANE_BYTES / 2) / per;
  if (c > fit)
    c = fit;
  if (c > left)
    c = left;
  if (c == 0)
    c = 1;
  return j->bytes ? bytes_fit(j, first, c) : c;
}

/* Picks the next batch of j for worker w; false if none for it. */
static bool next_batch(parc_pool *p, parc__job *j, parc__worker *w,
                       parc__batch *b) {
  memset(b, 0, sizeof *b);
  b->job = j;
  uint64_t quota = w->units_quota_left;
  if (j->kind == JOB_LOOP) { /* the worker joins; it takes chunks itself */
    j->loop_joined[w->id] = true;
    j->loop_active++;
    b->first = loop_cursor(p, j, w->id);
    b->units = 1;
    b->seq = ++p->next_seq;
    return true;
  }
  if (j->nrequeue > 0) {
    parc__requeue *r = &j->requeue[0];
    b->attempt = r->attempt;
    b->first = r->first;
    uint64_t c = r->count;
    if (j->kind == JOB_MAP) /* a retried task runs alone */
      c = r->attempt > 0 ? 1 : map_chunk(p, j, r->first, r->count);
    if (j->kind == JOB_MAP && c > quota)
      c = quota;
    b->count = c;
    r->first += c;
    r->count -= c;
    if (r->count == 0)
      memmove(j->requeue, j->requeue + 1, --j->nrequeue * sizeof *r);
  } else if (j->kind == JOB_MAP) {
    uint64_t c = map_chunk(p, j, j->next, j->n - j->next);
    b->first = j->next;
    b->count = c < quota ? c : quota;
    j->next += b->count;
  } else if (j->kind == JOB_REDUCE) {
    b->first = j->next++ * j->block;
    b->count = j->block;
  } else if (static_for(j)) {
    unsigned owner = static_owner(p, j, w->id);
    if (owner == UINT32_MAX)
      return false;
    static_bounds(p, j, j->static_next[owner], &b->first, &b->count);
    j->static_next[owner] += p->nworkers;
  } else {
    b->first = j->next;
    b->count = parc__chunk_size(j->schedule, j->for_chunk, p->nworkers,
                                unit_limit(j) - j->next);
    j->next += b->count;
  }
  if (j->kind == JOB_REDUCE && b->first + b->count > j->n)
    b->count = j->n - b->first;
  if (j->kind == JOB_FOR && b->first + b->count > unit_limit(j))
    b->count = unit_limit(j) - b->first;
  b->units = j->kind == JOB_MAP ? (uint32_t)b->count : 1;
  b->seq = ++p->next_seq;
  return true;
}

/* ---------------------------------------------------------------- sending */

/* A batch's inputs: a pointer when they lie in shared memory the worker
 * maps (no copy), else their bytes, after the header. */
static void add_inputs(parc__worker *w, parc__msg_batch *m,
                       const parc__job *j, const parc__batch *b) {
  const unsigned char *first = j->in + b->first * j->in_size;
  if (j->in_shared)
    m->in_ptr = (uint64_t)(uintptr_t)first;
  else
    w->tx.iov[w->tx.iovcnt++] =
        (struct iovec){(void *)first, b->count * j->in_size};
}

/* A bytes batch: each input's length, then its bytes. */
static void add_bytes_inputs(parc__worker *w, parc__msg_batch *m,
                             const parc__job *j, const parc__batch *b) {
  m->kind = MSG_BYTES;
  m->first = b->first;
  for (uint64_t k = 0; k < b->count; k++) {
    const parc_bytes *in = &j->bin[b->first + k];
    w->tx.lens[k] = in->len;
    w->tx.iov[w->tx.iovcnt++] = (struct iovec){&w->tx.lens[k], 8};
    w->tx.iov[w->tx.iovcnt++] = (struct iovec){in->data, in->len};
    m->in_size += 8 + in->len;
  }
}

static void tx_prepare(parc__worker *w, const parc__batch *b) {
  parc__job *j = b->job;
  parc__msg_batch *m = &w->tx.hdr;
  memset(m, 0, sizeof *m);
  m->seq = b->seq;
  m->count = b->count;
  m->fn = j->fn;
  w->tx.iov[0] = (struct iovec){m, sizeof *m};
  w->tx.iovcnt = 1;
  switch (j->kind) {
  case JOB_MAP:
    if (j->bytes) {
      add_bytes_inputs(w, m, j, b);
      break;
    }
    m->kind = MSG_MAP;
    m->first = b->first;
    m->in_size = j->in_size;
    m->out_size = j->out_size;
    add_inputs(w, m, j, b);
    break;
  case JOB_REDUCE:
    m->kind = MSG_REDUCE;
    m->first = b->first;
    m->in_size = j->in_size;
    m->out_size = j->out_size;
    m->combine = (uint64_t)(uintptr_t)j->combine;
    w->tx.iov[w->tx.iovcnt++] = (struct iovec){(void *)j->identity,
                                               j->out_size};
    add_inputs(w, m, j, b);
    break;
  case JOB_LOOP:
    m->kind = MSG_LOOP;
    m->first = b->first; /* the worker's index */
    m->ctx = (uint64_t)(uintptr_t)j;
    break;
  case JOB_FOR:
    m->kind = MSG_FOR;
    m->first = (uint64_t)j->begin + b->first; /* the iteration, as bits */
    m->in_size = j->ctx_size;
    m->ctx = (uint64_t)(uintptr_t)j->ctx;
    if (j->ctx_size)
      w->tx.iov[w->tx.iovcnt++] = (struct iovec){j->ctx, j->ctx_size};
    break;
  }
  w->tx.cur = 0;
  w->tx.off = 0;
  w->tx.active = true;
}

/* Writes what fits of the batch being sent; true if anything moved. */
static bool tx_pump(parc__worker *w) {
  bool moved = false;
  while (w->tx.active) {
    struct iovec *v = &w->tx.iov[w->tx.cur];
    size_t left = v->iov_len - w->tx.off;
    size_t k = left ? parc__ring_write_some_quiet(w->slot->to_worker,
                                                  (char *)v->iov_base + w->tx.off,
                                                  left)
                    : 0;
    w->tx.off += k;
    moved |= k > 0;
    if (w->tx.off < v->iov_len)
      break; /* lane full: the worker's reads will ring the doorbell */
    w->tx.off = 0;
    if (++w->tx.cur == w->tx.iovcnt)
      w->tx.active = false;
  }
  if (moved)
    parc__ring_notify(w->slot->to_worker); /* once for all the pieces */
  return moved;
}

static void send_stop(parc__worker *w) {
  memset(&w->tx.hdr, 0, sizeof w->tx.hdr);
  w->tx.hdr.kind = MSG_STOP;
  w->tx.iov[0] = (struct iovec){&w->tx.hdr, sizeof w->tx.hdr};
  w->tx.iovcnt = 1;
  w->tx.cur = 0;
  w->tx.off = 0;
  w->tx.active = true;
  tx_pump(w);
}

/* ---------------------------------------------------------------- dispatch */

bool parc__job_queued(parc_pool *p, parc__job *j) {
  return !atomic_load(&j->finished) && !job_exhausted(p, j);
}

static void unlink_pending(parc_pool *p, parc__job *prev, parc__job *j) {
  if (prev)
    prev->next_pending = j->next_pending;
  else
    p->pending_head = j->next_pending;
  if (p->pending_tail == j)
    p->pending_tail = prev;
  p->npending--;
  p->nfinished--;
  if (j->deadline != PARC__FOREVER)
    p->timed_jobs--;
  parc__job_unref(j);
}

/* Drops finished jobs from the pending list. Jobs wholly handed out stay
 * until they finish: the list is also what deadlines are checked on. With
 * thousands of futures queued a round must not walk them all, so: the
 * finished jobs at the head (futures finish mostly in order) at once, the
 * others when they are a quarter of the list -- O(1) a job, amortized. */
static void prune_pending(parc_pool *p) {
  while (p->pending_head && atomic_load(&p->pending_head->finished))
    unlink_pending(p, NULL, p->pending_head);
  if (p->nfinished == 0 || p->nfinished * 4 < p->npending)
    return;
  parc__job *prev = NULL, *j = p->pending_head;
  while (j) {
    parc__job *nx = j->next_pending;
    if (atomic_load(&j->finished))
      unlink_pending(p, prev, j);
    else
      prev = j;
    j = nx;
  }
}

/* The first pending job with work for w. */
static parc__job *pick_job(parc_pool *p, parc__worker *w) {
  for (parc__job *j = p->pending_head; j; j = j->next_pending) {
    bool fits = !j->is_future || worker_idle(w);
    if (fits && job_has_work_for(p, j, w->id))
      return j;
  }
  return NULL;
}

/* The lowest unit of j not yet done: what an abort reports. */
static uint64_t lowest_open(parc_pool *p, parc__job *j) {
  uint64_t low = j->kind == JOB_REDUCE ? j->next * j->block
                 : j->kind == JOB_LOOP ? atomic_load(&j->loop_next)
                                       : j->next;
  if (static_for(j) || (j->kind == JOB_LOOP &&
                        j->schedule == PARC_SCHEDULE_STATIC)) {
    low = UINT64_MAX;
    for (unsigned w = 0; w < p->nworkers; w++) {
      uint64_t f, c;
      if (static_bounds(p, j, j->static_next[w], &f, &c) && f < low)
        low = f;
    }
  }
  for (size_t i = 0; i < j->nrequeue; i++)
    if (j->requeue[i].first < low)
      low = j->requeue[i].first;
  for (unsigned w = 0; w < p->nworkers; w++)
    for (unsigned i = 0; i < p->workers[w].fifo_len; i++) {
      parc__batch *b = fifo_at(&p->workers[w], i);
      uint64_t at = j->kind == JOB_MAP    ? b->first + b->done
                    : j->kind == JOB_LOOP ? (i == 0 ? atomic_load(
                                                &p->workers[w].slot->cur_index)
                                                    : UINT64_MAX)
                                          : b->first;
      if (b->job == j && b->done < b->units && at < low)
        low = at;
    }
  return low;
}

/* Marks j's batches in the workers' lanes so units not yet begun are not
 * run (see begin_unit in worker.c for the handshake). */
static void skip_batches(parc_pool *p, parc__job *j) {
  for (unsigned w = 0; w < p->nworkers; w++) {
    parc__worker *wk = &p->workers[w];
    for (unsigned i = 0; i < wk->fifo_len; i++) {
      unsigned pos = fifo_pos(wk, i);
      if (wk->fifo[pos].job == j)
        atomic_store_explicit(&wk->slot->skip[pos], wk->fifo[pos].seq,
                              memory_order_seq_cst);
    }
  }
}

void parc__job_abort(parc__job *j, int err) {
  if (atomic_load(&j->finished))
    return;
  parc_pool *p = j->pool;
  j->aborted = true;
  atomic_store_explicit(&j->loop_stop, 1, memory_order_release);
  skip_batches(p, j);
  uint64_t low = lowest_open(p, j);
  for (uint64_t i = 0; j->status && i < j->n; i++)
    if (j->status[i].error == PARC_EAGAIN)
      j->status[i] = (parc_task_status){.error = err};
  if (j->err == 0 || low < j->err_index) {
    j->err = err;
    j->err_index = low;
    j->first_status = (parc_task_status){.error = err};
  }
  parc__job_finish(j);
}

/* Another batch for w? A second one keeps a worker busy while the next
 * is sent; more (up to PARC__INFLIGHT) while what is queued is short work,
 * so a driver that is descheduled for a while does not starve the workers.
 * But tasks of a map whose cost is not known yet, or is long, go one batch
 * at a time: a second batch queued behind a long task waits there while
 * another worker may be idle (Python's Pool.map of the lecture, 5 s
 * sleeps beside 0.1 s ones, took 10.7 s instead of 6). A remote worker
 * gets more: its results and next batches wait for two couriers on the
 * way, far longer than a lane's round trip. */
static bool wants_more(const parc_pool *p, const parc__worker *w) {
  if (w->fifo_len == 0)
    return true;
  if (w->fifo_len >= PARC__INFLIGHT)
    return false;
  double queued = 0;
  for (unsigned i = 0; i < w->fifo_len; i++) {
    const parc__batch *b = &w->fifo[fifo_pos(w, i)];
    if (b->job->kind != JOB_MAP) /* chunks of a for, blocks of a reduce */
      return w->fifo_len < 2;
    if (b->job->task_ns <= 0)
      return false; /* unknown cost: one at a time until it is known */
    queued += (double)(b->units - b->done) * b->job->task_ns;
  }
  return queued < (p->be->remote ? PARC__QUEUED_REMOTE_NS : PARC__QUEUED_NS);
}

static bool dispatch(parc_pool *p, parc__worker *w) {
  bool moved = false;
  while (w->state == W_READY && !w->tx.active && wants_more(p, w) &&
         w->units_quota_left > 0 && !p->stopping) {
    parc__job *j = pick_job(p, w);
    parc__batch b;
    if (!j || !next_batch(p, j, w, &b))
      break;
    j->refs++;
    w->units_quota_left -= b.units;
    w->units_sent += b.units;
    *fifo_at(w, w->fifo_len++) = b;
    tx_prepare(w, &b);
    tx_pump(w);
    moved = true;
  }
  return moved;
}

/* ---------------------------------------------------------------- results */

static int unit_error(const parc__msg_result *r) {
  if (r->pad & 1)
    return r->rc; /* a library code from the worker */
  return r->rc ? PARC_ETASK : 0;
}

/* A bytes result is kept when the task ran, whatever it returned. */
static bool bytes_kept(const parc__job *j, const parc__msg_result *r) {
  return !atomic_load(&j->finished) && !(r->pad & 1) && r->out_len > 0;
}

static void take_result(parc_pool *p, parc__worker *w) {
  parc__batch *b = fifo_at(w, 0);
  parc__job *j = b->job;
  const parc__msg_result *r = &w->rx.hdr;
  int err = unit_error(r);
  int task_rc = err == PARC_ETASK ? r->rc : 0;
  w->units_received++;
  p->warm = w->id;
  if (j->bytes) { /* the result goes to the caller, unless the call ended */
    if (bytes_kept(j, r) && !w->rx.buf && err == 0)
      err = PARC_ENOMEM; /* it came, but there was no room for it */
    if (w->rx.buf && !atomic_load(&j->finished))
      j->bout[b->first + b->done] = (parc_bytes){w->rx.buf, (size_t)r->out_len};
    else
      free(w->rx.buf);
    w->rx.buf = NULL;
  }
  if (!atomic_load(&j->finished)) {
    if (j->kind == JOB_MAP) {
      double t = (double)r->elapsed_ns;
      j->task_ns = j->task_ns > 0 ? 0.8 * j->task_ns + 0.2 * t : (t > 1 ? t : 1);
      parc__job_note(j, b->first + b->done,
                     (parc_task_status){.error = err, .task_rc = task_rc,
                                        .attempts = (int)b->attempt + 1});
      parc__job_count(j, 1);
    } else {
      uint64_t at = j->kind == JOB_FOR ? r->fail_index - (uint64_t)j->begin
                                       : r->fail_index; /* LOOP: offset */
      if (err != 0)
        parc__job_note(j, at,
                       (parc_task_status){.error = err, .task_rc = task_rc,
                                          .attempts = (int)b->attempt + 1});
      if (j->kind != JOB_LOOP)
        parc__job_count(j, j->kind == JOB_FOR ? b->count : 1);
    }
  }
  if (j->kind == JOB_LOOP)
    loop_left(p, j, w->id);
  if (++b->done == b->units) {
    parc__job_unref(j);
    fifo_pop(w);
  }
  memset(&w->rx, 0, sizeof w->rx);
}

/* Where the payload of the result being read goes; NULL: discard it. */
static unsigned char *rx_dest(parc__worker *w, size_t *size) {
  parc__batch *b = fifo_at(w, 0);
  parc__job *j = b->job;
  if (j->bytes) {
    *size = (size_t)w->rx.hdr.out_len;
    if (!w->rx.buf && w->rx.payload_got == 0 && bytes_kept(j, &w->rx.hdr))
      w->rx.buf = parc__malloc(*size); /* NULL: dropped, ENOMEM later */
    return w->rx.buf;
  }
  *size = j->kind == JOB_FOR || j->kind == JOB_LOOP ? 0 : j->out_size;
  if (atomic_load(&j->finished) || unit_error(&w->rx.hdr) != 0)
    return NULL;
  if (j->kind == JOB_MAP)
    return j->out + (b->first + b->done) * j->out_size;
  if (j->kind == JOB_REDUCE)
    return j->partials + (b->first / j->block) * j->out_size;
  return NULL;
}

/* Reads whatever results have arrived from w, in one pass over the lane
 * with a single consume at the end; true if anything moved. */
static bool collect(parc_pool *p, parc__worker *w) {
  parc__ring *r = w->slot->from_worker;
  size_t avail = parc__ring_readable(r), off = 0;
  bool moved = false;
  while (w->fifo_len > 0) {
    if (w->rx.hdr_got < sizeof w->rx.hdr) {
      size_t k = sizeof w->rx.hdr - w->rx.hdr_got;
      if (k > avail - off)
        k = avail - off;
      parc__ring_copy_at(r, off, (char *)&w->rx.hdr + w->rx.hdr_got, k);
      off += k;
      w->rx.hdr_got += k;
      if (w->rx.hdr_got < sizeof w->rx.hdr)
        break;
    }
    size_t size;
    unsigned char *dst = rx_dest(w, &size);
    size_t k = size - w->rx.payload_got;
    if (k > avail - off)
      k = avail - off;
    if (dst && k)
      parc__ring_copy_at(r, off, dst + w->rx.payload_got, k);
    off += k;
    w->rx.payload_got += k;
    if (w->rx.payload_got < size)
      break; /* a big result: the rest comes as room appears */
    take_result(p, w);
    moved = true;
  }
  parc__ring_consume(r, off);
  return moved || off > 0;
}

/* ---------------------------------------------------------------- failures */

/* Outcome of the unit a lost worker was running. */
static void settle_running(parc_pool *p, parc__worker *w, parc__batch *b,
                           uint64_t started, int wstatus) {
  parc__job *j = b->job;
  uint64_t idx = j->kind == JOB_MAP ? b->first + b->done : b->first;
  uint64_t count = j->kind == JOB_MAP ? 1 : b->count;
  uint64_t report = j->kind == JOB_REDUCE
                        ? atomic_load(&w->slot->cur_index)
                        : idx;
  if (j->kind == JOB_LOOP) {
    /* A thread is abandoned, not killed: its chunk still completes. Only
     * the chunk it was abandoned for is reported. */
    if (w->kill_err && w->kill_started == started)
      parc__job_note(j, atomic_load(&w->slot->cur_index),
                     (parc_task_status){.error = w->kill_err, .attempts = 1});
    return;
  }
  parc_task_status st = {.attempts = (int)b->attempt + 1, .pid = w->pid};
  if (w->kill_err && w->kill_started == started) {
    st.error = w->kill_err;
    parc__job_note(j, report, st);
  } else if (w->kill_err) {
    requeue(j, idx, count, b->attempt); /* killed for another unit */
    return;
  } else if (b->attempt < p->opts.max_retries) {
    requeue(j, idx, count, b->attempt + 1);
    return;
  } else {
    st.error = PARC_EWORKER;
    st.signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
    st.exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 0;
    parc__job_note(j, report, st);
  }
  parc__job_count(j, j->kind == JOB_FOR ? b->count : 1);
}

void parc__worker_settle(parc_pool *p, unsigned id, int wstatus) {
  parc__worker *w = &p->workers[id];
  /* Results that arrived whole are kept (a dead process's lane is still
   * readable); one cut short is dropped with its unit's fate below. */
  collect(p, w);
  uint64_t started = atomic_load(&w->slot->started);
  bool running = started > w->units_received;
  for (unsigned i = 0; i < w->fifo_len; i++) {
    parc__batch *b = fifo_at(w, i);
    parc__job *j = b->job;
    if (i == 0 && running && b->done < b->units) {
      settle_running(p, w, b, started, wstatus);
      b->done++;
      if (j->kind != JOB_MAP)
        b->done = b->units;
    }
    if (j->kind == JOB_LOOP) {
      loop_left(p, j, id); /* chunks left are in the job, for the others */
      b->done = b->units;
    }
    if (b->done < b->units) {
      uint64_t first = j->kind == JOB_MAP ? b->first + b->done : b->first;
      uint64_t count = j->kind == JOB_MAP ? b->units - b->done : b->count;
      requeue(j, first, count, b->attempt);
    }
    parc__job_unref(j);
  }
  w->fifo_len = 0;
  w->tx.active = false;
  free(w->rx.buf); /* a bytes result cut short */
  memset(&w->rx, 0, sizeof w->rx);
  w->kill_err = 0;
}

void parc__worker_exited(parc_pool *p, unsigned id, int wstatus) {
  parc__worker *w = &p->workers[id];
  if (w->state == W_GONE)
    return;
  bool clean = WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
  bool init_failed = w->state == W_STARTING;
  parc__worker_settle(p, id, wstatus);
  w->state = W_DEAD;
  w->spawn_failures = init_failed && !clean ? w->spawn_failures + 1 : 0;
  if (p->starting || p->stopping || w->spawn_failures >= 3) {
    w->state = W_GONE;
    return;
  }
  parc__slot_reset(p, id);
  if (p->be->spawn(p, id) != 0)
    w->state = W_GONE;
}

void parc__kill_for(parc_pool *p, unsigned id, int err, bool blame) {
  parc__worker *w = &p->workers[id];
  if (w->state != W_READY && w->state != W_RETIRING)
    return;
  /* UINT64_MAX matches no unit: the running one is requeued, not blamed */
  w->kill_started = blame ? atomic_load(&w->slot->started) : UINT64_MAX;
  w->kill_err = err;
  w->state = W_DEAD;
  p->be->kill(p, id);
}

/* The unit worker w is running now, if any: its batch and `started`. */
static parc__batch *running_unit(parc__worker *w, uint64_t *started,
                                 uint64_t *since) {
  parc__slot *s = w->slot;
  uint64_t s1 = atomic_load_explicit(&s->started, memory_order_acquire);
  uint64_t t = atomic_load_explicit(&s->task_start, memory_order_acquire);
  if (s1 != atomic_load_explicit(&s->started, memory_order_acquire) ||
      s1 <= w->units_received)
    return NULL;
  /* Walk the fifo to the (s1 - received)-th unit not yet reported. */
  uint64_t ahead = s1 - w->units_received - 1;
  for (unsigned i = 0; i < w->fifo_len; i++) {
    parc__batch *b = fifo_at(w, i);
    uint64_t left = b->units - b->done;
    if (ahead < left) {
      *started = s1;
      *since = t;
      return ahead == 0 ? b : NULL; /* deeper: results are still unread */
    }
    ahead -= left;
  }
  return NULL;
}

/* Is w holding work it has not begun for `limit` or more? A worker that
 * is frozen between units (SIGSTOP, a cgroup freeze, a debugger) would
 * else keep its batches for ever: no unit of theirs starts, so none can
 * overrun. The time runs from the first round that sees w so, and starts
 * again whenever w begins or finishes a unit. Else lowers *wake to when it
 * could be so. */
static bool holds_unbegun(parc__worker *w, uint64_t now, uint64_t limit,
                          uint64_t *wake) {
  uint64_t started = atomic_load_explicit(&w->slot->started,
                                          memory_order_acquire);
  if (w->fifo_len == 0 || started != w->units_received) {
    w->held_since = 0;
    return false;
  }
  if (w->held_since == 0 || w->held_started != started) {
    w->held_since = now;
    w->held_started = started;
  }
  if (now - w->held_since >= limit)
    return true;
  if (w->held_since + limit < *wake)
    *wake = w->held_since + limit;
  return false;
}

/* Kills overdue tasks and the tasks of jobs that ended early, and takes
 * work back from workers that do not begin it; returns the earliest moment
 * something can next become overdue. */
static uint64_t police(parc_pool *p, uint64_t now) {
  uint64_t wake = PARC__FOREVER;
  uint64_t limit = p->opts.task_timeout > 0 && p->opts.task_timeout < 1e9
                       ? (uint64_t)(p->opts.task_timeout * 1e9)
                       : PARC__FOREVER; /* over 30 years: no limit */
  for (unsigned i = 0; i < p->nworkers; i++) {
    parc__worker *w = &p->workers[i];
    if (w->state != W_READY && w->state != W_RETIRING)
      continue;
    uint64_t started, since;
    parc__batch *b = running_unit(w, &started, &since);
    if (!b && limit != PARC__FOREVER && holds_unbegun(w, now, limit, &wake)) {
      /* Its batches go to the others, uncharged; a new worker takes its
       * place (a thread is abandoned, as for an overdue task). */
      parc__kill_for(p, i, PARC_ETIMEDOUT, false);
      continue;
    }
    if (b && b->job->aborted) {
      parc__kill_for(p, i, PARC_ECANCELED, true); /* its call ended */
    } else if (b && limit != PARC__FOREVER) {
      /* `since` may be after `now`: the unit began after we read the clock */
      if (since < now && now - since >= limit)
        parc__kill_for(p, i, PARC_ETIMEDOUT, true);
      else if (since + limit < wake)
        wake = since + limit;
    }
    /* A half-sent batch of a job that ended reads memory the caller may
     * free: the worker goes, so the lane can be dropped. (A job that ended
     * normally has nothing left to send.) */
    if (w->state == W_READY && w->tx.active && w->fifo_len > 0 &&
        atomic_load(&fifo_at(w, w->fifo_len - 1)->job->finished))
      parc__kill_for(p, i, PARC_ECANCELED, false);
  }
  return wake;
}

/* Jobs whose whole-call deadline has passed end with PARC_ETIMEDOUT. */
static uint64_t expire_jobs(parc_pool *p, uint64_t now) {
  uint64_t wake = PARC__FOREVER;
  for (parc__job *j = p->timed_jobs ? p->pending_head : NULL; j;
       j = j->next_pending) {
    if (atomic_load(&j->finished) || j->deadline == PARC__FOREVER)
      continue;
    if (now >= j->deadline)
      parc__job_abort(j, PARC_ETIMEDOUT);
    else if (j->deadline < wake)
      wake = j->deadline;
  }
  return wake;
}

/* ---------------------------------------------------------------- loop */

static void readiness(parc_pool *p) {
  for (unsigned i = 0; i < p->nworkers; i++) {
    parc__worker *w = &p->workers[i];
    if (w->state == W_STARTING &&
        atomic_load(&w->slot->state) == SLOT_READY)
      w->state = W_READY;
    if (w->state == W_READY && w->units_quota_left == 0 && worker_idle(w))
      w->state = W_RETIRING; /* it leaves by itself; poll sees it go */
  }
}

static bool all_quiet(parc_pool *p) {
  for (unsigned i = 0; i < p->nworkers; i++) {
    parc__worker *w = &p->workers[i];
    if (w->state == W_DEAD || (w->state == W_READY && !worker_idle(w)))
      return false;
  }
  return true;
}

/* With no worker left to run anything, every pending unit fails. */
static void fail_if_broken(parc_pool *p) {
  for (unsigned i = 0; i < p->nworkers; i++)
    if (p->workers[i].state != W_GONE)
      return;
  p->broken = true;
  for (parc__job *j = p->pending_head; j; j = j->next_pending)
    if (!atomic_load(&j->finished))
      parc__job_abort(j, PARC_EBROKEN);
}

bool parc__busy(const parc_pool *p) {
  if (p->pending_head)
    return true;
  for (unsigned i = 0; i < p->nworkers; i++)
    if (p->workers[i].fifo_len > 0 || p->workers[i].tx.active)
      return true;
  return false;
}

bool parc__round(parc_pool *p, uint64_t *wake) {
  bool moved = false;
  p->be->poll(p);
  readiness(p);
  for (unsigned i = 0; i < p->nworkers; i++) {
    parc__worker *w = &p->workers[i];
    if (w->state == W_READY || w->state == W_RETIRING) {
      moved |= collect(p, w);
      moved |= tx_pump(w);
    }
  }
  uint64_t expiry = expire_jobs(p, parc__now_ns());
  fail_if_broken(p);
  prune_pending(p);
  /* The worker that answered last is likely still spinning: it goes
   * first, so a lone future finds a worker that is awake. */
  for (unsigned k = 0; k < p->nworkers; k++)
    moved |= dispatch(p, &p->workers[(p->warm + k) % p->nworkers]);
  /* After dispatch, so what was just handed out is timed too. */
  uint64_t overdue = police(p, parc__now_ns());
  *wake = overdue < expiry ? overdue : expiry;
  return moved;
}

/* While callers drive, the manager sleeps on its own bell, waking every
 * STEP_ASIDE_NS to look: so results wake only the caller that waits for
 * them, and a caller that stops waiting leaves work in flight to the
 * manager within that time (at once, if it rings the bell). */
#define STEP_ASIDE_NS 1000000u

void *parc__manager_main(void *arg) {
  parc_pool *p = arg;
  pthread_mutex_lock(&p->lock);
  for (;;) {
    if (p->drivers > 0 && !p->stopping) {
      uint32_t seen = parc__event_seq(&p->manager_bell);
      pthread_mutex_unlock(&p->lock);
      parc__event_wait(&p->manager_bell, seen, parc__now_ns() + STEP_ASIDE_NS,
                       0, 0);
      pthread_mutex_lock(&p->lock);
      continue;
    }
    uint32_t seen = parc__event_seq(p->doorbell);
    uint64_t wake;
    bool moved = parc__round(p, &wake);
    if (p->stopping && !p->pending_head && all_quiet(p))
      break;
    if (moved)
      continue;
    /* No spinning: the manager is the background, and on a busy machine
     * a spinning manager takes the core a worker or a caller needs. */
    pthread_mutex_unlock(&p->lock);
    parc__event_wait(p->doorbell, seen, wake, 0, p->be->shared);
    pthread_mutex_lock(&p->lock);
  }
  /* A worker still starting reads its STOP once its init is done. */
  for (unsigned i = 0; i < p->nworkers; i++)
    if (p->workers[i].state == W_READY || p->workers[i].state == W_STARTING)
      send_stop(&p->workers[i]);
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

int parc__wait_ready(parc_pool *p) {
  for (;;) {
    uint32_t seen = parc__event_seq(p->doorbell);
    unsigned ready = 0;
    bool failed = false;
    pthread_mutex_lock(&p->lock);
    p->be->poll(p);
    for (unsigned i = 0; i < p->nworkers; i++) {
      uint32_t s = atomic_load(&p->workers[i].slot->state);
      int st = p->workers[i].state;
      if (st == W_GONE || st == W_DEAD || s == SLOT_INIT_FAILED)
        failed = true;
      else if (s == SLOT_READY)
        ready++;
    }
    pthread_mutex_unlock(&p->lock);
    if (failed)
      return PARC_EINIT;
    if (ready == p->nworkers)
      return 0;
    parc__event_wait(p->doorbell, seen, PARC__FOREVER, PARC__SPIN,
                     p->be->shared);
  }
}
