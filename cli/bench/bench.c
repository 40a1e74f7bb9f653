/* bench.c -- `parc bench`: what parallel work costs on this machine.
 *
 * Three sections, measured and printed in turn: start-up overheads and
 * per-task dispatch of the pools (bench_cost.c), then latency and
 * bandwidth by message size of every transport with the fit of
 * T(s) = mu + s/B (bench_transport.c, bench_fit.c). Then the CSV files,
 * the plot (bench_plot.c) and the run's own wall and CPU time. The method
 * is printed with the figures; docs/parc-bench.md has the long form.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "common/cli.h"
#include "parc.h"

#define MIN_SIZE ((size_t)8) /* the ping-pong stamps 8 bytes each end */
#define MAX_SIZE ((size_t)256 << 20)

static const char USAGE[] =
    "usage: parc bench [--quick] [--out DIR] [--json] [--sizes LIST]\n"
    "                  [--reps N] [--fit-tol X] [--no-pin]\n"
    "\n"
    "Measures what parallel work costs on this machine: start-up overheads\n"
    "(thread, process, posix_spawn, pool create, first task), per-task\n"
    "dispatch of the thread and process pools for chunks of 1 to 1024\n"
    "tasks, and the latency and bandwidth by message size of parc_queue,\n"
    "parc_pipe, an OS pipe, a Unix socket and MPI (when installed), with a\n"
    "least-squares fit of T(s) = mu + s/B and the size where that model\n"
    "stops fitting.\n"
    "\n"
    "      --quick       fewer sizes, chunks and repetitions (a few seconds)\n"
    "      --out DIR     CSV files and the plot (default ./parc-bench)\n"
    "      --json        print one JSON document instead of the report\n"
    "      --sizes LIST  message sizes: 8,1K,64K,1M or 8..16M (doubling);\n"
    "                    K, M, G are 2^10, 2^20, 2^30; 8 B to 256 MiB\n"
    "                    (default 8..16M; with --quick 8,64,...,2M)\n"
    "      --reps N      timed repetitions of every figure (default 11;\n"
    "                    --quick 7)\n"
    "      --fit-tol X   a size fits the model when within X of it,\n"
    "                    relative (default 0.2)\n"
    "      --no-pin      leave the ping-pong's two processes unpinned\n"
    "  -h, --help        this help\n"
    "\n"
    "Writes DIR/startup.csv, dispatch.csv, transports.csv, fit.csv, and\n"
    "bandwidth.png and bandwidth.svg when gnuplot is installed (their\n"
    "script: bandwidth.gp). Exit: 0 when every figure was measured (MPI\n"
    "may be skipped), 1 when one could not be measured or a file could\n"
    "not be written, 2 for bad usage. See docs/parc-bench.md.\n";

/* ------------------------------------------------------------ options */

/* "64", "1K", "16M": 0 and *out, or -1. */
static int parse_size(const char *s, const char *end, size_t *out) {
  char *e;
  errno = 0;
  if (s == end || *s < '0' || *s > '9')
    return -1;
  unsigned long long v = strtoull(s, &e, 10);
  int shift = 0;
  if (e < end && (*e == 'K' || *e == 'k'))
    shift = 10, e++;
  else if (e < end && (*e == 'M' || *e == 'm'))
    shift = 20, e++;
  else if (e < end && (*e == 'G' || *e == 'g'))
    shift = 30, e++;
  if (errno != 0 || e != end || v > (MAX_SIZE >> shift))
    return -1;
  *out = (size_t)(v << shift);
  return *out >= MIN_SIZE && *out <= MAX_SIZE ? 0 : -1;
}

static int add_size(bench_cfg *c, size_t s) {
  for (size_t i = 0; i < c->nsizes; i++)
    if (c->sizes[i] == s)
      return 0;
  if (c->nsizes == BENCH_MAX_SIZES)
    return -1;
  c->sizes[c->nsizes++] = s;
  return 0;
}

static int cmp_size(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return (x > y) - (x < y);
}

/* "8,1K,64K" or "8..16M" (doubling), items mixed freely; sorted, unique. */
static int parse_sizes(const char *arg, bench_cfg *c) {
  c->nsizes = 0;
  for (const char *p = arg; *p != '\0';) {
    const char *end = strchr(p, ',');
    if (end == NULL)
      end = p + strlen(p);
    const char *dots = strstr(p, "..");
    size_t a, b;
    if (dots != NULL && dots < end) {
      if (parse_size(p, dots, &a) != 0 || parse_size(dots + 2, end, &b) != 0 ||
          b < a)
        return -1;
      for (size_t s = a; s <= b; s *= 2)
        if (add_size(c, s) != 0)
          return -1;
    } else if (parse_size(p, end, &a) != 0 || add_size(c, a) != 0) {
      return -1;
    }
    p = *end == ',' ? end + 1 : end;
    if (*end == ',' && *p == '\0')
      return -1;
  }
  if (c->nsizes == 0)
    return -1;
  qsort(c->sizes, c->nsizes, sizeof c->sizes[0], cmp_size);
  return 0;
}

static void defaults(bench_cfg *c, int sizes_given, int reps_given) {
  static const size_t FULL_CHUNKS[] = {1, 4, 16, 64, 256, 1024};
  static const size_t QUICK_CHUNKS[] = {1, 32, 1024};
  const size_t *ch = c->quick ? QUICK_CHUNKS : FULL_CHUNKS;
  c->nchunks = c->quick ? 3 : 6;
  memcpy(c->chunks, ch, c->nchunks * sizeof *ch);
  if (!sizes_given) {
    c->nsizes = 0;
    for (size_t s = 8; s <= (c->quick ? (size_t)2 << 20 : (size_t)16 << 20);
         s *= c->quick ? 8 : 2)
      c->sizes[c->nsizes++] = s;
  }
  if (!reps_given)
    c->reps = c->quick ? 7 : 11;
  c->warm = c->quick ? 1 : 2;
  c->target_s = c->quick ? 3e-3 : 10e-3;
}

enum { O_QUICK = 256, O_JSON, O_NO_PIN, O_OUT, O_SIZES, O_REPS, O_FIT_TOL };

static const struct option OPTIONS[] = {
    {"quick", no_argument, NULL, O_QUICK},
    {"json", no_argument, NULL, O_JSON},
    {"no-pin", no_argument, NULL, O_NO_PIN},
    {"out", required_argument, NULL, O_OUT},
    {"sizes", required_argument, NULL, O_SIZES},
    {"reps", required_argument, NULL, O_REPS},
    {"fit-tol", required_argument, NULL, O_FIT_TOL},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

static const cli_cmd CMD = {"bench", CLI_EXIT_USAGE, "+:h", OPTIONS};

typedef struct parsed {
  bench_cfg *c;
  int sizes_given, reps_given;
} parsed;

/* --reps and --fit-tol. */
static int apply_number(bench_cfg *c, int id, const char *v, cli_err err) {
  char *e;
  if (id == O_REPS) {
    unsigned long n = *v >= '0' && *v <= '9' ? strtoul(v, &e, 10) : 0;
    if (n < 1 || n > 1000 || *e != '\0')
      return cli_fail(err,
                      "bad --reps '%s': want a whole number from 1 to 1000", v);
    c->reps = (unsigned)n;
    return 0;
  }
  double x = strtod(v, &e);
  if (*v == '\0' || *e != '\0' || !(x > 0 && x < 10))
    return cli_fail(err, "bad --fit-tol '%s': want a fraction such as 0.2", v);
  c->fit_tol = x;
  return 0;
}

static int apply_option(void *ctx, int id, const char *v, cli_err err) {
  parsed *p = ctx;
  bench_cfg *c = p->c;
  switch (id) {
  case 'h': fputs(USAGE, stdout); return 1;
  case O_QUICK: c->quick = 1; break;
  case O_JSON: c->json = 1; break;
  case O_NO_PIN: c->no_pin = 1; break;
  case O_OUT:
    if (*v == '\0')
      return cli_fail(err, "--out needs a directory");
    c->out_dir = v;
    break;
  case O_SIZES:
    if (parse_sizes(v, c) != 0)
      return cli_fail(err,
                      "bad --sizes '%s': want sizes of 8 B to 256 MiB, at "
                      "most %d, like 8,1K,64K or 8..16M",
                      v, BENCH_MAX_SIZES);
    p->sizes_given = 1;
    break;
  case O_REPS: p->reps_given = 1; return apply_number(c, id, v, err);
  case O_FIT_TOL: return apply_number(c, id, v, err);
  }
  return 0;
}

/* 0, 1 (--help printed) or CLI_EXIT_USAGE (the message printed). */
static int parse_args(int argc, char **argv, bench_cfg *c) {
  parsed p = {c, 0, 0};
  cli_err err = "";
  c->out_dir = "parc-bench";
  c->fit_tol = BENCH_FIT_TOL;
  int rc = cli_parse_options(&CMD, argc, argv, apply_option, &p, err);
  if (rc != 0)
    return rc == 1 ? 1 : cli_usage_error(&CMD, "%s", err);
  defaults(c, p.sizes_given, p.reps_given);
  return 0;
}

/* ------------------------------------------------------------ helpers */

int bench_which(const char *name, char *buf, size_t cap) {
  const char *path = getenv("PATH");
  if (path == NULL)
    path = "/usr/local/bin:/usr/bin:/bin";
  while (*path != '\0') {
    const char *end = strchr(path, ':');
    size_t n = end ? (size_t)(end - path) : strlen(path);
    if (n > 0) {
      snprintf(buf, cap, "%.*s/%s", (int)n, path, name);
      struct stat sb;
      if (stat(buf, &sb) == 0 && S_ISREG(sb.st_mode) && access(buf, X_OK) == 0)
        return 0;
    }
    path += n + (end != NULL);
  }
  return -1;
}

/* mkdir -p; 0 or -1 with errno. */
static int make_dirs(const char *dir) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  for (char *p = path + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
      return -1;
    *p = '/';
  }
  if (mkdir(path, 0777) != 0 && errno != EEXIST)
    return -1;
  struct stat sb;
  if (stat(path, &sb) != 0)
    return -1;
  if (!S_ISDIR(sb.st_mode)) {
    errno = ENOTDIR;
    return -1;
  }
  return access(path, W_OK);
}

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double tv_s(struct timeval tv) {
  return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

/* The seventh timing: the whole run, wall and CPU, children included. */
static void whole_run(bench_run *r, double t0) {
  struct rusage self, kids;
  r->wall_s = wall_now() - t0;
  if (getrusage(RUSAGE_SELF, &self) == 0 &&
      getrusage(RUSAGE_CHILDREN, &kids) == 0) {
    r->user_s = tv_s(self.ru_utime) + tv_s(kids.ru_utime);
    r->sys_s = tv_s(self.ru_stime) + tv_s(kids.ru_stime);
  }
}

/* ------------------------------------------------------------ the command */

int cmd_bench(int argc, char **argv) {
  double t0 = wall_now();
  bench_run *r = calloc(1, sizeof *r);
  if (r == NULL) {
    fputs("parc bench: out of memory\n", stderr);
    return 1;
  }
  int rc = parse_args(argc, argv, &r->cfg);
  if (rc != 0) {
    free(r);
    return rc == 1 ? 0 : rc;
  }
  if (make_dirs(r->cfg.out_dir) != 0) {
    fprintf(stderr, "parc bench: cannot use --out '%s': %s\n", r->cfg.out_dir,
            strerror(errno));
    free(r);
    return 1;
  }
  FILE *out = r->cfg.json ? NULL : stdout;
  r->workers = parc_physical_cores();
  if (getloadavg(&r->load, 1) != 1)
    r->load = -1;
  if (out)
    bench_print_header(r, out);
  bench_startup(r);
  if (out)
    bench_print_startup(r, out);
  bench_dispatch(r);
  for (size_t i = 0; i < r->ndisp; i++)
    if (r->disp[i].workers)
      r->workers = r->disp[i].workers;
  if (out)
    bench_print_dispatch(r, out);
  bench_transports(r);
  if (out)
    bench_print_transports(r, out);
  r->failures += bench_write_csv(r) != 0;
  r->failures += bench_plot(r) != 0;
  whole_run(r, t0);
  if (out)
    bench_print_footer(r, out);
  else
    bench_print_json(r, stdout);
  rc = r->failures ? 1 : 0;
  free(r);
  return rc;
}
