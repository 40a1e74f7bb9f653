/* fuzz_csv.c -- run_csv_record (cli/run/run_record.c) over any results.csv,
 * as --resume reads it: record after record until the end of the text.
 * Each record must move on and stay in the text, and its fields must be
 * exactly the count it returns, each NUL-terminated in the buffer. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "run.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (text == NULL)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  run_buf fields = {0};
  for (char *p = text; *p;) {
    char *before = p;
    size_t n = run_csv_record(&p, &fields);
    if (p <= before || p > text + size)
      abort();
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
      if (off >= fields.len)
        abort();
      off += strlen(fields.data + off) + 1;
    }
    if (off != fields.len)
      abort();
  }
  run_buf_free(&fields);
  free(text);
  return 0;
}
