/* pool.c -- the front of every pool: create/destroy, map, futures,
 * map-reduce, for. Each call becomes a job handed to the manager
 * (sched.c); this file owns a job's life from creation to its last
 * reference, and the waiting.
 *
 * A job is freed when its last reference goes: the caller's, the pending
 * list's, and one per batch in flight. A future outlives its pool: destroy
 * finishes every future and detaches it (job->pool = NULL), so wait and
 * free never touch a pool that is gone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool_int.h"

#define PROGRESS_NS 100000000 /* progress callback at most every 0.1 s */
#define REDUCE_BLOCKS 1024    /* target number of blocks of a map-reduce */

/* ---------------------------------------------------------------- jobs */

parc__job *parc__job_new(parc_pool *p, parc__job_kind kind) {
  parc__job *j = parc__calloc(1, sizeof *j);
  if (!j)
    return NULL;
  j->kind = kind;
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
  if (j->status && j->kind == JOB_MAP && index < j->n)
    j->status[index] = st;
  if (err != 0 && (j->err == 0 || index < j->err_index)) {
    j->err = err;
    j->err_index = index;
    j->first_status = st;
  } else if (j->is_future && err == 0) {
    j->first_status = st;
  }
}

void parc__job_count(parc__job *j, uint64_t units) {
  if (atomic_load(&j->finished))
    return;
  uint64_t done = atomic_fetch_add(&j->units_done, units) + units;
  if (done >= j->units_total)
    parc__job_finish(j);
}

/* Puts j on the pending list and hands out what can start now. */
static void submit_job(parc_pool *p, parc__job *j) {
  pthread_mutex_lock(&p->lock);
  j->refs++;
  if (p->pending_tail)
    p->pending_tail->next_pending = j;
  else
    p->pending_head = j;
  p->pending_tail = j;
  p->npending++;
  if (j->deadline != PARC__FOREVER)
    p->timed_jobs++;
  uint64_t wake;
  if (p->broken || p->stopping)
    parc__job_abort(j, p->broken ? PARC_EBROKEN : PARC_ECANCELED);
  else
    parc__round(p, &wake);
  pthread_mutex_unlock(&p->lock);
}

/* A waiting caller spins before it sleeps while that pays (parc__spin:
 * on a busy machine a spinning caller only took the worker's CPU, a round
 * trip measured 120 us with the spin and 9 us without). */
static void wait_doorbell(parc_pool *p, uint32_t seen, uint64_t until) {
  parc__spin_try t = parc__spin_begin(&p->wait_spin);
  bool hit = parc__event_spin(p->doorbell, seen, t.rounds);
  parc__spin_end(&p->wait_spin, t, hit);
  if (!hit)
    parc__event_wait(p->doorbell, seen, until, 0, p->be->shared);
}

/* What a waiting call watches besides its own condition: the job it
 * reports progress of and may be told to stop. */
typedef struct watch {
  parc__job *job;
  parc_progress_fn progress;
  void *progress_arg;
  int (*should_stop)(void *arg);
  void *stop_arg;
} watch;

/* Every tick (PROGRESS_NS): progress, and whether the call must stop. */
static void tick(parc_pool *p, const watch *w) {
  parc__job *j = w->job;
  if (w->progress)
    w->progress(atomic_load(&j->units_done), j->units_total,
                w->progress_arg);
  if (w->should_stop && w->should_stop(w->stop_arg)) {
    pthread_mutex_lock(&p->lock);
    parc__job_abort(j, PARC_ECANCELED);
    pthread_mutex_unlock(&p->lock);
  }
}

/* Waits until done(arg), the deadline, or a parc_pool_wake, driving the
 * scheduler meanwhile (every waiting caller runs a round, one at a time
 * under the lock, then sleeps on the doorbell, which every result and
 * every finished job rings). Returns done(arg). */
typedef bool (*until_fn)(void *arg);

static bool drive(parc_pool *p, until_fn done, void *arg, uint64_t deadline,
                  const watch *w) {
  pthread_mutex_lock(&p->lock);
  p->drivers++;
  pthread_mutex_unlock(&p->lock);
  uint32_t wakes = atomic_load(&p->wakes);
  bool ticks = w && (w->progress || w->should_stop);
  uint64_t next_tick = ticks ? parc__now_ns() + PROGRESS_NS : PARC__FOREVER;
  bool ok;
  for (;;) {
    uint32_t seen = parc__event_seq(p->doorbell);
    uint64_t wake = PARC__FOREVER;
    if ((ok = done(arg)))
      break;
    /* Always a round of our own, never a skipped one: the manager steps
     * aside while we drive, so results we leave unread wake no one. */
    pthread_mutex_lock(&p->lock);
    parc__round(p, &wake);
    pthread_mutex_unlock(&p->lock);
    if ((ok = done(arg)))
      break;
    uint64_t now = parc__now_ns();
    if (now >= deadline || atomic_load(&p->wakes) != wakes)
      break;
    if (now >= next_tick) {
      tick(p, w);
      next_tick = now + PROGRESS_NS;
      continue; /* a stop ended the job: look again */
    }
    uint64_t until = deadline < wake ? deadline : wake;
    if (next_tick < until)
      until = next_tick;
    wait_doorbell(p, seen, until);
  }
  pthread_mutex_lock(&p->lock);
  if (--p->drivers == 0 && parc__busy(p))
    parc__event_signal(&p->manager_bell, 0); /* hand the rest back */
  pthread_mutex_unlock(&p->lock);
  if (w && w->progress)
    w->progress(atomic_load(&w->job->units_done), w->job->units_total,
                w->progress_arg);
  return ok;
}

static bool job_done(void *arg) {
  return atomic_load_explicit(&((parc__job *)arg)->finished,
                              memory_order_acquire);
}

/* The common tail of map, map-reduce and for: run j to its end, within
 * the call's timeout (the scheduler enforces j's deadline), reporting
 * progress, stopping when told to. Returns its error. */
static int run_job(parc_pool *p, parc__job *j, const parc_map_opts *o) {
  if (o->timeout > 0)
    j->deadline = parc__deadline(o->timeout);
  submit_job(p, j);
  watch w = {j, o->progress, o->progress_arg, o->should_stop, o->stop_arg};
  while (!drive(p, job_done, j, PARC__FOREVER, &w))
    ; /* woken by parc_pool_wake: the call goes on */
  return j->err;
}

static void drop_job(parc_pool *p, parc__job *j) {
  pthread_mutex_lock(&p->lock);
  parc__job_unref(j);
  pthread_mutex_unlock(&p->lock);
}

/* ---------------------------------------------------------------- pools */

const parc__backend *parc__mpi_backend;

static int check_opts(const parc_pool_opts *o) {
  if (o->backend == PARC_MPI && !parc__mpi_backend)
    return PARC_ENOTSUP; /* libparc_mpi not linked, or parc_mpi_init not called */
  if (o->backend != PARC_THREADS && o->backend != PARC_PROCESSES &&
      o->backend != PARC_MPI)
    return PARC_EINVAL;
  if (o->task_timeout < 0 || o->workers > 4096)
    return PARC_EINVAL;
  return 0;
}

int parc_pool_create(parc_pool **out, const parc_pool_opts *opts) {
  if (!out)
    return PARC_EINVAL;
  *out = NULL;
  parc_pool_opts o = {0};
  if (opts)
    o = *opts;
  int rc = check_opts(&o);
  if (rc != 0)
    return rc;
  parc_pool *p = parc__calloc(1, sizeof *p);
  if (!p)
    return PARC_ENOMEM;
  p->opts = o;
  p->be = o.backend == PARC_PROCESSES ? &parc__procs_backend
          : o.backend == PARC_MPI     ? parc__mpi_backend
                                      : &parc__threads_backend;
  p->nworkers = o.workers ? o.workers : parc__physical_cores();
  rc = p->be->count ? p->be->count(p, &p->nworkers) : 0;
  if (rc != 0) {
    free(p);
    return rc;
  }
  p->workers = parc__calloc(p->nworkers, sizeof *p->workers);
  rc = p->workers ? parc__mutex_init_plain(&p->lock) : PARC_ENOMEM;
  if (rc != 0) {
    if (p->be->count) /* stop() also frees what a count() left */
      p->be->stop(p, true);
    free(p->workers);
    free(p);
    return rc;
  }
  for (unsigned i = 0; i < p->nworkers; i++)
    p->workers[i].id = i;
  parc__event_init(&p->manager_bell);
  p->shm_gen = UINT64_MAX; /* threads share every region; procs set it */
  parc__spin_init(&p->wait_spin);
  p->starting = true; /* a worker lost now is not replaced: create fails */
  rc = p->be->start(p);
  if (rc == 0) {
    rc = parc__thread_create(&p->manager, parc__manager_main, p);
    if (rc != 0)
      p->be->stop(p, true);
  }
  if (rc != 0) {
    pthread_mutex_destroy(&p->lock);
    free(p->workers);
    free(p);
    return rc;
  }
  /* Only an init hook can fail a worker's start, so only then is it worth
   * waiting for all of them; without one, the first call finds them. */
  if (o.init)
    rc = parc__wait_ready(p);
  pthread_mutex_lock(&p->lock);
  p->starting = false;
  pthread_mutex_unlock(&p->lock);
  if (rc != 0) {
    parc_pool_destroy_ex(p, 1);
    return rc;
  }
  *out = p;
  return 0;
}

unsigned parc_pool_workers(const parc_pool *pool) {
  return pool ? pool->nworkers : 0;
}

void parc_pool_destroy(parc_pool *pool) { parc_pool_destroy_ex(pool, 0); }

/* Lock held. What parc_pool_cancel and destroy share. */
static void cancel_all(parc_pool *p, int cancel_running) {
  for (parc__job *j = p->pending_head; j; j = j->next_pending)
    if (cancel_running || parc__job_queued(p, j))
      parc__job_abort(j, PARC_ECANCELED);
  if (cancel_running)
    for (unsigned i = 0; i < p->nworkers; i++)
      if (p->workers[i].fifo_len > 0)
        parc__kill_for(p, i, PARC_ECANCELED, true);
}

void parc_pool_cancel(parc_pool *p, int cancel_running) {
  if (!p)
    return;
  pthread_mutex_lock(&p->lock);
  cancel_all(p, cancel_running);
  pthread_mutex_unlock(&p->lock);
  parc__event_signal(p->doorbell, p->be->shared);
}

void parc_pool_wake(parc_pool *p) {
  if (!p)
    return;
  atomic_fetch_add(&p->wakes, 1);
  parc__event_signal(p->doorbell, p->be->shared);
}

static bool pool_idle(void *arg) {
  parc_pool *p = arg;
  pthread_mutex_lock(&p->lock);
  bool idle = !parc__busy(p);
  pthread_mutex_unlock(&p->lock);
  return idle;
}

int parc_pool_drain(parc_pool *p, double timeout) {
  if (!p)
    return PARC_EINVAL;
  uint64_t deadline = timeout == 0 ? parc__now_ns() : parc__deadline(timeout);
  while (!drive(p, pool_idle, p, deadline, NULL))
    if (parc__now_ns() >= deadline)
      return PARC_ETIMEDOUT; /* (else woken: go on waiting) */
  return 0;
}

void parc_pool_destroy_ex(parc_pool *p, int cancel_running) {
  if (!p)
    return;
  pthread_mutex_lock(&p->lock);
  p->stopping = true;
  cancel_all(p, cancel_running);
  pthread_mutex_unlock(&p->lock);
  parc__event_signal(p->doorbell, p->be->shared);
  parc__event_signal(&p->manager_bell, 0);
  pthread_join(p->manager, NULL);
  p->be->stop(p, cancel_running != 0);
  /* Every future is finished now; detach the ones their owners still hold. */
  while (p->futures) {
    parc__job *j = p->futures;
    p->futures = j->next_future;
    j->pool = NULL;
  }
  while (p->pending_head) {
    parc__job *j = p->pending_head;
    p->pending_head = j->next_pending;
    parc__job_unref(j);
  }
  pthread_mutex_destroy(&p->lock);
  free(p->workers);
  free(p);
}

/* ---------------------------------------------------------------- map */

static bool too_big(size_t n, size_t size) {
  return size != 0 && n > SIZE_MAX / size;
}

/* The common part of parc_map and parc_map_bytes: j has what to run. */
static int run_map_job(parc_pool *p, parc__job *j, size_t n,
                       const parc_map_opts *o) {
  j->n = j->units_total = n;
  j->chunk = o->chunk;
  j->status = o->status;
  for (size_t i = 0; o->status && i < n; i++)
    o->status[i] = (parc_task_status){.error = PARC_EAGAIN};
  int rc = run_job(p, j, o);
  if (rc && o->err_index)
    *o->err_index = (size_t)j->err_index;
  drop_job(p, j);
  return rc;
}

int parc_map(parc_pool *p, parc_task_fn fn, const void *in, size_t in_size,
             void *out, size_t out_size, size_t n, const parc_map_opts *opts) {
  parc_map_opts o = {0};
  if (opts)
    o = *opts;
  if (!p || !fn || too_big(n, in_size) || too_big(n, out_size) ||
      (n && in_size && !in) || (n && out_size && !out) || o.timeout < 0)
    return PARC_EINVAL;
  if (o.err_index)
    *o.err_index = SIZE_MAX;
  if (n == 0)
    return 0;
  parc__job *j = parc__job_new(p, JOB_MAP);
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
  parc__job *j = parc__job_new(p, JOB_MAP);
  if (!j)
    return PARC_ENOMEM;
  j->fn = (uint64_t)(uintptr_t)fn;
  j->bytes = true;
  j->bin = in;
  j->bout = out;
  return run_map_job(p, j, n, &o);
}

/* ---------------------------------------------------------------- futures */

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
  parc__job *j = parc__job_new(p, JOB_MAP);
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
  j->is_future = true;
  add_future(p, j);
  submit_job(p, j);
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
  parc__job *j = parc__job_new(p, JOB_MAP);
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
  j->is_future = true;
  add_future(p, j);
  submit_job(p, j);
  *out = (parc_future *)j;
  return 0;
}

int parc_future_bytes(parc_future *f, const void **data, size_t *len) {
  if (!f || !data || !len || !f->job.bytes)
    return PARC_EINVAL;
  if (!job_done(&f->job))
    return PARC_EAGAIN;
  *data = f->job.one_out.data;
  *len = f->job.one_out.len;
  return 0;
}

/* Waits until j finishes or the deadline passes; true if finished. */
static bool wait_finished(parc__job *j, uint64_t deadline) {
  if (job_done(j))
    return true;
  /* Unfinished, so the pool is there: destroy finishes every future. */
  return drive(j->pool, job_done, j, deadline, NULL);
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
    if (job_done(&a->fs[i]->job)) {
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
  bool ok = p ? drive(p, any_done, &a, deadline, NULL)
              : any_done(&a); /* all finished: their pool is gone */
  if (!ok)
    return PARC_ETIMEDOUT;
  *index = a.index;
  return 0;
}

/* ---------------------------------------------------------------- reduce */

/* Block bounds depend on n and sizes only, never on the workers. */
static uint64_t reduce_block(size_t n, size_t in_size) {
  uint64_t block = (n + REDUCE_BLOCKS - 1) / REDUCE_BLOCKS;
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
      too_big(n, in_size) || (n && in_size && !in) || o.timeout < 0)
    return PARC_EINVAL;
  if (o.err_index)
    *o.err_index = SIZE_MAX;
  memmove(result, identity, result_size);
  if (n == 0)
    return 0;
  parc__job *j = parc__job_new(p, JOB_REDUCE);
  if (!j)
    return PARC_ENOMEM;
  j->block = reduce_block(n, in_size);
  j->nblocks = j->units_total = (n + j->block - 1) / j->block;
  j->partials = parc__malloc(j->nblocks * result_size);
  if (!j->partials || too_big(j->nblocks, result_size)) {
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
  int rc = run_job(p, j, &o);
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
  drop_job(p, j);
  return rc;
}

/* ---------------------------------------------------------------- for */

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
  parc__job *j = parc__job_new(p, handed ? JOB_FOR : JOB_LOOP);
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
  for (unsigned w = 0; w < p->nworkers; w++)
    atomic_init(&j->static_next[w], w);
  parc_map_opts common = {.progress = o.progress,
                          .progress_arg = o.progress_arg,
                          .timeout = o.timeout};
  int rc = run_job(p, j, &common);
  if (rc && o.err_index)
    *o.err_index = (int64_t)((uint64_t)begin + j->err_index);
  drop_job(p, j);
  return rc;
}
