/* job.h -- a job: one call's work (a map, a map-reduce, a parallel for,
 * one future), and the operations table behind which each kind lives.
 *
 * The scheduler (sched/) hands out a job's units in batches, reads their
 * results and settles the units of a worker that is lost, knowing nothing
 * of what a unit is: each of those steps is a call through j->ops. Each
 * kind fills one table in its own file:
 *
 *   jobs/map.c     parc_map, parc_map_bytes: a unit is a task
 *   jobs/future.c  parc_submit: a map of one task, run alone
 *   jobs/reduce.c  parc_map_reduce: a unit is a fixed block of tasks
 *   jobs/for.c     parc_for: a unit is a chunk of iterations, handed out
 *                  (processes, MPI) or taken by the workers (threads)
 *   jobs/job.c     a job's life: references, outcome, abort, requeue
 *
 * A job is shared by its caller and the scheduler under pool->lock;
 * `finished` and `units_done` may be read without it. Refcounted: the
 * caller holds one reference, the pending list one, each batch in flight
 * one.
 */
#ifndef PARC_JOB_H
#define PARC_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parc.h"
#include "sys/sys.h"
#include "wire.h"

typedef struct parc__job parc__job;
typedef struct parc__batch parc__batch;
typedef struct parc__worker parc__worker;
typedef struct parc__worker_event parc__worker_event; /* backend.h */

/* What the scheduler asks of a kind. Lock held in every call. */
typedef struct parc__job_ops {
  const char *name;
  bool per_task;  /* a unit is one task, many to a batch (a map); else a
                      batch is one unit (a block, a chunk) */
  bool alone;     /* one task, only for an idle worker: so "queued" and
                      "running" are told apart exactly (futures) */
  bool reads_job; /* the worker reads the job itself (a thread's loop):
                      one abandoned must keep it alive */
  /* Does j have a unit for worker w now (requeued ones aside)? */
  bool (*has_work)(const parc_pool *p, const parc__job *j, unsigned w);
  /* The next batch of j for w into b (first, count, units, attempt), from
   * the requeued units first; false if none for w. */
  bool (*next_batch)(parc_pool *p, parc__job *j, parc__worker *w,
                     parc__batch *b);
  /* The message for b: w->tx.hdr's fields, and the pieces after it. */
  void (*write)(parc__worker *w, const parc__batch *b);
  /* Where the output of the result being read for b goes (NULL: dropped),
   * and its size. */
  unsigned char *(*result_to)(parc__worker *w, const parc__batch *b,
                              size_t *size);
  /* The result of b's next unit, read whole (w->rx), with its error. */
  void (*take)(parc_pool *p, parc__worker *w, parc__batch *b,
               const parc__msg_result *r, int err);
  /* w is lost while running b's next unit, `started` its announcement:
   * the unit is retried or reported (parc__job_charge). */
  void (*lost)(parc_pool *p, parc__worker *w, parc__batch *b, uint64_t started,
               const parc__worker_event *why);
  /* w is lost holding b: its units not done go back to j. */
  void (*drop)(parc_pool *p, parc__worker *w, parc__batch *b);
  /* The lowest unit of j not handed out (requeued ones aside), and the
   * lowest not done of b, the i-th batch in w's fifo: what an abort
   * reports. */
  uint64_t (*lowest_queued)(const parc_pool *p, const parc__job *j);
  uint64_t (*lowest_in)(const parc__worker *w, unsigned i,
                        const parc__batch *b);
} parc__job_ops;

/* lowest_in for the kinds whose batch runs its units in order from
 * b->first (for, reduce): that first one. */
uint64_t parc__job_batch_first(const parc__worker *w, unsigned i,
                               const parc__batch *b);

extern const parc__job_ops parc__map_ops;
extern const parc__job_ops parc__future_ops;
extern const parc__job_ops parc__reduce_ops;
extern const parc__job_ops parc__for_ops;  /* chunks handed out */
extern const parc__job_ops parc__loop_ops; /* chunks taken by threads */

/* A range of a job to dispatch again after a worker death. */
typedef struct parc__requeue {
  uint64_t first, count;
  uint32_t attempt;
} parc__requeue;

struct parc__job {
  const parc__job_ops *ops;
  struct parc__job *next_pending; /* pool's pending list */
  unsigned refs;
  parc_pool *pool;
  struct parc__job *next_future, *prev_future; /* pool's live futures */

  /* what to run */
  uint64_t fn; /* parc_task_fn / parc_for_fn */
  parc_combine_fn combine;
  const unsigned char *in; /* caller's inputs (map), or in_copy */
  bool in_shared;          /* `in` is in shm the workers map: passed
                                    by pointer, never copied */
  size_t in_size, out_size;
  unsigned char *out;         /* caller's outputs, or out_copy */
  uint64_t n;                 /* tasks (map, reduce) */
  unsigned char *owned;       /* future: its input and output buffer */
  bool bytes;                 /* a bytes map (tasks of any length) */
  const parc_bytes *bin;      /* bytes: the inputs, n of them */
  parc_bytes *bout;           /* bytes: where results go (malloc'd) */
  parc_bytes one_in, one_out; /* bytes future: its input and result */

  /* dispatch state (scheduler) */
  uint64_t next;  /* next task / block / iteration to hand out */
  uint64_t chunk; /* forced chunk; 0: adaptive */
  double task_ns; /* running mean of one task's time */
  parc__requeue *requeue;
  size_t nrequeue, requeue_cap;

  /* reduce: fixed blocks, results kept for the final tree */
  uint64_t block; /* tasks per block */
  uint64_t nblocks;
  unsigned char *partials; /* nblocks * out_size */
  const unsigned char *identity;

  /* for */
  int64_t begin, end;
  parc_schedule schedule;
  int64_t for_chunk;
  void *ctx; /* for: ctx pointer */
  size_t ctx_size;
  _Atomic uint64_t *static_next; /* static: next chunk number per worker */
  _Atomic uint64_t loop_next;    /* LOOP: first offset not yet taken */
  _Atomic uint32_t loop_stop;    /* LOOP: the call ended, take no more */
  atomic_flag loop_fail_lock;    /* LOOP: guards the two below (rare) */
  uint64_t loop_fail;            /* LOOP: lowest failing chunk's offset */
  int loop_fail_rc;              /* LOOP: ... and its body's return */
  bool *loop_joined;             /* LOOP: worker w is in the loop */
  unsigned loop_active;          /* LOOP: workers in the loop */

  /* outcome */
  uint64_t units_total; /* tasks, blocks or iterations */
  _Atomic uint64_t units_done;
  parc_task_status *status;      /* caller's array, or NULL */
  parc_task_status first_status; /* of the lowest failed unit */
  uint64_t err_index;            /* lowest failed index (UINT64_MAX: none) */
  int err;                       /* error of that task */
  bool aborted;                  /* ended early: timeout, cancel, destroy */
  uint64_t deadline;             /* whole call; PARC__FOREVER */
  _Atomic int finished;
};

/* ---- job.c */
parc__job *parc__job_new(parc_pool *p, const parc__job_ops *ops);
void parc__job_unref(parc__job *j);  /* pool->lock held */
void parc__job_finish(parc__job *j); /* pool->lock held */
/* Records a unit's outcome: status[index] for maps, and the lowest error.
 * Indices are task indices, or iteration offsets from begin for a for. */
void parc__job_note(parc__job *j, uint64_t index, parc_task_status st);
/* Counts units done; the job finishes when all are. */
void parc__job_count(parc__job *j, uint64_t units);
/* Ends j now with `err` for every unit not yet done. Lock held. */
void parc__job_abort(parc__job *j, int err);
/* Has j a unit for worker w now? Lock held. */
bool parc__job_has_work_for(const parc_pool *p, const parc__job *j, unsigned w);
/* True if j still has units waiting to be handed out. Lock held. */
bool parc__job_queued(parc_pool *p, parc__job *j);
/* Units [first, first + count) run again, at `attempt`; `units` is what
 * they count for if they cannot be remembered (then reported ENOMEM). */
void parc__job_requeue(parc__job *j, uint64_t first, uint64_t count,
                       uint32_t attempt, uint64_t units);
/* Takes at most `most` units of the first requeued range into b. */
void parc__job_take_requeued(parc__job *j, parc__batch *b, uint64_t most);
/* The unit [first, first + count) that lost worker w was running: retried
 * if it may be, else reported at `report` (PARC_EWORKER, or what it was
 * killed for) and counted as `units` done. */
void parc__job_charge(parc_pool *p, parc__worker *w, parc__batch *b,
                      uint64_t first, uint64_t count, uint64_t report,
                      uint64_t units, uint64_t started,
                      const parc__worker_event *why);

/* ---- loop.c: iteration arithmetic (offsets from begin), chunk taking */
bool parc__static_bounds(uint64_t total, int64_t chunk, unsigned workers,
                         uint64_t k, uint64_t *first, uint64_t *count);
uint64_t parc__chunk_size(parc_schedule s, int64_t chunk, unsigned workers,
                          uint64_t left);
bool parc__loop_take(parc__job *j, unsigned workers, unsigned w, uint64_t *off,
                     uint64_t *count);
bool parc__loop_exhausted(const parc__job *j, unsigned workers);
/* A chunk's body failed: keep the lowest (offset, rc). Workers call it. */
void parc__loop_fail(parc__job *j, uint64_t off, int rc);
bool parc__loop_failed(parc__job *j, uint64_t *off, int *rc);

#endif
