/* run.h -- the pieces of `parc run` (docs/parc-run.md).
 *
 *   run.c           the scheduling loop on a libparc thread pool, the
 *                   lanes, signals, the exit status (its state: run_state.h)
 *   run_output.c    the jobs' output (--tag, -k, --line-buffer), progress
 *   run_ranks.c     the loop's tasks and results across MPI ranks
 *   run_args.c      options and the command line, checked before any job
 *   run_input.c     input sources: ::: lists, :::: files, stdin, --grid axes,
 *                   and which values job i takes (cartesian and linked)
 *   run_template.c  the command template: replacement strings, argv or
 *                   `sh -c` string for one job, shell quoting
 *   run_job.c       one job: spawn, collect output, timeout, stop, reap
 *   run_record.c    what is written down: the results directory and
 *                   results.csv, resume (the records' inside: run_record.h)
 *   run_joblog.c    the job log and its repair; the lock of the records
 *   run_metrics.c   the metrics in a job's stdout: key=value lines, a JSON
 *                   last line
 *   run_best.c      --best: the metric per setting, --average-over
 *   run_wire.c      a job's result as flat bytes, for mpirun (parc-run-mpi)
 *   run_launch.c    in `parc` only: under mpirun, exec parc-run-mpi
 *
 * Parsing never has side effects: every bad input is found before a job
 * starts or a file is written. Errors from parsing are one line of text
 * in a caller-supplied buffer (run_err). */
#ifndef PARC_CLI_RUN_H
#define PARC_CLI_RUN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define RUN_ERR_MAX 512
typedef char run_err[RUN_ERR_MAX];

/* Formats an error message into `err`; returns -1 for `return run_fail(...)`. */
int run_fail(run_err err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A growable byte buffer (output, lines, CSV). */
typedef struct run_buf {
  char *data;
  size_t len, cap;
} run_buf;
int run_buf_add(run_buf *b, const void *p, size_t n); /* 0 or -1 (ENOMEM) */
int run_buf_str(run_buf *b, const char *s);
/* Appends n bytes as well-formed UTF-8: each byte that does not begin a
 * valid sequence becomes U+FFFD (as Python's errors="replace" does). */
int run_buf_add_utf8(run_buf *b, const void *p, size_t n);
void run_buf_free(run_buf *b);

/* ---------------------------------------------------------------- inputs */

typedef struct run_source {
  char *name;    /* --grid axis name, or NULL for a positional source */
  char **values;
  size_t n;
  int linked;    /* pairs up with the previous source (:::+ / ::::+) */
  size_t stride, len; /* of its group, set by run_inputs_finish */
} run_source;

typedef struct run_inputs {
  run_source *src;
  size_t nsrc;
  size_t njobs;  /* product over the groups of linked sources */
} run_inputs;

int run_inputs_add_list(run_inputs *in, char **values, size_t n, int linked,
                        run_err err);
int run_inputs_add_file(run_inputs *in, const char *path, int linked,
                        run_err err);
int run_inputs_add_grid(run_inputs *in, const char *spec, run_err err);
/* Counts the jobs; fails when there are none or too many. */
int run_inputs_finish(run_inputs *in, run_err err);
/* The value index of source s in job i (0-based). */
size_t run_inputs_pick(const run_inputs *in, size_t job, size_t s);
/* The column name of source s: the axis name or "argN". */
const char *run_inputs_name(const run_inputs *in, size_t s, char *tmp,
                            size_t tmpsz);
void run_inputs_free(run_inputs *in);

/* ---------------------------------------------------------------- template */

typedef struct run_template run_template;

int run_template_parse(run_template **out, char **words, size_t n, int shell,
                       const run_inputs *in, run_err err);
void run_template_free(run_template *t);
/* The command of job `job` (0-based) in slot `slot` (1-based): argv, NULL-
 * terminated, one malloc block (free(argv) frees it all). In shell mode it
 * is {"/bin/sh", "-c", script}. Also the command line as a shell would read
 * it into *line (malloc'd), for the job log, --dry-run and resume. Returns
 * 0 or -1 (ENOMEM). */
int run_template_expand(const run_template *t, const run_inputs *in,
                        size_t job, unsigned slot, char ***argv, char **line);
/* Appends `s` to b quoted for sh when it needs quoting. */
int run_shell_quote(run_buf *b, const char *s);

/* ---------------------------------------------------------------- options */

enum run_halt { HALT_NEVER, HALT_SOON, HALT_NOW };

typedef struct run_opts {
  unsigned jobs;
  int keep_order, tag, line_buffer, shell, dry_run, quiet;
  int resume, resume_failed, minimize;
  unsigned retries, inner_threads;
  double timeout, grace;
  enum run_halt halt;
  double halt_fail;  /* failures that halt; a fraction of all jobs if pct */
  int halt_pct;
  const char *results, *joblog, *best;
  char **average_over;
  size_t navg;
} run_opts;

extern const char RUN_USAGE[];
/* Parses the arguments after `run`: options into o, the sources into in,
 * the command into *tmpl. Returns 0, 1 for --help, or -1 with err set. */
int run_parse_args(run_opts *o, run_inputs *in, run_template **tmpl,
                   int argc, char **argv, run_err err);

/* ---------------------------------------------------------------- one job */

/* Everything a running job may be told from outside. */
typedef struct run_signals {
  int stop_fd;  /* eventfd: stop running jobs (TERM, grace, KILL) */
  int kill_fd;  /* eventfd: kill running jobs now */
  _Atomic int stopping; /* set before stop_fd is written */
} run_signals;

/* Called with each whole line of output as it comes (--line-buffer). */
typedef void (*run_line_fn)(void *arg, int fd, const char *line, size_t n);

typedef struct run_exec {
  char **argv;
  char **envp;
  double timeout, grace;   /* seconds; timeout 0: none */
  const run_signals *sig;
  run_line_fn line_fn;     /* NULL: keep output in out/err */
  void *line_arg;
  int close_fds;           /* 1: the job gets no descriptor above 2 */
} run_exec;

#define RUN_HOST_MAX 96

typedef struct run_result {
  int exit_code;   /* -1 when killed by a signal */
  int signal;      /* the signal that ended it, or 0 */
  int timed_out;
  int stopped;     /* told to stop by the interrupt or --halt now */
  double start;    /* seconds since the epoch */
  double runtime;  /* seconds */
  run_buf out, err;
  char host[RUN_HOST_MAX]; /* "hostname:rank" when it ran on another MPI
                              rank; "" when it ran here */
} run_result;

/* Runs one job to its end. Never fails: a job that cannot start is a job
 * that exited 127 with the reason on its stderr. */
void run_job_exec(const run_exec *x, run_result *r);
/* The current time, seconds since the epoch. */
double run_wall_now(void);

/* ---------------------------------------------------------------- records */

/* Parses one CSV record (RFC 4180) at *p and moves *p past it and its
 * line end (\n or \r\n outside quotes). The fields go into `fields` one
 * after another, each NUL-terminated. Returns the number of fields. */
size_t run_csv_record(char **p, run_buf *fields);

/* A run's job log and results directory, opened (and locked) by
 * run_records_start in run_record.h. */
typedef struct run_records run_records;

typedef struct run_record_opts {
  const char *joblog;      /* or NULL */
  const char *results_dir; /* or NULL */
  int resume, resume_failed;
} run_record_opts;

/* Writes one finished job down: its output files, its row of results.csv,
 * then its job log line, which commits it for --resume. 0, or -1 with err
 * set. */
int run_records_add(run_records *r, size_t job, const char *line,
                    const run_result *res, run_err err);
void run_records_close(run_records *r); /* r may be NULL */

/* run_metrics.c: calls fn with each metric in a job's stdout, in the order
 * they appear (key=value lines, then the keys of a JSON last line). Every
 * key and value handed on is valid UTF-8 (bytes that are not became
 * U+FFFD). They are not NUL-terminated; they point into `out` or into a
 * buffer that lives until fn returns. */
typedef void (*run_metric_fn)(void *arg, const char *key, size_t kn,
                              const char *val, size_t vn);
void run_metrics_parse(const run_buf *out, run_metric_fn fn, void *arg);

/* run_best.c: prints the --best table to `f`. */
int run_records_best(const run_records *r, FILE *f, const char *metric,
                     int minimize, char **average_over, size_t navg,
                     run_err err);
/* Checks that --best / --average-over name known things (before running). */
int run_records_check_axes(const run_inputs *in, char **average_over,
                           size_t navg, run_err err);

/* ---------------------------------------------------------------- mpirun */

/* parc run across MPI ranks (parc-run-mpi, cli/run_mpi_main.c): the same
 * loop on a PARC_MPI pool; see run.c and run_ranks.c. */
enum {
  RUN_AGREE_RANK0 = 1,   /* rank 0 is not ready */
  RUN_AGREE_OTHERS = 2,  /* some rank is not ready or sees other jobs */
  RUN_AGREE_DIFFERS = 4  /* this rank sees other jobs than rank 0 */
};

typedef struct run_mpi {
  int rank, size;
  /* Collective: every rank calls it once, before the pool, with whether it
   * is ready and a digest of the jobs it sees. Returns 0 when every rank
   * is ready and sees rank 0's jobs, else RUN_AGREE_* bits. */
  int (*agree)(int ready, uint64_t digest);
} run_mpi;

/* `parc run` with the arguments after `run`; m NULL: on this machine. On
 * ranks > 0 it prints nothing unless that rank alone cannot start, and
 * returns 0 once rank 0 is done. */
int run_main(int argc, char **argv, const run_mpi *m);

/* run_wire.c: the flat result of a job that ran on another rank. */
size_t run_wire_res_size(void);
/* Writes run_wire_res_size() bytes at out (output cut to its bounds). */
void run_wire_put(void *out, const run_result *r, int not_started,
                  unsigned slot);
/* Reads them back into r (its out/err replaced). 0, or -1 (ENOMEM, or
 * bytes that are not a result). */
int run_wire_get(const void *in, run_result *r, int *not_started,
                 unsigned *slot);

/* run_ranks.c: the ranks an MPI launcher says it started (its variables:
 * run_launch.c), 0 if it says nothing. */
long run_launcher_ranks(void);

/* run_launch.c: when `parc run` runs as one of several MPI ranks (the
 * launcher's environment says so), execs parc-run-mpi with the same
 * arguments; if that helper is missing, says so and exits 2. Returns when
 * not under a launcher (or PARC_RUN_MPI=0). */
void run_launch_mpi(int argc, char **argv);

#endif
