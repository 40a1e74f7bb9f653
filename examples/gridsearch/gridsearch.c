/* gridsearch -- the seeds' case study: an SVC hyperparameter grid search
 * (C x kernel, each scored by k-fold cross-validation) run as the tasks of
 * a parc pool, one task per fit.
 *
 * The lecture's questions -- is it embarrassingly parallel? threads or
 * processes? -- answered by running it: every fit is independent, so the
 * speedup is close to the number of cores on either backend, and the
 * scores do not depend on how many workers ran them or which kind.
 *
 * The data are made before the pool is created and are the pool's ctx:
 * process workers see them as they were at that moment (copy-on-write,
 * nothing copied), and each task carries only (C, kernel, fold). Under
 * mpirun with --backend mpi every rank makes the same data and the fits
 * run on ranks 1..N-1 (examples/common/example.h).
 *
 * The fits are handed out longest first (grid.c): one cheap pilot fit per
 * setting measures what each costs, the pool gets the slow settings'
 * fits first and the quick ones last, so the workers finish together.
 *
 *   parc-gridsearch [-j N] [--backend processes|threads|mpi] [--C LIST]
 *                   [--kernel LIST] [--folds N] [--samples N] [--noise SD]
 *                   [--seed S] [--order longest|grid] [--baseline]
 *                   [--fold-scores] [--export-csv FILE] [--json FILE]
 *                   [--quiet]
 */
#define _POSIX_C_SOURCE 200809L /* isatty, clock_gettime under -std=c11 */

#include "options.h"
#include "svc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "example.h"

typedef struct {
  gs_data_opts data;
  svc_grid grid;
  const char *C_text[SVC_MAX_C]; /* as typed, for the table */
  unsigned workers;              /* 0: one per physical core */
  parc_backend backend;
  int baseline;    /* also run on one worker, to measure the speedup */
  int fold_scores; /* print every fold's score */
  int quiet;       /* no progress bar */
  int grid_order;  /* --order grid: no pilot, tasks in grid order */
  const char *export_csv;
  const char *json; /* --json FILE: the results, machine-readable */
} options;

/* One search: its scores and how long it took. */
typedef struct {
  unsigned workers;
  double wall_s;
  svc_score *scores; /* one per task */
  double pilot_s;    /* the pilot fits' wall time, inside wall_s */
  int longest_first; /* handed out longest first (else grid order) */
} search_run;

/* ------------------------------------------------------------ options */

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: parc-gridsearch [OPTIONS]\n"
      "  -j, --workers N    workers (default: one per physical core); with\n"
      "                     mpi: per serving rank\n"
      "  --backend B        processes (default), threads, or mpi (under\n"
      "                     mpirun -n N, N >= 2: ranks 1..N-1 fit)\n"
      "  --C LIST           C values (default 0.001,0.025,2.5,5,10)\n"
      "  --kernel LIST      kernels: rbf, poly, linear, sigmoid "
      "(default rbf,poly)\n"
      "  --folds N          cross-validation folds (default %u)\n"
      "  --samples N        data set size (default %u)\n"
      "  --noise SD         label noise (default %g)\n"
      "  --seed S           data set seed (default %u)\n"
      "  --order O          longest (default: pilot fits, slowest first) "
      "or grid\n"
      "  --baseline         run on one worker first: measured speedup\n"
      "  --fold-scores      print every fold's score\n"
      "  --export-csv FILE  write the data set as CSV (then search)\n"
      "  --json FILE        write the results as JSON\n"
      "  --quiet            no progress bar\n",
      GS_DEFAULT_FOLDS, (unsigned)GS_DEFAULT_SAMPLES, GS_DEFAULT_NOISE,
      (unsigned)GS_DEFAULT_SEED);
}

/* Splits a comma-separated list in place; returns the count or -1 if it
 * has more than `max` items or an empty one. */
static int split_list(char *s, char **items, size_t max) {
  size_t n = 0;
  for (char *tok = s;; tok++) {
    char *comma = strchr(tok, ',');
    if (comma != NULL)
      *comma = '\0';
    if (*tok == '\0' || n == max)
      return -1;
    items[n++] = tok;
    if (comma == NULL)
      return (int)n;
    tok = comma;
  }
}

static int parse_C_list(char *s, options *o) {
  char *items[SVC_MAX_C];
  int n = split_list(s, items, SVC_MAX_C);
  for (int i = 0; i < n; i++) {
    if (gs_parse_double(items[i], &o->grid.C[i]) != 0 || o->grid.C[i] <= 0)
      return 0;
    o->C_text[i] = items[i];
  }
  o->grid.n_C = n > 0 ? (size_t)n : 0;
  return n > 0;
}

static int parse_kernel_list(char *s, options *o) {
  char *items[SVC_MAX_KERNELS];
  int n = split_list(s, items, SVC_MAX_KERNELS);
  for (int i = 0; i < n; i++)
    if ((o->grid.kernel[i] = svc_kernel_parse(items[i])) < 0)
      return 0;
  o->grid.n_kernel = n > 0 ? (size_t)n : 0;
  return n > 0;
}

static void set_defaults(options *o) {
  static char default_C[] = "0.001,0.025,2.5,5,10";
  static char default_kernels[] = "rbf,poly";
  memset(o, 0, sizeof *o);
  gs_data_defaults(&o->data);
  parse_C_list(default_C, o);
  parse_kernel_list(default_kernels, o);
  o->grid.folds = GS_DEFAULT_FOLDS;
  o->backend = PARC_PROCESSES;
}

/* One option with a value: 1 if understood and valid. */
static int parse_opt(const char *a, char *v, options *o) {
  if (strcmp(a, "-j") == 0 || strcmp(a, "--workers") == 0)
    return gs_parse_uint(v, 1, 1024, &o->workers) == 0;
  if (strcmp(a, "--backend") == 0)
    return ex_parse_backend(v, &o->backend) == 0;
  if (strcmp(a, "--C") == 0)
    return parse_C_list(v, o);
  if (strcmp(a, "--kernel") == 0)
    return parse_kernel_list(v, o);
  if (strcmp(a, "--folds") == 0)
    return gs_parse_uint(v, 2, GS_MAX_FOLDS, &o->grid.folds) == 0;
  if (strcmp(a, "--order") == 0) {
    o->grid_order = strcmp(v, "grid") == 0;
    return o->grid_order || strcmp(v, "longest") == 0;
  }
  if (strcmp(a, "--export-csv") == 0) {
    o->export_csv = v;
    return 1;
  }
  if (strcmp(a, "--json") == 0) {
    o->json = v;
    return 1;
  }
  return gs_parse_data_opt(a, v, &o->data);
}

/* Parses the options and starts the backend. Returns 0, 2 on a bad
 * command line or 1 if the backend cannot start, after printing why. */
static int parse_args(int argc, char **argv, options *o) {
  set_defaults(o);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      exit(0);
    }
    int *flag = strcmp(a, "--baseline") == 0      ? &o->baseline
                : strcmp(a, "--fold-scores") == 0 ? &o->fold_scores
                : strcmp(a, "--quiet") == 0       ? &o->quiet
                                                  : NULL;
    if (flag != NULL) {
      *flag = 1;
      continue;
    }
    char *v = i + 1 < argc ? argv[++i] : NULL;
    char shown[128]; /* parse_opt cuts lists up in place */
    snprintf(shown, sizeof shown, "%s", v ? v : "");
    if (v == NULL || !parse_opt(a, v, o)) {
      fprintf(stderr, "parc-gridsearch: bad option: %s%s%s\n", a, v ? " " : "",
              shown);
      usage(stderr);
      return 2;
    }
  }
  if (o->data.samples < o->grid.folds) {
    fprintf(stderr, "parc-gridsearch: --samples must be at least --folds\n");
    return 2;
  }
  return ex_backend_start(o->backend, &argc, &argv);
}

/* ------------------------------------------------------------ progress */

typedef struct {
  double t0;
  int tty;
  unsigned workers;
} progress_state;

/* parc_map's progress callback: a bar redrawn in place on a terminal; on
 * anything else a single line at the end. */
static void progress(uint64_t done, uint64_t total, void *arg) {
  const progress_state *p = arg;
  double elapsed = ex_now() - p->t0;
  if (!p->tty) {
    if (done == total)
      fprintf(stderr, "%u worker%s: %llu/%llu fits in %.1f s\n", p->workers,
              p->workers == 1 ? "" : "s", (unsigned long long)done,
              (unsigned long long)total, elapsed);
    return;
  }
  enum { WIDTH = 30 };
  char bar[WIDTH + 1];
  size_t fill = total ? (size_t)(done * WIDTH / total) : WIDTH;
  memset(bar, '#', fill);
  memset(bar + fill, '.', WIDTH - fill);
  bar[WIDTH] = '\0';
  fprintf(stderr, "\r%2u worker%s [%s] %3llu/%llu fits %6.1f s", p->workers,
          p->workers == 1 ? " " : "s", bar, (unsigned long long)done,
          (unsigned long long)total, elapsed);
  if (done > 0 && done < total)
    fprintf(stderr, "  ETA %4.0f s", elapsed * (double)(total - done) / done);
  else
    fprintf(stderr, "%11s", "");
  fputs(done == total ? "\n" : "", stderr);
  fflush(stderr);
}

/* ------------------------------------------------------------ search */

/* The order to hand the fits out in: longest first, from pilot fits on
 * the pool (grid.c), or NULL for grid order -- asked for, or when order
 * cannot matter (one worker, or no more fits than workers), or when the
 * pilot failed (grid order is always right, only slower). */
static size_t *plan(const options *o, const svc_data *d, parc_pool *pool,
                    search_run *r) {
  size_t n = svc_grid_tasks(&o->grid);
  r->longest_first = 0;
  if (o->grid_order || r->workers < 2 || n <= r->workers)
    return NULL;
  size_t *order = malloc(n * sizeof *order);
  double t0 = ex_now();
  if (order == NULL || svc_grid_plan(pool, &o->grid, d, order) != 0) {
    free(order);
    return NULL;
  }
  r->pilot_s = ex_now() - t0;
  r->longest_first = 1;
  return order;
}

/* Creates a pool, runs the whole grid on it, destroys it. Returns 0,
 * PARC_ESERVED on MPI's serving ranks, or 1 after printing what failed. */
static int search(const options *o, const svc_data *d, search_run *r) {
  parc_pool_opts po = {0};
  po.backend = o->backend;
  po.workers = r->workers;
  po.ctx = (void *)d; /* the tasks' data (svc_grid_run) */
  parc_pool *pool = NULL;
  fflush(stdout); /* the fork copies unflushed output */
  double t0 = ex_now();
  int rc = parc_pool_create(&pool, &po);
  if (rc == PARC_ESERVED)
    return rc;
  if (rc != 0) {
    fprintf(stderr, "parc_pool_create(%s, %u workers): %s\n",
            ex_backend_name(o->backend), r->workers, ex_strerror(rc));
    return 1;
  }
  r->workers = parc_pool_workers(pool);
  progress_state ps = {t0, isatty(STDERR_FILENO), r->workers};
  size_t failed = 0, *order = plan(o, d, pool, r);
  rc = svc_grid_run_order(pool, &o->grid, order, r->scores,
                          o->quiet ? NULL : progress, &ps, &failed);
  free(order);
  parc_pool_destroy(pool);
  r->wall_s = ex_now() - t0;
  if (rc != 0) {
    fprintf(stderr, "grid search: fit %zu failed: %s\n", failed,
            parc_strerror(rc));
    return 1;
  }
  return 0;
}

/* ------------------------------------------------------------ report */

typedef struct {
  double mean, std, fit_s;
  int rank;
} setting_stats;

/* Mean and population standard deviation of the fold accuracies (what
 * scikit-learn reports as mean_test_score and std_test_score), and the
 * mean fit time, of setting s. */
static setting_stats stats_of(const svc_score *sc, unsigned folds) {
  setting_stats st = {0, 0, 0, 0};
  for (unsigned f = 0; f < folds; f++) {
    st.mean += sc[f].accuracy;
    st.fit_s += sc[f].fit_seconds;
  }
  st.mean /= folds;
  st.fit_s /= folds;
  for (unsigned f = 0; f < folds; f++)
    st.std += (sc[f].accuracy - st.mean) * (sc[f].accuracy - st.mean);
  st.std = sqrt(st.std / folds);
  return st;
}

/* rank = 1 + the number of settings with a strictly higher mean (ties
 * share the lowest rank, as scikit-learn's rank_test_score). */
static void rank_settings(setting_stats *st, size_t n) {
  for (size_t i = 0; i < n; i++) {
    st[i].rank = 1;
    for (size_t j = 0; j < n; j++) st[i].rank += st[j].mean > st[i].mean;
  }
}

static void print_table(const options *o, const svc_score *scores,
                        setting_stats *st) {
  const svc_grid *g = &o->grid;
  size_t settings = g->n_C * g->n_kernel;
  for (size_t s = 0; s < settings; s++)
    st[s] = stats_of(scores + s * g->folds, g->folds);
  rank_settings(st, settings);
  printf("\n%-10s %-8s %-19s %4s %8s", "C", "kernel", "accuracy", "rank",
         "fit s");
  for (unsigned f = 0; o->fold_scores && f < g->folds; f++)
    printf("  fold %-2u", f);
  printf("\n");
  for (size_t s = 0; s < settings; s++) {
    printf("%-10s %-8s %.4f +/- %.4f    %4d %8.2f", o->C_text[s / g->n_kernel],
           svc_kernel_name(g->kernel[s % g->n_kernel]), st[s].mean, st[s].std,
           st[s].rank, st[s].fit_s);
    for (unsigned f = 0; o->fold_scores && f < g->folds; f++)
      printf("  %.5f", scores[s * g->folds + f].accuracy);
    printf("\n");
  }
}

/* The first setting of rank 1, as scikit-learn's best_index_. */
static size_t best_setting(const setting_stats *st, size_t n) {
  size_t best = 0;
  for (size_t s = 1; s < n; s++)
    if (st[s].mean > st[best].mean)
      best = s;
  return best;
}

/* FNV-1a of every fold's count of right answers: one number to compare
 * runs by (it is the same for any worker count and backend). */
static uint64_t scores_digest(const svc_score *sc, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++)
    for (int b = 0; b < 4; b++)
      h = (h ^ ((sc[i].correct >> (8 * b)) & 0xff)) * 0x100000001b3ull;
  return h;
}

static int same_scores(const svc_score *a, const svc_score *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (a[i].correct != b[i].correct || a[i].tested != b[i].tested ||
        a[i].n_sv != b[i].n_sv || a[i].gamma != b[i].gamma)
      return 0;
  return 1;
}

/* Wall time, speedup and efficiency: measured against a one-worker run
 * when there is one, else estimated from the sum of the fit times (which
 * overstates it when fits run slower side by side than alone). */
static void print_timing(const options *o, const search_run *base,
                         const search_run *run) {
  size_t n = svc_grid_tasks(&o->grid);
  double fits = 0;
  for (size_t i = 0; i < n; i++) fits += run->scores[i].fit_seconds;
  double serial = base ? base->wall_s : fits;
  double speedup = serial / run->wall_s;
  printf("\nwall time   %.2f s on %u worker%s (%s)\n", run->wall_s,
         run->workers, run->workers == 1 ? "" : "s",
         ex_backend_name(o->backend));
  if (run->longest_first)
    printf("order       longest first: %zu pilot fits on %zu rows, %.2f s\n",
           o->grid.n_C * o->grid.n_kernel,
           svc_pilot_rows(o->data.samples, o->grid.folds), run->pilot_s);
  else
    printf("order       grid%s\n",
           o->grid_order ? " (--order grid)" : " (order cannot matter)");
  /* Under MPI the baseline is one worker per serving rank. */
  const char *one = base && base->workers > 1 ? "1 per rank" : "one worker";
  if (base != NULL)
    printf("%-11s %.2f s (--baseline)\n", one, base->wall_s);
  printf("fit time    %.2f s (the %zu fits' times added up)\n", fits, n);
  printf("speedup     %.2f (%s / wall time%s)\n", speedup,
         base ? one : "fit time",
         base ? "" : "; estimated: --baseline measures it");
  printf("efficiency  %.2f (speedup / workers%s)\n",
         speedup * (base ? base->workers : 1) / run->workers,
         base && base->workers > 1 ? " x baseline workers" : "");
}

static void print_header(const options *o, unsigned workers) {
  const svc_grid *g = &o->grid;
  printf("SVC grid search: %zu RGBA colours, red vs blue (noise %g, seed "
         "%llu)\n",
         o->data.samples, o->data.noise, (unsigned long long)o->data.seed);
  printf("grid: C in {");
  for (size_t i = 0; i < g->n_C; i++)
    printf("%s%s", i ? ", " : "", o->C_text[i]);
  printf("} x kernel in {");
  for (size_t i = 0; i < g->n_kernel; i++)
    printf("%s%s", i ? ", " : "", svc_kernel_name(g->kernel[i]));
  printf("} x %u folds = %zu fits\n", g->folds, svc_grid_tasks(g));
  printf("pool: %s, %u worker%s%s (%u physical cores)\n",
         ex_backend_name(o->backend), workers, workers == 1 ? "" : "s",
         o->backend == PARC_MPI ? " per serving rank" : "",
         parc_physical_cores());
}

/* --json FILE: one object with the run (one_worker_s only with
 * --baseline) and, per setting, what scikit-learn's cv_results_ calls
 * mean_test_score, std_test_score, rank_test_score and split<k>_test_score
 * (here one list), and best_params. Scores exact (%.17g). Returns 0, or 1
 * after printing why. */
static int write_json(const options *o, const search_run *base,
                      const search_run *run, const setting_stats *st,
                      size_t best) {
  const svc_grid *g = &o->grid;
  size_t settings = g->n_C * g->n_kernel, n = svc_grid_tasks(g);
  FILE *f = fopen(o->json, "w");
  if (f == NULL) {
    perror(o->json);
    return 1;
  }
  double fits = 0;
  for (size_t i = 0; i < n; i++) fits += run->scores[i].fit_seconds;
  fprintf(f, "{\"samples\": %zu, \"noise\": %.17g, \"seed\": %llu, ",
          o->data.samples, o->data.noise, (unsigned long long)o->data.seed);
  fprintf(f, "\"folds\": %u, \"backend\": \"%s\", \"workers\": %u,\n", g->folds,
          ex_backend_name(o->backend), run->workers);
  fprintf(f, " \"order\": \"%s\", \"wall_s\": %.9f, \"pilot_s\": %.9f, ",
          run->longest_first ? "longest" : "grid", run->wall_s, run->pilot_s);
  if (base != NULL)
    fprintf(f, "\"one_worker_s\": %.9f, ", base->wall_s);
  fprintf(f, "\"fit_s\": %.9f,\n \"digest\": \"%016llx\", ", fits,
          (unsigned long long)scores_digest(run->scores, n));
  fprintf(f,
          "\"best_index\": %zu, \"best_params\": {\"C\": %.17g, "
          "\"kernel\": \"%s\"},\n \"settings\": [",
          best, g->C[best / g->n_kernel],
          svc_kernel_name(g->kernel[best % g->n_kernel]));
  for (size_t s = 0; s < settings; s++) {
    fprintf(f, "%s\n  {\"C\": %.17g, \"C_text\": \"%s\", \"kernel\": \"%s\", ",
            s ? "," : "", g->C[s / g->n_kernel], o->C_text[s / g->n_kernel],
            svc_kernel_name(g->kernel[s % g->n_kernel]));
    fprintf(f,
            "\"mean_test_score\": %.17g, \"std_test_score\": %.17g, "
            "\"rank_test_score\": %d, \"mean_fit_s\": %.9f, "
            "\"split_test_scores\": [",
            st[s].mean, st[s].std, st[s].rank, st[s].fit_s);
    for (unsigned k = 0; k < g->folds; k++)
      fprintf(f, "%s%.17g", k ? ", " : "",
              run->scores[s * g->folds + k].accuracy);
    fputs("]}", f);
  }
  fputs("\n ]}\n", f);
  if (ferror(f) | (fclose(f) != 0)) {
    perror(o->json);
    return 1;
  }
  return 0;
}

static int report(const options *o, const search_run *base,
                  const search_run *run) {
  const svc_grid *g = &o->grid;
  size_t settings = g->n_C * g->n_kernel, n = svc_grid_tasks(g);
  setting_stats *st = calloc(settings, sizeof *st);
  if (st == NULL)
    return 1;
  print_table(o, run->scores, st);
  size_t b = best_setting(st, settings);
  printf("\nbest: C=%s kernel=%s  accuracy %.4f +/- %.4f\n",
         o->C_text[b / g->n_kernel],
         svc_kernel_name(g->kernel[b % g->n_kernel]), st[b].mean, st[b].std);
  printf("fold scores digest: %016llx\n",
         (unsigned long long)scores_digest(run->scores, n));
  print_timing(o, base, run);
  int rc = o->json != NULL ? write_json(o, base, run, st, b) : 0;
  free(st);
  if (base != NULL) {
    int same = same_scores(base->scores, run->scores, n);
    printf("scores on 1 and %u workers: %s\n", run->workers,
           same ? "identical" : "DIFFERENT");
    if (!same)
      return 1;
  }
  return rc;
}

/* ------------------------------------------------------------ main */

static int export_data(const options *o, const svc_data *d) {
  FILE *f = fopen(o->export_csv, "w");
  int rc = f != NULL ? svc_data_write_csv(d, f) : -1;
  if (f != NULL && fclose(f) != 0)
    rc = -1;
  if (rc != 0) {
    perror(o->export_csv);
    return 1;
  }
  printf("wrote %zu samples to %s\n\n", d->n, o->export_csv);
  return 0;
}

static int run_all(const options *o, const svc_data *d, svc_score *one,
                   svc_score *many) {
  unsigned workers = o->workers ? o->workers : parc_physical_cores();
  if (ex_reports())
    print_header(o, workers);
  search_run base = {1, 0, one, 0, 0}, run = {workers, 0, many, 0, 0};
  /* Under MPI every rank creates the same pools, so what decides must be
   * the same on every rank (the options, not this rank's cores), and rank
   * 0 creates the second pool even after an error in the first. */
  int mpi = o->backend == PARC_MPI;
  int with_base = o->baseline && (mpi ? o->workers != 1 : workers > 1);
  int rc = with_base ? search(o, d, &base) : 0;
  if (rc == 0 || rc == PARC_ESERVED || mpi) {
    int rc2 = search(o, d, &run);
    rc = rc == 0 || rc == PARC_ESERVED ? rc2 : rc;
  }
  if (rc != 0)
    return rc == PARC_ESERVED ? 0 : 1;
  return report(o, with_base ? &base : NULL, &run);
}

int main(int argc, char **argv) {
  options o;
  int rc = parse_args(argc, argv, &o);
  if (rc != 0)
    return rc;
  svc_data d;
  if (svc_data_make(&d, o.data.samples, o.data.noise, o.data.seed) != 0) {
    fprintf(stderr, "parc-gridsearch: out of memory\n");
    return 1;
  }
  svc_quiet(); /* before any worker exists */
  svc_keep_heap();
  size_t n = svc_grid_tasks(&o.grid);
  svc_score *one = calloc(n, sizeof *one), *many = calloc(n, sizeof *many);
  if (one == NULL || many == NULL) {
    rc = 1;
  } else {
    if (o.export_csv != NULL && ex_reports())
      rc = export_data(&o, &d);
    if (rc == 0 || o.backend == PARC_MPI) { /* the pools are collective */
      int rc2 = run_all(&o, &d, one, many);
      rc = rc != 0 ? rc : rc2;
    }
  }
  free(one);
  free(many);
  svc_data_free(&d);
  return ex_backend_end(o.backend, rc);
}
