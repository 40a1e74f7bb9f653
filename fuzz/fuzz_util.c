/* fuzz_util.c -- the helpers of fuzz_util.h. */
#include "fuzz_util.h"

#include <stdlib.h>
#include <string.h>

char **fuzz_words(const uint8_t *data, size_t size, size_t max, size_t *n) {
  size_t count = 1;
  for (size_t i = 0; i < size && count < max; i++) count += data[i] == 0;
  char **w = malloc((count + 1) * sizeof *w + size + 1);
  if (w == NULL)
    abort();
  char *text = (char *)(w + count + 1);
  memcpy(text, data, size);
  text[size] = '\0';
  *n = 0;
  for (char *p = text; *n < count; p += strlen(p) + 1) w[(*n)++] = p;
  w[count] = NULL;
  return w;
}

int fuzz_utf8_valid(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    size_t len;
    unsigned cp;
    if (c < 0x80)
      len = 1, cp = c;
    else if ((c & 0xE0) == 0xC0)
      len = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0)
      len = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0)
      len = 4, cp = c & 0x07;
    else
      return 0;
    if (len > n - i)
      return 0;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80)
        return 0;
      cp = cp << 6 | (s[i + k] & 0x3F);
    }
    static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return 0;
    i += len;
  }
  return 1;
}
