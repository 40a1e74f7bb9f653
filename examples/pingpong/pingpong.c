/* pingpong -- seed 004's bandwidth exercise: two processes bounce messages
 * of 8 B .. 64 MiB, and the program says exactly what it timed.
 *
 * "Carefully think about how you time!" -- so, here:
 *   - Timed interval: in the parent, from just before the send of the ping
 *     to just after the receive of the echoed pong returns, with
 *     clock_gettime(CLOCK_MONOTONIC). That is one round trip: two copies
 *     into the channel, two copies out, two wake-ups of a waiting process.
 *   - Not timed: process start-up, allocating and first-touching the
 *     buffers, a first pass of the largest message through all of the
 *     channel's shared memory (see prime()), the warm-up round trips, and
 *     the check that the echo came back unchanged (after the clock is
 *     read).
 *   - Reported: the median round trip over the repetitions (robust to the
 *     odd preemption), one-way time = round trip / 2, and bandwidth =
 *     size / one-way time in MB/s (10^6 bytes/s) and MiB/s (2^20 bytes/s).
 * Then the lecture's model T(s) = mu + s/B is fitted to the one-way times
 * by least squares, giving a latency mu and an asymptotic bandwidth B.
 *
 * Two channels: a parc_pipe (one pair of endpoints, both ways), and a pair
 * of PARC_SHARED parc_queues (ping queue parent -> child, pong queue back).
 *
 *   parc-pingpong [--min-size S] [--max-size S] [--factor 2|4] [--reps N]
 *                 [--warmup N] [--channel pipe|queue|both] [--prime 0|1]
 *
 * Exit status: 0 when every echo came back intact; 1 when one did not, the
 * echo process failed or a parc call failed; 2 on a bad command line.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */

#include <errno.h>
#include <parc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "example.h"

#define MAX_SIZES 64
#define MAX_REPS 10000
#define BIG_MSG (1u << 20) /* above this, repetitions shrink with size */
#define WAIT_S 60.0 /* no wait here should take this long: treat as a hang */

enum { CH_PIPE = 1, CH_QUEUE = 2 };

typedef struct {
  size_t min_size, max_size;
  unsigned factor; /* sizes: min, min*factor, ... up to max */
  unsigned reps;   /* timed round trips per size, up to BIG_MSG bytes */
  unsigned warmup; /* untimed round trips first, per size */
  int channels;    /* CH_PIPE, CH_QUEUE or both */
  int prime;       /* fault the channel's memory in first (see prime) */
} options;

/* One channel between the parent and the echo process, either kind. */
typedef struct {
  int kind;
  parc_pipe *parent_end, *child_end; /* CH_PIPE */
  parc_queue *ping, *pong;           /* CH_QUEUE: parent -> child, back */
} channel;

/* One size's measurement. */
typedef struct {
  size_t size;
  unsigned reps;
  double rtt_s;    /* median round trip */
  double oneway_s; /* rtt_s / 2 */
} sample;

static const char *kind_name(int kind) {
  return kind == CH_PIPE ? "parc_pipe" : "parc_queue pair";
}

/* Sends len bytes from the parent's (to_child) or the child's side. */
static int link_send(const channel *l, int to_child, const void *buf,
                     size_t len) {
  int rc;
  if (l->kind == CH_PIPE)
    rc = parc_pipe_send(to_child ? l->parent_end : l->child_end, buf, len,
                        WAIT_S);
  else
    rc = parc_queue_put(to_child ? l->ping : l->pong, buf, len, WAIT_S);
  if (rc != 0 && rc != PARC_ECLOSED)
    fprintf(stderr, "%s send: %s\n", kind_name(l->kind), parc_strerror(rc));
  return rc;
}

/* Receives into buf (cap bytes) on the parent's (at_child 0) or the
 * child's side; PARC_ECLOSED is returned quietly: it is how the child
 * learns that the parent is done. */
static int link_recv(const channel *l, int at_child, void *buf, size_t cap,
                     size_t *len) {
  int rc;
  if (l->kind == CH_PIPE)
    rc = parc_pipe_recv(at_child ? l->child_end : l->parent_end, buf, cap, len,
                        WAIT_S);
  else
    rc = parc_queue_get(at_child ? l->ping : l->pong, buf, cap, len, WAIT_S);
  if (rc != 0 && rc != PARC_ECLOSED)
    fprintf(stderr, "%s recv: %s\n", kind_name(l->kind), parc_strerror(rc));
  return rc;
}

/* The parent is done sending: the child's next receive says PARC_ECLOSED. */
static void link_hang_up(channel *l) {
  if (l->kind == CH_PIPE) {
    parc_pipe_close(l->parent_end);
    l->parent_end = NULL;
  } else {
    parc_queue_close(l->ping);
  }
}

/* What the echo process is handed (a copy, by fork: pointers stay valid). */
typedef struct {
  const channel *l;
  size_t max_size;
} echo_arg;

/* The pong side: send back every message as it came, until hung up on. */
static int echo_main(void *arg) {
  echo_arg a;
  memcpy(&a, arg, sizeof a);
  if (a.l->kind == CH_PIPE) {
    int rc = parc_pipe_bind(a.l->child_end);
    if (rc != 0) {
      fprintf(stderr, "echo: parc_pipe_bind: %s\n", parc_strerror(rc));
      return 1;
    }
  }
  unsigned char *buf = malloc(a.max_size ? a.max_size : 1);
  if (buf == NULL) {
    fprintf(stderr, "echo: out of memory\n");
    return 1;
  }
  int rc;
  size_t len = 0;
  while ((rc = link_recv(a.l, 1, buf, a.max_size, &len)) == 0)
    if (link_send(a.l, 0, buf, len) != 0)
      break;
  free(buf);
  if (a.l->kind == CH_PIPE)
    parc_pipe_close(a.l->child_end);
  return rc != PARC_ECLOSED;
}

/* One timed round trip; *rtt gets its length in seconds. The echo is
 * compared with what was sent only after the clock has been read. */
static int round_trip(const channel *l, unsigned char *out, unsigned char *in,
                      size_t size, double *rtt) {
  size_t len = 0;
  double t0 = ex_now();
  int rc = link_send(l, 1, out, size);
  if (rc == 0)
    rc = link_recv(l, 0, in, size, &len);
  double t1 = ex_now();
  if (rc != 0)
    return 1;
  if (len != size || memcmp(in, out, size) != 0) {
    fprintf(stderr, "%s: a %zu-byte echo came back changed\n",
            kind_name(l->kind), size);
    return 1;
  }
  *rtt = t1 - t0;
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Big messages take long; fewer repetitions keep the run short. */
static unsigned reps_for(const options *o, size_t size) {
  if (size <= BIG_MSG)
    return o->reps;
  unsigned r = (unsigned)(o->reps / (size / BIG_MSG));
  return r < 3 ? 3 : r;
}

/* Warm-up, then reps timed round trips of one size; the median. */
static int measure(const channel *l, const options *o, unsigned char *out,
                   unsigned char *in, sample *s) {
  static double rtt[MAX_REPS];
  double ignored;
  s->reps = reps_for(o, s->size);
  for (unsigned i = 0; i < o->warmup + s->reps; i++) {
    out[0] = (unsigned char)i; /* each echo differs from the last one */
    out[s->size - 1] = (unsigned char)(i >> 8);
    double *slot = i < o->warmup ? &ignored : &rtt[i - o->warmup];
    if (round_trip(l, out, in, s->size, slot) != 0)
      return 1;
  }
  qsort(rtt, s->reps, sizeof rtt[0], cmp_double);
  s->rtt_s = s->reps % 2 ? rtt[s->reps / 2]
                         : 0.5 * (rtt[s->reps / 2 - 1] + rtt[s->reps / 2]);
  s->oneway_s = s->rtt_s / 2;
  return 0;
}

/* "8 B", "64 KiB", "1 MiB": sizes are powers of two times min_size. */
static const char *size_name(size_t size, char *buf, size_t cap) {
  if (size >= (1u << 20) && size % (1u << 20) == 0)
    snprintf(buf, cap, "%zu MiB", size >> 20);
  else if (size >= 1024 && size % 1024 == 0)
    snprintf(buf, cap, "%zu KiB", size >> 10);
  else
    snprintf(buf, cap, "%zu B", size);
  return buf;
}

static void print_row(const sample *s) {
  char name[32];
  double bytes_per_s = (double)s->size / s->oneway_s;
  printf("  %9s %6u %14.2f %14.2f %12.1f %12.1f\n",
         size_name(s->size, name, sizeof name), s->reps, s->rtt_s * 1e6,
         s->oneway_s * 1e6, bytes_per_s / 1e6, bytes_per_s / (1u << 20));
}

/* Least squares of T = mu + s/B over the sizes, weighting each point by
 * w. With w = 1 the biggest sizes dominate (good B, poor mu); with
 * w = 1/T^2 every point counts by its relative error. */
static void fit(const sample *s, size_t n, int relative, double *mu,
                double *bw) {
  double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = 0; i < n; i++) {
    double w = relative ? 1.0 / (s[i].oneway_s * s[i].oneway_s) : 1.0;
    double x = (double)s[i].size, y = s[i].oneway_s;
    sw += w;
    sx += w * x;
    sy += w * y;
    sxx += w * x * x;
    sxy += w * x * y;
  }
  double det = sw * sxx - sx * sx;
  double slope = det != 0 ? (sw * sxy - sx * sy) / det : 0;
  *mu = det != 0 ? (sy - slope * sx) / sw : s[0].oneway_s;
  *bw = slope > 0 ? 1.0 / slope : 0; /* 0: no fit (one size, or noise) */
}

static void print_fit(const sample *s, size_t n) {
  printf("  least-squares fit of T(s) = mu + s/B to the one-way times:\n");
  for (int relative = 0; relative <= 1; relative++) {
    double mu, bw;
    fit(s, n, relative, &mu, &bw);
    const char *how = relative ? "weights 1/T^2 (relative error)"
                               : "weights 1     (absolute error)";
    if (bw > 0)
      printf("    %s: mu = %8.2f us, B = %9.1f MB/s = %9.1f MiB/s\n", how,
             mu * 1e6, bw / 1e6, bw / (1u << 20));
    else /* time did not grow with size: noise swamped the transfer */
      printf("    %s: no fit, T does not grow with s\n", how);
  }
  printf("  measured: one-way time of the smallest message %.2f us, "
         "bandwidth of the\n  largest %.1f MB/s\n",
         s[0].oneway_s * 1e6, (double)s[n - 1].size / s[n - 1].oneway_s / 1e6);
}

/* Makes the channel before the fork. Queues: each holds one message of the
 * largest size (+ 8 bytes of framing), which is all a ping-pong needs. */
static int channel_open(channel *l, int kind, size_t max_size) {
  int rc;
  memset(l, 0, sizeof *l);
  l->kind = kind;
  if (kind == CH_PIPE) {
    rc = parc_pipe_create(&l->parent_end, &l->child_end, max_size, PARC_SHARED);
    if (rc != 0)
      fprintf(stderr, "parc_pipe_create: %s\n", ex_strerror(rc));
    return rc != 0;
  }
  rc = parc_queue_create(&l->ping, max_size + 8, max_size, PARC_SHARED);
  if (rc == 0)
    rc = parc_queue_create(&l->pong, max_size + 8, max_size, PARC_SHARED);
  if (rc != 0)
    fprintf(stderr, "parc_queue_create(%zu bytes): %s\n", max_size + 8,
            ex_strerror(rc));
  return rc != 0;
}

/* After the echo process is gone: this process's handles. */
static void channel_free(channel *l) {
  if (l->parent_end != NULL)
    parc_pipe_close(l->parent_end);
  if (l->child_end != NULL)
    parc_pipe_close(l->child_end);
  parc_queue_destroy(l->ping);
  parc_queue_destroy(l->pong);
  memset(l, 0, sizeof *l);
}

static int join_echo(parc_proc *p) {
  int pid = parc_proc_pid(p);
  parc_proc_status st = {0, 0, 0};
  int rc = parc_proc_join(p, &st, WAIT_S);
  parc_proc_free(p); /* kills it if the join timed out */
  if (rc != 0) {
    fprintf(stderr, "echo (pid %d): parc_proc_join: %s\n", pid,
            parc_strerror(rc));
    return 1;
  }
  if (!st.exited || st.exit_code != 0) {
    fprintf(stderr, "echo (pid %d): %s %d\n", pid,
            st.exited ? "exited with status" : "killed by signal",
            st.exited ? st.exit_code : st.signal);
    return 1;
  }
  return 0;
}

/* A channel's buffer is shared memory that nobody has touched yet: the
 * first pass of the write position through it page-faults every page (and
 * the kernel zeroes each), and the warm-up of each size, a few messages,
 * does not reach most of it. So before anything is timed, push the largest
 * message through until at least 2 x (max + 8) bytes and 4 MiB have gone
 * each way: more than a queue's buffer (capacity rounded up to a power of
 * two) or a pipe's ring holds. */
static int prime(const channel *l, const options *o, unsigned char *out,
                 unsigned char *in) {
  size_t goal = 2 * (o->max_size + 8), moved = 0;
  if (goal < ((size_t)4 << 20))
    goal = (size_t)4 << 20;
  double ignored;
  while (moved < goal) {
    if (round_trip(l, out, in, o->max_size, &ignored) != 0)
      return 1;
    moved += o->max_size + 8;
  }
  return 0;
}

/* Every size in turn, printing a row each; returns the number measured,
 * which is less than n on failure. */
static size_t sweep(const channel *l, const options *o, sample *s, size_t n,
                    unsigned char *out, unsigned char *in) {
  if (o->prime && prime(l, o, out, in) != 0)
    return 0;
  printf("  %9s %6s %14s %14s %12s %12s\n", "size", "reps", "RTT median us",
         "one-way us", "MB/s", "MiB/s");
  for (size_t i = 0; i < n; i++) {
    if (measure(l, o, out, in, &s[i]) != 0)
      return i;
    print_row(&s[i]);
  }
  return n;
}

/* One channel: open, start the echo process, sweep, hang up, join. */
static int run_channel(int kind, const options *o, sample *s, size_t n,
                       unsigned char *out, unsigned char *in) {
  channel l;
  parc_proc *echo = NULL;
  if (channel_open(&l, kind, o->max_size) != 0) {
    channel_free(&l);
    return 1;
  }
  echo_arg a = {&l, o->max_size};
  fflush(stdout); /* the child must not inherit, and print again, our buffer */
  int rc = parc_proc_start(&echo, echo_main, &a, sizeof a);
  if (rc != 0) {
    fprintf(stderr, "parc_proc_start: %s\n", ex_strerror(rc));
    channel_free(&l);
    return 1;
  }
  printf("\n%s, echo process pid %d:\n", kind_name(kind), parc_proc_pid(echo));
  size_t done = sweep(&l, o, s, n, out, in);
  link_hang_up(&l);
  int failed = join_echo(echo) != 0 || done < n;
  channel_free(&l);
  if (!failed && n >= 2)
    print_fit(s, n);
  return failed;
}

/* Accepts a number with an optional binary suffix: 64, 4K, 1M (KiB, MiB). */
static int parse_size(const char *s, size_t min, size_t max, size_t *v) {
  char *end;
  errno = 0;
  unsigned long long x = strtoull(s, &end, 10);
  unsigned shift = 0;
  if (*end == 'K' || *end == 'k')
    shift = 10, end++;
  else if (*end == 'M' || *end == 'm')
    shift = 20, end++;
  if (s[0] == '-' || end == s || *end != '\0' || errno != 0 ||
      x > (max >> shift))
    return -1;
  x <<= shift;
  if (x < min)
    return -1;
  *v = (size_t)x;
  return 0;
}

static int parse_channel(const char *s, int *ch) {
  if (strcmp(s, "pipe") == 0)
    *ch = CH_PIPE;
  else if (strcmp(s, "queue") == 0)
    *ch = CH_QUEUE;
  else if (strcmp(s, "both") == 0)
    *ch = CH_PIPE | CH_QUEUE;
  else
    return -1;
  return 0;
}

static void usage(FILE *f) {
  fprintf(f, "usage: parc-pingpong [--min-size S] [--max-size S] "
             "[--factor 2|4] [--reps N]\n"
             "                     [--warmup N] [--channel pipe|queue|both] "
             "[--prime 0|1]\n"
             "  --min-size S  smallest message (default 8; K and M suffixes: "
             "KiB, MiB)\n"
             "  --max-size S  largest message (default 64M)\n"
             "  --factor F    each size is F times the last: 2 or 4 "
             "(default 2)\n"
             "  --reps N      timed round trips per size up to 1 MiB, fewer "
             "above\n"
             "                (at least 3; default 50)\n"
             "  --warmup N    untimed round trips before them (default 5)\n"
             "  --channel C   pipe, queue or both (default both)\n"
             "  --prime 0|1   first push the largest message through until "
             "the channel's\n"
             "                shared memory has all been touched "
             "(default 1)\n");
}

static int parse_option(const char *a, const char *val, options *o) {
  size_t z;
  if (strcmp(a, "--min-size") == 0 && parse_size(val, 1, 1u << 30, &z) == 0)
    o->min_size = z;
  else if (strcmp(a, "--max-size") == 0 &&
           parse_size(val, 1, 1u << 30, &z) == 0)
    o->max_size = z;
  else if (strcmp(a, "--factor") == 0 &&
           (strcmp(val, "2") == 0 || strcmp(val, "4") == 0))
    o->factor = (unsigned)(val[0] - '0');
  else if (strcmp(a, "--reps") == 0 && parse_size(val, 1, MAX_REPS, &z) == 0)
    o->reps = (unsigned)z;
  else if (strcmp(a, "--warmup") == 0 && parse_size(val, 0, 1000, &z) == 0)
    o->warmup = (unsigned)z;
  else if (strcmp(a, "--channel") == 0 && parse_channel(val, &o->channels) == 0)
    return 0;
  else if (strcmp(a, "--prime") == 0 && parse_size(val, 0, 1, &z) == 0)
    o->prime = (int)z;
  else
    return -1;
  return 0;
}

/* Returns 0, or 2 on a bad command line (after printing why). */
static int parse_args(int argc, char **argv, options *o) {
  *o = (options){8, 64u << 20, 2, 50, 5, CH_PIPE | CH_QUEUE, 1};
  for (int i = 1; i < argc; i += 2) { /* option, value */
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      exit(0);
    }
    if (i + 1 >= argc || parse_option(a, argv[i + 1], o) != 0) {
      fprintf(stderr, "bad option: %s %s\n", a,
              i + 1 < argc ? argv[i + 1] : "(no value)");
      usage(stderr);
      return 2;
    }
  }
  if (o->min_size > o->max_size) {
    fprintf(stderr, "--min-size is larger than --max-size\n");
    return 2;
  }
  return 0;
}

/* min, min*factor, ... while <= max. Returns how many. */
static size_t make_sizes(const options *o, sample *s) {
  size_t n = 0;
  for (size_t z = o->min_size; z <= o->max_size && n < MAX_SIZES;
       z *= o->factor)
    s[n++] = (sample){z, 0, 0, 0};
  return n;
}

int main(int argc, char **argv) {
  static sample samples[MAX_SIZES];
  options o;
  int rc = parse_args(argc, argv, &o);
  if (rc != 0)
    return rc;
  size_t n = make_sizes(&o, samples);
  /* Allocated and touched now, so no page fault lands in a timed interval. */
  unsigned char *out = malloc(o.max_size), *in = malloc(o.max_size);
  if (out == NULL || in == NULL) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  for (size_t i = 0; i < o.max_size; i++)
    out[i] = (unsigned char)(i * 131u + 7u);
  memset(in, 0, o.max_size);
  printf("ping-pong between two processes, %u logical CPUs\n"
         "timed: one round trip, from just before the ping's send to just "
         "after the pong's\nreceive returns (CLOCK_MONOTONIC), in the "
         "parent; median of the timed reps after\n%u warm-up round trips. "
         "one-way = RTT/2; bandwidth = size / one-way;\n"
         "MB = 10^6 bytes, MiB = 2^20 bytes.\n%s\n",
         parc_logical_cpus(), o.warmup,
         o.prime ? "not timed: a first pass of big messages through "
                   "all of each channel's memory"
                 : "no first pass: the channel's memory is "
                   "faulted in while timed (--prime 0)");
  if (o.channels & CH_PIPE)
    rc |= run_channel(CH_PIPE, &o, samples, n, out, in);
  if (o.channels & CH_QUEUE)
    rc |= run_channel(CH_QUEUE, &o, samples, n, out, in);
  free(out);
  free(in);
  return rc;
}
