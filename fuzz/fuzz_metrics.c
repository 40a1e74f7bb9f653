/* fuzz_metrics.c -- run_metrics_parse on any stdout a job may print.
 *
 * The output lies in a block of exactly its length plus the NUL that
 * run_buf always keeps after it, so reading past that is an ASan report.
 * Every key and value handed on must be valid UTF-8: results.csv is read
 * as UTF-8. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "run.h"

static void check(void *arg, const char *k, size_t kn, const char *v,
                  size_t vn) {
  (void)arg;
  if (!fuzz_utf8_valid(k, kn) || !fuzz_utf8_valid(v, vn))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  run_buf out = {0};
  out.data = malloc(size + 1);
  if (out.data == NULL)
    return 0;
  memcpy(out.data, data, size);
  out.data[size] = '\0';
  out.len = size;
  out.cap = size + 1;
  run_metrics_parse(&out, check, NULL);
  free(out.data);
  return 0;
}
