/* run_metrics.c -- the metrics a job of `parc run` prints on its stdout,
 * for results.csv (docs/parc-run.md, "Results directory").
 *
 * A metric is a `key=value` line anywhere in the output (key: letters,
 * digits, `_` and `.`, starting with a letter or `_`), or a key of a flat
 * JSON object printed as the last non-blank line (numbers, strings,
 * booleans; nested values are skipped, null is no value). This file only
 * reads text: it hands each key and value to a callback, and the records
 * (run_record.c) decide which column that is.
 *
 * Every key and value handed on is valid UTF-8, because results.csv is
 * read as UTF-8 (pandas fails on anything else): a key=value value has
 * each byte that is not part of valid UTF-8 replaced by U+FFFD.
 *
 * The JSON line is parsed by jansson. Before that, json_prepare() turns
 * it into the JSON we mean, with a lexical pass that only has to know
 * where strings are:
 *   - a number that is an object member's value becomes a string of its
 *     own text, so results.csv shows it as the job wrote it (0.1, not
 *     0.10000000000000001; 1e400 and 2^70 are not refused as overflows);
 *   - NaN, Infinity and -Infinity, which Python's json.dumps writes, are
 *     read the same way;
 *   - in a string, an escape that names no character (a lone surrogate
 *     such as \ud800, which json.dumps writes for such a str, or \u0000)
 *     becomes U+FFFD, and so does a raw NUL; other raw control characters
 *     are escaped; bytes that are not UTF-8 become U+FFFD.
 * A line that is still not a JSON object (a truncated escape, a missing
 * quote, text after the object) gives no metrics; its key=value lines do.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

static int valid_key(const char *s, size_t n) {
  if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
    return 0;
  for (size_t i = 1; i < n; i++)
    if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.'))
      return 0;
  return 1;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* ------------------------------------------------------------ JSON line */

/* The code point of the 4 hex digits at s (n bytes left), or -1. */
static long hex4(const char *s, size_t n) {
  long v = 0;
  if (n < 4)
    return -1;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    int d = is_digit(c)            ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0)
      return -1;
    v = v * 16 + d;
  }
  return v;
}

/* The length of the \u escape(s) at s to copy as they are: 12 for a
 * surrogate pair, 6 for a character; 0 when it names none (lone
 * surrogate, NUL); -1 when it is not four hex digits (jansson refuses). */
static int u_escape(const char *s, size_t n) {
  long cp = hex4(s + 2, n - 2);
  if (cp < 0)
    return -1;
  if (cp >= 0xD800 && cp <= 0xDBFF && n >= 12 && s[6] == '\\' && s[7] == 'u') {
    long lo = hex4(s + 8, n - 8);
    if (lo >= 0xDC00 && lo <= 0xDFFF)
      return 12;
  }
  return cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) ? 0 : 6;
}

/* Copies the string starting with the quote at s[*i]; *i moves past it. */
static int copy_string(run_buf *b, const char *s, size_t n, size_t *i) {
  size_t k = *i + 1;
  int rc = run_buf_add(b, "\"", 1);
  while (rc == 0 && k < n && s[k] != '"') {
    unsigned char c = (unsigned char)s[k];
    int len = c == '\\' && k + 1 < n ? 2 : 1;
    if (len == 2 && s[k + 1] == 'u') {
      int u = u_escape(s + k, n - k);
      len = u > 0 ? u : 2;
      if (u == 0) {
        rc = run_buf_str(b, "\\uFFFD");
        k += 6;
        continue;
      }
    }
    if (c < 0x20) {
      char esc[8];
      snprintf(esc, sizeof esc, "\\u%04X", c ? (unsigned)c : 0xFFFDu);
      rc = run_buf_str(b, esc);
    } else {
      rc = run_buf_add(b, s + k, (size_t)len);
    }
    k += (size_t)len;
  }
  if (rc == 0 && k < n) {
    rc = run_buf_add(b, "\"", 1);
    k++;
  }
  *i = k;
  return rc;
}

/* The length of the JSON number (RFC 8259) at s, or 0. */
static size_t number_len(const char *s, size_t n) {
  size_t i = s[0] == '-';
  if (i < n && s[i] == '0')
    i++;
  else if (i < n && is_digit(s[i]))
    while (i < n && is_digit(s[i])) i++;
  else
    return 0;
  if (i < n && s[i] == '.') {
    size_t d = ++i;
    while (i < n && is_digit(s[i])) i++;
    if (i == d)
      return 0;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i += i + 1 < n && (s[i + 1] == '+' || s[i + 1] == '-') ? 2 : 1;
    size_t d = i;
    while (i < n && is_digit(s[i])) i++;
    if (i == d)
      return 0;
  }
  return i;
}

/* The length of the value at s that is read as the string of its text: a
 * number, NaN, Infinity or -Infinity, ending where the value ends. */
static size_t scalar_len(const char *s, size_t n) {
  static const char *const words[] = {"NaN", "Infinity", "-Infinity"};
  size_t len = number_len(s, n);
  for (size_t w = 0; len == 0 && w < sizeof words / sizeof words[0]; w++)
    if (n >= strlen(words[w]) && !memcmp(s, words[w], strlen(words[w])))
      len = strlen(words[w]);
  int ends = len == n || (s[len] != '\0' && strchr(",}] \t\r\n", s[len]));
  return len && ends ? len : 0;
}

/* Writes the JSON text s (n bytes of valid UTF-8) into b as described at
 * the top of this file. 0, or -1 (ENOMEM). */
static int json_prepare(run_buf *b, const char *s, size_t n) {
  int after_colon = 0, rc = 0;
  for (size_t i = 0; rc == 0 && i < n;) {
    size_t len;
    if (s[i] == '"') {
      rc = copy_string(b, s, n, &i);
      after_colon = 0;
    } else if (after_colon && (len = scalar_len(s + i, n - i)) > 0) {
      rc = run_buf_add(b, "\"", 1) || run_buf_add(b, s + i, len) ||
           run_buf_add(b, "\"", 1);
      i += len;
      after_colon = 0;
    } else {
      if (s[i] == ':')
        after_colon = 1;
      else if (!isspace((unsigned char)s[i]))
        after_colon = 0;
      rc = run_buf_add(b, s + i, 1);
      i++;
    }
  }
  return rc;
}

/* Hands on one member of the object: strings (numbers among them, see
 * json_prepare) and booleans; null and nested values are no metric. */
static void json_member(const char *key, size_t kn, json_t *v, run_metric_fn fn,
                        void *arg) {
  if (json_is_string(v))
    fn(arg, key, kn, json_string_value(v), json_string_length(v));
  else if (json_is_boolean(v))
    fn(arg, key, kn, json_is_true(v) ? "true" : "false",
       json_is_true(v) ? 4 : 5);
}

/* The metrics of the JSON line s (n bytes, starting with '{'). */
static void json_metrics(const char *s, size_t n, run_metric_fn fn, void *arg) {
  run_buf utf8 = {0}, text = {0};
  json_t *obj = NULL;
  if (run_buf_add_utf8(&utf8, s, n) == 0 &&
      json_prepare(&text, utf8.data, utf8.len) == 0)
    obj = json_loadb(text.data, text.len, 0, NULL);
  run_buf_free(&utf8);
  run_buf_free(&text);
  if (json_is_object(obj)) {
    const char *key;
    size_t kn;
    json_t *v;
    json_object_keylen_foreach(obj, key, kn, v)
        json_member(key, kn, v, fn, arg);
  }
  json_decref(obj);
}

/* ------------------------------------------------------------ key=value */

/* Is [s, end) a list of two or more blank-separated key=value words
 * (`step=3 accuracy=0.91`)? Then each is a metric; else the line is one
 * key=value whose value may hold blanks (`name=a b`). */
static int pair_list(const char *s, const char *end) {
  int words = 0;
  while (s < end) {
    while (s < end && (*s == ' ' || *s == '\t' || *s == '\r')) s++;
    if (s == end)
      break;
    const char *w = s;
    while (s < end && *s != ' ' && *s != '\t' && *s != '\r') s++;
    const char *eq = memchr(w, '=', (size_t)(s - w));
    if (eq == NULL || !valid_key(w, (size_t)(eq - w)))
      return 0;
    words++;
  }
  return words >= 2;
}

static void one_pair(const char *s, const char *end, run_buf *val,
                     run_metric_fn fn, void *arg);

/* The metrics of the line [s, end), if it is key=value or a list of them;
 * val is scratch. */
static void key_value(const char *s, const char *end, run_buf *val,
                      run_metric_fn fn, void *arg) {
  if (!pair_list(s, end)) {
    one_pair(s, end, val, fn, arg);
    return;
  }
  while (s < end) {
    while (s < end && (*s == ' ' || *s == '\t' || *s == '\r')) s++;
    const char *w = s;
    while (s < end && *s != ' ' && *s != '\t' && *s != '\r') s++;
    if (s > w)
      one_pair(w, s, val, fn, arg);
  }
}

void run_metrics_line(const char *s, size_t n, run_metric_fn fn, void *arg) {
  run_buf val = {0};
  key_value(s, s + n, &val, fn, arg);
  run_buf_free(&val);
}

static void one_pair(const char *s, const char *end, run_buf *val,
                     run_metric_fn fn, void *arg) {
  const char *eq = memchr(s, '=', (size_t)(end - s));
  if (eq == NULL || !valid_key(s, (size_t)(eq - s)))
    return;
  size_t vn = (size_t)(end - eq - 1);
  while (vn > 0 && (eq[vn] == '\r' || eq[vn] == ' ')) vn--;
  val->len = 0;
  if (run_buf_add_utf8(val, eq + 1, vn) == 0)
    fn(arg, s, (size_t)(eq - s), val->data, val->len);
}

void run_metrics_parse(const run_buf *out, run_metric_fn fn, void *arg) {
  if (out->data == NULL)
    return;
  const char *s = out->data, *stop = out->data + out->len;
  const char *last = NULL, *last_end = NULL;
  run_buf val = {0};
  while (s < stop) {
    const char *nl = memchr(s, '\n', (size_t)(stop - s));
    const char *end = nl ? nl : stop, *t = s;
    key_value(s, end, &val, fn, arg);
    while (t < end && isspace((unsigned char)*t)) t++;
    if (t < end)
      last = t, last_end = end;
    s = nl ? nl + 1 : stop;
  }
  run_buf_free(&val);
  if (last && *last == '{')
    json_metrics(last, (size_t)(last_end - last), fn, arg);
}
