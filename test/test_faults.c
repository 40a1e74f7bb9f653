/* test_faults.c -- every failure on a create path returns an error and
 * leaks nothing; system failures say why.
 *
 * Linked with parc_faulty, the library with the failure-injection switch
 * (src/sys/fault.h). A sweep arms the switch to fail the 1st, 2nd, 3rd...
 * allocation or system call of a path (a create, a first use, a destroy),
 * until a run gets through without reaching the armed one. Each run must
 * end in success or in an error code -- never a crash or a hang -- and
 * leave the process as it found it: descriptors, children, zombies,
 * mappings, threads and heap bytes in use.
 *
 * A failure can also land in a worker: a thread of the pool, or a process
 * forked while the switch was armed (which counts on in its own copy).
 * The calls that follow then report errors, which is right; they must
 * still return. */
#include "testutil.h"
#include "leakcheck.h"

#include <malloc.h>
#include <sys/resource.h>

#include "sys/fault.h"

/* ------------------------------------------------------------ heap count
 * Blocks in use in this process, counted by wrapping the C library's
 * allocator (glibc lets a program replace malloc; these forward to it).
 * mallinfo cannot say: a freed block in a thread's cache counts as used.
 * Not under the sanitizers, which replace malloc themselves and find
 * leaks on their own (LeakSanitizer). */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define COUNT_BLOCKS 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static _Atomic long blocks;

void *malloc(size_t n) {
  void *p = __libc_malloc(n);
  if (p)
    atomic_fetch_add_explicit(&blocks, 1, memory_order_relaxed);
  return p;
}
void *calloc(size_t n, size_t s) {
  void *p = __libc_calloc(n, s);
  if (p)
    atomic_fetch_add_explicit(&blocks, 1, memory_order_relaxed);
  return p;
}
void *realloc(void *old, size_t n) {
  void *p = __libc_realloc(old, n);
  if (p && !old)
    atomic_fetch_add_explicit(&blocks, 1, memory_order_relaxed);
  if (!p && old && n == 0)
    atomic_fetch_sub_explicit(&blocks, 1, memory_order_relaxed);
  return p;
}
void *memalign(size_t a, size_t n) {
  void *p = __libc_memalign(a, n);
  if (p)
    atomic_fetch_add_explicit(&blocks, 1, memory_order_relaxed);
  return p;
}
void *aligned_alloc(size_t a, size_t n) { return memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
  void *p = memalign(a, n);
  if (!p)
    return ENOMEM;
  *out = p;
  return 0;
}
void free(void *p) {
  if (p)
    atomic_fetch_sub_explicit(&blocks, 1, memory_order_relaxed);
  __libc_free(p);
}
#endif

static void faults_init(void) {
  no_core_dumps();
  mallopt(M_ARENA_MAX, 1); /* one arena: the count of mappings holds still */
}

TestSuite(faults, .init = faults_init, .timeout = 240);

/* A path: does its thing from scratch to the end, undoing what it made.
 * Returns the first error it met (0: none). */
typedef int (*path_fn)(void);

typedef struct usage {
  lc_snapshot proc;
  long heap; /* blocks in use */
} usage;

static void take_usage(usage *u) {
  lc_take(&u->proc);
#ifdef COUNT_BLOCKS
  u->heap = atomic_load(&blocks);
#else
  u->heap = 0;
#endif
}

static bool is_failure_code(int rc) {
  return rc == PARC_ENOMEM || rc == PARC_ESYS || rc == PARC_EINIT ||
         rc == PARC_EBROKEN || rc == PARC_EWORKER || rc == PARC_ECLOSED ||
         rc == PARC_ETASK; /* a bytes task whose result had no memory */
}

/* Processes the path forked may still be on their way out. */
static void settle(const usage *before) {
  double until = now_s() + 10;
  while (lc_descendants() > before->proc.descendants && now_s() < until)
    sleep_s(0.005);
}

static void check_same(const usage *a, const usage *b, const char *path,
                       uint64_t n, const char *site) {
  const char *s = site ? site : "(none)";
  ASSERT_I64(b->proc.fds, a->proc.fds, "%s, failure %llu at %s: open fds", path,
             (unsigned long long)n, s);
  ASSERT_I64(b->proc.children, a->proc.children,
             "%s, failure %llu at %s: children", path, (unsigned long long)n,
             s);
  ASSERT_I64(b->proc.zombies, a->proc.zombies,
             "%s, failure %llu at %s: zombies", path, (unsigned long long)n, s);
  ASSERT_I64(b->proc.descendants, a->proc.descendants,
             "%s, failure %llu at %s: live descendants", path,
             (unsigned long long)n, s);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  /* sanitizer allocators map memory as they go, and keep no mallinfo; they
   * find leaked memory themselves (LeakSanitizer, at exit) */
  ASSERT_I64(b->proc.maps, a->proc.maps, "%s, failure %llu at %s: mappings",
             path, (unsigned long long)n, s);
  ASSERT_I64(b->heap, a->heap, "%s, failure %llu at %s: heap blocks in use",
             path, (unsigned long long)n, s);
#endif
  ASSERT_I64(b->proc.threads, a->proc.threads,
             "%s, failure %llu at %s: threads", path, (unsigned long long)n, s);
}

/* Fails each check of `path` in turn; returns how many there were. */
static uint64_t sweep(const char *name, path_fn path) {
  for (int i = 0; i < 2;
       i++) /* first-use caches (topology, pid) are not leaks */
    ASSERT_RC(path(), 0);
  uint64_t n;
  for (n = 1;; n++) {
    usage before, after;
    take_usage(&before);
    parc__fault_arm(n);
    int rc = path();
    const char *site = parc__fault_disarm();
    /* No failure here and none in a child (which would show as an error):
     * the armed check is past the end of the path. */
    if (site == NULL && rc == 0)
      break;
    cr_assert(is_failure_code(rc) || rc == 0,
              "%s, failure %llu at %s: returned %d (%s)", name,
              (unsigned long long)n, site ? site : "(in a child)", rc,
              errname(rc));
    settle(&before);
    take_usage(&after);
    check_same(&before, &after, name, n, site);
    cr_assert_lt(n, 10000, "%s: no end to the checks", name);
  }
  return n - 1;
}

/* ------------------------------------------------------------ pools */

static int twice_task(const void *in, void *out, void *ctx) {
  uint64_t x;
  memcpy(&x, in, 8);
  x *= 2;
  memcpy(out, &x, 8);
  return 0;
}

static int sum_combine(void *acc, const void *item, void *ctx) {
  uint64_t a, b;
  memcpy(&a, acc, 8);
  memcpy(&b, item, 8);
  a += b;
  memcpy(acc, &a, 8);
  return 0;
}

static int count_for(int64_t b, int64_t e, void *ctx) { return 0; }

static int ok_init(void *ctx, unsigned worker) { return 0; }

static int echo_bytes(const void *in, size_t len, parc_result *res, void *ctx) {
  return parc_result_set(res, in, len) == 0 ? 0 : 1;
}

/* A pool's whole life: create, a map, a future, a map-reduce, a for,
 * destroy. Every wait is bounded: a failure must not become a hang. */
static int pool_life(parc_backend backend, bool with_init) {
  parc_pool *p = NULL;
  parc_pool_opts o = {.backend = backend, .workers = 2};
  if (with_init)
    o.init = ok_init;
  int rc = parc_pool_create(&p, &o);
  if (rc != 0) {
    cr_assert_null(p, "a failed create wrote a pool");
    return rc;
  }
  enum { N = 64 };
  uint64_t in[N], out[N], sum = 0, zero = 0;
  for (int i = 0; i < N; i++) in[i] = (uint64_t)i;
  parc_map_opts mo = {.timeout = 30};
  int first = parc_map(p, twice_task, in, 8, out, 8, N, &mo);
  parc_future *f = NULL;
  rc = parc_submit(p, twice_task, &in[3], 8, 8, &f);
  if (rc == 0) {
    uint64_t r;
    rc = parc_future_wait(f, &r, 30, NULL);
    parc_future_free(f);
  }
  if (first == 0)
    first = rc;
  rc = parc_map_reduce(p, twice_task, in, 8, N, sum_combine, &zero, &sum, 8,
                       &mo);
  if (first == 0)
    first = rc;
  parc_for_opts fo = {.timeout = 30};
  rc = parc_for(p, 0, 1000, count_for, NULL, &fo);
  if (first == 0)
    first = rc;
  parc_bytes bin[3] = {{in, 8}, {in, 0}, {in, 100}}, bout[3];
  rc = parc_map_bytes(p, echo_bytes, bin, bout, 3, &mo);
  for (int i = 0; i < 3; i++) free(bout[i].data);
  if (first == 0)
    first = rc;
  rc = parc_submit_bytes(p, echo_bytes, in, 16, &f);
  if (rc == 0) {
    rc = parc_future_wait(f, NULL, 30, NULL);
    parc_future_free(f);
  }
  if (first == 0)
    first = rc;
  parc_pool_destroy(p);
  return first;
}

static int thread_pool_life(void) { return pool_life(PARC_THREADS, false); }
static int process_pool_life(void) { return pool_life(PARC_PROCESSES, false); }
static int process_pool_with_init_life(void) {
  return pool_life(PARC_PROCESSES, true);
}

Test(faults, every_failure_in_a_thread_pool_is_an_error_and_leaks_nothing) {
  cr_assert_gt(sweep("thread pool", thread_pool_life), 10,
               "too few checks swept");
}

Test(faults, every_failure_in_a_process_pool_is_an_error_and_leaks_nothing) {
  cr_assert_gt(sweep("process pool", process_pool_life), 10,
               "too few checks swept");
}

Test(faults,
     every_failure_in_a_process_pool_with_init_is_an_error_and_leaks_nothing) {
  cr_assert_gt(sweep("process pool with init", process_pool_with_init_life), 10,
               "too few checks swept");
}

/* ------------------------------------------------------------ channels */

static int queue_life(int flags) {
  parc_queue *q = NULL;
  int rc = parc_queue_create(&q, 4096, 256, flags);
  if (rc != 0)
    return rc;
  char buf[256];
  size_t len;
  rc = parc_queue_put(q, "abc", 3, 1);
  if (rc == 0)
    rc = parc_queue_get(q, buf, sizeof buf, &len, 1);
  parc_queue_close(q);
  parc_queue_destroy(q);
  return rc;
}

static int pipe_life(int flags) {
  parc_pipe *a = NULL, *b = NULL;
  int rc = parc_pipe_create(&a, &b, 256, flags);
  if (rc != 0) {
    cr_assert(a == NULL && b == NULL, "a failed pipe_create wrote an end");
    return rc;
  }
  char buf[256];
  size_t len;
  rc = parc_pipe_send(a, "abc", 3, 1);
  if (rc == 0)
    rc = parc_pipe_recv(b, buf, sizeof buf, &len, 1);
  parc_pipe_close(a);
  parc_pipe_close(b);
  return rc;
}

static int sync_life(int flags) {
  parc_lock *l = NULL;
  parc_sem *s = NULL;
  parc_barrier *b = NULL;
  int rc = parc_lock_create(&l, flags);
  if (rc == 0)
    rc = parc_sem_create(&s, 1, flags);
  if (rc == 0)
    rc = parc_barrier_create(&b, 1, flags);
  if (rc == 0)
    rc = parc_lock_acquire(l, 1);
  if (rc == 0)
    rc = parc_lock_release(l);
  if (rc == 0)
    rc = parc_sem_wait(s, 1);
  if (rc == 0)
    rc = parc_barrier_wait(b, 1);
  parc_barrier_destroy(b);
  parc_sem_destroy(s);
  parc_lock_destroy(l);
  return rc;
}

static int child_fn(void *arg) { return 7; }
static int thread_fn(void *arg) { return 5; }

static int proc_and_thread_life(void) {
  parc_proc *c = NULL;
  int rc = parc_proc_start(&c, child_fn, NULL, 0);
  if (rc == 0) {
    parc_proc_status st;
    rc = parc_proc_join(c, &st, 30);
    parc_proc_free(c);
  }
  parc_thread *t = NULL;
  int trc = parc_thread_start(&t, thread_fn, NULL);
  if (trc == 0) {
    int got;
    trc = parc_thread_join(t, &got, 30);
  }
  return rc ? rc : trc;
}

static int private_channels_life(void) {
  int rc = queue_life(0);
  int r2 = pipe_life(0);
  int r3 = sync_life(0);
  return rc ? rc : r2 ? r2 : r3;
}

static int shared_channels_life(void) {
  int rc = queue_life(PARC_SHARED);
  int r2 = pipe_life(PARC_SHARED);
  int r3 = sync_life(PARC_SHARED);
  return rc ? rc : r2 ? r2 : r3;
}

Test(
    faults,
    every_failure_in_private_channels_and_locks_is_an_error_and_leaks_nothing) {
  cr_assert_gt(sweep("private channels", private_channels_life), 5,
               "too few checks swept");
}

Test(faults,
     every_failure_in_shared_channels_and_locks_is_an_error_and_leaks_nothing) {
  cr_assert_gt(sweep("shared channels", shared_channels_life), 10,
               "too few checks swept");
}

Test(faults,
     every_failure_starting_a_process_or_thread_is_an_error_and_leaks_nothing) {
  cr_assert_gt(sweep("process and thread", proc_and_thread_life), 3,
               "too few checks swept");
}

/* ------------------------------------------------------------ reasons */

/* The first check of the given site fails: which one, found by arming
 * each position until that site is the one that failed. */
static int fail_site(const char *want, path_fn path, const char **got) {
  for (uint64_t n = 1; n < 10000; n++) {
    parc__fault_arm(n);
    int rc = path();
    *got = parc__fault_disarm();
    if (*got == NULL)
      return 0;
    if (strcmp(*got, want) == 0)
      return rc;
  }
  return 0;
}

static void check_reason(const char *site, int code, path_fn path) {
  const char *got;
  int rc = fail_site(site, path, &got);
  cr_assert_not_null(got, "no %s on the path", site);
  ASSERT_RC(rc, PARC_ESYS);
  parc_sys_error e;
  parc_last_sys_error(&e);
  cr_assert_not_null(e.call, "no reason noted for a failed %s", site);
  cr_expect_str_eq(e.call, site, "the call named as failing");
  ASSERT_I64(e.code, code, "the reason of %s", site);
  ASSERT_I64(e.is_mpi, 0, "is_mpi");
  char want[300];
  snprintf(want, sizeof want, "%s: %s", site, strerror(code));
  cr_expect_str_eq(e.message, want, "the message");
}

Test(faults, a_failed_fork_says_fork_and_its_errno) {
  check_reason("fork", EAGAIN, process_pool_life);
}

Test(faults, a_failed_pthread_create_says_its_return_code) {
  check_reason("pthread_create", EAGAIN, thread_pool_life);
}

Test(faults, a_failed_memfd_create_says_emfile) {
  check_reason("memfd_create", EMFILE, shared_channels_life);
}

Test(faults, a_failed_mutex_init_says_its_return_code) {
  check_reason("pthread_mutex_init", ENOMEM, private_channels_life);
}

/* Not injected: the kernel refuses, and the reason is the kernel's. */
Test(faults, a_process_pool_without_descriptors_left_says_memfd_create_emfile) {
  ASSERT_RC(process_pool_life(), 0); /* warm: nothing left to open lazily */
  struct rlimit old, rl;
  getrlimit(RLIMIT_NOFILE, &old);
  rl = old;
  int lowest = dup(0); /* the descriptor the next open would get */
  cr_assert_geq(lowest, 0);
  close(lowest);
  rl.rlim_cur = (rlim_t)lowest; /* no descriptor free */
  cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
  parc_pool *p = NULL;
  parc_pool_opts o = {.backend = PARC_PROCESSES, .workers = 1};
  int rc = parc_pool_create(&p, &o);
  setrlimit(RLIMIT_NOFILE, &old);
  ASSERT_RC(rc, PARC_ESYS);
  parc_sys_error e;
  parc_last_sys_error(&e);
  cr_assert_not_null(e.call, "no reason noted");
  cr_expect_str_eq(e.call, "memfd_create", "failing call");
  ASSERT_I64(e.code, EMFILE, "errno of memfd_create");
  ASSERT_I64(errno, EMFILE, "errno");
  parc_pool_destroy(p);
}
