/* run_input.c -- the input sources of `parc run` and the jobs they make.
 *
 * A source is a list of values: a ::: list, the records of a :::: or -a
 * file (or stdin; records end at -d/-0's separator, default a newline), or
 * a --grid axis. With --colsep, --header or --csv a positional source is
 * cut into one source per column (linked together); --header's first
 * record names them. Consecutive linked sources (:::+, ::::+) form a
 * group whose values pair up; the length of a group is its shortest
 * member (GNU parallel 20221122 does the same). The tuples are the
 * cartesian product of the groups, the last group varying fastest, so
 * tuple t's value in source s is (t / stride) % len, with the stride and
 * length of s's group. A job takes one tuple, or several consecutive ones
 * (-n, -m: run_template.c decides).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
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

int run_buf_reserve(run_buf *b, size_t more) {
  if (b->len + more < b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap <= b->len + more) cap *= 2;
  char *d = realloc(b->data, cap);
  if (d == NULL)
    return -1;
  b->data = d;
  b->cap = cap;
  return 0;
}

int run_buf_add(run_buf *b, const void *p, size_t n) {
  if (run_buf_reserve(b, n) != 0)
    return -1;
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0'; /* always a C string too */
  return 0;
}

int run_buf_str(run_buf *b, const char *s) {
  return run_buf_add(b, s, strlen(s));
}

int run_fifo_push(run_fifo *f, const void *e) {
  if (f->head + f->n == f->cap) {
    if (f->head > 0) {
      memmove(f->v, f->v + f->head * f->size, f->n * f->size);
      f->head = 0;
    } else {
      size_t cap = f->cap ? 2 * f->cap : 64;
      char *v = realloc(f->v, cap * f->size);
      if (v == NULL)
        return -1;
      f->v = v;
      f->cap = cap;
    }
  }
  memcpy(f->v + (f->head + f->n++) * f->size, e, f->size);
  return 0;
}

void run_fifo_free(run_fifo *f) {
  free(f->v);
  f->v = NULL;
  f->head = f->n = f->cap = 0;
}

/* Length of the well-formed UTF-8 sequence at s (at most n bytes), or 0.
 * Well-formed as RFC 3629 says: no overlong forms, no surrogates, nothing
 * above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  if (c < 0x80)
    return 1;
  size_t len = c >= 0xC2 && c <= 0xDF   ? 2
               : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4
                                        : 0;
  if (len == 0 || len > n)
    return 0;
  unsigned char lo = 0x80, hi = 0xBF; /* the second byte's range */
  if (c == 0xE0)
    lo = 0xA0;
  if (c == 0xED)
    hi = 0x9F; /* U+D800..U+DFFF: surrogates */
  if (c == 0xF0)
    lo = 0x90;
  if (c == 0xF4)
    hi = 0x8F; /* beyond U+10FFFF */
  if (s[1] < lo || s[1] > hi)
    return 0;
  for (size_t i = 2; i < len; i++)
    if ((s[i] & 0xC0) != 0x80)
      return 0;
  return len;
}

int run_buf_add_utf8(run_buf *b, const void *p, size_t n) {
  const unsigned char *s = p;
  size_t i = 0;
  while (i < n) {
    size_t good = i;
    size_t k;
    while (good < n && (k = utf8_seq(s + good, n - good)) > 0) good += k;
    if (good > i && run_buf_add(b, s + i, good - i) != 0)
      return -1;
    if (good == n)
      break;
    if (run_buf_add(b, "\xEF\xBF\xBD", 3) != 0)
      return -1; /* U+FFFD */
    i = good + 1;
  }
  return run_buf_add(b, "", 0);
}

void run_buf_free(run_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

/* Takes ownership of values (an array of malloc'd strings) and absent. */
static int add_source(run_inputs *in, char *name, char **values, size_t n,
                      int linked, unsigned char *absent, run_err err) {
  run_source *s = realloc(in->src, (in->nsrc + 1) * sizeof *s);
  if (s == NULL)
    return run_fail(err, "out of memory");
  in->src = s;
  s[in->nsrc++] = (run_source){.name = name,
                               .values = values,
                               .n = n,
                               .linked = linked,
                               .absent = absent};
  return 0;
}

typedef struct strvec {
  char **v;
  size_t n, cap;
} strvec;

static int strvec_push(strvec *sv, char *s) {
  if (s == NULL)
    return -1;
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
  *sv = (strvec){0};
}

/* ------------------------------------------------------------ columns */

/* --colsep is a Perl regexp in GNU parallel; regcomp reads POSIX EREs.
 * The escapes Perl users write (\t \n \r \f \v \d \D \s \S \w \W) are
 * turned into their ERE forms, and `.` into [^\n] (Perl's . is not a
 * newline); the rest is passed on as it is. */
static int perl_to_ere(const char *re, run_buf *b) {
  static const char ctl_from[] = "tnrfve", ctl_to[] = "\t\n\r\f\v\x1b";
  static const struct {
    char c;
    const char *out, *in_bracket;
  } cls[] = {{'d', "[0-9]", "0-9"},
             {'D', "[^0-9]", NULL},
             {'s', "[[:space:]]", "[:space:]"},
             {'S', "[^[:space:]]", NULL},
             {'w', "[[:alnum:]_]", "[:alnum:]_"},
             {'W', "[^[:alnum:]_]", NULL}};
  int bracket = 0, rc = 0;
  for (const char *p = re; *p && rc == 0; p++) {
    if (*p == '[' && !bracket) {
      bracket = 1;
      rc = run_buf_add(b, p, 1);
      if (p[1] == '^')
        rc |= run_buf_add(b, ++p, 1);
      if (p[1] == ']')
        rc |= run_buf_add(b, ++p, 1); /* a literal ] */
      continue;
    }
    if (*p == ']' && bracket)
      bracket = 0;
    if (*p == '.' && !bracket) {
      rc = run_buf_str(b, "[^\n]");
      continue;
    }
    if (*p != '\\' || p[1] == '\0') {
      rc = run_buf_add(b, p, 1);
      continue;
    }
    const char *c = strchr(ctl_from, p[1]);
    size_t k = 0;
    while (k < sizeof cls / sizeof cls[0] && cls[k].c != p[1]) k++;
    if (c != NULL)
      rc = run_buf_add(b, &ctl_to[c - ctl_from], 1);
    else if (k < sizeof cls / sizeof cls[0] && (!bracket || cls[k].in_bracket))
      rc = run_buf_str(b, bracket ? cls[k].in_bracket : cls[k].out);
    else if (bracket)
      rc = run_buf_add(b, p + 1, 1); /* [\]] [\-] ... */
    else
      rc = run_buf_add(b, p, 2);
    p++;
  }
  return rc == 0 ? run_buf_add(b, "", 0) : -1;
}

/* How the records of a source are cut into columns. */
typedef struct splitter {
  int on; /* --colsep, --header or --csv: records have columns */
  int csv;
  const char *sep; /* --csv: the separator (a literal string) */
  int trim;        /* --colsep given: columns lose their outer white space */
  regex_t re;      /* not --csv */
} splitter;

/* Does a repetition (* + ? {n,m}) follow another in the ERE? POSIX leaves
 * that undefined, and glibc's regcomp can take gigabytes for a run of them
 * (e+++++...), so it is refused. Bracket expressions and escapes are
 * skipped. */
static int repeats_stacked(const char *re) {
  int after_repeat = 0;
  for (const char *p = re; *p; p++) {
    int repeat = 0;
    if (*p == '\\' && p[1]) {
      p++;
    } else if (*p == '[') {
      p += p[1] == '^' ? 2 : 1;
      if (*p == ']')
        p++;
      while (*p && *p != ']') p++;
      if (!*p)
        return 0; /* unterminated: regcomp says so */
    } else if (strchr("*+?", *p)) {
      repeat = 1;
    } else if (*p == '{' && p[1] >= '0' && p[1] <= '9') {
      repeat = 1;
      while (*p && *p != '}') p++;
      if (!*p)
        return 0;
    }
    if (repeat && after_repeat)
      return 1;
    after_repeat = repeat;
  }
  return 0;
}

int run_perl_regcomp(regex_t *re, const char *opt, const char *perl,
                     const char *before, const char *after, int cflags,
                     run_err err) {
  run_buf ere = {0};
  if (run_buf_str(&ere, before) != 0 || perl_to_ere(perl, &ere) != 0 ||
      run_buf_str(&ere, after) != 0) {
    run_buf_free(&ere);
    return run_fail(err, "out of memory");
  }
  if (repeats_stacked(ere.data)) {
    run_buf_free(&ere);
    return run_fail(err,
                    "bad %s '%s': a repetition (* + ? {}) right after "
                    "another",
                    opt, perl);
  }
  int rc = regcomp(re, ere.data, cflags);
  run_buf_free(&ere);
  if (rc != 0) {
    char msg[128];
    regerror(rc, re, msg, sizeof msg);
    return run_fail(err, "bad %s '%s': %s", opt, perl, msg);
  }
  return 0;
}

int run_pipe_header(regex_t *re, size_t *lines, const char *header,
                    run_err err) {
  char *end;
  unsigned long long n = strtoull(header, &end, 10);
  if (strcmp(header, ":") == 0)
    n = 1, end = (char *)"";
  if (*end == '\0' && *header != '-' && *header != '+' && *header != ' ') {
    *lines = (size_t)n; /* GNU's (.*\n){N}: N lines, whatever they hold */
    return n ? RUN_HEADER_LINES : RUN_HEADER_NONE;
  }
  /* matched at the start only: ^ without REG_NEWLINE */
  return run_perl_regcomp(re, "--header", header, "^(", ")", REG_EXTENDED,
                          err) == 0
             ? RUN_HEADER_REGEXP
             : -1;
}

static int splitter_init(splitter *sp, const run_input_opts *o, run_err err) {
  *sp = (splitter){.on = o->colsep || o->header || o->csv,
                   .csv = o->csv,
                   .trim = o->colsep != NULL};
  if (!sp->on)
    return 0;
  if (sp->csv) {
    sp->sep = o->colsep ? o->colsep : ",";
    if (*sp->sep != '\0')
      return 0;
    sp->on = 0;
    return run_fail(err, "--csv needs a separator: --colsep '' splits no CSV");
  }
  /* --header alone splits at TABs, as GNU parallel does */
  const char *re = o->colsep ? o->colsep : "\t";
  if (run_perl_regcomp(&sp->re, "--colsep", re, "", "", REG_EXTENDED, err) !=
      0) {
    sp->on = 0;
    return -1;
  }
  return 0;
}

static void splitter_free(splitter *sp) {
  if (sp->on && !sp->csv)
    regfree(&sp->re);
}

static int is_perl_space(char c) { return c && strchr(" \t\n\r\f\v", c); }

static int push_field(strvec *f, const char *s, size_t n, int trim) {
  while (trim && n > 0 && is_perl_space(*s)) s++, n--;
  while (trim && n > 0 && is_perl_space(s[n - 1])) n--;
  return strvec_push(f, strndup(s, n));
}

/* Perl's split /RE/, $line, -1: empty fields kept, also at the end; a
 * zero-length match never makes an empty field at the field's start, but
 * one at the end of the line ends a field (split //, "ab", -1 is a, b and
 * an empty field: GNU's --colsep ''). */
static int split_regex(const splitter *sp, const char *line, strvec *f) {
  size_t len = strlen(line), fs = 0, ss = 0;
  regmatch_t m;
  while (ss <= len &&
         regexec(&sp->re, line + ss, 1, &m, ss ? REG_NOTBOL : 0) == 0) {
    size_t ms = ss + (size_t)m.rm_so, me = ss + (size_t)m.rm_eo;
    if (me == ms && ms == fs) { /* empty: try one further */
      if (ms >= len)
        break;
      ss = ms + 1;
      continue;
    }
    if (push_field(f, line + fs, ms - fs, sp->trim) != 0)
      return -1;
    fs = ss = me;
  }
  return push_field(f, line + fs, len - fs, sp->trim);
}

/* One CSV record (RFC 4180, with the separator sep): "" is a quote in a
 * quoted field; a quoted field may hold the separator and line ends. */
static int split_csv(const splitter *sp, const char *rec, strvec *f,
                     run_err err) {
  size_t seplen = strlen(sp->sep);
  run_buf field = {0};
  const char *p = rec;
  int rc = 0;
  for (;;) {
    field.len = 0;
    rc = run_buf_add(&field, "", 0);
    if (*p == '"') {
      for (p++; rc == 0 && *p && !(*p == '"' && p[1] != '"'); p++)
        rc = run_buf_add(&field, p, 1), p += *p == '"';
      if (*p != '"') {
        rc = run_fail(err, "bad CSV record (a quote is not closed): %.60s",
                      rec);
        break;
      }
      p++;
      if (*p && strncmp(p, sp->sep, seplen) != 0) {
        rc = run_fail(err,
                      "bad CSV record (text after a closing quote): "
                      "%.60s",
                      rec);
        break;
      }
    } else {
      const char *end = strstr(p, sp->sep);
      size_t n = end ? (size_t)(end - p) : strlen(p);
      rc = run_buf_add(&field, p, n);
      p += n;
    }
    if (rc == 0)
      rc = push_field(f, field.data, field.len, sp->trim);
    if (rc != 0 || *p == '\0')
      break;
    p += seplen;
  }
  if (rc != 0 && err[0] == '\0')
    run_fail(err, "out of memory");
  run_buf_free(&field);
  return rc;
}

static int split_record(const splitter *sp, const char *rec, strvec *f,
                        run_err err) {
  if (sp->csv)
    return split_csv(sp, rec, f, err);
  if (rec[0] == '\0') /* an empty line is one empty column (GNU) */
    return strvec_push(f, strdup("")) ? run_fail(err, "out of memory") : 0;
  return split_regex(sp, rec, f) ? run_fail(err, "out of memory") : 0;
}

/* The columns of a source being cut: one array of values each. */
typedef struct columns {
  strvec *col;
  unsigned char **absent;
  char **name;
  size_t n, rows;
} columns;

static void columns_free(columns *c) {
  for (size_t k = 0; k < c->n; k++) {
    strvec_free(&c->col[k]);
    free(c->absent[k]);
    free(c->name[k]);
  }
  free(c->col);
  free(c->absent);
  free(c->name);
}

/* Makes room for k columns; a new one is absent in the rows so far. */
static int columns_grow(columns *c, size_t k) {
  if (k <= c->n)
    return 0;
  strvec *col = realloc(c->col, k * sizeof *col);
  if (col)
    c->col = col;
  unsigned char **ab = realloc(c->absent, k * sizeof *ab);
  if (ab)
    c->absent = ab;
  char **nm = realloc(c->name, k * sizeof *nm);
  if (nm)
    c->name = nm;
  if (!col || !ab || !nm)
    return -1;
  for (; c->n < k; c->n++) {
    c->col[c->n] = (strvec){0};
    c->name[c->n] = NULL;
    c->absent[c->n] = calloc(c->rows ? c->rows : 1, 1);
    if (c->absent[c->n] == NULL)
      return -1;
    for (size_t r = 0; r < c->rows; r++) {
      c->absent[c->n][r] = 1;
      if (strvec_push(&c->col[c->n], strdup("")) != 0)
        return -1;
    }
  }
  return 0;
}

static int columns_add_row(columns *c, strvec *f) {
  if (columns_grow(c, f->n) != 0)
    return -1;
  for (size_t k = 0; k < c->n; k++) {
    unsigned char *ab = realloc(c->absent[k], c->rows + 1);
    if (ab == NULL)
      return -1;
    c->absent[k] = ab;
    ab[c->rows] = k >= f->n;
    char *v = k < f->n ? f->v[k] : strdup("");
    if (k < f->n)
      f->v[k] = NULL;
    if (strvec_push(&c->col[k], v) != 0)
      return -1;
  }
  c->rows++;
  return 0;
}

/* The first record names the columns (--header). */
static int columns_name(columns *c, strvec *f) {
  if (columns_grow(c, f->n) != 0)
    return -1;
  for (size_t k = 0; k < f->n; k++)
    if (f->v[k][0] != '\0')
      c->name[k] = f->v[k], f->v[k] = NULL;
  return 0;
}

static void free_fields(strvec *f) {
  for (size_t i = 0; i < f->n; i++) free(f->v[i]);
  f->n = 0;
}

/* Adds one source per column; each links to the one before. */
static int add_columns(run_inputs *in, columns *c, int linked, run_err err) {
  int rc = columns_grow(c, 1) ? run_fail(err, "out of memory") : 0;
  for (size_t k = 0; rc == 0 && k < c->n; k++) {
    int any = 0;
    for (size_t r = 0; r < c->rows; r++) any |= c->absent[k][r];
    if (!any) {
      free(c->absent[k]);
      c->absent[k] = NULL;
    }
    rc = add_source(in, c->name[k], c->col[k].v, c->col[k].n, k ? 1 : linked,
                    c->absent[k], err);
    if (rc == 0) {
      c->col[k] = (strvec){0};
      c->absent[k] = NULL;
      c->name[k] = NULL;
    }
  }
  columns_free(c);
  return rc;
}

/* A positional source from its records (taken over): the first names its
 * columns with --header; with --colsep, --csv or --header each record is
 * cut into columns, one source each. */
static int is_blank(const char *s) {
  while (*s && is_perl_space(*s)) s++;
  return *s == '\0';
}

/* -E: a source ends before the record equal to the end string; -r: blank
 * records are dropped (GNU parallel's --eof and --no-run-if-empty). */
static void drop_records(const run_input_opts *o, strvec *rec) {
  size_t kept = 0, r = 0;
  for (; r < rec->n; r++) {
    if (o->eof_str && strcmp(rec->v[r], o->eof_str) == 0)
      break;
    if (o->skip_blank && is_blank(rec->v[r]))
      free(rec->v[r]);
    else
      rec->v[kept++] = rec->v[r];
  }
  for (; r < rec->n; r++) free(rec->v[r]);
  rec->n = kept;
}

static int add_records(run_inputs *in, strvec *rec, int linked, run_err err) {
  splitter sp;
  drop_records(&in->opt, rec);
  if (splitter_init(&sp, &in->opt, err) != 0) {
    strvec_free(rec);
    return -1;
  }
  if (!sp.on) {
    int rc = add_source(in, NULL, rec->v, rec->n, linked, NULL, err);
    if (rc != 0)
      strvec_free(rec);
    return rc;
  }
  columns c = {0};
  strvec f = {0};
  int rc = 0;
  for (size_t r = 0; rc == 0 && r < rec->n; r++) {
    rc = split_record(&sp, rec->v[r], &f, err);
    if (rc == 0 && (r == 0 && in->opt.header ? columns_name(&c, &f)
                                             : columns_add_row(&c, &f)))
      rc = run_fail(err, "out of memory");
    free_fields(&f);
  }
  strvec_free(&f);
  strvec_free(rec);
  splitter_free(&sp);
  if (rc != 0) {
    columns_free(&c);
    return rc;
  }
  return add_columns(in, &c, linked, err);
}

/* ------------------------------------------------------------ sources */

static int read_all(FILE *f, run_buf *b) {
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    if (run_buf_add(b, chunk, n) != 0)
      return -1;
  return run_buf_add(b, "", 0);
}

/* Where the record at p ends: the next separator (outside quotes with
 * --csv), or the end of the data. */
static const char *record_end(const run_inputs *in, const char *p,
                              const char *end) {
  const char *d = in->opt.delim;
  size_t dn = in->opt.delim_len;
  int quoted = 0;
  for (; p + dn <= end; p++) {
    if (in->opt.csv && *p == '"')
      quoted = !quoted;
    else if (!quoted && *p == d[0] && memcmp(p, d, dn) == 0)
      return p;
  }
  return end;
}

/* The records of the data: a last one without a separator counts; a
 * separator at the end makes no empty record after it. */
static int split_records(const run_inputs *in, const run_buf *b, strvec *sv) {
  const char *p = b->data, *end = b->data + b->len;
  while (p < end) {
    const char *e = record_end(in, p, end);
    size_t n = (size_t)(e - p);
    if (in->opt.csv && n > 0 && p[n - 1] == '\r')
      n--; /* CRLF rows */
    if (strvec_push(sv, strndup(p, n)) != 0)
      return -1;
    p = e == end ? end : e + in->opt.delim_len;
  }
  return 0;
}

/* A ::: value is read as GNU parallel reads it: written out followed by
 * the record separator and read back, so a value that holds the separator
 * is several values (::: $'a\nb' runs two jobs, -d , ::: a,b too). */
static int push_arg(const run_inputs *in, strvec *sv, const char *v) {
  size_t n = strlen(v), dn = in->opt.delim_len;
  if (dn == 0 || memmem(v, n, in->opt.delim, dn) == NULL)
    return strvec_push(sv, strdup(v));
  run_buf b = {0};
  int rc = run_buf_add(&b, v, n) != 0 ||
                   run_buf_add(&b, in->opt.delim, dn) != 0 ||
                   split_records(in, &b, sv) != 0
               ? -1
               : 0;
  run_buf_free(&b);
  return rc;
}

/* A source of values: each as it is, or (split) as a ::: value. */
static int add_values(run_inputs *in, char **values, size_t n, int linked,
                      int split, run_err err) {
  strvec sv = {0};
  for (size_t i = 0; i < n; i++)
    if ((split ? push_arg(in, &sv, values[i])
               : strvec_push(&sv, strdup(values[i]))) != 0) {
      strvec_free(&sv);
      return run_fail(err, "out of memory");
    }
  return add_records(in, &sv, linked, err); /* none: an empty source */
}

int run_inputs_add_list(run_inputs *in, char **values, size_t n, int linked,
                        run_err err) {
  return add_values(in, values, n, linked, 0, err);
}

int run_inputs_add_args(run_inputs *in, char **values, size_t n, int linked,
                        run_err err) {
  return add_values(in, values, n, linked, 1, err);
}

int run_inputs_add_file(run_inputs *in, const char *path, int linked,
                        run_err err) {
#ifdef RUN_INPUT_FILES_ARE_DEV_NULL /* the fuzz build: a fuzzed path could
                                       be a FIFO or /dev/zero */
  path = "/dev/null";
#endif
  int is_stdin = strcmp(path, "-") == 0;
  FILE *f = is_stdin ? stdin : fopen(path, "r");
  if (f == NULL)
    return run_fail(err, "cannot read input file '%s': %s", path,
                    strerror(errno));
  if (in->opt.delim_len == 0) /* a caller that set no options: lines */
    in->opt.delim[0] = '\n', in->opt.delim_len = 1;
  run_buf data = {0};
  strvec sv = {0};
  int rc = 0;
  if (read_all(f, &data) != 0 || split_records(in, &data, &sv) != 0)
    rc = run_fail(err, "out of memory");
  if (rc == 0 && ferror(f))
    rc = run_fail(err, "cannot read input file '%s': %s",
                  is_stdin ? "stdin" : path, strerror(errno));
  run_buf_free(&data);
  if (!is_stdin)
    fclose(f);
  if (rc != 0) {
    strvec_free(&sv);
    return rc;
  }
  return add_records(in, &sv, linked, err);
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

int run_parse_num(const char *s, size_t n, double *d, long long *ll,
                  int *is_int) {
  char buf[64], *end;
  if (n == 0 || n >= sizeof buf)
    return -1;
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
  if (v == 0)
    v = 0; /* no "-0" */
  snprintf(buf, sizeof buf, "%.12g", v);
  return strdup(buf);
}

/* The values from start to stop by step (not 0), at most RUN_AXIS_MAX + 1;
 * 0 when the step points away from stop. In unsigned arithmetic: the
 * distance between two int64 values always fits in a uint64. */
static size_t int_count(long long start, long long stop, long long step) {
  if (step > 0 ? stop < start : stop > start)
    return 0;
  uint64_t span = step > 0 ? (uint64_t)stop - (uint64_t)start
                           : (uint64_t)start - (uint64_t)stop;
  uint64_t q = span / (step > 0 ? (uint64_t)step : 0 - (uint64_t)step);
  return q >= RUN_AXIS_MAX ? RUN_AXIS_MAX + 1 : (size_t)q + 1;
}

static size_t real_count(double a, double b, double step) {
  double q = (b - a) / step; /* may be inf: then there are too many */
  if (!(q >= 0))
    return 0;
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
  if (run_parse_num(item, (size_t)(c1 - item), &it->a, &it->start, &ai) != 0 ||
      run_parse_num(c1 + 1, c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1), &b,
                    &ib, &bi) != 0 ||
      (c2 &&
       run_parse_num(c2 + 1, strlen(c2 + 1), &it->d, &it->step, &si) != 0))
    return run_fail(err, "bad range '%s' (want START:STOP[:STEP])", item);
  if (it->d == 0)
    return run_fail(err, "range '%s' has a step of 0", item);
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
      run_parse_num(item, (size_t)(dots - item), &it->a, &ia, &ai) != 0 ||
      run_parse_num(dots + 2, (size_t)(x - dots - 2), &it->b, &ib, &bi) != 0 ||
      run_parse_num(x + 1, strlen(x + 1), &dn, &n, &ni) != 0 || !ni)
    return run_fail(err, "bad log range '%s' (want FROM..TOxN)", item);
  if (it->a <= 0 || it->b <= 0 || n < 1)
    return run_fail(err, "bad log range '%s' (ends must be > 0, N >= 1)", item);
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
    snprintf(buf, sizeof buf, "%lld",
             from_twos((uint64_t)it->start + (uint64_t)i * (uint64_t)it->step));
    return strdup(buf);
  case IT_REAL: return fmt_double(it->a + (double)i * it->d);
  case IT_LOG:
    if (i == 0 || i == it->n - 1)
      return fmt_double(i == 0 ? it->a : it->b);
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
      if (rc != 0 || *p == '\0')
        break;
    } else {
      rc = run_buf_add(&item, p, 1);
    }
    if (rc != 0)
      break;
  }
  run_buf_free(&item);
  if (rc != 0 && err[0] == '\0')
    run_fail(err, "out of memory");
  return rc;
}

/* The number of values the items make, checked before any is made: at
 * most RUN_AXIS_MAX, and at most MAX_JOBS jobs with the axes before. */
static int grid_count(const run_inputs *in, const char *name,
                      const strvec *items, size_t *total, run_err err) {
  grid_item it;
  *total = 0;
  for (size_t k = 0; k < items->n; k++) {
    if (grid_item_parse(&it, items->v[k], err) != 0)
      return -1;
    if (it.n > RUN_AXIS_MAX - *total)
      return run_fail(err,
                      "--grid %s: too many values at '%s' (an axis "
                      "may have at most %zu)",
                      name, items->v[k], (size_t)RUN_AXIS_MAX);
    *total += it.n;
  }
  size_t jobs = *total; /* every axis has a value: no division by 0 */
  for (size_t s = 0; s < in->nsrc; s++) {
    /* named sources (axes, --header columns); an empty one counts 1 */
    size_t n = in->src[s].name && in->src[s].n ? in->src[s].n : 1;
    if (n > MAX_JOBS / jobs)
      return run_fail(err,
                      "--grid %s: too many jobs with the axes before "
                      "it (more than %zu)",
                      name, MAX_JOBS);
    jobs *= n;
  }
  return 0;
}

static int grid_values(strvec *sv, const strvec *items, size_t total,
                       run_err err) {
  grid_item it;
  sv->v = malloc((total ? total : 1) * sizeof *sv->v);
  if (sv->v == NULL)
    return run_fail(err, "out of memory");
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
  if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
    return 0;
  for (size_t i = 1; i < n; i++)
    if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
      return 0;
  return 1;
}

int run_inputs_add_grid(run_inputs *in, const char *spec, run_err err) {
  const char *eq = strchr(spec, '=');
  if (eq == NULL || !valid_name(spec, (size_t)(eq - spec)))
    return run_fail(err,
                    "bad --grid '%s' (want NAME=v1,v2,... with NAME "
                    "made of letters, digits and _)",
                    spec);
  char *name = strndup(spec, (size_t)(eq - spec));
  if (name == NULL)
    return run_fail(err, "out of memory");
  for (size_t s = 0; s < in->nsrc; s++)
    if (in->src[s].name && strcmp(in->src[s].name, name) == 0) {
      free(name);
      return run_fail(err, "--grid axis '%.*s' given twice", (int)(eq - spec),
                      spec);
    }
  const char *list = eq + 1;
  if (strncmp(list, "choice:", 7) == 0)
    list += 7;                    /* a list by its name */
  if (run_sample_is_dist(list)) { /* values come from --sample */
    char *d = strdup(list);
    int rc = d ? run_sample_check_dist(name, d, err)
               : run_fail(err, "out of memory");
    if (rc == 0)
      rc = add_source(in, name, NULL, 0, 0, NULL, err);
    if (rc != 0) {
      free(d);
      free(name);
      return -1;
    }
    in->src[in->nsrc - 1].axis = 1;
    in->src[in->nsrc - 1].dist = d;
    return 0;
  }
  strvec items = {0}, sv = {0};
  size_t total = 0;
  int rc = grid_split(&items, spec, list, err);
  if (rc == 0)
    rc = grid_count(in, name, &items, &total, err);
  if (rc == 0)
    rc = grid_values(&sv, &items, total, err);
  strvec_free(&items);
  if (rc == 0)
    rc = add_source(in, name, sv.v, sv.n, 0, NULL, err);
  if (rc == 0)
    in->src[in->nsrc - 1].axis = 1;
  if (rc != 0) {
    strvec_free(&sv);
    free(name);
  }
  return rc;
}

int run_inputs_add_axis(run_inputs *in, char *name, char **values, size_t n,
                        run_err err) {
  if (add_source(in, name, values, n, 0, NULL, err) != 0)
    return -1;
  in->src[in->nsrc - 1].axis = 1;
  return 0;
}

/* ------------------------------------------------------------ jobs */

/* An empty source beside sources with values counts as one empty value
 * (GNU parallel: `::: a b :::: empty` runs `a ''` and `b ''`). */
static int fill_empty(run_inputs *in, run_err err) {
  for (size_t s = 0; s < in->nsrc; s++) {
    run_source *src = &in->src[s];
    if (src->n > 0)
      continue;
    char **v = realloc(src->values, sizeof *v);
    if (v == NULL || (v[0] = strdup("")) == NULL) {
      if (v)
        src->values = v;
      return run_fail(err, "out of memory");
    }
    src->values = v;
    src->n = 1;
  }
  return 0;
}

int run_inputs_finish(run_inputs *in, run_err err) {
  free(in->first);
  in->first = NULL;
  in->per_job = 0;
  in->ntuples = in->njobs = 0;
  size_t values = 0;
  for (size_t s = 0; s < in->nsrc; s++) values += in->src[s].n;
  if (values == 0)
    return 0; /* nothing to run (`echo :::`, empty stdin) */
  if (fill_empty(in, err) != 0)
    return -1;
  size_t stride = 1;
  for (size_t end = in->nsrc; end > 0;) { /* groups, last (fastest) first */
    size_t head = end - 1, len = in->src[head].n;
    while (head > 0 && in->src[head].linked) {
      head--;
      if (in->src[head].n < len)
        len = in->src[head].n;
    }
    for (size_t s = head; s < end; s++) {
      in->src[s].stride = stride;
      in->src[s].len = len;
    }
    if (stride > MAX_JOBS / len)
      return run_fail(err, "too many jobs (more than %zu)", MAX_JOBS);
    stride *= len;
    end = head;
  }
  in->ntuples = in->njobs = stride;
  return 0;
}

void run_inputs_tuples(const run_inputs *in, size_t job, size_t *first,
                       size_t *count) {
  if (in->first) {
    *first = in->first[job];
    *count = in->first[job + 1] - *first;
  } else if (in->per_job > 1) {
    *first = job * in->per_job;
    *count = in->ntuples - *first < in->per_job ? in->ntuples - *first
                                                : in->per_job;
  } else {
    *first = job;
    *count = 1;
  }
}

size_t run_inputs_pick_tuple(const run_inputs *in, size_t t, size_t s) {
  return (t / in->src[s].stride) % in->src[s].len;
}

size_t run_inputs_pick(const run_inputs *in, size_t job, size_t s) {
  size_t first, count;
  run_inputs_tuples(in, job, &first, &count);
  return run_inputs_pick_tuple(in, first, s);
}

int run_inputs_value(const run_inputs *in, size_t job, size_t s, run_buf *b) {
  size_t first, count;
  run_inputs_tuples(in, job, &first, &count);
  int rc = run_buf_add(b, "", 0);
  for (size_t t = first; rc == 0 && t < first + count; t++)
    rc = (t > first && run_buf_add(b, " ", 1)) ||
         run_buf_str(b, in->src[s].values[run_inputs_pick_tuple(in, t, s)]);
  return rc ? -1 : 0;
}

int run_inputs_tag(const run_inputs *in, size_t job, run_buf *b) {
  size_t first, count;
  int rc = run_buf_add(b, "", 0), any = 0;
  run_inputs_tuples(in, job, &first, &count);
  for (size_t t = first; rc == 0 && t < first + count; t++)
    for (size_t s = 0; rc == 0 && s < in->nsrc; s++) {
      size_t i = run_inputs_pick_tuple(in, t, s);
      if (in->src[s].absent && in->src[s].absent[i])
        continue;
      rc = (any++ && run_buf_add(b, " ", 1)) ||
           run_buf_str(b, in->src[s].values[i]);
    }
  return rc ? -1 : 0;
}

const char *run_inputs_name(const run_inputs *in, size_t s, char *tmp,
                            size_t tmpsz) {
  if (in->src[s].name)
    return in->src[s].name;
  snprintf(tmp, tmpsz, "arg%zu", s + 1);
  return tmp;
}

void run_inputs_free(run_inputs *in) {
  for (size_t s = 0; s < in->nsrc; s++) {
    for (size_t i = 0; i < in->src[s].n; i++) free(in->src[s].values[i]);
    free(in->src[s].values);
    free(in->src[s].name);
    free(in->src[s].absent);
    free(in->src[s].dist);
  }
  free(in->src);
  free(in->first);
  in->src = NULL;
  in->first = NULL;
  in->nsrc = 0;
}
