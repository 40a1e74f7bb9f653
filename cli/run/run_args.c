/* run_args.c -- the command line of `parc run`: options, the command
 * template and the input sources, all checked before anything runs. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "parc.h"
#include "run.h"

const char RUN_USAGE[] =
    "usage: parc run [OPTIONS] [COMMAND [ARG...]] [::: VALUES... | :::+ "
    "VALUES...\n"
    "                | :::: FILE... | ::::+ FILE...]...\n"
    "\n"
    "Runs COMMAND once per combination of the input values, on every core;\n"
    "without COMMAND each input value is a command line. Input: the ::: and\n"
    ":::: sources, -a files, --grid axes, else stdin.\n"
    "Replacement strings: {} {1}..{n} {NAME} {#} {%} {.} {/} {//} {/.}\n"
    "(--plus: also {..} {...} {+.} {+..} {+...} {+/} {/..} {/...} {##})\n"
    "\n"
    "Jobs and input:\n"
    "  -j, --jobs N          jobs at once: N, N% or +N/-N of the cores, 0: "
    "all\n"
    "      --grid NAME=SPEC  a named axis: v1,v2,...  A:B[:STEP]  FROM..TOxN\n"
    "  -a, --arg-file FILE   an input source, as :::: FILE\n"
    "  -0, --null            input records end with NUL (-d DELIM: with "
    "DELIM)\n"
    "  -C, --colsep REGEX    split input records into columns {1} {2} ...\n"
    "  -r, --no-run-if-empty  blank records are no values (-E STR: STR ends\n"
    "                        its source)\n"
    "      --header REGEX    the first record names the columns ({NAME});\n"
    "                        with --pipe it goes before each chunk\n"
    "      --csv             input records are CSV\n"
    "  -n, --max-args N      up to N values per job (-N N: as {1}..{N})\n"
    "  -m, -X, --xargs       as many values per job as fit (-X: in context;\n"
    "                        -s N: in N characters)\n"
    "  -q, --quote           the command's words as written, never shell "
    "syntax\n"
    "      --shell           run with sh -c (values are quoted)\n"
    "      --pipe            cut stdin into chunks of about --block SIZE, "
    "one\n"
    "                        per job, on its stdin: -N N records per chunk,\n"
    "                        -L N lines per record\n"
    "      --cat, --fifo     --pipe, each chunk in a file (a pipe) named by "
    "{}\n"
    "      --recend STR      records end with STR (default \\n); --recstart "
    "STR:\n"
    "                        they start with STR; --rrs: remove them\n"
    "\n"
    "Output:\n"
    "  -k, --keep-order      print outputs in input order\n"
    "      --tag             prefix output lines with the job's values\n"
    "      --tagstring STR   prefix output lines with STR, expanded per job\n"
    "      --line-buffer, --lb  print output line by line as it comes\n"
    "  -u, --ungroup         output straight through, not grouped by job\n"
    "  -v                    print each command before its output\n"
    "  -t, --verbose         print each command on stderr as it starts\n"
    "      --dry-run         print the commands, run nothing\n"
    "      --bar, --eta      a progress bar, an estimate of the time left\n"
    "      --quiet           no progress\n"
    "\n"
    "Records and failures:\n"
    "      --results DIR     outputs and DIR/results.csv (with metrics)\n"
    "      --joblog FILE     GNU parallel's job log (+FILE: append; -: "
    "stdout)\n"
    "      --resume          skip jobs the job log has (--resume-failed: as\n"
    "                        succeeded); --resume-by command|seq\n"
    "      --retry-failed    run again the failed jobs of the job log\n"
    "      --retries N       run a failing job up to N times in all\n"
    "      --timeout SECS    stop a job after SECS, or N% of the median time\n"
    "      --grace SECS      between TERM and KILL (default 1)\n"
    "      --halt WHEN       never | now|soon,fail|success|done=N or N%\n"
    "      --delay SECS      between job starts\n"
    "      --memfree SIZE    start a job only when SIZE memory is free\n"
    "      --nice N          run the jobs at niceness N; --shuf: in a random "
    "order\n"
    "      --memory SIZE     each job's memory limit (--retry-memory F: a job\n"
    "                        out of memory runs again with F times as much)\n"
    "\n"
    "Grid searches:\n"
    "      --inner-threads N OMP/OPENBLAS/MKL_NUM_THREADS for the jobs\n"
    "      --best METRIC     print METRIC per setting and the best one\n"
    "      --minimize        lower METRIC is better\n"
    "      --average-over NAME  average METRIC over this axis (e.g. fold)\n"
    "      --sample N        N settings drawn from the axes (SPEC may also be\n"
    "                        uniform:A:B, loguniform:A:B, int:A:B); --seed S\n"
    "      --halving [async] successive halving over --budget NAME=MIN:MAX,\n"
    "                        keeping the best 1/F each rung (--factor F, 3)\n"
    "  -h, --help            this help\n"
    "\n"
    "Short options bundle (-kj2); long ones take --opt=value and unique\n"
    "prefixes. Exit: 0 if all jobs succeeded, else the number that failed (at\n"
    "most 101; --halt: GNU parallel's status); 255 for bad usage; 130/143 "
    "when\n"
    "stopped by SIGINT/SIGTERM. See docs/parc-run.md.\n";

/* ------------------------------------------------------------ values */

static int parse_uint(const char *s, unsigned *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (*s == '\0' || *s == '-' || *s == '+' || *end || errno || v > 1000000)
    return -1;
  *out = (unsigned)v;
  return 0;
}

/* Seconds, with GNU parallel's optional unit: 1.5, 90s, 2m, 1h, 1d. */
static int parse_secs(const char *s, double *out) {
  static const struct {
    char c;
    double secs;
  } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
  char *end;
  double v = strtod(s, &end);
  if (*s == '\0' || end == s || !isfinite(v) || v < 0)
    return -1;
  if (*end) {
    size_t k = 0;
    while (k < 4 && units[k].c != *end) k++;
    if (k == 4 || end[1] != '\0')
      return -1;
    v *= units[k].secs;
  }
  *out = v;
  return 0;
}

/* A size as GNU parallel writes one: a number with an optional suffix,
 * K M G T P in powers of 1024, k m g t p in powers of 1000, and either
 * followed by i (ki, Ki: 1024). */
static int parse_size(const char *s, unsigned long long *out) {
  static const char suffix[] = "kmgtp";
  char *end;
  double v = strtod(s, &end);
  if (end == s || !isfinite(v) || v < 0)
    return -1;
  if (*end) {
    const char *at = strchr(suffix, tolower((unsigned char)*end));
    int binary = end[1] == 'i' || end[1] == 'I';
    if (at == NULL || end[1 + binary] != '\0')
      return -1;
    double unit = binary || isupper((unsigned char)*end) ? 1024 : 1000;
    for (const char *k = suffix; k <= at; k++) v *= unit;
  }
  if (v >= 18e18)
    return -1;
  *out = (unsigned long long)v;
  return 0;
}

/* A count of lines, as GNU's -L takes one: N, or N with a size's suffix
 * (-L 1k: 1000 lines), or a fraction (see check_options). */
static int parse_lines(const char *s, double *out) {
  unsigned long long v;
  char *end;
  double d = strtod(s, &end);
  if (parse_size(s, &v) != 0 || v >= 1000000000)
    return -1;
  *out = end != s && *end == '\0' ? d : (double)v;
  return 0;
}

/* -j N | N% | +N | -N (relative to the cores) | 0 (all at once). */
static int parse_jobs(const char *s, unsigned cores, unsigned *out, int *all) {
  size_t n = strlen(s);
  unsigned v;
  *all = 0;
  if (n > 1 && s[n - 1] == '%') {
    char tmp[32];
    if (n >= sizeof tmp)
      return -1;
    memcpy(tmp, s, n - 1);
    tmp[n - 1] = '\0';
    if (parse_uint(tmp, &v) != 0 || v == 0)
      return -1;
    v = (unsigned)((unsigned long)cores * v / 100);
    *out = v ? v : 1;
    return 0;
  }
  if (s[0] == '+' || s[0] == '-') {
    if (parse_uint(s + 1, &v) != 0)
      return -1;
    long j = s[0] == '+' ? (long)cores + v : (long)cores - (long)v;
    if (j < 1)
      return -2; /* GNU: "Cannot run any jobs" */
    *out = (unsigned)j;
    return 0;
  }
  if (parse_uint(s, &v) != 0)
    return -1;
  *all = v == 0;
  *out = v;
  return 0;
}

/* --halt never | 0 | 1 | 2 | -1 | -2 | N% | now|soon,fail|success|done=N[%]
 * (the numbers are GNU's older forms: 1 soon,fail=1; 2 now,fail=1; -1
 * soon,success=1; -2 now,success=1; N% soon,fail=N%). */
static int parse_halt(const char *s, run_opts *o) {
  static const struct {
    const char *s;
    enum run_halt when;
  } whens[] = {{"now,", HALT_NOW}, {"soon,", HALT_SOON}};
  static const struct {
    const char *s;
    enum run_halt_on on;
  } ons[] = {{"fail=", HALT_ON_FAIL},
             {"success=", HALT_ON_SUCCESS},
             {"done=", HALT_ON_DONE}};
  o->halt = HALT_NEVER;
  o->halt_on = HALT_ON_FAIL;
  o->halt_pct = 0;
  o->halt_fail = 1;
  if (!strcmp(s, "never") || !strcmp(s, "0"))
    return o->halt = HALT_NEVER, 0;
  if (!strcmp(s, "1") || !strcmp(s, "-1"))
    o->halt = HALT_SOON;
  if (!strcmp(s, "2") || !strcmp(s, "-2"))
    o->halt = HALT_NOW;
  if (o->halt != HALT_NEVER) {
    if (s[0] == '-')
      o->halt_on = HALT_ON_SUCCESS;
    return 0;
  }
  char pct[32];
  if (isdigit((unsigned char)s[0]) && strlen(s) < sizeof pct - 10) {
    snprintf(pct, sizeof pct, "soon,fail=%s", s);
    if (strchr(s, '%'))
      return parse_halt(pct, o);
  }
  const char *rest = NULL;
  for (size_t i = 0; i < 2 && !rest; i++)
    if (!strncmp(s, whens[i].s, strlen(whens[i].s)))
      o->halt = whens[i].when, rest = s + strlen(whens[i].s);
  if (rest == NULL)
    return -1;
  const char *num = NULL;
  for (size_t i = 0; i < 3 && !num; i++)
    if (!strncmp(rest, ons[i].s, strlen(ons[i].s)))
      o->halt_on = ons[i].on, num = rest + strlen(ons[i].s);
  if (num == NULL)
    return -1;
  char *end;
  double v = strtod(num, &end);
  o->halt_pct = *end == '%';
  if (end == num || (*end && strcmp(end, "%") != 0) || !(v > 0) ||
      (o->halt_pct && v > 100) || v != floor(v))
    return -1;
  o->halt_fail = v;
  return 0;
}

/* -d DELIM: C escapes (\n \t \0 \\ \xHH ...) as GNU parallel reads them;
 * the result is kept in buf (a NUL is a separator like any other). */
static int parse_delim(const char *s, char *buf, size_t cap, size_t *len) {
  size_t n = 0;
  while (*s) {
    char c = *s++;
    if (c == '\\' && *s) {
      static const char from[] = "ntr0ab\\fv", to[] = "\n\t\r\0\a\b\\\f\v";
      const char *at = strchr(from, *s);
      if (*s == 'x' && isxdigit((unsigned char)s[1])) {
        char hex[3] = {s[1], isxdigit((unsigned char)s[2]) ? s[2] : 0, 0};
        c = (char)strtol(hex, NULL, 16);
        s += 1 + strlen(hex);
      } else if (at && *s) {
        c = to[at - from];
        s++;
      }
    }
    if (n == cap)
      return -1;
    buf[n++] = c;
  }
  *len = n;
  return n ? 0 : -1;
}

/* ------------------------------------------------------------ options */

/* Long options only: the ids above the characters of the short ones. */
enum {
  O_TAG = 256,
  O_TAGSTRING,
  O_LINEBUF,
  O_SHELL,
  O_GRID,
  O_RESULTS,
  O_JOBLOG,
  O_RESUME,
  O_RESUME_FAILED,
  O_RETRY_FAILED,
  O_RESUME_BY,
  O_RETRIES,
  O_TIMEOUT,
  O_GRACE,
  O_HALT,
  O_DRY,
  O_INNER,
  O_BEST,
  O_MINIMIZE,
  O_AVG,
  O_QUIET,
  O_HEADER,
  O_CSV,
  O_XARGS,
  O_PIPE,
  O_CAT,
  O_FIFO,
  O_BLOCK,
  O_BAR,
  O_ETA,
  O_DELAY,
  O_MEMFREE,
  O_VERSION,
  O_WD,
  O_GROUP,
  O_ENV,
  O_REPLACE,
  O_ER,
  O_BNR,
  O_DNR,
  O_BNER,
  O_SEQR,
  O_SLOTR,
  O_SAMPLE,
  O_SEED,
  O_HALVING,
  O_BUDGET,
  O_FACTOR,
  O_MEMORY,
  O_RETRY_MEMORY,
  O_SHUF,
  O_NICE,
  O_PLUS,
  O_RECEND,
  O_RECSTART,
  O_RRS
};

/* GNU parallel's names, its aliases (--jl, --lb, --dryrun ...), and parc's
 * own (--grid, --best ...). getopt_long also takes unique prefixes. */
static const struct option LONG_OPTIONS[] = {
    {"jobs", required_argument, NULL, 'j'},
    {"max-procs", required_argument, NULL, 'j'},
    {"keep-order", no_argument, NULL, 'k'},
    {"tag", no_argument, NULL, O_TAG},
    {"tagstring", required_argument, NULL, O_TAGSTRING},
    {"line-buffer", no_argument, NULL, O_LINEBUF},
    {"lb", no_argument, NULL, O_LINEBUF},
    {"ungroup", no_argument, NULL, 'u'},
    {"verbose", no_argument, NULL, 't'},
    {"quote", no_argument, NULL, 'q'},
    {"shell", no_argument, NULL, O_SHELL},
    {"grid", required_argument, NULL, O_GRID},
    {"arg-file", required_argument, NULL, 'a'},
    {"null", no_argument, NULL, '0'},
    {"delimiter", required_argument, NULL, 'd'},
    {"colsep", required_argument, NULL, 'C'},
    {"header", required_argument, NULL, O_HEADER},
    {"csv", no_argument, NULL, O_CSV},
    {"no-run-if-empty", no_argument, NULL, 'r'},
    {"eof", required_argument, NULL, 'E'},
    {"max-args", required_argument, NULL, 'n'},
    {"max-replace-args", required_argument, NULL, 'N'},
    {"xargs", no_argument, NULL, O_XARGS},
    {"pipe", no_argument, NULL, O_PIPE},
    {"spreadstdin", no_argument, NULL, O_PIPE},
    {"cat", no_argument, NULL, O_CAT},
    {"fifo", no_argument, NULL, O_FIFO},
    {"block", required_argument, NULL, O_BLOCK},
    {"block-size", required_argument, NULL, O_BLOCK},
    {"recend", required_argument, NULL, O_RECEND},
    {"recstart", required_argument, NULL, O_RECSTART},
    {"remove-rec-sep", no_argument, NULL, O_RRS},
    {"rrs", no_argument, NULL, O_RRS},
    {"results", required_argument, NULL, O_RESULTS},
    {"joblog", required_argument, NULL, O_JOBLOG},
    {"jl", required_argument, NULL, O_JOBLOG},
    {"resume", no_argument, NULL, O_RESUME},
    {"resume-failed", no_argument, NULL, O_RESUME_FAILED},
    {"retry-failed", no_argument, NULL, O_RETRY_FAILED},
    {"resume-by", required_argument, NULL, O_RESUME_BY},
    {"retries", required_argument, NULL, O_RETRIES},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"grace", required_argument, NULL, O_GRACE},
    {"halt", required_argument, NULL, O_HALT},
    {"halt-on-error", required_argument, NULL, O_HALT},
    {"delay", required_argument, NULL, O_DELAY},
    {"memfree", required_argument, NULL, O_MEMFREE},
    {"dry-run", no_argument, NULL, O_DRY},
    {"dryrun", no_argument, NULL, O_DRY},
    {"bar", no_argument, NULL, O_BAR},
    {"eta", no_argument, NULL, O_ETA},
    {"inner-threads", required_argument, NULL, O_INNER},
    {"best", required_argument, NULL, O_BEST},
    {"minimize", no_argument, NULL, O_MINIMIZE},
    {"average-over", required_argument, NULL, O_AVG},
    {"quiet", no_argument, NULL, O_QUIET},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, O_VERSION},
    {"max-lines", optional_argument, NULL, 'l'},
    {"max-chars", required_argument, NULL, 's'},
    {"wd", required_argument, NULL, O_WD},
    {"workdir", required_argument, NULL, O_WD},
    {"group", no_argument, NULL, O_GROUP},
    {"env", required_argument, NULL, O_ENV},
    {"replace", optional_argument, NULL, O_REPLACE},
    {"extensionreplace", required_argument, NULL, O_ER},
    {"er", required_argument, NULL, O_ER},
    {"basenamereplace", required_argument, NULL, O_BNR},
    {"bnr", required_argument, NULL, O_BNR},
    {"dirnamereplace", required_argument, NULL, O_DNR},
    {"dnr", required_argument, NULL, O_DNR},
    {"basenameextensionreplace", required_argument, NULL, O_BNER},
    {"bner", required_argument, NULL, O_BNER},
    {"seqreplace", required_argument, NULL, O_SEQR},
    {"slotreplace", required_argument, NULL, O_SLOTR},
    {"sample", required_argument, NULL, O_SAMPLE},
    {"seed", required_argument, NULL, O_SEED},
    {"halving", optional_argument, NULL, O_HALVING},
    {"budget", required_argument, NULL, O_BUDGET},
    {"factor", required_argument, NULL, O_FACTOR},
    {"memory", required_argument, NULL, O_MEMORY},
    {"retry-memory", required_argument, NULL, O_RETRY_MEMORY},
    {"shuf", no_argument, NULL, O_SHUF},
    {"nice", required_argument, NULL, O_NICE},
    {"plus", no_argument, NULL, O_PLUS},
    {NULL, 0, NULL, 0}};

/* '+': stop at the command (the first word that is no option). */
static const char SHORT_OPTIONS[] = "+:j:P:kuvtqa:0d:C:rE:n:N:L:l::s:XmI:h";

/* GNU parallel's options that rename a replacement string (-I ,, makes
 * ",," mean {}): the command's words are rewritten to parc's own. */
enum { RUN_REPL_KINDS = 7 };
static const char *const REPL_CANON[RUN_REPL_KINDS] = {
    "{}", "{.}", "{/}", "{//}", "{/.}", "{#}", "{%}"};

/* What the parser keeps between options until the command is known. */
typedef struct args {
  const char **arg_files; /* -a FILE..., read after the options */
  size_t narg_files;
  int n_set, N_value_set; /* -n and -N as given (-N means more with --pipe) */
  size_t N_value;
  double L_value; /* -L N: as -n N, or with --pipe N lines per record */
  int jobs_all;   /* -j 0 */
  int xargs;      /* --xargs: -m without spreading over the slots */
  const char *repl[RUN_REPL_KINDS]; /* -I and kin: the user's strings */
} args;

static int apply_option(run_opts *o, run_inputs *in, args *a, int id,
                        const char *v, unsigned cores, run_err err) {
  unsigned u;
  switch (id) {
  case 'j':
  case 'P':
    switch (parse_jobs(v, cores, &o->jobs, &a->jobs_all)) {
    case 0: break;
    case -2:
      return run_fail(err,
                      "-j %s leaves no job slot on %u cores: cannot run "
                      "any jobs",
                      v, cores);
    default: return run_fail(err, "bad -j '%s' (want N, N%%, +N, -N or 0)", v);
    }
    break;
  case 'k': o->keep_order = 1; break;
  case 'u': o->ungroup = 1; break;
  case 'v': o->verbose |= RUN_VERBOSE_STDOUT; break;
  case 't': o->verbose |= RUN_VERBOSE_STDERR; break;
  case 'q': o->tmpl.quote = 1; break;
  case 'a': {
    const char **f = realloc(a->arg_files, (a->narg_files + 1) * sizeof *f);
    if (f == NULL)
      return run_fail(err, "out of memory");
    (a->arg_files = f)[a->narg_files++] = v;
    break;
  }
  case '0': in->opt.delim[0] = '\0', in->opt.delim_len = 1; break;
  case 'd':
    if (parse_delim(v, in->opt.delim, sizeof in->opt.delim,
                    &in->opt.delim_len) != 0)
      return run_fail(err, "bad -d '%s' (want 1 to 16 characters)", v);
    break;
  case 'C': /* '' splits between every two characters, as perl's split */
    in->opt.colsep = v;
    break;
  case O_HEADER:
    if (*v == '\0')
      return run_fail(err, "--header needs a pattern (e.g. :)");
    in->opt.header = v;
    break;
  case O_CSV: in->opt.csv = 1; break;
  case 'r': in->opt.skip_blank = 1; break;
  case 'E': in->opt.eof_str = v; break;
  case 'n': /* -n 0, -N 0: a job per value, which the command never sees */
    if (parse_uint(v, &u) != 0)
      return run_fail(err, "bad -n '%s' (want N >= 0)", v);
    o->tmpl.max_args = u, a->n_set = 1, o->tmpl.no_args = u == 0;
    break;
  case 'N':
    if (parse_uint(v, &u) != 0)
      return run_fail(err, "bad -N '%s' (want N >= 0)", v);
    if (u == 0)
      o->tmpl.no_args = 1, a->N_value_set = 0;
    else
      a->N_value = u, a->N_value_set = 1, o->tmpl.no_args = 0;
    break;
  case 's': /* -m, -X: the longest command line, for the limit's */
    if (parse_uint(v, &u) != 0 || u == 0)
      return run_fail(err, "bad -s '%s' (want N >= 1)", v);
    o->tmpl.max_chars = u;
    break;
  case 'L': /* lines per job: -n, or with --pipe lines per record */
    if (parse_lines(v, &a->L_value) != 0 || !(a->L_value > 0))
      return run_fail(err, "bad -L '%s' (want N >= 1)", v);
    break;
  case 'l': /* -l, --max-lines: -L, its N optional (none, or 0: 1) */
    if (v != NULL && strcmp(v, "-0") == 0) /* -l-0: -l, then -0 (GNU) */
      v = NULL, in->opt.delim[0] = '\0', in->opt.delim_len = 1;
    if (v != NULL && parse_lines(v, &a->L_value) != 0)
      return run_fail(err, "bad --max-lines '%s' (want N >= 0)", v);
    if (v == NULL || !(a->L_value > 0))
      a->L_value = 1;
    break;
  case 'I':
  case O_REPLACE:
  case O_ER:
  case O_BNR:
  case O_DNR:
  case O_BNER:
  case O_SEQR:
  case O_SLOTR: {
    static const int ids[RUN_REPL_KINDS] = {O_REPLACE, O_ER,   O_BNR,  O_DNR,
                                            O_BNER,    O_SEQR, O_SLOTR};
    int k = 0;
    while (ids[k] != (id == 'I' ? O_REPLACE : id)) k++;
    if (v == NULL)
      v = "{}"; /* --replace alone: {} as before */
    if (*v == '\0')
      return run_fail(err, "an empty replacement string");
    a->repl[k] = v;
    break;
  }
  case O_WD: {
    struct stat st;
    if (stat(v, &st) != 0 || !S_ISDIR(st.st_mode))
      return run_fail(err, "--wd '%s' is not a directory", v);
    o->wd = v;
    break;
  }
  case O_GROUP:
  case O_ENV: break; /* the default; local jobs get it all */
  case 'X': o->tmpl.multi = 'X'; break;
  case 'm': o->tmpl.multi = 'm'; break;
  case O_XARGS: o->tmpl.multi = 'm', a->xargs = 1; break;
  case O_PIPE: o->pipe = 1; break;
  case O_CAT: o->pipe = 1, o->chunk_as = RUN_CHUNK_CAT; break;
  case O_FIFO: o->pipe = 1, o->chunk_as = RUN_CHUNK_FIFO; break;
  case O_RECEND: o->recend = v; break;
  case O_RECSTART: o->recstart = v; break;
  case O_RRS: o->rrs = 1; break;
  case O_BLOCK: {
    unsigned long long b;
    if (parse_size(v, &b) != 0 || b == 0 || b > ((size_t)1 << 40))
      return run_fail(err, "bad --block '%s' (want a size such as 1M)", v);
    o->block = (size_t)b;
    break;
  }
  case O_TAG: o->tag = 1; break;
  case O_TAGSTRING: o->tagstring = v, o->tag = 1; break;
  case O_LINEBUF: o->line_buffer = 1; break;
  case O_SHELL: o->tmpl.shell = o->shell = 1; break;
  case O_GRID: return run_inputs_add_grid(in, v, err);
  case O_RESULTS: o->results = v; break;
  case O_JOBLOG: o->joblog = v; break;
  case O_RESUME: o->resume = 1; break;
  case O_RESUME_FAILED: o->resume_failed = 1; break;
  case O_RETRY_FAILED: o->retry_failed = 1; break;
  case O_RESUME_BY:
    if (!strcmp(v, "command"))
      o->resume_by = RESUME_BY_COMMAND;
    else if (!strcmp(v, "seq"))
      o->resume_by = RESUME_BY_SEQ;
    else
      return run_fail(err, "bad --resume-by '%s' (want command or seq)", v);
    break;
  case O_RETRIES:
    if (parse_uint(v, &o->retries) != 0 || o->retries == 0)
      return run_fail(err, "bad --retries '%s' (want N >= 1)", v);
    break;
  case O_TIMEOUT: {
    size_t n = strlen(v);
    double t;
    if (n > 1 && v[n - 1] == '%') {
      char tmp[32];
      if (n >= sizeof tmp)
        return run_fail(err, "bad --timeout '%s'", v);
      memcpy(tmp, v, n - 1);
      tmp[n - 1] = '\0';
      if (parse_secs(tmp, &t) != 0 || t == 0)
        return run_fail(err, "bad --timeout '%s' (want N%% > 0)", v);
      o->timeout_pct = t, o->timeout = 0;
    } else if (parse_secs(v, &t) != 0 || t == 0) {
      return run_fail(err, "bad --timeout '%s' (want seconds > 0 or N%%)", v);
    } else {
      o->timeout = t, o->timeout_pct = 0;
    }
    break;
  }
  case O_GRACE:
    if (parse_secs(v, &o->grace) != 0)
      return run_fail(err, "bad --grace '%s' (want seconds >= 0)", v);
    break;
  case O_HALT:
    if (parse_halt(v, o) != 0)
      return run_fail(err,
                      "bad --halt '%s' (want never, or now|soon,"
                      "fail|success|done=N or N%%)",
                      v);
    break;
  case O_DELAY:
    if (parse_secs(v, &o->delay) != 0)
      return run_fail(err, "bad --delay '%s' (want seconds >= 0)", v);
    break;
  case O_MEMFREE:
    if (parse_size(v, &o->memfree) != 0)
      return run_fail(err, "bad --memfree '%s' (want a size such as 2G)", v);
    break;
  case O_DRY: o->dry_run = 1; break;
  case O_BAR: o->bar = 1; break;
  case O_ETA: o->eta = 1; break;
  case O_INNER:
    if (parse_uint(v, &o->inner_threads) != 0 || o->inner_threads == 0)
      return run_fail(err, "bad --inner-threads '%s' (want N >= 1)", v);
    break;
  case O_BEST: o->best = v; break;
  case O_MINIMIZE: o->minimize = 1; break;
  case O_AVG: {
    char **av = realloc(o->average_over, (o->navg + 1) * sizeof *av);
    if (av == NULL)
      return run_fail(err, "out of memory");
    (o->average_over = av)[o->navg++] = (char *)v;
    break;
  }
  case O_QUIET: o->quiet = 1; break;
  case O_SAMPLE: {
    unsigned long long n;
    char *end;
    errno = 0;
    n = strtoull(v, &end, 10);
    if (!isdigit((unsigned char)*v) || *end || errno || n == 0 ||
        n > RUN_SAMPLE_MAX)
      return run_fail(err, "bad --sample '%s' (want N from 1 to %d)", v,
                      RUN_SAMPLE_MAX);
    o->sample = (size_t)n;
    break;
  }
  case O_SEED: {
    char *end;
    errno = 0;
    o->seed = strtoull(v, &end, 10);
    if (!isdigit((unsigned char)*v) || *end || errno)
      return run_fail(err, "bad --seed '%s' (want an integer >= 0)", v);
    break;
  }
  case O_HALVING:
    if (v == NULL || !strcmp(v, "sync"))
      o->halving = HALVING_SYNC;
    else if (!strcmp(v, "async"))
      o->halving = HALVING_ASYNC;
    else
      return run_fail(err, "bad --halving '%s' (want sync or async)", v);
    break;
  case O_BUDGET: o->budget = v; break;
  case O_FACTOR: {
    char *end;
    o->factor = strtod(v, &end);
    if (end == v || *end || !(o->factor > 1) || !(o->factor <= 1000))
      return run_fail(err, "bad --factor '%s' (want a number > 1)", v);
    break;
  }
  case O_MEMORY:
    if (parse_size(v, &o->memory) != 0 || o->memory < RUN_MEMORY_MIN)
      return run_fail(err,
                      "bad --memory '%s' (want a size of at least 1M, "
                      "such as 2G)",
                      v);
    break;
  case O_RETRY_MEMORY: {
    char *end;
    o->retry_memory = strtod(v, &end);
    if (end == v || *end || !(o->retry_memory > 1) || !(o->retry_memory <= 100))
      return run_fail(err,
                      "bad --retry-memory '%s' (want a factor > 1, "
                      "such as 2)",
                      v);
    break;
  }
  case O_SHUF: o->shuf = 1; break;
  case O_PLUS: o->tmpl.plus = 1; break;
  case O_NICE: {
    char *end;
    long n = strtol(v, &end, 10);
    if (end == v || *end || n < -20 || n > 19)
      return run_fail(err, "bad --nice '%s' (want -20 to 19)", v);
    o->nice = (int)n;
    break;
  }
  }
  return 0;
}

const cli_cmd run_cmd = {"run", CLI_EXIT_USAGE_RUN, SHORT_OPTIONS,
                         LONG_OPTIONS};

/* A word Perl's Getopt::Long takes as an optional number (GNU's
 * --max-lines): digits, with a sign, a fraction or an exponent. */
static int is_number(const char *w) {
  char *end;
  if (!isdigit((unsigned char)w[w[0] == '-' || w[0] == '+']))
    return 0;
  strtod(w, &end);
  return *end == '\0';
}

/* -lWORD: Perl's Getopt::Long (GNU's) takes the number WORD begins with
 * as -l's (none: -l alone) and the letters after it as more short
 * options, the last of them given the rest of the word if it takes a
 * value (-l2k, -lk, -l3j2). getopt_long would take WORD whole. */
static int bundled_after_l(run_opts *o, run_inputs *in, args *a,
                           const char *word, unsigned cores, run_err err) {
  if (strcmp(word, "-0") == 0) /* -l-0: -l, then -0 */
    return apply_option(o, in, a, 'l', word, cores, err);
  size_t n = strspn(word, "0123456789.");
  char num[32];
  if (n >= sizeof num)
    return run_fail(err, "bad -l '%s'", word);
  memcpy(num, word, n);
  num[n] = '\0';
  int rc = apply_option(o, in, a, 'l', n ? num : NULL, cores, err);
  for (const char *p = word + n; rc == 0 && *p; p++) {
    const char *at = *p != ':' ? strchr(SHORT_OPTIONS + 2, *p) : NULL;
    if (at == NULL)
      return run_fail(err, "unknown option '-%c' in '-l%s'", *p, word);
    if (at[1] == ':' && at[2] != ':') { /* takes a value: the rest */
      if (p[1] == '\0')
        return run_fail(err, "-%c in '-l%s' needs a value", *p, word);
      return apply_option(o, in, a, *p, p + 1, cores, err);
    }
    rc = apply_option(o, in, a, *p, NULL, cores, err);
  }
  return rc;
}

/* The options before the command. Returns the index of the first word
 * after them (the command), or -1 (err set); *help: 1 --help, 2 --version. */
static int parse_options(run_opts *o, run_inputs *in, args *a, int argc,
                         char **argv, int *help, run_err err) {
  unsigned cores = parc_physical_cores();
  cli_scan sc;
  if (cli_scan_start(&sc, &run_cmd, argc, argv) != 0)
    return run_fail(err, "out of memory");
  int rc = 0, c;
  while ((c = cli_scan_next(&sc, err)) != CLI_SCAN_DONE) {
    if (c == CLI_SCAN_BAD) {
      rc = -1;
      break;
    }
    if (c == 'h' || c == O_VERSION) {
      *help = c == 'h' ? 1 : 2;
      break;
    }
    const char *v = sc.value, *next = cli_scan_peek(&sc);
    if (c == 'l' && v != NULL && v[-1] == 'l') { /* -l2k: -l2 -k (GNU's) */
      if ((rc = bundled_after_l(o, in, a, v, cores, err)) != 0)
        break;
      continue;
    }
    if (c == O_HALVING && v == NULL && next &&
        (!strcmp(next, "sync") || !strcmp(next, "async")))
      v = next, cli_scan_skip(&sc); /* --halving async: the next word */
    if (c == 'l' && v == NULL && next && is_number(next))
      v = next, cli_scan_skip(&sc); /* --max-lines 2: a number next (GNU's) */
    if ((rc = apply_option(o, in, a, c, v, cores, err)) != 0)
      break;
  }
  int first = cli_scan_rest(&sc);
  cli_scan_end(&sc);
  return rc != 0 ? -1 : first;
}

static int is_marker(const char *w) {
  return !strcmp(w, ":::") || !strcmp(w, ":::+") || !strcmp(w, "::::") ||
         !strcmp(w, "::::+");
}

/* The ::: and :::: sources after the command, from argv[i]. */
static int parse_sources(run_inputs *in, int argc, char **argv, int i,
                         run_err err) {
  while (i < argc) {
    const char *m = argv[i++];
    int linked = m[strlen(m) - 1] == '+', files = !strncmp(m, "::::", 4);
    int end = i;
    while (end < argc && !is_marker(argv[end])) end++;
    if (files) {
      if (end == i)
        return run_fail(err, "'%s' has nothing after it", m);
      for (int k = i; k < end; k++) /* ::::+ f1 f2: each links to the last */
        if (run_inputs_add_file(in, argv[k], linked, err))
          return -1;
    } else if (run_inputs_add_args(in, argv + i, (size_t)(end - i), linked,
                                   err)) {
      return -1;
    }
    i = end;
  }
  return 0;
}

/* The options' own rules, once all are known. */
static int check_options(run_opts *o, const char *header, args *a,
                         run_err err) {
  /* A fraction of a line: GNU reads lines while it has fewer (-L 1.5 is
   * 2), but counts a record's lines in whole ones (--pipe -L 1.5 is 1) */
  size_t lines = (size_t)(o->pipe ? floor(a->L_value) : ceil(a->L_value));
  if (o->pipe && a->L_value > 0 && lines == 0)
    return run_fail(err, "bad -L with --pipe (want N >= 1 lines a record)");
  if (o->pipe) { /* GNU: -L N is then the length of a record */
    o->pipe_records = a->N_value_set ? a->N_value : 0;
    o->pipe_lines = lines;
  } else if (a->N_value_set || lines) { /* -N wins, as in GNU */
    o->tmpl.max_args = a->N_value_set ? a->N_value : lines;
    o->tmpl.replace_args = a->N_value_set;
  }
  if (o->tmpl.multi && o->tmpl.max_args == 0 && !a->n_set)
    o->tmpl.max_args = 0; /* as many as fit: the template decides */
  if (o->keep_order && o->line_buffer)
    o->line_buffer = 0; /* GNU: -k wins, each job's output in its turn */
  if (o->ungroup && (o->line_buffer || o->keep_order))
    return run_fail(err, "-u cannot be combined with -k or --line-buffer");
  if ((o->resume || o->resume_failed) && o->joblog == NULL)
    return run_fail(err, "--resume needs --joblog FILE");
  if (o->retry_failed && o->joblog == NULL)
    o->retry_failed = 0; /* no log to retry from: a plain run, as GNU's */
  if ((o->minimize || o->navg) && o->best == NULL)
    return run_fail(err, "--minimize and --average-over need --best METRIC");
  if (o->tmpl.max_chars && !o->tmpl.multi)
    return run_fail(err, "-s limits the jobs of -m, -X and --xargs: give "
                         "one of them");
  if (o->pipe && (o->tmpl.max_args || o->tmpl.multi || o->tmpl.no_args))
    return run_fail(err, "--pipe cannot be combined with -n, -X or -m");
  if (o->block && !o->pipe)
    return run_fail(err, "--block needs --pipe");
  if ((o->recend || o->recstart || o->rrs) && !o->pipe)
    return run_fail(err, "--recend, --recstart and --rrs need --pipe");
  if (o->pipe && header && /* a bad regexp is a usage error, found now */
      (o->header_kind = run_pipe_header(&o->header_re, &o->header_lines, header,
                                        err)) < 0) {
    o->header_kind = RUN_HEADER_NONE;
    return -1;
  }
  if (o->pipe && o->block == 0)
    o->block = (size_t)1 << 20;
  if (o->retry_memory > 0 && o->memory == 0)
    return run_fail(err, "--retry-memory needs --memory SIZE");
  if (o->halving && (o->budget == NULL || o->best == NULL))
    return run_fail(err, "--halving needs --budget NAME=MIN:MAX and --best "
                         "METRIC");
  if (!o->halving && (o->budget || o->factor > 0))
    return run_fail(err, "--budget and --factor need --halving");
  if (o->factor == 0)
    o->factor = 3;
  if (o->halving && (o->resume || o->resume_failed) && o->results == NULL)
    return run_fail(err, "--halving --resume needs --results DIR (the "
                         "metrics of the jobs done)");
  if ((o->sample || o->halving) && o->retry_failed && o->joblog)
    return run_fail(err, "--retry-failed runs the job log's commands: not "
                         "with --sample or --halving (use --resume)");
  if (o->shuf && (o->pipe || o->halving))
    return run_fail(err, "--shuf orders the jobs of the inputs: not with "
                         "--pipe or --halving");
  if ((o->sample || o->halving) &&
      (o->pipe || o->tmpl.max_args || o->tmpl.multi))
    return run_fail(err, "--sample and --halving take one setting per job: "
                         "not with --pipe, -n, -N, -m or -X");
  return 0;
}

/* The command's words with the user's replacement strings (-I ...) made
 * parc's own, longest first, or NULL (ENOMEM). */
static char **rewrite_words(const args *a, char **words, size_t n) {
  char **out = calloc(n + 1, sizeof *out);
  for (size_t w = 0; out && w < n; w++) {
    run_buf b = {0};
    int rc = run_buf_add(&b, "", 0);
    for (const char *p = words[w]; rc == 0 && *p;) {
      size_t best = 0, k_best = 0;
      for (size_t k = 0; k < RUN_REPL_KINDS; k++) {
        size_t len = a->repl[k] ? strlen(a->repl[k]) : 0;
        if (len > best && strncmp(p, a->repl[k], len) == 0)
          best = len, k_best = k;
      }
      rc = best ? run_buf_str(&b, REPL_CANON[k_best]) : run_buf_add(&b, p, 1);
      p += best ? best : 1;
    }
    if (rc != 0) {
      run_buf_free(&b);
      while (w--) free(out[w]);
      free(out);
      return NULL;
    }
    out[w] = b.data;
  }
  return out;
}

void run_opts_free(run_opts *o) {
  if (o->header_kind == RUN_HEADER_REGEXP)
    regfree(&o->header_re);
  o->header_kind = RUN_HEADER_NONE;
  for (char **w = o->rewritten; w && *w; w++) free(*w);
  free(o->rewritten);
  free(o->average_over);
  o->rewritten = NULL;
  o->average_over = NULL;
}

int run_parse_args(run_opts *o, run_inputs *in, run_template **tmpl, int argc,
                   char **argv, run_err err) {
  args a = {0};
  int help = 0;
  o->grace = 1;
  in->opt.delim[0] = '\n';
  in->opt.delim_len = 1;
  int i = parse_options(o, in, &a, argc, argv, &help, err), rc = -1;
  if (i < 0 || help || check_options(o, in->opt.header, &a, err) != 0) {
    rc = help && i >= 0 ? help : -1;
    goto out;
  }
  int cmd = i;
  while (i < argc && !is_marker(argv[i])) i++;
  for (size_t k = 0; k < a.narg_files; k++)
    if (run_inputs_add_file(in, a.arg_files[k], 0, err) != 0)
      goto out;
  if (o->pipe) {
    if (in->nsrc || i < argc) {
      run_fail(err, "--pipe reads stdin: no ::: or :::: sources with it");
      goto out;
    }
  } else if (in->nsrc == 0 && i == argc &&
             run_inputs_add_file(in, "-", 0, err) != 0) {
    goto out;
  }
  char **words = argv + cmd;
  for (size_t k = 0; k < RUN_REPL_KINDS && words == argv + cmd; k++)
    if (a.repl[k]) {
      if ((o->rewritten = rewrite_words(&a, argv + cmd, (size_t)(i - cmd))) ==
          NULL) {
        run_fail(err, "out of memory");
        goto out;
      }
      words = o->rewritten;
    }
  if (o->jobs == 0)
    o->jobs = parc_physical_cores();
  /* -m and -X spread the last values over the slots, as GNU's */
  o->tmpl.slots = a.xargs ? 1 : a.jobs_all ? RUN_JOBS_MAX : o->jobs;
  if (parse_sources(in, argc, argv, i, err) != 0 ||
      run_sample_apply(in, o, err) != 0 || run_inputs_finish(in, err) != 0 ||
      run_halving_prepare(in, o, err) != 0 ||
      run_template_parse(tmpl, words, (size_t)(i - cmd), &o->tmpl, in, err) !=
          0 ||
      run_records_check_axes(in, o->average_over, o->navg, err) != 0)
    goto out;
  if (a.jobs_all)
    o->jobs = in->njobs == 0             ? 1
              : in->njobs < RUN_JOBS_MAX ? (unsigned)in->njobs
                                         : RUN_JOBS_MAX;
  rc = 0;
out:
  free(a.arg_files);
  return rc;
}
