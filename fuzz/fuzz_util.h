/* fuzz_util.h -- what the fuzz targets share: libFuzzer's entry points,
 * and the input cut into words. */
#ifndef PARC_FUZZ_UTIL_H
#define PARC_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The input split at NUL bytes into words, the first max of them kept,
 * NULL-terminated: an argv. One malloc block: free(words). */
char **fuzz_words(const uint8_t *data, size_t size, size_t max, size_t *n);

/* Whether s[0..n) is well-formed UTF-8 (RFC 3629), checked on its own
 * here rather than with the code under test. */
int fuzz_utf8_valid(const char *s, size_t n);

#endif
