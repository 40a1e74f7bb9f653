/* svc.c -- the data set, the folds, gamma='scale' and one libsvm fit (the
 * grid's run over a parc pool is grid.c). See svc.h for the contract: the
 * same numbers as scikit-learn's GridSearchCV over SVC(gamma='scale') with
 * KFold.
 *
 * Label order. libsvm groups the training rows by class (keeping their
 * order within a class) and makes the first class the +1 side of the dual
 * problem. Upstream libsvm (Debian's) takes the classes in order of first
 * appearance; scikit-learn's copy sorts them. The SMO solver's path depends
 * on which side is +1, so the two can stop at slightly different models
 * and disagree on a point or two near the boundary. Handing libsvm the
 * rows already grouped, SVC_BLUE (0) first, gives it exactly the problem
 * scikit-learn's copy solves: same rows, same order, same sides.
 *
 * Gamma. 'scale' divides by X_train.var(), which numpy sums pairwise; a
 * plain loop gives a gamma a bit or two away, and on noisy data that is
 * enough for the solver to end one sample apart on some folds. So the
 * variance is summed in numpy's order (numpy_sum below).
 *
 * libsvm keeps pointers into the training problem inside the model, so a
 * fit's nodes live until its model is freed. libsvm itself is reentrant
 * (no global state but the print function), so fits may run in threads.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */

#include "svc.h"

#include <libsvm/svm.h>
#include <malloc.h> /* mallopt: glibc's, as the rest of parc is Linux's */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "example.h"

/* ------------------------------------------------------------ data */

int svc_data_make(svc_data *d, size_t n, double noise, uint64_t seed) {
  d->n = n;
  d->x = malloc((n ? n : 1) * SVC_FEATURES * sizeof *d->x);
  d->y = malloc((n ? n : 1) * sizeof *d->y);
  if (d->x == NULL || d->y == NULL) {
    svc_data_free(d);
    return -1;
  }
  for (size_t i = 0; i < n; i++) {
    parc_rng r;
    parc_rng_init(&r, seed, i); /* one stream per sample */
    double *row = d->x + i * SVC_FEATURES;
    for (int f = 0; f < SVC_FEATURES; f++)
      row[f] = (double)parc_rng_below(&r, 256) / 255.0;
    double margin = row[0] - row[2] + noise * parc_rng_normal(&r);
    d->y[i] = margin > 0 ? SVC_RED : SVC_BLUE;
  }
  return 0;
}

void svc_data_free(svc_data *d) {
  free(d->x);
  free(d->y);
  d->x = NULL;
  d->y = NULL;
  d->n = 0;
}

int svc_data_write_csv(const svc_data *d, FILE *f) {
  if (fprintf(f, "R,G,B,A,label\n") < 0)
    return -1;
  for (size_t i = 0; i < d->n; i++) {
    const double *row = d->x + i * SVC_FEATURES;
    if (fprintf(f, "%.17g,%.17g,%.17g,%.17g,%s\n", row[0], row[1], row[2],
                row[3], d->y[i] == SVC_RED ? "red" : "blue") < 0)
      return -1;
  }
  return fflush(f) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------ folds */

void svc_fold_range(size_t n, unsigned folds, unsigned fold, size_t *begin,
                    size_t *end) {
  size_t base = n / folds, extra = n % folds;
  /* Folds 0 .. extra-1 hold base + 1 rows, the rest base rows. */
  *begin = fold * base + (fold < extra ? fold : extra);
  *end = *begin + base + (fold < extra ? 1 : 0);
}

/* numpy's pairwise summation (pairwise_sum_DOUBLE): eight accumulators
 * over runs of up to 128 values, halves above that. */
static double pairwise_sum(const double *a, size_t n) {
  if (n < 8) {
    double res = 0.0;
    for (size_t i = 0; i < n; i++) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    size_t i;
    memcpy(r, a, sizeof r);
    for (i = 8; i < n - n % 8; i += 8)
      for (int j = 0; j < 8; j++) r[j] += a[i + j];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) +
                 ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) res += a[i];
    return res;
  }
  size_t half = n / 2;
  half -= half % 8;
  return pairwise_sum(a, half) + pairwise_sum(a + half, n - half);
}

/* np.add.reduce of a contiguous array: pairwise within the iterator's
 * buffers of 8192 values, the buffers' sums added in order. */
static double numpy_sum(const double *a, size_t n) {
  double total = 0.0;
  for (size_t i = 0; i < n; i += 8192)
    total += pairwise_sum(a + i, n - i < 8192 ? n - i : 8192);
  return total;
}

double svc_gamma_scale(const svc_data *d, size_t skip_begin, size_t skip_end) {
  size_t rows = d->n - (skip_end - skip_begin), count = rows * SVC_FEATURES;
  if (rows == 0)
    return 1.0;
  double *v = malloc(count * sizeof *v);
  if (v == NULL)
    return -1.0;
  /* The training rows, flattened: what X_train.var() reads. */
  memcpy(v, d->x, skip_begin * SVC_FEATURES * sizeof *v);
  memcpy(v + skip_begin * SVC_FEATURES, d->x + skip_end * SVC_FEATURES,
         (d->n - skip_end) * SVC_FEATURES * sizeof *v);
  double mean = numpy_sum(v, count) / (double)count;
  for (size_t i = 0; i < count; i++) v[i] = (v[i] - mean) * (v[i] - mean);
  double var = numpy_sum(v, count) / (double)count;
  free(v);
  return var != 0.0 ? 1.0 / (SVC_FEATURES * var) : 1.0;
}

/* ------------------------------------------------------------ one fit */

static const char *const kernel_names[] = {"linear", "poly", "rbf", "sigmoid"};

int svc_kernel_parse(const char *name) {
  for (int k = 0; k < 4; k++)
    if (strcmp(name, kernel_names[k]) == 0)
      return k;
  return -1;
}

const char *svc_kernel_name(int kernel) {
  return kernel >= 0 && kernel < 4 ? kernel_names[kernel] : "?";
}

static void print_nothing(const char *s) { (void)s; }

void svc_quiet(void) { svm_set_print_string_function(print_nothing); }

void svc_keep_heap(void) {
  /* A fit frees its kernel cache (up to cache_size, 200 MB, in blocks of
   * one column) at the end; glibc gives the top of the heap back to the
   * kernel, and the next fit faults every page in again, zeroed. Keeping
   * up to 1 GiB of freed heap, and serving blocks up to 32 MiB (glibc's
   * most) from it rather than from mmap, removes those faults and the
   * memory traffic of zeroing pages: the default search runs 9 % faster
   * on one worker, 12 % on two. A process that keeps the memory holds no
   * more at its peak than before. */
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
}

/* Row i as a libsvm node list: indices 1..SVC_FEATURES, then -1. */
static void fill_nodes(struct svm_node *nodes, const double *row) {
  for (int f = 0; f < SVC_FEATURES; f++) {
    nodes[f].index = f + 1;
    nodes[f].value = row[f];
  }
  nodes[SVC_FEATURES].index = -1;
  nodes[SVC_FEATURES].value = 0.0;
}

/* scikit-learn's SVC defaults, with C, kernel and gamma of this fit. */
static struct svm_parameter svc_params(double C, int kernel, double gamma) {
  struct svm_parameter p;
  memset(&p, 0, sizeof p);
  p.svm_type = C_SVC;
  p.kernel_type = kernel;
  p.degree = 3;
  p.gamma = gamma;
  p.coef0 = 0.0;
  p.cache_size = 200;
  p.eps = 1e-3;
  p.C = C;
  p.nu = 0.5;
  p.p = 0.1;
  p.shrinking = 1;
  p.probability = 0;
  return p;
}

/* Trains on `prob` and counts right predictions on rows [b, e) of d. */
static int train_and_test(const svc_data *d, struct svm_problem *prob,
                          const struct svm_parameter *param, size_t b, size_t e,
                          svc_score *out) {
  if (svm_check_parameter(prob, param) != NULL)
    return -1;
  struct svm_model *model = svm_train(prob, param);
  if (model == NULL)
    return -1;
  struct svm_node node[SVC_FEATURES + 1];
  uint32_t correct = 0;
  for (size_t i = b; i < e; i++) {
    fill_nodes(node, d->x + i * SVC_FEATURES);
    correct += svm_predict(model, node) == d->y[i];
  }
  out->correct = correct;
  out->tested = (uint32_t)(e - b);
  out->n_sv = (uint32_t)svm_get_nr_sv(model);
  out->accuracy = (double)correct / (double)(e - b);
  svm_free_and_destroy_model(&model);
  return 0;
}

/* The rows outside [b, e) as a libsvm problem: class by class, SVC_BLUE
 * first (see "label order" at the top), in data order within a class.
 * *nodes holds the rows the problem points into. Returns 0, or -1 when out
 * of memory (nothing left allocated). */
static int make_problem(const svc_data *d, size_t b, size_t e,
                        struct svm_problem *prob, struct svm_node **nodes) {
  size_t rows = d->n - (e - b), k = 0;
  *nodes = malloc(rows * (SVC_FEATURES + 1) * sizeof **nodes);
  prob->x = malloc(rows * sizeof *prob->x);
  prob->y = malloc(rows * sizeof *prob->y);
  prob->l = (int)rows;
  if (*nodes == NULL || prob->x == NULL || prob->y == NULL) {
    free(*nodes);
    free(prob->x);
    free(prob->y);
    return -1;
  }
  for (int label = SVC_BLUE; label <= SVC_RED; label++)
    for (size_t i = 0; i < d->n; i++) {
      if ((i >= b && i < e) || d->y[i] != label)
        continue;
      prob->x[k] = *nodes + k * (SVC_FEATURES + 1);
      fill_nodes(prob->x[k], d->x + i * SVC_FEATURES);
      prob->y[k++] = d->y[i];
    }
  return 0;
}

int svc_fit_score(const svc_data *d, unsigned folds, unsigned fold, double C,
                  int kernel, svc_score *out) {
  memset(out, 0, sizeof *out);
  if (folds < 2 || fold >= folds || d->n < folds || C <= 0 || kernel < 0 ||
      kernel > 3)
    return -1;
  double t0 = ex_now();
  size_t b, e;
  svc_fold_range(d->n, folds, fold, &b, &e);
  out->gamma = svc_gamma_scale(d, b, e);
  struct svm_problem prob;
  struct svm_node *nodes;
  int rc = -1;
  if (out->gamma > 0 && make_problem(d, b, e, &prob, &nodes) == 0) {
    struct svm_parameter param = svc_params(C, kernel, out->gamma);
    rc = train_and_test(d, &prob, &param, b, e, out);
    free(nodes);
    free(prob.x);
    free(prob.y);
  }
  out->fit_seconds = ex_now() - t0;
  return rc;
}
