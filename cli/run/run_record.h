/* run_record.h -- the inside of a run_records, for the files that share
 * it: run_record.c fills the results table as jobs finish and writes it
 * out; run_joblog.c keeps the job log and the lock; run_best.c reads the
 * table for the --best summary; run.c opens the records with the lock,
 * asks them which jobs --resume skips, and hands the lock to the jobs.
 *
 * The columns, in order: "job", one per axis (source), the NTAIL fixed
 * ones (exit, signal, start, runtime, host), then the metrics in the order
 * they were first seen. A row is one job's setting: a re-run of the same
 * values replaces it. Every column name and cell is valid UTF-8. */
#ifndef CLI_RUN_RECORD_H
#define CLI_RUN_RECORD_H

#include <string.h>

#include "run.h"

#define NTAIL 5u /* the fixed columns between the axes and the metrics */

typedef struct row {
  char *key;   /* the job's values (as UTF-8) joined by \x1f */
  char **cell; /* by column; NULL: empty */
  size_t ncell;
} row;

typedef struct hset { /* open-addressing set of non-zero 64-bit hashes */
  uint64_t *v;
  size_t cap, n;
} hset;

struct run_records {
  const run_inputs *in;
  /* the job log and the lock: run_joblog.c */
  char *joblog;       /* --joblog FILE (less a '+'), or NULL */
  int joblog_fd;      /* appends; -1: no job log, or read only */
  int joblog_append;  /* --joblog +FILE: never cut, never a header */
  int joblog_stdout;  /* --joblog -: stdout (joblog NULL, fd -1) */
  int joblog_regular; /* a regular file (else never cut nor rewritten) */
  int lock_fd[2];     /* flock(2) on the job log and on DIR; -1: none */
  int by_seq;         /* resume keys: Seq (--resume-by seq), not Command */
  hset done;          /* resume: the keys the log has as done */
  hset stale;         /* resume: logged, but to run again (run.c) */
  size_t *pend_key;   /* lines added, not committed: job + 1, or 0 */
  char **pend_line;
  size_t pend_cap, pend_n;
  /* the results table: run_record.c */
  char *dir;  /* --results DIR, or NULL */
  char **col; /* column names */
  size_t ncol;
  size_t first_metric; /* columns before this are fixed */
  row *rows;
  size_t nrows;
  size_t *row_at; /* hash index of rows by key: row index + 1 */
  size_t row_cap;
  int csv_stale; /* the file must be rewritten whole */
  char host[256];
};

/* The index of column `name`, or -1. */
static inline int find_col(const run_records *r, const char *name) {
  for (size_t i = 0; i < r->ncol; i++)
    if (strcmp(r->col[i], name) == 0)
      return (int)i;
  return -1;
}

/* ------------------------------------------------------------ for run.c */

#define RUN_RECORDS_BUSY 1

/* Opens the records of a run (run_record_opts: run.h). A run that
 * writes first takes the lock of its job log and results directory (if
 * another run, or jobs left running by a killed one, hold it: waits up to
 * a second, then returns RUN_RECORDS_BUSY with err naming the file, having
 * written nothing), then cleans up after a crash (a leftover
 * results.csv.tmp or job log .tmp, a partial last line of the log), then
 * reads what --resume needs. `writing` 0 (--dry-run, mpirun's ranks > 0):
 * no lock, nothing written. Returns 0, RUN_RECORDS_BUSY or -1, err set. */
int run_records_start(run_records **out, const run_inputs *in,
                      const run_record_opts *o, int writing, run_err err);
/* --resume: is job `job` (command line `line`) done? It is when the log
 * has it (as succeeded with --resume-failed) and, with --results, its row
 * and output files are there. A logged job that is not done runs again,
 * and run_records_repair drops its old line. 1, 0, or -1 (ENOMEM). */
int run_records_skip(run_records *r, size_t job, const char *line);
/* Drops the lines of the jobs run_records_skip sent to run again from the
 * job log, rewritten whole (FILE.tmp renamed over FILE), so that each job
 * ends with one line. Call once, after every run_records_skip and before
 * the first run_records_add. 0, or -1 with err set. */
int run_records_repair(run_records *r, run_err err);
/* --halving --resume: the metric of job `job` in the table: 1 and *v when
 * its row is there, it exited 0 and the metric is a finite number; 2 when
 * the row says it was stopped early (pruned); else 0. */
int run_records_score(const run_records *r, size_t job, const char *metric,
                      double *v);
/* The lock's descriptors (close-on-exec; run_job_inherit hands them to
 * every job). Returns how many (0..2). */
size_t run_records_lock_fds(const run_records *r, int fds[2]);

/* ------------------------------------ between run_record.c and run_joblog.c */

/* 64-bit FNV-1a; never 0, which marks an empty slot of a hash table. */
static inline uint64_t run_fnv1a(const void *p, size_t n) {
  const unsigned char *s = p;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
  return h ? h : 1;
}
/* Writes all n bytes (again after EINTR): 0, or -1 with errno. */
int run_write_all(int fd, const char *p, size_t n);
/* The whole file at path into b. 0, 1 when it does not exist, or -1. */
int run_slurp(const char *path, run_buf *b);

/* run_joblog.c, called by the records' start, skip, add and close. Each
 * returns 0 or -1 (err set where there is one) unless it says otherwise. */

/* Takes the lock (see run_records_start): 0, RUN_RECORDS_BUSY or -1. */
int run_joblog_lock(run_records *r, run_err err);
/* Under the lock: removes a leftover FILE.tmp, opens the log to append
 * (cut to nothing first unless resume or +FILE) and cuts a partial last
 * line off; writes the header to an empty log (not to a +FILE). With
 * `--joblog -`, writes the header to stdout. Nothing to do without
 * --joblog. */
int run_joblog_open(run_records *r, int resume, run_err err);
/* --resume: reads which jobs the log has as done (with ok_only, only the
 * ones that succeeded). */
int run_joblog_read(run_records *r, int ok_only, run_err err);
/* Does the log have job `job` (command line `line`) as done? 1, 0, or -1
 * (ENOMEM); *key is its resume key for run_joblog_redo. */
int run_joblog_done(const run_records *r, size_t job, const char *line,
                    uint64_t *key);
/* The job of `key` runs again: run_records_repair drops its line. */
int run_joblog_redo(run_records *r, uint64_t key);
/* Makes job's line, to be written by run_joblog_commit; 0 (also without
 * --joblog), or -1 (ENOMEM). */
int run_joblog_add(run_records *r, size_t job, const char *line,
                   const run_result *res);
/* Appends job's line, the job's commit record; 0 when it has none. -1
 * with errno: a partial line is cut off at once, or else by the next
 * start. */
int run_joblog_commit(run_records *r, size_t job);
/* --retry-failed (run_records_prepare). */
int run_joblog_retry(run_opts *o, run_inputs *in, run_template **tmpl,
                     run_err err);
/* Closes the log, releases the lock, frees the log's part of r. */
void run_joblog_close(run_records *r);

#endif
