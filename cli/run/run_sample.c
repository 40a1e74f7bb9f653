/* run_sample.c -- `parc run --sample N`: N settings drawn from the --grid
 * axes instead of all their combinations (random search).
 *
 * An axis is a list (`C=0.1,1,10`, or `choice:a,b,c`, the same thing),
 * from which a value is drawn uniformly, or a distribution:
 * `uniform:A:B`, `loguniform:A:B` (A, B > 0: uniform in log space) or
 * `int:A:B` (A..B, both included). Setting i draws its values, axis after
 * axis in the order given, from Philox stream i of --seed (parc_rng): the
 * same seed gives the same settings, whatever -j is, so a --resume finds
 * the same commands. When every drawn axis is a list, N distinct settings
 * are drawn (all of them when there are no more than N), as scikit-learn's
 * ParameterSampler does; with a distribution among them, each setting is
 * drawn on its own.
 *
 * Not drawn: the --average-over axes (each setting runs once per value,
 * e.g. per fold), the --halving budget axis, and sources that are not
 * --grid axes (a distribution on one of those is refused). The drawn axes
 * become one linked group of N values, placed where the first of them was
 * (so no :::+ source may link to a drawn axis). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "parc.h"
#include "run.h"

typedef struct dist {
  enum { DIST_UNIFORM, DIST_LOGUNIFORM, DIST_INT } kind;
  double a, b;
  long long ia, ib;
} dist;

static const struct {
  const char *prefix;
  int kind;
} DISTS[] = {{"uniform:", DIST_UNIFORM},
             {"loguniform:", DIST_LOGUNIFORM},
             {"int:", DIST_INT}};

int run_sample_is_dist(const char *spec) {
  for (size_t k = 0; k < sizeof DISTS / sizeof *DISTS; k++)
    if (strncmp(spec, DISTS[k].prefix, strlen(DISTS[k].prefix)) == 0)
      return 1;
  return 0;
}

/* spec: what follows NAME= */
static int dist_parse(dist *d, const char *name, const char *spec,
                      run_err err) {
  size_t k = 0;
  while (strncmp(spec, DISTS[k].prefix, strlen(DISTS[k].prefix))) k++;
  const char *a = spec + strlen(DISTS[k].prefix), *colon = strchr(a, ':');
  d->kind = DISTS[k].kind;
  if (colon == NULL)
    goto bad;
  int a_int, b_int;
  if (run_parse_num(a, (size_t)(colon - a), &d->a, &d->ia, &a_int) ||
      run_parse_num(colon + 1, strlen(colon + 1), &d->b, &d->ib, &b_int))
    goto bad;
  if (d->kind == DIST_INT) {
    if (!a_int || !b_int || d->ib < d->ia)
      goto bad;
    return 0;
  }
  if (!(d->a < d->b) || !isfinite(d->b - d->a))
    goto bad;
  if (d->kind == DIST_LOGUNIFORM && !(d->a > 0))
    return run_fail(err, "--grid %s=%s: loguniform needs 0 < A < B", name,
                    spec);
  return 0;
bad:
  return run_fail(err, "bad --grid %s=%s (want %sA:B with A < B)", name, spec,
                  DISTS[k].prefix);
}

int run_sample_check_dist(const char *name, const char *spec, run_err err) {
  dist d;
  return dist_parse(&d, name, spec, err);
}

/* Value of d for the uniform double u in [0, 1), or for `below` (int). */
static char *dist_value(const dist *d, parc_rng *r) {
  char buf[64];
  double u, v;
  switch (d->kind) {
  case DIST_INT: { /* A..B: B - A + 1 values, counted without overflow */
    uint64_t span = (uint64_t)d->ib - (uint64_t)d->ia;
    uint64_t k = span == UINT64_MAX ? parc_rng_u64(r)
                                    : parc_rng_below(r, span + 1);
    uint64_t x = (uint64_t)d->ia + k;
    long long ll = x <= INT64_MAX ? (long long)x
                                  : -(long long)(UINT64_MAX - x) - 1;
    snprintf(buf, sizeof buf, "%lld", ll);
    return strdup(buf);
  }
  case DIST_UNIFORM:
    u = parc_rng_uniform(r);
    v = d->a + u * (d->b - d->a);
    break;
  default: /* DIST_LOGUNIFORM */
    u = parc_rng_uniform(r);
    v = exp(log(d->a) + u * (log(d->b) - log(d->a)));
    break;
  }
  if (v < d->a)
    v = d->a; /* rounding: stay within [A, B) */
  if (v == 0)
    v = 0; /* no "-0" */
  /* 6 digits, unless they round up to B (0.9999996 is "1"): then as many
   * as it takes to stay below it */
  for (int digits = 6; digits <= 17; digits++) {
    snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (strtod(buf, NULL) < d->b)
      break;
  }
  return strdup(buf);
}

/* Is source s drawn? A --grid axis that is neither averaged over nor the
 * budget. */
static int drawn(const run_inputs *in, size_t s, const run_opts *o) {
  return in->src[s].axis &&
         run_axis_role(o, in->src[s].name) == RUN_AXIS_SETTING;
}

/* The N settings as an n x m table of values (m drawn axes), row-major. */
typedef struct draws {
  char **v;
  size_t n, m;
} draws;

void run_perm_init(run_perm *p, uint64_t seed, uint64_t stream, uint64_t n) {
  parc_rng r;
  parc_rng_init(&r, seed, stream);
  for (size_t k = 0; k < 4; k++) p->key[k] = parc_rng_u64(&r);
  p->n = n;
  p->bits = 1;
  while (p->bits < 62 && ((uint64_t)1 << p->bits) < n) p->bits++;
}

/* Rounds of an odd multiply and an add, then an xorshift: each a bijection
 * modulo 2^bits, so their composition is one; cycle walking lands below n
 * within two steps on average, as 2^bits < 2n. */
uint64_t run_perm_at(const run_perm *p, uint64_t i) {
  uint64_t mask = ((uint64_t)1 << p->bits) - 1, x = i;
  unsigned half = (p->bits + 1) / 2;
  do {
    for (size_t k = 0; k < 4; k += 2) {
      x = (x * (p->key[k] | 1) + p->key[k + 1]) & mask;
      x ^= x >> half;
    }
  } while (x >= p->n);
  return x;
}

/* Every drawn axis a list: N distinct settings, the first N of a random
 * order of all of them (so a larger N keeps the first draws), or all of
 * them in grid order; with more settings than 2^62, each drawn on its own
 * (a repeat is then as likely as a collision of 62-bit numbers). */
static int draw_each(draws *t, run_source *const *ax, const dist *d, size_t m,
                     const run_opts *o, run_err err);

static int draw_distinct(draws *t, run_source *const *ax, size_t m,
                         const run_opts *o, run_err err) {
  uint64_t total = 1;
  for (size_t k = 0; k < m; k++) {
    if (total > ((uint64_t)1 << 62) / ax[k]->n)
      return draw_each(t, ax, NULL, m, o, err);
    total *= ax[k]->n;
  }
  size_t n = o->sample < total ? o->sample : (size_t)total;
  size_t *pick = malloc(n * sizeof *pick);
  if (pick == NULL)
    return run_fail(err, "out of memory");
  run_perm perm;
  run_perm_init(&perm, o->seed, 0, total);
  for (size_t i = 0; i < n; i++)
    pick[i] = n == total ? i : (size_t)run_perm_at(&perm, i);
  t->n = n;
  for (size_t i = 0; i < n; i++) {
    size_t x = pick[i];
    for (size_t k = m; k-- > 0;) { /* the last axis varies fastest */
      char *v = strdup(ax[k]->values[x % ax[k]->n]);
      if (v == NULL) {
        free(pick);
        return run_fail(err, "out of memory");
      }
      t->v[i * m + k] = v;
      x /= ax[k]->n;
    }
  }
  free(pick);
  return 0;
}

/* Some axis a distribution: setting i from stream i, axis after axis. */
static int draw_each(draws *t, run_source *const *ax, const dist *d, size_t m,
                     const run_opts *o, run_err err) {
  t->n = o->sample;
  for (size_t i = 0; i < t->n; i++) {
    parc_rng r;
    parc_rng_init(&r, o->seed, i);
    for (size_t k = 0; k < m; k++) {
      char *v = ax[k]->dist
                    ? dist_value(&d[k], &r)
                    : strdup(ax[k]->values[parc_rng_below(&r, ax[k]->n)]);
      if (v == NULL)
        return run_fail(err, "out of memory");
      t->v[i * m + k] = v;
    }
  }
  return 0;
}

/* Replaces the drawn axes by one linked group of their t->n drawn values,
 * where the first of them was. Takes the values in t. */
static int replace_axes(run_inputs *in, run_source *const *ax, size_t m,
                        draws *t, run_err err) {
  for (size_t k = 0; k < m; k++) {
    char **v = malloc((t->n ? t->n : 1) * sizeof *v);
    if (v == NULL)
      return run_fail(err, "out of memory");
    for (size_t i = 0; i < t->n; i++) {
      v[i] = t->v[i * m + k];
      t->v[i * m + k] = NULL;
    }
    run_source *s = ax[k];
    for (size_t i = 0; i < s->n; i++) free(s->values[i]);
    free(s->values);
    free(s->dist);
    s->values = v;
    s->n = t->n;
    s->dist = NULL;
    s->linked = k > 0;
  }
  /* move them next to each other: a stable partition around the first */
  size_t first = (size_t)(ax[0] - in->src), out = first + 1;
  for (size_t s = first + 1, k = 1; s < in->nsrc; s++) {
    if (k < m && &in->src[s] == ax[k]) {
      run_source moved = in->src[s];
      memmove(&in->src[out + 1], &in->src[out], (s - out) * sizeof *in->src);
      in->src[out++] = moved;
      k++;
    }
  }
  return 0;
}

int run_sample_apply(run_inputs *in, const run_opts *o, run_err err) {
  size_t m = 0;
  for (size_t s = 0; s < in->nsrc; s++) {
    int draw = o->sample && drawn(in, s, o);
    if (in->src[s].dist && !draw)
      return run_fail(err,
                      o->sample ? "--grid %s=%s is a distribution, but the "
                                  "axis is not drawn (--average-over)"
                                : "--grid %s=%s is a distribution: it needs "
                                  "--sample N",
                      in->src[s].name, in->src[s].dist);
    /* the drawn axes move next to each other: a source linked to one
     * (:::+ after it) would link to another */
    if (draw && s + 1 < in->nsrc && in->src[s + 1].linked)
      return run_fail(err,
                      "--sample draws --grid %s: no :::+ or ::::+ "
                      "source may link to it",
                      in->src[s].name);
    m += draw;
  }
  if (!o->sample)
    return 0;
  if (m == 0)
    return run_fail(err, "--sample needs a --grid axis to draw from (not "
                         "the --average-over or --budget ones)");
  run_source **ax = malloc(m * sizeof *ax);
  dist *d = calloc(m, sizeof *d);
  draws t = {calloc(o->sample * m, sizeof(char *)), 0, m};
  int rc = ax && d && t.v ? 0 : run_fail(err, "out of memory");
  int any_dist = 0;
  for (size_t s = 0, k = 0; rc == 0 && s < in->nsrc; s++)
    if (drawn(in, s, o)) {
      ax[k] = &in->src[s];
      if (ax[k]->dist) {
        any_dist = 1;
        rc = dist_parse(&d[k], ax[k]->name, ax[k]->dist, err);
      }
      k++;
    }
  if (rc == 0)
    rc = any_dist ? draw_each(&t, ax, d, m, o, err)
                  : draw_distinct(&t, ax, m, o, err);
  if (rc == 0)
    rc = replace_axes(in, ax, m, &t, err);
  for (size_t i = 0; t.v && i < o->sample * m; i++) free(t.v[i]);
  free(t.v);
  free(d);
  free(ax);
  return rc;
}
