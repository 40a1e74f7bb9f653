/* backend.h -- what a backend is, and all it may touch.
 *
 * A backend starts, stops and watches the workers of a pool: threads of
 * this process (threads.c), processes forked by a zygote (procs.c), or
 * threads of other MPI ranks (mpi.c, in libparc_mpi). It fills one table,
 * parc__backend. Everything else -- batches, results, retries, timeouts,
 * replacing a worker that died -- is the scheduler's (sched/), the same
 * for all backends.
 *
 * A backend may:
 *   - keep its own state in p->be_state, and read p->opts and p->nworkers;
 *   - at start, set p->doorbell (the event workers and couriers ring) and
 *     p->shm_gen (which parc_shm_alloc regions its workers map);
 *   - make each worker's cell (parc__cell_size bytes), attach it to slot w
 *     and reset it before the worker can see it (parc__cell_attach,
 *     parc__cell_reset), close a slot's lanes (parc__slot_close), and read
 *     and write the lanes of a remote worker it carries (a courier);
 *   - run the worker loop, parc__worker_main (parc__worker_thread does so
 *     on a new thread);
 *   - release a job reference it was given with kill (parc__job_unref).
 * And it tells the scheduler what became of its workers through one
 * function, parc__worker_report, from its poll() only. It never changes a
 * worker's record (state, batches, pid) or a job.
 */
#ifndef PARC_BACKEND_H
#define PARC_BACKEND_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "jobs/job.h"
#include "parc.h"
#include "wire.h"

/* What a backend tells the scheduler about the worker in a slot: the one
 * way a worker's start and end are said. */
typedef enum parc__worker_news {
  PARC__WORKER_SPAWNED = 1, /* a process now runs in the slot: pid */
  PARC__WORKER_EXITED,      /* it returned or exited by itself: code (0:
                               clean, after a STOP or its quota) */
  PARC__WORKER_SIGNALED,    /* a signal killed it: code */
  PARC__WORKER_LOST,        /* out of reach for good (its MPI rank failed):
                               its slot says nothing of what it ran */
  PARC__WORKER_INIT_FAILED, /* it never started: init failed, or no
                               process could be made */
} parc__worker_news;

struct parc__worker_event {
  parc__worker_news what;
  int code;  /* EXITED: the exit code; SIGNALED: the signal */
  pid_t pid; /* the process it is about; 0: a thread, or none */
};

typedef struct parc__backend {
  const char *name;
  bool shared;   /* lanes in a shared mapping */
  bool remote;   /* workers share no memory with the caller at all (MPI):
                    a parallel for hands out chunks, ctx goes by value */
  bool abandons; /* kill abandons the worker (a thread cannot be killed):
                    it is gone when kill returns, and no event follows */
  /* Optional: how many workers the pool has (NULL: opts.workers, or one
   * per physical core). May keep state in p->be_state for start(), which
   * then owns it on every path. */
  int (*count)(parc_pool *p, unsigned *nworkers);
  /* Creates lanes and slots, starts every worker; returns when each has
   * run init (or failed). */
  int (*start)(parc_pool *p);
  /* Starts a replacement in slot w (asynchronously), on lanes it resets
   * first (parc__cell_reset). */
  int (*spawn)(parc_pool *p, unsigned w);
  /* Stops slot w's worker now: kills a process (its death is reported
   * later), or abandons a thread. `pin`: NULL, or a reference to a job an
   * abandoned worker may still read (a thread in a parallel for's loop),
   * which the backend releases (parc__job_unref) once it has joined it. */
  void (*kill)(parc_pool *p, unsigned w, parc__job *pin);
  /* Called by the scheduler each round, pool->lock held: reports what
   * became of the workers through parc__worker_report(). */
  void (*poll)(parc_pool *p);
  /* After every worker has been told to stop (or killed): waits for all,
   * frees the backend's resources. */
  void (*stop)(parc_pool *p, bool kill_all);
  /* Optional (NULL: PARC_ENOTSUP): a task of worker w asks the caller
   * (parc_task_ask), and waits until `deadline` for the answer. Called on
   * the worker's own thread. */
  int (*ask)(parc_pool *p, unsigned w, const void *q, size_t qlen, void *a,
             size_t acap, size_t *alen, uint64_t deadline);
} parc__backend;

/* ---- worker.c: the caller's side of parc_task_ask, for every backend:
 * opts.answer, with its answer kept within acap. */
int parc__answer(parc_pool *p, const void *q, size_t qlen, void *a, size_t acap,
                 size_t *alen);

extern const parc__backend parc__threads_backend;
extern const parc__backend parc__procs_backend;
/* Set by libparc_mpi (parc_mpi_init), so the core needs no MPI. */
extern const parc__backend *parc__mpi_backend;

/* ---- sched/failures.c: the one way a backend tells the scheduler about
 * a worker, from its poll() (pool->lock held). The scheduler alone changes
 * the worker's record and its jobs: it settles what a worker that ended
 * held (kept, retried or reported) and starts its replacement. */
void parc__worker_report(parc_pool *p, unsigned w, parc__worker_event ev);

/* ---- worker.c: the worker, and its cell (its slot and two lanes, laid
 * out together) */
void parc__worker_main(parc_pool *p, unsigned id, parc__slot *s);
/* parc__worker_main(p, id, slot) on a new thread: 0, PARC_ENOMEM or
 * PARC_ESYS. The thread backend and MPI's serving ranks start workers so. */
int parc__worker_thread(pthread_t *th, parc_pool *p, unsigned id,
                        parc__slot *slot);
size_t parc__cell_size(void);
/* Slot w's worker uses the cell at `cell` (p->workers[w].slot). */
void parc__cell_attach(parc_pool *p, unsigned w, void *cell);
/* Fresh lanes and slot for slot w's next worker: the backend calls it
 * before that worker can see them. */
void parc__cell_reset(parc_pool *p, unsigned w);
/* Sets the slot's abort and wakes its worker if blocked on either lane. */
void parc__slot_close(parc__slot *s);

#endif
