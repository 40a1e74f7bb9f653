/* job.c -- a job's life, whatever its kind: references, outcome, abort,
 * and the units that must run again after a worker was lost.
 *
 * A job is freed when its last reference goes: the caller's, the pending
 * list's, and one per batch in flight. A future outlives its pool: destroy
 * finishes every future and detaches it (job->pool = NULL), so wait and
 * free never touch a pool that is gone.
 */
#include <stdlib.h>
#include <string.h>

#include "pool.h"

parc__job *parc__job_new(parc_pool *p, const parc__job_ops *ops) {
  parc__job *j = parc__calloc(1, sizeof *j);
  if (!j)
    return NULL;
  j->ops = ops;
  j->pool = p;
  j->refs = 1; /* the caller's */
  j->err_index = UINT64_MAX;
  j->deadline = PARC__FOREVER;
  atomic_flag_clear(&j->loop_fail_lock);
  return j;
}

void parc__job_unref(parc__job *j) {
  if (--j->refs > 0)
    return;
  free(j->requeue);
  free(j->partials);
  free(j->static_next);
  free(j->loop_joined);
  free(j->owned);
  free(j->one_out.data);
  free(j);
}

void parc__job_finish(parc__job *j) {
  atomic_store_explicit(&j->finished, 1, memory_order_release);
  if (!j->pool)
    return;
  j->pool->nfinished++; /* it is on the pending list: pruned later */
  /* whoever waits for it sleeps on the doorbell */
  parc__event_signal(j->pool->doorbell, j->pool->be->shared);
}

void parc__job_note(parc__job *j, uint64_t index, parc_task_status st) {
  if (atomic_load(&j->finished))
    return;
  int err = st.error;
  if (j->status && index < j->n) /* only a map has statuses */
    j->status[index] = st;
  if (err != 0 && (j->err == 0 || index < j->err_index)) {
    j->err = err;
    j->err_index = index;
    j->first_status = st;
  } else if (j->ops->alone && err == 0) {
    j->first_status = st; /* a future's status is its one task's */
  }
}

void parc__job_count(parc__job *j, uint64_t units) {
  if (atomic_load(&j->finished))
    return;
  uint64_t done = atomic_fetch_add(&j->units_done, units) + units;
  if (done >= j->units_total)
    parc__job_finish(j);
}

/* ---------------------------------------------------------------- queued */

bool parc__job_has_work_for(const parc_pool *p, const parc__job *j,
                            unsigned w) {
  if (atomic_load(&j->finished))
    return false;
  if (j->nrequeue > 0)
    return true;
  return j->ops->has_work(p, j, w);
}

static bool job_exhausted(const parc_pool *p, const parc__job *j) {
  for (unsigned w = 0; w < p->nworkers; w++)
    if (parc__job_has_work_for(p, j, w))
      return false;
  return true;
}

bool parc__job_queued(parc_pool *p, parc__job *j) {
  return !atomic_load(&j->finished) && !job_exhausted(p, j);
}

/* ---------------------------------------------------------------- requeue */

void parc__job_requeue(parc__job *j, uint64_t first, uint64_t count,
                       uint32_t attempt, uint64_t units) {
  if (atomic_load(&j->finished) || count == 0)
    return;
  if (j->nrequeue == j->requeue_cap) {
    size_t cap = j->requeue_cap ? 2 * j->requeue_cap : 8;
    parc__requeue *q = parc__realloc(j->requeue, cap * sizeof *q);
    if (!q) { /* cannot remember it: report instead of losing it */
      parc__job_note(
          j, first,
          (parc_task_status){.error = PARC_ENOMEM, .attempts = (int)attempt});
      parc__job_count(j, units);
      return;
    }
    j->requeue = q;
    j->requeue_cap = cap;
  }
  /* An unfinished job stays on the pending list, so this is seen. */
  j->requeue[j->nrequeue++] = (parc__requeue){first, count, attempt};
}

void parc__job_take_requeued(parc__job *j, parc__batch *b, uint64_t most) {
  parc__requeue *r = &j->requeue[0];
  uint64_t c = r->count < most ? r->count : most;
  b->attempt = r->attempt;
  b->first = r->first;
  b->count = c;
  r->first += c;
  r->count -= c;
  if (r->count == 0)
    memmove(j->requeue, j->requeue + 1, --j->nrequeue * sizeof *r);
}

/* What a worker's end says of the unit it was running, for a task that
 * fails with PARC_EWORKER. A lost MPI rank's task says 255, as mpirun
 * reports a rank it lost (docs/cluster.md). */
static void note_death(const parc__worker_event *why, parc_task_status *st) {
  if (why && why->what == PARC__WORKER_SIGNALED)
    st->signal = why->code;
  else if (why && why->what == PARC__WORKER_EXITED)
    st->exit_code = why->code;
  else if (why && why->what == PARC__WORKER_LOST)
    st->exit_code = 255;
}

void parc__job_charge(parc_pool *p, parc__worker *w, parc__batch *b,
                      uint64_t first, uint64_t count, uint64_t report,
                      uint64_t units, uint64_t started,
                      const parc__worker_event *why) {
  parc__job *j = b->job;
  parc_task_status st = {.attempts = (int)b->attempt + 1, .pid = w->pid};
  if (w->kill_err && w->kill_started == started) {
    st.error = w->kill_err;
    parc__job_note(j, report, st);
  } else if (w->kill_err) {
    /* killed for another unit */
    parc__job_requeue(j, first, count, b->attempt, units);
    return;
  } else if (b->attempt < p->opts.max_retries) {
    parc__job_requeue(j, first, count, b->attempt + 1, units);
    return;
  } else {
    st.error = PARC_EWORKER;
    note_death(why, &st);
    parc__job_note(j, report, st);
  }
  parc__job_count(j, units);
}

/* ---------------------------------------------------------------- abort */

/* The lowest unit of j not yet done: what an abort reports. */
static uint64_t lowest_open(parc_pool *p, parc__job *j) {
  uint64_t low = j->ops->lowest_queued(p, j);
  for (size_t i = 0; i < j->nrequeue; i++)
    if (j->requeue[i].first < low)
      low = j->requeue[i].first;
  for (unsigned w = 0; w < p->nworkers; w++)
    for (unsigned i = 0; i < p->workers[w].fifo_len; i++) {
      parc__batch *b = parc__fifo_at(&p->workers[w], i);
      if (b->job != j || b->done >= b->units)
        continue;
      uint64_t at = j->ops->lowest_in(&p->workers[w], i, b);
      if (at < low)
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
      unsigned pos = parc__fifo_pos(wk, i);
      if (wk->fifo[pos].job == j)
        atomic_store_explicit(&wk->slot->skip[pos], wk->fifo[pos].seq,
                              memory_order_seq_cst);
    }
  }
}

uint64_t parc__job_batch_first(const parc__worker *w, unsigned i,
                               const parc__batch *b) {
  (void)w, (void)i;
  return b->first;
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
