/* fuzz_args.c -- the whole command line of `parc run` (run_parse_args):
 * the input split at NUL bytes into argv.
 *
 * Nothing outside is touched: stdin is /dev/null, and every input file
 * (::::, -a) is /dev/null too (a fuzzed path could be a FIFO or /dev/zero;
 * the fuzz build's run_inputs_add_file opens /dev/null whatever it is
 * given). A refusal always says why; an accepted line has a template
 * and at least one lane. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "run.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  if (freopen("/dev/null", "r", stdin) == NULL)
    abort();
  return 0;
}

static int is_marker(const char *w) {
  return !strcmp(w, ":::") || !strcmp(w, ":::+") || !strcmp(w, "::::") ||
         !strcmp(w, "::::+");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t n;
  char **argv = fuzz_words(data, size, 64, &n), dev_null[] = "/dev/null";
  int files = 0;
  for (size_t i = 0; i < n; i++) {
    if (is_marker(argv[i]))
      files = !strncmp(argv[i], "::::", 4);
    else if (files)
      argv[i] = dev_null;
  }
  run_opts o = {0};
  run_inputs in = {0};
  run_template *t = NULL;
  run_err err = "";
  int rc = run_parse_args(&o, &in, &t, (int)n, argv, err);
  if (rc < 0 && err[0] == '\0')
    abort();
  if (rc == 0 && (t == NULL || o.jobs == 0))
    abort();
  run_template_free(t);
  run_inputs_free(&in);
  run_opts_free(&o);
  free(argv);
  return 0;
}
