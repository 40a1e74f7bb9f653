/* map.c -- parc_map and parc_map_bytes: a unit is one task.
 *
 * Tasks go in batches sized to ~PARC__BATCH_NS of work (from the running
 * mean of a task's time), no more than a fair share of what is left and
 * no more than half a lane; each task gives one result, written straight
 * into the caller's output (a bytes task's into a buffer of its own). A
 * task retried after its worker died runs alone. A future is a map of one
 * task, whose table (parc__future_ops) is this one, run alone.
 */
#include <stdlib.h>
#include <string.h>

#include "pool.h"

/* ---------------------------------------------------------------- batches */

static bool map_has_work(const parc_pool *p, const parc__job *j, unsigned w) {
  (void)p, (void)w;
  return j->next < j->n;
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

/* Tasks per batch: forced, or sized to ~PARC__BATCH_NS of work but no
 * more than a fair share of what is left, and no more than half a lane. */
static uint64_t map_chunk(const parc_pool *p, const parc__job *j,
                          uint64_t first, uint64_t left) {
  uint64_t c = j->chunk;
  if (c == 0) {
    c = 1;
    if (j->task_ns > 0) {
      double want = PARC__BATCH_NS / j->task_ns;
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

static bool map_next_batch(parc_pool *p, parc__job *j, parc__worker *w,
                           parc__batch *b) {
  uint64_t quota = w->units_quota_left;
  if (j->nrequeue > 0) {
    const parc__requeue *r = &j->requeue[0];
    uint64_t c = r->attempt > 0 ? 1 /* a retried task runs alone */
                                : map_chunk(p, j, r->first, r->count);
    parc__job_take_requeued(j, b, c < quota ? c : quota);
  } else {
    uint64_t c = map_chunk(p, j, j->next, j->n - j->next);
    b->first = j->next;
    b->count = c < quota ? c : quota;
    j->next += b->count;
  }
  b->units = (uint32_t)b->count;
  return true;
}

/* A bytes batch: each input's length, then its bytes. */
static void add_bytes_inputs(parc__worker *w, const parc__job *j,
                             const parc__batch *b) {
  parc__msg_batch *m = &w->tx.hdr;
  m->kind = MSG_BYTES;
  m->first = b->first;
  for (uint64_t k = 0; k < b->count; k++) {
    const parc_bytes *in = &j->bin[b->first + k];
    w->tx.lens[k] = in->len;
    w->tx.iov[w->tx.iovcnt++] = (struct iovec){&w->tx.lens[k],
                                               sizeof w->tx.lens[k]};
    w->tx.iov[w->tx.iovcnt++] = (struct iovec){in->data, in->len};
    m->in_size += sizeof w->tx.lens[k] + in->len;
  }
}

static void map_write(parc__worker *w, const parc__batch *b) {
  const parc__job *j = b->job;
  if (j->bytes) {
    add_bytes_inputs(w, j, b);
    return;
  }
  w->tx.hdr.kind = MSG_MAP;
  w->tx.hdr.first = b->first;
  w->tx.hdr.in_size = j->in_size;
  w->tx.hdr.out_size = j->out_size;
  parc__tx_add_inputs(w, j, b);
}

/* ---------------------------------------------------------------- results */

/* A bytes result is kept when the task ran, whatever it returned. */
static bool bytes_kept(const parc__job *j, const parc__msg_result *r) {
  return !atomic_load(&j->finished) && !(r->flags & PARC__RESULT_LIBRARY_RC) &&
         r->out_len > 0;
}

static unsigned char *map_result_to(parc__worker *w, const parc__batch *b,
                                    size_t *size) {
  const parc__job *j = b->job;
  if (j->bytes) {
    *size = (size_t)w->rx.hdr.out_len;
    if (!w->rx.buf && w->rx.payload_got == 0 && bytes_kept(j, &w->rx.hdr))
      w->rx.buf = parc__malloc(*size); /* NULL: dropped, ENOMEM later */
    return w->rx.buf;
  }
  *size = j->out_size;
  if (atomic_load(&j->finished) || parc__result_error(&w->rx.hdr) != 0)
    return NULL;
  return j->out + (b->first + b->done) * j->out_size;
}

static void map_take(parc_pool *p, parc__worker *w, parc__batch *b,
                     const parc__msg_result *r, int err) {
  (void)p;
  parc__job *j = b->job;
  int task_rc = err == PARC_ETASK ? r->rc : 0;
  if (j->bytes) { /* the result goes to the caller, unless the call ended */
    if (bytes_kept(j, r) && !w->rx.buf && err == 0)
      err = PARC_ENOMEM; /* it came, but there was no room for it */
    if (w->rx.buf && !atomic_load(&j->finished))
      j->bout[b->first + b->done] = (parc_bytes){w->rx.buf, (size_t)r->out_len};
    else
      free(w->rx.buf);
    w->rx.buf = NULL;
  }
  if (atomic_load(&j->finished))
    return;
  double t = (double)r->elapsed_ns;
  j->task_ns = j->task_ns > 0 ? 0.8 * j->task_ns + 0.2 * t : (t > 1 ? t : 1);
  parc__job_note(j, b->first + b->done,
                 (parc_task_status){.error = err,
                                    .task_rc = task_rc,
                                    .attempts = (int)b->attempt + 1});
  parc__job_count(j, 1);
}

/* ---------------------------------------------------------------- failures */

static void map_lost(parc_pool *p, parc__worker *w, parc__batch *b,
                     uint64_t started, const parc__worker_event *why) {
  uint64_t idx = b->first + b->done;
  parc__job_charge(p, w, b, idx, 1, idx, 1, started, why);
}

static void map_drop(parc_pool *p, parc__worker *w, parc__batch *b) {
  (void)p, (void)w;
  uint64_t left = b->units - b->done;
  if (left > 0)
    parc__job_requeue(b->job, b->first + b->done, left, b->attempt, left);
}

static uint64_t map_lowest_queued(const parc_pool *p, const parc__job *j) {
  (void)p;
  return j->next;
}

static uint64_t map_lowest_in(const parc__worker *w, unsigned i,
                              const parc__batch *b) {
  (void)w, (void)i;
  return b->first + b->done;
}

const parc__job_ops parc__map_ops = {
    .name = "map",
    .per_task = true,
    .has_work = map_has_work,
    .next_batch = map_next_batch,
    .write = map_write,
    .result_to = map_result_to,
    .take = map_take,
    .lost = map_lost,
    .drop = map_drop,
    .lowest_queued = map_lowest_queued,
    .lowest_in = map_lowest_in,
};

const parc__job_ops parc__future_ops = {
    .name = "future",
    .per_task = true,
    .alone = true,
    .has_work = map_has_work,
    .next_batch = map_next_batch,
    .write = map_write,
    .result_to = map_result_to,
    .take = map_take,
    .lost = map_lost,
    .drop = map_drop,
    .lowest_queued = map_lowest_queued,
    .lowest_in = map_lowest_in,
};

/* ---------------------------------------------------------------- calls */

/* The common part of parc_map and parc_map_bytes: j has what to run. */
static int run_map_job(parc_pool *p, parc__job *j, size_t n,
                       const parc_map_opts *o) {
  j->n = j->units_total = n;
  j->chunk = o->chunk;
  j->status = o->status;
  for (size_t i = 0; o->status && i < n; i++)
    o->status[i] = (parc_task_status){.error = PARC_EAGAIN};
  int rc = parc__run_job(p, j, o);
  if (rc && o->err_index)
    *o->err_index = (size_t)j->err_index;
  parc__drop_job(p, j);
  return rc;
}

int parc_map(parc_pool *p, parc_task_fn fn, const void *in, size_t in_size,
             void *out, size_t out_size, size_t n, const parc_map_opts *opts) {
  parc_map_opts o = {0};
  if (opts)
    o = *opts;
  if (!p || !fn || parc__too_big(n, in_size) || parc__too_big(n, out_size) ||
      (n && in_size && !in) || (n && out_size && !out) || o.timeout < 0)
    return PARC_EINVAL;
  if (o.err_index)
    *o.err_index = SIZE_MAX;
  if (n == 0)
    return 0;
  parc__job *j = parc__job_new(p, &parc__map_ops);
  if (!j)
    return PARC_ENOMEM;
  j->fn = (uint64_t)(uintptr_t)fn;
  j->in = in;
  j->in_size = in_size;
  j->in_shared = in_size && parc__shm_holds(in, n * in_size, p->shm_gen);
  j->out = out;
  j->out_size = out_size;
  return run_map_job(p, j, n, &o);
}

int parc_map_bytes(parc_pool *p, parc_bytes_fn fn, const parc_bytes *in,
                   parc_bytes *out, size_t n, const parc_map_opts *opts) {
  parc_map_opts o = {0};
  if (opts)
    o = *opts;
  if (!p || !fn || (n && (!in || !out)) || o.timeout < 0)
    return PARC_EINVAL;
  for (size_t i = 0; i < n; i++) {
    if (in[i].len && !in[i].data)
      return PARC_EINVAL;
    out[i] = (parc_bytes){NULL, 0};
  }
  if (o.err_index)
    *o.err_index = SIZE_MAX;
  if (n == 0)
    return 0;
  parc__job *j = parc__job_new(p, &parc__map_ops);
  if (!j)
    return PARC_ENOMEM;
  j->fn = (uint64_t)(uintptr_t)fn;
  j->bytes = true;
  j->bin = in;
  j->bout = out;
  return run_map_job(p, j, n, &o);
}
