/* pool_int.h -- what pool.c, sched.c, worker.c and the backends share.
 *
 * Shape of a pool (DESIGN.md "Layers"):
 *
 *   caller threads --(jobs, under pool->lock)--> the scheduler
 *   scheduler --(batch messages, one SPSC ring per worker)--> workers
 *   workers --(result messages, one SPSC ring per worker)--> scheduler
 *
 * The scheduler (sched.c) is a round run under pool->lock, by a caller
 * while it waits or else by the pool's manager thread; whoever holds the
 * lock owns the workers' records and every batch in flight. A worker
 * (worker.c) is the same loop in a thread or in a forked process; only how
 * it is started, stopped and observed differs (backend/).
 *
 * Each worker has its own pair of rings, so a worker that dies can corrupt
 * nothing but its own lanes, which are reset before its replacement starts.
 * A worker announces in its shared slot how many result units it has
 * started; together with the results already received that tells the
 * manager exactly which task a dead or overdue worker was running.
 *
 * Lock order: pool->lock, then nothing. Workers never take it.
 */
#ifndef PARC_POOL_INT_H
#define PARC_POOL_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "chan/ring.h"
#include "parc.h"
#include "sys/sys.h"

#define PARC__LANE_BYTES (256u * 1024u) /* each direction, per worker */
#define PARC__INFLIGHT 16               /* most batches queued per worker */
#define PARC__QUEUED_NS 100000.0        /* ... beyond 2, while their work is
                                           estimated under this */
#define PARC__QUEUED_REMOTE_NS 2000000.0 /* ... for a remote worker, whose
                                           round trip passes two couriers */
#define PARC__SPIN 2000                 /* pause rounds before a futex wait */
#define PARC__BYTES_BATCH 64            /* most bytes tasks in one batch */

/* ---------------------------------------------------------------- wire */

enum {
  MSG_MAP = 1, MSG_REDUCE = 2, MSG_FOR = 3, MSG_LOOP = 4, MSG_STOP = 5,
  MSG_BYTES = 6
};

/* Manager -> worker. Followed by the payload:
 *   MAP:    count inputs of in_size bytes (none if in_ptr)
 *   BYTES:  count inputs, each a uint64_t length and that many bytes;
 *           in_size is the payload's whole length
 *   REDUCE: the identity (out_size bytes), then count inputs of in_size
 *           (none if in_ptr)
 *   FOR:    in_size bytes of ctx (0: use the pointer `ctx`)
 *   LOOP:   nothing; `ctx` is the job, `first` the static cursor to take
 *           chunks from (threads only) */
typedef struct parc__msg_batch {
  uint32_t kind;
  uint32_t pad;
  uint64_t seq;      /* batch number, echoed in every result */
  uint64_t first;    /* first task index, or first iteration (FOR) */
  uint64_t count;    /* tasks, or iterations (FOR) */
  uint64_t in_size;  /* bytes per input; FOR: bytes of ctx */
  uint64_t out_size; /* bytes per output; REDUCE: result size */
  uint64_t fn;       /* parc_task_fn or parc_for_fn (valid across fork) */
  uint64_t combine;  /* REDUCE */
  uint64_t ctx;      /* FOR with in_size == 0: the ctx pointer */
  uint64_t in_ptr;   /* MAP/REDUCE: inputs are here, in parc_shm_alloc
                        memory the worker shares, not in the lane; 0: not */
} parc__msg_batch;

/* Worker -> manager, one per unit (a MAP task, a REDUCE block, a FOR
 * chunk). Followed by out_size bytes for MAP and REDUCE. */
typedef struct parc__msg_result {
  uint64_t seq;        /* the batch */
  int32_t rc;          /* 0, or the (first) failing task's return */
  uint32_t pad;        /* bit 0: rc is a library code, not the task's */
  uint64_t fail_index; /* REDUCE/FOR: index of the failing task/iteration */
  uint64_t elapsed_ns; /* time inside the user's functions */
  uint64_t out_len;    /* BYTES: the result's length, which follows */
} parc__msg_result;

/* ---------------------------------------------------------------- slots */

enum { SLOT_EMPTY = 0, SLOT_STARTING, SLOT_READY, SLOT_INIT_FAILED, SLOT_EXITED };

/* Per-worker state in memory both sides see (shared mapping for
 * processes). Written by the worker except where noted. */
typedef struct parc__slot {
  _Atomic uint32_t state;      /* SLOT_* */
  _Atomic int32_t init_rc;     /* init's return when SLOT_INIT_FAILED */
  _Atomic uint64_t started;    /* units started since (re)start */
  _Atomic uint64_t task_start; /* parc__now_ns() when the unit began */
  _Atomic uint64_t cur_index;  /* task index (or iteration) being run */
  _Atomic uint32_t abort;      /* set by the manager: lanes are dead */
  _Atomic uint64_t skip[PARC__INFLIGHT]; /* set by the manager: batches
                                  (by seq) of jobs that ended early; their
                                  units not yet begun are not run */
  parc__ring *to_worker;       /* batches (manager produces) */
  parc__ring *from_worker;     /* results (worker produces) */
} parc__slot;

/* ---------------------------------------------------------------- jobs */

/* JOB_FOR: the scheduler hands out chunks (process workers). JOB_LOOP:
 * each thread worker joins once and takes chunks itself (loop.c). */
typedef enum { JOB_MAP, JOB_REDUCE, JOB_FOR, JOB_LOOP } parc__job_kind;

/* A range of a job to dispatch again after a worker death. */
typedef struct parc__requeue {
  uint64_t first, count;
  uint32_t attempt;
} parc__requeue;

/* One call's work: a map, a map-reduce, a parallel for, or one future.
 * Shared by the caller and the manager under pool->lock; `finished` and
 * `units_done` may be read without it. Refcounted: the caller holds one
 * reference, each batch in flight holds one. */
typedef struct parc__job {
  parc__job_kind kind;
  struct parc__job *next_pending; /* pool's pending list */
  unsigned refs;
  parc_pool *pool;
  bool is_future;
  struct parc__job *next_future, *prev_future; /* pool's live futures */

  /* what to run */
  uint64_t fn;                   /* parc_task_fn / parc_for_fn */
  parc_combine_fn combine;
  const unsigned char *in;       /* caller's inputs (map), or in_copy */
  bool in_shared;                /* `in` is in shm the workers map: passed
                                    by pointer, never copied */
  size_t in_size, out_size;
  unsigned char *out;            /* caller's outputs, or out_copy */
  uint64_t n;                    /* tasks (map, reduce) */
  unsigned char *owned;          /* future: its input and output buffer */
  bool bytes;                    /* a bytes map (tasks of any length) */
  const parc_bytes *bin;         /* bytes: the inputs, n of them */
  parc_bytes *bout;              /* bytes: where results go (malloc'd) */
  parc_bytes one_in, one_out;    /* bytes future: its input and result */

  /* dispatch state (manager) */
  uint64_t next;                 /* next task / block / iteration to hand out */
  uint64_t chunk;                /* forced chunk; 0: adaptive */
  double task_ns;                /* running mean of one task's time */
  parc__requeue *requeue;
  size_t nrequeue, requeue_cap;

  /* reduce: fixed blocks, results kept for the final tree */
  uint64_t block;                /* tasks per block */
  uint64_t nblocks;
  unsigned char *partials;       /* nblocks * out_size */
  const unsigned char *identity;

  /* for */
  int64_t begin, end;
  parc_schedule schedule;
  int64_t for_chunk;
  void *ctx;                     /* for: ctx pointer */
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
  uint64_t units_total;          /* tasks, blocks or iterations */
  _Atomic uint64_t units_done;
  parc_task_status *status;      /* caller's array, or NULL */
  parc_task_status first_status; /* of the lowest failed unit */
  uint64_t err_index;            /* lowest failed index (UINT64_MAX: none) */
  int err;                       /* error of that task */
  bool aborted;                  /* ended early: timeout, cancel, destroy */
  uint64_t deadline;             /* whole call; PARC__FOREVER */
  _Atomic int finished;
} parc__job;

/* ---------------------------------------------------------------- workers */

typedef struct parc__batch {
  parc__job *job;
  uint64_t seq;
  uint64_t first, count; /* as in the message */
  uint32_t units;        /* results expected */
  uint32_t done;         /* results received */
  uint32_t attempt;      /* 0 on first dispatch */
} parc__batch;

enum { W_STARTING, W_READY, W_RETIRING, W_DEAD, W_GONE };

/* The manager's record of a worker slot. */
typedef struct parc__worker {
  unsigned id;
  int state;                        /* W_* */
  parc__slot *slot;
  pid_t pid;                        /* process backend */
  parc__batch fifo[PARC__INFLIGHT]; /* in dispatch order */
  unsigned fifo_head, fifo_len;
  uint64_t units_sent, units_received; /* since (re)start */
  uint64_t units_quota_left;        /* max_tasks_per_worker countdown */
  unsigned spawn_failures;          /* consecutive */
  uint64_t kill_started;            /* `started` of the unit we killed for */
  int kill_err;                     /* ... and its error; 0: none */
  uint64_t held_since;              /* when it was first seen holding work
                                       it had not begun; 0: not so */
  uint64_t held_started;            /* ... and its `started` then */
  struct {                          /* a batch being written, piece by piece */
    bool active;
    parc__msg_batch hdr;
    struct iovec iov[1 + 2 * PARC__BYTES_BATCH];
    uint64_t lens[PARC__BYTES_BATCH]; /* bytes: each input's length */
    int iovcnt, cur;
    size_t off;
  } tx;
  struct {                          /* a result being read, piece by piece */
    size_t hdr_got;
    parc__msg_result hdr;
    size_t payload_got;
    unsigned char *buf;             /* bytes: the result, malloc'd */
  } rx;
} parc__worker;

/* ---------------------------------------------------------------- backend */

typedef struct parc__backend {
  const char *name;
  bool shared;                       /* lanes in a shared mapping */
  bool remote;                       /* workers share no memory with the
                                        caller at all (MPI): a parallel for
                                        hands out chunks, ctx goes by value */
  /* Optional: how many workers the pool has (NULL: opts.workers, or one
   * per physical core). May keep state in p->be_state for start(), which
   * then owns it on every path. */
  int (*count)(parc_pool *p, unsigned *nworkers);
  /* Creates lanes and slots, starts every worker; returns when each has
   * run init (or failed). */
  int (*start)(parc_pool *p);
  /* Starts a replacement in slot w (asynchronously). */
  int (*spawn)(parc_pool *p, unsigned w);
  /* Stops slot w's worker now: kills a process, abandons a thread. */
  void (*kill)(parc_pool *p, unsigned w);
  /* Called by the manager each round: reports exits and deaths through
   * parc__worker_exited(). */
  void (*poll)(parc_pool *p);
  /* After every worker has been told to stop (or killed): waits for all,
   * frees the backend's resources. */
  void (*stop)(parc_pool *p, bool kill_all);
} parc__backend;

extern const parc__backend parc__threads_backend;
extern const parc__backend parc__procs_backend;
/* Set by libparc_mpi (parc_mpi_init), so the core needs no MPI. */
extern const parc__backend *parc__mpi_backend;

/* ---------------------------------------------------------------- pool */

struct parc_pool {
  parc_pool_opts opts;
  const parc__backend *be;
  void *be_state;
  unsigned nworkers;
  parc__worker *workers;     /* nworkers, indexed by slot */
  parc__event *doorbell;     /* rung by workers, callers, finished jobs
                                (shared for processes) */
  parc__event manager_bell;  /* the manager sleeps here while callers drive */
  unsigned drivers;          /* callers driving the scheduler as they wait */
  parc__spin wait_spin;      /* how long they spin before they sleep */
  _Atomic uint32_t wakes;    /* parc_pool_wake calls: waits end */
  unsigned warm;             /* the worker that last sent a result */
  void *area;                /* the lanes and slots (shared or private) */
  size_t area_size;

  pthread_mutex_t lock;
  parc__job *pending_head, *pending_tail;
  size_t npending;           /* jobs on the pending list ... */
  size_t nfinished;          /* ... of which finished, to be pruned */
  unsigned timed_jobs;       /* pending jobs with a deadline */
  parc__job *futures;        /* futures not yet freed by their owners */
  uint64_t next_seq;
  bool starting, stopping, broken;
  uint64_t shm_gen;          /* parc_shm_alloc regions its workers map */
  pthread_t manager;
};

/* pool.c */
parc__job *parc__job_new(parc_pool *p, parc__job_kind kind);
void parc__job_unref(parc__job *j);           /* pool->lock held */
void parc__job_finish(parc__job *j);          /* pool->lock held */
/* Records a unit's outcome: status[index] for maps, and the lowest error.
 * Indices are task indices, or iteration offsets from begin for a for. */
void parc__job_note(parc__job *j, uint64_t index, parc_task_status st);
/* Counts units done; the job finishes when all are. */
void parc__job_count(parc__job *j, uint64_t units);

/* sched.c: the scheduler. One round: take backend events, read results,
 * police timeouts, hand out work. Run by the manager thread, or by a
 * caller while it waits (then the manager steps aside). Lock held.
 * *wake: when the next timeout may need a round. */
bool parc__round(parc_pool *p, uint64_t *wake);
/* True while the pool has work in flight or queued. Lock held. */
bool parc__busy(const parc_pool *p);
/* Ends j now with `err` for every unit not yet done. Lock held. */
void parc__job_abort(parc__job *j, int err);
/* True if j still has units waiting to be handed out. Lock held. */
bool parc__job_queued(parc_pool *p, parc__job *j);
void *parc__manager_main(void *arg);
/* Backends report, with pool->lock held: worker w has exited or died
 * (wait status as from waitpid; threads pass 0). */
void parc__worker_exited(parc_pool *p, unsigned w, int wstatus);
/* Settles a worker that is being abandoned or killed right now (threads):
 * its finished results are kept, the rest is requeued or reported. */
void parc__worker_settle(parc_pool *p, unsigned w, int wstatus);
/* Waits until every worker has run init; PARC_EINIT if one failed. */
int parc__wait_ready(parc_pool *p);
/* Kills (processes) or abandons (threads) the worker running a unit of a
 * job that is finished early, or was canceled. Lock held. */
void parc__kill_for(parc_pool *p, unsigned w, int err, bool blame);

/* loop.c: iteration arithmetic (offsets from begin) and chunk taking */
bool parc__static_bounds(uint64_t total, int64_t chunk, unsigned workers,
                         uint64_t k, uint64_t *first, uint64_t *count);
uint64_t parc__chunk_size(parc_schedule s, int64_t chunk, unsigned workers,
                          uint64_t left);
bool parc__loop_take(parc__job *j, unsigned workers, unsigned w,
                     uint64_t *off, uint64_t *count);
bool parc__loop_exhausted(const parc__job *j, unsigned workers);
/* A chunk's body failed: keep the lowest (offset, rc). Workers call it. */
void parc__loop_fail(parc__job *j, uint64_t off, int rc);
bool parc__loop_failed(parc__job *j, uint64_t *off, int *rc);

/* worker.c */
void parc__worker_main(parc_pool *p, unsigned id, parc__slot *s);
/* parc__worker_main(p, id, slot) on a new thread: 0, PARC_ENOMEM or
 * PARC_ESYS. The thread backend and MPI's serving ranks start workers so. */
int parc__worker_thread(pthread_t *th, parc_pool *p, unsigned id,
                        parc__slot *slot);
/* A cell is one worker's slot and its two lanes, laid out together. */
size_t parc__cell_size(void);
void parc__cell_attach(parc_pool *p, unsigned w, void *cell);
void parc__slot_reset(parc_pool *p, unsigned w); /* before a (re)start */
/* Sets the slot's abort and wakes its worker if blocked on either lane. */
void parc__slot_close(parc__slot *s);

#endif
