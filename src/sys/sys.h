/* sys.h -- the platform layer: clocks, futex-backed events, shared memory,
 * topology. Everything that names a Linux system call lives in src/sys/. */
#ifndef PARC_SYS_H
#define PARC_SYS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parc.h"
#include "sys/fault.h"

/* ---- error.c: the reason behind a PARC_ESYS (parc_last_sys_error).
 * Records for this thread that `call` failed with errno value `code` (a
 * pthread call: its return value), sets errno to it; returns PARC_ESYS. */
int parc__sys_fail(const char *call, int code);
/* The same for an MPI call: its error code and MPI's sentence for it. */
int parc__mpi_fail(const char *call, int code, const char *text);

/* ---- os.c: thread and process calls of the create paths, behind the
 * switch; 0 or PARC_ESYS with the reason noted. A condition variable waits
 * on CLOCK_MONOTONIC; `shared`: process-shared. parc__fork flushes stdio
 * first and returns as fork() (the reason noted on -1). */
#include <pthread.h>
#include <sys/types.h>
int parc__thread_create(pthread_t *th, void *(*fn)(void *), void *arg);
int parc__mutex_init_plain(pthread_mutex_t *m);
int parc__cond_init(pthread_cond_t *c, int shared);
pid_t parc__fork(void);

/* ---- clock.c */
uint64_t parc__now_ns(void);                 /* CLOCK_MONOTONIC */
/* Deadline for a timeout in seconds: < 0 forever (UINT64_MAX), else now+t. */
uint64_t parc__deadline(double seconds);
#define PARC__FOREVER UINT64_MAX

/* ---- event.c
 * An event is a sequence number that waiters sleep on. The pattern:
 *   seen = parc__event_seq(e); if (!condition) parc__event_wait(e, seen, ...)
 * and on the other side: make condition true; parc__event_signal(e).
 * A signal with no sleeper costs one atomic add and one load, no system
 * call. `shared` selects a process-shared futex (the event lives in memory
 * mapped by several processes). */
typedef struct parc__event {
  _Atomic uint32_t seq;
  _Atomic uint32_t sleepers;
} parc__event;

void parc__event_init(parc__event *e);
static inline uint32_t parc__event_seq(parc__event *e) {
  return atomic_load_explicit(&e->seq, memory_order_acquire);
}
void parc__event_signal(parc__event *e, int shared);
/* Sleeps while seq == seen, until `deadline` (parc__now_ns() clock). Spins
 * `spin` rounds first. Returns 0 when seq moved (or spuriously), or
 * PARC_ETIMEDOUT once the deadline has passed. */
int parc__event_wait(parc__event *e, uint32_t seen, uint64_t deadline,
                     unsigned spin, int shared);
/* Spins at most `spin` rounds for seq to leave `seen`; true if it did. */
bool parc__event_spin(parc__event *e, uint32_t seen, unsigned spin);

/* An adaptive spin, for every wait that spins before it sleeps (a pool's
 * waiting caller, a queue's or a pipe's side, a worker's lane). Spinning
 * ends a wait in a microsecond when what it waits for is about to happen;
 * otherwise it only takes a CPU that the other side may need -- on a busy
 * machine, one whose other side is not running. So the spin doubles after
 * a wait it ended within PARC__SPIN_PAYS_NS (a few sleeps and wake-ups;
 * far less than a time slice, after which a descheduled peer would have
 * run anyway) and halves after any other, down to 0; at 0, one wait in
 * PARC__SPIN_RETRY spins a quarter of the most again, long enough to meet
 * a peer that has to be woken. Lives in shared memory too.
 *   parc__spin_try t = parc__spin_begin(s);
 *   for (i = 0; i < t.rounds && !(hit = ready()); i++) parc__cpu_relax();
 *   parc__spin_end(s, t, hit);                                            */
typedef struct parc__spin {
  _Atomic uint32_t rounds; /* how long the next wait spins */
  _Atomic uint32_t waits;  /* waits made at 0, for the retry */
} parc__spin;
typedef struct parc__spin_try {
  unsigned rounds; /* to spin now */
  uint64_t t0;     /* when the spin began (if rounds) */
} parc__spin_try;
#define PARC__SPIN_MAX 2000u
#define PARC__SPIN_MIN 32u
#define PARC__SPIN_RETRY 64u
#define PARC__SPIN_PAYS_NS 30000u
void parc__spin_init(parc__spin *s);
parc__spin_try parc__spin_begin(parc__spin *s);
void parc__spin_end(parc__spin *s, parc__spin_try t, bool hit);
static inline void parc__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* ---- shm.c: anonymous shared mappings backed by a memfd (nothing in
 * /dev/shm, released when the last process unmaps it). */
void *parc__shm_map(size_t size);      /* NULL on failure, reason noted */
void parc__shm_unmap(void *p, size_t size);

/* Does [p, p + n) lie in one parc_shm_alloc region made at or before
 * generation `gen` (parc__shm_generation() when a pool forked)? */
uint64_t parc__shm_generation(void);
bool parc__shm_holds(const void *p, size_t n, uint64_t gen);
/* Does p lie in a region made after generation `gen`, memory a pool
 * forked then does not map? One load while no region is that new. */
bool parc__shm_newer(const void *p, uint64_t gen);

/* Memory for a channel or lock: zeroed, 64-byte aligned; from a shared
 * mapping when `shared` (visible to processes forked later), else from the
 * heap. parc__obj_free takes the same `shared`. */
void *parc__obj_alloc(size_t size, int shared);
void parc__obj_free(void *p, int shared);
/* What a failed parc__obj_alloc means: PARC_ESYS for a shared mapping (its
 * reason noted), PARC_ENOMEM for the heap. */
static inline int parc__obj_alloc_error(int shared) {
  return shared ? PARC_ESYS : PARC_ENOMEM;
}

/* An absolute CLOCK_MONOTONIC time for a timeout in seconds (> 0). */
struct timespec;
void parc__abs_time(double seconds, struct timespec *ts);

/* ---- pid.c: this process's pid without a system call (glibc no longer caches it);
 * correct in a child after fork. */
int parc__pid(void);

/* ---- topo.c */
unsigned parc__physical_cores(void);

#endif
