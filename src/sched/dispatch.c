/* dispatch.c -- which job each worker gets next, and how much of it.
 *
 * Jobs are served in the order they came (the pending list); a worker
 * takes a batch of the first job with work for it. How big a batch is and
 * where it starts, the job's kind says (j->ops->next_batch); how many a
 * worker may hold, wants_more. A future goes only to an idle worker, so
 * "queued" and "running" are told apart exactly for parc_future_cancel.
 */
#include <string.h>

#include "pool.h"

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
void parc__prune_pending(parc_pool *p) {
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
    bool fits = !j->ops->alone || parc__worker_idle(w);
    if (fits && parc__job_has_work_for(p, j, w->id))
      return j;
  }
  return NULL;
}

/* Picks the next batch of j for worker w; false if none for it. */
static bool next_batch(parc_pool *p, parc__job *j, parc__worker *w,
                       parc__batch *b) {
  memset(b, 0, sizeof *b);
  b->job = j;
  if (!j->ops->next_batch(p, j, w, b))
    return false;
  b->seq = ++p->next_seq;
  return true;
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
    const parc__batch *b = &w->fifo[parc__fifo_pos(w, i)];
    if (!b->job->ops->per_task) /* chunks of a for, blocks of a reduce */
      return w->fifo_len < 2;
    if (b->job->task_ns <= 0)
      return false; /* unknown cost: one at a time until it is known */
    queued += (double)(b->units - b->done) * b->job->task_ns;
  }
  return queued < (p->be->remote ? PARC__QUEUED_REMOTE_NS : PARC__QUEUED_NS);
}

bool parc__dispatch(parc_pool *p, parc__worker *w) {
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
    *parc__fifo_at(w, w->fifo_len++) = b;
    parc__tx_prepare(w, &b);
    parc__tx_pump(w);
    moved = true;
  }
  return moved;
}
