/* chan.h -- what the channels (queue.c, pipe.c) share with sync.c. */
#ifndef PARC_CHAN_H
#define PARC_CHAN_H

#include <pthread.h>
#include <stdatomic.h>

/* A robust mutex, process-shared if `shared`: 0 or PARC_ESYS. */
int parc__mutex_init(pthread_mutex_t *m, int shared);
/* Locks within `timeout` (the library's convention). Returns 0,
 * PARC_EOWNERDEAD (held; its last holder died), PARC_EBROKEN (unusable,
 * or *give_up became non-zero while waiting), PARC_EAGAIN, PARC_ETIMEDOUT.
 * give_up may be NULL. */
int parc__mutex_lock(pthread_mutex_t *m, double timeout,
                     const _Atomic int *give_up);

#endif
