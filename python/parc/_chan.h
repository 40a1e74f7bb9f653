/* _chan.h -- what the files of parc's processes-and-channels part share
 * (_chan.c and _chan_*.c; see _chan.c for the design).
 *
 * Every channel object of the package (queue, pipe end, lock, semaphore,
 * shared block) is a small Python wrapper over an *entry*: this process's
 * record of one libparc object made with PARC_SHARED. Entries live in a
 * process-wide registry keyed by a random 128-bit token. A process forked
 * after an object was made inherits its entry (the registry is ordinary
 * memory, copied by fork) together with the mapping it describes, so a
 * pickled wrapper -- which carries only the token -- rebuilds in exactly
 * the processes where the object is usable, and is refused elsewhere.
 *
 * All of this runs with the GIL held, except the waits of parc_py_ch_block
 * and the bodies the files run between Py_BEGIN/END_ALLOW_THREADS.
 */
#ifndef PARC_PY_CHAN_H
#define PARC_PY_CHAN_H

#include "_core.h"

#include <stdatomic.h>
#include <stdint.h>

enum {
  PARC_PY_CH_SHM = 1, /* a parc_shm_alloc block (futex words, counters) */
  PARC_PY_CH_LOCK,
  PARC_PY_CH_SEM,
  PARC_PY_CH_QUEUE,
  PARC_PY_CH_PIPE,
  PARC_PY_CH_KINDS
};

typedef struct parc_py_ch_entry parc_py_ch_entry;
struct parc_py_ch_entry {
  unsigned char token[16];
  int kind;
  long refs;    /* wrappers of it in this process */
  int creator;  /* the pid that made it */
  void *h[5];   /* the kind's handles */
  int64_t n[6]; /* the kind's numbers (sizes, owner, counts) */
  /* Lets go of this process's use of the handles (never invalidates them
   * for other processes); called when refs drops to 0. */
  void (*release)(parc_py_ch_entry *e);
};

/* The common head of every wrapper type. */
typedef struct {
  PyObject_HEAD parc_py_ch_entry *e;
} parc_py_ch_obj;

/* A new entry (refs 1, a fresh token) in the registry, or NULL with
 * MemoryError set. */
parc_py_ch_entry *parc_py_ch_entry_new(int kind);
void parc_py_ch_entry_decref(parc_py_ch_entry *e);

/* Each kind's wrapper type says how to make a wrapper of an entry (the
 * entry's reference is the caller's, given to the wrapper). */
typedef PyObject *(*parc_py_ch_wrap_fn)(parc_py_ch_entry *e);
void parc_py_ch_register_kind(int kind, parc_py_ch_wrap_fn wrap,
                              const char *what);

/* __reduce__ for any wrapper: (parc._core._rebuild, (kind, token)). */
PyObject *parc_py_ch_reduce(PyObject *self, PyObject *unused);

/* This process's pid (cached; right in a forked child). */
int parc_py_ch_pid(void);

/* Seconds as libparc takes them from Python's (block, timeout) pair:
 * block false -> 0; timeout None -> -1 (forever); a negative timeout -> 0
 * (as multiprocessing). 0, or -1 with TypeError/ValueError set. */
int parc_py_ch_timeout(PyObject *block, PyObject *timeout, double *out);
/* The same for a lone timeout argument (None: forever). */
int parc_py_ch_timeout1(PyObject *timeout, double *out);

/* A wait that may block: op(ctx, t) is tried once without waiting (the
 * GIL held), then, if it said PARC_EAGAIN or PARC_ETIMEDOUT and the
 * timeout allows, with the GIL released: first without waiting -- a spin
 * of up to PARC_PY_CH_SPIN_NS, then between sched_yield()s -- for up to
 * PARC_PY_CH_YIELD seconds in all, then waiting in slices of a fraction
 * of a second, checking for signals between slices (so Ctrl-C interrupts
 * any wait). Returns op's last code; PARC_ETIMEDOUT when the timeout ran
 * out (PARC_EAGAIN when it was 0); or PARC_PY_CH_EINTR with the signal
 * handler's exception set.
 *
 * Why the yields: libparc's waits spin before they sleep, as long as
 * spinning pays (parc.h: a spin that its wait ended doubles the next,
 * one that had to sleep halves it). But a spin that ends counts as paying
 * however long it took, and while it lasts it holds the core the peer may
 * need to answer: on a machine whose cores are all taken, an 8-byte round
 * trip through a Pipe took 3-4x as long in libparc's wait alone as with
 * these yields first, through a Queue 1.2-1.7x (docs/python.md,
 * "Performance"). A yield gives the core to whoever is ready to run --
 * the peer, perhaps.
 *
 * Why the spin before them: on idle cores a yield is a system call per
 * look, and the answer to a message often comes within a microsecond:
 * spinning that long first made a round trip a third shorter there.
 * On a busy machine such a spin rarely ends the wait, so it stops after
 * PARC_PY_CH_SPIN_MISSES waits in a row that it did not end, and is tried
 * again every PARC_PY_CH_SPIN_RETRY waits; waits that had to sleep do not
 * count (they were for something far off). One record per process. */
#define PARC_PY_CH_EINTR (-1000)
#define PARC_PY_CH_SLICE 0.05
#define PARC_PY_CH_YIELD 50e-6
#define PARC_PY_CH_SPIN_NS 1000u
#define PARC_PY_CH_SPIN_MISSES 4u
#define PARC_PY_CH_SPIN_RETRY 64u
typedef int (*parc_py_ch_op)(void *ctx, double timeout);
int parc_py_ch_block(parc_py_ch_op op, void *ctx, double timeout);
/* The same, without the first try holding the GIL: for an op that may
 * block even with a timeout of 0 (a pipe message larger than its ring
 * streams once begun). */
int parc_py_ch_block_nogil(parc_py_ch_op op, void *ctx, double timeout);

/* Monotonic seconds. */
double parc_py_ch_now(void);
/* A timeout (< 0 forever, 0 no wait, > 0 seconds) as a deadline, and back
 * as what is left of it: without reading the clock unless it is > 0. */
double parc_py_ch_deadline(double timeout);
double parc_py_ch_left(double deadline);

/* Raises for a libparc code; for PARC_PY_CH_EINTR returns NULL leaving the
 * pending exception. */
PyObject *parc_py_ch_raise(int rc);

/* Futex waits and wakes on a 32-bit word of memory shared between
 * processes (Event, Condition, JoinableQueue: _chan_shm.c). wait: 0
 * (woken, or the word was not `expected`) or PARC_ETIMEDOUT after
 * `timeout` seconds (>= 0; call without the GIL). */
int parc_py_ch_futex_wait(_Atomic uint32_t *w, uint32_t expected,
                          double timeout);
void parc_py_ch_futex_wake(_Atomic uint32_t *w, int n);
/* One pause of a spin loop. */
static inline void parc_py_ch_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* Pickling, with what _payload.py hands over at import (_setup): encode
 * returns the payload of obj -- bytes, or a list [pickle, *buffers] when it
 * has large out-of-band buffers (_payload._dumps) -- and decode the object
 * of a payload. NULL with an exception. */
PyObject *parc_py_ch_encode(PyObject *obj);
PyObject *parc_py_ch_decode(PyObject *payload);
extern PyObject *parc_py_ch_empty; /* queue.Empty */

/* A queue's framing (_chan_queue_frame.c): how QueueCore (_chan_queue.c)
 * carries an object of any size through a parc_queue of messages of at
 * most PARC_PY_QCHUNK bytes. A whole message that begins with
 * PARC_PY_QRAW is a bytes object's own bytes, after that byte. */
#define PARC_PY_QCHUNK ((size_t)256 << 10)
#define PARC_PY_QRAW 1
/* A big object's header (16 bytes, 8 more a part) fits a whole message. */
#define PARC_PY_QMAX_PARTS ((PARC_PY_QCHUNK - 1 - 16) / 8)
typedef struct {
  parc_queue *q;
  parc_lock *wlock, *rlock; /* producers' and consumers': for a whole object */
  unsigned char *in, *out;  /* scratch chunks, allocated on first need */
} parc_py_qframe;
/* Whether a one-part payload of n bytes at p goes as a whole message. */
int parc_py_qframe_whole(const void *p, size_t n);
/* Puts one object's payload (a pickle and its out-of-band buffers, or one
 * bytes-like part) by the deadline (parc_py_ch_deadline): 0; PARC_EAGAIN
 * or PARC_ETIMEDOUT (nothing was put); PARC_PY_CH_EINTR; another libparc
 * code; or -1 with MemoryError. */
int parc_py_qframe_put(parc_py_qframe *f, const Py_buffer *parts, int nparts,
                       double deadline);
/* Puts a whole message now or not at all (the write lock busy, the ring
 * full): 1 put, 0 not. */
int parc_py_qframe_put_now(parc_py_qframe *f, const void *p, size_t n);
/* Takes the next object by the deadline: its pickle (bytes), its parts (a
 * list), or a bytes object itself in a 1-tuple (PARC_PY_QRAW); NULL with
 * an exception, or NULL without one when the time ran out. */
PyObject *parc_py_qframe_get(parc_py_qframe *f, double deadline);
/* Frees the scratch chunks. */
void parc_py_qframe_free(parc_py_qframe *f);

/* The types of each file, added to the module. */
int parc_py_ch_shm_init(PyObject *m);
int parc_py_ch_sync_init(PyObject *m);
int parc_py_ch_queue_init(PyObject *m);
int parc_py_ch_pipe_init(PyObject *m);
int parc_py_ch_proc_init(PyObject *m);

#endif
