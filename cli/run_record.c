/* run_record.c -- what `parc run` writes down, and reads back to resume.
 *
 * A finished job is written down in a fixed order: its output files
 * (DIR/<values>/stdout and stderr), then its row of DIR/results.csv, then,
 * LAST, its job log line: the line is the commit record. A SIGKILL at any
 * instant leaves each job either logged with all of it in place, or not
 * logged: --resume runs it again, overwriting its files and replacing its
 * row. A logged job whose row or output files are missing anyway (a log
 * from an older parc, a power loss, a file removed by hand, --results
 * added on resume) is not done either: it runs again, and its old line is
 * dropped from the log, which is rewritten whole (FILE.tmp renamed over
 * FILE) before the first job is logged. So every job ends with one line,
 * one row and its files.
 *
 * The job log is GNU parallel's: one TAB-separated line per finished job,
 * appended with a single write(2). A partial last line (a crash in that
 * write) is cut off when the log is opened. Resume keys on a 64-bit FNV-1a
 * hash of the Command field, not on the job number, so a grown grid
 * resumes.
 *
 * The results table lives in memory (one row per job, keyed by the job's
 * values) and in DIR/results.csv. A finished job appends its row; a new
 * column (a metric seen for the first time), a replaced row or a failed
 * write rewrites the whole file into results.csv.tmp, renamed over the old
 * one. A leftover results.csv.tmp is removed at start and a partial last
 * row (a crash in an append) is dropped when the file is read back. Every
 * column name and cell is made valid UTF-8 (run_buf_add_utf8), so the file
 * always is. No fsync: what holds on a power loss is in docs/parc-run.md.
 *
 * The lock: a run that writes holds flock(2) on its job log and on its
 * results directory (no lock file). The descriptors are close-on-exec in
 * parc and handed to every job (run_job_inherit), so the files stay locked
 * while any job of a killed run still lives, and a second run refuses to
 * start meanwhile. Files are only ever changed under the lock.
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
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "run_record.h"

#define NAME_MAX_BYTES 200
#define LOCK_WAIT 1.0   /* seconds a busy lock is waited for: a killed job's */
#define LOCK_POLL 0.05  /* group may take a moment to die */

static const char *const FIXED_TAIL[] = {"exit", "signal", "start", "runtime",
                                         "host"};
_Static_assert(sizeof FIXED_TAIL / sizeof FIXED_TAIL[0] == NTAIL,
               "NTAIL counts the fixed columns");

static uint64_t fnv1a(const void *p, size_t n) {
  const unsigned char *s = p;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
  return h ? h : 1; /* 0 marks an empty slot */
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

/* The whole file at path into b. 0, 1 when it does not exist, or -1. */
static int slurp(const char *path, run_buf *b) {
  FILE *f = fopen(path, "re");
  if (f == NULL) return errno == ENOENT ? 1 : -1;
  char chunk[65536];
  size_t n;
  int rc = run_buf_add(b, "", 0);
  while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
    rc = run_buf_add(b, chunk, n);
  if (ferror(f)) rc = -1;
  fclose(f);
  return rc;
}

/* p[0..n) as valid UTF-8, a malloc'd C string. */
static char *utf8_dup(const char *p, size_t n) {
  run_buf b = {0};
  if (run_buf_add_utf8(&b, p, n) == 0) return b.data;
  run_buf_free(&b);
  return NULL;
}

/* ------------------------------------------------------------ hash sets */

static int hset_add(hset *s, uint64_t h) {
  if (2 * (s->n + 1) > s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 1024;
    uint64_t *t = calloc(cap, sizeof *t);
    if (t == NULL) return -1;
    for (size_t i = 0; i < s->cap; i++)
      for (size_t k = s->v[i] % cap; s->v[i]; k = (k + 1) % cap)
        if (t[k] == 0) {
          t[k] = s->v[i];
          break;
        }
    free(s->v);
    s->v = t;
    s->cap = cap;
  }
  for (size_t k = h % s->cap;; k = (k + 1) % s->cap) {
    if (s->v[k] == h) return 0;
    if (s->v[k] == 0) {
      s->v[k] = h;
      s->n++;
      return 0;
    }
  }
}

static int hset_has(const hset *s, uint64_t h) {
  if (s->cap == 0) return 0;
  for (size_t k = h % s->cap; s->v[k]; k = (k + 1) % s->cap)
    if (s->v[k] == h) return 1;
  return 0;
}

/* ------------------------------------------------------------ job log */

/* The Command field: a line of its own, so newlines and TABs are escaped. */
static int escape_command(run_buf *b, const char *line) {
  int rc = 0;
  for (const char *p = line; *p && rc == 0; p++)
    rc = *p == '\n'   ? run_buf_str(b, "\\n")
         : *p == '\t' ? run_buf_str(b, "\\t")
                      : run_buf_add(b, p, 1);
  return rc || run_buf_add(b, "", 0);
}

/* The resume key of a command line; 0 when out of memory. */
static uint64_t command_hash(const char *line) {
  run_buf esc = {0};
  uint64_t h = escape_command(&esc, line) == 0 ? fnv1a(esc.data, esc.len) : 0;
  run_buf_free(&esc);
  return h;
}

int run_records_done(const run_records *r, const char *line) {
  return hset_has(&r->done, command_hash(line));
}

/* A job line of the log, s[0..n) without its newline: the hash of its
 * Command and whether it succeeded. 0, or -1 for the header and anything
 * that is not a job's line. */
static int joblog_line(const char *s, size_t n, uint64_t *h, int *ok) {
  const char *f[8];
  size_t k = 0;
  for (size_t i = 0; i < n && k < 8; i++)
    if (i == 0 || s[i - 1] == '\t') f[k++] = s + i;
  if (k < 8 || !isdigit((unsigned char)f[0][0])) return -1;
  const char *cmd = memchr(f[7], '\t', n - (size_t)(f[7] - s));
  if (cmd == NULL) return -1;
  cmd++;
  *h = fnv1a(cmd, n - (size_t)(cmd - s));
  *ok = atoi(f[6]) == 0 && atoi(f[7]) == 0;
  return 0;
}

/* Reads an existing job log: which commands are done. */
static int read_joblog(run_records *r, int ok_only, run_err err) {
  run_buf b = {0};
  int rc = slurp(r->joblog, &b);
  if (rc < 0) {
    run_buf_free(&b);
    return run_fail(err, "cannot read job log '%s': %s", r->joblog,
                    strerror(errno));
  }
  rc = 0;
  for (size_t at = 0; rc == 0 && at < b.len;) {
    const char *nl = memchr(b.data + at, '\n', b.len - at);
    if (nl == NULL) break; /* a partial last line: not done */
    uint64_t h;
    int ok;
    size_t n = (size_t)(nl - b.data) - at;
    if (joblog_line(b.data + at, n, &h, &ok) == 0 && (ok || !ok_only) &&
        hset_add(&r->done, h) != 0)
      rc = run_fail(err, "out of memory");
    at += n + 1;
  }
  run_buf_free(&b);
  return rc;
}

static int log_job(run_records *r, size_t job, const char *line,
                   const run_result *res) {
  run_buf b = {0};
  char head[160 + RUN_HOST_MAX];
  if (r->joblog_new)
    run_buf_str(&b, "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\t"
                    "Exitval\tSignal\tCommand\n");
  /* Host: ':' (here), as GNU parallel; "hostname:rank" under mpirun. */
  snprintf(head, sizeof head, "%zu\t%s\t%.3f\t%10.3f\t0\t0\t%d\t%d\t",
           job + 1, res->host[0] ? res->host : ":", res->start, res->runtime,
           res->exit_code, res->signal);
  struct stat st;
  int rc = fstat(r->joblog_fd, &st) || run_buf_str(&b, head) ||
           escape_command(&b, line) || run_buf_add(&b, "\n", 1);
  if (rc == 0 && write_all(r->joblog_fd, b.data, b.len) != 0) {
    int e = errno; /* a short write (disk full) must not glue lines */
    if (ftruncate(r->joblog_fd, st.st_size) != 0) {
      /* then the next start cuts the partial line off */
    }
    errno = e;
    rc = -1;
  }
  if (rc == 0) r->joblog_new = 0;
  run_buf_free(&b);
  return rc;
}

/* Cuts a partial last line (a crash in the middle of a write) off the log,
 * so that the next line does not continue it. Returns the size, or -1. A
 * log that is not a regular file (/dev/null, a pipe) is left as it is. */
static off_t joblog_trim(int fd, int *regular) {
  struct stat st;
  if (fstat(fd, &st) != 0) return -1;
  if (!(*regular = S_ISREG(st.st_mode))) return st.st_size;
  off_t end = st.st_size;
  char c[4096];
  while (end > 0) {
    size_t k = end < (off_t)sizeof c ? (size_t)end : sizeof c;
    if (pread(fd, c, k, end - (off_t)k) != (ssize_t)k) return -1;
    while (k > 0 && c[k - 1] != '\n') k--, end--;
    if (k > 0) break;
  }
  if (end != st.st_size && ftruncate(fd, end) != 0) return -1;
  return end;
}

static int joblog_tmp(const run_records *r, char *path, size_t n) {
  return snprintf(path, n, "%s.tmp", r->joblog) < (int)n ? 0 : -1;
}

/* The log less the lines of r->stale into `tmp`, locked like the log. */
static int joblog_filtered(const run_records *r, const char *tmp, int *lock) {
  run_buf in = {0}, out = {0};
  int rc = slurp(r->joblog, &in) != 0 || run_buf_add(&out, "", 0);
  for (size_t at = 0; rc == 0 && at < in.len;) {
    const char *nl = memchr(in.data + at, '\n', in.len - at);
    size_t n = nl ? (size_t)(nl - in.data) - at : in.len - at;
    uint64_t h;
    int ok;
    if (joblog_line(in.data + at, n, &h, &ok) != 0 || !hset_has(&r->stale, h))
      rc = run_buf_add(&out, in.data + at, n + (nl != NULL));
    at += n + 1;
  }
  int fd = rc ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || write_all(fd, out.data, out.len) != 0) rc = -1;
  if (fd >= 0 && close(fd) != 0) rc = -1;
  /* Locked before it becomes the log: a run that opens the new log while
   * this one holds the old one must find it held too. */
  *lock = rc || r->lock_fd[0] < 0 ? -1 : open(tmp, O_RDONLY | O_CLOEXEC);
  if (r->lock_fd[0] >= 0 && (*lock < 0 || flock(*lock, LOCK_EX | LOCK_NB)))
    rc = -1;
  run_buf_free(&in);
  run_buf_free(&out);
  return rc;
}

int run_records_repair(run_records *r, run_err err) {
  if (r->stale.n == 0 || r->joblog_fd < 0 || !r->joblog_regular) return 0;
  char tmp[4096];
  int lock = -1, fd = -1;
  int rc = joblog_tmp(r, tmp, sizeof tmp) || joblog_filtered(r, tmp, &lock) ||
           rename(tmp, r->joblog) != 0 ||
           (fd = open(r->joblog, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0;
  if (rc != 0) {
    int e = errno;
    unlink(tmp);
    if (lock >= 0) close(lock);
    return run_fail(err, "cannot rewrite job log '%s': %s", r->joblog,
                    strerror(e));
  }
  close(r->joblog_fd);
  r->joblog_fd = fd;
  r->joblog_new = lseek(fd, 0, SEEK_END) == 0;
  if (r->lock_fd[0] >= 0) close(r->lock_fd[0]);
  r->lock_fd[0] = lock;
  return 0;
}

/* ------------------------------------------------------------ the lock */

enum { LOCKED, BUSY, ABSENT, NO_LOCKING };

/* flock(2) on path, a directory or the job log, created when asked.
 * Returns LOCKED (*fd set), BUSY, ABSENT, NO_LOCKING (a file system without
 * flock: the run goes on unlocked), or -1 with errno. */
static int lock_path(const char *path, int dir, int create, int *fd) {
  for (int tries = 0; tries < 100; tries++) {
    if (create && dir && mkdir(path, 0755) != 0 && errno != EEXIST) return -1;
    int flags = dir ? O_RDONLY | O_DIRECTORY : O_RDONLY | (create ? O_CREAT : 0);
    int f = open(path, flags | O_CLOEXEC, 0644);
    if (f < 0) return errno == ENOENT && !create ? ABSENT : -1;
    struct stat a, b;
    if (!dir && fstat(f, &a) == 0 && !S_ISREG(a.st_mode)) {
      close(f); /* /dev/null, a pipe: shared by unrelated runs */
      return NO_LOCKING;
    }
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
      int e = errno;
      close(f);
      if (e == EWOULDBLOCK) return BUSY;
      if (e == ENOLCK || e == EOPNOTSUPP || e == EBADF || e == EINVAL)
        return NO_LOCKING;
      return errno = e, -1;
    }
    if (fstat(f, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino) {
      *fd = f;
      return LOCKED;
    }
    close(f); /* renamed over since it was opened: lock the new one */
  }
  return errno = EAGAIN, -1;
}

static void unlock_all(run_records *r) {
  for (int i = 0; i < 2; i++)
    if (r->lock_fd[i] >= 0) close(r->lock_fd[i]), r->lock_fd[i] = -1;
}

/* One try at both locks. Nothing is created until every file that exists
 * is locked, so a run that is refused leaves no trace. Returns LOCKED,
 * BUSY (*which: 0 the log, 1 the directory) or -1 with err set. */
static int lock_try(run_records *r, int *which, run_err err) {
  const char *path[2] = {r->joblog, r->dir};
  for (int create = 0; create < 2; create++)
    for (int i = 1; i >= 0; i--) { /* the directory may hold the log */
      if (path[i] == NULL || r->lock_fd[i] >= 0) continue;
      int rc = lock_path(path[i], i == 1, create, &r->lock_fd[i]);
      if (rc == LOCKED || rc == NO_LOCKING || rc == ABSENT) continue;
      int e = errno;
      unlock_all(r);
      if (rc == BUSY) return *which = i, BUSY;
      return run_fail(err, "cannot %s '%s': %s",
                      i ? "create results directory" : "open job log",
                      path[i], strerror(e));
    }
  return LOCKED;
}

static int lock_take(run_records *r, run_err err) {
  struct timespec t0, now, poll = {0, (long)(LOCK_POLL * 1e9)};
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    int which = 0, rc = lock_try(r, &which, err);
    if (rc != BUSY) return rc;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((double)(now.tv_sec - t0.tv_sec) +
            (double)(now.tv_nsec - t0.tv_nsec) * 1e-9 >= LOCK_WAIT) {
      const char *p = which ? r->dir : r->joblog;
      run_fail(err, "%s '%s' is in use: another parc run, or jobs left "
               "running by one that was killed, still hold it (fuser -v "
               "'%s' lists them); nothing was done",
               which ? "results directory" : "job log", p, p);
      return RUN_RECORDS_BUSY;
    }
    nanosleep(&poll, NULL);
  }
}

size_t run_records_lock_fds(const run_records *r, int fds[2]) {
  size_t n = 0;
  for (int i = 0; i < 2; i++)
    if (r->lock_fd[i] >= 0) fds[n++] = r->lock_fd[i];
  return n;
}

/* ------------------------------------------------------------ results.csv */

static int add_col(run_records *r, const char *name) {
  char *u = utf8_dup(name, strlen(name));
  if (u == NULL) return -1;
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
    if (c == NULL) return -1;
    memset(c + w->ncell, 0, (col + 1 - w->ncell) * sizeof *c);
    w->cell = c;
    w->ncell = col + 1;
  }
  char *u = utf8_dup(val, n);
  if (u == NULL) return -1;
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
  if (rc != 0 && fd >= 0) unlink(tmp);
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
  if (rc != 0) r->csv_stale = 1; /* a short row: the next write replaces it */
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

/* The length of the complete records at the start of text: up to the last
 * newline outside quotes. What follows is a row cut short by a crash. */
static size_t csv_complete(const char *text, size_t len) {
  size_t end = 0;
  int quoted = 0;
  for (size_t i = 0; i < len; i++)
    if (text[i] == '"') quoted = !quoted;
    else if (text[i] == '\n' && !quoted) end = i + 1;
  return end;
}

/* The row key of a job: its values as they are in the table. */
static char *row_key(const run_inputs *in, size_t job) {
  run_buf k = {0};
  int rc = run_buf_add(&k, "", 0);
  for (size_t s = 0; s < in->nsrc && rc == 0; s++) {
    const char *v = in->src[s].values[run_inputs_pick(in, job, s)];
    rc = (s > 0 && run_buf_add(&k, "\x1f", 1)) ||
         run_buf_add_utf8(&k, v, strlen(v));
  }
  if (rc == 0) return k.data;
  run_buf_free(&k);
  return NULL;
}

/* ------------------------------------------------------------ rows */

static int row_find(const run_records *r, const char *key) {
  if (r->row_cap == 0) return -1;
  for (size_t k = fnv1a(key, strlen(key)) % r->row_cap; r->row_at[k];
       k = (k + 1) % r->row_cap)
    if (strcmp(r->rows[r->row_at[k] - 1].key, key) == 0)
      return (int)(r->row_at[k] - 1);
  return -1;
}

static void row_index(run_records *r, size_t i) {
  size_t k = fnv1a(r->rows[i].key, strlen(r->rows[i].key)) % r->row_cap;
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
    if (at == NULL) return free_row(w), -1;
    free(r->row_at);
    r->row_at = at;
    r->row_cap = cap;
    for (size_t k = 0; k < r->nrows; k++) row_index(r, k);
  }
  row *rows = realloc(r->rows, (r->nrows + 1) * sizeof *rows);
  if (rows == NULL) return free_row(w), -1;
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
    if (*fp) rc = set_cell(&w, (size_t)map[i], fp, strlen(fp));
  for (size_t s = 0; s < r->in->nsrc && rc == 0; s++) {
    char tmp[32];
    int c = find_col(r, run_inputs_name(r->in, s, tmp, sizeof tmp));
    rc = (s > 0 && run_buf_add(&key, "\x1f", 1)) ||
         run_buf_str(&key, c >= 0 && (size_t)c < w.ncell && w.cell[c]
                               ? w.cell[c] : "");
  }
  w.key = key.data;
  if (rc != 0) return free_row(&w), -1;
  return row_put(r, &w); /* a key seen twice: the later row stands */
}

/* Loads DIR/results.csv of an earlier run (resume). */
static int read_csv(run_records *r, run_err err) {
  char path[4096];
  if (csv_path(r, path, sizeof path, 0) != 0) return 0;
  run_buf text = {0}, fields = {0};
  int rc = slurp(path, &text);
  if (rc != 0) {
    run_buf_free(&text);
    return rc > 0 ? 0 : run_fail(err, "cannot read '%s': %s", path,
                                 strerror(errno));
  }
  text.data[text.len = csv_complete(text.data, text.len)] = '\0';
  char *p = text.data;
  size_t ncols = *p ? run_csv_record(&p, &fields) : 0;
  int *map = calloc(ncols ? ncols : 1, sizeof *map);
  rc = map ? 0 : -1;
  const char *fp = fields.data;
  for (size_t i = 0; i < ncols && rc == 0; fp += strlen(fp) + 1, i++)
    if ((map[i] = add_col(r, fp)) < 0) rc = -1;
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
 * that names a fixed column or an axis goes under "metric.KEY". A metric
 * that cannot be stored (out of memory) is left out of the row. */
static void set_metric(void *arg, const char *k, size_t kn, const char *v,
                       size_t vn) {
  metric_ctx *m = arg;
  char name[160];
  snprintf(name, sizeof name, "%.*s", (int)(kn < 120 ? kn : 120), k);
  char *u = utf8_dup(name, strlen(name)); /* the cut may split a character */
  int c = u ? find_col(m->r, u) : -1;
  if (c >= 0 && (size_t)c < m->r->first_metric) {
    snprintf(name, sizeof name, "metric.%.*s", (int)(kn < 120 ? kn : 120), k);
    c = -1;
  }
  free(u);
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
  uint64_t h = command_hash(line);
  if (h == 0) return -1;
  if (!hset_has(&r->done, h)) return 0;
  if (r->dir == NULL) return 1;
  char *key = row_key(r->in, job);
  if (key == NULL) return -1;
  int whole = row_find(r, key) >= 0 && has_output(r, job);
  free(key);
  if (whole) return 1;
  return hset_add(&r->stale, h) == 0 ? 0 : -1;
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

/* Under the lock: what a crash may have left (temporary files, a partial
 * last log line) is cleaned up, and the log is opened to append. */
static int clean_up(run_records *r, run_err err) {
  char tmp[4096];
  if (r->dir && csv_path(r, tmp, sizeof tmp, 1) == 0 && unlink(tmp) != 0 &&
      errno != ENOENT)
    return run_fail(err, "cannot remove '%s': %s", tmp, strerror(errno));
  if (r->joblog == NULL) return 0;
  if (joblog_tmp(r, tmp, sizeof tmp) == 0 && unlink(tmp) != 0 &&
      errno != ENOENT)
    return run_fail(err, "cannot remove '%s': %s", tmp, strerror(errno));
  r->joblog_fd = open(r->joblog, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC,
                      0644); /* read too: joblog_trim */
  off_t size = r->joblog_fd < 0 ? -1
                                 : joblog_trim(r->joblog_fd, &r->joblog_regular);
  if (size < 0)
    return run_fail(err, "cannot open job log '%s': %s", r->joblog,
                    strerror(errno));
  r->joblog_new = size == 0;
  return 0;
}

int run_records_start(run_records **out, const run_inputs *in,
                      const run_record_opts *o, int writing, run_err err) {
  run_records *r = calloc(1, sizeof *r);
  if (r == NULL) return run_fail(err, "out of memory");
  r->in = in;
  r->joblog_fd = r->lock_fd[0] = r->lock_fd[1] = -1;
  gethostname(r->host, sizeof r->host - 1);
  int resume = o->resume || o->resume_failed;
  int rc = add_fixed_cols(r);
  if (rc == 0 && o->joblog && (r->joblog = strdup(o->joblog)) == NULL) rc = -1;
  if (rc == 0 && o->results_dir && (r->dir = strdup(o->results_dir)) == NULL)
    rc = -1;
  if (rc != 0) rc = run_fail(err, "out of memory");
  if (rc == 0 && writing) rc = lock_take(r, err);
  if (rc == 0 && writing) rc = clean_up(r, err);
  if (rc == 0 && r->dir && resume) rc = read_csv(r, err);
  if (rc == 0 && r->joblog && resume) rc = read_joblog(r, o->resume_failed, err);
  if (rc != 0) {
    run_records_close(r);
    return rc;
  }
  r->csv_stale = r->dir != NULL; /* the first job writes the header */
  *out = r;
  return 0;
}

int run_records_open(run_records **out, const run_inputs *in,
                     const run_record_opts *o, run_err err) {
  return run_records_start(out, in, o, 1, err) == 0 ? 0 : -1;
}

/* The row of a finished job, from its values, result and metrics. */
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
  return row_put(r, &w);
}

/* Output files, row, then the line: the order of the file's head note. */
int run_records_add(run_records *r, size_t job, const char *line,
                    const run_result *res, run_err err) {
  if (store_row(r, job, res) != 0) return run_fail(err, "out of memory");
  if (r->dir && save_output(r, job, res) != 0)
    return run_fail(err, "cannot write job %zu's output in '%s': %s", job + 1,
                    r->dir, strerror(errno));
  if (r->dir && (r->csv_stale ? csv_rewrite(r)
                              : csv_append(r, &r->rows[r->nrows - 1])) != 0)
    return run_fail(err, "cannot write '%s/results.csv': %s", r->dir,
                    strerror(errno));
  if (r->joblog_fd >= 0 && log_job(r, job, line, res) != 0)
    return run_fail(err, "cannot write the job log: %s", strerror(errno));
  return 0;
}

void run_records_close(run_records *r) {
  if (r == NULL) return;
  if (r->joblog_fd >= 0) close(r->joblog_fd);
  unlock_all(r);
  for (size_t i = 0; i < r->nrows; i++) free_row(&r->rows[i]);
  for (size_t i = 0; i < r->ncol; i++) free(r->col[i]);
  free(r->rows);
  free(r->row_at);
  free(r->col);
  free(r->done.v);
  free(r->stale.v);
  free(r->dir);
  free(r->joblog);
  free(r);
}
