/* test_gridsearch.c -- examples/gridsearch: the grid search run as tasks of
 * a parc pool scores every (C, kernel, fold) exactly as libsvm called
 * directly and serially, here in the test; the scores are the same for 1,
 * 2 and 4 workers, threads and processes, and for any order the tasks are
 * handed out in (longest first included); the folds, gamma='scale' and
 * the data set are what svc.h promises. */
#include "testutil.h"

#ifdef PARC_NO_GRIDSEARCH
Test(gridsearch, needs_libsvm) {
  cr_skip_test("libsvm not found: examples/gridsearch is not built");
}
#else

#include <libsvm/svm.h>
#include <math.h>

#include "svc.h"

TestSuite(gridsearch, .timeout = 120);

enum { SAMPLES = 400, FOLDS = 5 };

static svc_grid seed_grid(void) {
  svc_grid g;
  memset(&g, 0, sizeof g);
  double C[] = {0.001, 0.025, 2.5, 5, 10};
  memcpy(g.C, C, sizeof C);
  g.n_C = 5;
  g.kernel[0] = SVC_RBF;
  g.kernel[1] = SVC_POLY;
  g.n_kernel = 2;
  g.folds = FOLDS;
  return g;
}

static void quiet_libsvm(const char *s) { (void)s; }

/* ------------------------------------------------------------ reference */

/* One fit the long way: KFold's split written out (fold sizes n / k, the
 * first n % k one larger, contiguous), scikit-learn's SVC defaults,
 * libsvm's own calls. The training rows go to libsvm grouped by label, 0
 * first, as scikit-learn's copy of libsvm arranges them (svc.c, "label
 * order"). gamma is svc_gamma_scale's, checked against numpy below. */
static uint32_t direct_fit(const svc_data *d, double C, int kernel,
                           unsigned fold, double *gamma) {
  size_t begin = 0, size = 0;
  for (unsigned f = 0; f <= fold; f++) {
    begin += size;
    size = d->n / FOLDS + (f < d->n % FOLDS ? 1 : 0);
  }
  size_t rows = d->n - size, k = 0;
  struct svm_node(*nodes)[SVC_FEATURES + 1] = calloc(d->n, sizeof *nodes);
  struct svm_node **x = calloc(rows, sizeof *x);
  double *y = calloc(rows, sizeof *y);
  cr_assert(nodes && x && y);
  for (size_t i = 0; i < d->n; i++) {
    for (int f = 0; f < SVC_FEATURES; f++)
      nodes[i][f] = (struct svm_node){f + 1, d->x[i * SVC_FEATURES + f]};
    nodes[i][SVC_FEATURES].index = -1;
  }
  for (int label = 0; label <= 1; label++)
    for (size_t i = 0; i < d->n; i++)
      if ((i < begin || i >= begin + size) && d->y[i] == label) {
        x[k] = nodes[i];
        y[k++] = d->y[i];
      }
  cr_assert_eq(k, rows);
  *gamma = svc_gamma_scale(d, begin, begin + size);
  struct svm_problem prob = {(int)rows, y, x};
  struct svm_parameter p = {.svm_type = C_SVC,
                            .kernel_type = kernel,
                            .degree = 3,
                            .gamma = *gamma,
                            .coef0 = 0,
                            .cache_size = 200,
                            .eps = 1e-3,
                            .C = C,
                            .nu = 0.5,
                            .p = 0.1,
                            .shrinking = 1};
  cr_assert_null(svm_check_parameter(&prob, &p));
  struct svm_model *m = svm_train(&prob, &p);
  uint32_t correct = 0;
  for (size_t i = begin; i < begin + size; i++)
    correct += svm_predict(m, nodes[i]) == d->y[i];
  svm_free_and_destroy_model(&m);
  free(nodes);
  free(x);
  free(y);
  return correct;
}

/* ------------------------------------------------------------ pool runs */

static void run_grid(parc_backend backend, unsigned workers, const svc_data *d,
                     const svc_grid *g, svc_score *out) {
  parc_pool *p = pool_simple(backend, workers, (void *)d);
  size_t failed = 0;
  int rc = svc_grid_run(p, g, out, NULL, NULL, &failed);
  cr_assert_eq(rc, 0, "svc_grid_run(%s, %u workers): %d (%s) at task %zu",
               backend_name(backend), workers, rc, errname(rc), failed);
  parc_pool_destroy(p);
}

BOTH_BACKENDS(gridsearch, pool_scores_equal_direct_serial_libsvm) {
  svc_data d;
  cr_assert_eq(svc_data_make(&d, SAMPLES, 0.1, 7), 0);
  svm_set_print_string_function(quiet_libsvm);
  svc_grid g = seed_grid();
  size_t n = svc_grid_tasks(&g);
  ASSERT_I64(n, 50, "tasks in the seeds' grid");
  svc_score *s = calloc(n, sizeof *s);
  cr_assert(s);
  run_grid(backend, 2, &d, &g, s);
  for (size_t t = 0; t < n; t++) {
    double C = g.C[t / (2 * FOLDS)], gamma;
    int kernel = g.kernel[(t / FOLDS) % 2];
    unsigned fold = (unsigned)(t % FOLDS);
    uint32_t want = direct_fit(&d, C, kernel, fold, &gamma);
    ASSERT_I64(s[t].correct, want, "%s: C=%g %s fold %u: right answers",
               backend_name(backend), C, svc_kernel_name(kernel), fold);
    ASSERT_I64(s[t].tested, SAMPLES / FOLDS, "task %zu: tested", t);
    cr_assert_eq(s[t].gamma, gamma, "task %zu: gamma %.17g, want %.17g", t,
                 s[t].gamma, gamma);
    cr_assert_eq(s[t].accuracy, (double)want / (SAMPLES / FOLDS),
                 "task %zu: accuracy %.17g", t, s[t].accuracy);
  }
  free(s);
  svc_data_free(&d);
}

Test(gridsearch, scores_identical_for_1_2_4_workers_threads_and_processes) {
  svc_data d;
  cr_assert_eq(svc_data_make(&d, SAMPLES, 0.1, 11), 0);
  svc_quiet();
  svc_grid g = seed_grid();
  size_t n = svc_grid_tasks(&g);
  svc_score *ref = calloc(n, sizeof *ref), *s = calloc(n, sizeof *s);
  cr_assert(ref && s);
  run_grid(PARC_THREADS, 1, &d, &g, ref);
  parc_backend backends[] = {PARC_THREADS, PARC_PROCESSES};
  unsigned workers[] = {1, 2, 4};
  for (int b = 0; b < 2; b++)
    for (int w = 0; w < 3; w++) {
      run_grid(backends[b], workers[w], &d, &g, s);
      for (size_t t = 0; t < n; t++) {
        ASSERT_I64(s[t].correct, ref[t].correct, "%s, %u workers, task %zu",
                   backend_name(backends[b]), workers[w], t);
        ASSERT_I64(s[t].n_sv, ref[t].n_sv, "%s, %u workers, task %zu: n_sv",
                   backend_name(backends[b]), workers[w], t);
        cr_assert_eq(s[t].gamma, ref[t].gamma, "task %zu: gamma", t);
      }
    }
  free(ref);
  free(s);
  svc_data_free(&d);
}

/* ------------------------------------------------------------ order */

static void assert_same_scores(const svc_score *a, const svc_score *b, size_t n,
                               const char *what) {
  for (size_t t = 0; t < n; t++) {
    ASSERT_I64(a[t].correct, b[t].correct, "%s, task %zu", what, t);
    ASSERT_I64(a[t].n_sv, b[t].n_sv, "%s, task %zu: n_sv", what, t);
    cr_assert_eq(a[t].gamma, b[t].gamma, "%s, task %zu: gamma", what, t);
    cr_assert_eq(a[t].accuracy, b[t].accuracy, "%s, task %zu: accuracy", what,
                 t);
  }
}

/* Reversed, and longest first as planned from the pilots: each score lands
 * at its own task's index and is the one grid order computes. */
BOTH_BACKENDS(gridsearch, submission_order_does_not_change_scores) {
  svc_data d;
  cr_assert_eq(svc_data_make(&d, SAMPLES, 0.1, 13), 0);
  svc_quiet();
  svc_grid g = seed_grid();
  size_t n = svc_grid_tasks(&g);
  svc_score *ref = calloc(n, sizeof *ref), *s = calloc(n, sizeof *s);
  size_t *order = calloc(n, sizeof *order);
  cr_assert(ref && s && order);
  parc_pool *p = pool_simple(backend, 2, &d);
  cr_assert_eq(svc_grid_run_order(p, &g, NULL, ref, NULL, NULL, NULL), 0);
  for (size_t i = 0; i < n; i++) order[i] = n - 1 - i;
  cr_assert_eq(svc_grid_run_order(p, &g, order, s, NULL, NULL, NULL), 0);
  assert_same_scores(s, ref, n, "reversed");
  cr_assert_eq(svc_grid_plan(p, &g, &d, order), 0);
  memset(s, 0, n * sizeof *s);
  cr_assert_eq(svc_grid_run_order(p, &g, order, s, NULL, NULL, NULL), 0);
  assert_same_scores(s, ref, n, "longest first");
  parc_pool_destroy(p);
  free(ref);
  free(s);
  free(order);
  svc_data_free(&d);
}

Test(gridsearch, order_is_by_decreasing_cost_ties_in_grid_order) {
  svc_grid g = seed_grid(); /* 10 settings x 5 folds */
  double cost[10] = {3, 1, 2, 0, 0, 5, 0, 0, 0, 2};
  size_t order[50], want_settings[10] = {5, 0, 2, 9, 1, 3, 4, 6, 7, 8};
  svc_grid_order(&g, cost, order);
  for (size_t i = 0; i < 50; i++)
    ASSERT_I64(order[i], want_settings[i / FOLDS] * FOLDS + i % FOLDS,
               "order[%zu]", i);
}

Test(gridsearch, a_failed_fit_is_reported_by_grid_index_in_any_order) {
  svc_data d;
  cr_assert_eq(svc_data_make(&d, 100, 0.1, 1), 0);
  svc_quiet();
  svc_grid g = seed_grid();
  g.n_C = 3;
  g.C[1] = 0; /* tasks 10 .. 19 fail: libsvm rejects C = 0 */
  size_t n = svc_grid_tasks(&g), order[30], failed = 99;
  for (size_t i = 0; i < n; i++) order[i] = n - 1 - i;
  svc_score s[30];
  parc_pool *p = pool_simple(PARC_THREADS, 2, &d);
  int rc = svc_grid_run_order(p, &g, order, s, NULL, NULL, &failed);
  ASSERT_I64(rc, PARC_ETASK, "rc (%s)", errname(rc));
  ASSERT_I64(failed, 10, "first failed task in grid order");
  ASSERT_I64(s[25].tested, 20, "task 25 still scored");
  parc_pool_destroy(p);
  svc_data_free(&d);
}

Test(gridsearch, pilots_use_a_twentieth_of_the_rows) {
  ASSERT_I64(svc_pilot_rows(10000, 5), 500, "10000 rows");
  ASSERT_I64(svc_pilot_rows(600, 5), 50, "600 rows: 10 per fold");
  ASSERT_I64(svc_pilot_rows(30, 5), 30, "30 rows: all");
}

/* ------------------------------------------------------------ pieces */

Test(gridsearch, folds_split_as_sklearn_kfold) {
  /* KFold(5) on 13 samples: test folds of 3, 3, 3, 2, 2 in order. */
  size_t want[][2] = {{0, 3}, {3, 6}, {6, 9}, {9, 11}, {11, 13}};
  for (unsigned f = 0; f < 5; f++) {
    size_t b, e;
    svc_fold_range(13, 5, f, &b, &e);
    ASSERT_I64(b, want[f][0], "fold %u begin", f);
    ASSERT_I64(e, want[f][1], "fold %u end", f);
  }
  size_t b, e;
  svc_fold_range(10, 5, 4, &b, &e);
  ASSERT_I64(b, 8, "10 samples, fold 4 begin");
  ASSERT_I64(e, 10, "10 samples, fold 4 end");
}

Test(gridsearch, gamma_scale_is_one_over_features_times_variance) {
  /* Rows of all 0 and all 1: the values' variance is 1/4, gamma 1. A
   * third row of 0.5 held out must not count; holding out a 1-row leaves
   * only zeros and 0.5s: values 0 and 0.5, variance 1/16, gamma 4. */
  double x[] = {0,   0,   0, 0, 1, 1, 1, 1, 0.5, 0.5,
                0.5, 0.5, 0, 0, 0, 0, 1, 1, 1,   1};
  double y[] = {0, 1, 1, 0, 1};
  svc_data d = {5, x, y};
  cr_assert_eq(svc_gamma_scale(&d, 2, 3), 1.0, "gamma %.17g",
               svc_gamma_scale(&d, 2, 3));
  svc_data d3 = {3, x, y};
  cr_assert_eq(svc_gamma_scale(&d3, 1, 2), 4.0, "gamma %.17g",
               svc_gamma_scale(&d3, 1, 2));
  svc_data flat = {1, x, y};
  cr_assert_eq(svc_gamma_scale(&flat, 0, 0), 1.0, "variance 0: gamma 1");
}

/* 1 / (4 * X_train.var()) as numpy 1.24 computes it (pairwise sums in
 * buffers of 8192) for the folds of two data sets, printed with
 * float.hex(); a plain left-to-right sum differs in the last bits in every
 * one of these, and that is enough to change a fold's score now and then.
 * The second set has 9600 training values: more than one buffer. */
Test(gridsearch, gamma_equals_numpy_var_bit_for_bit) {
  static const struct {
    size_t n;
    double noise;
    uint64_t seed;
    double gamma[FOLDS];
  } want[] = {
      {1000,
       0.1,
       2021,
       {0x1.7df57ec4dcee8p+1, 0x1.8059d970a7b86p+1, 0x1.8719f64b75454p+1,
        0x1.84f194ea6b80ep+1, 0x1.80d7fe88138adp+1}},
      {3000,
       0.3,
       5,
       {0x1.79d7d5ca5d7abp+1, 0x1.7a727b39b28f5p+1, 0x1.7a67d4bd084c2p+1,
        0x1.7b107098c6a89p+1, 0x1.76d14657a23ffp+1}},
  };
  for (size_t s = 0; s < 2; s++) {
    svc_data d;
    cr_assert_eq(svc_data_make(&d, want[s].n, want[s].noise, want[s].seed), 0);
    for (unsigned f = 0; f < FOLDS; f++) {
      size_t b, e;
      svc_fold_range(d.n, FOLDS, f, &b, &e);
      double g = svc_gamma_scale(&d, b, e);
      cr_assert_eq(g, want[s].gamma[f], "n=%zu fold %u: gamma %a, numpy %a",
                   want[s].n, f, g, want[s].gamma[f]);
    }
    svc_data_free(&d);
  }
}

Test(gridsearch, data_depend_only_on_the_seed) {
  svc_data a, b, c;
  cr_assert_eq(svc_data_make(&a, 1000, 0.1, 5), 0);
  cr_assert_eq(svc_data_make(&b, 1000, 0.1, 5), 0);
  cr_assert_eq(svc_data_make(&c, 1000, 0.1, 6), 0);
  cr_assert(memcmp(a.x, b.x, 1000 * SVC_FEATURES * sizeof *a.x) == 0);
  cr_assert(memcmp(a.y, b.y, 1000 * sizeof *a.y) == 0);
  cr_assert(memcmp(a.x, c.x, 1000 * SVC_FEATURES * sizeof *a.x) != 0);
  size_t red = 0;
  for (size_t i = 0; i < 1000 * SVC_FEATURES; i++) {
    double byte = a.x[i] * 255.0;
    cr_assert(a.x[i] >= 0 && a.x[i] <= 1 && byte == round(byte),
              "x[%zu] = %.17g: not a byte / 255", i, a.x[i]);
  }
  for (size_t i = 0; i < 1000; i++) red += a.y[i] == SVC_RED;
  cr_assert(red > 400 && red < 600, "%zu red of 1000", red);
  svc_data_free(&a);
  svc_data_free(&b);
  svc_data_free(&c);
}

Test(gridsearch, noiseless_labels_follow_red_minus_blue) {
  svc_data d;
  cr_assert_eq(svc_data_make(&d, 500, 0.0, 3), 0);
  for (size_t i = 0; i < d.n; i++) {
    const double *r = d.x + i * SVC_FEATURES;
    ASSERT_I64(d.y[i], r[0] > r[2] ? SVC_RED : SVC_BLUE, "sample %zu", i);
  }
  svc_data_free(&d);
}

Test(gridsearch, a_bad_setting_fails_its_task) {
  svc_data d;
  cr_assert_eq(svc_data_make(&d, 50, 0.1, 1), 0);
  svc_score s;
  ASSERT_I64(svc_fit_score(&d, 5, 5, 1.0, SVC_RBF, &s), -1, "fold 5 of 5");
  ASSERT_I64(svc_fit_score(&d, 5, 0, 0.0, SVC_RBF, &s), -1, "C = 0");
  ASSERT_I64(svc_fit_score(&d, 5, 0, 1.0, 7, &s), -1, "kernel 7");
  svc_data_free(&d);
}

#endif /* PARC_NO_GRIDSEARCH */
