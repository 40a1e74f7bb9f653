/* reduction_tree -- seed 004's "reduction algorithms": P processes each hold
 * a value, and a binary tree of parc_pipes brings the sum to process 0 in
 * log2(P) steps instead of P-1.
 *
 * Step k has stride s = 2^k. A rank with bit k set sends its partial sum to
 * rank - s and is done; a rank whose low k+1 bits are clear receives from
 * rank + s and adds. For P = 8:
 *
 *   step 0:  0<-1  2<-3  4<-5  6<-7
 *   step 1:  0<-2        4<-6
 *   step 2:  0<-4
 *
 * Every edge of the tree is one parc_pipe, made before the fork. Process 0
 * is this process; ranks 1..P-1 are parc_proc_start children. Each receiver
 * logs what it got into parc_shm_alloc memory, so process 0 can print the
 * steps in order afterwards (the children run concurrently: printing as
 * they go would shuffle the lines of a step).
 *
 * Each rank holds an integer (summed exactly: the check) and a double
 * 1/(rank+1) (summed in tree order, which is not the linear order: floating
 * point addition is not associative, so the last bits may differ).
 *
 *   parc-reduction_tree [--procs P] [--seed S]
 *
 * Exit status: 0 when the tree's integer sum equals the linear sum; 1 when
 * it does not, a child failed or a parc call failed; 2 on a bad command
 * line (P must be a power of two).
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

#define MAX_PROCS 256
#define MAX_STEPS 8 /* log2(MAX_PROCS) */
#define WAIT_S 30.0 /* no wait here should take this long: treat as a hang */

typedef struct {
  unsigned procs; /* P, a power of two */
  uint64_t seed;
} options;

/* What travels up an edge: flat bytes. */
typedef struct {
  int64_t isum;
  double dsum;
} partial;

/* What a receiver saw at one step; written by that receiver only. */
typedef struct {
  int32_t from; /* -1: this rank received nothing at this step */
  partial mine, got, after;
  double at_s; /* when, since the start of the reduction */
} step_log;

/* What every rank inherits by fork. Edge j (1 <= j < P) carries rank j's
 * partial to rank j - lowbit(j): j sends on up[j], its parent receives on
 * down[j]. */
typedef struct {
  options opt;
  unsigned steps; /* log2(P) */
  double t0;      /* CLOCK_MONOTONIC, same clock in every process */
  parc_pipe *down[MAX_PROCS];
  parc_pipe *up[MAX_PROCS];
  step_log *log; /* shm: steps x P */
  int32_t *pids; /* shm: P */
} tree_ctx;

typedef struct {
  tree_ctx *ctx; /* valid in the child: it is a copy of this process */
  unsigned rank;
} rank_arg;

static uint64_t mix(uint64_t z) { /* splitmix64's finaliser */
  z += 0x9e3779b97f4a7c15u;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/* Rank r's own value: anything the parent can recompute. */
static partial initial_value(const options *o, unsigned rank) {
  partial p = {(int64_t)(mix(o->seed * 1000003u + rank) % 1000u),
               1.0 / (double)(rank + 1)};
  return p;
}

/* Binds, at the start, every end this rank will use, so that if it dies
 * its peers' calls return PARC_ECLOSED instead of waiting. */
static int bind_ends(const tree_ctx *c, unsigned rank) {
  for (unsigned s = 1; s < c->opt.procs; s <<= 1) {
    parc_pipe *e = (rank & s) ? c->up[rank] : c->down[rank + s];
    int rc = parc_pipe_bind(e);
    if (rc != 0) {
      fprintf(stderr, "rank %u: parc_pipe_bind: %s\n", rank, parc_strerror(rc));
      return rc;
    }
    if (rank & s)
      break; /* a sender is done after its send */
  }
  return 0;
}

/* Ends are closed, and forgotten, as soon as they are done with; teardown
 * closes what is left of this process's handles. */
static void close_end(parc_pipe **e) {
  parc_pipe_close(*e);
  *e = NULL;
}

static int send_up(tree_ctx *c, unsigned rank, const partial *acc) {
  int rc = parc_pipe_send(c->up[rank], acc, sizeof *acc, WAIT_S);
  if (rc != 0)
    fprintf(stderr, "rank %u: parc_pipe_send: %s\n", rank, parc_strerror(rc));
  close_end(&c->up[rank]); /* the receiver still drains what was sent */
  return rc;
}

/* Receives rank `from`'s partial at step k and adds it into *acc. */
static int receive_add(tree_ctx *c, unsigned rank, unsigned k, unsigned from,
                       partial *acc) {
  partial got;
  size_t len = 0;
  int rc = parc_pipe_recv(c->down[from], &got, sizeof got, &len, WAIT_S);
  close_end(&c->down[from]);
  if (rc != 0 || len != sizeof got) {
    fprintf(stderr, "rank %u: parc_pipe_recv from rank %u: %s\n", rank, from,
            rc != 0 ? parc_strerror(rc) : "wrong size");
    return 1;
  }
  step_log *l = &c->log[k * c->opt.procs + rank];
  *l = (step_log){(int32_t)from, *acc, got, *acc, ex_now() - c->t0};
  acc->isum += got.isum;
  acc->dsum += got.dsum;
  l->after = *acc;
  return 0;
}

/* One rank's part of the tree; process 0 ends with the sum in *acc. `c` is
 * this process's copy: only its pipe handles change. */
static int reduce(tree_ctx *c, unsigned rank, partial *acc) {
  unsigned k = 0;
  for (unsigned s = 1; s < c->opt.procs; s <<= 1, k++) {
    if (rank & s)
      return send_up(c, rank, acc) != 0;
    /* rank's low k+1 bits are clear and P is a power of two: rank+s < P */
    if (receive_add(c, rank, k, rank + s, acc) != 0)
      return 1;
  }
  return 0;
}

static int rank_main(void *arg) {
  rank_arg a;
  memcpy(&a, arg, sizeof a);
  tree_ctx *c = a.ctx;
  c->pids[a.rank] = (int32_t)getpid();
  if (bind_ends(c, a.rank) != 0)
    return 1;
  partial acc = initial_value(&c->opt, a.rank);
  return reduce(c, a.rank, &acc);
}

/* Makes the shared log and one pipe per tree edge, before any fork. */
static int setup(tree_ctx *c) {
  unsigned p = c->opt.procs;
  c->log = parc_shm_alloc((size_t)(c->steps ? c->steps : 1) * p *
                          sizeof *c->log);
  c->pids = parc_shm_alloc(p * sizeof *c->pids);
  if (c->log == NULL || c->pids == NULL) {
    perror("parc_shm_alloc");
    return 1;
  }
  for (size_t i = 0; i < (size_t)c->steps * p; i++) c->log[i].from = -1;
  for (unsigned j = 1; j < p; j++) {
    int rc = parc_pipe_create(&c->down[j], &c->up[j], sizeof(partial),
                              PARC_SHARED);
    if (rc != 0) {
      fprintf(stderr, "parc_pipe_create(edge %u): %s\n", j, ex_strerror(rc));
      return 1;
    }
  }
  return 0;
}

/* Once every child is gone: this process's handles of the ends the
 * children used (those rank 0 used are closed already). */
static void teardown(tree_ctx *c) {
  for (unsigned j = 1; j < c->opt.procs; j++) {
    if (c->down[j] != NULL)
      close_end(&c->down[j]);
    if (c->up[j] != NULL)
      close_end(&c->up[j]);
  }
  if (c->log != NULL)
    parc_shm_free(c->log);
  if (c->pids != NULL)
    parc_shm_free(c->pids);
}

static int start_ranks(tree_ctx *c, parc_proc **procs) {
  for (unsigned r = 1; r < c->opt.procs; r++) {
    rank_arg a = {c, r};
    fflush(stdout); /* a child must not inherit, and print again, our buffer */
    int rc = parc_proc_start(&procs[r], rank_main, &a, sizeof a);
    if (rc != 0) {
      fprintf(stderr, "parc_proc_start(rank %u): %s\n", r, ex_strerror(rc));
      for (unsigned j = 1; j < r; j++) parc_proc_free(procs[j]); /* kills it */
      return 1;
    }
  }
  return 0;
}

/* Waits for ranks 1..P-1 and frees them; returns how many failed. */
static unsigned join_ranks(const tree_ctx *c, parc_proc **procs) {
  unsigned failed = 0;
  for (unsigned r = 1; r < c->opt.procs; r++) {
    parc_proc_status st = {0, 0, 0};
    int pid = parc_proc_pid(procs[r]);
    int rc = parc_proc_join(procs[r], &st, WAIT_S);
    if (rc != 0) {
      fprintf(stderr, "rank %u (pid %d): parc_proc_join: %s\n", r, pid,
              parc_strerror(rc));
      failed++;
    } else if (!st.exited || st.exit_code != 0) {
      fprintf(stderr, "rank %u (pid %d): %s %d\n", r, pid,
              st.exited ? "exited with status" : "killed by signal",
              st.exited ? st.exit_code : st.signal);
      failed++;
    }
    parc_proc_free(procs[r]);
  }
  return failed;
}

static void print_values(const tree_ctx *c) {
  printf("%u processes, log2(P) = %u steps; process 0 is pid %d\n\n",
         c->opt.procs, c->steps, (int)getpid());
  printf("  rank     pid  value  1/(rank+1)\n");
  for (unsigned r = 0; r < c->opt.procs; r++) {
    partial v = initial_value(&c->opt, r);
    printf("  %4u %7d %6lld  %.6f\n", r, (int)c->pids[r], (long long)v.isum,
           v.dsum);
  }
}

static void print_steps(const tree_ctx *c) {
  for (unsigned k = 0; k < c->steps; k++) {
    printf("\nstep %u (stride %u): receiver <- sender: its sum + received "
           "= new sum (ms after the first fork)\n",
           k, 1u << k);
    for (unsigned r = 0; r < c->opt.procs; r++) {
      const step_log *l = &c->log[k * c->opt.procs + r];
      if (l->from < 0)
        continue;
      printf("  rank %3u <- rank %3d: %6lld + %6lld = %6lld   (%.3f ms)\n", r,
             (int)l->from, (long long)l->mine.isum, (long long)l->got.isum,
             (long long)l->after.isum, l->at_s * 1e3);
    }
  }
}

/* The tree's sums against the plain left-to-right loop. Returns 0 when the
 * integer sums agree; the doubles are reported, not judged. */
static int compare(const tree_ctx *c, const partial *tree) {
  partial lin = {0, 0.0};
  for (unsigned r = 0; r < c->opt.procs; r++) {
    partial v = initial_value(&c->opt, r);
    lin.isum += v.isum;
    lin.dsum += v.dsum;
  }
  printf("\nsum of values:  tree %lld, linear %lld: %s\n",
         (long long)tree->isum, (long long)lin.isum,
         tree->isum == lin.isum ? "equal" : "DIFFERENT");
  printf("sum of 1/(r+1): tree %.17g, linear %.17g (difference %.3g)\n",
         tree->dsum, lin.dsum, tree->dsum - lin.dsum);
  printf("messages: %u, on the critical path: %u (a linear gather: %u)\n",
         c->opt.procs - 1, c->steps, c->opt.procs - 1);
  return tree->isum != lin.isum;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: parc-reduction_tree [--procs P] [--seed S]\n"
          "  --procs P  processes, a power of two from 1 to %d "
          "(default 8)\n"
          "  --seed S   seed of the integer values (default 1)\n",
          MAX_PROCS);
}

/* Returns 0, or 2 on a bad command line (after printing why). */
static int parse_args(int argc, char **argv, options *o) {
  uint64_t v;
  *o = (options){8, 1};
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
    if (strcmp(a, "--procs") == 0 && ex_parse_u64(val, 1, MAX_PROCS, &v) == 0 &&
        (v & (v - 1)) == 0)
      o->procs = (unsigned)v;
    else if (strcmp(a, "--seed") == 0 &&
             ex_parse_u64(val, 0, UINT64_MAX, &v) == 0)
      o->seed = v;
    else {
      fprintf(stderr, "bad option: %s %s\n", a, val);
      usage(stderr);
      return 2;
    }
  }
  return 0;
}

/* Process 0: fork the others, do rank 0's part, join. */
static int run(tree_ctx *c, partial *sum) {
  static parc_proc *procs[MAX_PROCS];
  c->pids[0] = (int32_t)getpid();
  if (bind_ends(c, 0) != 0) /* before the forks: covered from the start */
    return 1;
  c->t0 = ex_now();
  if (start_ranks(c, procs) != 0)
    return 1;
  *sum = initial_value(&c->opt, 0);
  int rc = reduce(c, 0, sum);
  if (join_ranks(c, procs) != 0)
    rc = 1;
  return rc;
}

int main(int argc, char **argv) {
  static tree_ctx c;
  int rc = parse_args(argc, argv, &c.opt);
  if (rc != 0)
    return rc;
  while ((1u << c.steps) < c.opt.procs) c.steps++;
  partial sum = {0, 0.0};
  rc = setup(&c);
  if (rc == 0)
    rc = run(&c, &sum);
  if (rc == 0) {
    print_values(&c);
    print_steps(&c);
    rc = compare(&c, &sum);
  }
  teardown(&c);
  return rc;
}
