/* bench.h -- the pieces of `parc bench`, one idea a file:
 *
 *   bench.c            options; runs the sections in order
 *   bench_cost.c       start-up overheads and per-task dispatch of the pools
 *   bench_transport.c  ping-pong latency and bandwidth of each transport
 *   bench_fit.c        summary statistics and the fit of T(s) = mu + s/B
 *   bench_report.c     the text report
 *   bench_export.c     the JSON document and the CSV files
 *   bench_plot.c       the bandwidth-vs-size plot, drawn by gnuplot
 *
 * Every measured figure is a bench_stat over repetitions: the measuring
 * functions never print; the report does. See docs/parc-bench.md.
 */
#ifndef CLI_BENCH_H
#define CLI_BENCH_H

#include <stddef.h>
#include <stdio.h>

#define BENCH_MAX_SIZES 48  /* message sizes per transport */
#define BENCH_MAX_CHUNKS 16 /* chunk sizes of the dispatch table */
#define BENCH_MAX_FIGS 24   /* start-up figures */
#define BENCH_FIT_MIN 3     /* points a fitted range needs (2 always fit) */
#define BENCH_FIT_TOL 0.2   /* default: a point fits within 20% of the line */

/* ------------------------------------------------------------ statistics */

typedef struct bench_stat {
  double median, q1, q3, min,
      max;    /* q1, q3: quartiles (linear interpolation) */
  unsigned n; /* repetitions; 0: not measured */
} bench_stat;

/* Summarises v[0..n) (sorting it). Returns 0, or -1 when n is 0. */
int bench_stat_of(double *v, unsigned n, bench_stat *out);

/* ------------------------------------------------------------ the fit */

/* T(s) = mu + s/B fitted to the points [first, last] by least squares of
 * the relative residuals (weights 1/T^2). */
typedef struct bench_line {
  size_t first, last; /* indices of the first and the last point fitted */
  int fitted;         /* 0: one point only, mu and slope undetermined */
  double mu;          /* seconds: the time of a message of 0 bytes */
  double slope;       /* seconds per byte, 1/B; <= 0: T does not grow */
  double r2;          /* weighted R^2 (1 for two points, or a flat exact fit) */
  double max_resid;   /* largest |T - fit| / T over the points */
} bench_line;

/* The sizes cut into ranges where the model fits (see bench_fit_model). */
typedef struct bench_model {
  size_t nseg;
  bench_line seg[BENCH_MAX_SIZES];
} bench_model;

/* Fits points [first, last] of (s, t). Returns 0, or -1 when the range is
 * empty or reversed, or a time is not positive and finite. */
int bench_fit_line(const double *s, const double *t, size_t first, size_t last,
                   bench_line *out);

/* Cuts n points (sizes strictly ascending) into ranges, smallest sizes
 * first: each range is the longest run, starting where the last one ended,
 * whose own fit has every point i within tol + noise[i] of the line
 * (relative to t[i]; noise may be NULL: zeros), and at least BENCH_FIT_MIN
 * points (fewer only at the end). seg[0] is "the" fit; seg[1].first, if
 * any, is where the model stops fitting. Returns 0, or -1 for n == 0,
 * n > BENCH_MAX_SIZES, sizes not ascending, bad times or noise. */
int bench_fit_model(const double *s, const double *t, const double *noise,
                    size_t n, double tol, bench_model *out);

/* B in bytes per second, or 0 when the slope is not positive. */
double bench_line_bw(const bench_line *l);

/* ------------------------------------------------------------ a run */

typedef struct bench_cfg {
  int quick, json;
  int no_pin; /* 1: leave the ping-pong's processes unpinned */
  const char *out_dir;
  size_t sizes[BENCH_MAX_SIZES];
  size_t nsizes;
  size_t chunks[BENCH_MAX_CHUNKS];
  size_t nchunks;
  unsigned reps, warm; /* timed and untimed repetitions of every figure */
  double target_s;     /* a batched repetition lasts about this long */
  double fit_tol;
} bench_cfg;

/* One start-up figure: one operation per repetition. */
typedef struct bench_fig {
  char key[40];       /* CSV/JSON name: "thread", "threads_pool_create"... */
  char interval[160]; /* what the interval holds, in words */
  bench_stat t;       /* seconds */
  char err[200];      /* not empty: not measured, and why */
} bench_fig;

/* One dispatch figure: parc_map of `tasks` empty tasks, chunk `chunk`. */
typedef struct bench_disp {
  const char *backend; /* "threads" or "processes" */
  unsigned workers;
  size_t chunk, tasks;
  bench_stat t; /* seconds per task: wall time of the map / tasks */
  char err[200];
} bench_disp;

typedef struct bench_point {
  size_t size;  /* bytes */
  size_t iters; /* round trips per repetition */
  bench_stat t; /* one-way time, seconds: round trip / 2 */
} bench_point;

enum bench_status { BENCH_OK, BENCH_SKIPPED, BENCH_FAILED };

typedef struct bench_series {
  const char *name; /* "parc_queue", "parc_pipe", "os_pipe", ... */
  const char *how;  /* the channel, in words */
  enum bench_status status;
  char note[400]; /* skipped or failed: why; else details (may be empty) */
  size_t n;
  bench_point pt[BENCH_MAX_SIZES];
  bench_model fit; /* over pt[0..n) when status is BENCH_OK */
} bench_series;

#define BENCH_NTRANSPORTS 5

typedef struct bench_run {
  bench_cfg cfg;
  unsigned workers; /* of the pools: one per physical core */
  double load;      /* 1-minute load average at the start; < 0: unknown */
  bench_fig fig[BENCH_MAX_FIGS];
  size_t nfig;
  bench_disp disp[2 * BENCH_MAX_CHUNKS];
  size_t ndisp;
  bench_series tr[BENCH_NTRANSPORTS];
  int cpu[2];        /* the timer's and the echo's CPU, when pinned */
  int pinned;        /* 1: the ping-pong ran on cpu[0] and cpu[1] */
  char csv_err[300]; /* not empty: the CSV files could not be written */
  int plotted;       /* 1: PNG and SVG drawn */
  char plot_note[300];
  double wall_s, user_s, sys_s; /* the whole run, children included */
  int failures;                 /* figures that could not be measured */
} bench_run;

/* bench_cost.c */
void bench_startup(bench_run *r);
void bench_dispatch(bench_run *r);

/* bench_transport.c: measures and fits every transport in r->tr. */
void bench_transports(bench_run *r);

/* bench_report.c: the text report, a section at a time */
void bench_print_header(const bench_run *r, FILE *f);
void bench_print_startup(const bench_run *r, FILE *f);
void bench_print_dispatch(const bench_run *r, FILE *f);
void bench_print_transports(const bench_run *r, FILE *f);
void bench_print_footer(const bench_run *r, FILE *f);

/* bench_export.c */
void bench_print_json(const bench_run *r, FILE *f);
/* Writes DIR/{startup,dispatch,transports,fit}.csv; 0 or -1 (csv_err). */
int bench_write_csv(bench_run *r);
/* "1.23 us": three significant digits and a unit. */
const char *bench_fmt_time(double s, char *buf, size_t cap);
/* "64 KiB", "8 B". */
const char *bench_fmt_size(size_t s, char *buf, size_t cap);

/* bench_plot.c: writes DIR/bandwidth.gp, runs gnuplot if there is one
 * (sets plotted and plot_note). -1 when the script could not be written
 * or gnuplot failed; 0 when drawn, or not drawn for want of gnuplot. */
int bench_plot(bench_run *r);

/* The full path of `name` on $PATH, or -1. */
int bench_which(const char *name, char *buf, size_t cap);

#endif
