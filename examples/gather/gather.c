/* gather -- seed 004's "gathering of results in a single process": K worker
 * processes each estimate pi on their own slice of a Monte Carlo run and
 * send their partial count to process 0, which adds them up.
 *
 * The lecture shows two ways to talk back to the parent: a Queue ("simple,
 * but non-deterministic") and a Pipe ("explicit communication between two
 * processes, like MPI_Send/MPI_Recv"). This program gathers both ways:
 *   - queue: every worker puts its partial on one PARC_SHARED parc_queue;
 *     the parent takes K messages in whatever order they arrive;
 *   - pipe: worker k has its own parc_pipe; the parent receives from worker
 *     0, then 1, ... so the order is fixed whatever the timing.
 * Each worker's random stream depends only on its rank, so the parent can
 * redo every slice serially and check each partial and the total exactly.
 *
 *   parc-gather [--workers K] [--samples N] [--seed S]
 *               [--channel queue|pipe|both]
 *
 * Exit status: 0 when every partial and the total match the serial run; 1
 * on a mismatch, a failed child or a failed parc call; 2 on a bad command
 * line.
 */
#define _POSIX_C_SOURCE 200809L /* getpid, clock_gettime under -std=c11 */

#include <errno.h>
#include <parc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "example.h"

#define MAX_WORKERS 256
#define WAIT_S 60.0 /* no wait here should take this long: treat as a hang */
#define PI 3.14159265358979323846

enum { CH_QUEUE = 1, CH_PIPE = 2 };

typedef struct {
  unsigned workers;
  uint64_t samples; /* in all, split over the workers like np.array_split */
  uint64_t seed;
  int channels; /* CH_QUEUE, CH_PIPE or both */
} options;

/* What a worker sends back: flat bytes. */
typedef struct {
  uint32_t rank;
  int32_t pid;
  uint64_t samples;
  uint64_t hits;  /* points inside the quarter circle */
  double seconds; /* the worker's compute time */
} partial;

/* What the workers inherit by fork (the pointers are valid in every child;
 * the queue and pipes live in shared memory). */
typedef struct {
  options opt;
  int channel;                  /* the one in use now */
  double serial_s;              /* process 0 doing every slice alone */
  parc_queue *queue;            /* CH_QUEUE */
  parc_pipe *send[MAX_WORKERS]; /* CH_PIPE: worker k's end */
  parc_pipe *recv[MAX_WORKERS]; /* CH_PIPE: the parent's end for worker k */
} gather_ctx;

typedef struct {
  const gather_ctx *ctx;
  unsigned rank;
} worker_arg;

/* splitmix64: fast, and seedable per rank, so each slice is reproducible. */
static uint64_t next_random(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

static double unit_random(uint64_t *state) {
  return (double)(next_random(state) >> 11) * 0x1.0p-53; /* [0, 1) */
}

/* Worker `rank`'s share of the samples: the first (samples % workers)
 * ranks take one more, as np.array_split does. */
static uint64_t slice_size(const options *o, unsigned rank) {
  uint64_t base = o->samples / o->workers;
  return base + (rank < o->samples % o->workers ? 1 : 0);
}

/* The work: how many of n random points in the unit square fall inside the
 * quarter circle. The stream is a function of (seed, rank) only. */
static uint64_t count_hits(uint64_t seed, unsigned rank, uint64_t n) {
  uint64_t state = seed * 0x100000001b3u + rank, hits = 0;
  for (uint64_t i = 0; i < n; i++) {
    double x = unit_random(&state), y = unit_random(&state);
    hits += (x * x + y * y <= 1.0);
  }
  return hits;
}

/* Sends p over the channel in use. */
static int send_partial(const gather_ctx *c, unsigned rank, const partial *p) {
  int rc;
  if (c->channel == CH_QUEUE) {
    rc = parc_queue_put(c->queue, p, sizeof *p, WAIT_S);
    if (rc != 0)
      fprintf(stderr, "worker %u: parc_queue_put: %s\n", rank,
              parc_strerror(rc));
    return rc;
  }
  rc = parc_pipe_send(c->send[rank], p, sizeof *p, WAIT_S);
  if (rc != 0)
    fprintf(stderr, "worker %u: parc_pipe_send: %s\n", rank, parc_strerror(rc));
  /* The parent still gets the message: the other end drains first. */
  parc_pipe_close(c->send[rank]);
  return rc;
}

static int worker(void *arg) {
  worker_arg a;
  memcpy(&a, arg, sizeof a);
  const gather_ctx *c = a.ctx;
  if (c->channel == CH_PIPE) {
    /* Bound from the start: if we die, the parent's recv says so. */
    int rc = parc_pipe_bind(c->send[a.rank]);
    if (rc != 0) {
      fprintf(stderr, "worker %u: parc_pipe_bind: %s\n", a.rank,
              parc_strerror(rc));
      return 1;
    }
  }
  double t0 = ex_now();
  partial p = {a.rank, (int32_t)getpid(), slice_size(&c->opt, a.rank), 0, 0};
  p.hits = count_hits(c->opt.seed, a.rank, p.samples);
  p.seconds = ex_now() - t0;
  return send_partial(c, a.rank, &p) != 0;
}

/* Takes one partial: from the queue (any rank) or from rank's pipe. */
static int receive_partial(const gather_ctx *c, unsigned rank, partial *p) {
  size_t len = 0;
  int rc;
  if (c->channel == CH_QUEUE)
    rc = parc_queue_get(c->queue, p, sizeof *p, &len, WAIT_S);
  else
    rc = parc_pipe_recv(c->recv[rank], p, sizeof *p, &len, WAIT_S);
  if (rc != 0) {
    fprintf(stderr, "gather: %s: %s\n",
            c->channel == CH_QUEUE ? "parc_queue_get" : "parc_pipe_recv",
            parc_strerror(rc));
    return 1;
  }
  if (len != sizeof *p || p->rank >= c->opt.workers ||
      (c->channel == CH_PIPE && p->rank != rank)) {
    fprintf(stderr, "gather: malformed message (%zu bytes)\n", len);
    return 1;
  }
  return 0;
}

/* Process 0's side: K messages, each rank once. by_rank[r] gets rank r's
 * partial; order[i] the rank of the i-th arrival. */
static int gather_all(const gather_ctx *c, partial *by_rank, unsigned *order) {
  unsigned char seen[MAX_WORKERS] = {0};
  for (unsigned i = 0; i < c->opt.workers; i++) {
    partial p;
    if (receive_partial(c, i, &p) != 0)
      return 1;
    if (seen[p.rank]++) {
      fprintf(stderr, "gather: rank %u sent twice\n", (unsigned)p.rank);
      return 1;
    }
    by_rank[p.rank] = p;
    order[i] = p.rank;
  }
  return 0;
}

static int start_workers(const gather_ctx *c, parc_proc **procs) {
  for (unsigned r = 0; r < c->opt.workers; r++) {
    worker_arg a = {c, r};
    fflush(stdout); /* a child must not inherit, and print again, our buffer */
    int rc = parc_proc_start(&procs[r], worker, &a, sizeof a);
    if (rc != 0) {
      fprintf(stderr, "parc_proc_start(worker %u): %s\n", r, ex_strerror(rc));
      for (unsigned j = 0; j < r; j++) parc_proc_free(procs[j]); /* kills it */
      return 1;
    }
  }
  return 0;
}

/* Waits for every worker and frees them; returns how many failed. */
static unsigned join_workers(parc_proc **procs, unsigned n) {
  unsigned failed = 0;
  for (unsigned r = 0; r < n; r++) {
    int pid = parc_proc_pid(procs[r]);
    parc_proc_status st = {0, 0, 0};
    int rc = parc_proc_join(procs[r], &st, WAIT_S);
    if (rc != 0) {
      fprintf(stderr, "worker %u (pid %d): parc_proc_join: %s\n", r, pid,
              parc_strerror(rc));
      failed++;
    } else if (!st.exited || st.exit_code != 0) {
      fprintf(stderr, "worker %u (pid %d): %s %d\n", r, pid,
              st.exited ? "exited with status" : "killed by signal",
              st.exited ? st.exit_code : st.signal);
      failed++;
    }
    parc_proc_free(procs[r]);
  }
  return failed;
}

/* Creates the channel in use, before the fork. */
static int open_channel(gather_ctx *c) {
  int rc = 0;
  if (c->channel == CH_QUEUE) {
    size_t room = c->opt.workers * (sizeof(partial) + 8); /* + framing */
    rc = parc_queue_create(&c->queue, room, sizeof(partial), PARC_SHARED);
    if (rc != 0)
      fprintf(stderr, "parc_queue_create: %s\n", ex_strerror(rc));
    return rc != 0;
  }
  for (unsigned r = 0; r < c->opt.workers && rc == 0; r++) {
    rc = parc_pipe_create(&c->recv[r], &c->send[r], sizeof(partial),
                          PARC_SHARED);
    if (rc != 0)
      fprintf(stderr, "parc_pipe_create(%u): %s\n", r, ex_strerror(rc));
  }
  return rc != 0;
}

/* After the workers are gone: this process's handles. NULL is fine. */
static void close_channel(gather_ctx *c) {
  parc_queue_destroy(c->queue);
  c->queue = NULL;
  for (unsigned r = 0; r < c->opt.workers; r++) {
    parc_pipe_close(c->recv[r]);
    parc_pipe_close(c->send[r]);
    c->recv[r] = c->send[r] = NULL;
  }
}

static void print_partials(const gather_ctx *c, const partial *by_rank,
                           const unsigned *order, double wall) {
  uint64_t hits = 0, samples = 0;
  printf("\ngathered over %s (process 0 is pid %d):\n",
         c->channel == CH_QUEUE ? "one parc_queue, in arrival order"
                                : "one parc_pipe per worker, in rank order",
         (int)getpid());
  printf("  %7s %4s %8s %12s %12s %10s %8s\n", "arrival", "rank", "pid",
         "samples", "hits", "pi", "seconds");
  for (unsigned i = 0; i < c->opt.workers; i++) {
    const partial *p = &by_rank[order[i]];
    double pi = p->samples ? 4.0 * (double)p->hits / (double)p->samples : 0;
    printf("  %7u %4u %8d %12llu %12llu %10.6f %8.3f\n", i, (unsigned)p->rank,
           (int)p->pid, (unsigned long long)p->samples,
           (unsigned long long)p->hits, pi, p->seconds);
    hits += p->hits;
    samples += p->samples;
  }
  printf("  total: %llu hits of %llu samples, pi ~ %.6f\n",
         (unsigned long long)hits, (unsigned long long)samples,
         4.0 * (double)hits / (double)samples);
  printf("  wall, first fork to last partial: %.3f s (serial %.3f s, "
         "speedup %.2f)\n",
         wall, c->serial_s, wall > 0 ? c->serial_s / wall : 0.0);
}

/* Each partial against the serial run of its slice, and the totals.
 * Integers: they must be equal, not close. Returns 0 when they are. */
static int check(const gather_ctx *c, const partial *by_rank,
                 const uint64_t *serial_hits) {
  uint64_t total = 0, expect = 0;
  for (unsigned r = 0; r < c->opt.workers; r++) {
    if (by_rank[r].hits != serial_hits[r] ||
        by_rank[r].samples != slice_size(&c->opt, r)) {
      fprintf(stderr, "rank %u: %llu hits, serial says %llu\n", r,
              (unsigned long long)by_rank[r].hits,
              (unsigned long long)serial_hits[r]);
      return 1;
    }
    total += by_rank[r].hits;
    expect += serial_hits[r];
  }
  printf("  check: total %llu == serial %llu: %s\n", (unsigned long long)total,
         (unsigned long long)expect, total == expect ? "ok" : "MISMATCH");
  return total != expect;
}

/* One gather over one channel: open, fork, gather, join, check, close. */
static int run_channel(gather_ctx *c, int channel,
                       const uint64_t *serial_hits) {
  static partial by_rank[MAX_WORKERS];
  static unsigned order[MAX_WORKERS];
  parc_proc *procs[MAX_WORKERS];
  c->channel = channel;
  if (open_channel(c) != 0) {
    close_channel(c);
    return 1;
  }
  double t0 = ex_now(); /* the forks are part of the parallel run's cost */
  if (start_workers(c, procs) != 0) {
    close_channel(c);
    return 1;
  }
  int rc = gather_all(c, by_rank, order);
  double wall = ex_now() - t0;
  if (join_workers(procs, c->opt.workers) != 0)
    rc = 1;
  close_channel(c);
  if (rc != 0)
    return 1;
  print_partials(c, by_rank, order, wall);
  return check(c, by_rank, serial_hits);
}

static int parse_channel(const char *s, int *ch) {
  if (strcmp(s, "queue") == 0)
    *ch = CH_QUEUE;
  else if (strcmp(s, "pipe") == 0)
    *ch = CH_PIPE;
  else if (strcmp(s, "both") == 0)
    *ch = CH_QUEUE | CH_PIPE;
  else
    return -1;
  return 0;
}

static void usage(FILE *f) {
  fprintf(f, "usage: parc-gather [--workers K] [--samples N] [--seed S] "
             "[--channel queue|pipe|both]\n"
             "  --workers K   worker processes (default 4)\n"
             "  --samples N   Monte Carlo points in all (default 100000000)\n"
             "  --seed S      random seed (default 1)\n"
             "  --channel C   gather over a queue, pipes or both "
             "(default both)\n");
}

/* Returns 0, or 2 on a bad command line (after printing why). */
static int parse_args(int argc, char **argv, options *o) {
  uint64_t v;
  *o = (options){4, 100000000, 1, CH_QUEUE | CH_PIPE};
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
    if (strcmp(a, "--workers") == 0 &&
        ex_parse_u64(val, 1, MAX_WORKERS, &v) == 0)
      o->workers = (unsigned)v;
    else if (strcmp(a, "--samples") == 0 &&
             ex_parse_u64(val, 1, UINT64_MAX / 2, &v) == 0)
      o->samples = v;
    else if (strcmp(a, "--seed") == 0 &&
             ex_parse_u64(val, 0, UINT64_MAX, &v) == 0)
      o->seed = v;
    else if (strcmp(a, "--channel") == 0 &&
             parse_channel(val, &o->channels) == 0)
      continue; /* parse_channel has set it */
    else {
      fprintf(stderr, "bad option: %s %s\n", a, val);
      usage(stderr);
      return 2;
    }
  }
  return 0;
}

/* Process 0 redoes every slice alone: the reference, and the time to beat.
 * Returns that time. */
static double serial_run(const options *o, uint64_t *hits) {
  uint64_t total = 0;
  double t0 = ex_now();
  for (unsigned r = 0; r < o->workers; r++) {
    hits[r] = count_hits(o->seed, r, slice_size(o, r));
    total += hits[r];
  }
  double pi = 4.0 * (double)total / (double)o->samples, t = ex_now() - t0;
  printf("serial, one process: %llu hits of %llu samples, pi ~ %.6f "
         "(error %.1e), %.3f s\n",
         (unsigned long long)total, (unsigned long long)o->samples, pi, pi - PI,
         t);
  return t;
}

int main(int argc, char **argv) {
  static gather_ctx c;
  static uint64_t serial_hits[MAX_WORKERS];
  int rc = parse_args(argc, argv, &c.opt);
  if (rc != 0)
    return rc;
  printf("Monte Carlo pi: %llu samples over %u worker processes, seed %llu; "
         "%u logical CPUs\n\n",
         (unsigned long long)c.opt.samples, c.opt.workers,
         (unsigned long long)c.opt.seed, parc_logical_cpus());
  c.serial_s = serial_run(&c.opt, serial_hits);
  if (c.opt.channels & CH_QUEUE)
    rc |= run_channel(&c, CH_QUEUE, serial_hits);
  if (c.opt.channels & CH_PIPE)
    rc |= run_channel(&c, CH_PIPE, serial_hits);
  printf("\n%s\n", rc == 0 ? "every partial and the total match the serial run"
                           : "FAILED");
  return rc;
}
