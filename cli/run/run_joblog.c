/* run_joblog.c -- the job log of `parc run`, and the lock of its records.
 *
 * It owns the job log part of a run_records (joblog, joblog_fd, the done
 * and stale sets) and the lock (lock_fd); run_record.c owns the table and
 * calls in here from the records' open, add and close (run_record.h).
 *
 * The job log is GNU parallel's: a header line, then one TAB-separated line
 * per finished job, appended with a single write(2), and the commit record
 * of the job: it is written only after the job's output files and row
 * (run_record.c), and, as GNU parallel does, right after the job's output
 * is printed (so in input order with -k): run_records_add keeps the line,
 * run_records_commit writes it. So:
 *   - a line in the log is never partial once the log is open: a partial
 *     last line (a crash in that write) is cut off first, and a short
 *     write (disk full) is cut off at once;
 *   - resume keys on a 64-bit FNV-1a hash of the Command field, not on the
 *     job number, so a grown grid resumes; or, with --resume-by seq, on
 *     the Seq field as GNU parallel does;
 *   - the log is only rewritten whole (FILE.tmp renamed over FILE), to drop
 *     the lines of logged jobs that run again (run_records_repair), so that
 *     every job ends with one line. A leftover FILE.tmp is removed at start.
 * With --memory a new log has one more column, Memory, between Signal and
 * Command: the limit of the attempt logged in bytes, ":oom" after it when
 * that attempt ran out of it (run_memory.c). A log keeps the columns of its
 * header: one resumed or appended to by a run with(out) --memory gets its
 * lines as the header says (Memory "0": no limit). Every reader here finds
 * Command by the header; a log without one (+FILE) is read as this run
 * writes.
 * As GNU parallel: a log is cut to its header when a run starts, unless it
 * resumes (--resume, --resume-failed, --retry-failed: appended to, the
 * header only if it is empty); `--joblog +FILE` is appended to and never
 * gets a header; `--joblog -` is stdout, header first. A log that is not a
 * regular file (/dev/null, a pipe, stdout) is only appended to.
 *
 * The lock: a run that writes holds flock(2) on its job log and on its
 * results directory (no lock file). The descriptors are close-on-exec in
 * parc and handed to every job (run_job_inherit), so the files stay locked
 * while any job of a killed run still lives, and a second run refuses to
 * start meanwhile. Files are only ever changed under the lock; nothing is
 * created before every file that exists is locked.
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

#include "run_memory.h"
#include "run_record.h"

#define LOCK_WAIT 1.0  /* seconds a busy lock is waited for: a killed job's */
#define LOCK_POLL 0.05 /* group may take a moment to die */

/* The columns of the log this run writes: with Memory or not. Set before
 * the records open (run_joblog_memory), then by the header of the log it
 * opens; one run per process. */
static int log_memory;

void run_joblog_memory(int on) { log_memory = on; }

/* The columns before Command: GNU's 8, 9 with Memory. */
#define GNU_FIELDS 8

/* The fields before Command in a log whose text starts at p (n bytes): by
 * its header, or `dflt` when it has none (+FILE, an empty log). */
static size_t command_field(const char *p, size_t n, size_t dflt) {
  if (n < 4 || memcmp(p, "Seq\t", 4) != 0)
    return dflt;
  const char *end = memchr(p, '\n', n);
  end = end ? end : p + n;
  size_t k = 0;
  for (const char *f = p; f < end; k++) {
    const char *tab = memchr(f, '\t', (size_t)(end - f));
    const char *fe = tab ? tab : end;
    if ((size_t)(fe - f) == 7 && memcmp(f, "Command", 7) == 0)
      return k;
    f = tab ? tab + 1 : end;
  }
  return dflt;
}

/* ------------------------------------------------------------ hash sets */

static int hset_add(hset *s, uint64_t h) {
  if (2 * (s->n + 1) > s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 1024;
    uint64_t *t = calloc(cap, sizeof *t);
    if (t == NULL)
      return -1;
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
    if (s->v[k] == h)
      return 0;
    if (s->v[k] == 0) {
      s->v[k] = h;
      s->n++;
      return 0;
    }
  }
}

static int hset_has(const hset *s, uint64_t h) {
  if (s->cap == 0)
    return 0;
  for (size_t k = h % s->cap; s->v[k]; k = (k + 1) % s->cap)
    if (s->v[k] == h)
      return 1;
  return 0;
}

/* ------------------------------------------------------------ lines */

/* The Command field, as GNU parallel writes it: the rest of the line, with
 * each newline written as a NUL byte (it is the line's end); a TAB stays. */
static int escape_command(run_buf *b, const char *line) {
  size_t start = b->len;
  int rc = run_buf_str(b, line);
  for (size_t i = start; rc == 0 && i < b->len; i++)
    if (b->data[i] == '\n')
      b->data[i] = '\0';
  return rc;
}

/* The resume key of a command line; 0 when out of memory. */
static uint64_t command_hash(const char *line) {
  run_buf esc = {0};
  uint64_t h = escape_command(&esc, line) == 0 ? run_fnv1a(esc.data, esc.len)
                                               : 0;
  run_buf_free(&esc);
  return h;
}

/* What a job line of the log says. */
typedef struct log_line {
  uint64_t seq;    /* Seq */
  uint64_t key;    /* its resume key: Seq, or the hash of its Command */
  int ok;          /* Exitval and Signal 0 */
  const char *cmd; /* Command, cmd_len bytes (newlines as NULs) */
  size_t cmd_len;
} log_line;

/* A job line of the log, s[0..n) without its newline, whose Command
 * comes after `ncmd` fields (command_field). 0, or -1 for the header and
 * anything that is not a job's line. */
static int joblog_line(const run_records *r, const char *s, size_t n,
                       size_t ncmd, log_line *l) {
  const char *f[GNU_FIELDS + 8];
  size_t k = 0;
  if (ncmd < GNU_FIELDS || ncmd > sizeof f / sizeof f[0])
    return -1;
  for (size_t i = 0; i < n && k < ncmd; i++)
    if (i == 0 || s[i - 1] == '\t')
      f[k++] = s + i;
  if (k < ncmd || !isdigit((unsigned char)f[0][0]))
    return -1;
  const char *cmd = memchr(f[k - 1], '\t', n - (size_t)(f[k - 1] - s));
  if (cmd == NULL)
    return -1;
  cmd++;
  l->seq = strtoull(f[0], NULL, 10);
  l->cmd = cmd;
  l->cmd_len = n - (size_t)(cmd - s);
  l->key = r->by_seq ? l->seq : run_fnv1a(cmd, l->cmd_len);
  l->ok = atoi(f[6]) == 0 && atoi(f[7]) == 0;
  return l->key == 0 ? -1 : 0; /* Seq 0: no job of GNU's or parc's */
}

int run_joblog_read(run_records *r, int ok_only, run_err err) {
  run_buf b = {0};
  int rc = run_slurp(r->joblog, &b);
  if (rc < 0) {
    run_buf_free(&b);
    return run_fail(err, "cannot read job log '%s': %s", r->joblog,
                    strerror(errno));
  }
  rc = 0;
  size_t ncmd = command_field(b.data, b.len, GNU_FIELDS + log_memory);
  for (size_t at = 0; rc == 0 && at < b.len;) {
    const char *nl = memchr(b.data + at, '\n', b.len - at);
    if (nl == NULL)
      break; /* a partial last line: not done */
    log_line l;
    size_t n = (size_t)(nl - b.data) - at;
    if (joblog_line(r, b.data + at, n, ncmd, &l) == 0 && (l.ok || !ok_only) &&
        hset_add(&r->done, l.key) != 0)
      rc = run_fail(err, "out of memory");
    at += n + 1;
  }
  run_buf_free(&b);
  return rc;
}

int run_joblog_done(const run_records *r, size_t job, const char *line,
                    uint64_t *key) {
  *key = r->by_seq ? (uint64_t)job + 1 : command_hash(line);
  if (*key == 0)
    return -1;
  return hset_has(&r->done, *key);
}

int run_joblog_redo(run_records *r, uint64_t key) {
  return hset_add(&r->stale, key);
}

/* ------------------------------------------------------------ pending */

/* The lines of jobs added but not committed yet (-k: waiting for their
 * output's turn), by job: open addressing, keys job + 1. */
static int pend_put(run_records *r, size_t job, char *line) {
  if (2 * (r->pend_n + 1) > r->pend_cap) {
    size_t cap = r->pend_cap ? 2 * r->pend_cap : 64;
    size_t *key = calloc(cap, sizeof *key);
    char **val = calloc(cap, sizeof *val);
    if (key == NULL || val == NULL) {
      free(key);
      free(val);
      return -1;
    }
    for (size_t i = 0; i < r->pend_cap; i++) {
      if (r->pend_key[i] == 0)
        continue;
      size_t k = (r->pend_key[i] - 1) % cap;
      while (key[k]) k = (k + 1) % cap;
      key[k] = r->pend_key[i];
      val[k] = r->pend_line[i];
    }
    free(r->pend_key);
    free(r->pend_line);
    r->pend_key = key;
    r->pend_line = val;
    r->pend_cap = cap;
  }
  size_t k = job % r->pend_cap;
  while (r->pend_key[k]) k = (k + 1) % r->pend_cap;
  r->pend_key[k] = job + 1;
  r->pend_line[k] = line;
  r->pend_n++;
  return 0;
}

/* Takes job's line out (NULL: none). The entries after it in its run move
 * back into the hole when their probe path crosses it. */
static char *pend_take(run_records *r, size_t job) {
  size_t cap = r->pend_cap, k = cap ? job % cap : 0;
  if (cap == 0)
    return NULL;
  while (r->pend_key[k] && r->pend_key[k] != job + 1) k = (k + 1) % cap;
  if (r->pend_key[k] == 0)
    return NULL;
  char *line = r->pend_line[k];
  r->pend_key[k] = 0;
  r->pend_n--;
  for (size_t i = (k + 1) % cap; r->pend_key[i]; i = (i + 1) % cap) {
    size_t home = (r->pend_key[i] - 1) % cap;
    if ((i + cap - home) % cap < (i + cap - k) % cap)
      continue;
    r->pend_key[k] = r->pend_key[i];
    r->pend_line[k] = r->pend_line[i];
    r->pend_key[i] = 0;
    k = i;
  }
  return line;
}

/* ------------------------------------------------------------ lines out */

/* Exitval and Signal as GNU parallel writes them: a job killed by a signal
 * exited 0 with that signal; one that parc killed (--timeout, --halt now,
 * --memfree) is -1 unless it exited non-zero itself on the TERM. */
static void gnu_status(const run_result *res, int *exitval, int *sig) {
  *sig = res->signal;
  if (res->timed_out || res->stopped)
    *exitval = res->signal == 0 && res->exit_code > 0 ? res->exit_code : -1;
  else
    *exitval = res->signal ? 0 : res->exit_code;
}

/* Appends b to the log with one write. A short write (disk full) must not
 * glue lines: what was written of it is cut off. */
static int log_write(run_records *r, const run_buf *b) {
  if (r->joblog_stdout) /* after the job's output, through the same stdio */
    return fwrite(b->data, 1, b->len, stdout) == b->len && fflush(stdout) == 0
               ? 0
               : -1;
  struct stat st;
  if (fstat(r->joblog_fd, &st) != 0)
    return -1;
  if (run_write_all(r->joblog_fd, b->data, b->len) == 0)
    return 0;
  int e = errno;
  if (r->joblog_regular && ftruncate(r->joblog_fd, st.st_size) != 0) {
    /* then the next start cuts the partial line off */
  }
  errno = e;
  return -1;
}

static int log_on(const run_records *r) {
  return r->joblog_fd >= 0 || r->joblog_stdout;
}

int run_joblog_add(run_records *r, size_t job, const char *line,
                   const run_result *res) {
  if (!log_on(r))
    return 0;
  run_buf b = {0};
  char head[160 + RUN_HOST_MAX];
  int exitval, sig;
  gnu_status(res, &exitval, &sig);
  /* Receive: the bytes of its stdout, as GNU parallel (under mpirun, what
   * came back of it) */
  size_t received = res->received ? res->received : res->out.len;
  /* Host: ':' (here), as GNU parallel; "hostname:rank" under mpirun. */
  snprintf(head, sizeof head, "%zu\t%s\t%.3f\t%10.3f\t%zu\t%zu\t%d\t%d\t",
           job + 1, res->host[0] ? res->host : ":", res->start, res->runtime,
           res->sent, received, exitval, sig);
  /* Memory: the attempt's limit, ":oom" when it ran out of it */
  char memory[48] = "";
  if (log_memory)
    snprintf(memory, sizeof memory, "%llu%s\t", res->mem_limit,
             res->oom ? ":oom" : "");
  /* kept as a C string: its newlines become NULs as it is written */
  int rc = run_buf_str(&b, head) || run_buf_str(&b, memory) ||
           run_buf_str(&b, line);
  char *old = pend_take(r, job); /* a job is added once; this is defensive */
  free(old);
  if (rc == 0 && pend_put(r, job, b.data) == 0)
    return 0;
  run_buf_free(&b);
  return errno = ENOMEM, -1;
}

int run_joblog_commit(run_records *r, size_t job) {
  char *line = pend_take(r, job);
  if (line == NULL)
    return 0;
  run_buf b = {0};
  int rc = escape_command(&b, line) || run_buf_add(&b, "\n", 1) ||
           log_write(r, &b);
  run_buf_free(&b);
  free(line);
  return rc;
}

/* ------------------------------------------------------------ open, repair */

/* Cuts a partial last line (a crash in the middle of a write) off the log,
 * so that the next line does not continue it. Returns the size, or -1. A
 * log that is not a regular file (/dev/null, a pipe) is left as it is. */
static off_t joblog_trim(int fd, int *regular) {
  struct stat st;
  if (fstat(fd, &st) != 0)
    return -1;
  if (!(*regular = S_ISREG(st.st_mode)))
    return st.st_size;
  off_t end = st.st_size;
  char c[4096];
  while (end > 0) {
    size_t k = end < (off_t)sizeof c ? (size_t)end : sizeof c;
    if (pread(fd, c, k, end - (off_t)k) != (ssize_t)k)
      return -1;
    while (k > 0 && c[k - 1] != '\n') k--, end--;
    if (k > 0)
      break;
  }
  if (end != st.st_size && ftruncate(fd, end) != 0)
    return -1;
  return end;
}

static int joblog_tmp(const run_records *r, char *path, size_t n) {
  return snprintf(path, n, "%s.tmp", r->joblog) < (int)n ? 0 : -1;
}

static const char HEADER[] =
    "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\t"
    "Command\n";
static const char HEADER_MEMORY[] =
    "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\t"
    "Memory\tCommand\n";

/* The header of a new log, as a run_buf to write. */
static run_buf header(void) {
  const char *h = log_memory ? HEADER_MEMORY : HEADER;
  size_t n = strlen(h);
  return (run_buf){(char *)h, n, n + 1};
}

/* A log that has a header keeps its columns: log_memory as it says. */
static void header_layout(int fd) {
  char head[sizeof HEADER_MEMORY];
  ssize_t n = pread(fd, head, sizeof head - 1, 0);
  if (n > 0 && command_field(head, (size_t)n, 0) != 0)
    log_memory = command_field(head, (size_t)n, 0) > GNU_FIELDS;
}

int run_joblog_open(run_records *r, int resume, run_err err) {
  if (r->joblog_stdout) {
    run_buf h = header();
    return log_write(r, &h) == 0 ? 0
                                 : run_fail(err,
                                            "cannot write the job "
                                            "log to stdout: %s",
                                            strerror(errno));
  }
  if (r->joblog == NULL)
    return 0;
  char tmp[4096];
  if (joblog_tmp(r, tmp, sizeof tmp) == 0 && unlink(tmp) != 0 &&
      errno != ENOENT)
    return run_fail(err, "cannot remove '%s': %s", tmp, strerror(errno));
  int cut = !resume && !r->joblog_append; /* a new run: a new log */
  r->joblog_fd = open(
      r->joblog, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | (cut ? O_TRUNC : 0),
      0644); /* read too: joblog_trim */
  off_t size = r->joblog_fd < 0 ? -1
                                : joblog_trim(r->joblog_fd, &r->joblog_regular);
  if (size < 0)
    return run_fail(err, "cannot open job log '%s': %s", r->joblog,
                    strerror(errno));
  if (size > 0 && r->joblog_regular)
    header_layout(r->joblog_fd);
  if ((size == 0 || (cut && !r->joblog_regular)) && !r->joblog_append) {
    run_buf h = header();
    if (log_write(r, &h) != 0)
      return run_fail(err, "cannot write job log '%s': %s", r->joblog,
                      strerror(errno));
  }
  return 0;
}

/* The log less the lines of r->stale into `tmp`, locked like the log. */
static int joblog_filtered(const run_records *r, const char *tmp, int *lock) {
  run_buf in = {0}, out = {0};
  int rc = run_slurp(r->joblog, &in) != 0 || run_buf_add(&out, "", 0);
  size_t ncmd = command_field(in.data, in.len, GNU_FIELDS + log_memory);
  for (size_t at = 0; rc == 0 && at < in.len;) {
    const char *nl = memchr(in.data + at, '\n', in.len - at);
    size_t n = nl ? (size_t)(nl - in.data) - at : in.len - at;
    log_line l;
    if (joblog_line(r, in.data + at, n, ncmd, &l) != 0 ||
        !hset_has(&r->stale, l.key))
      rc = run_buf_add(&out, in.data + at, n + (nl != NULL));
    at += n + 1;
  }
  int fd = rc ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || run_write_all(fd, out.data, out.len) != 0)
    rc = -1;
  if (fd >= 0 && close(fd) != 0)
    rc = -1;
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
  if (r->stale.n == 0 || r->joblog_fd < 0 || !r->joblog_regular)
    return 0;
  char tmp[4096];
  int lock = -1, fd = -1;
  int rc = joblog_tmp(r, tmp, sizeof tmp) || joblog_filtered(r, tmp, &lock) ||
           rename(tmp, r->joblog) != 0 ||
           (fd = open(r->joblog, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0;
  if (rc != 0) {
    int e = errno;
    unlink(tmp);
    if (lock >= 0)
      close(lock);
    return run_fail(err, "cannot rewrite job log '%s': %s", r->joblog,
                    strerror(e));
  }
  close(r->joblog_fd);
  r->joblog_fd = fd;
  if (r->lock_fd[0] >= 0)
    close(r->lock_fd[0]);
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
    if (create && dir && mkdir(path, 0755) != 0 && errno != EEXIST)
      return -1;
    int flags = dir ? O_RDONLY | O_DIRECTORY
                    : O_RDONLY | (create ? O_CREAT : 0);
    int f = open(path, flags | O_CLOEXEC, 0644);
    if (f < 0)
      return errno == ENOENT && !create ? ABSENT : -1;
    struct stat a, b;
    if (!dir && fstat(f, &a) == 0 && !S_ISREG(a.st_mode)) {
      close(f); /* /dev/null, a pipe: shared by unrelated runs */
      return NO_LOCKING;
    }
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
      int e = errno;
      close(f);
      if (e == EWOULDBLOCK)
        return BUSY;
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
    if (r->lock_fd[i] >= 0)
      close(r->lock_fd[i]), r->lock_fd[i] = -1;
}

/* One try at both locks. Nothing is created until every file that exists
 * is locked, so a run that is refused leaves no trace. Returns LOCKED,
 * BUSY (*which: 0 the log, 1 the directory) or -1 with err set. */
static int lock_try(run_records *r, int *which, run_err err) {
  const char *path[2] = {r->joblog, r->dir};
  for (int create = 0; create < 2; create++)
    for (int i = 1; i >= 0; i--) { /* the directory may hold the log */
      if (path[i] == NULL || r->lock_fd[i] >= 0)
        continue;
      int rc = lock_path(path[i], i == 1, create, &r->lock_fd[i]);
      if (rc == LOCKED || rc == NO_LOCKING || rc == ABSENT)
        continue;
      int e = errno;
      unlock_all(r);
      if (rc == BUSY)
        return *which = i, BUSY;
      return run_fail(err, "cannot %s '%s': %s",
                      i ? "create results directory" : "open job log", path[i],
                      strerror(e));
    }
  return LOCKED;
}

int run_joblog_lock(run_records *r, run_err err) {
  struct timespec t0, now, poll = {0, (long)(LOCK_POLL * 1e9)};
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    int which = 0, rc = lock_try(r, &which, err);
    if (rc != BUSY)
      return rc;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((double)(now.tv_sec - t0.tv_sec) +
            (double)(now.tv_nsec - t0.tv_nsec) * 1e-9 >=
        LOCK_WAIT) {
      const char *p = which ? r->dir : r->joblog;
      run_fail(err,
               "%s '%s' is in use: another parc run, or jobs left "
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
    if (r->lock_fd[i] >= 0)
      fds[n++] = r->lock_fd[i];
  return n;
}

void run_joblog_close(run_records *r) {
  /* Lines still pending are of jobs whose output was never printed: not
   * committed, they run again on resume. */
  for (size_t i = 0; i < r->pend_cap; i++)
    if (r->pend_key[i])
      free(r->pend_line[i]);
  free(r->pend_key);
  free(r->pend_line);
  if (r->joblog_fd >= 0)
    close(r->joblog_fd);
  r->joblog_fd = -1;
  unlock_all(r);
  free(r->done.v);
  free(r->stale.v);
  free(r->joblog);
}

/* ------------------------------------------------------------ --retry-failed */

/* The commands of the log by Seq (seq - 1): a failed job's Command (its
 * NULs newlines again; the last line of a Seq stands), "true" for one that
 * succeeded (skipped: the resume's done set), "" for a Seq the log lacks (GNU
 * parallel runs that empty command). */
typedef struct retry_cmds {
  char **v;
  size_t n;
} retry_cmds;

static int retry_set(retry_cmds *c, const log_line *l) {
  if (l->seq > ((size_t)1 << 32))
    return 0; /* not a Seq parc could run */
  size_t i = (size_t)l->seq - 1;
  if (i >= c->n) {
    char **v = realloc(c->v, (i + 1) * sizeof *v);
    if (v == NULL)
      return -1;
    c->v = v;
    for (size_t k = c->n; k <= i; k++) c->v[k] = NULL;
    c->n = i + 1;
  }
  char *cmd = l->ok ? strdup("true") : strndup(l->cmd, l->cmd_len);
  if (cmd == NULL)
    return -1;
  for (char *p = cmd; p < cmd + (l->ok ? 0 : l->cmd_len); p++)
    if (*p == '\0')
      *p = '\n';
  free(c->v[i]);
  c->v[i] = cmd;
  return 0;
}

static int retry_read(const char *path, retry_cmds *c, int memory,
                      run_err err) {
  run_buf b = {0};
  run_records probe = {0}; /* joblog_line's keys: by Seq */
  probe.by_seq = 1;
  int rc = run_slurp(path, &b);
  if (rc != 0) {
    run_buf_free(&b);
    return rc > 0 ? 1
                  : run_fail(err, "cannot read job log '%s': %s", path,
                             strerror(errno));
  }
  size_t ncmd = command_field(b.data, b.len, GNU_FIELDS + (memory != 0));
  for (size_t at = 0; rc == 0 && at < b.len;) {
    const char *nl = memchr(b.data + at, '\n', b.len - at);
    if (nl == NULL)
      break; /* a partial last line: cut off at open */
    size_t n = (size_t)(nl - b.data) - at;
    log_line l;
    if (joblog_line(&probe, b.data + at, n, ncmd, &l) == 0 &&
        retry_set(c, &l) != 0)
      rc = run_fail(err, "out of memory");
    at += n + 1;
  }
  for (size_t i = 0; rc == 0 && i < c->n; i++)
    if (c->v[i] == NULL && (c->v[i] = strdup("")) == NULL)
      rc = run_fail(err, "out of memory");
  run_buf_free(&b);
  return rc;
}

int run_joblog_retry(run_opts *o, run_inputs *in, run_template **tmpl,
                     run_err err) {
  const char *path = o->joblog;
  if (path == NULL || strcmp(path, "-") == 0)
    return 0;
  if (path[0] == '+')
    path++;
  retry_cmds c = {0};
  int rc = retry_read(path, &c, o->memory != 0, err);
  if (rc == 0) {
    run_inputs_free(in);
    in->njobs = 0;
    run_template_free(*tmpl);
    *tmpl = NULL;
    if (c.n > 0) {
      rc = run_inputs_add_list(in, c.v, c.n, 0, err);
    } else if ((in->src = calloc(1, sizeof *in->src)) != NULL) {
      in->nsrc = 1; /* one empty source: no job */
    } else {
      rc = run_fail(err, "out of memory");
    }
    run_template_opts plain = {0};
    if (rc == 0)
      rc = run_inputs_finish(in, err);
    if (rc == 0)
      rc = run_template_parse(tmpl, NULL, 0, &plain, in, err);
    /* the log's succeeded jobs are done: --resume-failed by Seq */
    o->resume_failed = 1;
    o->resume_by = RESUME_BY_SEQ;
  }
  for (size_t i = 0; i < c.n; i++) free(c.v[i]);
  free(c.v);
  return rc < 0 ? -1 : 0;
}
