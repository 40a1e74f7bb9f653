/* reduce.c -- parc_map_reduce: a unit is a block of tasks.
 *
 * The tasks are cut into fixed blocks (their bounds depend on n and the
 * sizes only, never on the workers); a worker maps a block and folds it
 * into one partial result, and the caller folds the partials in a fixed
 * tree. So the result is the same, bit for bit, on any number of workers.
 */
#include <stdlib.h>
#include <string.h>

#include "pool.h"

static bool reduce_has_work(const parc_pool *p, const parc__job *j,
                            unsigned w) {
  (void)p, (void)w;
  return j->next < j->nblocks;
}

static bool reduce_next_batch(parc_pool *p, parc__job *j, parc__worker *w,
                              parc__batch *b) {
  (void)p, (void)w;
  if (j->nrequeue > 0) {
    parc__job_take_requeued(j, b, UINT64_MAX);
  } else {
    b->first = j->next++ * j->block;
    b->count = j->block;
  }
  if (b->first + b->count > j->n)
    b->count = j->n - b->first;
  b->units = 1;
  return true;
}

static void reduce_write(parc__worker *w, const parc__batch *b) {
  const parc__job *j = b->job;
  parc__msg_batch *m = &w->tx.hdr;
  m->kind = MSG_REDUCE;
  m->first = b->first;
  m->in_size = j->in_size;
  m->out_size = j->out_size;
  m->combine = (uint64_t)(uintptr_t)j->combine;
  w->tx.iov[w->tx.iovcnt++] = (struct iovec){(void *)j->identity, j->out_size};
  parc__tx_add_inputs(w, j, b);
}

static unsigned char *reduce_result_to(parc__worker *w, const parc__batch *b,
                                       size_t *size) {
  const parc__job *j = b->job;
  *size = j->out_size;
  if (atomic_load(&j->finished) || parc__result_error(&w->rx.hdr) != 0)
    return NULL;
  return j->partials + (b->first / j->block) * j->out_size;
}

static void reduce_take(parc_pool *p, parc__worker *w, parc__batch *b,
                        const parc__msg_result *r, int err) {
  (void)p, (void)w;
  parc__job *j = b->job;
  if (atomic_load(&j->finished))
    return;
  if (err != 0)
    parc__job_note(j, r->fail_index,
                   (parc_task_status){.error = err,
                                      .task_rc = err == PARC_ETASK ? r->rc : 0,
                                      .attempts = (int)b->attempt + 1});
  parc__job_count(j, 1);
}

/* A block runs again whole; a failure is reported at the task the worker
 * was on. */
static void reduce_lost(parc_pool *p, parc__worker *w, parc__batch *b,
                        uint64_t started, const parc__worker_event *why) {
  parc__job_charge(p, w, b, b->first, b->count,
                   atomic_load(&w->slot->cur_index), 1, started, why);
}

static void reduce_drop(parc_pool *p, parc__worker *w, parc__batch *b) {
  (void)p, (void)w;
  if (b->done < b->units)
    parc__job_requeue(b->job, b->first, b->count, b->attempt, 1);
}

static uint64_t reduce_lowest_queued(const parc_pool *p, const parc__job *j) {
  (void)p;
  return j->next * j->block;
}

const parc__job_ops parc__reduce_ops = {
    .name = "reduce",
    .has_work = reduce_has_work,
    .next_batch = reduce_next_batch,
    .write = reduce_write,
    .result_to = reduce_result_to,
    .take = reduce_take,
    .lost = reduce_lost,
    .drop = reduce_drop,
    .lowest_queued = reduce_lowest_queued,
    .lowest_in = parc__job_batch_first,
};

/* Block bounds depend on n and sizes only, never on the workers. */
static uint64_t reduce_block(size_t n, size_t in_size) {
  uint64_t block = (n + PARC__REDUCE_BLOCKS - 1) / PARC__REDUCE_BLOCKS;
  uint64_t fit = in_size ? (PARC__LANE_BYTES / 4) / in_size : block;
  if (block > fit)
    block = fit;
  return block ? block : 1;
}

int parc_map_reduce(parc_pool *p, parc_task_fn map_fn, const void *in,
                    size_t in_size, size_t n, parc_combine_fn combine,
                    const void *identity, void *result, size_t result_size,
                    const parc_map_opts *opts) {
  parc_map_opts o = {0};
  if (opts)
    o = *opts;
  if (!p || !map_fn || !combine || !identity || !result || !result_size ||
      parc__too_big(n, in_size) || (n && in_size && !in) || o.timeout < 0)
    return PARC_EINVAL;
  if (o.err_index)
    *o.err_index = SIZE_MAX;
  memmove(result, identity, result_size);
  if (n == 0)
    return 0;
  parc__job *j = parc__job_new(p, &parc__reduce_ops);
  if (!j)
    return PARC_ENOMEM;
  j->block = reduce_block(n, in_size);
  j->nblocks = j->units_total = (n + j->block - 1) / j->block;
  j->partials = parc__malloc(j->nblocks * result_size);
  if (!j->partials || parc__too_big(j->nblocks, result_size)) {
    parc__job_unref(j);
    return PARC_ENOMEM;
  }
  j->fn = (uint64_t)(uintptr_t)map_fn;
  j->combine = combine;
  j->identity = identity;
  j->in = in;
  j->in_size = in_size;
  j->in_shared = in_size && parc__shm_holds(in, n * in_size, p->shm_gen);
  j->out_size = result_size;
  j->n = n;
  int rc = parc__run_job(p, j, &o);
  /* A fixed tree over the blocks: pairs at distance 1, 2, 4, ... */
  for (uint64_t step = 1; rc == 0 && step < j->nblocks; step *= 2)
    for (uint64_t i = 0; rc == 0 && i + step < j->nblocks; i += 2 * step) {
      rc = combine(j->partials + i * result_size,
                   j->partials + (i + step) * result_size, p->opts.ctx);
      if (rc != 0) {
        rc = PARC_ETASK;
        j->err_index = (i + step) * j->block;
      }
    }
  if (rc == 0)
    memcpy(result, j->partials, result_size);
  else if (o.err_index)
    *o.err_index = (size_t)j->err_index;
  parc__drop_job(p, j);
  return rc;
}
