/* run_template.c -- the command template of `parc run`.
 *
 * Each word of the command is parsed once into pieces: literal text, or a
 * replacement string ({}, {3}, {NAME}, {#}, {%}, with the modifiers . / //
 * /.). A job's command is then built without a shell: one argument per
 * word (a word that is exactly {} gives one argument per value), so no
 * value can change how the command is split. With --shell the words are
 * joined into one `sh -c` script and every value is quoted for sh.
 *
 * `{word}` that is not a replacement string stays literal (awk '{print}');
 * `{N}` beyond the number of sources is an error, found at parse time.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

enum piece_kind { P_TEXT, P_ALL, P_SOURCE, P_JOB, P_SLOT };
enum piece_mod { M_NONE, M_NOEXT, M_BASE, M_DIR, M_BASE_NOEXT };

typedef struct piece {
  enum piece_kind kind;
  enum piece_mod mod;
  size_t source;    /* P_SOURCE */
  const char *text; /* P_TEXT: points into the word */
  size_t len;
} piece;

typedef struct word {
  piece *p;
  size_t n;
} word;

struct run_template {
  word *w;
  size_t n;
  int shell;
  int appends; /* no replacement string anywhere: append the values */
};

static int parse_mod(const char *s, size_t n, enum piece_mod *mod) {
  static const struct { const char *s; enum piece_mod m; } mods[] = {
      {"", M_NONE}, {".", M_NOEXT}, {"/", M_BASE}, {"//", M_DIR},
      {"/.", M_BASE_NOEXT}};
  for (size_t i = 0; i < sizeof mods / sizeof mods[0]; i++)
    if (strlen(mods[i].s) == n && memcmp(mods[i].s, s, n) == 0) {
      *mod = mods[i].m;
      return 0;
    }
  return -1;
}

/* Parses the body of {...}. Returns 1 for a replacement, 0 for literal
 * text, -1 for an error (err set). */
static int parse_repl(const char *b, size_t n, const run_inputs *in,
                      piece *pc, run_err err) {
  if (n == 1 && (b[0] == '#' || b[0] == '%')) {
    pc->kind = b[0] == '#' ? P_JOB : P_SLOT;
    return 1;
  }
  size_t sel = 0;
  while (sel < n && (isalnum((unsigned char)b[sel]) || b[sel] == '_')) sel++;
  if (parse_mod(b + sel, n - sel, &pc->mod) != 0) return 0;
  if (sel == 0) {
    pc->kind = P_ALL;
    return 1;
  }
  pc->kind = P_SOURCE;
  if (isdigit((unsigned char)b[0])) {
    size_t k = 0;
    for (size_t i = 0; i < sel; i++) /* {2x} is no number: literal */
      if (!isdigit((unsigned char)b[i])) return 0;
    for (size_t i = 0; i < sel && k <= in->nsrc; i++) /* k cannot wrap */
      k = k * 10 + (size_t)(b[i] - '0');
    if (k == 0 || k > in->nsrc)
      return run_fail(err, "{%.*s} refers to input source %.*s, but there %s "
                      "only %zu", (int)n, b, (int)sel, b,
                      in->nsrc == 1 ? "is" : "are", in->nsrc);
    pc->source = k - 1;
    return 1;
  }
  for (size_t s = 0; s < in->nsrc; s++)
    if (in->src[s].name && strlen(in->src[s].name) == sel &&
        memcmp(in->src[s].name, b, sel) == 0) {
      pc->source = s;
      return 1;
    }
  return 0;
}

static int push_piece(word *w, piece pc) {
  piece *p = realloc(w->p, (w->n + 1) * sizeof *p);
  if (p == NULL) return -1;
  w->p = p;
  w->p[w->n++] = pc;
  return 0;
}

static int parse_word(word *w, const char *s, const run_inputs *in,
                      int *has_repl, run_err err) {
  const char *text = s, *close = s; /* close: the last '}' found */
  for (const char *p = s; *p;) {
    if (*p != '{') {
      p++;
      continue;
    }
    /* searched again only past the last '}': linear in the word */
    if (close <= p && (close = strchr(p + 1, '}')) == NULL) break;
    piece pc = {0};
    int r = parse_repl(p + 1, (size_t)(close - p - 1), in, &pc, err);
    if (r < 0) return -1;
    if (r == 0) {
      p++;
      continue;
    }
    if (p > text &&
        push_piece(w, (piece){P_TEXT, M_NONE, 0, text, (size_t)(p - text)}))
      return run_fail(err, "out of memory");
    if (push_piece(w, pc) != 0) return run_fail(err, "out of memory");
    *has_repl = 1;
    p = text = close + 1;
  }
  if (*text && push_piece(w, (piece){P_TEXT, M_NONE, 0, text, strlen(text)}))
    return run_fail(err, "out of memory");
  return 0;
}

int run_template_parse(run_template **out, char **words, size_t n, int shell,
                       const run_inputs *in, run_err err) {
  if (n == 0 || (n == 1 && words[0][0] == '\0'))
    return run_fail(err, "no command given");
  run_template *t = calloc(1, sizeof *t);
  if (t == NULL || (t->w = calloc(n, sizeof *t->w)) == NULL) {
    free(t);
    return run_fail(err, "out of memory");
  }
  t->n = n;
  t->shell = shell;
  int has_repl = 0;
  for (size_t i = 0; i < n; i++)
    if (parse_word(&t->w[i], words[i], in, &has_repl, err) != 0) {
      run_template_free(t);
      return -1;
    }
  t->appends = !has_repl;
  *out = t;
  return 0;
}

void run_template_free(run_template *t) {
  if (t == NULL) return;
  for (size_t i = 0; i < t->n; i++) free(t->w[i].p);
  free(t->w);
  free(t);
}

/* ------------------------------------------------------------ expansion */

static int safe_char(unsigned char c) {
  return isalnum(c) || strchr("_./:=@%+,-", c) != NULL;
}

int run_shell_quote(run_buf *b, const char *s) {
  size_t n = strlen(s), i = 0;
  while (i < n && safe_char((unsigned char)s[i])) i++;
  if (n > 0 && i == n) return run_buf_add(b, s, n);
  if (run_buf_add(b, "'", 1)) return -1;
  for (const char *p = s; *p; p++) {
    if (*p == '\'' ? run_buf_str(b, "'\"'\"'") : run_buf_add(b, p, 1))
      return -1;
  }
  return run_buf_add(b, "'", 1);
}

/* Appends value `v` with modifier `m` (quoted when `quote`). */
static int add_value(run_buf *b, const char *v, enum piece_mod m, int quote) {
  const char *slash = strrchr(v, '/');
  const char *base = slash ? slash + 1 : v;
  const char *dot = strrchr(base, '.');
  const char *from = v, *to = v + strlen(v);
  switch (m) {
  case M_NONE: break;
  case M_NOEXT: if (dot) to = dot; break;
  case M_BASE: from = base; break;
  case M_DIR:
    if (slash == NULL) from = ".", to = from + 1;
    else to = slash;
    break;
  case M_BASE_NOEXT: from = base; if (dot) to = dot; break;
  }
  if (!quote) return run_buf_add(b, from, (size_t)(to - from));
  char *tmp = strndup(from, (size_t)(to - from));
  int rc = tmp ? run_shell_quote(b, tmp) : -1;
  free(tmp);
  return rc;
}

typedef struct expansion {
  const run_template *t;
  const run_inputs *in;
  size_t job;
  unsigned slot;
  run_buf args; /* NUL-separated arguments, or the script in shell mode */
  size_t argc;
} expansion;

static const char *value_of(const expansion *x, size_t s) {
  return x->in->src[s].values[run_inputs_pick(x->in, x->job, s)];
}

/* Ends the argument being built (not in shell mode). */
static int end_arg(expansion *x) {
  if (x->t->shell) return 0;
  x->argc++;
  return run_buf_add(&x->args, "", 1);
}

/* All values, as separate arguments or space-separated in one. */
static int add_all(expansion *x, enum piece_mod m, int separate) {
  for (size_t s = 0; s < x->in->nsrc; s++) {
    if (s > 0 && (separate ? end_arg(x) : run_buf_add(&x->args, " ", 1)))
      return -1;
    if (add_value(&x->args, value_of(x, s), m, x->t->shell)) return -1;
  }
  return 0;
}

static int add_piece(expansion *x, const piece *pc, int alone) {
  char num[32];
  switch (pc->kind) {
  case P_TEXT: return run_buf_add(&x->args, pc->text, pc->len);
  case P_ALL: return add_all(x, pc->mod, alone && !x->t->shell);
  case P_SOURCE:
    return add_value(&x->args, value_of(x, pc->source), pc->mod, x->t->shell);
  case P_JOB: snprintf(num, sizeof num, "%zu", x->job + 1); break;
  case P_SLOT: snprintf(num, sizeof num, "%u", x->slot); break;
  }
  return run_buf_str(&x->args, num);
}

static int build(expansion *x) {
  const run_template *t = x->t;
  for (size_t i = 0; i < t->n; i++) {
    if (t->shell && i > 0 && run_buf_add(&x->args, " ", 1)) return -1;
    for (size_t k = 0; k < t->w[i].n; k++)
      if (add_piece(x, &t->w[i].p[k], t->w[i].n == 1)) return -1;
    if (end_arg(x)) return -1;
  }
  if (t->appends)
    for (size_t s = 0; s < x->in->nsrc; s++) {
      if (t->shell && run_buf_add(&x->args, " ", 1)) return -1;
      if (add_value(&x->args, value_of(x, s), M_NONE, t->shell) ||
          end_arg(x))
        return -1;
    }
  return 0;
}

/* Packs the arguments into one block: argv pointers, then the strings. */
static char **pack_argv(const char *const *pre, size_t npre, const char *data,
                        size_t len, size_t argc) {
  size_t total = (npre + argc + 1) * sizeof(char *) + len;
  for (size_t i = 0; i < npre; i++) total += strlen(pre[i]) + 1;
  char **argv = malloc(total);
  if (argv == NULL) return NULL;
  char *p = (char *)(argv + npre + argc + 1);
  for (size_t i = 0; i < npre; i++) {
    argv[i] = strcpy(p, pre[i]);
    p += strlen(pre[i]) + 1;
  }
  memcpy(p, data, len);
  for (size_t i = 0; i < argc; i++) {
    argv[npre + i] = p;
    p += strlen(p) + 1;
  }
  argv[npre + argc] = NULL;
  return argv;
}

int run_template_expand(const run_template *t, const run_inputs *in,
                        size_t job, unsigned slot, char ***argv, char **line) {
  expansion x = {.t = t, .in = in, .job = job, .slot = slot};
  run_buf ln = {0};
  *argv = NULL;
  int rc = build(&x);
  if (rc == 0 && t->shell) {
    static const char *const sh[] = {"/bin/sh", "-c"};
    *argv = pack_argv(sh, 2, x.args.data, x.args.len + 1, 1);
    *line = x.args.data; /* the script is the command line */
    return *argv ? 0 : (free(x.args.data), -1);
  }
  if (rc == 0) *argv = pack_argv(NULL, 0, x.args.data, x.args.len, x.argc);
  if (rc == 0 && *argv == NULL) rc = -1;
  for (size_t i = 0; rc == 0 && i < x.argc; i++)
    if ((i > 0 && run_buf_add(&ln, " ", 1)) ||
        run_shell_quote(&ln, (*argv)[i]))
      rc = -1;
  run_buf_free(&x.args);
  if (rc == 0 && ln.data == NULL) rc = run_buf_add(&ln, "", 0);
  if (rc != 0) {
    if (*argv) free(*argv);
    *argv = NULL;
    run_buf_free(&ln);
    return -1;
  }
  *line = ln.data;
  return 0;
}
