/* cli.h -- what every subcommand of the parc command shares: their entry
 * points (main.c dispatches), the exit statuses, one way to read options
 * (getopt_long, options.c), one usage error, where the helper programs are
 * and the words for a libparc error (helper.c).
 *
 * This layer includes nothing of the subcommands (run/, probe/, plan/,
 * bench/); they include it as "common/cli.h". */
#ifndef CLI_H
#define CLI_H

#include <getopt.h>
#include <stddef.h>

/* ------------------------------------------------------------ subcommands */

/* Each takes the arguments after its name and returns the exit status. */
int cmd_run(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* ------------------------------------------------------------ exit statuses */

/* Two statuses for bad usage. `parc run` is a drop-in for GNU parallel,
 * whose usage errors exit 255 (never a count of failed jobs, which are
 * 1..101): scripts written for parallel test for it. Everything else --
 * the parc command itself, probe, plan, bench -- follows the Unix
 * convention of 2 (getopt's, grep's, ls's); 1 is "ran, but something
 * failed". */
enum {
  CLI_EXIT_OK = 0,
  CLI_EXIT_FAIL = 1,
  CLI_EXIT_USAGE = 2,
  CLI_EXIT_USAGE_RUN = 255
};

/* ------------------------------------------------------------ errors */

/* Errors from parsing are one line of text in a caller's buffer. */
#define CLI_ERR_MAX 512
typedef char cli_err[CLI_ERR_MAX];

/* Formats a message into err; returns -1, for `return cli_fail(...)`. */
int cli_fail(cli_err err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A subcommand as its options and messages see it. */
typedef struct cli_cmd {
  const char *name;             /* "probe": messages begin "parc probe: " */
  int usage_status;             /* exit status of a usage error */
  const char *short_options;    /* getopt's, beginning "+:" (see below) */
  const struct option *options; /* getopt_long's, ending in {0} */
} cli_cmd;

/* Prints "parc NAME: MESSAGE (see 'parc NAME --help')", one line on
 * stderr; returns cmd->usage_status, for `return cli_usage_error(...)`. */
int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------ options */

/* One pass of getopt_long over a subcommand's words, the same for every
 * subcommand: long options take --opt=value or --opt value and any unique
 * prefix; short ones bundle (-kq); scanning stops at the first word that
 * is not an option (the command of `parc run`) or after "--": hence the
 * "+" of cmd->short_options; its ":" tells a missing value from an unknown
 * option. An option's id is its `val` in cmd->options (or its letter).
 *
 *   cli_scan s;
 *   if (cli_scan_start(&s, &CMD, argc, argv) != 0) ... (out of memory)
 *   while ((id = cli_scan_next(&s, err)) > 0) ... s.value ...
 *   cli_scan_end(&s);   (id is CLI_SCAN_DONE, or CLI_SCAN_BAD with err set)
 *
 * getopt's state is global: one scan at a time, in one thread. */
typedef struct cli_scan {
  const cli_cmd *cmd;
  int argc; /* getopt's words: "parc NAME", then the caller's */
  char **argv;
  const char *value; /* the option's value; NULL if it takes none */
} cli_scan;

enum { CLI_SCAN_DONE = 0, CLI_SCAN_BAD = -1 };

/* 0, or -1 when out of memory. argv is not changed. */
int cli_scan_start(cli_scan *s, const cli_cmd *cmd, int argc, char **argv);
/* The next option's id; CLI_SCAN_DONE when no option is left, or
 * CLI_SCAN_BAD with err naming the word (an unknown or ambiguous option,
 * a missing value, a value given to an option that takes none). */
int cli_scan_next(cli_scan *s, cli_err err);
/* The word after the last option read, or NULL: for an option whose value
 * may follow it as the next word (run's --halving async). */
const char *cli_scan_peek(const cli_scan *s);
void cli_scan_skip(cli_scan *s); /* past the word cli_scan_peek gave */
/* The index in the caller's argv of the first word after the options
 * (argc when none). */
int cli_scan_rest(const cli_scan *s);
void cli_scan_end(cli_scan *s);

/* For the subcommands that take options only: each option is handed to
 * apply(ctx, id, value, err) (0 to go on, 1 to stop -- --help --, -1 with
 * err set); a word left after the options is an error. Returns 0, 1 or
 * -1 (err set). */
typedef int (*cli_option_fn)(void *ctx, int id, const char *value, cli_err err);
int cli_parse_options(const cli_cmd *cmd, int argc, char **argv,
                      cli_option_fn apply, void *ctx, cli_err err);

/* Opens each of descriptors 0, 1 and 2 that is closed on /dev/null
 * (stdfds.c): first thing in main, before anything opens a descriptor. */
void cli_std_fds_open(void);

/* ------------------------------------------------------------ helpers */

/* Where the helper programs are installed; CMake sets both. */
#ifndef PARC_LIBEXECDIR
#define PARC_LIBEXECDIR "/usr/local/libexec/parc"
#endif
#ifndef PARC_BIN_TO_LIBEXEC
#define PARC_BIN_TO_LIBEXEC "../libexec/parc"
#endif

/* The path of helper program `name` (see helper.c) into buf: 0, or -1 if
 * there is none. */
int cli_find_helper(const char *name, char *buf, size_t cap);

/* What libparc error rc means, for a message: for PARC_ESYS the reason
 * this thread's last one had (parc_last_sys_error: "fork: Resource
 * temporarily unavailable"), else parc_strerror(rc). The text lives until
 * this thread's next call. */
const char *cli_strerror(int rc);

#endif
