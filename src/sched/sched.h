/* sched.h -- the one scheduler of a pool, and its record of each worker.
 *
 *   caller threads --(jobs, under pool->lock)--> the scheduler
 *   scheduler --(batch messages, one SPSC lane per worker)--> workers
 *   workers --(result messages, one SPSC lane per worker)--> scheduler
 *
 * A round (parc__round) hands batches of units to workers, reads their
 * results, notices workers that died or overran task_timeout, and finishes
 * jobs, all under pool->lock. A caller that waits runs rounds itself and
 * sleeps on the doorbell, which every worker result, every free byte in a
 * worker's inbound lane, every backend event and every finished job rings;
 * the pool's manager thread runs them when no caller does. Whoever holds
 * the lock owns the workers' records and every batch in flight.
 *
 *   dispatch.c  which job and how much of it each worker gets
 *   lanes.c     batches written to and results read from the lanes, piece
 *               by piece (the scheduler never blocks on a lane)
 *   failures.c  workers that die, overrun or hold work: settled, replaced
 *   manager.c   the round, the manager thread, waiting for the start
 *
 * Units: a map task, a map-reduce block, or a parallel-for chunk (what a
 * unit is, the job's kind says: jobs/job.h). Each gives exactly one result
 * message. A worker holds at most PARC__INFLIGHT batches.
 *
 * Each worker has its own pair of lanes, so a worker that dies can corrupt
 * nothing but its own, which are reset before its replacement starts. A
 * worker announces in its slot how many units it has started; together
 * with the results already received that tells exactly which unit a dead
 * or overdue worker was running.
 *
 * Lock order: pool->lock, then nothing. Workers never take it.
 */
#ifndef PARC_SCHED_H
#define PARC_SCHED_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "jobs/job.h"
#include "policy.h"
#include "wire.h"

struct parc__batch {
  parc__job *job;
  uint64_t seq;
  uint64_t first, count; /* as in the message */
  uint32_t units;        /* results expected */
  uint32_t done;         /* results received */
  uint32_t attempt;      /* 0 on first dispatch */
};

enum { W_STARTING, W_READY, W_RETIRING, W_DEAD, W_GONE };

/* The scheduler's record of a worker slot; only the scheduler writes it
 * (a backend sets `slot`, through parc__cell_attach). */
struct parc__worker {
  unsigned id;
  int state; /* W_* */
  parc__slot *slot;
  pid_t pid;                        /* process backend */
  parc__batch fifo[PARC__INFLIGHT]; /* in dispatch order */
  unsigned fifo_head, fifo_len;
  uint64_t units_sent, units_received; /* since (re)start */
  uint64_t units_quota_left;           /* max_tasks_per_worker countdown */
  unsigned spawn_failures;             /* consecutive */
  uint64_t kill_started;               /* `started` of the unit we killed for */
  int kill_err;                        /* ... and its error; 0: none */
  uint64_t held_since;                 /* when it was first seen holding work
                                       it had not begun; 0: not so */
  uint64_t held_started;               /* ... and its `started` then */
  struct { /* a batch being written, piece by piece */
    bool active;
    parc__msg_batch hdr;
    struct iovec iov[1 + 2 * PARC__BYTES_BATCH];
    uint64_t lens[PARC__BYTES_BATCH]; /* bytes: each input's length */
    int iovcnt, cur;
    size_t off;
  } tx;
  struct { /* a result being read, piece by piece */
    size_t hdr_got;
    parc__msg_result hdr;
    size_t payload_got;
    unsigned char *buf; /* bytes: the result, malloc'd */
  } rx;
};

/* ---- what the pool calls (lock held unless said) */

/* One round: take backend events, read results, police timeouts, hand
 * out work. *wake: when the next timeout may need a round. */
bool parc__round(parc_pool *p, uint64_t *wake);
/* True while the pool has work in flight or queued. */
bool parc__busy(const parc_pool *p);
void *parc__manager_main(void *arg);
/* Waits until every worker has run init; PARC_EINIT if one failed. Lock
 * not held. */
int parc__wait_ready(parc_pool *p);
/* Kills (processes) or abandons (threads) the worker running a unit of a
 * job that is finished early, or was canceled. */
void parc__kill_for(parc_pool *p, unsigned w, int err, bool blame);
/* The scheduler's record of slot w, fresh for its next worker. */
void parc__worker_reset(parc_pool *p, unsigned w);

/* ---- between the scheduler's files, and the job kinds */

/* Where the i-th batch in w's fifo is kept. */
static inline unsigned parc__fifo_pos(const parc__worker *w, unsigned i) {
  return (w->fifo_head + i) % PARC__INFLIGHT;
}
static inline parc__batch *parc__fifo_at(parc__worker *w, unsigned i) {
  return &w->fifo[parc__fifo_pos(w, i)];
}
static inline bool parc__worker_idle(const parc__worker *w) {
  return w->fifo_len == 0 && !w->tx.active;
}

/* dispatch.c */
bool parc__dispatch(parc_pool *p, parc__worker *w);
void parc__prune_pending(parc_pool *p);
/* lanes.c */
/* A batch's inputs: a pointer when they lie in shared memory the worker
 * maps (no copy), else their bytes, after the header. */
void parc__tx_add_inputs(parc__worker *w, const parc__job *j,
                         const parc__batch *b);
/* A result's error: 0, PARC_ETASK, or the library's code. */
int parc__result_error(const parc__msg_result *r);
void parc__tx_prepare(parc__worker *w, const parc__batch *b);
bool parc__tx_pump(parc__worker *w);
void parc__send_stop(parc__worker *w);
bool parc__collect(parc_pool *p, parc__worker *w);
/* failures.c */
uint64_t parc__police(parc_pool *p, uint64_t now);
uint64_t parc__expire_jobs(parc_pool *p, uint64_t now);
void parc__fail_if_broken(parc_pool *p);

#endif
