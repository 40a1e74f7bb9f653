/* run_record.c -- what `parc run` writes down, and reads back to resume.
 *
 * The job log is GNU parallel's: one TAB-separated line per finished job,
 * appended with a single write(2), so a crash leaves at most a partial last
 * line, which the reader skips. Resume keys on a 64-bit FNV-1a hash of the
 * Command field, not on the job number, so a grown grid resumes.
 *
 * The results table lives in memory (one row per job, keyed by the job's
 * values) and in DIR/results.csv. A finished job appends its row; a new
 * column (a metric seen for the first time) or a replaced row rewrites the
 * whole file into a temporary name and renames it over the old one, so a
 * reader, or a crash, only ever sees a complete table.
 *
 * The metrics in a job's output are found by run_metrics.c; this file
 * decides their columns. The --best summary of the table is run_best.c
 * (the table's layout is in run_record.h).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run_record.h"

#define NAME_MAX_BYTES 200

static const char *const FIXED_TAIL[] = {"exit", "signal", "start", "runtime",
                                         "host"};
_Static_assert(sizeof FIXED_TAIL / sizeof FIXED_TAIL[0] == NTAIL,
               "NTAIL counts the fixed columns");

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h ? h : 1; /* 0 marks an empty slot */
}

/* ------------------------------------------------------------ job log */

static int done_add(run_records *r, uint64_t h) {
  if (2 * (r->done_n + 1) > r->done_cap) {
    size_t cap = r->done_cap ? 2 * r->done_cap : 1024;
    uint64_t *t = calloc(cap, sizeof *t);
    if (t == NULL) return -1;
    for (size_t i = 0; i < r->done_cap; i++)
      for (size_t k = r->done[i] % cap; r->done[i]; k = (k + 1) % cap)
        if (t[k] == 0) {
          t[k] = r->done[i];
          break;
        }
    free(r->done);
    r->done = t;
    r->done_cap = cap;
  }
  for (size_t k = h % r->done_cap;; k = (k + 1) % r->done_cap) {
    if (r->done[k] == h) return 0;
    if (r->done[k] == 0) {
      r->done[k] = h;
      r->done_n++;
      return 0;
    }
  }
}

/* The Command field: a line of its own, so newlines and TABs are escaped. */
static int escape_command(run_buf *b, const char *line) {
  int rc = 0;
  for (const char *p = line; *p && rc == 0; p++)
    rc = *p == '\n'   ? run_buf_str(b, "\\n")
         : *p == '\t' ? run_buf_str(b, "\\t")
                      : run_buf_add(b, p, 1);
  return rc || run_buf_add(b, "", 0);
}

int run_records_done(const run_records *r, const char *line) {
  if (r->done_cap == 0) return 0;
  run_buf esc = {0};
  uint64_t h = escape_command(&esc, line) == 0 ? fnv1a(esc.data) : 0;
  run_buf_free(&esc);
  for (size_t k = h % r->done_cap; r->done[k]; k = (k + 1) % r->done_cap)
    if (r->done[k] == h) return 1;
  return 0;
}

/* Reads an existing job log: which commands are done. */
static int read_joblog(run_records *r, const char *path, int failed_too,
                       run_err err) {
  FILE *f = fopen(path, "r");
  if (f == NULL) return errno == ENOENT ? 0 : run_fail(err,
      "cannot read job log '%s': %s", path, strerror(errno));
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  int rc = 0;
  while (rc == 0 && (len = getline(&line, &cap, f)) > 0) {
    if (line[len - 1] != '\n') break; /* a partial last line: not done */
    line[len - 1] = '\0';
    char *field[9], *p = line;
    int n = 0;
    for (; n < 8 && p; n++) {
      field[n] = p;
      p = strchr(p, '\t');
      if (p) *p++ = '\0';
    }
    if (n < 8 || p == NULL || !isdigit((unsigned char)field[0][0])) continue;
    field[8] = p;
    int ok = atoi(field[6]) == 0 && atoi(field[7]) == 0;
    if ((ok || !failed_too) && done_add(r, fnv1a(field[8])) != 0)
      rc = run_fail(err, "out of memory");
  }
  free(line);
  fclose(f);
  return rc;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

static int log_job(run_records *r, size_t job, const char *line,
                   const run_result *res) {
  run_buf b = {0};
  char head[160 + RUN_HOST_MAX];
  if (r->joblog_new) {
    run_buf_str(&b, "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\t"
                    "Exitval\tSignal\tCommand\n");
    r->joblog_new = 0;
  }
  /* Host: ':' (here), as GNU parallel; "hostname:rank" under mpirun. */
  snprintf(head, sizeof head, "%zu\t%s\t%.3f\t%10.3f\t0\t0\t%d\t%d\t",
           job + 1, res->host[0] ? res->host : ":", res->start, res->runtime,
           res->exit_code, res->signal);
  int rc = run_buf_str(&b, head) || escape_command(&b, line) ||
           run_buf_add(&b, "\n", 1) || write_all(r->joblog_fd, b.data, b.len);
  run_buf_free(&b);
  return rc;
}

/* ------------------------------------------------------------ results.csv */

static int add_col(run_records *r, const char *name) {
  int i = find_col(r, name);
  if (i >= 0) return i;
  char **c = realloc(r->col, (r->ncol + 1) * sizeof *c);
  if (c == NULL) return -1;
  r->col = c;
  if ((c[r->ncol] = strdup(name)) == NULL) return -1;
  r->csv_stale = 1;
  return (int)r->ncol++;
}

static int set_cell(row *w, size_t col, const char *val, size_t n) {
  if (col >= w->ncell) {
    char **c = realloc(w->cell, (col + 1) * sizeof *c);
    if (c == NULL) return -1;
    memset(c + w->ncell, 0, (col + 1 - w->ncell) * sizeof *c);
    w->cell = c;
    w->ncell = col + 1;
  }
  free(w->cell[col]);
  return (w->cell[col] = strndup(val, n)) ? 0 : -1;
}

static void free_row(row *w) {
  for (size_t i = 0; i < w->ncell; i++) free(w->cell[i]);
  free(w->cell);
  free(w->key);
}

static int csv_field(run_buf *b, const char *s) {
  if (s == NULL) return 0;
  if (strpbrk(s, ",\"\n\r") == NULL) return run_buf_str(b, s);
  int rc = run_buf_add(b, "\"", 1);
  for (; *s && rc == 0; s++)
    rc = *s == '"' ? run_buf_add(b, "\"\"", 2) : run_buf_add(b, s, 1);
  return rc || run_buf_add(b, "\"", 1);
}

static int csv_row(const run_records *r, run_buf *b, const row *w) {
  int rc = 0;
  for (size_t i = 0; i < r->ncol && rc == 0; i++) {
    if (i > 0) rc = run_buf_add(b, ",", 1);
    if (rc == 0) rc = csv_field(b, i < w->ncell ? w->cell[i] : NULL);
  }
  return rc || run_buf_add(b, "\n", 1);
}

static int csv_path(const run_records *r, char *path, size_t n, int tmp) {
  return snprintf(path, n, "%s/results.csv%s", r->dir, tmp ? ".tmp" : "") <
                 (int)n ? 0 : -1;
}

static int csv_rewrite(run_records *r) {
  char path[4096], tmp[4096];
  run_buf b = {0};
  int rc = csv_path(r, path, sizeof path, 0) || csv_path(r, tmp, sizeof tmp, 1);
  for (size_t i = 0; i < r->ncol && rc == 0; i++)
    rc = (i > 0 && run_buf_add(&b, ",", 1)) || csv_field(&b, r->col[i]);
  if (rc == 0) rc = run_buf_add(&b, "\n", 1);
  for (size_t i = 0; i < r->nrows && rc == 0; i++)
    rc = csv_row(r, &b, &r->rows[i]);
  int fd = rc ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || write_all(fd, b.data, b.len) != 0) rc = -1;
  if (fd >= 0 && close(fd) != 0) rc = -1;
  if (rc == 0) rc = rename(tmp, path);
  else if (fd >= 0) unlink(tmp);
  run_buf_free(&b);
  if (rc == 0) r->csv_stale = 0;
  return rc;
}

static int csv_append(run_records *r, const row *w) {
  char path[4096];
  run_buf b = {0};
  int rc = csv_path(r, path, sizeof path, 0) || csv_row(r, &b, w);
  int fd = rc ? -1 : open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0 || write_all(fd, b.data, b.len) != 0) rc = -1;
  if (fd >= 0) close(fd);
  run_buf_free(&b);
  return rc;
}

size_t run_csv_record(char **p, run_buf *fields) {
  size_t n = 0;
  char *s = *p;
  fields->len = 0;
  for (;;) {
    int quoted = *s == '"';
    if (quoted) s++;
    for (; *s; s++) {
      if (quoted && *s == '"' && s[1] == '"') s++;
      else if (quoted && *s == '"') { quoted = 0; continue; }
      else if (!quoted && (*s == ',' || *s == '\n')) break;
      run_buf_add(fields, s, 1);
    }
    run_buf_add(fields, "", 1);
    n++;
    if (*s != ',') break;
    s++;
  }
  if (*s == '\n') s++;
  *p = s;
  return n;
}

static char *row_key(const run_inputs *in, size_t job) {
  run_buf k = {0};
  for (size_t s = 0; s < in->nsrc; s++) {
    if (s > 0) run_buf_add(&k, "\x1f", 1);
    run_buf_str(&k, in->src[s].values[run_inputs_pick(in, job, s)]);
  }
  if (k.data == NULL) run_buf_add(&k, "", 0);
  return k.data;
}

/* Loads DIR/results.csv of an earlier run (resume). */
static int read_csv(run_records *r, run_err err) {
  char path[4096];
  if (csv_path(r, path, sizeof path, 0) != 0) return 0;
  FILE *f = fopen(path, "r");
  if (f == NULL) return 0;
  run_buf text = {0}, fields = {0};
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) run_buf_add(&text, chunk, n);
  fclose(f);
  char *p = text.data;
  size_t ncols = p && *p ? run_csv_record(&p, &fields) : 0;
  int *map = calloc(ncols ? ncols : 1, sizeof *map);
  int rc = map ? 0 : -1;
  const char *fp = fields.data;
  for (size_t i = 0; i < ncols && rc == 0; fp += strlen(fp) + 1, i++)
    if ((map[i] = add_col(r, fp)) < 0) rc = -1;
  while (rc == 0 && p && *p) {
    size_t nf = run_csv_record(&p, &fields);
    row w = {0};
    run_buf key = {0};
    fp = fields.data;
    for (size_t i = 0; i < nf && i < ncols && rc == 0; fp += strlen(fp) + 1, i++)
      if (*fp) rc = set_cell(&w, (size_t)map[i], fp, strlen(fp));
    for (size_t s = 0; s < r->in->nsrc && rc == 0; s++) {
      char tmp[32];
      int c = find_col(r, run_inputs_name(r->in, s, tmp, sizeof tmp));
      if (s > 0) run_buf_add(&key, "\x1f", 1);
      run_buf_str(&key, c >= 0 && (size_t)c < w.ncell && w.cell[c] ? w.cell[c] : "");
    }
    w.key = key.data ? key.data : strdup("");
    row *rows = realloc(r->rows, (r->nrows + 1) * sizeof *rows);
    if (rows == NULL) rc = -1, free_row(&w);
    else (r->rows = rows)[r->nrows++] = w;
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
 * that names a fixed column or an axis goes under "metric.KEY". A metric
 * that cannot be stored (out of memory) is left out of the row. */
static void set_metric(void *arg, const char *k, size_t kn, const char *v,
                       size_t vn) {
  metric_ctx *m = arg;
  char name[160];
  snprintf(name, sizeof name, "%.*s", (int)(kn < 120 ? kn : 120), k);
  int c = find_col(m->r, name);
  if (c >= 0 && (size_t)c < m->r->first_metric) {
    snprintf(name, sizeof name, "metric.%.*s", (int)(kn < 120 ? kn : 120), k);
    c = -1;
  }
  if (c < 0 && (c = add_col(m->r, name)) < 0) return;
  set_cell(m->w, (size_t)c, v, vn);
}

/* ------------------------------------------------------------ output files */

/* DIR/<axis>=<value>,... made safe; see docs/parc-run.md. */
static int job_dir(const run_records *r, size_t job, run_buf *path) {
  run_buf name = {0}, exact = {0};
  int changed = 0;
  for (size_t s = 0; s < r->in->nsrc; s++) {
    char tmp[32];
    const char *v = r->in->src[s].values[run_inputs_pick(r->in, job, s)];
    if (s > 0) run_buf_add(&name, ",", 1);
    run_buf_str(&name, run_inputs_name(r->in, s, tmp, sizeof tmp));
    run_buf_add(&name, "=", 1);
    for (const char *p = v; *p; p++) {
      int ok = isalnum((unsigned char)*p) || strchr("._+-", *p);
      run_buf_add(&name, ok ? p : "_", 1);
      changed |= !ok;
    }
    run_buf_add(&exact, v, strlen(v) + 1);
  }
  if (name.len > NAME_MAX_BYTES) name.len = NAME_MAX_BYTES, changed = 1;
  if (changed) {
    char h[24];
    uint64_t x = 1469598103934665603ull;
    for (size_t i = 0; i < exact.len; i++)
      x = (x ^ (unsigned char)exact.data[i]) * 1099511628211ull;
    snprintf(h, sizeof h, "~%016llx", (unsigned long long)x);
    run_buf_str(&name, h);
  }
  int rc = run_buf_str(path, r->dir) || run_buf_add(path, "/", 1) ||
           run_buf_add(path, name.data, name.len);
  run_buf_free(&name);
  run_buf_free(&exact);
  return rc;
}

static int write_file(const char *dir, const char *leaf, const run_buf *b) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/%s", dir, leaf) >= (int)sizeof path)
    return -1;
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  int rc = write_all(fd, b->data ? b->data : "", b->len);
  return close(fd) || rc;
}

static int save_output(run_records *r, size_t job, const run_result *res) {
  run_buf dir = {0};
  int rc = job_dir(r, job, &dir);
  if (rc == 0 && mkdir(dir.data, 0755) != 0 && errno != EEXIST) rc = -1;
  if (rc == 0) rc = write_file(dir.data, "stdout", &res->out) ||
                    write_file(dir.data, "stderr", &res->err);
  run_buf_free(&dir);
  return rc;
}

/* ------------------------------------------------------------ records */

int run_records_open(run_records **out, const run_inputs *in,
                     const run_record_opts *o, run_err err) {
  run_records *r = calloc(1, sizeof *r);
  if (r == NULL) return run_fail(err, "out of memory");
  r->in = in;
  r->joblog_fd = -1;
  gethostname(r->host, sizeof r->host - 1);
  int rc = add_col(r, "job") < 0;
  for (size_t s = 0; s < in->nsrc && rc == 0; s++) {
    char tmp[32];
    rc = add_col(r, run_inputs_name(in, s, tmp, sizeof tmp)) < 0;
  }
  for (size_t i = 0; i < NTAIL && rc == 0; i++)
    rc = add_col(r, FIXED_TAIL[i]) < 0;
  r->first_metric = r->ncol;
  if (rc != 0) rc = run_fail(err, "out of memory");
  if (rc == 0 && o->results_dir) {
    r->dir = strdup(o->results_dir);
    if (r->dir == NULL) rc = run_fail(err, "out of memory");
    else if (mkdir(r->dir, 0755) != 0 && errno != EEXIST)
      rc = run_fail(err, "cannot create results directory '%s': %s", r->dir,
                    strerror(errno));
    else if (o->resume || o->resume_failed)
      rc = read_csv(r, err);
  }
  if (rc == 0 && o->joblog && (o->resume || o->resume_failed))
    rc = read_joblog(r, o->joblog, o->resume_failed, err);
  if (rc == 0 && o->joblog) {
    r->joblog_fd = open(o->joblog, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
                        0644);
    struct stat st;
    if (r->joblog_fd < 0 || fstat(r->joblog_fd, &st) != 0)
      rc = run_fail(err, "cannot open job log '%s': %s", o->joblog,
                    strerror(errno));
    else
      r->joblog_new = st.st_size == 0;
  }
  if (rc != 0) {
    run_records_close(r);
    return -1;
  }
  r->csv_stale = r->dir != NULL; /* the first job writes the header */
  *out = r;
  return 0;
}

static int store_row(run_records *r, size_t job, const run_result *res) {
  row w = {0};
  char num[64];
  int rc = 0;
#define CELL(name, ...) do { snprintf(num, sizeof num, __VA_ARGS__); \
    rc = rc || set_cell(&w, (size_t)find_col(r, name), num, strlen(num)); } while (0)
  CELL("job", "%zu", job + 1);
  CELL("exit", "%d", res->exit_code);
  CELL("signal", "%d", res->signal);
  CELL("start", "%.3f", res->start);
  CELL("runtime", "%.3f", res->runtime);
#undef CELL
  const char *host = res->host[0] ? res->host : r->host;
  rc = rc || set_cell(&w, (size_t)find_col(r, "host"), host, strlen(host));
  for (size_t s = 0; s < r->in->nsrc && rc == 0; s++) {
    char tmp[32];
    const char *v = r->in->src[s].values[run_inputs_pick(r->in, job, s)];
    rc = set_cell(&w, (size_t)find_col(r, run_inputs_name(r->in, s, tmp,
                                                           sizeof tmp)),
                  v, strlen(v));
  }
  metric_ctx mc = {r, &w};
  run_metrics_parse(&res->out, set_metric, &mc);
  if (rc != 0 || (w.key = row_key(r->in, job)) == NULL) {
    free_row(&w);
    return -1;
  }
  for (size_t i = 0; i < r->nrows; i++)
    if (strcmp(r->rows[i].key, w.key) == 0) { /* a re-run replaces its row */
      free_row(&r->rows[i]);
      r->rows[i] = w;
      r->csv_stale = 1;
      return 0;
    }
  row *rows = realloc(r->rows, (r->nrows + 1) * sizeof *rows);
  if (rows == NULL) {
    free_row(&w);
    return -1;
  }
  (r->rows = rows)[r->nrows++] = w;
  return 0;
}

int run_records_add(run_records *r, size_t job, const char *line,
                    const run_result *res, run_err err) {
  if (r->joblog_fd >= 0 && log_job(r, job, line, res) != 0)
    return run_fail(err, "cannot write the job log: %s", strerror(errno));
  if (store_row(r, job, res) != 0) return run_fail(err, "out of memory");
  if (r->dir == NULL) return 0;
  if (save_output(r, job, res) != 0)
    return run_fail(err, "cannot write job %zu's output in '%s': %s", job + 1,
                    r->dir, strerror(errno));
  int rc = r->csv_stale ? csv_rewrite(r) : csv_append(r, &r->rows[r->nrows - 1]);
  return rc ? run_fail(err, "cannot write '%s/results.csv': %s", r->dir,
                       strerror(errno)) : 0;
}

void run_records_close(run_records *r) {
  if (r == NULL) return;
  if (r->joblog_fd >= 0) close(r->joblog_fd);
  for (size_t i = 0; i < r->nrows; i++) free_row(&r->rows[i]);
  for (size_t i = 0; i < r->ncol; i++) free(r->col[i]);
  free(r->rows);
  free(r->col);
  free(r->done);
  free(r->dir);
  free(r);
}

