/* options.c -- the data-set options both grid-search programs share. */
#include "options.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "example.h"

void gs_data_defaults(gs_data_opts *o) {
  o->samples = GS_DEFAULT_SAMPLES;
  o->noise = GS_DEFAULT_NOISE;
  o->seed = GS_DEFAULT_SEED;
}

int gs_parse_double(const char *s, double *v) {
  char *end;
  errno = 0;
  double x = strtod(s, &end);
  if (end == s || *end != '\0' || errno != 0 || !isfinite(x))
    return -1;
  *v = x;
  return 0;
}

int gs_parse_uint(const char *s, unsigned min, unsigned max, unsigned *v) {
  uint64_t x;
  if (ex_parse_u64(s, min, max, &x) != 0)
    return -1;
  *v = (unsigned)x;
  return 0;
}

int gs_parse_data_opt(const char *name, const char *value, gs_data_opts *o) {
  uint64_t x;
  if (strcmp(name, "--samples") == 0) {
    if (ex_parse_u64(value, 2, GS_MAX_SAMPLES, &x) != 0)
      return 0;
    o->samples = (size_t)x;
    return 1;
  }
  if (strcmp(name, "--noise") == 0)
    return gs_parse_double(value, &o->noise) == 0 && o->noise >= 0;
  if (strcmp(name, "--seed") == 0) {
    if (ex_parse_u64(value, 0, UINT64_MAX, &x) != 0)
      return 0;
    o->seed = x;
    return 1;
  }
  return 0;
}
