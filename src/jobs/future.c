/* future.c -- parc_submit and the futures it returns.
 *
 * A future is a map job of one task (parc__future_ops: the map's table,
 * run alone). It is on its pool's list of futures, so destroy can finish
 * and detach it; its owner frees it, before or after its pool is gone.
 */
#include <stdlib.h>
#include <string.h>

#include "pool.h"

struct parc_future {
  parc__job job; /* a future is a one-task map job */
};

/* Futures are on the pool's list, so destroy can finish and detach them. */
static void add_future(parc_pool *p, parc__job *j) {
  pthread_mutex_lock(&p->lock);
  j->next_future = p->futures;
  if (p->futures)
    p->futures->prev_future = j;
  p->futures = j;
  pthread_mutex_unlock(&p->lock);
}

int parc_submit(parc_pool *p, parc_task_fn fn, const void *in, size_t in_size,
                size_t out_size, parc_future **out) {
  if (!out)
    return PARC_EINVAL;
  *out = NULL;
  if (!p || !fn || (in_size && !in) || in_size > SIZE_MAX / 2 ||
      out_size > SIZE_MAX / 2)
    return PARC_EINVAL;
  parc__job *j = parc__job_new(p, &parc__future_ops);
  if (!j)
    return PARC_ENOMEM;
  j->owned = parc__malloc(in_size + out_size + 1);
  if (!j->owned) {
    free(j);
    return PARC_ENOMEM;
  }
  if (in_size)
    memcpy(j->owned, in, in_size);
  j->fn = (uint64_t)(uintptr_t)fn;
  j->in = j->owned;
  j->in_size = in_size;
  j->out = j->owned + in_size;
  j->out_size = out_size;
  j->n = j->units_total = 1;
  j->chunk = 1;
  add_future(p, j);
  parc__submit(p, j);
  *out = (parc_future *)j;
  return 0;
}

int parc_submit_bytes(parc_pool *p, parc_bytes_fn fn, const void *in,
                      size_t len, parc_future **out) {
  if (!out)
    return PARC_EINVAL;
  *out = NULL;
  if (!p || !fn || (len && !in))
    return PARC_EINVAL;
  parc__job *j = parc__job_new(p, &parc__future_ops);
  if (!j)
    return PARC_ENOMEM;
  j->owned = parc__malloc(len ? len : 1);
  if (!j->owned) {
    free(j);
    return PARC_ENOMEM;
  }
  if (len)
    memcpy(j->owned, in, len);
  j->fn = (uint64_t)(uintptr_t)fn;
  j->bytes = true;
  j->one_in = (parc_bytes){j->owned, len};
  j->bin = &j->one_in;
  j->bout = &j->one_out;
  j->n = j->units_total = 1;
  j->chunk = 1;
  add_future(p, j);
  parc__submit(p, j);
  *out = (parc_future *)j;
  return 0;
}

int parc_future_bytes(parc_future *f, const void **data, size_t *len) {
  if (!f || !data || !len || !f->job.bytes)
    return PARC_EINVAL;
  if (!parc__job_done(&f->job))
    return PARC_EAGAIN;
  *data = f->job.one_out.data;
  *len = f->job.one_out.len;
  return 0;
}

/* Waits until j finishes or the deadline passes; true if finished. */
static bool wait_finished(parc__job *j, uint64_t deadline) {
  if (parc__job_done(j))
    return true;
  /* Unfinished, so the pool is there: destroy finishes every future. */
  return parc__wait_until(j->pool, parc__job_done, j, deadline);
}

int parc_future_wait(parc_future *f, void *out, double timeout,
                     parc_task_status *status) {
  if (!f)
    return PARC_EINVAL;
  parc__job *j = &f->job;
  uint64_t deadline = timeout == 0 ? parc__now_ns() : parc__deadline(timeout);
  if (!wait_finished(j, deadline))
    return PARC_EAGAIN;
  if (status)
    *status = j->first_status;
  if (j->err == 0 && out && j->out_size)
    memcpy(out, j->out, j->out_size);
  return j->err;
}

int parc_future_cancel(parc_future *f) { return parc_future_cancel_ex(f, 1); }

int parc_future_cancel_ex(parc_future *f, int cancel_running) {
  if (!f)
    return PARC_EINVAL;
  parc__job *j = &f->job;
  parc_pool *p = j->pool;
  if (!p || atomic_load(&j->finished))
    return PARC_EAGAIN;
  pthread_mutex_lock(&p->lock);
  int rc = PARC_EAGAIN;
  if (!atomic_load(&j->finished) &&
      (cancel_running || parc__job_queued(p, j))) {
    parc__job_abort(j, PARC_ECANCELED);
    rc = 0;
  }
  pthread_mutex_unlock(&p->lock);
  return rc;
}

parc_future_state parc_future_get_state(parc_future *f) {
  parc__job *j = &f->job;
  parc_pool *p = j->pool;
  if (!p || atomic_load_explicit(&j->finished, memory_order_acquire))
    return PARC_FUTURE_DONE;
  pthread_mutex_lock(&p->lock);
  parc_future_state s = atomic_load(&j->finished) ? PARC_FUTURE_DONE
                        : parc__job_queued(p, j)  ? PARC_FUTURE_QUEUED
                                                  : PARC_FUTURE_RUNNING;
  pthread_mutex_unlock(&p->lock);
  return s;
}

void parc_future_free(parc_future *f) {
  if (!f)
    return;
  parc__job *j = &f->job;
  parc_pool *p = j->pool;
  if (!p) {
    parc__job_unref(j);
    return;
  }
  pthread_mutex_lock(&p->lock);
  if (!atomic_load(&j->finished))
    parc__job_abort(j, PARC_ECANCELED);
  if (j->prev_future)
    j->prev_future->next_future = j->next_future;
  else
    p->futures = j->next_future;
  if (j->next_future)
    j->next_future->prev_future = j->prev_future;
  parc__job_unref(j);
  pthread_mutex_unlock(&p->lock);
  parc__event_signal(p->doorbell, p->be->shared);
}

typedef struct any_arg {
  parc_future *const *fs;
  size_t n, index;
} any_arg;

static bool any_done(void *arg) {
  any_arg *a = arg;
  for (size_t i = 0; i < a->n; i++)
    if (parc__job_done(&a->fs[i]->job)) {
      a->index = i;
      return true;
    }
  return false;
}

int parc_wait_any(parc_future *const *fs, size_t n, double timeout,
                  size_t *index) {
  if (!fs || n == 0 || !index)
    return PARC_EINVAL;
  parc_pool *p = NULL;
  for (size_t i = 0; i < n; i++) {
    if (!fs[i])
      return PARC_EINVAL;
    if (fs[i]->job.pool && p && fs[i]->job.pool != p)
      return PARC_EINVAL; /* one pool's doorbell serves one wait */
    if (fs[i]->job.pool)
      p = fs[i]->job.pool;
  }
  any_arg a = {fs, n, 0};
  uint64_t deadline = timeout == 0 ? parc__now_ns() : parc__deadline(timeout);
  bool ok = p ? parc__wait_until(p, any_done, &a, deadline)
              : any_done(&a); /* all finished: their pool is gone */
  if (!ok)
    return PARC_ETIMEDOUT;
  *index = a.index;
  return 0;
}
