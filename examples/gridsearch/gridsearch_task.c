/* gridsearch-task -- one (C, kernel, fold) of the grid search, for
 * `parc run`: makes the same data set as parc-gridsearch, trains one SVC
 * and prints its metrics as key=value lines, which `parc run --results`
 * turns into results.csv columns.
 *
 *   gridsearch-task --C X --kernel K --fold F [--folds N] [--samples N]
 *                   [--noise SD] [--seed S]
 */
#include "options.h"
#include "svc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
  fprintf(f,
          "usage: gridsearch-task --C X --kernel K --fold F [--folds N]\n"
          "                       [--samples N] [--noise SD] [--seed S]\n"
          "  --C X        regularisation, > 0\n"
          "  --kernel K   rbf, poly, linear or sigmoid\n"
          "  --fold F     the held-out fold, 0 .. folds-1\n"
          "  --folds N    number of folds (default %u)\n"
          "  --samples N  data set size (default %zu)\n"
          "  --noise SD   label noise (default %g)\n"
          "  --seed S     data set seed (default %llu)\n"
          "Prints accuracy=, C=, kernel=, fold=, gamma=, n_sv=, correct=, "
          "tested=, fit_seconds= lines.\n",
          GS_DEFAULT_FOLDS, (size_t)GS_DEFAULT_SAMPLES, GS_DEFAULT_NOISE,
          (unsigned long long)GS_DEFAULT_SEED);
}

typedef struct {
  gs_data_opts data;
  double C;
  const char *C_text; /* printed back as given: 0.025, not 0.0250000001 */
  int kernel;
  unsigned fold;
  unsigned folds;
} task_opts;

/* One option and its value: 1 if understood and valid, else 0. */
static int parse_opt(const char *a, const char *v, task_opts *o) {
  if (strcmp(a, "--C") == 0) {
    o->C_text = v;
    return gs_parse_double(v, &o->C) == 0 && o->C > 0;
  }
  if (strcmp(a, "--kernel") == 0)
    return (o->kernel = svc_kernel_parse(v)) >= 0;
  if (strcmp(a, "--fold") == 0)
    return gs_parse_uint(v, 0, GS_MAX_FOLDS - 1, &o->fold) == 0;
  if (strcmp(a, "--folds") == 0)
    return gs_parse_uint(v, 2, GS_MAX_FOLDS, &o->folds) == 0;
  return gs_parse_data_opt(a, v, &o->data) == 1;
}

/* Returns 0, or 2 after printing why. */
static int parse_args(int argc, char **argv, task_opts *o) {
  gs_data_defaults(&o->data);
  o->C = 0;
  o->C_text = NULL;
  o->kernel = -1;
  o->fold = GS_MAX_FOLDS;
  o->folds = GS_DEFAULT_FOLDS;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      exit(0);
    }
    const char *v = i + 1 < argc ? argv[++i] : NULL;
    if (v == NULL || !parse_opt(a, v, o)) {
      fprintf(stderr, "gridsearch-task: bad option: %s%s%s\n", a, v ? " " : "",
              v ? v : "");
      usage(stderr);
      return 2;
    }
  }
  if (o->C_text == NULL || o->kernel < 0 || o->fold >= o->folds) {
    fprintf(stderr, "gridsearch-task: --C, --kernel and --fold (below "
                    "--folds) are required\n");
    usage(stderr);
    return 2;
  }
  return 0;
}

int main(int argc, char **argv) {
  task_opts o;
  int rc = parse_args(argc, argv, &o);
  if (rc != 0)
    return rc;
  svc_data d;
  if (svc_data_make(&d, o.data.samples, o.data.noise, o.data.seed) != 0) {
    fprintf(stderr, "gridsearch-task: out of memory\n");
    return 1;
  }
  svc_quiet();
  svc_score s;
  rc = svc_fit_score(&d, o.folds, o.fold, o.C, o.kernel, &s);
  svc_data_free(&d);
  if (rc != 0) {
    fprintf(stderr,
            "gridsearch-task: the fit failed (out of memory, or "
            "too few samples for %u folds)\n",
            o.folds);
    return 1;
  }
  printf("C=%s\nkernel=%s\nfold=%u\n", o.C_text, svc_kernel_name(o.kernel),
         o.fold);
  printf("accuracy=%.10g\ncorrect=%u\ntested=%u\n", s.accuracy, s.correct,
         s.tested);
  printf("gamma=%.10g\nn_sv=%u\nfit_seconds=%.6f\n", s.gamma, s.n_sv,
         s.fit_seconds);
  return 0;
}
