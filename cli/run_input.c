/* run_input.c -- the input sources of `parc run` and the jobs they make.
 *
 * A source is a list of values: a ::: list, the lines of a :::: file (or
 * stdin), or a --grid axis. Consecutive linked sources (:::+, ::::+) form a
 * group whose values pair up; the length of a group is its shortest member
 * (GNU parallel 20221122 does the same). The jobs are the cartesian product
 * of the groups, the last group varying fastest, so job i's value in
 * source s is (i / stride) % len, with the stride and length of s's group.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

#define MAX_JOBS ((size_t)100000000) /* 10^8: beyond this, a mistake */

int run_fail(run_err err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, RUN_ERR_MAX, fmt, ap);
  va_end(ap);
  return -1;
}

int run_buf_add(run_buf *b, const void *p, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (d == NULL) return -1;
    b->data = d;
    b->cap = cap;
  }
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0'; /* always a C string too */
  return 0;
}

int run_buf_str(run_buf *b, const char *s) {
  return run_buf_add(b, s, strlen(s));
}

/* Length of the well-formed UTF-8 sequence at s (at most n bytes), or 0.
 * Well-formed as RFC 3629 says: no overlong forms, no surrogates, nothing
 * above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  if (c < 0x80) return 1;
  size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  if (len == 0 || len > n) return 0;
  unsigned char lo = 0x80, hi = 0xBF; /* the second byte's range */
  if (c == 0xE0) lo = 0xA0;
  if (c == 0xED) hi = 0x9F;           /* U+D800..U+DFFF: surrogates */
  if (c == 0xF0) lo = 0x90;
  if (c == 0xF4) hi = 0x8F;           /* beyond U+10FFFF */
  if (s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < len; i++)
    if ((s[i] & 0xC0) != 0x80) return 0;
  return len;
}

int run_buf_add_utf8(run_buf *b, const void *p, size_t n) {
  const unsigned char *s = p;
  size_t i = 0;
  while (i < n) {
    size_t good = i;
    size_t k;
    while (good < n && (k = utf8_seq(s + good, n - good)) > 0) good += k;
    if (good > i && run_buf_add(b, s + i, good - i) != 0) return -1;
    if (good == n) break;
    if (run_buf_add(b, "\xEF\xBF\xBD", 3) != 0) return -1; /* U+FFFD */
    i = good + 1;
  }
  return run_buf_add(b, "", 0);
}

void run_buf_free(run_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

/* Takes ownership of values (an array of malloc'd strings). */
static int add_source(run_inputs *in, char *name, char **values, size_t n,
                      int linked, run_err err) {
  run_source *s = realloc(in->src, (in->nsrc + 1) * sizeof *s);
  if (s == NULL) return run_fail(err, "out of memory");
  in->src = s;
  s[in->nsrc++] = (run_source){.name = name, .values = values, .n = n,
                               .linked = linked};
  return 0;
}

static char **dup_values(char **values, size_t n) {
  char **v = calloc(n ? n : 1, sizeof *v);
  for (size_t i = 0; v != NULL && i < n; i++) {
    v[i] = strdup(values[i]);
    if (v[i] == NULL) {
      while (i--) free(v[i]);
      free(v);
      v = NULL;
    }
  }
  return v;
}

int run_inputs_add_list(run_inputs *in, char **values, size_t n, int linked,
                        run_err err) {
  if (n == 0)
    return run_fail(err, "'%s' has no values after it", linked ? ":::+" : ":::");
  char **v = dup_values(values, n);
  if (v == NULL) return run_fail(err, "out of memory");
  return add_source(in, NULL, v, n, linked, err);
}

typedef struct strvec {
  char **v;
  size_t n, cap;
} strvec;

static int strvec_push(strvec *sv, char *s) {
  if (s == NULL) return -1;
  if (sv->n == sv->cap) {
    size_t cap = sv->cap ? 2 * sv->cap : 16;
    char **v = realloc(sv->v, cap * sizeof *v);
    if (v == NULL) {
      free(s);
      return -1;
    }
    sv->v = v;
    sv->cap = cap;
  }
  sv->v[sv->n++] = s;
  return 0;
}

static void strvec_free(strvec *sv) {
  for (size_t i = 0; i < sv->n; i++) free(sv->v[i]);
  free(sv->v);
}

int run_inputs_add_file(run_inputs *in, const char *path, int linked,
                        run_err err) {
  int is_stdin = strcmp(path, "-") == 0;
  FILE *f = is_stdin ? stdin : fopen(path, "r");
  if (f == NULL)
    return run_fail(err, "cannot read input file '%s': %s", path,
                    strerror(errno));
  strvec sv = {0};
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  int rc = 0;
  while ((len = getline(&line, &cap, f)) >= 0) {
    if (len > 0 && line[len - 1] == '\n') line[--len] = '\0';
    if (strvec_push(&sv, strndup(line, (size_t)len)) != 0) {
      rc = run_fail(err, "out of memory");
      break;
    }
  }
  if (rc == 0 && ferror(f))
    rc = run_fail(err, "cannot read input file '%s': %s",
                  is_stdin ? "stdin" : path, strerror(errno));
  free(line);
  if (!is_stdin) fclose(f);
  if (rc == 0) rc = add_source(in, NULL, sv.v, sv.n, linked, err);
  if (rc != 0) strvec_free(&sv);
  return rc;
}

/* ------------------------------------------------------------ --grid */

/* An axis is counted before any of its values is made, so a huge range is
 * refused at once, not after gigabytes. The fuzz build makes the bound
 * smaller (fuzz/CMakeLists.txt) to keep each input fast. */
#ifndef RUN_AXIS_MAX
#define RUN_AXIS_MAX ((size_t)10000000) /* values in one --grid axis */
#endif

/* One item of a --grid spec, parsed; its values are made one at a time. */
typedef struct grid_item {
  enum { IT_WORD, IT_INT, IT_REAL, IT_LOG } kind;
  const char *text;
  long long start, step; /* IT_INT: start + i*step */
  double a, b, d;        /* IT_REAL: a + i*d; IT_LOG: from a to b */
  size_t n;              /* its values; RUN_AXIS_MAX + 1 stands for more */
} grid_item;

static int parse_num(const char *s, size_t n, double *d, long long *ll,
                     int *is_int) {
  char buf[64], *end;
  if (n == 0 || n >= sizeof buf) return -1;
  memcpy(buf, s, n);
  buf[n] = '\0';
  errno = 0;
  *ll = strtoll(buf, &end, 10);
  *is_int = *end == '\0' && errno == 0;
  *d = strtod(buf, &end);
  return *end == '\0' && isfinite(*d) ? 0 : -1;
}

static char *fmt_double(double v) {
  char buf[64];
  if (v == 0) v = 0; /* no "-0" */
  snprintf(buf, sizeof buf, "%.12g", v);
  return strdup(buf);
}

/* The values from start to stop by step (not 0), at most RUN_AXIS_MAX + 1;
 * 0 when the step points away from stop. In unsigned arithmetic: the
 * distance between two int64 values always fits in a uint64. */
static size_t int_count(long long start, long long stop, long long step) {
  if (step > 0 ? stop < start : stop > start) return 0;
  uint64_t span = step > 0 ? (uint64_t)stop - (uint64_t)start
                           : (uint64_t)start - (uint64_t)stop;
  uint64_t q = span / (step > 0 ? (uint64_t)step : 0 - (uint64_t)step);
  return q >= RUN_AXIS_MAX ? RUN_AXIS_MAX + 1 : (size_t)q + 1;
}

static size_t real_count(double a, double b, double step) {
  double q = (b - a) / step; /* may be inf: then there are too many */
  if (!(q >= 0)) return 0;
  double c = floor(q + 1e-9) + 1;
  return c <= (double)RUN_AXIS_MAX ? (size_t)c : RUN_AXIS_MAX + 1;
}

static int grid_range(grid_item *it, const char *item, run_err err) {
  const char *c1 = strchr(item, ':'), *c2 = strchr(c1 + 1, ':');
  double b;
  long long ib;
  int ai, bi, si = 1;
  it->step = 1;
  it->d = 1;
  if (parse_num(item, (size_t)(c1 - item), &it->a, &it->start, &ai) != 0 ||
      parse_num(c1 + 1, c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1), &b, &ib,
                &bi) != 0 ||
      (c2 && parse_num(c2 + 1, strlen(c2 + 1), &it->d, &it->step, &si) != 0))
    return run_fail(err, "bad range '%s' (want START:STOP[:STEP])", item);
  if (it->d == 0) return run_fail(err, "range '%s' has a step of 0", item);
  it->kind = ai && bi && si ? IT_INT : IT_REAL;
  it->n = it->kind == IT_INT ? int_count(it->start, ib, it->step)
                             : real_count(it->a, b, it->d);
  if (it->n == 0)
    return run_fail(err, "range '%s' has no values (check the step's sign)",
                    item);
  return 0;
}

static int grid_logspace(grid_item *it, const char *item, const char *dots,
                         run_err err) {
  const char *x = strrchr(dots, 'x');
  double dn;
  long long ia, ib, n;
  int ai, bi, ni;
  if (x == NULL ||
      parse_num(item, (size_t)(dots - item), &it->a, &ia, &ai) != 0 ||
      parse_num(dots + 2, (size_t)(x - dots - 2), &it->b, &ib, &bi) != 0 ||
      parse_num(x + 1, strlen(x + 1), &dn, &n, &ni) != 0 || !ni)
    return run_fail(err, "bad log range '%s' (want FROM..TOxN)", item);
  if (it->a <= 0 || it->b <= 0 || n < 1)
    return run_fail(err, "bad log range '%s' (ends must be > 0, N >= 1)",
                    item);
  it->kind = IT_LOG;
  it->n = (unsigned long long)n > RUN_AXIS_MAX ? RUN_AXIS_MAX + 1 : (size_t)n;
  return 0;
}

/* One comma-separated item: a range, a log range or a word. */
static int grid_item_parse(grid_item *it, const char *item, run_err err) {
  const char *dots = strstr(item, "..");
  int numeric_start = isdigit((unsigned char)item[0]) || item[0] == '-' ||
                      item[0] == '+' || item[0] == '.';
  *it = (grid_item){.kind = IT_WORD, .text = item, .n = 1};
  if (numeric_start && dots != NULL && dots != item)
    return grid_logspace(it, item, dots, err);
  if (numeric_start && strchr(item, ':') != NULL)
    return grid_range(it, item, err);
  return 0;
}

/* The int64 whose two's complement is u (no implementation-defined cast). */
static long long from_twos(uint64_t u) {
  return u <= INT64_MAX ? (long long)u : -(long long)(UINT64_MAX - u) - 1;
}

/* Value i (< it->n) of an item, malloc'd. */
static char *grid_value(const grid_item *it, size_t i) {
  char buf[32];
  double la, lb;
  switch (it->kind) {
  case IT_WORD: return strdup(it->text);
  case IT_INT: /* modulo 2^64, the sum lands between start and stop */
    snprintf(buf, sizeof buf, "%lld", from_twos((uint64_t)it->start +
                                                (uint64_t)i * (uint64_t)it->step));
    return strdup(buf);
  case IT_REAL: return fmt_double(it->a + (double)i * it->d);
  case IT_LOG:
    if (i == 0 || i == it->n - 1) return fmt_double(i == 0 ? it->a : it->b);
    la = log(it->a);
    lb = log(it->b);
    return fmt_double(exp(la + (lb - la) * (double)i / (double)(it->n - 1)));
  }
  return NULL;
}

/* Splits the spec after '=' at commas (\, and \\ escaped) into items. */
static int grid_split(strvec *items, const char *spec, const char *p,
                      run_err err) {
  run_buf item = {0};
  int rc = 0;
  for (;; p++) {
    if (*p == '\\' && (p[1] == ',' || p[1] == '\\')) {
      rc = run_buf_add(&item, ++p, 1);
    } else if (*p == ',' || *p == '\0') {
      if (item.len == 0)
        rc = run_fail(err, "bad --grid '%s': empty value", spec);
      else if ((rc = run_buf_add(&item, "", 0)) == 0)
        rc = strvec_push(items, strdup(item.data));
      item.len = 0;
      if (rc != 0 || *p == '\0') break;
    } else {
      rc = run_buf_add(&item, p, 1);
    }
    if (rc != 0) break;
  }
  run_buf_free(&item);
  if (rc != 0 && err[0] == '\0') run_fail(err, "out of memory");
  return rc;
}

/* The number of values the items make, checked before any is made: at
 * most RUN_AXIS_MAX, and at most MAX_JOBS jobs with the axes before. */
static int grid_count(const run_inputs *in, const char *name,
                      const strvec *items, size_t *total, run_err err) {
  grid_item it;
  *total = 0;
  for (size_t k = 0; k < items->n; k++) {
    if (grid_item_parse(&it, items->v[k], err) != 0) return -1;
    if (it.n > RUN_AXIS_MAX - *total)
      return run_fail(err, "--grid %s: too many values at '%s' (an axis "
                      "may have at most %zu)", name, items->v[k],
                      (size_t)RUN_AXIS_MAX);
    *total += it.n;
  }
  size_t jobs = *total; /* every axis has a value: no division by 0 */
  for (size_t s = 0; s < in->nsrc; s++) {
    size_t n = in->src[s].name ? in->src[s].n : 1; /* grid axes only */
    if (n > MAX_JOBS / jobs)
      return run_fail(err, "--grid %s: too many jobs with the axes before "
                      "it (more than %zu)", name, MAX_JOBS);
    jobs *= n;
  }
  return 0;
}

static int grid_values(strvec *sv, const strvec *items, size_t total,
                       run_err err) {
  grid_item it;
  sv->v = malloc((total ? total : 1) * sizeof *sv->v);
  if (sv->v == NULL) return run_fail(err, "out of memory");
  sv->cap = total;
  for (size_t k = 0; k < items->n; k++) {
    (void)grid_item_parse(&it, items->v[k], err); /* grid_count did */
    for (size_t i = 0; i < it.n; i++)
      if (strvec_push(sv, grid_value(&it, i)) != 0)
        return run_fail(err, "out of memory");
  }
  return 0;
}

static int valid_name(const char *s, size_t n) {
  if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return 0;
  for (size_t i = 1; i < n; i++)
    if (!(isalnum((unsigned char)s[i]) || s[i] == '_')) return 0;
  return 1;
}

int run_inputs_add_grid(run_inputs *in, const char *spec, run_err err) {
  const char *eq = strchr(spec, '=');
  if (eq == NULL || !valid_name(spec, (size_t)(eq - spec)))
    return run_fail(err, "bad --grid '%s' (want NAME=v1,v2,... with NAME "
                         "made of letters, digits and _)", spec);
  char *name = strndup(spec, (size_t)(eq - spec));
  if (name == NULL) return run_fail(err, "out of memory");
  for (size_t s = 0; s < in->nsrc; s++)
    if (in->src[s].name && strcmp(in->src[s].name, name) == 0) {
      free(name);
      return run_fail(err, "--grid axis '%.*s' given twice",
                      (int)(eq - spec), spec);
    }
  strvec items = {0}, sv = {0};
  size_t total = 0;
  int rc = grid_split(&items, spec, eq + 1, err);
  if (rc == 0) rc = grid_count(in, name, &items, &total, err);
  if (rc == 0) rc = grid_values(&sv, &items, total, err);
  strvec_free(&items);
  if (rc == 0) rc = add_source(in, name, sv.v, sv.n, 0, err);
  if (rc != 0) {
    strvec_free(&sv);
    free(name);
  }
  return rc;
}

/* ------------------------------------------------------------ jobs */

int run_inputs_finish(run_inputs *in, run_err err) {
  size_t stride = 1;
  for (size_t end = in->nsrc; end > 0;) { /* groups, last (fastest) first */
    size_t head = end - 1, len = in->src[head].n;
    while (head > 0 && in->src[head].linked) {
      head--;
      if (in->src[head].n < len) len = in->src[head].n;
    }
    for (size_t s = head; s < end; s++) {
      in->src[s].stride = stride;
      in->src[s].len = len;
    }
    if (len == 0) { /* an empty file or stdin: no jobs, as GNU parallel */
      in->njobs = 0;
      return 0;
    }
    if (stride > MAX_JOBS / len)
      return run_fail(err, "too many jobs (more than %zu)", MAX_JOBS);
    stride *= len;
    end = head;
  }
  in->njobs = stride;
  return 0;
}

size_t run_inputs_pick(const run_inputs *in, size_t job, size_t s) {
  return (job / in->src[s].stride) % in->src[s].len;
}

const char *run_inputs_name(const run_inputs *in, size_t s, char *tmp,
                            size_t tmpsz) {
  if (in->src[s].name) return in->src[s].name;
  snprintf(tmp, tmpsz, "arg%zu", s + 1);
  return tmp;
}

void run_inputs_free(run_inputs *in) {
  for (size_t s = 0; s < in->nsrc; s++) {
    for (size_t i = 0; i < in->src[s].n; i++) free(in->src[s].values[i]);
    free(in->src[s].values);
    free(in->src[s].name);
  }
  free(in->src);
  in->src = NULL;
  in->nsrc = 0;
}
