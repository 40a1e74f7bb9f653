/* wire.h -- what the scheduler and a worker exchange: the messages on a
 * worker's two lanes, and its slot.
 *
 * The same bytes cross a thread's private lanes, a process's shared ones,
 * and (carried by the couriers) an MPI link, so nothing here is a pointer
 * that the other side could not use: functions travel as numbers valid
 * after fork (or, over MPI, re-resolved: backend/mpi_wire.c), inputs by
 * value unless they lie in shared memory the worker maps.
 *
 *   scheduler --(a batch: parc__msg_batch, then its payload)--> worker
 *   worker --(one parc__msg_result per unit, then its output)--> scheduler
 *
 * The slot is the worker's announcements, in memory both sides see: its
 * start, and which unit it is running (so the scheduler can tell exactly
 * which task a dead or overdue worker held).
 */
#ifndef PARC_WIRE_H
#define PARC_WIRE_H

#include <stdatomic.h>
#include <stdint.h>

#include "chan/ring.h"
#include "policy.h"

/* ---------------------------------------------------------------- batches */

enum {
  MSG_MAP = 1,
  MSG_REDUCE = 2,
  MSG_FOR = 3,
  MSG_LOOP = 4,
  MSG_STOP = 5,
  MSG_BYTES = 6
};

/* Scheduler -> worker. Followed by the payload:
 *   MAP:    count inputs of in_size bytes (none if in_ptr)
 *   BYTES:  count inputs, each a uint64_t length and that many bytes;
 *           in_size is the payload's whole length
 *   REDUCE: the identity (out_size bytes), then count inputs of in_size
 *           (none if in_ptr)
 *   FOR:    in_size bytes of ctx (0: use the pointer `ctx`)
 *   LOOP:   nothing; `ctx` is the job, `first` the static cursor to take
 *           chunks from (threads only)
 *   STOP:   nothing; the worker leaves */
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

/* ---------------------------------------------------------------- results */

/* parc__msg_result.flags */
/* rc is a library code (PARC_E*: the unit was canceled, or the worker had
 * no memory), not the task's return */
#define PARC__RESULT_LIBRARY_RC 1u

/* Worker -> scheduler, one per unit (a MAP task, a REDUCE block, a FOR
 * chunk). Followed by out_size bytes for MAP and REDUCE, out_len for
 * BYTES. */
typedef struct parc__msg_result {
  uint64_t seq;        /* the batch */
  int32_t rc;          /* 0, or the (first) failing task's return */
  uint32_t flags;      /* PARC__RESULT_* */
  uint64_t fail_index; /* REDUCE/FOR: index of the failing task/iteration */
  uint64_t elapsed_ns; /* time inside the user's functions */
  uint64_t out_len;    /* BYTES: the result's length, which follows */
} parc__msg_result;

/* ---------------------------------------------------------------- slots */

enum {
  SLOT_EMPTY = 0,
  SLOT_STARTING,
  SLOT_READY,
  SLOT_INIT_FAILED,
  SLOT_EXITED
};

/* Per-worker state in memory both sides see (a shared mapping for
 * processes). Written by the worker except where noted; a backend whose
 * workers are remote writes what the worker announced (state, init_rc). */
typedef struct parc__slot {
  _Atomic uint32_t state;      /* SLOT_* */
  _Atomic int32_t init_rc;     /* init's return when SLOT_INIT_FAILED */
  _Atomic uint64_t started;    /* units started since (re)start */
  _Atomic uint64_t task_start; /* parc__now_ns() when the unit began */
  _Atomic uint64_t cur_index;  /* task index (or iteration) being run */
  _Atomic uint32_t abort;      /* set by the scheduler: lanes are dead */
  _Atomic uint64_t skip[PARC__INFLIGHT]; /* set by the scheduler: batches
                                  (by seq) of jobs that ended early; their
                                  units not yet begun are not run */
  parc__ring *to_worker;                 /* batches (the scheduler produces) */
  parc__ring *from_worker;               /* results (the worker produces) */
} parc__slot;

#endif
