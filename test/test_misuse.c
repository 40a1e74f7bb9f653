/* test_misuse.c -- misuse the library can see gets PARC_ENOTSHARED, not a
 * crash or a silent wait: a channel or lock made without PARC_SHARED used
 * from another process, and parc_shm_alloc memory made after a process
 * pool handed to its workers as a for's ctx. The same uses are checked to
 * work where they are right. (A pointer inside a task's input is the
 * task's business: the library cannot tell it from a number.) */
#include "testutil.h"

#include <sys/wait.h>

TestSuite(misuse, .init = no_core_dumps, .timeout = 60);

/* ------------------------------------------------------------ channels */

typedef struct handles {
  parc_queue *q;
  parc_pipe *pa, *pb;
  parc_lock *lock;
  parc_sem *sem;
  parc_barrier *bar;
} handles;

/* Each call, from a child, on objects made in the parent. The child exits
 * with the number of the first call that did not say PARC_ENOTSHARED (or
 * that said it for a PARC_SHARED object, when `shared`). */
static int child_uses(void *arg) {
  const handles *h = arg;
  char buf[16];
  size_t len;
  int rc[] = {
      parc_queue_put(h->q, "x", 1, 1.0),
      parc_queue_get(h->q, buf, sizeof buf, &len, 0.2),
      parc_queue_try_put(h->q, "x", 1),
      parc_pipe_send(h->pb, "y", 1, 1.0),
      parc_pipe_recv(h->pb, buf, sizeof buf, &len, 0.2),
      parc_lock_acquire(h->lock, 1.0),
      parc_lock_release(h->lock),
      parc_sem_post(h->sem),
      parc_sem_wait(h->sem, 0.2),
      parc_barrier_wait(h->bar, 0),
  };
  for (size_t i = 0; i < sizeof rc / sizeof rc[0]; i++)
    if (rc[i] != PARC_ENOTSHARED)
      return 10 + (int)i;
  return 0;
}

static void make_handles(handles *h, int flags) {
  ASSERT_RC(parc_queue_create(&h->q, 1024, 64, flags), 0);
  ASSERT_RC(parc_pipe_create(&h->pa, &h->pb, 64, flags), 0);
  ASSERT_RC(parc_lock_create(&h->lock, flags), 0);
  ASSERT_RC(parc_sem_create(&h->sem, 0, flags), 0);
  ASSERT_RC(parc_barrier_create(&h->bar, 2, flags), 0);
}

static void free_handles(handles *h) {
  parc_queue_destroy(h->q);
  parc_pipe_close(h->pa);
  parc_pipe_close(h->pb);
  parc_lock_destroy(h->lock);
  parc_sem_destroy(h->sem);
  parc_barrier_destroy(h->bar);
}

static int run_child(parc_proc_fn fn, handles *arg) {
  parc_proc *c;
  ASSERT_RC(parc_proc_start(&c, fn, arg, sizeof *arg), 0);
  parc_proc_status st;
  ASSERT_RC(parc_proc_join(c, &st, 30), 0);
  parc_proc_free(c);
  cr_assert(st.exited, "the child died of signal %d", st.signal);
  return st.exit_code;
}

Test(misuse, private_channels_and_locks_refuse_another_process) {
  handles h;
  make_handles(&h, 0);
  int code = run_child(child_uses, &h);
  ASSERT_I64(code, 0,
             "child: first call that did not say ENOTSHARED is 10 + its index");
  /* the creator's own calls are untouched by the child's attempts */
  size_t len = 99;
  char buf[16];
  ASSERT_RC(parc_queue_try_get(h.q, buf, sizeof buf, &len), PARC_EAGAIN);
  ASSERT_RC(parc_queue_put(h.q, "ok", 2, 0), 0);
  ASSERT_RC(parc_queue_get(h.q, buf, sizeof buf, &len, 0), 0);
  ASSERT_RC(parc_lock_acquire(h.lock, 0), 0);
  ASSERT_RC(parc_lock_release(h.lock), 0);
  free_handles(&h);
}

/* The same calls on PARC_SHARED objects reach the parent. */
static int child_puts_shared(void *arg) {
  const handles *h = arg;
  if (parc_queue_put(h->q, "hello", 5, 5.0) != 0)
    return 1;
  if (parc_pipe_send(h->pb, "world", 5, 5.0) != 0)
    return 2;
  if (parc_sem_post(h->sem) != 0)
    return 3;
  return 0;
}

Test(misuse, shared_channels_work_from_another_process) {
  handles h;
  make_handles(&h, PARC_SHARED);
  ASSERT_I64(run_child(child_puts_shared, &h), 0, "child");
  char buf[16];
  size_t len;
  ASSERT_RC(parc_queue_get(h.q, buf, sizeof buf, &len, 5.0), 0);
  ASSERT_I64(len, 5, "queue message length");
  ASSERT_RC(parc_pipe_recv(h.pa, buf, sizeof buf, &len, 5.0), 0);
  ASSERT_I64(len, 5, "pipe message length");
  ASSERT_RC(parc_sem_wait(h.sem, 5.0), 0);
  free_handles(&h);
}

/* ------------------------------------------------------------ shm after the pool */

static int add_one_for(int64_t b, int64_t e, void *ctx) {
  _Atomic int64_t *sum = ctx;
  for (int64_t i = b; i < e; i++) atomic_fetch_add(sum, 1);
  return 0;
}

typedef struct ptr_in {
  _Atomic int64_t *target;
} ptr_in;

static int add_through_pointer(const void *in, void *out, void *ctx) {
  ptr_in pi;
  memcpy(&pi, in, sizeof pi);
  atomic_fetch_add(pi.target, 1);
  memset(out, 0, 8);
  return 0;
}

static int count_for(int64_t b, int64_t e, void *ctx) { return 0; }

Test(misuse, shm_made_after_a_process_pool_is_refused_as_a_for_ctx) {
  _Atomic int64_t *before = shm_new(64);
  parc_pool *p = pool_simple(PARC_PROCESSES, 2, NULL);
  _Atomic int64_t *after = shm_new(64);
  ASSERT_RC(parc_for(p, 0, 100, add_one_for, after, NULL), PARC_ENOTSHARED);
  ASSERT_RC(parc_for(p, 0, 100, add_one_for, after + 3, NULL), PARC_ENOTSHARED);
  ASSERT_I64(atomic_load(after), 0, "iterations run on the refused ctx");
  /* by value (ctx_size), or made before the pool: right, and works */
  parc_for_opts fo = {.ctx_size = 64};
  ASSERT_RC(parc_for(p, 0, 100, count_for, after, &fo), 0);
  ASSERT_RC(parc_for(p, 0, 100, add_one_for, before, NULL), 0);
  ASSERT_I64(atomic_load(before), 100,
             "iterations on memory made before the pool");
  ptr_in in[3] = {{before}, {before}, {before}};
  uint64_t out[3];
  ASSERT_RC(parc_map(p, add_through_pointer, in, sizeof in[0], out, 8, 3, NULL),
            0);
  ASSERT_I64(atomic_load(before), 103,
             "tasks through pointers made before the pool");
  parc_pool_destroy(p);
  /* a pool forked after the region maps it */
  p = pool_simple(PARC_PROCESSES, 2, NULL);
  ASSERT_RC(parc_for(p, 0, 100, add_one_for, after, NULL), 0);
  ASSERT_I64(atomic_load(after), 100,
             "iterations in a pool made after the region");
  parc_pool_destroy(p);
  parc_shm_free(before);
  parc_shm_free(after);
}

Test(misuse, thread_pools_share_every_region) {
  parc_pool *p = pool_simple(PARC_THREADS, 2, NULL);
  _Atomic int64_t *after = shm_new(64);
  ASSERT_RC(parc_for(p, 0, 100, add_one_for, after, NULL), 0);
  ptr_in in[3] = {{after}, {after}, {after}};
  uint64_t out[3];
  ASSERT_RC(parc_map(p, add_through_pointer, in, sizeof in[0], out, 8, 3, NULL),
            0);
  ASSERT_I64(atomic_load(after), 103,
             "thread pool through memory made after it");
  parc_pool_destroy(p);
  parc_shm_free(after);
}
