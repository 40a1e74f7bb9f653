/* fuzz_grid.c -- --grid specs (run_inputs_add_grid), one per NUL-separated
 * word, then run_inputs_finish: no overflow, no huge allocation, and when
 * they are accepted the jobs are the product of the axes and every job
 * picks a value each axis has. A refusal always says why. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "run.h"

static void check_jobs(const run_inputs *in) {
  size_t jobs = 1;
  for (size_t s = 0; s < in->nsrc; s++) jobs *= in->src[s].n; /* <= 10^8 */
  if (jobs != in->njobs)
    abort();
  size_t probe[] = {0, jobs / 2, jobs - 1};
  for (size_t k = 0; jobs && k < 3; k++)
    for (size_t s = 0; s < in->nsrc; s++) {
      size_t i = run_inputs_pick(in, probe[k], s);
      if (i >= in->src[s].n || in->src[s].values[i] == NULL)
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t n;
  char **words = fuzz_words(data, size, 16, &n);
  run_inputs in = {0};
  run_err err = "";
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++)
    rc = run_inputs_add_grid(&in, words[i], err);
  if (rc == 0)
    rc = run_inputs_finish(&in, err);
  if (rc == 0)
    check_jobs(&in);
  else if (err[0] == '\0')
    abort();
  run_inputs_free(&in);
  free(words);
  return 0;
}
