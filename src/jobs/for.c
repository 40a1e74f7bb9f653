/* for.c -- parc_for: a unit is a chunk of iterations.
 *
 * Two ways to run a loop. Process and MPI workers are handed chunks one
 * batch at a time (parc__for_ops), so a worker that dies is known to have
 * held exactly its chunk. Thread workers each join the loop once and take
 * chunks from the job themselves, as OpenMP's runtime does
 * (parc__loop_ops; the chunk arithmetic is loop.c's): a batch is then a
 * worker's turn in the loop, and the loop is over when every iteration is
 * done, or when no worker is in it and no chunk is left.
 */
#include <stdlib.h>
#include <string.h>

#include "pool.h"

static uint64_t iterations(const parc__job *j) {
  return (uint64_t)j->end - (uint64_t)j->begin; /* no overflow */
}

static bool is_static(const parc__job *j) {
  return j->schedule == PARC_SCHEDULE_STATIC;
}

static bool static_bounds(const parc_pool *p, const parc__job *j, uint64_t k,
                          uint64_t *first, uint64_t *count) {
  return parc__static_bounds(iterations(j), j->for_chunk, p->nworkers, k, first,
                             count);
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

/* The first static chunk not taken yet, of any worker. */
static uint64_t lowest_static(const parc_pool *p, const parc__job *j) {
  uint64_t low = UINT64_MAX;
  for (unsigned w = 0; w < p->nworkers; w++) {
    uint64_t f, c;
    if (static_bounds(p, j, j->static_next[w], &f, &c) && f < low)
      low = f;
  }
  return low;
}

/* ---------------------------------------------------------------- handed */

static bool for_has_work(const parc_pool *p, const parc__job *j, unsigned w) {
  if (is_static(j))
    return static_owner(p, j, w) != UINT32_MAX;
  return j->next < iterations(j);
}

static bool for_next_batch(parc_pool *p, parc__job *j, parc__worker *w,
                           parc__batch *b) {
  if (j->nrequeue > 0) {
    parc__job_take_requeued(j, b, UINT64_MAX);
  } else if (is_static(j)) {
    unsigned owner = static_owner(p, j, w->id);
    if (owner == UINT32_MAX)
      return false;
    static_bounds(p, j, j->static_next[owner], &b->first, &b->count);
    j->static_next[owner] += p->nworkers;
  } else {
    b->first = j->next;
    b->count = parc__chunk_size(j->schedule, j->for_chunk, p->nworkers,
                                iterations(j) - j->next);
    j->next += b->count;
  }
  if (b->first + b->count > iterations(j))
    b->count = iterations(j) - b->first;
  b->units = 1;
  return true;
}

static void for_write(parc__worker *w, const parc__batch *b) {
  const parc__job *j = b->job;
  parc__msg_batch *m = &w->tx.hdr;
  m->kind = MSG_FOR;
  m->first = (uint64_t)j->begin + b->first; /* the iteration, as bits */
  m->in_size = j->ctx_size;
  m->ctx = (uint64_t)(uintptr_t)j->ctx;
  if (j->ctx_size)
    w->tx.iov[w->tx.iovcnt++] = (struct iovec){j->ctx, j->ctx_size};
}

static unsigned char *no_output(parc__worker *w, const parc__batch *b,
                                size_t *size) {
  (void)w, (void)b;
  *size = 0;
  return NULL;
}

static void for_take(parc_pool *p, parc__worker *w, parc__batch *b,
                     const parc__msg_result *r, int err) {
  (void)p, (void)w;
  parc__job *j = b->job;
  if (atomic_load(&j->finished))
    return;
  if (err != 0)
    parc__job_note(j, r->fail_index - (uint64_t)j->begin,
                   (parc_task_status){.error = err,
                                      .task_rc = err == PARC_ETASK ? r->rc : 0,
                                      .attempts = (int)b->attempt + 1});
  parc__job_count(j, b->count);
}

static void for_lost(parc_pool *p, parc__worker *w, parc__batch *b,
                     uint64_t started, const parc__worker_event *why) {
  parc__job_charge(p, w, b, b->first, b->count, b->first, b->count, started,
                   why);
}

static void for_drop(parc_pool *p, parc__worker *w, parc__batch *b) {
  (void)p, (void)w;
  if (b->done < b->units)
    parc__job_requeue(b->job, b->first, b->count, b->attempt, b->count);
}

static uint64_t for_lowest_queued(const parc_pool *p, const parc__job *j) {
  return is_static(j) ? lowest_static(p, j) : j->next;
}

const parc__job_ops parc__for_ops = {
    .name = "for",
    .has_work = for_has_work,
    .next_batch = for_next_batch,
    .write = for_write,
    .result_to = no_output,
    .take = for_take,
    .lost = for_lost,
    .drop = for_drop,
    .lowest_queued = for_lowest_queued,
    .lowest_in = parc__job_batch_first,
};

/* ---------------------------------------------------------------- taken */

/* Which cursor worker w takes a loop's chunks from: for static, as
 * static_owner (a slot whose worker is only starting keeps its chunks for
 * it); for dynamic and guided, any. UINT32_MAX: nothing for w now. */
static unsigned loop_cursor(const parc_pool *p, const parc__job *j,
                            unsigned w) {
  if (is_static(j))
    return static_owner(p, j, w);
  return parc__loop_exhausted(j, p->nworkers) ? UINT32_MAX : w;
}

/* A worker left a loop (done, or lost). The loop is over when every
 * iteration is done -- a worker whose turn in it is still queued behind
 * other work then finds nothing to take -- or when no worker is in it and
 * no chunk is left (a lost chunk never counts as done). Else the
 * dispatcher sends a worker in again. */
static void loop_left(parc_pool *p, parc__job *j, unsigned w) {
  j->loop_joined[w] = false;
  j->loop_active--;
  bool all_done = atomic_load_explicit(&j->units_done, memory_order_acquire) >=
                  j->units_total;
  if ((all_done ||
       (j->loop_active == 0 && parc__loop_exhausted(j, p->nworkers))) &&
      !atomic_load(&j->finished)) {
    uint64_t off;
    int rc;
    if (parc__loop_failed(j, &off, &rc))
      parc__job_note(j, off,
                     (parc_task_status){
                         .error = PARC_ETASK, .task_rc = rc, .attempts = 1});
    parc__job_finish(j);
  }
}

static bool loop_has_work(const parc_pool *p, const parc__job *j, unsigned w) {
  return !j->loop_joined[w] && loop_cursor(p, j, w) != UINT32_MAX;
}

/* The worker joins; it takes chunks itself. */
static bool loop_next_batch(parc_pool *p, parc__job *j, parc__worker *w,
                            parc__batch *b) {
  j->loop_joined[w->id] = true;
  j->loop_active++;
  b->first = loop_cursor(p, j, w->id);
  b->units = 1;
  return true;
}

static void loop_write(parc__worker *w, const parc__batch *b) {
  w->tx.hdr.kind = MSG_LOOP;
  w->tx.hdr.first = b->first; /* the cursor it takes from */
  w->tx.hdr.ctx = (uint64_t)(uintptr_t)b->job;
}

/* The worker counted its chunks as it went: its one result says it left,
 * and an error only if it could not run. */
static void loop_take(parc_pool *p, parc__worker *w, parc__batch *b,
                      const parc__msg_result *r, int err) {
  parc__job *j = b->job;
  if (!atomic_load(&j->finished) && err != 0)
    parc__job_note(j, r->fail_index,
                   (parc_task_status){.error = err,
                                      .task_rc = err == PARC_ETASK ? r->rc : 0,
                                      .attempts = (int)b->attempt + 1});
  loop_left(p, j, w->id);
}

/* A thread is abandoned, not killed: its chunk still completes. Only the
 * chunk it was abandoned for is reported. */
static void loop_lost(parc_pool *p, parc__worker *w, parc__batch *b,
                      uint64_t started, const parc__worker_event *why) {
  (void)p, (void)why;
  if (w->kill_err && w->kill_started == started)
    parc__job_note(b->job, atomic_load(&w->slot->cur_index),
                   (parc_task_status){.error = w->kill_err, .attempts = 1});
}

/* Chunks left are in the job, for the others. */
static void loop_drop(parc_pool *p, parc__worker *w, parc__batch *b) {
  loop_left(p, b->job, w->id);
  b->done = b->units;
}

static uint64_t loop_lowest_queued(const parc_pool *p, const parc__job *j) {
  return is_static(j) ? lowest_static(p, j) : atomic_load(&j->loop_next);
}

/* A worker in the loop is on the chunk its slot names. */
static uint64_t loop_lowest_in(const parc__worker *w, unsigned i,
                               const parc__batch *b) {
  (void)b;
  return i == 0 ? atomic_load(&w->slot->cur_index) : UINT64_MAX;
}

const parc__job_ops parc__loop_ops = {
    .name = "loop",
    .reads_job = true,
    .has_work = loop_has_work,
    .next_batch = loop_next_batch,
    .write = loop_write,
    .result_to = no_output,
    .take = loop_take,
    .lost = loop_lost,
    .drop = loop_drop,
    .lowest_queued = loop_lowest_queued,
    .lowest_in = loop_lowest_in,
};

/* ---------------------------------------------------------------- call */

int parc_for(parc_pool *p, int64_t begin, int64_t end, parc_for_fn body,
             void *ctx, const parc_for_opts *opts) {
  parc_for_opts o = {0};
  if (opts)
    o = *opts;
  if (!p || !body || o.chunk < 0 || o.timeout < 0 ||
      (unsigned)o.schedule > PARC_SCHEDULE_GUIDED || (o.ctx_size && !ctx))
    return PARC_EINVAL;
  if (begin >= end)
    return 0;
  /* Process workers map only the parc_shm_alloc regions made before their
   * pool: a ctx in a later one would crash them, or reach other memory. */
  if (p->be->shared && !o.ctx_size && parc__shm_newer(ctx, p->shm_gen))
    return PARC_ENOTSHARED;
  /* Threads take chunks themselves, as OpenMP; processes are handed them,
   * so a worker that dies is known to have held exactly its chunk. */
  bool handed = p->be->shared || p->be->remote;
  parc__job *j = parc__job_new(p, handed ? &parc__for_ops : &parc__loop_ops);
  if (!j)
    return PARC_ENOMEM;
  j->begin = begin;
  j->end = end;
  j->units_total = (uint64_t)end - (uint64_t)begin;
  j->schedule = o.schedule;
  j->for_chunk = o.chunk;
  j->fn = (uint64_t)(uintptr_t)body;
  j->ctx = ctx;
  j->ctx_size = handed ? o.ctx_size : 0; /* threads share ctx as is */
  j->static_next = parc__calloc(p->nworkers, sizeof *j->static_next);
  j->loop_joined = parc__calloc(p->nworkers, sizeof *j->loop_joined);
  if (!j->static_next || !j->loop_joined) {
    parc__job_unref(j);
    return PARC_ENOMEM;
  }
  for (unsigned w = 0; w < p->nworkers; w++) atomic_init(&j->static_next[w], w);
  parc_map_opts common = {.progress = o.progress,
                          .progress_arg = o.progress_arg,
                          .timeout = o.timeout};
  int rc = parc__run_job(p, j, &common);
  if (rc && o.err_index)
    *o.err_index = (int64_t)((uint64_t)begin + j->err_index);
  parc__drop_job(p, j);
  return rc;
}
