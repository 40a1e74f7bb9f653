/* _pool.h -- what the files of the pool part of parc._core share:
 *   _pool.c         the Pool type (parc_pool): create with Python's fork
 *                   protocol, submit, map, close; the module's pool names
 *   _pool_task.c    the Task type (parc_future): sliced waits, outcomes
 *   _pool_future.c  the hot paths of parc.futures.Future
 *   _pool_map.c     Pool.map: the chunks as one libparc bytes map
 *   _pool_worker.c  the worker side: the init hook and the bytes task that
 *                   runs Python callables in forked processes or threads
 *   _pool_codec.c   pickles of None, bool, int, float, str, bytes and
 *                   tuples, written and read in C (the rest: pickle's)
 *
 * Only libparc's public API (parc.h) is used.
 *
 * A task's input, process backend: a msg_head (kind, fn_id, the length of
 * fn_blob), fn_blob -- the pickled function (by reference, or cloudpickle)
 * -- and the pickled payload. fn_id is the caller's number for the
 * function, so a worker unpickles each function once, and the rest of a
 * message is one pickle.loads. Its result: the pickled return value (rc
 * 0), or the pickled (exception, formatted traceback) (rc 1). Thread
 * backend: nothing is pickled; the input is an 8-byte key into the pool's
 * registry, whose entry [kind, fn, payload, outcome] the worker takes and
 * fills (outcome: (0, value) or (RC_RAISED, exception)).
 */
#ifndef PARC_PY_POOL_H
#define PARC_PY_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "_core.h"

/* What a task does with its function and payload. */
enum {
  K_CALL = 0,  /* fn(*args, **kwargs); payload (args, kwargs or None) */
  K_MAP1 = 1,  /* fn(payload) */
  K_STAR1 = 2, /* fn(*payload) */
  K_MAPN = 3,  /* [fn(x) for x in payload] */
  K_STARN = 4, /* [fn(*x) for x in payload] */
  K_KINDS = 5
};
#define K_MASK 0x0f
/* a result that cannot be pickled fails as multiprocessing's
 * MaybeEncodingError */
#define K_MPSTYLE 0x10

/* The head of a process task's message. */
typedef struct msg_head {
  uint32_t kind;
  uint32_t fn_len;
  uint64_t fn_id;
} msg_head;

/* A task's return code, besides 0. */
#define RC_RAISED 1 /* the result is the pickled exception */
#define RC_LOST 2   /* an exception that could not even be described */

/* Task.phase(): parc_future_get_state's answer. */
enum {
  PHASE_QUEUED = PARC_FUTURE_QUEUED,
  PHASE_RUNNING = PARC_FUTURE_RUNNING,
  PHASE_DONE = PARC_FUTURE_DONE
};

/* The pool's ctx: what its workers need. A process worker has its own
 * copy (fork); thread workers share it. */
typedef struct pyctx {
  int backend;                      /* PARC_THREADS or PARC_PROCESSES */
  PyObject *initializer, *initargs; /* owned; NULL: none */
  PyObject *registry;               /* threads: key -> entry */
  PyObject *init_exc;               /* threads: what an initializer raised */
  pthread_mutex_t lock;             /* guards tstates */
  PyThreadState **tstates;          /* threads: one per worker started */
  size_t ntstates, captstates;
  /* Process backend: where a worker whose initializer raised leaves the
   * pickled (exception, traceback), in memory shared since before the
   * fork; the first to claim it writes. */
  struct initerr {
    _Atomic int claimed;
    uint32_t len;
    unsigned char data[];
  } * initerr;
} pyctx;
#define INITERR_BYTES (64u * 1024u)

/* A pool's life: P_CLOSING refuses new work and sends waiters away; once
 * none is left inside libparc, P_DESTROYING runs parc_pool_destroy. */
enum { P_RUNNING, P_CLOSING, P_DESTROYING, P_DESTROYED };

typedef struct PoolObject {
  PyObject_HEAD parc_pool *pool;
  pyctx *ctx;
  int backend;
  unsigned workers;
  _Atomic int state;
  int users;              /* calls inside libparc now (changed under the GIL) */
  int owner;              /* the pid that made it: a forked copy never
                             touches the pool */
  uint64_t next_key;      /* threads: registry keys */
  _Atomic uint32_t wakes; /* Pool.wake's count, for the watcher */
  parc_future **orphans;  /* tasks dropped before they finished: freed
                             once finished (a dropped task still runs) */
  size_t norphans, caporphans;
} PoolObject;

typedef struct TaskObject {
  PyObject_HEAD PoolObject *pool; /* strong */
  parc_future *f;
  int kind;
  PyObject *entry;   /* threads: the registry entry (strong), else NULL */
  PyObject *outcome; /* (0, value) or (code, exception), once known */
  int collecting;    /* an outcome is being made (it may run Python) */
} TaskObject;

extern PyTypeObject ParcPyPoolType, ParcPyTaskType;

/* _pool.c */
int parc_py_pid(void);
int parc_py_enter(PoolObject *p); /* 0, or -1: pool gone (no error set) */
void parc_py_leave(PoolObject *p);
/* While waiting in slices: true if the pool is closing (the waiter then
 * calls parc_py_await_destroyed and carries on with a detached future). */
int parc_py_closing(PoolObject *p);
void parc_py_await_destroyed(PoolObject *p);
void parc_py_orphan(PoolObject *p, parc_future *f);
/* Frees f, or makes it an orphan if it has not finished (it runs on). */
void parc_py_release(PoolObject *p, parc_future *f);
/* pickle.dumps(obj, 5) and pickle.loads themselves (_pool.c) ... */
PyObject *parc_py_pickle_dumps_std(PyObject *obj);
PyObject *parc_py_pickle_loads_std(const void *data, size_t len);
/* ... and the same, the simplest objects done in C (_pool_codec.c). */
PyObject *parc_py_pickle_dumps(PyObject *obj);
PyObject *parc_py_pickle_loads(const void *data, size_t len);
/* parc._transport.<name>, imported on first use (a new reference). */
PyObject *parc_py_transport(const char *name);
/* The exception for a failed task (parc._transport.failure). */
PyObject *parc_py_failure(int code, PyObject *payload,
                          const parc_task_status *st, int kind);

/* The registry entry of a thread task, under a new key (threads). */
PyObject *parc_py_new_entry(PoolObject *self, int kind, PyObject *fn,
                            PyObject *payload, unsigned long long *key);
/* Drops it if its worker has not taken it; keeps a pending exception. */
void parc_py_drop_entry(PoolObject *self, unsigned long long key);
/* What a process task travels as: pickle of (kind, fn_id, fn, payload). */
PyObject *parc_py_message(int kind, PyObject *fn_id, PyObject *fn,
                          PyObject *payload);
/* 1, or 0 with ValueError("Pool not running"). */
int parc_py_running(PoolObject *self);

/* submit(kind, fn_id, fn, payload) -> Task (Pool's method). */
PyObject *parc_py_submit(PoolObject *self, PyObject *const *args,
                         Py_ssize_t nargs);

/* _pool_future.c */
PyObject *parc_py_submit_future(PoolObject *self, PyObject *const *args,
                                Py_ssize_t nargs);
int parc_py_future_init(PyObject *m);

/* _pool_map.c */
PyObject *parc_py_map(PoolObject *self, PyObject *args);

/* _pool_task.c */
PyObject *parc_py_wait_any(PyObject *self, PyObject *args);
PyObject *parc_py_watch_wait(PoolObject *self, PyObject *args);
PyObject *parc_py_task_new(PoolObject *pool, parc_future *f, int kind,
                           PyObject *entry);
/* Waits up to timeout seconds (< 0: forever) in slices that answer
 * Ctrl-C in the main thread and a closing pool: 1 finished, 0 not yet,
 * -1 with an exception set. */
int parc_py_task_wait(TaskObject *t, double timeout);
/* Waits (timeout: a number, None or NULL: forever) and returns the outcome;
 * parc.TimeoutError when the time is up first. */
PyObject *parc_py_task_finish(TaskObject *t, PyObject *timeout);
int parc_py_future_wait(PoolObject *pool, parc_future *f, double timeout);
/* The same for the first of fs[0..n) to finish: 1 and *index, 0, -1. */
int parc_py_futures_wait_any(PoolObject *pool, parc_future **fs, size_t n,
                             double timeout, size_t *index);
/* Process backend: a finished future's outcome, (0, value) or (code,
 * exception), from its status and result bytes. */
PyObject *parc_py_bytes_outcome(parc_future *f, int kind, int err,
                                const parc_task_status *st);
/* The same from the result bytes themselves (a map's). */
PyObject *parc_py_data_outcome(const void *d, size_t n, int kind, int err,
                               const parc_task_status *st);
/* Thread backend: the entry's outcome made into (code, value). */
PyObject *parc_py_entry_outcome(PyObject *entry, const parc_task_status *st,
                                int kind);

/* _pool_worker.c */
int parc_py_worker_init(void *ctx, unsigned worker);
int parc_py_worker_task(const void *in, size_t len, parc_result *res,
                        void *ctx);

#endif
