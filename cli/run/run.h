/* run.h -- the pieces of `parc run` (docs/parc-run.md).
 *
 *   run.c           the scheduling loop on a libparc thread pool, the
 *                   lanes, signals, the exit status (its state: run_state.h)
 *   run_output.c    the jobs' output (--tag, -k, --line-buffer, -u, -v),
 *                   progress (--bar, --eta), the failed jobs' summary
 *   run_limits.c    when a job starts or stops: --halt (its messages and
 *                   exit status), slots ({%}), --delay, --memfree,
 *                   --timeout N%
 *   run_pipe.c      --pipe: stdin cut into chunks, read by a thread
 *   run_ranks.c     the loop's tasks and results across MPI ranks
 *   run_args.c      options and the command line, checked before any job
 *   run_input.c     input sources: ::: lists, :::: files, stdin, --grid axes,
 *                   separators, columns; which values job i takes
 *   run_template.c  the command template: replacement strings, argv or
 *                   `sh -c` string for one job, shell quoting, how many
 *                   values a job takes (-n, -m, -X)
 *   run_perl.c      {= perl =}: the perl co-process that evaluates GNU's
 *                   perl replacement strings (run_perl.h)
 *   run_job.c       one job: spawn, collect output, timeout, stop, reap
 *   run_record.c    what is written down: the results directory and
 *                   results.csv, resume (the records' inside: run_record.h)
 *   run_joblog.c    the job log and its repair; the lock of the records
 *   run_metrics.c   the metrics in a job's stdout: key=value lines, a JSON
 *                   last line
 *   run_best.c      --best: the metric per setting, --average-over
 *   run_sample.c    --sample N: settings drawn from the --grid axes
 *   run_budget.c    --halving's budget axis: its rungs (parc plan's too)
 *   run_halving.c   --halving: successive halving rung by rung, or ASHA
 *   run_memory.c    --memory, --retry-memory: the limit, set by a shim
 *                   (`parc __memory`) in the job's process (run_memory.h)
 *   run_wire.c      a job's result as flat bytes, for mpirun (parc-run-mpi)
 *   run_launch.c    in `parc` only: under mpirun, exec parc-run-mpi
 *   run_mpi_main.c  parc-run-mpi's main: the same files on every rank
 *
 * They live in cli/run/ and include, beyond each other, only common/cli.h
 * (options, usage errors, exit statuses) and libparc's headers; plan/
 * uses run_input.c and run_budget.c so that --grid and --budget mean the
 * same there. Parsing never has side effects: every bad input is found
 * before a job starts or a file is written. Errors from parsing are one
 * line of text in a caller-supplied buffer (run_err, common/cli.h's
 * cli_err). */
#ifndef CLI_RUN_H
#define CLI_RUN_H

#include <regex.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/cli.h"

/* run's name for the command's error buffer (common/cli.h). */
#define RUN_ERR_MAX CLI_ERR_MAX
typedef cli_err run_err;

/* Formats an error message into `err`; returns -1 for `return run_fail(...)`. */
int run_fail(run_err err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Compiles a Perl regexp as GNU parallel's options take one (--colsep,
 * --header) into a POSIX ERE: Perl's escapes turned into ERE forms,
 * between `before` and `after`. 0, or -1 with err ("bad OPT 'RE': ..."). */
int run_perl_regcomp(regex_t *re, const char *opt, const char *perl,
                     const char *before, const char *after, int cflags,
                     run_err err);

/* --pipe --header H (run_pipe.c reads the header): `:` is one line, N
 * the first N lines (*lines), 0 none, anything else the regexp that
 * matches it at the start of stdin (*re). RUN_HEADER_*, or -1 with err. */
enum { RUN_HEADER_NONE, RUN_HEADER_LINES, RUN_HEADER_REGEXP };
int run_pipe_header(regex_t *re, size_t *lines, const char *header,
                    run_err err);

/* A growable byte buffer (output, lines, CSV). */
typedef struct run_buf {
  char *data;
  size_t len, cap;
} run_buf;
int run_buf_add(run_buf *b, const void *p, size_t n); /* 0 or -1 (ENOMEM) */
/* Room for `more` bytes after b's, and a NUL: 0 or -1 (ENOMEM). */
int run_buf_reserve(run_buf *b, size_t more);
int run_buf_str(run_buf *b, const char *s);
/* Appends n bytes as well-formed UTF-8: each byte that does not begin a
 * valid sequence becomes U+FFFD (as Python's errors="replace" does). */
int run_buf_add_utf8(run_buf *b, const void *p, size_t n);
void run_buf_free(run_buf *b);

/* A first-in first-out queue of elements of `size` bytes (set before the
 * first push), grown as needed; once the back reaches the end, the taken
 * front is cut off. front: the oldest (n > 0); pop: takes it. */
typedef struct run_fifo {
  char *v;
  size_t size, head, n, cap;
} run_fifo;
int run_fifo_push(run_fifo *f, const void *e); /* 0 or -1 (ENOMEM) */
static inline void *run_fifo_front(const run_fifo *f) {
  return f->v + f->head * f->size;
}
static inline void run_fifo_pop(run_fifo *f) { f->head++, f->n--; }
void run_fifo_free(run_fifo *f);

/* ---------------------------------------------------------------- inputs */

typedef struct run_source {
  char *name; /* --grid axis name, or NULL for a positional source */
  char **values;
  size_t n;
  int linked;            /* pairs up with the previous source (:::+ / ::::+) */
  size_t stride, len;    /* of its group, set by run_inputs_finish */
  unsigned char *absent; /* --colsep: 1 where a record lacks this column
                            (its value is ""); NULL when none does */
  int axis;              /* a --grid axis */
  char *dist;            /* a --grid distribution for --sample (what follows
                    NAME=), no values yet; else NULL (run_sample.c) */
} run_source;

/* How :::: files, -a files and stdin are read (set before any is added). */
typedef struct run_input_opts {
  char delim[16];      /* record separator: "\n" (default), -0: "\0", -d */
  size_t delim_len;    /* its bytes (it may hold a NUL) */
  const char *colsep;  /* --colsep REGEX: split each record into columns */
  const char *header;  /* --header REGEX: the first record(s) name columns */
  int csv;             /* --csv: records are CSV (--colsep: the separator) */
  int skip_blank;      /* -r: records of only white space are no values */
  const char *eof_str; /* -E STR: a record equal to STR ends its source */
} run_input_opts;

/* A tuple is one value from each source (the cartesian product of the
 * groups of linked sources). A job takes one tuple, or with -n/-N/-m/-X
 * several consecutive ones (run_template_parse decides). --colsep splits
 * a source into one source per column. */
typedef struct run_inputs {
  run_source *src;
  size_t nsrc;
  size_t ntuples; /* product over the groups of linked sources */
  size_t njobs;   /* jobs: ntuples, or fewer when jobs take several */
  size_t per_job; /* > 1: job i takes tuples i*per_job ... (-n, -N) */
  size_t *first;  /* or job i takes first[i] .. first[i+1]-1 (-m, -X) */
  run_input_opts opt;
  const char *job_value; /* without sources: every job's one value (--cat,
                            --fifo: the chunk's path), or NULL */
} run_inputs;

/* A list of values, each as it is (add_list), or the values of a :::
 * list, each read as GNU parallel reads it: split at the record separator
 * it holds (add_args). */
int run_inputs_add_list(run_inputs *in, char **values, size_t n, int linked,
                        run_err err);
int run_inputs_add_args(run_inputs *in, char **values, size_t n, int linked,
                        run_err err);
int run_inputs_add_file(run_inputs *in, const char *path, int linked,
                        run_err err);
int run_inputs_add_grid(run_inputs *in, const char *spec, run_err err);
/* The number written in s[0..n) (the whole of it): *d, and *ll with
 * *is_int when it is an int64 as well. 0, or -1 when it is no finite
 * number (or longer than 63 bytes). --grid's ranges, --sample's
 * distributions, --halving's metrics share it. */
int run_parse_num(const char *s, size_t n, double *d, long long *ll,
                  int *is_int);
/* Adds a --grid axis of the n values (taking them and name). */
int run_inputs_add_axis(run_inputs *in, char *name, char **values, size_t n,
                        run_err err);
/* Counts the tuples (one job each until the template says otherwise);
 * fails when there are too many. No values at all: no jobs. An empty
 * source beside others that have values counts as one "" (GNU's way). */
int run_inputs_finish(run_inputs *in, run_err err);
/* The tuples of job `job`: *count of them from *first. */
void run_inputs_tuples(const run_inputs *in, size_t job, size_t *first,
                       size_t *count);
/* The value index of source s in tuple t (0-based). */
size_t run_inputs_pick_tuple(const run_inputs *in, size_t t, size_t s);
/* The value index of source s in job i's first tuple (0-based). */
size_t run_inputs_pick(const run_inputs *in, size_t job, size_t s);
/* Appends source s's value in job i; a job of several tuples: their
 * values, space-separated. For results and names. 0 or -1 (ENOMEM). */
int run_inputs_value(const run_inputs *in, size_t job, size_t s, run_buf *b);
/* Appends all of job i's values, space-separated, as GNU's --tag shows
 * them (the columns of --colsep too; a missing column is left out). */
int run_inputs_tag(const run_inputs *in, size_t job, run_buf *b);
/* The column name of source s: the axis or --header name, or "argN". */
const char *run_inputs_name(const run_inputs *in, size_t s, char *tmp,
                            size_t tmpsz);
void run_inputs_free(run_inputs *in);

struct run_opts;
/* run_sample.c: is a --grid spec (after NAME=) a distribution for
 * --sample (uniform:, loguniform:, int:)? Checks one; 0 or -1, err set. */
int run_sample_is_dist(const char *spec);
int run_sample_check_dist(const char *name, const char *spec, run_err err);
/* A random order of [0, n) with no table of it (n may be 10^8): a keyed
 * bijection of [0, 2^bits), walked until it lands below n. The same seed,
 * stream and n give the same order; run_perm_at(p, i) for i < n are
 * distinct. n at most 2^62. (run_sample.c: --shuf, and --sample's
 * distinct settings, whose first draws stay when more are asked for.) */
typedef struct run_perm {
  uint64_t key[4];
  unsigned bits;
  uint64_t n;
} run_perm;
void run_perm_init(run_perm *p, uint64_t seed, uint64_t stream, uint64_t n);
uint64_t run_perm_at(const run_perm *p, uint64_t i);
/* --sample N (before run_inputs_finish): the drawn axes replaced by N
 * settings; without --sample, refuses a distribution. 0 or -1, err set. */
int run_sample_apply(run_inputs *in, const struct run_opts *o, run_err err);

/* ---------------------------------------------------------------- template */

typedef struct run_template run_template;

/* How the command is built from the values (options of run_args.c). */
typedef struct run_template_opts {
  int shell;        /* --shell: one `sh -c` script, values quoted */
  int quote;        /* -q: quote the command for the shell GNU runs */
  size_t max_args;  /* -n N / -N N: values per job (0: one tuple) */
  int plus;         /* --plus: GNU's extra replacement strings */
  size_t max_chars; /* -s N (-m, -X): the longest command line, 0: the
                       system's */
  int no_args;      /* -n 0 / -N 0: one tuple per job, none of it in the
                       command ({} and {1} are empty; {#} is the job) */
  int replace_args; /* -N: {1}..{N} are the job's N values */
  int multi;        /* 'X': context replace, 'm': as many as fit, 0 */
  int text;         /* the words are text (--tagstring), never a shell line */
  unsigned slots;   /* -m/-X: the jobs at once (-j), over which the last
                          values are spread as GNU does; 0/1: not spread
                          (--xargs) */
} run_template_opts;

/* n == 0: no command; each input value is a command line (sh -c). The
 * first parse after run_inputs_finish also decides which tuples each job
 * takes (-n, -N, -m, -X) and sets in->njobs; later ones (also on a copy
 * of *in) leave that as it is. */
int run_template_parse(run_template **out, char **words, size_t n,
                       const run_template_opts *topt, run_inputs *in,
                       run_err err);
void run_template_free(run_template *t);
/* The command of job `job` (0-based) in slot `slot` (1-based): argv, NULL-
 * terminated, one malloc block (free(argv) frees it all). In shell mode it
 * is {"/bin/sh", "-c", script}. Also the command line as a shell would read
 * it into *line (malloc'd), for the job log, --dry-run and resume. Returns
 * 0 or -1 (ENOMEM), or with {= perl =} (run_perl.c): RUN_EXPAND_SKIP, the
 * code called skip() (argv and line are made: GNU's dry run prints the
 * line, its job log records Exitval -2 and the job counts as failed), or
 * RUN_EXPAND_DIED, the code died or perl is gone (said on stderr; argv
 * and line NULL: GNU stops there). */
enum { RUN_EXPAND_SKIP = 1, RUN_EXPAND_DIED = 2 };
int run_template_expand(const run_template *t, const run_inputs *in, size_t job,
                        unsigned slot, char ***argv, char **line);
/* Appends `s` to b quoted for sh when it needs quoting. */
int run_shell_quote(run_buf *b, const char *s);

/* ---------------------------------------------------------------- options */

enum run_halt { HALT_NEVER, HALT_SOON, HALT_NOW };
/* What --halt counts: fail=N, success=N, done=N. */
enum run_halt_on { HALT_ON_FAIL, HALT_ON_SUCCESS, HALT_ON_DONE };
/* --halving: none, rung by rung, or asynchronous (ASHA). */
enum run_halving_mode { HALVING_NONE, HALVING_SYNC, HALVING_ASYNC };
/* What --resume matches a job log line by. */
enum run_resume_by { RESUME_BY_COMMAND, RESUME_BY_SEQ };

/* -v prints each command on stdout before its output; -t (GNU's
 * --verbose) on stderr as it starts. */
enum { RUN_VERBOSE_STDOUT = 1, RUN_VERBOSE_STDERR = 2 };
/* -j 0: as many jobs at once as there are, up to this many. */
#define RUN_JOBS_MAX 256
/* --sample N: at most this many settings. */
#define RUN_SAMPLE_MAX 1000000
/* --memory: no job can start in less. */
#define RUN_MEMORY_MIN (1ull << 20)

typedef struct run_opts {
  unsigned jobs;
  int keep_order, tag, line_buffer, shell, dry_run, quiet;
  int resume, resume_failed, retry_failed, minimize;
  enum run_resume_by resume_by; /* --resume-by command|seq */
  unsigned retries, inner_threads;
  double timeout, grace;
  double timeout_pct; /* --timeout N%: N (of the median run time), or 0 */
  enum run_halt halt;
  enum run_halt_on halt_on;
  double halt_fail; /* jobs that halt; a fraction of all jobs if pct */
  int halt_pct;
  int verbose;                /* RUN_VERBOSE_* bits: -v, -t (--verbose) */
  int ungroup;                /* -u: the jobs' output goes straight through */
  const char *tagstring;      /* --tagstring STR (replacement strings); tags */
  int bar, eta;               /* --bar, --eta */
  double delay;               /* --delay SECS between job starts */
  unsigned long long memfree; /* --memfree BYTES: start a job only then */
  int pipe;                   /* --pipe: chunks of stdin to the jobs' stdin */
  enum { RUN_CHUNK_STDIN, RUN_CHUNK_CAT, RUN_CHUNK_FIFO } chunk_as;
  /* --cat, --fifo: the chunk as a file, or a pipe, named by {} */
  size_t block;         /* --block BYTES (default 1 MiB) */
  size_t pipe_records;  /* --pipe -N: records per job (0: by --block) */
  size_t pipe_lines;    /* --pipe -L: lines per record (0: none) */
  const char *recend;   /* --recend STR as given, GNU's escapes in it */
  const char *recstart; /*   (NULL: not given); run_pipe.c reads them */
  int rrs;              /* --rrs: they are removed from the chunks */
  int header_kind;      /* --pipe --header: RUN_HEADER_* (run_pipe_header) */
  size_t header_lines;  /*   RUN_HEADER_LINES: how many */
  regex_t header_re;    /*   RUN_HEADER_REGEXP: compiled once, here */
  run_template_opts tmpl;
  const char *wd;   /* --wd DIR: where the jobs run */
  char **rewritten; /* -I and its kin: the command's words rewritten to
                           parc's replacement strings (the template points
                           into them); free with run_opts_free */
  const char *results, *joblog, *best;
  char **average_over;
  size_t navg;
  /* sweeps beyond the grid: run_sample.c, run_halving.c */
  size_t sample; /* --sample N: N settings drawn from the axes, 0: all */
  unsigned long long seed; /* --seed S: of the draws (default 0) */
  int shuf;                /* --shuf: the jobs in a random order */
  int nice;                /* --nice N: the jobs' niceness (0: parc's own) */
  enum run_halving_mode halving; /* --halving [sync|async] */
  const char *budget; /* --budget NAME=MIN:MAX: the halving's budget axis */
  double factor;      /* --factor F: halving's reduction factor (3) */
  /* memory per job: run_memory.c */
  unsigned long long memory; /* --memory SIZE: each job's limit, 0: none */
  double retry_memory; /* --retry-memory F: again with F times the limit */
} run_opts;

extern const char RUN_USAGE[];
/* run's options and usage errors (run_args.c; exit status 255). */
extern const cli_cmd run_cmd;
/* Frees what run_parse_args allocated in o. */
void run_opts_free(run_opts *o);
/* Parses the arguments after `run`: options into o, the sources into in,
 * the command into *tmpl. Returns 0, 1 for --help, 2 for --version, or -1
 * with err set. */
int run_parse_args(run_opts *o, run_inputs *in, run_template **tmpl, int argc,
                   char **argv, run_err err);

/* ---------------------------------------------------------------- one job */

/* Everything a running job may be told from outside. */
typedef struct run_signals {
  int stop_fd;          /* eventfd: stop running jobs (TERM, grace, KILL) */
  int kill_fd;          /* eventfd: kill running jobs now */
  _Atomic int stopping; /* set before stop_fd is written */
} run_signals;

/* Called with each whole line of output as it comes (--line-buffer). */
typedef void (*run_line_fn)(void *arg, int fd, const char *line, size_t n);

typedef struct run_exec {
  char **argv;
  char **envp;
  double timeout, grace; /* seconds; timeout 0: none */
  const run_signals *sig;
  run_line_fn line_fn; /* NULL: keep output in out/err */
  void *line_arg;
  int close_fds;       /* 1: the job gets no descriptor above 2 */
  int ungroup;         /* -u: the job writes to parc's own stdout and
                              stderr (no pipes; out/err stay empty) */
  int job_stop_fd;     /* eventfd or -1: readable: stop this job alone
                              (TERM, grace, KILL; --memfree); not read */
  const char *in_data; /* --pipe: the job's stdin, in_len bytes, fed
                              through a pipe; NULL: stdin is /dev/null */
  size_t in_len;
  const char *wd;       /* --wd: the job's working directory, or NULL */
  run_line_fn watch_fn; /* or NULL: called with each whole line of the
                              job's stdout as it comes (fd 1), the output
                              kept all the same (--halving's early stop) */
  void *watch_arg;
  unsigned long long mem_limit; /* --memory: bytes, 0: none (run_memory.c) */
  int chunk_fd;  /* --cat, --fifo: in_data reaches the job on this
                    descriptor (its {}: /dev/fd/N), stdin is /dev/null;
                    0: on stdin */
  int chunk_cat; /* --cat: a file (a memfd, all of it there when the job
                    starts), not a pipe */
} run_exec;

#define RUN_HOST_MAX 96

typedef struct run_result {
  int exit_code; /* -1 when killed by a signal */
  int signal;    /* the signal that ended it, or 0 */
  int timed_out;
  int stopped;           /* told to stop by the interrupt or --halt now */
  double start;          /* seconds since the epoch */
  double runtime;        /* seconds */
  size_t sent, received; /* bytes to its stdin (--pipe), from its stdout:
                            the job log's Send and Receive */
  run_buf out, err;
  char host[RUN_HOST_MAX]; /* "hostname:rank" when it ran on another MPI
                              rank; "" when it ran here */
  int oom;                 /* it ran out of its --memory limit (run_memory.c) */
  unsigned long long mem_limit; /* the limit it ran under, 0: none */
  int pruned;                   /* --halving stopped it early: not a failure */
  int stopped_alone; /* parc stopped this job alone (--memfree, --halving's
                        early stop): its end is not its own */
  run_buf notes;     /* key=value lines parc adds to the job's metrics in
                      results.csv (--halving: its rung) */
} run_result;

/* A field of /proc/meminfo ("MemTotal", "MemAvailable") in bytes, or
 * `unknown` (run_limits.c). */
unsigned long long run_meminfo(const char *field, unsigned long long unknown);

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
  const char *joblog;      /* FILE, +FILE (append), - (stdout), or NULL */
  const char *results_dir; /* or NULL */
  int resume, resume_failed;
  int by_seq; /* --resume-by seq: a logged Seq is done */
} run_record_opts;

/* Writes one finished job down: its output files, its row of results.csv;
 * its job log line is kept for run_records_commit. 0, or -1 with err set. */
int run_records_add(run_records *r, size_t job, const char *line,
                    const run_result *res, run_err err);
/* Writes the job log line of job (added, and its output printed: GNU
 * parallel's order), which commits it for --resume; nothing for a job
 * not added. 0, or -1 with err set. */
int run_records_commit(run_records *r, size_t job, run_err err);
/* Before the records open, what the options of the records imply for the
 * rest: --pipe resumes by Seq (every chunk has the same command line);
 * --retry-failed makes the jobs the commands of the job log (FILE or
 * +FILE), one per Seq, each run by sh, skipping the log's succeeded jobs
 * (--resume-failed by Seq), the command line's template and inputs dropped
 * (no log: nothing changes). 0, or -1 with err set. */
int run_records_prepare(run_opts *o, run_inputs *in, run_template **tmpl,
                        run_err err);
void run_records_close(run_records *r); /* r may be NULL */

/* run_metrics.c: calls fn with each metric in a job's stdout, in the order
 * they appear (key=value lines, then the keys of a JSON last line). Every
 * key and value handed on is valid UTF-8 (bytes that are not became
 * U+FFFD). They are not NUL-terminated; they point into `out` or into a
 * buffer that lives until fn returns. */
typedef void (*run_metric_fn)(void *arg, const char *key, size_t kn,
                              const char *val, size_t vn);
void run_metrics_parse(const run_buf *out, run_metric_fn fn, void *arg);
/* The metrics of one line (n bytes, no newline): `key=value`, or several
 * `key=value` words (`step=3 accuracy=0.91`), each a metric. */
void run_metrics_line(const char *s, size_t n, run_metric_fn fn, void *arg);

/* run_best.c: prints the --best table to `f` (halving: of the deepest
 * rung's rows only). */
int run_records_best(const run_records *r, FILE *f, const char *metric,
                     int minimize, char **average_over, size_t navg,
                     int halving, run_err err);
/* Checks that --best / --average-over name known things (before running). */
int run_records_check_axes(const run_inputs *in, char **average_over,
                           size_t navg, run_err err);

/* ---------------------------------------------------------------- sweeps */

/* The rungs of successive halving of nset settings over budgets from min
 * to max with reduction factor `factor`, as scikit-learn's
 * HalvingGridSearchCV with min_resources='exhaust' makes them: as many
 * rungs as it takes to come down to one setting (1 + floor(log_f nset)),
 * fewer when the budget allows fewer; the first budget as large as that
 * allows (max // f^(rungs-1), at least min), each next one f times it
 * (integral: rounded down; at most max). Rung k runs nrun[k] settings:
 * nset, then ceil(nrun[k-1] / f). Fills at most cap rungs; returns how
 * many. */
#define RUN_RUNGS_MAX 64
/* What a source named `name` (NULL: a positional one) is to a sweep: the
 * --budget axis, an --average-over axis, or part of the setting. */
enum { RUN_AXIS_SETTING, RUN_AXIS_AVERAGED, RUN_AXIS_BUDGET };
int run_axis_role(const run_opts *o, const char *name);
/* --budget NAME=MIN:MAX, for parc run and parc plan: NAME a word of
 * letters, digits and _ (not starting with a digit), 0 < MIN <= MAX;
 * integral when both are written as whole numbers. 0 or -1. */
typedef struct run_budget {
  char name[64];
  double min, max;
  int integral;
} run_budget;
int run_budget_parse(const char *spec, run_budget *b);
/* --halving (after run_inputs_finish): adds the --budget axis, its values
 * the rungs' budgets, last (so it varies fastest), and finishes the
 * inputs again. 0, or -1 with err set. */
int run_halving_prepare(run_inputs *in, const run_opts *o, run_err err);
size_t run_halving_rungs(size_t nset, double min, double max, double factor,
                         int integral, double *budget, size_t *nrun,
                         size_t cap);

/* ---------------------------------------------------------------- mpirun */

/* parc run across MPI ranks (parc-run-mpi, cli/run/run_mpi_main.c): the same
 * loop on a PARC_MPI pool; see run.c and run_ranks.c. */
enum {
  RUN_AGREE_RANK0 = 1,  /* rank 0 is not ready */
  RUN_AGREE_OTHERS = 2, /* some rank is not ready or sees other jobs */
  RUN_AGREE_DIFFERS = 4 /* this rank sees other jobs than rank 0 */
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
