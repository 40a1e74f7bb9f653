/* run_metrics.c -- the metrics a job of `parc run` prints on its stdout,
 * for results.csv (docs/parc-run.md, "Results directory").
 *
 * A metric is a `key=value` line anywhere in the output (key: letters,
 * digits, `_` and `.`, starting with a letter or `_`), or a key of a flat
 * JSON object printed as the last non-blank line (numbers, strings,
 * booleans; nested values are skipped, null is no value). The parser only
 * reads text: it hands each key and value to a callback, and the records
 * (run_record.c) decide which column that is. Malformed JSON ends the
 * object where it goes wrong; what came before it stands.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

static int valid_key(const char *s, size_t n) {
  if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_')) return 0;
  for (size_t i = 1; i < n; i++)
    if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.'))
      return 0;
  return 1;
}

/* A JSON string at *p: decoded into b; *p moves past it. 0 or -1. */
static int json_string(const char **p, run_buf *b) {
  const char *s = *p + 1;
  b->len = 0;
  for (; *s && *s != '"'; s++) {
    if (*s != '\\') { run_buf_add(b, s, 1); continue; }
    s++;
    const char *esc = strchr("\"\\/bfnrt", *s);
    if (esc && *s) {
      run_buf_add(b, &"\"\\/\b\f\n\r\t"[esc - "\"\\/bfnrt"], 1);
    } else if (*s == 'u' && isxdigit((unsigned char)s[1])) {
      unsigned cp = (unsigned)strtoul((char[]){s[1], s[2], s[3], s[4], 0}, NULL, 16);
      char u[3] = {(char)(0xE0 | (cp >> 12)), (char)(0x80 | ((cp >> 6) & 0x3F)),
                   (char)(0x80 | (cp & 0x3F))};
      if (cp < 0x80) run_buf_add(b, (char[]){(char)cp}, 1);
      else if (cp < 0x800)
        run_buf_add(b, (char[]){(char)(0xC0 | (cp >> 6)), (char)(0x80 | (cp & 0x3F))}, 2);
      else run_buf_add(b, u, 3);
      s += 4;
    } else {
      return -1;
    }
  }
  if (*s != '"') return -1;
  *p = s + 1;
  run_buf_add(b, "", 0);
  return 0;
}

/* Skips one JSON value (any kind) at *p; 0 or -1. */
static int json_skip(const char **p) {
  run_buf tmp = {0};
  int depth = 0, rc = 0;
  do {
    while (isspace((unsigned char)**p)) (*p)++;
    if (**p == '"') rc = json_string(p, &tmp);
    else if (**p == '{' || **p == '[') depth++, (*p)++;
    else if (**p == '}' || **p == ']') depth--, (*p)++;
    else if (**p == ',' || **p == ':') (*p)++;
    else if (**p == '\0') rc = -1;
    else while (**p && !strchr(",}] \t", **p)) (*p)++;
  } while (rc == 0 && depth > 0);
  run_buf_free(&tmp);
  return rc;
}

/* The keys of a flat JSON object on one line; nested values skipped. */
static void json_metrics(const char *s, run_metric_fn fn, void *arg) {
  run_buf key = {0}, val = {0};
  while (isspace((unsigned char)*s)) s++;
  if (*s++ != '{') return;
  for (;;) {
    while (isspace((unsigned char)*s)) s++;
    if (*s != '"' || json_string(&s, &key) != 0) break;
    while (isspace((unsigned char)*s)) s++;
    if (*s++ != ':') break;
    while (isspace((unsigned char)*s)) s++;
    const char *v = s;
    if (*s == '"') {
      if (json_string(&s, &val) != 0) break;
      fn(arg, key.data, key.len, val.data, val.len);
    } else if (*s == '{' || *s == '[') {
      if (json_skip(&s) != 0) break;
    } else {
      while (*s && !strchr(",} \t\r", *s)) s++;
      if (s > v && !(s - v == 4 && memcmp(v, "null", 4) == 0))
        fn(arg, key.data, key.len, v, (size_t)(s - v));
    }
    while (isspace((unsigned char)*s)) s++;
    if (*s++ != ',') break;
  }
  run_buf_free(&key);
  run_buf_free(&val);
}

void run_metrics_parse(const run_buf *out, run_metric_fn fn, void *arg) {
  const char *s = out->data ? out->data : "", *last = NULL;
  while (*s) {
    const char *nl = strchr(s, '\n'), *end = nl ? nl : s + strlen(s);
    const char *eq = memchr(s, '=', (size_t)(end - s));
    size_t vn = eq ? (size_t)(end - eq - 1) : 0;
    while (eq && vn > 0 && (eq[vn] == '\r' || eq[vn] == ' ')) vn--;
    if (eq && valid_key(s, (size_t)(eq - s)))
      fn(arg, s, (size_t)(eq - s), eq + 1, vn);
    const char *t = s;
    while (t < end && isspace((unsigned char)*t)) t++;
    if (t < end) last = t;
    s = nl ? nl + 1 : end;
  }
  if (last && *last == '{') json_metrics(last, fn, arg);
}
