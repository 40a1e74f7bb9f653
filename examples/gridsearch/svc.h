/* svc.h -- the grid search's one SVC fit, shared by parc-gridsearch (a
 * libparc process pool), gridsearch-task (one fit per command, for
 * `parc run`) and test/test_gridsearch.c, so all three compute the same
 * scores.
 *
 * What a fit is, exactly as scikit-learn's
 *   GridSearchCV(SVC(gamma='scale'), {'C': [...], 'kernel': [...]},
 *                cv=KFold(folds))
 * computes it (KFold without shuffling; SVC's other defaults are libsvm's):
 *   - folds are contiguous slices of the data in order; the first
 *     n % folds folds have one sample more (KFold's split);
 *   - the model trains on every other fold, with
 *     gamma = 1 / (n_features * variance of all training features),
 *     degree 3, coef0 0, eps 1e-3, shrinking on, cache 200 MB;
 *   - the score is the accuracy on the held-out fold.
 *
 * The data set: n RGBA colours, each channel a byte drawn from a Philox
 * stream (parc_rng, stream = the sample's index, so the data depend only
 * on the seed), scaled to [0, 1]. A colour is "red" (label 1) when
 * R - B + noise * N(0, 1) > 0, else "blue" (label 0): a noisy rule, so no
 * setting scores 100 % and small C underfits.
 */
#ifndef GRIDSEARCH_SVC_H
#define GRIDSEARCH_SVC_H

#include <parc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SVC_FEATURES 4 /* R, G, B, A */

/* Labels as scikit-learn encodes them: classes sorted by name. */
#define SVC_BLUE 0
#define SVC_RED 1

typedef struct svc_data {
  size_t n;  /* samples */
  double *x; /* n rows of SVC_FEATURES values in [0, 1] */
  double *y; /* n labels, SVC_BLUE or SVC_RED */
} svc_data;

/* Kernels by libsvm's numbers (LINEAR, POLY, RBF, SIGMOID). */
typedef enum {
  SVC_LINEAR = 0,
  SVC_POLY = 1,
  SVC_RBF = 2,
  SVC_SIGMOID = 3
} svc_kernel;

/* The outcome of one (C, kernel, fold). */
typedef struct svc_score {
  double accuracy;    /* correct / tested */
  double gamma;       /* the 'scale' gamma of the training folds */
  double fit_seconds; /* svm_train + prediction, wall clock */
  uint32_t correct;   /* test samples predicted right */
  uint32_t tested;    /* test samples */
  uint32_t n_sv;      /* support vectors */
  uint32_t pad;
} svc_score;

/* Makes n samples from `seed` (deterministic; noise >= 0). Returns 0, or
 * -1 when out of memory. Free with svc_data_free. */
int svc_data_make(svc_data *d, size_t n, double noise, uint64_t seed);
void svc_data_free(svc_data *d);

/* Writes the data as CSV: header R,G,B,A,label, then one row per sample
 * with the features printed exactly (%.17g) and the label as red/blue.
 * Returns 0, or -1 on a write error. */
int svc_data_write_csv(const svc_data *d, FILE *f);

/* The held-out rows [*begin, *end) of fold `fold` of `folds`, as
 * scikit-learn's KFold(folds) without shuffling. */
void svc_fold_range(size_t n, unsigned folds, unsigned fold, size_t *begin,
                    size_t *end);

/* gamma='scale': 1 / (SVC_FEATURES * var), var the population variance of
 * every feature value of the rows outside [skip_begin, skip_end), summed in
 * numpy's order (pairwise, in buffers of 8192), so that it equals
 * scikit-learn's 1 / (n_features * X_train.var()) bit for bit. 1.0 when the
 * variance is 0 or no row is left (scikit-learn's rule); -1.0 when out of
 * memory. */
double svc_gamma_scale(const svc_data *d, size_t skip_begin, size_t skip_end);

/* "linear", "poly", "rbf", "sigmoid" -> the kernel, or -1. */
int svc_kernel_parse(const char *name);
const char *svc_kernel_name(int kernel);

/* Silences libsvm's progress output (a process-wide setting: call it once,
 * before starting threads). */
void svc_quiet(void);

/* Makes malloc keep the memory fits free for the next fit (process-wide:
 * call it once, before creating the pool, so forked workers inherit it).
 * Speed only: what a fit computes does not change. */
void svc_keep_heap(void);

/* Trains on every fold but `fold` and scores on `fold`. Returns 0, or -1
 * when out of memory or libsvm rejects the parameters (C <= 0, a fold
 * with no training or test rows). */
int svc_fit_score(const svc_data *d, unsigned folds, unsigned fold, double C,
                  int kernel, svc_score *out);

/* ------------------------------------------------------------ the grid */

#define SVC_MAX_C 64
#define SVC_MAX_KERNELS 4

typedef struct svc_grid {
  double C[SVC_MAX_C];
  size_t n_C;
  int kernel[SVC_MAX_KERNELS];
  size_t n_kernel;
  unsigned folds;
} svc_grid;

/* The tasks, in the order C, kernel, fold (fold fastest):
 * task t = (C[t / (n_kernel * folds)], kernel[(t / folds) % n_kernel],
 *           fold t % folds). */
size_t svc_grid_tasks(const svc_grid *g);

/* Runs every task of the grid on `pool` (parc_map, one task per fit) and
 * writes one score per task to out[0 .. svc_grid_tasks(g)). The tasks fit
 * the pool's data: the pool must be created with opts.ctx = the svc_data,
 * made before the pool (process workers see it as it was then; under MPI
 * every rank makes its own, the same). progress may be NULL. Returns 0 or
 * the parc_map error; *failed, if not NULL, gets the index of the first
 * failed task. */
int svc_grid_run(parc_pool *pool, const svc_grid *g, svc_score *out,
                 parc_progress_fn progress, void *arg, size_t *failed);

/* As svc_grid_run, with the tasks handed out in `order` (a permutation of
 * the task indices; NULL: grid order). out[t] is still task t's score, and
 * *failed the lowest failed task index in grid order: the order changes
 * when a fit runs, never what it computes. */
int svc_grid_run_order(parc_pool *pool, const svc_grid *g, const size_t *order,
                       svc_score *out, parc_progress_fn progress, void *arg,
                       size_t *failed);

/* ------------------------------------------------------------ longest first */

/* A pilot fit trains on the first n / SVC_PILOT_DIVISOR rows of the data
 * (at least 10 per fold, at most n): a fit's work grows about as its rows
 * squared, so a pilot costs well under a hundredth of a fit. */
#define SVC_PILOT_DIVISOR 20

size_t svc_pilot_rows(size_t n, unsigned folds);

/* Runs one pilot fit per setting (C, kernel) on `pool` (whose ctx is d, as
 * for svc_grid_run) and writes its CPU time in seconds to cost[s], s = C
 * index * n_kernel + kernel index (0 for a pilot that failed: its real fits
 * will say why). Returns 0 or the parc_map error. */
int svc_grid_pilot(parc_pool *pool, const svc_grid *g, const svc_data *d,
                   double *cost);

/* The tasks by decreasing cost of their setting, ties in grid order:
 * order[0 .. svc_grid_tasks(g)) is a permutation of the task indices. */
void svc_grid_order(const svc_grid *g, const double *cost, size_t *order);

/* svc_grid_pilot, then svc_grid_order: the longest-first order of the
 * grid's tasks on this data. Returns 0, or PARC_ENOMEM / the pilot's
 * parc_map error (order is then left in grid order). */
int svc_grid_plan(parc_pool *pool, const svc_grid *g, const svc_data *d,
                  size_t *order);

#endif /* GRIDSEARCH_SVC_H */
