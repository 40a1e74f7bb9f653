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
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run.h"

#define NAME_MAX_BYTES 200

typedef struct row {
  char *key;    /* the job's values joined by \x1f */
  char **cell;  /* by column; NULL: empty */
  size_t ncell;
} row;

struct run_records {
  const run_inputs *in;
  int joblog_fd;         /* -1: no job log */
  int joblog_new;        /* the header is still to be written */
  uint64_t *done;        /* resume: open-addressing set of command hashes */
  size_t done_cap, done_n;
  char *dir;             /* --results DIR, or NULL */
  char **col;            /* column names */
  size_t ncol;
  size_t first_metric;   /* columns before this are fixed */
  row *rows;
  size_t nrows;
  int csv_stale;         /* the file must be rewritten whole */
  char host[256];
};

static const char *const FIXED_TAIL[] = {"exit", "signal", "start", "runtime",
                                         "host"};
#define NTAIL (sizeof FIXED_TAIL / sizeof FIXED_TAIL[0])

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

static int find_col(const run_records *r, const char *name) {
  for (size_t i = 0; i < r->ncol; i++)
    if (strcmp(r->col[i], name) == 0) return (int)i;
  return -1;
}

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

static int valid_key(const char *s, size_t n) {
  if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return 0;
  for (size_t i = 1; i < n; i++)
    if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.'))
      return 0;
  return 1;
}

static int set_metric(run_records *r, row *w, const char *k, size_t kn,
                      const char *v, size_t vn) {
  char name[160];
  snprintf(name, sizeof name, "%.*s", (int)(kn < 120 ? kn : 120), k);
  int c = find_col(r, name);
  if (c >= 0 && (size_t)c < r->first_metric) {
    snprintf(name, sizeof name, "metric.%.*s", (int)(kn < 120 ? kn : 120), k);
    c = -1;
  }
  if (c < 0 && (c = add_col(r, name)) < 0) return -1;
  return set_cell(w, (size_t)c, v, vn);
}

/* A JSON string at *p: decoded into b; *p moves past it. 0 or -1. */
static int json_string(const char **p, run_buf *b) {
  const char *s = *p + 1;
  b->len = 0;
  for (; *s && *s != '"'; s++) {
    if (*s != '\\') { run_buf_add(b, s, 1); continue; }
    s++;
    const char *esc = strchr("\"\\/bfnrt", *s);
    if (esc && *s) {
      run_buf_add(b, &"\"\\/\b\f\n\r\t"[esc - "\"\\/bfnrt"], 1);
    } else if (*s == 'u' && isxdigit((unsigned char)s[1])) {
      unsigned cp = (unsigned)strtoul((char[]){s[1], s[2], s[3], s[4], 0}, NULL, 16);
      char u[3] = {(char)(0xE0 | (cp >> 12)), (char)(0x80 | ((cp >> 6) & 0x3F)),
                   (char)(0x80 | (cp & 0x3F))};
      if (cp < 0x80) run_buf_add(b, (char[]){(char)cp}, 1);
      else if (cp < 0x800)
        run_buf_add(b, (char[]){(char)(0xC0 | (cp >> 6)), (char)(0x80 | (cp & 0x3F))}, 2);
      else run_buf_add(b, u, 3);
      s += 4;
    } else {
      return -1;
    }
  }
  if (*s != '"') return -1;
  *p = s + 1;
  run_buf_add(b, "", 0);
  return 0;
}

/* Skips one JSON value (any kind) at *p; 0 or -1. */
static int json_skip(const char **p) {
  run_buf tmp = {0};
  int depth = 0, rc = 0;
  do {
    while (isspace((unsigned char)**p)) (*p)++;
    if (**p == '"') rc = json_string(p, &tmp);
    else if (**p == '{' || **p == '[') depth++, (*p)++;
    else if (**p == '}' || **p == ']') depth--, (*p)++;
    else if (**p == ',' || **p == ':') (*p)++;
    else if (**p == '\0') rc = -1;
    else while (**p && !strchr(",}] \t", **p)) (*p)++;
  } while (rc == 0 && depth > 0);
  run_buf_free(&tmp);
  return rc;
}

/* The keys of a flat JSON object on one line; nested values skipped. */
static void json_metrics(run_records *r, row *w, const char *s) {
  run_buf key = {0}, val = {0};
  while (isspace((unsigned char)*s)) s++;
  if (*s++ != '{') return;
  for (;;) {
    while (isspace((unsigned char)*s)) s++;
    if (*s != '"' || json_string(&s, &key) != 0) break;
    while (isspace((unsigned char)*s)) s++;
    if (*s++ != ':') break;
    while (isspace((unsigned char)*s)) s++;
    const char *v = s;
    if (*s == '"') {
      if (json_string(&s, &val) != 0) break;
      set_metric(r, w, key.data, key.len, val.data, val.len);
    } else if (*s == '{' || *s == '[') {
      if (json_skip(&s) != 0) break;
    } else {
      while (*s && !strchr(",} \t\r", *s)) s++;
      if (s > v && !(s - v == 4 && memcmp(v, "null", 4) == 0))
        set_metric(r, w, key.data, key.len, v, (size_t)(s - v));
    }
    while (isspace((unsigned char)*s)) s++;
    if (*s++ != ',') break;
  }
  run_buf_free(&key);
  run_buf_free(&val);
}

static void parse_metrics(run_records *r, row *w, const run_buf *out) {
  const char *s = out->data ? out->data : "", *last = NULL;
  while (*s) {
    const char *nl = strchr(s, '\n'), *end = nl ? nl : s + strlen(s);
    const char *eq = memchr(s, '=', (size_t)(end - s));
    size_t vn = eq ? (size_t)(end - eq - 1) : 0;
    while (eq && vn > 0 && (eq[vn] == '\r' || eq[vn] == ' ')) vn--;
    if (eq && valid_key(s, (size_t)(eq - s)))
      set_metric(r, w, s, (size_t)(eq - s), eq + 1, vn);
    const char *t = s;
    while (t < end && isspace((unsigned char)*t)) t++;
    if (t < end) last = t;
    s = nl ? nl + 1 : end;
  }
  if (last && *last == '{') json_metrics(r, w, last);
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
  parse_metrics(r, &w, &res->out);
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

/* ------------------------------------------------------------ --best */

int run_records_check_axes(const run_inputs *in, char **average_over,
                           size_t navg, run_err err) {
  for (size_t a = 0; a < navg; a++) {
    size_t s = 0;
    char tmp[32];
    while (s < in->nsrc &&
           strcmp(run_inputs_name(in, s, tmp, sizeof tmp), average_over[a]))
      s++;
    if (s == in->nsrc)
      return run_fail(err, "--average-over '%s' is not an axis (have: %s%s)",
                      average_over[a],
                      in->nsrc ? run_inputs_name(in, 0, tmp, sizeof tmp) : "",
                      in->nsrc > 1 ? ", ..." : "");
  }
  return 0;
}

typedef struct setting {
  const row *first; /* a row of the setting: its axis values */
  double sum, sumsq;
  size_t n;
  double mean, std;
} setting;

static int by_mean_desc(const void *a, const void *b) {
  const setting *x = a, *y = b;
  return (x->mean < y->mean) - (x->mean > y->mean);
}

static int by_mean_asc(const void *a, const void *b) {
  return by_mean_desc(b, a);
}

/* Is column c an axis that is not averaged over? */
static int is_setting_col(const run_records *r, size_t c, char **avg,
                          size_t navg) {
  if (c == 0 || c >= r->first_metric - NTAIL) return 0;
  for (size_t a = 0; a < navg; a++)
    if (strcmp(r->col[c], avg[a]) == 0) return 0;
  return 1;
}

static const char *cell(const row *w, size_t c) {
  return c < w->ncell && w->cell[c] ? w->cell[c] : "";
}

static int same_setting(const run_records *r, const row *a, const row *b,
                        char **avg, size_t navg) {
  for (size_t c = 1; c < r->ncol; c++)
    if (is_setting_col(r, c, avg, navg) && strcmp(cell(a, c), cell(b, c)))
      return 0;
  return 1;
}

static void print_setting(const run_records *r, FILE *f, const row *w,
                          char **avg, size_t navg, const char *sep) {
  int first = 1;
  for (size_t c = 1; c < r->ncol; c++)
    if (is_setting_col(r, c, avg, navg)) {
      fprintf(f, "%s%s=%s", first ? "" : sep, r->col[c], cell(w, c));
      first = 0;
    }
}

int run_records_best(const run_records *r, FILE *f, const char *metric,
                     int minimize, char **avg, size_t navg, run_err err) {
  int mc = find_col(r, metric);
  setting *st = calloc(r->nrows ? r->nrows : 1, sizeof *st);
  size_t ns = 0;
  if (st == NULL) return run_fail(err, "out of memory");
  for (size_t i = 0; mc >= 0 && i < r->nrows; i++) {
    const row *w = &r->rows[i];
    char *end;
    double v = strtod(cell(w, (size_t)mc), &end);
    if (strcmp(cell(w, (size_t)find_col(r, "exit")), "0") != 0 ||
        end == cell(w, (size_t)mc) || *end != '\0' || !isfinite(v))
      continue;
    size_t k = 0;
    while (k < ns && !same_setting(r, st[k].first, w, avg, navg)) k++;
    if (k == ns) st[ns++].first = w;
    st[k].sum += v;
    st[k].sumsq += v * v;
    st[k].n++;
  }
  if (ns == 0) {
    free(st);
    return run_fail(err, "--best: no successful job printed metric '%s'",
                    metric);
  }
  for (size_t k = 0; k < ns; k++) {
    st[k].mean = st[k].sum / (double)st[k].n;
    double var = st[k].sumsq / (double)st[k].n - st[k].mean * st[k].mean;
    st[k].std = var > 0 ? sqrt(var) : 0;
  }
  qsort(st, ns, sizeof *st, minimize ? by_mean_asc : by_mean_desc);
  fprintf(f, "\n%s per setting (%s first", metric,
          minimize ? "lowest" : "highest");
  for (size_t a = 0; a < navg; a++)
    fprintf(f, "%s%s", a ? ", " : "; mean \xc2\xb1 std over ", avg[a]);
  fprintf(f, "):\n");
  for (size_t k = 0; k < ns; k++) {
    fprintf(f, "  %-10.6g \xc2\xb1 %-10.6g n=%-4zu ", st[k].mean, st[k].std,
            st[k].n);
    print_setting(r, f, st[k].first, avg, navg, "  ");
    fputc('\n', f);
  }
  fprintf(f, "best: ");
  print_setting(r, f, st[0].first, avg, navg, " ");
  fprintf(f, "  %s = %.6g \xc2\xb1 %.6g\n", metric, st[0].mean, st[0].std);
  free(st);
  return 0;
}
