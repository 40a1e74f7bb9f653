/* sys.h -- the platform layer: clocks, futex-backed events, shared memory,
 * descriptors, processes, topology. Everything that names a Linux system
 * call lives in src/sys/; the rest of the library calls these primitives
 * (and POSIX threads, and the C library), never the kernel.
 *
 * Each primitive says, in the manner of mimalloc's prim.h, what it needs
 * (pre:) and what it returns. A primitive on a create path asks the
 * failure-injection switch first (fault.h). "errno" means: -1 is returned
 * and errno says why; "noted" means: the reason is also recorded for
 * parc_last_sys_error (parc__sys_fail). */
#ifndef PARC_SYS_H
#define PARC_SYS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "parc.h"
#include "policy.h"
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
#include <signal.h>
#include <sys/types.h>
int parc__thread_create(pthread_t *th, void *(*fn)(void *), void *arg);
int parc__mutex_init_plain(pthread_mutex_t *m);
int parc__cond_init(pthread_cond_t *c, int shared);
pid_t parc__fork(void);
/* Joins thread th if it has returned, without waiting.
 * pre: th is joinable and joined by no one else.
 * returns: true if it had returned (it is joined now), else false. */
bool parc__thread_tryjoin(pthread_t th);
/* Gives this thread's CPU to another runnable thread, if there is one. */
void parc__yield(void);

/* ---- fd.c: descriptors */
/* Closes fd. pre: fd < 0 (nothing is done) or a descriptor this process
 * owns. The descriptor is gone afterwards, whatever close says. */
void parc__close(int fd);
/* A connected pair of message sockets (AF_UNIX, SOCK_SEQPACKET: each
 * send is one message, a closed peer reads as EOF), close-on-exec.
 * returns: 0 with sv filled, or -1 with errno (the switch: EMFILE). */
int parc__socket_pair(int sv[2]);
/* Sends one message; a peer that has gone is an error (EPIPE), never a
 * SIGPIPE; a signal arriving meanwhile is retried.
 * returns: the bytes sent, or -1 with errno. */
ssize_t parc__send_msg(int fd, const void *msg, size_t len);
/* Receives one message into buf (cap bytes); `wait`: block until one
 * comes, else return at once (EAGAIN when none is there).
 * returns: its length, 0 at EOF (the peer closed), or -1 with errno
 * (EINTR: a signal came first; call again). */
ssize_t parc__recv_msg(int fd, void *buf, size_t cap, bool wait);
/* The peer reads EOF from here on; this side may still receive. */
void parc__shutdown_write(int fd);
/* An event counter as a descriptor (eventfd), non-blocking and
 * close-on-exec: readable while non-zero, so a poll can wait on it.
 * returns: the descriptor, or -1 with errno (the switch: EMFILE). */
int parc__eventfd(void);
/* Makes the counter non-zero (a full counter already is: not an error).
 * pre: fd from parc__eventfd. */
void parc__eventfd_post(int fd);
/* Sets the counter back to zero. pre: fd from parc__eventfd. */
void parc__eventfd_drain(int fd);
/* Waits until one of the n descriptors is ready as its events ask, or
 * until `deadline` (parc__now_ns() clock; PARC__FOREVER: none; a past
 * one: only looks). A negative fd in the set is skipped.
 * returns: how many are ready (their revents set), 0 at the deadline,
 * or -1 with errno (EINTR: a signal came; call again). */
struct pollfd;
int parc__poll(struct pollfd *fds, unsigned n, uint64_t deadline);

/* ---- process.c: processes */
/* A descriptor that becomes readable when process pid has exited (a
 * pidfd), close-on-exec. It names that process only, never a later one
 * that gets the same pid. pre: pid > 0.
 * returns: the descriptor, or -1 with errno (ESRCH: no such process, it
 * is gone; ENOSYS: a kernel before 5.3). */
int parc__pidfd_open(pid_t pid);
/* Reaps child pid (-1: any child) once it has ended; `block`: wait for
 * that, else return at once. A signal arriving meanwhile is retried.
 * returns: the child's pid, with *status (may be NULL) its wait status;
 * 0 if none has ended (not blocking); or -1 with errno (ECHILD: no such
 * child, or it was reaped already). */
pid_t parc__wait_child(pid_t pid, int *status, bool block);
/* Sends signal sig to process pid. pre: pid > 0 is a process of ours not
 * yet reaped (else the pid may be another's).
 * returns: 0, or -1 with errno. */
int parc__kill(pid_t pid, int sig);
/* Ends this process now with exit code `code`: no atexit handlers, no
 * stdio flush (a forked child flushes what it printed itself first). */
_Noreturn void parc__exit_now(int code);
/* In a forked child: the kernel kills it (SIGKILL) when the thread that
 * forked it ends. returns: false if `parent` has ended already (too late
 * to be told), else true. */
bool parc__die_with_parent(pid_t parent);
/* Names this process (ps, top; the first 15 bytes count). */
void parc__set_process_name(const char *name);
/* Children's deaths as a descriptor. SIGCHLD gets its default action (an
 * ignored SIGCHLD lets the kernel reap children before we can learn how
 * they died) and is blocked in this thread; *old gets the signal mask
 * before, for children to restore (parc__signal_mask_set).
 * pre: a single-threaded process (a zygote): the mask is the thread's.
 * returns: a non-blocking, close-on-exec descriptor that is readable when
 * a child has ended, or -1 with errno. */
int parc__child_events(sigset_t *old);
/* Empties a parc__child_events descriptor (the deaths are then reaped
 * with parc__wait_child). */
void parc__child_events_drain(int fd);
/* Sets this thread's signal mask. */
void parc__signal_mask_set(const sigset_t *mask);

/* ---- clock.c */
uint64_t parc__now_ns(void); /* CLOCK_MONOTONIC */
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
 * a peer that has to be woken (the numbers: policy.h). Lives in shared
 * memory too.
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
void *parc__shm_map(size_t size); /* NULL on failure, reason noted */
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
/* An absolute CLOCK_REALTIME time `seconds` from now, for the calls that
 * take only that clock (pthread_mutex_timedlock).
 * pre: 0 <= seconds < 1e9. */
void parc__realtime_in(double seconds, struct timespec *ts);

/* ---- pid.c: this process's pid without a system call (glibc no longer caches it);
 * correct in a child after fork. */
int parc__pid(void);

/* ---- topo.c */
unsigned parc__physical_cores(void);

#endif
