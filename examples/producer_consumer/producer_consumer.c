/* producer_consumer -- seed 003's Consumer-Producer with processes: four
 * producers and two consumers share one bounded queue, and one lock keeps
 * their lines whole.
 *
 * The seed starts 4 producer Processes that each put 3 random numbers on a
 * multiprocessing.Queue, and 2 daemon consumers that get forever, and it
 * never stops them: the program just ends. Here the end is part of the
 * protocol: the parent joins the producers, then closes the queue; each
 * consumer drains what is left and sees PARC_ECLOSED, says how many items it
 * got, and returns. Every item carries an id; the consumers count each id
 * they take in parc_shm_alloc memory, and the parent checks that every item
 * was consumed exactly once.
 *
 *   parc-producer_consumer [--producers N] [--consumers N] [--items N]
 *                          [--sleep-ms N] [--room N]
 *
 * Exit status: 0 when every item was consumed exactly once; 1 when one was
 * lost or duplicated, a child failed, or a parc call failed; 2 on a bad
 * command line.
 */
#define _POSIX_C_SOURCE 200809L /* getpid, nanosleep under -std=c11 */

#include <errno.h>
#include <parc.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "example.h"

#if defined(__GNUC__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

#define MAX_ROLE 64 /* producers or consumers at most */
#define WAIT_S 30.0 /* no wait here should take this long: treat as a hang */
#define SHOW_BAD 10 /* lost or duplicated ids listed at most */

typedef struct {
  unsigned producers;
  unsigned consumers;
  uint32_t items;    /* per producer */
  unsigned sleep_ms; /* a producer naps up to this before each put, a
                        consumer up to a third of it after each get */
  unsigned room;     /* the queue's capacity, in items */
} options;

/* One message: flat bytes, copied into the queue's shared memory. */
typedef struct {
  uint32_t producer;
  uint32_t seq;  /* 0..items-1 within its producer */
  int32_t value; /* the seed's randint(0, 100) */
  int32_t pid;   /* the producer's */
} item;

/* Everything the children use. They inherit it by fork, so the pointers
 * mean the same in every child; what they point to is shared (PARC_SHARED
 * objects and parc_shm_alloc memory), so a child's writes reach the parent. */
typedef struct {
  options opt;
  parc_queue *queue;
  parc_lock *print_lock;
  _Atomic uint32_t *taken; /* shm, one per item id: times it was consumed */
  uint64_t *got;           /* shm, one per consumer, written by that one */
} shared_ctx;

/* A child's argument: copied into the child by parc_proc_start. */
typedef struct {
  const shared_ctx *ctx;
  unsigned idx; /* producer or consumer number */
} role_arg;

typedef int (*role_fn)(void *arg);

/* Prints one line while holding the shared lock. The flush happens before
 * the release: each process has its own stdio buffer, and the line must
 * reach the terminal before the next holder writes its own. */
PRINTF_LIKE(2, 3)
static int say(parc_lock *lock, const char *fmt, ...) {
  int rc = parc_lock_acquire(lock, WAIT_S);
  if (rc == PARC_EOWNERDEAD) /* a printer died mid-line; nothing to repair */
    rc = parc_lock_consistent(lock);
  if (rc != 0) {
    fprintf(stderr, "pid %d: parc_lock_acquire: %s\n", (int)getpid(),
            parc_strerror(rc));
    return rc;
  }
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  fflush(stdout);
  rc = parc_lock_release(lock);
  if (rc != 0)
    fprintf(stderr, "pid %d: parc_lock_release: %s\n", (int)getpid(),
            parc_strerror(rc));
  return rc;
}

/* splitmix64: each process seeds its own generator from its role and
 * number, as the seed gives each process its own RandomState(pid). */
static uint64_t next_random(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static uint32_t uniform(uint64_t *state, uint32_t n) {
  return n == 0 ? 0 : (uint32_t)(next_random(state) % n);
}

/* Sleeps a random time in [0, max_ms] milliseconds: stands in for work. */
static void nap(uint64_t *state, unsigned max_ms) {
  uint32_t us = uniform(state, max_ms * 1000u + 1u);
  struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static int producer(void *arg) {
  role_arg a;
  memcpy(&a, arg, sizeof a);
  const shared_ctx *c = a.ctx;
  uint64_t rng = 1000u + a.idx;
  for (uint32_t i = 0; i < c->opt.items; i++) {
    nap(&rng, c->opt.sleep_ms);
    item it = {a.idx, i, (int32_t)uniform(&rng, 100), (int32_t)getpid()};
    /* As in the seed, say first, then put: no consumer can report an item
     * before its producer has. */
    if (say(c->print_lock,
            "producer %u (pid %d) put %2d in queue   [item %u.%u]\n", a.idx,
            (int)it.pid, (int)it.value, a.idx, i) != 0)
      return 1;
    int rc = parc_queue_put(c->queue, &it, sizeof it, WAIT_S);
    if (rc != 0) {
      fprintf(stderr, "producer %u: parc_queue_put: %s\n", a.idx,
              parc_strerror(rc));
      return 1;
    }
  }
  return 0;
}

/* Counts one received item; returns 0, or 1 if it is not a valid item. */
static int record(const shared_ctx *c, const item *it, size_t len) {
  if (len != sizeof *it || it->producer >= c->opt.producers ||
      it->seq >= c->opt.items) {
    fprintf(stderr, "consumer: malformed message (%zu bytes)\n", len);
    return 1;
  }
  uint64_t id = (uint64_t)it->producer * c->opt.items + it->seq;
  atomic_fetch_add_explicit(&c->taken[id], 1, memory_order_relaxed);
  return 0;
}

static int consumer(void *arg) {
  role_arg a;
  memcpy(&a, arg, sizeof a);
  const shared_ctx *c = a.ctx;
  uint64_t rng = 2000u + a.idx, got = 0;
  int me = (int)getpid();
  for (;;) {
    item it;
    size_t len = 0;
    int rc = parc_queue_get(c->queue, &it, sizeof it, &len, WAIT_S);
    if (rc == PARC_ECLOSED)
      break; /* closed by the parent, and drained: the clean way out */
    if (rc != 0) {
      fprintf(stderr, "consumer %u: parc_queue_get: %s\n", a.idx,
              parc_strerror(rc));
      return 1;
    }
    if (record(c, &it, len) != 0)
      return 1;
    got++;
    nap(&rng, c->opt.sleep_ms / 3);
    if (say(c->print_lock,
            "consumer %u (pid %d) got %2d from producer %u "
            "(pid %d)\n",
            a.idx, me, (int)it.value, (unsigned)it.producer, (int)it.pid) != 0)
      return 1;
  }
  c->got[a.idx] = got;
  return say(c->print_lock,
             "consumer %u (pid %d): queue closed and drained, "
             "got %llu items\n",
             a.idx, me, (unsigned long long)got) != 0;
}

/* Starts n children running fn; on failure frees those started (which
 * kills them) and returns the error. */
static int start_group(parc_proc **procs, unsigned n, role_fn fn,
                       const shared_ctx *ctx, const char *what) {
  for (unsigned i = 0; i < n; i++) {
    role_arg a = {ctx, i};
    fflush(stdout); /* a child must not inherit, and print again, our buffer */
    int rc = parc_proc_start(&procs[i], fn, &a, sizeof a);
    if (rc != 0) {
      fprintf(stderr, "parc_proc_start(%s %u): %s\n", what, i, ex_strerror(rc));
      for (unsigned j = 0; j < i; j++) {
        parc_proc_free(procs[j]);
        procs[j] = NULL;
      }
      return rc;
    }
  }
  return 0;
}

/* Waits for n children and frees them; returns how many failed. */
static unsigned join_group(parc_proc **procs, unsigned n, const char *what) {
  unsigned failed = 0;
  for (unsigned i = 0; i < n; i++) {
    int pid = parc_proc_pid(procs[i]);
    parc_proc_status st = {0, 0, 0};
    int rc = parc_proc_join(procs[i], &st, 2 * WAIT_S);
    if (rc != 0) {
      fprintf(stderr, "%s %u (pid %d): parc_proc_join: %s\n", what, i, pid,
              parc_strerror(rc));
      failed++;
    } else if (!st.exited || st.exit_code != 0) {
      fprintf(stderr, "%s %u (pid %d): %s %d\n", what, i, pid,
              st.exited ? "exited with status" : "killed by signal",
              st.exited ? st.exit_code : st.signal);
      failed++;
    }
    parc_proc_free(procs[i]); /* kills it if the join timed out */
    procs[i] = NULL;
  }
  return failed;
}

/* The exactly-once check: every id taken once, the consumers' counts add
 * up, and the queue agrees. Returns 0 when all of that holds. */
static int check_once(const shared_ctx *c) {
  uint64_t total = (uint64_t)c->opt.producers * c->opt.items, sum = 0;
  uint64_t lost = 0, dup = 0, shown = 0;
  for (uint64_t id = 0; id < total; id++) {
    uint32_t n = atomic_load_explicit(&c->taken[id], memory_order_relaxed);
    lost += (n == 0);
    dup += (n > 1);
    if (n != 1 && shown++ < SHOW_BAD)
      fprintf(stderr, "item %llu.%llu consumed %u times\n",
              (unsigned long long)(id / c->opt.items),
              (unsigned long long)(id % c->opt.items), n);
  }
  printf("\nparent (pid %d): %llu items produced\n", (int)getpid(),
         (unsigned long long)total);
  for (unsigned i = 0; i < c->opt.consumers; i++) {
    printf("  consumer %u got %llu\n", i, (unsigned long long)c->got[i]);
    sum += c->got[i];
  }
  uint64_t taken = 0, queued = 0;
  parc_queue_stats(c->queue, &taken, &queued);
  printf("  consumers' total %llu; queue: %llu taken, %llu left\n",
         (unsigned long long)sum, (unsigned long long)taken,
         (unsigned long long)queued);
  printf("  lost %llu, duplicated %llu\n", (unsigned long long)lost,
         (unsigned long long)dup);
  int ok = lost == 0 && dup == 0 && sum == total && taken == total &&
           queued == 0;
  printf("%s\n", ok ? "every item was consumed exactly once"
                    : "FAILED: items were lost or consumed twice");
  return ok ? 0 : 1;
}

static void usage(FILE *f) {
  fprintf(f, "usage: parc-producer_consumer [--producers N] [--consumers N] "
             "[--items N] [--sleep-ms N] [--room N]\n"
             "  --producers N  producer processes (default 4)\n"
             "  --consumers N  consumer processes (default 2)\n"
             "  --items N      items each producer puts (default 3)\n"
             "  --sleep-ms N   a producer naps up to N ms before each put, "
             "a consumer\n"
             "                 up to N/3 ms after each get (default 300)\n"
             "  --room N       queue capacity in items (default 4)\n");
}

/* Returns 0, or 2 on a bad command line (after printing why). */
static int parse_args(int argc, char **argv, options *o) {
  uint64_t v;
  *o = (options){4, 2, 3, 300, 4};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      exit(0);
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "%s: unknown option or missing value\n", a);
      usage(stderr);
      return 2;
    }
    const char *val = argv[++i];
    if (strcmp(a, "--producers") == 0 &&
        ex_parse_u64(val, 1, MAX_ROLE, &v) == 0)
      o->producers = (unsigned)v;
    else if (strcmp(a, "--consumers") == 0 &&
             ex_parse_u64(val, 1, MAX_ROLE, &v) == 0)
      o->consumers = (unsigned)v;
    else if (strcmp(a, "--items") == 0 &&
             ex_parse_u64(val, 1, 1u << 20, &v) == 0)
      o->items = (uint32_t)v;
    else if (strcmp(a, "--sleep-ms") == 0 &&
             ex_parse_u64(val, 0, 10000, &v) == 0)
      o->sleep_ms = (unsigned)v;
    else if (strcmp(a, "--room") == 0 &&
             ex_parse_u64(val, 1, 1u << 16, &v) == 0)
      o->room = (unsigned)v;
    else {
      fprintf(stderr, "bad option: %s %s\n", a, val);
      usage(stderr);
      return 2;
    }
  }
  return 0;
}

/* Makes the shared objects, before any fork: only processes forked after
 * their creation can use them. Returns 0 or 1 (after printing why). */
static int setup(shared_ctx *c) {
  size_t total = (size_t)c->opt.producers * c->opt.items;
  c->taken = parc_shm_alloc(total * sizeof *c->taken);
  c->got = parc_shm_alloc(c->opt.consumers * sizeof *c->got);
  if (c->taken == NULL || c->got == NULL) {
    perror("parc_shm_alloc");
    return 1;
  }
  int rc = parc_lock_create(&c->print_lock, PARC_SHARED);
  if (rc != 0) {
    fprintf(stderr, "parc_lock_create: %s\n", ex_strerror(rc));
    return 1;
  }
  /* Each message also costs 8 bytes of framing in the queue. */
  rc = parc_queue_create(&c->queue, c->opt.room * (sizeof(item) + 8),
                         sizeof(item), PARC_SHARED);
  if (rc != 0) {
    fprintf(stderr, "parc_queue_create: %s\n", ex_strerror(rc));
    return 1;
  }
  return 0;
}

static void teardown(shared_ctx *c) {
  parc_queue_destroy(c->queue);
  parc_lock_destroy(c->print_lock);
  if (c->taken != NULL)
    parc_shm_free((void *)c->taken);
  if (c->got != NULL)
    parc_shm_free(c->got);
}

/* Producers, then consumers, as the seed starts them; join the producers,
 * close the queue, join the consumers. Returns the number of failures. */
static unsigned run(shared_ctx *c) {
  parc_proc *prod[MAX_ROLE], *cons[MAX_ROLE];
  if (start_group(prod, c->opt.producers, producer, c, "producer") != 0)
    return 1;
  if (start_group(cons, c->opt.consumers, consumer, c, "consumer") != 0) {
    parc_queue_close(c->queue); /* lets the producers finish or fail */
    join_group(prod, c->opt.producers, "producer");
    return 1;
  }
  unsigned failed = join_group(prod, c->opt.producers, "producer");
  /* Every put has returned: close, and the consumers drain, then stop. */
  parc_queue_close(c->queue);
  if (say(c->print_lock, "parent (pid %d): producers joined, queue closed\n",
          (int)getpid()) != 0)
    failed++;
  failed += join_group(cons, c->opt.consumers, "consumer");
  return failed;
}

int main(int argc, char **argv) {
  shared_ctx c;
  memset(&c, 0, sizeof c);
  int rc = parse_args(argc, argv, &c.opt);
  if (rc != 0)
    return rc;
  printf("parent pid %d: %u producers x %u items, %u consumers, "
         "queue room for %u items\n\n",
         (int)getpid(), c.opt.producers, (unsigned)c.opt.items, c.opt.consumers,
         c.opt.room);
  rc = setup(&c);
  if (rc == 0 && run(&c) != 0) {
    fprintf(stderr, "a child failed\n");
    rc = 1;
  }
  if (rc == 0)
    rc = check_once(&c);
  teardown(&c);
  return rc;
}
