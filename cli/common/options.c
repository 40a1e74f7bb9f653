/* options.c -- one way to read a subcommand's options, and one usage error.
 *
 * Every subcommand describes its options as a getopt_long table (cli_cmd)
 * and reads them here, so that all of them take the same forms: --opt=value
 * and --opt value, any unique prefix of a long option, bundled short
 * options, "--" to end the options. getopt's own messages are off
 * (opterr = 0): a refused word is named here, in one line, and the caller
 * prints it as a usage error of its subcommand.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_fail(cli_err err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, CLI_ERR_MAX, fmt, ap);
  va_end(ap);
  return CLI_SCAN_BAD;
}

int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "parc %s: ", cmd->name);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (see 'parc %s --help')\n", cmd->name);
  va_end(ap);
  return cmd->usage_status;
}

/* ------------------------------------------------------------ the scan */

int cli_scan_start(cli_scan *s, const cli_cmd *cmd, int argc, char **argv) {
  /* getopt_long wants a program name first; argv is what follows it. */
  s->argv = malloc(((size_t)argc + 2) * sizeof *s->argv);
  if (s->argv == NULL)
    return -1;
  s->cmd = cmd;
  s->argc = argc + 1;
  s->argv[0] = (char *)"parc";
  memcpy(s->argv + 1, argv, (size_t)argc * sizeof *argv);
  s->argv[argc + 1] = NULL;
  s->value = NULL;
  optind = 0; /* a fresh scan (glibc), whatever was scanned before */
  opterr = 0;
  return 0;
}

void cli_scan_end(cli_scan *s) {
  free(s->argv);
  s->argv = NULL;
}

/* The options of the table whose name begins with the n bytes at name
 * (the word as given): one name exactly, else every prefix match; aliases
 * of one option (same id, same kind) count once. Returns the count and
 * the first in *first. */
static int matches(const struct option *opts, const char *name, size_t n,
                   const struct option **first) {
  int count = 0;
  *first = NULL;
  for (const struct option *o = opts; o->name; o++)
    if (strlen(o->name) == n && !strncmp(o->name, name, n)) {
      *first = o;
      return 1;
    }
  for (const struct option *o = opts; o->name; o++) {
    if (strncmp(o->name, name, n) != 0)
      continue;
    if (*first && (*first)->val == o->val && (*first)->has_arg == o->has_arg)
      continue;
    if (*first == NULL)
      *first = o;
    count++;
  }
  return count;
}

/* "--re": "--results, --resume, ..." into err after its first `at` bytes. */
static void list_matches(const struct option *opts, const char *name, size_t n,
                         cli_err err, size_t at) {
  const char *sep = " (";
  for (const struct option *o = opts; o->name && at < CLI_ERR_MAX; o++) {
    if (strncmp(o->name, name, n) != 0)
      continue;
    at += (size_t)snprintf(err + at, CLI_ERR_MAX - at, "%s--%s", sep, o->name);
    sep = ", ";
  }
  if (at < CLI_ERR_MAX)
    snprintf(err + at, CLI_ERR_MAX - at, ")");
}

/* Names the long option getopt_long refused (c: '?' or ':'). */
static int bad_long(const cli_scan *s, int c, const char *word, cli_err err) {
  size_t n = strcspn(word, "=");
  if (c == ':')
    return cli_fail(err, "option '%.*s' needs a value", (int)n, word);
  const struct option *o;
  int count = matches(s->cmd->options, word + 2, n - 2, &o);
  if (count == 1 && o->has_arg == no_argument && word[n] == '=')
    return cli_fail(err, "option '--%s' takes no value", o->name);
  if (count < 2)
    return cli_fail(err, "unknown option '%.*s'", (int)n, word);
  int len = snprintf(err, CLI_ERR_MAX, "ambiguous option '%.*s'", (int)n, word);
  if (len > 0 && len < CLI_ERR_MAX)
    list_matches(s->cmd->options, word + 2, n - 2, err, (size_t)len);
  return CLI_SCAN_BAD;
}

/* Names the word getopt_long refused: the word as given. */
static int bad_option(const cli_scan *s, int c, int at, cli_err err) {
  const char *word = s->argv[at < s->argc ? at : s->argc - 1];
  if (word[1] == '-')
    return bad_long(s, c, word, err);
  if (c == ':')
    return cli_fail(err, "option '-%c' needs a value", optopt);
  if (word[2] == '\0')
    return cli_fail(err, "unknown option '%s'", word);
  return cli_fail(err, "unknown option '-%c' in '%s'", optopt, word);
}

int cli_scan_next(cli_scan *s, cli_err err) {
  int at = optind ? optind : 1;
  int c = getopt_long(s->argc, s->argv, s->cmd->short_options, s->cmd->options,
                      NULL);
  s->value = optarg;
  if (c == -1)
    return CLI_SCAN_DONE;
  if (c == '?' || c == ':')
    return bad_option(s, c, at, err);
  return c;
}

const char *cli_scan_peek(const cli_scan *s) {
  return optind < s->argc ? s->argv[optind] : NULL;
}

void cli_scan_skip(cli_scan *s) {
  if (optind < s->argc)
    optind++;
}

int cli_scan_rest(const cli_scan *s) {
  (void)s;
  return optind - 1; /* getopt's argv has the program name first */
}

/* ------------------------------------------------------------ options only */

int cli_parse_options(const cli_cmd *cmd, int argc, char **argv,
                      cli_option_fn apply, void *ctx, cli_err err) {
  cli_scan s;
  if (cli_scan_start(&s, cmd, argc, argv) != 0)
    return cli_fail(err, "out of memory");
  int rc = 0, id;
  while (rc == 0 && (id = cli_scan_next(&s, err)) != CLI_SCAN_DONE)
    rc = id == CLI_SCAN_BAD ? -1 : apply(ctx, id, s.value, err);
  int rest = cli_scan_rest(&s);
  cli_scan_end(&s);
  if (rc == 0 && rest < argc)
    return cli_fail(err, "unexpected argument '%s'", argv[rest]);
  return rc;
}
