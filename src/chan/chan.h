/* chan.h -- what the channels (queue.c, pipe.c) share with sync.c. */
#ifndef PARC_CHAN_H
#define PARC_CHAN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include <stdbool.h>

#include "sys/sys.h"

/* An object made without PARC_SHARED lives in its creator's heap: another
 * process has only a copy of it and would talk to itself, or wait for
 * ever. So each keeps its creator's pid, and every call from another
 * process is refused (PARC_ENOTSHARED); the pid is cached, so the check
 * is a load and a compare. */
static inline bool parc__foreign(int shared, int owner) {
  return !shared && owner != parc__pid();
}

/* A robust mutex, process-shared if `shared`: 0 or PARC_ESYS. */
int parc__mutex_init(pthread_mutex_t *m, int shared);
/* Locks within `timeout` (the library's convention). Returns 0,
 * PARC_EOWNERDEAD (held; its last holder died), PARC_EBROKEN (unusable,
 * or *give_up became non-zero while waiting), PARC_EAGAIN, PARC_ETIMEDOUT.
 * give_up may be NULL. */
int parc__mutex_lock(pthread_mutex_t *m, double timeout,
                     const _Atomic int *give_up);

/* Tests only: when set, a producer that pipelines a large message (pipe or
 * queue) calls it after each piece but the last, with the bytes of the
 * message written so far -- so a test can kill or stall a sender in the
 * middle of a message; and a queue consumer that rewinds the ring calls it
 * with 0 between its two stores. NULL in normal use. */
extern void (*parc__chan_piece_hook)(size_t written);

#endif
