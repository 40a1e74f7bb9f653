/* mpi_int.h -- what the two halves of the MPI backend share.
 *
 * mpi.c: rank 0, the caller's side: the backend vtable, and a courier
 * thread that moves each worker's lanes to and from MPI messages.
 * mpi_serve.c: ranks 1..N-1: worker threads on lanes of their own, and the
 * rank's main thread as the courier at the other end.
 * mpi_wire.c: messages, sends in flight, functions as (object, offset).
 *
 * The scheduler (sched/) sees one worker per remote worker thread, with
 * its lanes in rank 0's memory, exactly as for the thread backend; the two
 * couriers carry the lane bytes across. Batches are parsed on the way (to
 * turn function pointers into (object, offset) and back); results are
 * forwarded as raw bytes, since the stream is the same at both ends.
 *
 * Every message starts with an mpi_head. `epoch` is the life of the worker
 * it concerns: a worker abandoned or restarted gets a new one, and
 * messages of an older life are dropped.
 */
#ifndef PARC_MPI_INT_H
#define PARC_MPI_INT_H

#include <mpi.h>

#include "pool.h"

enum { TAG_BATCH = 1, TAG_RESULT, TAG_STATE, TAG_CTRL, TAG_ASK, TAG_ANSWER };
enum { CTRL_SPAWN = 1, CTRL_ABANDON, CTRL_BYE, CTRL_FIN };

typedef struct mpi_head {
  uint32_t local;  /* the worker's index on its rank */
  uint32_t epoch;  /* the worker's life */
  uint32_t a, b;   /* STATE: slot state, init rc; CTRL: kind, kill_all;
                          BATCH: bytes of the fn and combine object names;
                          ASK: the answer's room (rank 0 puts the asking
                          rank in b); ANSWER: the answer function's rc */
  uint64_t fn_off; /* BATCH: offsets in those objects; ASK, ANSWER: the
                          question's id on the asking rank */
  uint64_t combine_off;
} mpi_head;
/* BATCH: head, parc__msg_batch (fn, combine, ctx zero), the two names,
 * the payload as in the lane. RESULT: head, lane bytes. ASK: head, the
 * question. ANSWER: head, the answer. */

/* Bytes waiting for room in a lane. */
typedef struct mpi_chunk {
  struct mpi_chunk *next;
  size_t len, off;
  unsigned char data[];
} mpi_chunk;

/* Chunks waiting for a lane, oldest first. */
typedef struct mpi_fifo {
  mpi_chunk *head, *tail;
} mpi_fifo;

typedef struct mpi_out {
  MPI_Request req;
  int dest;
  void *buf;
  struct mpi_out *next;
} mpi_out;

/* A function as it travels: the object that holds it ("" for the main
 * program) and its offset from that object's load address. */
typedef struct mpi_fnref {
  const char *name;
  uint64_t off;
} mpi_fnref;

/* A task's question (parc_task_ask) on a serving rank, on the asking
 * thread's stack while it waits: the courier sends it, and settles it
 * with the answer (or an error) under ask_lock, signalling `done` before
 * it lets go of the lock, so the asker cannot have returned meanwhile. */
typedef struct mpi_ask {
  struct mpi_ask *next;
  uint64_t id; /* unique on this rank: the answer names it */
  uint32_t local;
  const void *q;
  size_t qlen;
  void *a;
  size_t acap, alen;
  int rc;
  bool sent, settled;
  parc__event done;
} mpi_ask;

typedef struct mpi_courier {
  MPI_Comm comm;
  int rank, size;
  parc__event bell;    /* lanes, states and requests ring it */
  mpi_out *out;        /* sends in flight */
  bool *rank_lost;     /* an MPI call about that rank failed */
  unsigned idle;       /* rounds without progress, for nap() */
  uint64_t last_moved; /* when there was progress */
  struct {
    uint64_t fn;
    mpi_fnref ref;
  } enc; /* last encoded */
  struct {
    char name[256];
    uintptr_t base;
  } dec;                    /* last decoded object */
  pthread_mutex_t ask_lock; /* serving ranks: the asks, their ids */
  mpi_ask *asks;            /* waiting to be sent, or for their answer */
  uint64_t ask_ids;
  bool asks_closed; /* BYE came: no more questions */
} mpi_courier;

/* mpi_wire.c */
/* Sends len bytes of buf (malloc'd; freed once sent). False if the send
 * could not be started (the rank is marked lost and buf freed). */
bool parc__mpi_post(mpi_courier *c, int dest, int tag, void *buf, size_t len);
/* Frees the sends that completed; true if any did. */
bool parc__mpi_sends(mpi_courier *c);
/* Waits for every send still in flight (at the end). */
void parc__mpi_drain(mpi_courier *c);
/* The next message, if one has arrived from `source` (or MPI_ANY_SOURCE),
 * in a malloc'd chunk (len: its size), with its tag and source. NULL if
 * none. */
mpi_chunk *parc__mpi_take(mpi_courier *c, int source, int *tag, int *from);
/* Spin a little, then sleep on the bell a growing while (MPI has nothing
 * to wait on; its own blocking calls spin). */
void parc__mpi_nap(mpi_courier *c, uint32_t seen, bool moved);
/* fn_decode returns 0 for a function not found (or PARC__MPI_NO_FN, sent
 * for one that fn_encode could not place). */
#define PARC__MPI_NO_FN UINT64_MAX
int parc__mpi_fn_encode(mpi_courier *c, uint64_t fn, mpi_fnref *ref);
uint64_t parc__mpi_fn_decode(mpi_courier *c, const char *name, size_t len,
                             uint64_t off);
void parc__mpi_fifo_push(mpi_fifo *f, mpi_chunk *k);
/* Into r as far as its room allows; true if a byte moved. Whoever reads r
 * rings its room bell, so the rest goes on a later round. */
bool parc__mpi_fifo_flush(mpi_fifo *f, parc__ring *r);
void parc__mpi_fifo_free(mpi_fifo *f);
/* Payload bytes that follow a batch header in the lane. */
size_t parc__mpi_payload(const parc__msg_batch *m);

/* mpi_serve.c: ranks > 0; returns PARC_ESERVED when rank 0 is done. */
int parc__mpi_serve(parc_pool *p, mpi_courier *c, unsigned base);
/* On a serving rank, from a task of its worker `local`: the question to
 * rank 0, and its answer (the backend's ask). */
int parc__mpi_ask(mpi_courier *c, unsigned local, const void *q, size_t qlen,
                  void *a, size_t acap, size_t *alen, uint64_t deadline);

#endif
