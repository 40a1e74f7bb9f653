/* run_record.c -- what `parc run` writes down, and reads back to resume:
 * the records (run_records), tying the results table to the job log.
 *
 * It owns the results table: in memory (columns, and one row per job keyed
 * by the job's values, run_record.h) and on disk (DIR/results.csv and
 * each job's DIR/<values>/stdout and stderr). The job log and the lock are
 * run_joblog.c's; the records' start, skip, add and close here call into
 * it.
 *
 * A finished job is written down in a fixed order: its output files, then
 * its row of results.csv (run_records_add), then, LAST, its job log line
 * (run_records_commit, once its output is printed): the line is the
 * commit record. A SIGKILL at any instant leaves each job either logged
 * with all of it in place, or not logged: --resume runs it again,
 * overwriting its files and replacing its row. A logged job whose row or
 * output files are missing anyway (a log from an older parc, a power loss,
 * a file removed by hand, --results added on resume) is not done either:
 * it runs again, and its old line is dropped from the log before the first
 * job is logged (run_records_repair). So every job ends with one line, one
 * row and its files.
 *
 * results.csv: a finished job appends its row; a new column (a metric
 * seen for the first time), a replaced row or a failed write rewrites the
 * whole file into results.csv.tmp, renamed over the old one. A leftover
 * results.csv.tmp is removed at start, and a partial last row (a crash in
 * an append) is dropped when the file is read back (its records may end
 * in \r\n too, as RFC 4180 has them). Every column name and cell is made
 * valid UTF-8 (run_buf_add_utf8), so the file always is. No fsync: what
 * holds on a power loss is in docs/parc-run.md.
 *
 * The metrics in a job's output are found by run_metrics.c; this file
 * decides their columns. The --best summary of the table is run_best.c.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run_record.h"

#define NAME_MAX_BYTES 200 /* of a job's directory name, before its hash */
#define METRIC_KEY_MAX 120 /* bytes of a metric's key kept in its column */

static const char *const FIXED_TAIL[] = {"exit", "signal", "start", "runtime",
                                         "host"};
_Static_assert(sizeof FIXED_TAIL / sizeof FIXED_TAIL[0] == NTAIL,
               "NTAIL counts the fixed columns");

int run_write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* The whole file at path into b. 0, 1 when it does not exist, or -1. */
int run_slurp(const char *path, run_buf *b) {
  FILE *f = fopen(path, "re");
  if (f == NULL)
    return errno == ENOENT ? 1 : -1;
  char chunk[65536];
  size_t n;
  int rc = run_buf_add(b, "", 0);
  while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
    rc = run_buf_add(b, chunk, n);
  if (ferror(f))
    rc = -1;
  fclose(f);
  return rc;
}

/* p[0..n) as valid UTF-8, a malloc'd C string. */
static char *utf8_dup(const char *p, size_t n) {
  run_buf b = {0};
  if (run_buf_add_utf8(&b, p, n) == 0)
    return b.data;
  run_buf_free(&b);
  return NULL;
}

/* ------------------------------------------------------------ results.csv */

static int add_col(run_records *r, const char *name) {
  char *u = utf8_dup(name, strlen(name));
  if (u == NULL)
    return -1;
  int i = find_col(r, u);
  if (i >= 0) {
    free(u);
    return i;
  }
  char **c = realloc(r->col, (r->ncol + 1) * sizeof *c);
  if (c == NULL) {
    free(u);
    return -1;
  }
  (r->col = c)[r->ncol] = u;
  r->csv_stale = 1;
  return (int)r->ncol++;
}

static int set_cell(row *w, size_t col, const char *val, size_t n) {
  if (col >= w->ncell) {
    char **c = realloc(w->cell, (col + 1) * sizeof *c);
    if (c == NULL)
      return -1;
    memset(c + w->ncell, 0, (col + 1 - w->ncell) * sizeof *c);
    w->cell = c;
    w->ncell = col + 1;
  }
  char *u = utf8_dup(val, n);
  if (u == NULL)
    return -1;
  free(w->cell[col]);
  w->cell[col] = u;
  return 0;
}

static void free_row(row *w) {
  for (size_t i = 0; i < w->ncell; i++) free(w->cell[i]);
  free(w->cell);
  free(w->key);
}

static int csv_field(run_buf *b, const char *s) {
  if (s == NULL)
    return 0;
  if (strpbrk(s, ",\"\n\r") == NULL)
    return run_buf_str(b, s);
  int rc = run_buf_add(b, "\"", 1);
  for (; *s && rc == 0; s++)
    rc = *s == '"' ? run_buf_add(b, "\"\"", 2) : run_buf_add(b, s, 1);
  return rc || run_buf_add(b, "\"", 1);
}

static int csv_row(const run_records *r, run_buf *b, const row *w) {
  int rc = 0;
  for (size_t i = 0; i < r->ncol && rc == 0; i++) {
    if (i > 0)
      rc = run_buf_add(b, ",", 1);
    if (rc == 0)
      rc = csv_field(b, i < w->ncell ? w->cell[i] : NULL);
  }
  return rc || run_buf_add(b, "\n", 1);
}

static int csv_path(const run_records *r, char *path, size_t n, int tmp) {
  return snprintf(path, n, "%s/results.csv%s", r->dir, tmp ? ".tmp" : "") <
                 (int)n
             ? 0
             : -1;
}

static int csv_rewrite(run_records *r) {
  char path[4096], tmp[4096];
  run_buf b = {0};
  int rc = csv_path(r, path, sizeof path, 0) || csv_path(r, tmp, sizeof tmp, 1);
  for (size_t i = 0; i < r->ncol && rc == 0; i++)
    rc = (i > 0 && run_buf_add(&b, ",", 1)) || csv_field(&b, r->col[i]);
  if (rc == 0)
    rc = run_buf_add(&b, "\n", 1);
  for (size_t i = 0; i < r->nrows && rc == 0; i++)
    rc = csv_row(r, &b, &r->rows[i]);
  int fd = rc ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || run_write_all(fd, b.data, b.len) != 0)
    rc = -1;
  if (fd >= 0 && close(fd) != 0)
    rc = -1;
  if (rc == 0)
    rc = rename(tmp, path);
  if (rc != 0 && fd >= 0)
    unlink(tmp);
  run_buf_free(&b);
  if (rc == 0)
    r->csv_stale = 0;
  return rc;
}

static int csv_append(run_records *r, const row *w) {
  char path[4096];
  run_buf b = {0};
  int rc = csv_path(r, path, sizeof path, 0) || csv_row(r, &b, w);
  int fd = rc ? -1 : open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0 || run_write_all(fd, b.data, b.len) != 0)
    rc = -1;
  if (fd >= 0)
    close(fd);
  run_buf_free(&b);
  if (rc != 0)
    r->csv_stale = 1; /* a short row: the next write replaces it */
  return rc;
}

/* Does a record end at s with \r\n (RFC 4180; a lone \r is data)? */
static int crlf(const char *s) { return s[0] == '\r' && s[1] == '\n'; }

size_t run_csv_record(char **p, run_buf *fields) {
  size_t n = 0;
  char *s = *p;
  fields->len = 0;
  for (;;) {
    int quoted = *s == '"';
    if (quoted)
      s++;
    for (; *s; s++) {
      if (quoted && *s == '"' && s[1] == '"')
        s++;
      else if (quoted && *s == '"') {
        quoted = 0;
        continue;
      } else if (!quoted && (*s == ',' || *s == '\n' || crlf(s)))
        break;
      run_buf_add(fields, s, 1);
    }
    run_buf_add(fields, "", 1);
    n++;
    if (*s != ',')
      break;
    s++;
  }
  if (crlf(s))
    s += 2;
  else if (*s == '\n')
    s++;
  *p = s;
  return n;
}

/* The length of the complete records at the start of text: up to the last
 * newline outside quotes. What follows is a row cut short by a crash. */
static size_t csv_complete(const char *text, size_t len) {
  size_t end = 0;
  int quoted = 0;
  for (size_t i = 0; i < len; i++)
    if (text[i] == '"')
      quoted = !quoted;
    else if (text[i] == '\n' && !quoted)
      end = i + 1;
  return end;
}

/* The row key of a job: its values as they are in the table. */
static char *row_key(const run_inputs *in, size_t job) {
  run_buf k = {0}, v = {0};
  int rc = run_buf_add(&k, "", 0);
  for (size_t s = 0; s < in->nsrc && rc == 0; s++) {
    v.len = 0;
    rc = run_inputs_value(in, job, s, &v) ||
         (s > 0 && run_buf_add(&k, "\x1f", 1)) ||
         run_buf_add_utf8(&k, v.data, v.len);
  }
  run_buf_free(&v);
  if (rc == 0)
    return k.data;
  run_buf_free(&k);
  return NULL;
}

/* ------------------------------------------------------------ rows */

static int row_find(const run_records *r, const char *key) {
  if (r->row_cap == 0)
    return -1;
  for (size_t k = run_fnv1a(key, strlen(key)) % r->row_cap; r->row_at[k];
       k = (k + 1) % r->row_cap)
    if (strcmp(r->rows[r->row_at[k] - 1].key, key) == 0)
      return (int)(r->row_at[k] - 1);
  return -1;
}

static void row_index(run_records *r, size_t i) {
  size_t k = run_fnv1a(r->rows[i].key, strlen(r->rows[i].key)) % r->row_cap;
  while (r->row_at[k]) k = (k + 1) % r->row_cap;
  r->row_at[k] = i + 1;
}

/* Puts w in the table (taking it): it replaces the row of the same key,
 * or is added last. 0, or -1 (ENOMEM; w freed). */
static int row_put(run_records *r, row *w) {
  int i = row_find(r, w->key);
  if (i >= 0) {
    free_row(&r->rows[i]);
    r->rows[i] = *w;
    r->csv_stale = 1;
    return 0;
  }
  if (2 * (r->nrows + 1) > r->row_cap) {
    size_t cap = r->row_cap ? 2 * r->row_cap : 1024;
    size_t *at = calloc(cap, sizeof *at);
    if (at == NULL)
      return free_row(w), -1;
    free(r->row_at);
    r->row_at = at;
    r->row_cap = cap;
    for (size_t k = 0; k < r->nrows; k++) row_index(r, k);
  }
  row *rows = realloc(r->rows, (r->nrows + 1) * sizeof *rows);
  if (rows == NULL)
    return free_row(w), -1;
  (r->rows = rows)[r->nrows] = *w;
  row_index(r, r->nrows++);
  return 0;
}

/* One row read back from results.csv: its cells by column (map), its key
 * from the axis columns. */
static int read_row(run_records *r, const char *fp, size_t nf, const int *map,
                    size_t ncols) {
  row w = {0};
  run_buf key = {0};
  int rc = run_buf_add(&key, "", 0);
  for (size_t i = 0; i < nf && i < ncols && rc == 0; fp += strlen(fp) + 1, i++)
    if (*fp)
      rc = set_cell(&w, (size_t)map[i], fp, strlen(fp));
  for (size_t s = 0; s < r->in->nsrc && rc == 0; s++) {
    char tmp[32];
    int c = find_col(r, run_inputs_name(r->in, s, tmp, sizeof tmp));
    rc = (s > 0 && run_buf_add(&key, "\x1f", 1)) ||
         run_buf_str(
             &key, c >= 0 && (size_t)c < w.ncell && w.cell[c] ? w.cell[c] : "");
  }
  w.key = key.data;
  if (rc != 0)
    return free_row(&w), -1;
  return row_put(r, &w); /* a key seen twice: the later row stands */
}

/* Loads DIR/results.csv of an earlier run (resume). */
static int read_csv(run_records *r, run_err err) {
  char path[4096];
  if (csv_path(r, path, sizeof path, 0) != 0)
    return 0;
  run_buf text = {0}, fields = {0};
  int rc = run_slurp(path, &text);
  if (rc != 0) {
    run_buf_free(&text);
    return rc > 0
               ? 0
               : run_fail(err, "cannot read '%s': %s", path, strerror(errno));
  }
  text.data[text.len = csv_complete(text.data, text.len)] = '\0';
  char *p = text.data;
  size_t ncols = *p ? run_csv_record(&p, &fields) : 0;
  int *map = calloc(ncols ? ncols : 1, sizeof *map);
  rc = map ? 0 : -1;
  const char *fp = fields.data;
  for (size_t i = 0; i < ncols && rc == 0; fp += strlen(fp) + 1, i++)
    if ((map[i] = add_col(r, fp)) < 0)
      rc = -1;
  while (rc == 0 && *p) {
    size_t nf = run_csv_record(&p, &fields);
    rc = read_row(r, fields.data, nf, map, ncols);
  }
  free(map);
  run_buf_free(&text);
  run_buf_free(&fields);
  r->csv_stale = 1; /* columns may have been merged: write it whole once */
  return rc ? run_fail(err, "out of memory reading '%s'", path) : 0;
}

/* ------------------------------------------------------------ metrics */

typedef struct metric_ctx { /* where run_metrics_parse's metrics go */
  run_records *r;
  row *w;
} metric_ctx;

/* A metric becomes a cell of its own column, added when first seen; a key
 * that names a fixed column or an axis goes under "metric.KEY". A long key
 * is cut to METRIC_KEY_MAX bytes at a character boundary (keys are valid
 * UTF-8: run_metrics_parse). A metric that cannot be stored (out of
 * memory) is left out of the row. */
static void set_metric(void *arg, const char *k, size_t kn, const char *v,
                       size_t vn) {
  metric_ctx *m = arg;
  char name[sizeof "metric." + METRIC_KEY_MAX];
  if (kn > METRIC_KEY_MAX) { /* not inside a character: k[kn] begins one */
    kn = METRIC_KEY_MAX;
    while (kn > 0 && ((unsigned char)k[kn] & 0xC0) == 0x80) kn--;
  }
  snprintf(name, sizeof name, "%.*s", (int)kn, k);
  int c = find_col(m->r, name);
  if (c >= 0 && (size_t)c < m->r->first_metric) {
    snprintf(name, sizeof name, "metric.%.*s", (int)kn, k);
    c = -1;
  }
  if (c < 0 && (c = add_col(m->r, name)) < 0)
    return;
  set_cell(m->w, (size_t)c, v, vn);
}

/* ------------------------------------------------------------ output files */

/* DIR/<axis>=<value>,... made safe; see docs/parc-run.md. */
static int job_dir(const run_records *r, size_t job, run_buf *path) {
  run_buf name = {0}, exact = {0}, value = {0};
  int changed = 0, oom = 0;
  for (size_t s = 0; s < r->in->nsrc; s++) {
    char tmp[32];
    value.len = 0;
    oom |= run_inputs_value(r->in, job, s, &value) != 0;
    const char *v = value.data ? value.data : "";
    if (s > 0)
      run_buf_add(&name, ",", 1);
    run_buf_str(&name, run_inputs_name(r->in, s, tmp, sizeof tmp));
    run_buf_add(&name, "=", 1);
    for (const char *p = v; *p; p++) {
      int ok = isalnum((unsigned char)*p) || strchr("._+-", *p);
      run_buf_add(&name, ok ? p : "_", 1);
      changed |= !ok;
    }
    run_buf_add(&exact, v, strlen(v) + 1);
  }
  if (name.len > NAME_MAX_BYTES)
    name.len = NAME_MAX_BYTES, changed = 1;
  if (changed) {
    char h[24];
    uint64_t x = 1469598103934665603ull;
    for (size_t i = 0; i < exact.len; i++)
      x = (x ^ (unsigned char)exact.data[i]) * 1099511628211ull;
    snprintf(h, sizeof h, "~%016llx", (unsigned long long)x);
    run_buf_str(&name, h);
  }
  int rc = oom || run_buf_str(path, r->dir) || run_buf_add(path, "/", 1) ||
           run_buf_add(path, name.data, name.len);
  run_buf_free(&name);
  run_buf_free(&exact);
  run_buf_free(&value);
  return rc;
}

static int write_file(const char *dir, const char *leaf, const run_buf *b) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/%s", dir, leaf) >= (int)sizeof path)
    return -1;
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return -1;
  int rc = run_write_all(fd, b->data ? b->data : "", b->len);
  return close(fd) || rc;
}

static int save_output(run_records *r, size_t job, const run_result *res) {
  run_buf dir = {0};
  int rc = job_dir(r, job, &dir);
  if (rc == 0 && mkdir(dir.data, 0755) != 0 && errno != EEXIST)
    rc = -1;
  if (rc == 0)
    rc = write_file(dir.data, "stdout", &res->out) ||
         write_file(dir.data, "stderr", &res->err);
  run_buf_free(&dir);
  return rc;
}

/* Are job's output files there? (Written before its row and its line.) */
static int has_output(const run_records *r, size_t job) {
  run_buf dir = {0};
  struct stat st;
  int n = job_dir(r, job, &dir) == 0 ? (int)dir.len : -1;
  int ok = n >= 0 && run_buf_str(&dir, "/stdout") == 0 &&
           stat(dir.data, &st) == 0 && S_ISREG(st.st_mode);
  if (ok) {
    dir.len = (size_t)n;
    ok = run_buf_str(&dir, "/stderr") == 0 && stat(dir.data, &st) == 0 &&
         S_ISREG(st.st_mode);
  }
  run_buf_free(&dir);
  return ok;
}

/* ------------------------------------------------------------ records */

int run_records_skip(run_records *r, size_t job, const char *line) {
  uint64_t h;
  int done = run_joblog_done(r, job, line, &h);
  if (done <= 0 || r->dir == NULL)
    return done;
  char *key = row_key(r->in, job);
  if (key == NULL)
    return -1;
  int whole = row_find(r, key) >= 0 && has_output(r, job);
  free(key);
  if (whole)
    return 1;
  return run_joblog_redo(r, h) == 0 ? 0 : -1;
}

static int add_fixed_cols(run_records *r) {
  int rc = add_col(r, "job") < 0;
  for (size_t s = 0; s < r->in->nsrc && rc == 0; s++) {
    char tmp[32];
    rc = add_col(r, run_inputs_name(r->in, s, tmp, sizeof tmp)) < 0;
  }
  for (size_t i = 0; i < NTAIL && rc == 0; i++)
    rc = add_col(r, FIXED_TAIL[i]) < 0;
  r->first_metric = r->ncol;
  return rc ? -1 : 0;
}

/* Under the lock: a results.csv.tmp a crash may have left is removed. */
static int csv_clean_up(run_records *r, run_err err) {
  char tmp[4096];
  if (r->dir && csv_path(r, tmp, sizeof tmp, 1) == 0 && unlink(tmp) != 0 &&
      errno != ENOENT)
    return run_fail(err, "cannot remove '%s': %s", tmp, strerror(errno));
  return 0;
}

int run_records_start(run_records **out, const run_inputs *in,
                      const run_record_opts *o, int writing, run_err err) {
  run_records *r = calloc(1, sizeof *r);
  if (r == NULL)
    return run_fail(err, "out of memory");
  r->in = in;
  r->joblog_fd = r->lock_fd[0] = r->lock_fd[1] = -1;
  gethostname(r->host, sizeof r->host - 1);
  int resume = o->resume || o->resume_failed;
  const char *log = o->joblog;
  r->by_seq = o->by_seq;
  if (log && strcmp(log, "-") == 0) { /* stdout: nothing to read back */
    r->joblog_stdout = writing;
    log = NULL;
  }
  if (log && log[0] == '+')
    log++, r->joblog_append = 1;
  int rc = add_fixed_cols(r);
  if (rc == 0 && log && (r->joblog = strdup(log)) == NULL)
    rc = -1;
  if (rc == 0 && o->results_dir && (r->dir = strdup(o->results_dir)) == NULL)
    rc = -1;
  if (rc != 0)
    rc = run_fail(err, "out of memory");
  if (rc == 0 && writing)
    rc = run_joblog_lock(r, err);
  if (rc == 0 && writing)
    rc = csv_clean_up(r, err);
  if (rc == 0 && writing)
    rc = run_joblog_open(r, resume, err);
  if (rc == 0 && r->dir && resume)
    rc = read_csv(r, err);
  if (rc == 0 && r->joblog && resume)
    rc = run_joblog_read(r, o->resume_failed, err);
  if (rc != 0) {
    run_records_close(r);
    return rc;
  }
  r->csv_stale = r->dir != NULL; /* the first job writes the header */
  *out = r;
  return 0;
}

/* The row of a finished job, from its values, result and metrics. */
static int store_row(run_records *r, size_t job, const run_result *res) {
  row w = {0};
  char num[64];
  int rc = 0;
#define CELL(name, ...)                                                        \
  do {                                                                         \
    snprintf(num, sizeof num, __VA_ARGS__);                                    \
    rc = rc || set_cell(&w, (size_t)find_col(r, name), num, strlen(num));      \
  } while (0)
  CELL("job", "%zu", job + 1);
  CELL("exit", "%d", res->exit_code);
  CELL("signal", "%d", res->signal);
  CELL("start", "%.3f", res->start);
  CELL("runtime", "%.3f", res->runtime);
#undef CELL
  const char *host = res->host[0] ? res->host : r->host;
  rc = rc || set_cell(&w, (size_t)find_col(r, "host"), host, strlen(host));
  run_buf v = {0};
  for (size_t s = 0; s < r->in->nsrc && rc == 0; s++) {
    char tmp[32];
    v.len = 0;
    rc = run_inputs_value(r->in, job, s, &v) ||
         set_cell(
             &w,
             (size_t)find_col(r, run_inputs_name(r->in, s, tmp, sizeof tmp)),
             v.data, v.len);
  }
  run_buf_free(&v);
  metric_ctx mc = {r, &w};
  run_metrics_parse(&res->out, set_metric, &mc);
  run_metrics_parse(&res->notes, set_metric, &mc); /* parc's own, last */
  if (rc != 0 || (w.key = row_key(r->in, job)) == NULL) {
    free_row(&w);
    return -1;
  }
  return row_put(r, &w);
}

int run_records_score(const run_records *r, size_t job, const char *metric,
                      double *v) {
  char *key = row_key(r->in, job);
  int i = key ? row_find(r, key) : -1, c = find_col(r, metric);
  free(key);
  if (i < 0 || c < 0)
    return 0;
  const row *w = &r->rows[i];
  int e = find_col(r, "exit");
  const char *exit = (size_t)e < w->ncell ? w->cell[e] : NULL;
  const char *val = (size_t)c < w->ncell ? w->cell[c] : NULL;
  int p = find_col(r, "pruned");
  if (p >= 0 && (size_t)p < w->ncell && w->cell[p] && !strcmp(w->cell[p], "1"))
    return 2; /* stopped early: whatever it printed is no score */
  char *end;
  if (exit == NULL || strcmp(exit, "0") != 0 || val == NULL)
    return 0;
  *v = strtod(val, &end);
  return end != val && *end == '\0' && isfinite(*v);
}

/* Output files, row, then the line: the order of the file's head note. */
int run_records_add(run_records *r, size_t job, const char *line,
                    const run_result *res, run_err err) {
  if (store_row(r, job, res) != 0)
    return run_fail(err, "out of memory");
  if (r->dir && save_output(r, job, res) != 0)
    return run_fail(err, "cannot write job %zu's output in '%s': %s", job + 1,
                    r->dir, strerror(errno));
  if (r->dir && (r->csv_stale ? csv_rewrite(r)
                              : csv_append(r, &r->rows[r->nrows - 1])) != 0)
    return run_fail(err, "cannot write '%s/results.csv': %s", r->dir,
                    strerror(errno));
  if (run_joblog_add(r, job, line, res) != 0)
    return run_fail(err, "out of memory");
  return 0;
}

int run_records_prepare(run_opts *o, run_inputs *in, run_template **tmpl,
                        run_err err) {
  if (o->pipe)
    o->resume_by = RESUME_BY_SEQ;
  return o->retry_failed ? run_joblog_retry(o, in, tmpl, err) : 0;
}

int run_records_commit(run_records *r, size_t job, run_err err) {
  if (r == NULL || run_joblog_commit(r, job) == 0)
    return 0;
  return run_fail(err, "cannot write the job log: %s", strerror(errno));
}

void run_records_close(run_records *r) {
  if (r == NULL)
    return;
  run_joblog_close(r);
  for (size_t i = 0; i < r->nrows; i++) free_row(&r->rows[i]);
  for (size_t i = 0; i < r->ncol; i++) free(r->col[i]);
  free(r->rows);
  free(r->row_at);
  free(r->col);
  free(r->dir);
  free(r);
}
