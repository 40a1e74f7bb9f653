/* fuzz_template.c -- the command template: run_template_parse, then
 * run_template_expand for the first, a middle and the last job.
 *
 * The input is NUL-separated words: the first says the mode (letters in
 * it: 's' --shell, 'q' -q, 'X' -X, 'm' -m, 'n' -n 2, 'N' -N 2, 'c'
 * --colsep ',', 'h' --header :, 'v' --csv); then the sources, each a --grid spec (a word with '=') or a
 * ::: list of comma-separated values, up to a word "--"; then the
 * template's words. Without "--", the sources are one list of two values
 * and every word after the first is the template. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "run.h"

/* A ::: list from the comma-separated values of w. */
static int add_list(run_inputs *in, const char *w, run_err err) {
  size_t n = 1;
  for (const char *p = w; *p; p++) n += *p == ',';
  char *copy = strdup(w), **v = malloc(n * sizeof *v);
  int rc = -1;
  if (copy && v) {
    size_t k = 0;
    for (char *p = copy, *c;; p = c + 1) {
      v[k++] = p;
      if ((c = strchr(p, ',')) == NULL)
        break;
      *c = '\0';
    }
    rc = run_inputs_add_list(in, v, n, 0, err);
  }
  free(copy);
  free(v);
  return rc;
}

static int add_sources(run_inputs *in, char **w, size_t n, run_err err) {
  static char *dflt[] = {"dir/a.tar.gz", "it's {1}"};
  if (n == 0)
    return run_inputs_add_list(in, dflt, 2, 0, err);
  for (size_t i = 0; i < n; i++)
    if ((strchr(w[i], '=') ? run_inputs_add_grid(in, w[i], err)
                           : add_list(in, w[i], err)) != 0)
      return -1;
  return 0;
}

static void expand(const run_template *t, const run_inputs *in, int shell) {
  size_t jobs[] = {0, in->njobs / 2, in->njobs - 1};
  for (size_t k = 0; k < 3; k++) {
    char **argv, *line;
    if (run_template_expand(t, in, jobs[k], (unsigned)k + 1, &argv, &line))
      continue; /* out of memory */
    if (argv[0] == NULL || line == NULL)
      abort();
    if (shell && (strcmp(argv[0], "/bin/sh") || argv[3] != NULL))
      abort();
    if (in->njobs == 0 || jobs[k] >= in->njobs)
      abort();
    free(argv);
    free(line);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t n, dash = 0;
  char **w = fuzz_words(data, size, 64, &n);
  int shell = strchr(w[0], 's') != NULL;
  run_template_opts topt = {
      .shell = shell,
      .quote = strchr(w[0], 'q') != NULL,
      .multi = strchr(w[0], 'X')   ? 'X'
               : strchr(w[0], 'm') ? 'm'
                                   : 0,
      .max_args = strchr(w[0], 'n') || strchr(w[0], 'N') ? 2 : 0,
      .replace_args = strchr(w[0], 'N') != NULL,
      .slots = 3};
  while (++dash < n && strcmp(w[dash], "--") != 0) continue;
  size_t first = dash < n ? dash + 1 : 1;
  run_inputs in = {0};
  in.opt.colsep = strchr(w[0], 'c') ? "," : NULL;
  in.opt.header = strchr(w[0], 'h') ? ":" : NULL;
  in.opt.csv = strchr(w[0], 'v') != NULL;
  run_template *t = NULL;
  run_err err = "";
  if (add_sources(&in, w + 1, dash < n ? dash - 1 : 0, err) == 0 &&
      run_inputs_finish(&in, err) == 0 && in.njobs > 0 &&
      run_template_parse(&t, w + first, n - first, &topt, &in, err) == 0)
    expand(t, &in, shell);
  run_template_free(t);
  run_inputs_free(&in);
  free(w);
  return 0;
}
