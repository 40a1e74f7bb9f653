/* options.h -- what parc-gridsearch and gridsearch-task parse alike: the
 * data set's options and their defaults, so that both programs make the
 * same data from the same command line. */
#ifndef GRIDSEARCH_OPTIONS_H
#define GRIDSEARCH_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

/* About 30 s for the whole default grid (50 fits) on one core. */
#define GS_DEFAULT_SAMPLES 10000
#define GS_DEFAULT_NOISE 0.1
#define GS_DEFAULT_SEED 2021
#define GS_DEFAULT_FOLDS 5u
#define GS_MAX_FOLDS 1000u
#define GS_MAX_SAMPLES 10000000u

typedef struct gs_data_opts {
  size_t samples;
  double noise;
  uint64_t seed;
} gs_data_opts;

void gs_data_defaults(gs_data_opts *o);

/* --samples N, --noise SD, --seed S: returns 1 if `name` is one of them
 * and `value` is valid (stored in *o), 0 otherwise. */
int gs_parse_data_opt(const char *name, const char *value, gs_data_opts *o);

/* A finite double / an integer in [min, max]: 0, or -1 if malformed. */
int gs_parse_double(const char *s, double *v);
int gs_parse_uint(const char *s, unsigned min, unsigned max, unsigned *v);

#endif /* GRIDSEARCH_OPTIONS_H */
