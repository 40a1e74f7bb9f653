/* parc.h -- the one public header of libparc.
 *
 * libparc runs work in parallel on the cores of one machine: a pool of
 * workers (threads or forked processes) behind one API -- map, futures,
 * map-reduce and parallel-for -- that reports every task's outcome and never
 * hangs when a worker dies.
 *
 * Conventions (see docs/api.md for the long form):
 *   - Every function that can fail returns 0 or a negative PARC_E* code.
 *     The library never prints, never exits and never raises a signal.
 *   - Handles are opaque. Each create has one destroy; destroy accepts NULL.
 *   - Options structs: NULL means defaults, a zeroed field means its default,
 *     new fields are only ever added at the end.
 *   - Times are in seconds as doubles; 0 means "no limit" for options and
 *     "do not wait" for the timeout argument of a wait call, and a negative
 *     timeout means "wait forever".
 */
#ifndef PARC_H
#define PARC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PARC_VERSION_MAJOR 0
#define PARC_VERSION_MINOR 1
#define PARC_VERSION_PATCH 0

#if defined(__GNUC__) && defined(PARC_BUILDING)
#define PARC_API __attribute__((visibility("default")))
#else
#define PARC_API
#endif

/* ---------------------------------------------------------------- errors */

/* One list makes the codes, parc_strerror and parc_err_name. */
#define PARC_ERRNO_MAP(XX)                                                     \
  XX(EINVAL, -1, "invalid argument")                                           \
  XX(ENOMEM, -2, "out of memory")                                              \
  XX(ESYS, -3, "system call failed (parc_last_sys_error has the reason)")      \
  XX(ETIMEDOUT, -4, "timed out")                                               \
  XX(ECANCELED, -5, "canceled")                                                \
  XX(ETASK, -6, "a task returned an error")                                    \
  XX(EWORKER, -7, "a worker died while running the task")                      \
  XX(EINIT, -8, "the worker init hook failed")                                 \
  XX(EAGAIN, -9, "not ready; try again")                                       \
  XX(ECLOSED, -10, "closed by the other side")                                 \
  XX(EOWNERDEAD, -11, "the previous owner died holding the lock")              \
  XX(ETOOBIG, -12, "message or argument too large")                            \
  XX(ENOTSUP, -13, "not supported by this backend")                            \
  XX(EBROKEN, -14, "the pool is broken: workers cannot be started")            \
  XX(ESERVED, -15, "this MPI rank served a pool's tasks; the pool is closed")  \
  XX(ENOTSHARED, -16,                                                          \
     "not shared with this process: make it with "                             \
     "PARC_SHARED or parc_shm_alloc before the fork")

typedef enum {
#define PARC__ERR_ENUM(name, value, text) PARC_##name = (value),
  PARC_ERRNO_MAP(PARC__ERR_ENUM)
#undef PARC__ERR_ENUM
} parc_errno;

/* A static English sentence for a code ("unknown error" for others). */
PARC_API const char *parc_strerror(int err);
/* The code's name without the PARC_ prefix, e.g. "ETIMEDOUT". */
PARC_API const char *parc_err_name(int err);

/* Why the last PARC_ESYS that libparc returned to the calling thread
 * happened: the system, pthread or MPI call that failed and its own error.
 * Kept per thread, like errno (which is also set to `code` for the calls
 * that have one), and replaced by the next such failure. */
typedef struct parc_sys_error {
  const char *call; /* "fork", "pthread_create", "memfd_create",
                        "MPI_Comm_dup", ...; NULL: no failure yet */
  int code;         /* its errno value (a pthread call's return value), or
                        the MPI error code when is_mpi */
  int is_mpi;
  char message[256]; /* one line, e.g. "fork: Resource temporarily
                        unavailable" */
} parc_sys_error;
PARC_API void parc_last_sys_error(parc_sys_error *e);

/* ---------------------------------------------------------------- tasks */

/* A task reads in_size bytes at `in` and writes out_size bytes at `out`.
 * It returns 0 on success; any other value is that task's error and is
 * reported back (parc_task_status.task_rc). `ctx` is the pool's ctx.
 *
 * In the process backend `in` and `out` point into the worker's own memory:
 * inputs must be flat bytes (no pointers into the caller's heap). */
typedef int (*parc_task_fn)(const void *in, void *out, void *ctx);

/* Answers a running task's question (parc_task_ask) on the caller's side:
 * reads qlen bytes at q, writes at most acap bytes at a and their number
 * at *alen, returns 0 or an error that the asking task gets. With threads
 * it runs on the asking worker's thread, so on several at once; with MPI
 * on rank 0's courier thread, one at a time, holding up every task's
 * traffic while it runs: keep it short. It must not call the pool. */
typedef int (*parc_answer_fn)(const void *q, size_t qlen, void *a, size_t acap,
                              size_t *alen, void *arg);

/* Run once in each worker before its first task (and in each replacement).
 * `worker` is the worker's index, 0..workers-1. Non-zero fails the worker:
 * parc_pool_create then fails with PARC_EINIT. */
typedef int (*parc_init_fn)(void *ctx, unsigned worker);

/* Folds `item` into `acc` (both result_size bytes): acc = acc (+) item.
 * Used by parc_map_reduce; returns 0 or a task error. */
typedef int (*parc_combine_fn)(void *acc, const void *item, void *ctx);

/* Body of parc_for: handles iterations [begin, end). Returns 0 or an error. */
typedef int (*parc_for_fn)(int64_t begin, int64_t end, void *ctx);

/* Progress of a map / map-reduce / for: `done` of `total` units. Called in
 * the calling thread, at most about 10 times a second, and once at the end. */
typedef void (*parc_progress_fn)(uint64_t done, uint64_t total, void *arg);

/* What happened to one task. */
typedef struct parc_task_status {
  int error;     /* 0, PARC_ETASK, PARC_EWORKER, PARC_ETIMEDOUT, PARC_ECANCELED,
                    PARC_EBROKEN (no worker could be started), PARC_ENOMEM */
  int task_rc;   /* the task's own return value when error == PARC_ETASK */
  int signal;    /* PARC_EWORKER: the signal that killed the worker, or 0 */
  int exit_code; /* PARC_EWORKER: the worker's exit status when it exited */
  int attempts;  /* how many times the task was started */
  int pid;       /* PARC_EWORKER, or PARC_ETIMEDOUT in the process backend:
                    the pid of the worker that died or was killed; else 0 */
} parc_task_status;

/* ---------------------------------------------------------------- pools */

typedef struct parc_pool parc_pool;

typedef enum {
  PARC_THREADS = 0,   /* workers are threads of this process */
  PARC_PROCESSES = 1, /* workers are forked processes */
  PARC_MPI = 2        /* workers are MPI ranks: libparc_mpi, parc_mpi.h */
} parc_backend;

typedef struct parc_pool_opts {
  parc_backend backend;
  unsigned workers;     /* 0: one per physical core (hwloc) */
  double task_timeout;  /* seconds a task may run, and a worker may
                                    hold work without beginning it; 0: no
                                    limit */
  unsigned max_retries; /* re-runs of a task whose worker died */
  unsigned
      max_tasks_per_worker; /* recycle a worker after this many; 0: never */
  parc_init_fn init;        /* optional, run once in each worker */
  void *ctx;                /* passed to init and to every task */
  parc_answer_fn answer;    /* optional: answers parc_task_ask */
  void *answer_arg;
} parc_pool_opts;

/* Creates a pool and starts its workers. With an `init` hook it returns
 * when every worker has run it (PARC_EINIT if one failed); without one it
 * returns at once and the workers finish starting in the background (a
 * call waits for the first that is ready). Process backend: the workers
 * come from a process forked now, from the calling thread, so they see
 * this process's memory as it is at this moment (later changes are not
 * seen unless they are in parc_shm_alloc memory). Returns 0 and writes
 * *out, or PARC_EINVAL, PARC_ENOMEM, PARC_ESYS, PARC_EINIT. Thread-safe. */
PARC_API int parc_pool_create(parc_pool **out, const parc_pool_opts *opts);

/* Stops the workers and frees everything. Tasks still queued are canceled
 * (their futures report PARC_ECANCELED); tasks running are waited for,
 * unless `cancel_running` is set: then process workers are killed and
 * thread workers are abandoned (the pool waits for them to finish before
 * freeing memory they use). Futures stay valid until parc_future_free.
 * No call on `pool` may be running or start in another thread. */
PARC_API void parc_pool_destroy(parc_pool *pool);
PARC_API void parc_pool_destroy_ex(parc_pool *pool, int cancel_running);

/* The number of workers. */
PARC_API unsigned parc_pool_workers(const parc_pool *pool);

/* Inside a task: the index of the worker running it, else -1. */
PARC_API int parc_worker_id(void);

/* Inside a task (or opts.init): asks the pool's caller a question and
 * waits for the answer, which opts.answer gives (see parc_answer_fn) --
 * for a task that decides with what the caller knows of the other tasks
 * (stop early, the best so far). A question has at most PARC_ASK_MAX
 * bytes, and so has an answer (a larger acap is taken as PARC_ASK_MAX).
 * With threads the answer function runs at once, in this thread, and
 * `timeout` does not apply; where the task runs on another MPI rank, the
 * question and answer travel as messages, and the answer must come within
 * `timeout` seconds (< 0: no limit). Returns the answer function's
 * return, with its answer at a (*alen bytes, at most acap; delivered with
 * an error too, so that it can say why); or, with *alen 0, PARC_EINVAL
 * (not inside a task, NULL with a length, a question over PARC_ASK_MAX),
 * PARC_ENOTSUP (the pool has no answer function, or is a process pool:
 * its workers are copies, with nothing of the caller's to ask),
 * PARC_ETIMEDOUT (a late answer is dropped), PARC_ENOMEM, PARC_ECANCELED
 * (the pool is closing: its questions are no longer answered). */
#define PARC_ASK_MAX ((size_t)1 << 20)
PARC_API int parc_task_ask(const void *q, size_t qlen, void *a, size_t acap,
                           size_t *alen, double timeout);

/* ---------------------------------------------------------------- map */

typedef struct parc_map_opts {
  size_t chunk;              /* tasks per dispatch; 0: adapt to task length */
  parc_task_status *status;  /* optional: n entries, one per task */
  size_t *err_index;         /* optional: index of the first failed task */
  parc_progress_fn progress; /* optional */
  void *progress_arg;
  double timeout;                /* whole call; 0: none. On expiry the tasks
                                  not finished are canceled (PARC_ETIMEDOUT) */
  int (*should_stop)(void *arg); /* optional: asked in the calling thread
                                  about 10 times a second while the call
                                  waits; non-zero ends it as a timeout
                                  would, with PARC_ECANCELED (a Ctrl-C, a
                                  cancel from another thread) */
  void *stop_arg;
} parc_map_opts;

/* out[i] = fn(in[i]) for i in [0, n), results in input order. Inputs are
 * read as the tasks are dispatched, so memory stays bounded for any n.
 * Every task runs even when some fail. Returns 0, or the error of the
 * lowest-indexed failed task (see opts->status / opts->err_index), or
 * PARC_EINVAL. One map or submit at a time per thread; several threads may
 * share a pool. */
PARC_API int parc_map(parc_pool *pool, parc_task_fn fn, const void *in,
                      size_t in_size, void *out, size_t out_size, size_t n,
                      const parc_map_opts *opts);

/* ---------------------------------------------------------------- futures */

typedef struct parc_future parc_future;

/* Queues one task. `in` is copied, so it may be freed at once. Returns 0
 * and writes *out (free it with parc_future_free), or PARC_EINVAL /
 * PARC_ENOMEM. Thread-safe. */
PARC_API int parc_submit(parc_pool *pool, parc_task_fn fn, const void *in,
                         size_t in_size, size_t out_size, parc_future **out);

/* Waits up to `timeout` seconds (< 0: forever; 0: just look). Returns 0 and
 * copies out_size bytes to `out` (may be NULL), PARC_EAGAIN if still
 * running when the time is up, or the task's error (PARC_ETASK, ...); then
 * `status`, if not NULL, has the details. Waiting again returns the same. */
PARC_API int parc_future_wait(parc_future *f, void *out, double timeout,
                              parc_task_status *status);

/* Cancels the task: a queued task never runs; a running one is killed in the
 * process backend (its worker is replaced) and abandoned in the thread
 * backend. Returns 0 if canceled, PARC_EAGAIN if it had already finished. */
PARC_API int parc_future_cancel(parc_future *f);

/* The same, but with cancel_running 0 a task that has started is left
 * alone (PARC_EAGAIN), as concurrent.futures' cancel does. */
PARC_API int parc_future_cancel_ex(parc_future *f, int cancel_running);

/* Where a future's task is: queued (not handed to a worker yet), running,
 * or done (finished, failed or canceled: a wait returns at once). */
typedef enum {
  PARC_FUTURE_QUEUED = 0,
  PARC_FUTURE_RUNNING = 1,
  PARC_FUTURE_DONE = 2
} parc_future_state;
PARC_API parc_future_state parc_future_get_state(parc_future *f);

/* Frees the future; cancels the task if it has not finished. NULL is fine. */
PARC_API void parc_future_free(parc_future *f);

/* Waits until one of `fs[0..n)` has finished (as-completed): returns 0 and
 * writes its index to *index, or PARC_ETIMEDOUT. Finished futures are
 * returned lowest index first; pass the ones you have not handled yet. */
PARC_API int parc_wait_any(parc_future *const *fs, size_t n, double timeout,
                           size_t *index);

/* Makes every parc_future_wait and parc_wait_any now waiting on this
 * pool's futures return at once, as if their time were up (PARC_EAGAIN,
 * PARC_ETIMEDOUT), so a thread that waits for a set of futures can be told
 * to look at a new set. Maps, map-reduces and fors are not disturbed.
 * Thread-safe. */
PARC_API void parc_pool_wake(parc_pool *pool);

/* Cancels the work queued on the pool, for every call in progress (their
 * tasks report PARC_ECANCELED), and with cancel_running the tasks running
 * too, as parc_pool_destroy_ex would; the pool stays usable. Thread-safe. */
PARC_API void parc_pool_cancel(parc_pool *pool, int cancel_running);

/* Waits until nothing is queued or running on the pool: 0, or
 * PARC_ETIMEDOUT. Thread-safe. */
PARC_API int parc_pool_drain(parc_pool *pool, double timeout);

/* ---------------------------------------------------------------- bytes
 *
 * Tasks whose input and result are byte strings of any length -- what a
 * language binding passes (pickled arguments, pickled results), or a C
 * program whose results have no fixed size. They run on the same workers,
 * with the same batching, failures, retries and timeouts as parc_map. */

/* A run of bytes: an input (read only), or a result (malloc'd; the caller
 * frees `data` with free()). */
typedef struct parc_bytes {
  void *data;
  size_t len;
} parc_bytes;

/* Where a bytes task writes its result (opaque; valid during the task). */
typedef struct parc_result parc_result;

/* A bytes task reads `len` bytes at `in` and may set a result with
 * parc_result_alloc or parc_result_set (none: an empty result). It returns
 * 0, or its error, as a parc_task_fn does; the result it set is delivered
 * either way, so a failing task can say why. */
typedef int (*parc_bytes_fn)(const void *in, size_t len, parc_result *res,
                             void *ctx);

/* Inside a bytes task: makes the result `len` bytes long and returns where
 * to write them (valid until the task returns or the next call), or NULL
 * when memory is short (the result is then empty). Any earlier result is
 * replaced. */
PARC_API void *parc_result_alloc(parc_result *res, size_t len);
/* The same, copying `len` bytes from `data`: 0 or PARC_ENOMEM. */
PARC_API int parc_result_set(parc_result *res, const void *data, size_t len);

/* out[i] = fn(in[i]) for i in [0, n), as parc_map does for fixed sizes:
 * the same options (opts->chunk: tasks per dispatch; 0 adapts), returns
 * and status. Each out[i] gets its result in malloc'd memory the caller
 * frees ({NULL, 0} for an empty one, or a task that could not run). */
PARC_API int parc_map_bytes(parc_pool *pool, parc_bytes_fn fn,
                            const parc_bytes *in, parc_bytes *out, size_t n,
                            const parc_map_opts *opts);

/* A future for one bytes task; `in` is copied. Wait for it with
 * parc_future_wait (pass out = NULL), then read its result with
 * parc_future_bytes. Returns 0, PARC_EINVAL, PARC_ENOMEM. Thread-safe. */
PARC_API int parc_submit_bytes(parc_pool *pool, parc_bytes_fn fn,
                               const void *in, size_t len, parc_future **out);
/* The result of a finished bytes task (one that returned, successfully or
 * not): *data points into the future (valid until parc_future_free), *len
 * is its length. Returns 0, PARC_EAGAIN (not finished), or PARC_EINVAL
 * (not a bytes future). */
PARC_API int parc_future_bytes(parc_future *f, const void **data, size_t *len);

/* ---------------------------------------------------------------- reduce */

/* result = identity (+) map(in[0]) (+) map(in[1]) ... (+) map(in[n-1]).
 * The tasks are cut into blocks whose bounds depend only on n and
 * result_size; each block is folded left to right in a worker and the
 * block results are combined in a fixed binary tree. So for an associative
 * `combine` the result is identical, bit for bit, for any worker count and
 * backend. `map_fn` writes result_size bytes. opts->status and chunk are
 * ignored; err_index gets the index of the first failed task. */
PARC_API int parc_map_reduce(parc_pool *pool, parc_task_fn map_fn,
                             const void *in, size_t in_size, size_t n,
                             parc_combine_fn combine, const void *identity,
                             void *result, size_t result_size,
                             const parc_map_opts *opts);

/* ---------------------------------------------------------------- for */

typedef enum {
  PARC_SCHEDULE_STATIC =
      0, /* contiguous equal shares (or round-robin chunks) */
  PARC_SCHEDULE_DYNAMIC = 1, /* chunks handed out as workers become free */
  PARC_SCHEDULE_GUIDED = 2   /* shrinking chunks: remaining / workers */
} parc_schedule;

typedef struct parc_for_opts {
  parc_schedule schedule;
  int64_t chunk;   /* as OpenMP's schedule(kind, chunk); 0: default */
  size_t ctx_size; /* process backend: copy this many bytes of ctx
                               to the workers (any size); 0: pass the
                               pointer as is. Threads share ctx as is. */
  parc_progress_fn progress;
  void *progress_arg;
  double timeout;     /* whole call; 0: none */
  int64_t *err_index; /* optional: first iteration of the failed chunk */
} parc_for_opts;

/* Calls body(b, e, ctx) over chunks that tile [begin, end) exactly once,
 * spread over the workers by the schedule. In the process backend the body
 * runs in other processes: its effects reach the caller only through
 * parc_shm_alloc memory made before the pool (a ctx pointer into a region
 * made after it: PARC_ENOTSHARED). Returns 0 or the error of the lowest
 * failing chunk. */
PARC_API int parc_for(parc_pool *pool, int64_t begin, int64_t end,
                      parc_for_fn body, void *ctx, const parc_for_opts *opts);

/* ---------------------------------------------------------------- memory */

/* Memory shared with every process forked after this call (pool workers
 * included): a memfd mapping, so nothing is left in /dev/shm when a process
 * dies. Zero-filled. Returns NULL on failure (errno set). */
PARC_API void *parc_shm_alloc(size_t size);
PARC_API void parc_shm_free(void *p);

/* ---------------------------------------------------------------- channels
 *
 * Queues, pipes, locks, semaphores and barriers work the same between the
 * threads of a process and between processes. With PARC_SHARED they live
 * in shared memory and are usable by every process forked after their
 * creation (pool workers, parc_proc_start children); without it, only by
 * the threads of the creating process, and a little faster.
 *
 * Timeouts, as everywhere: seconds; < 0 waits forever; 0 does not wait
 * (the call returns PARC_EAGAIN instead of blocking). The *_try_* calls
 * are the same with a timeout of 0.
 *
 * Without PARC_SHARED, every call from another process (a forked child has
 * a copy of the handle) returns PARC_ENOTSHARED: the copy would talk only
 * to itself. Creates with PARC_SHARED fail with PARC_ESYS when the mapping
 * cannot be made (parc_last_sys_error says why), without it PARC_ENOMEM.
 *
 * Destroy: without PARC_SHARED, in the creating process once no thread
 * uses it. With PARC_SHARED, destroy ends only the calling process's use
 * (its mapping goes): the object lives on while any process maps it, and
 * each process may destroy its own handle whenever it is done with it (a
 * process that exits drops its mapping anyway). Pipes: parc_pipe_close.
 * NULL is fine. */
#define PARC_SHARED 1

typedef struct parc_queue parc_queue;

/* A bounded multi-producer multi-consumer queue of messages of 0 to
 * max_msg bytes, holding at most capacity bytes of messages (each also
 * costs 8 bytes of framing; capacity is raised to max_msg + 8 so that any
 * message fits). Returns 0, PARC_EINVAL, PARC_ENOMEM, PARC_ESYS. */
PARC_API int parc_queue_create(parc_queue **out, size_t capacity,
                               size_t max_msg, int flags);
/* Appends one message, waiting up to `timeout` for room. Returns 0,
 * PARC_EAGAIN (full, timeout 0), PARC_ETIMEDOUT, PARC_ECLOSED (closed),
 * PARC_ETOOBIG (len > max_msg). */
PARC_API int parc_queue_put(parc_queue *q, const void *msg, size_t len,
                            double timeout);
PARC_API int parc_queue_try_put(parc_queue *q, const void *msg, size_t len);
/* Takes the oldest message into buf (cap bytes); *len gets its size.
 * Returns 0, PARC_EAGAIN (empty, timeout 0), PARC_ETIMEDOUT, PARC_ECLOSED
 * (closed and drained), PARC_ETOOBIG (cap too small: *len says how much is
 * needed and the message stays queued).
 * Exactly once: a message is taken whole or not at all -- a consumer that
 * dies inside this call, even holding the queue's lock, leaves it queued
 * or taken, never half; once the call has returned 0 it was delivered. */
PARC_API int parc_queue_get(parc_queue *q, void *buf, size_t cap, size_t *len,
                            double timeout);
PARC_API int parc_queue_try_get(parc_queue *q, void *buf, size_t cap,
                                size_t *len);
/* No more puts (they return PARC_ECLOSED); gets drain what is queued, then
 * return PARC_ECLOSED. Every put that returned 0 is delivered. Wakes every
 * waiter. */
PARC_API void parc_queue_close(parc_queue *q);
/* Messages taken by gets since creation, and queued now. */
PARC_API void parc_queue_stats(parc_queue *q, uint64_t *taken,
                               uint64_t *queued);
PARC_API void parc_queue_destroy(parc_queue *q);

typedef struct parc_pipe parc_pipe;

/* A connected pair of endpoints, like multiprocessing.Pipe(): what is sent
 * on one end is received on the other, in order, both ways. Messages up to
 * max_msg bytes. Returns 0, PARC_EINVAL, PARC_ENOMEM, PARC_ESYS. */
PARC_API int parc_pipe_create(parc_pipe **a, parc_pipe **b, size_t max_msg,
                              int flags);
/* Binds an end to the calling process (send and recv do it on first use):
 * from then on, if this process dies, the other end's calls return
 * PARC_ECLOSED instead of blocking. Bind right after fork to be covered
 * from the start. */
PARC_API int parc_pipe_bind(parc_pipe *e);
/* Returns 0, PARC_EAGAIN, PARC_ETIMEDOUT, PARC_ETOOBIG, or PARC_ECLOSED:
 * the other end was closed, or its process died. */
PARC_API int parc_pipe_send(parc_pipe *e, const void *msg, size_t len,
                            double timeout);
/* As parc_queue_get; PARC_ECLOSED once the other end is closed or dead
 * and everything it sent has been received. */
PARC_API int parc_pipe_recv(parc_pipe *e, void *buf, size_t cap, size_t *len,
                            double timeout);
/* Closes this end for both sides -- the other end drains what was sent,
 * then gets PARC_ECLOSED -- if the end is bound to this process, or is
 * unbound and was created here. Closing an end bound to another process,
 * or an unused copy inherited through fork, only drops this process's
 * handle (so each process may close the end it does not use). Frees the
 * handle. */
PARC_API void parc_pipe_close(parc_pipe *e);

typedef struct parc_lock parc_lock;
typedef struct parc_sem parc_sem;
typedef struct parc_barrier parc_barrier;

/* A mutual-exclusion lock. If its holder (thread or process) dies holding
 * it, the next acquire returns PARC_EOWNERDEAD: it holds the lock, should
 * repair what the lock protects, then call parc_lock_consistent; releasing
 * without that leaves the lock unusable (every acquire: PARC_EBROKEN). */
PARC_API int parc_lock_create(parc_lock **out, int flags);
PARC_API int parc_lock_acquire(parc_lock *l, double timeout);
PARC_API int parc_lock_consistent(parc_lock *l);
PARC_API int parc_lock_release(parc_lock *l);
PARC_API void parc_lock_destroy(parc_lock *l);

/* A counting semaphore starting at `value`. */
PARC_API int parc_sem_create(parc_sem **out, unsigned value, int flags);
PARC_API int parc_sem_wait(parc_sem *s, double timeout); /* down */
PARC_API int parc_sem_post(parc_sem *s);                 /* up */
/* The count now (a snapshot: others may change it at once). */
PARC_API int parc_sem_value(parc_sem *s, unsigned *value);
PARC_API void parc_sem_destroy(parc_sem *s);

/* A barrier for `parties` threads or processes, reusable round after
 * round. wait returns 0, or PARC_ETIMEDOUT: this party gave up and did not
 * pass (the others keep waiting for a full round). */
PARC_API int parc_barrier_create(parc_barrier **out, unsigned parties,
                                 int flags);
PARC_API int parc_barrier_wait(parc_barrier *b, double timeout);
PARC_API void parc_barrier_destroy(parc_barrier *b);

/* ---------------------------------------------------------------- processes
 * and threads by hand: the "full control" counterparts of the pool. */

typedef struct parc_proc parc_proc;
typedef struct parc_thread parc_thread;
typedef int (*parc_proc_fn)(void *arg);

/* How a process ended. */
typedef struct parc_proc_status {
  int exited;    /* 1: it returned or exited; exit_code is valid */
  int exit_code; /* fn's return (its low 8 bits, as exit()), or exit's */
  int signal;    /* the signal that killed it, or 0 */
} parc_proc_status;

/* Forks a process that runs fn(copy of arg_size bytes at arg) and exits
 * with its return value. Returns 0, PARC_EINVAL, PARC_ENOMEM, PARC_ESYS. */
PARC_API int parc_proc_start(parc_proc **out, parc_proc_fn fn, const void *arg,
                             size_t arg_size);
/* Waits for it to end (and reaps it). Returns 0, PARC_ETIMEDOUT,
 * PARC_EAGAIN. Frees nothing: parc_proc_free does. */
PARC_API int parc_proc_join(parc_proc *p, parc_proc_status *status,
                            double timeout);
PARC_API int parc_proc_pid(const parc_proc *p);
/* Sends `sig` (e.g. SIGTERM, SIGKILL) unless it has been reaped. */
PARC_API int parc_proc_kill(parc_proc *p, int sig);
/* Frees the handle; a process still running is killed and reaped. */
PARC_API void parc_proc_free(parc_proc *p);

/* A thread running fn(arg) (arg is not copied). */
PARC_API int parc_thread_start(parc_thread **out, parc_proc_fn fn, void *arg);
/* Waits for it (PARC_ETIMEDOUT if it is still running), writes fn's
 * return to *rc and frees the handle on success. */
PARC_API int parc_thread_join(parc_thread *t, int *rc, double timeout);

/* ---------------------------------------------------------------- random
 *
 * Reproducible parallel random numbers: counter-based Philox4x32-10 streams
 * (Random123). The numbers a task draws depend only on (seed, stream) --
 * pass the task's index as `stream` -- never on which worker, backend or
 * worker count ran it. A parc_rng is plain data: copy it, keep it on the
 * stack, use one per thread. */
typedef struct parc_rng {
  uint32_t key[2]; /* the seed */
  uint32_t ctr[4]; /* ctr[0..1]: block number; ctr[2..3]: the stream */
  uint32_t out[4]; /* the current block */
  unsigned used;   /* 32-bit words of `out` already handed out */
  int has_spare;   /* parc_rng_normal's second value is in `spare` */
  double spare;
} parc_rng;

/* Stream `stream` of generator `seed`, positioned at its start. None of
 * these calls allocates or fails; each may be called from any thread and
 * after fork, on a parc_rng that no other thread is using (docs/rng.md). */
PARC_API void parc_rng_init(parc_rng *r, uint64_t seed, uint64_t stream);
/* 64 random bits: two consecutive words of the current block, the first
 * as the low half (out[0] | out[1] << 32, then out[2] | out[3] << 32). */
PARC_API uint64_t parc_rng_u64(parc_rng *r);
/* A double in [0, 1): the top 53 bits of parc_rng_u64 times 2^-53. */
PARC_API double parc_rng_uniform(parc_rng *r);
/* A standard normal deviate (mean 0, variance 1), Marsaglia's polar
 * method; every other call returns the spare kept in the struct. */
PARC_API double parc_rng_normal(parc_rng *r);
/* An integer in [0, n), without modulo bias (Lemire's multiply and
 * reject); n = 0 returns 0. */
PARC_API uint64_t parc_rng_below(parc_rng *r, uint64_t n);
/* One Philox4x32-10 block: out = philox(ctr, key). For known-answer tests. */
PARC_API void parc_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2],
                                 uint32_t out[4]);

/* ---------------------------------------------------------------- machine */

/* Physical cores this process may run on (its affinity mask), from the
 * kernel's topology files (hwloc where they are missing); counted once per
 * process. At least 1. */
PARC_API unsigned parc_physical_cores(void);
/* Hardware threads the process may run on; at least 1. */
PARC_API unsigned parc_logical_cpus(void);

#ifdef __cplusplus
}
#endif
#endif /* PARC_H */
