/* run_template.c -- the command template of `parc run`.
 *
 * Each word of the command is parsed once into pieces: literal text, or a
 * replacement string ({}, {3}, {NAME}, {#}, {%}, with the modifiers . / //
 * /.). A command whose words hold shell syntax (needs_shell), or any
 * with --shell, is a shell line, as GNU parallel runs every command: the
 * words are joined into one `sh -c` script and every value is quoted for
 * sh; with --shell -q the words themselves are quoted too (GNU's --quote).
 * Any other command -- plain words, or any with -q -- is built without a
 * shell: one argument per word, so no value can change how it is split.
 *
 * A job has a list of values: those of its tuples (one, or several with
 * -n/-N/-m/-X), source after source, column after column; a column that a
 * record lacks is left out (as GNU parallel does). {N} is the Nth of them
 * (empty when there are fewer), {NAME} the one of that --grid axis or
 * --header column, {} all of them: a word holding {} becomes one word per
 * value, the first with the text before {} and the last with the text
 * after (GNU's `x{}y` with a, b: `xa` `by`). In context mode (-X, -N) a
 * word holding {} is instead repeated once per value. Without replacement
 * strings the values are appended, one argument each. Without a command
 * each job's values, joined by spaces, are a command line for sh.
 *
 * `{word}` that is not a replacement string stays literal (awk '{print}').
 *
 * {= code =} and {=N code =} are GNU's perl replacement strings: a value,
 * all of them or the Nth, through perl code (run_perl.c), where {} or {N}
 * would give it as it is. As in GNU, words that split a {= from its =}
 * are joined first (`echo {= 's/a/b/' =}`); each (expression, value) is
 * evaluated once per expansion, and a job's expressions hold the perl
 * co-process's lock while it is built. A template whose code calls uq()
 * is a shell line: an unquoted value only means something to a shell.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"
#include "run_perl.h"

extern char **environ;

enum piece_kind { P_TEXT, P_ALL, P_POS, P_JOB, P_SLOT, P_TOTAL };
enum piece_mod {
  M_NONE,
  M_NOEXT,
  M_BASE,
  M_DIR,
  M_BASE_NOEXT,
  /* --plus: two or three extensions off; the extensions; the directory
   * ("" without one); the base name less two or three extensions */
  M_NOEXT2,
  M_NOEXT3,
  M_EXT,
  M_EXT2,
  M_EXT3,
  M_PDIR,
  M_BASE_NOEXT2,
  M_BASE_NOEXT3,
  M_PERL /* {= code =}: the value through perl code */
};

typedef struct piece {
  enum piece_kind kind;
  enum piece_mod mod;
  size_t pos;       /* P_POS: index into the job's values */
  int from_end;     /* P_POS: pos counts from the last value ({-1}) */
  const char *text; /* P_TEXT: points into the word */
  size_t len;
  size_t perl; /* M_PERL: its expression, an index into run_template.perl */
} piece;

typedef struct word {
  piece *p;
  size_t n;
  int has_all; /* holds {} (repeated per value in context mode) */
} word;

struct run_template {
  word *w;
  size_t n;
  int shell;      /* one `sh -c` script, values quoted */
  int quote;      /* -q with --shell: the words are quoted too */
  int context;    /* -X, -N: a word with {} is repeated per value */
  int appends;    /* no replacement string anywhere: append the values */
  int from_input; /* no command: the values are the command line */
  int no_args;    /* -n 0, -N 0: the job's values are not in its command */
  size_t njobs;   /* {##} (--plus): the jobs */
  int *perl;      /* the ids of its distinct {= =} expressions (run_perl.c) */
  size_t nperl;
  int perl_held; /* it holds the perl co-process */
  int uq;        /* some code calls uq(): a shell line */
  char **joined; /* words joined around {= =} (the pieces point into them) */
  size_t njoined;
};

/* GNU's modifiers; with --plus (`plus`) also those of its --plus: {} is
 * {+/}/{/} = {.}.{+.} = {..}.{+..} = {...}.{+...}. */
static int parse_mod(const char *s, size_t n, int plus, enum piece_mod *mod) {
  static const struct {
    const char *s;
    enum piece_mod m;
  } mods[] = {
      {"", M_NONE},           {".", M_NOEXT},       {"/", M_BASE},
      {"//", M_DIR},          {"/.", M_BASE_NOEXT}, {"..", M_NOEXT2},
      {"...", M_NOEXT3},      {"+.", M_EXT},        {"+..", M_EXT2},
      {"+...", M_EXT3},       {"+/", M_PDIR},       {"/..", M_BASE_NOEXT2},
      {"/...", M_BASE_NOEXT3}};
  size_t count = plus ? sizeof mods / sizeof mods[0] : 5;
  for (size_t i = 0; i < count; i++)
    if (strlen(mods[i].s) == n && memcmp(mods[i].s, s, n) == 0) {
      *mod = mods[i].m;
      return 0;
    }
  return -1;
}

/* A decimal number, saturated at MAX_POS (no value has such a place). */
#define MAX_POS ((size_t)1 << 40)
static size_t parse_pos(const char *s, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n && k <= MAX_POS; i++)
    k = k * 10 + (size_t)(s[i] - '0');
  return k;
}

/* Parses the body of {...}. Returns 1 for a replacement, 0 for literal
 * text, -1 for an error (err set). {N} beyond the values a job has is
 * empty, as in GNU parallel, except where every job has `fixed` values
 * (one per source): there it is an error. {-N} counts from the last. */
static int parse_repl(const char *b, size_t n, const run_inputs *in,
                      size_t fixed, int plus, piece *pc, run_err err) {
  if (n == 1 && (b[0] == '#' || b[0] == '%')) {
    pc->kind = b[0] == '#' ? P_JOB : P_SLOT;
    return 1;
  }
  if (plus && n == 2 && b[0] == '#' && b[1] == '#') { /* {##}: the jobs */
    pc->kind = P_TOTAL;
    return 1;
  }
  if (n > 1 && b[0] == '-' && isdigit((unsigned char)b[1])) { /* {-N} */
    size_t d = 1;
    while (d < n && isdigit((unsigned char)b[d])) d++;
    if (parse_mod(b + d, n - d, plus, &pc->mod) != 0)
      return 0;
    size_t k = parse_pos(b + 1, d - 1);
    if (k == 0)
      return 0;
    *pc = (piece){.kind = P_POS, .mod = pc->mod, .pos = k - 1, .from_end = 1};
    return 1;
  }
  size_t sel = 0;
  while (sel < n && (isalnum((unsigned char)b[sel]) || b[sel] == '_')) sel++;
  if (parse_mod(b + sel, n - sel, plus, &pc->mod) != 0)
    return 0;
  if (sel == 0) {
    pc->kind = P_ALL;
    return 1;
  }
  pc->kind = P_POS;
  if (isdigit((unsigned char)b[0])) {
    for (size_t i = 0; i < sel; i++) /* {2x} is no number: literal */
      if (!isdigit((unsigned char)b[i]))
        return 0;
    size_t k = parse_pos(b, sel);
    if (fixed && k > fixed) /* a place no job has: a mistake (not GNU) */
      return run_fail(err,
                      "{%.*s} refers to input source %.*s, but there %s "
                      "only %zu",
                      (int)n, b, (int)sel, b, fixed == 1 ? "is" : "are", fixed);
    pc->from_end = k == 0; /* {0}: the last value (Perl's index -1) */
    pc->pos = k == 0 ? 0 : k - 1;
    return 1;
  }
  for (size_t s = 0; s < in->nsrc; s++)
    if (in->src[s].name && strlen(in->src[s].name) == sel &&
        memcmp(in->src[s].name, b, sel) == 0) {
      pc->pos = s;
      return 1;
    }
  return 0;
}

/* ------------------------------------------------------------ {= perl =} */

/* Where the =} of a {= at p is: the first one after it, unless another {=
 * comes first (GNU's shortest match; this {= is then text); NULL when
 * none. *next caches the first =} after an earlier {=, so that a word's
 * scan stays linear. */
static const char *perl_end(const char *p, const char **next) {
  if (*next != NULL && *next < p + 2)
    *next = strstr(p + 2, "=}");
  if (*next == NULL)
    return NULL;
  for (const char *q = p + 2; q < *next; q++)
    if (q[0] == '{' && q[1] == '=')
      return NULL;
  return *next;
}

/* Does code call uq()? (a word uq, not part of a longer name) */
static int calls_uq(const char *c, size_t n) {
  for (size_t i = 0; i + 2 <= n; i++)
    if (c[i] == 'u' && c[i + 1] == 'q' &&
        (i == 0 || !(isalnum((unsigned char)c[i - 1]) || c[i - 1] == '_')) &&
        (i + 2 == n || !(isalnum((unsigned char)c[i + 2]) || c[i + 2] == '_')))
      return 1;
  return 0;
}

/* The expression's place among the template's, compiled at first sight. */
static int add_perl(run_template *t, const char *code, size_t n, piece *pc,
                    run_err err) {
  int id;
  if (!t->perl_held && run_perl_hold(err) != 0)
    return -1;
  t->perl_held = 1;
  if (run_perl_compile(code, n, &id, err) != 0)
    return -1;
  t->uq |= calls_uq(code, n);
  pc->mod = M_PERL;
  for (pc->perl = 0; pc->perl < t->nperl; pc->perl++)
    if (t->perl[pc->perl] == id)
      return 0;
  int *ids = realloc(t->perl, (t->nperl + 1) * sizeof *ids);
  if (ids == NULL)
    return run_fail(err, "out of memory");
  t->perl = ids;
  t->perl[t->nperl++] = id;
  return 0;
}

/* The body of {= ... =} (b, n bytes), as GNU reads it: a number first is
 * the position, {=2 code =} as {2} ({=-1 ...=} from the last, {=0 ...=}
 * all values); GNU's --header makes {=NAME code =} of a column's name,
 * which parc takes for a --grid axis or --header column NAME followed by
 * a blank. The code is the rest, less the blanks around it. */
static int parse_perl(run_template *t, const char *b, size_t n,
                      const run_inputs *in, size_t fixed, piece *pc,
                      run_err err) {
  size_t d = b[0] == '-', sel = 0;
  while (d + sel < n && isdigit((unsigned char)b[d + sel])) sel++;
  pc->kind = P_ALL;
  if (sel > 0) {
    size_t k = parse_pos(b + d, sel);
    if (!d && fixed && k > fixed)
      return run_fail(err,
                      "{=%.*s ...=} refers to input source %.*s, but there "
                      "%s only %zu",
                      (int)sel, b, (int)sel, b, fixed == 1 ? "is" : "are",
                      fixed);
    if (k > 0)
      *pc = (piece){.kind = P_POS, .pos = k - 1, .from_end = d};
    sel += d;
  } else {
    while (sel < n && (isalnum((unsigned char)b[sel]) || b[sel] == '_')) sel++;
    size_t s = 0;
    while (sel < n && strchr(" \t\n", b[sel]) && s < in->nsrc &&
           !(in->src[s].name && strlen(in->src[s].name) == sel &&
             memcmp(in->src[s].name, b, sel) == 0))
      s++;
    if (sel < n && strchr(" \t\n", b[sel]) && s < in->nsrc)
      *pc = (piece){.kind = P_POS, .pos = s};
    else
      sel = 0;
  }
  while (sel < n && b[sel] == ' ') sel++;
  while (n > sel && strchr(" \t\n", b[n - 1])) n--; /* for messages */
  return add_perl(t, b + sel, n - sel, pc, err);
}

/* How many {= in s no =} closes, after `open` of the words before it
 * (GNU's merge_rpl_parts counts so). */
static size_t perl_open(const char *s, size_t open) {
  for (const char *p = s; *p; p++)
    if (p[0] == '{' && p[1] == '=')
      open++, p++;
    else if (p[0] == '=' && p[1] == '}' && open > 0)
      open--, p++;
  return open;
}

/* The last word of the group that begins at word i: the one whose =}
 * closes what i opens; i itself when it opens nothing, or nothing closes
 * it (GNU's words, as they are). */
static size_t perl_group_end(char **words, size_t n, size_t i) {
  size_t open = perl_open(words[i], 0), j = i;
  while (open > 0 && j + 1 < n) open = perl_open(words[++j], open);
  return open > 0 ? i : j;
}

/* GNU joins the words that a {= and its =} split, with spaces, before it
 * looks for replacement strings: `echo {= 's/a/b/' =}` is `echo` and
 * `{= s/a/b/ =}`. *words and *n become the joined ones (a malloc'd array
 * when any were joined, the strings then owned by t). 0 or -1 (ENOMEM). */
static int join_perl_words(run_template *t, char ***words, size_t *n) {
  char **in = *words;
  size_t i = 0, nw;
  while (i < *n && perl_group_end(in, *n, i) == i) i++;
  if (i == *n)
    return 0; /* nothing to join: the common case */
  char **w = malloc(*n * sizeof *w);
  if (w == NULL || (t->joined = malloc(*n * sizeof *t->joined)) == NULL) {
    free(w);
    return -1;
  }
  memcpy(w, in, i * sizeof *w);
  for (nw = i; i < *n; i++) {
    size_t j = perl_group_end(in, *n, i);
    run_buf b = {0};
    for (size_t k = i; j > i && k <= j; k++)
      if ((k > i && run_buf_add(&b, " ", 1)) || run_buf_str(&b, in[k])) {
        run_buf_free(&b);
        free(w);
        return -1;
      }
    w[nw++] = j > i ? (t->joined[t->njoined++] = b.data) : in[i];
    i = j;
  }
  *words = w;
  *n = nw;
  return 0;
}

static int push_piece(word *w, piece pc) {
  piece *p = realloc(w->p, (w->n + 1) * sizeof *p);
  if (p == NULL)
    return -1;
  w->p = p;
  w->p[w->n++] = pc;
  w->has_all |= pc.kind == P_ALL;
  return 0;
}

static int parse_word(run_template *t, word *w, const char *s,
                      const run_inputs *in, size_t fixed, int plus,
                      int *has_repl, run_err err) {
  const char *text = s, *close = s; /* close: the last '}' found */
  const char *pclose = s;           /* the last "=}" found (perl_end) */
  for (const char *p = s; *p;) {
    if (*p != '{') {
      p++;
      continue;
    }
    const char *end = p[1] == '=' ? perl_end(p, &pclose) : NULL;
    piece pc = {0};
    if (end) {
      if (parse_perl(t, p + 2, (size_t)(end - p - 2), in, fixed, &pc, err))
        return -1;
      close = end + 1;
    } else {
      /* searched again only past the last '}': linear in the word */
      if (close <= p && (close = strchr(p + 1, '}')) == NULL)
        break;
      int r = parse_repl(p + 1, (size_t)(close - p - 1), in, fixed, plus, &pc,
                         err);
      if (r < 0)
        return -1;
      if (r == 0) {
        p++;
        continue;
      }
    }
    if (p > text && push_piece(w, (piece){.kind = P_TEXT,
                                          .text = text,
                                          .len = (size_t)(p - text)}))
      return run_fail(err, "out of memory");
    if (push_piece(w, pc) != 0)
      return run_fail(err, "out of memory");
    *has_repl = 1;
    p = text = close + 1;
  }
  if (*text &&
      push_piece(w, (piece){.kind = P_TEXT, .text = text, .len = strlen(text)}))
    return run_fail(err, "out of memory");
  return 0;
}

/* ------------------------------------------------------------ modifiers */

/* The part of v that modifier m keeps, as GNU parallel computes it: {.}
 * drops the last extension (s:\.[^/.]*$::), {/} what is up to the last
 * slash, {//} is Perl's File::Basename::dirname. */
/* Where v's last k extensions begin, (\.[^/.]+){k} at its end as GNU's
 * --plus strings match them, or NULL when it has fewer. */
static const char *ext_start(const char *v, size_t len, int k) {
  size_t pos = len;
  for (int i = 0; i < k; i++) {
    size_t e = pos;
    while (e > 0 && v[e - 1] != '.' && v[e - 1] != '/') e--;
    if (e == pos || e == 0 || v[e - 1] != '.')
      return NULL;
    pos = e - 1;
  }
  return v + pos;
}

static void mod_range(const char *v, enum piece_mod m, const char **from,
                      size_t *n) {
  size_t len = strlen(v);
  const char *slash = strrchr(v, '/');
  const char *base = slash ? slash + 1 : v;
  const char *dot = strrchr(base, '.');
  const char *to = v + len;
  *from = v;
  switch (m) {
  case M_NONE:
  case M_PERL: break; /* -m, -X count {= =} as the value it is given */
  case M_NOEXT:
    if (dot)
      to = dot;
    break;
  case M_BASE: *from = base; break;
  case M_BASE_NOEXT:
    *from = base;
    if (dot)
      to = dot;
    break;
  case M_DIR: {
    size_t k = len, d;
    while (k > 1 && v[k - 1] == '/') k--; /* trailing slashes go first */
    for (d = k; d > 0 && v[d - 1] != '/'; d--) {
    }
    if (d == 0) { /* no slash: the current directory */
      *from = ".";
      to = *from + 1;
      break;
    }
    while (d > 1 && v[d - 1] == '/') d--; /* "a//b" -> "a", "/x" -> "/" */
    to = v + d;
    break;
  }
  case M_NOEXT2:
  case M_NOEXT3:
  case M_BASE_NOEXT2:
  case M_BASE_NOEXT3: {
    int k = m == M_NOEXT2 || m == M_BASE_NOEXT2 ? 2 : 3;
    const char *e = ext_start(v, len, k);
    if (m == M_BASE_NOEXT2 || m == M_BASE_NOEXT3)
      *from = base;
    if (e)
      to = e;
    break;
  }
  case M_EXT:
  case M_EXT2:
  case M_EXT3: {
    const char *e = ext_start(v, len, m == M_EXT ? 1 : m == M_EXT2 ? 2 : 3);
    *from = e ? e + 1 : to; /* none: empty */
    break;
  }
  case M_PDIR: to = slash ? slash : v; break;
  }
  *n = (size_t)(to - *from);
}

/* ------------------------------------------------------------ job sizes */

static int safe_char(unsigned char c) {
  return isalnum(c) || strchr("_./:=@%+,-", c) != NULL;
}

/* The length of s[0..n) as GNU parallel quotes it for sh, which is what
 * it counts against its limit: '...' unless every character is safe,
 * each ' as '"'"', no '' left at the ends. */
static size_t gnu_quoted_len(const char *s, size_t n) {
  size_t q = 0;
  int unsafe = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    unsafe |= !(isalnum(c) || strchr("-_.+/", c));
    q += c == '\'' ? 4 : 0;
  }
  if (n == 0)
    return 2;
  if (!unsafe)
    return n;
  return n + q + 2 - (s[0] == '\'' ? 2 : 0) - (s[n - 1] == '\'' ? 2 : 0);
}

/* GNU parallel's longest command line for -m and -X: the longest that
 * runs (here: the system's argument limit less the environment, as xargs
 * counts it, at most Linux's longest single argument, as a `sh -c` script
 * is one), found by GNU's search, which stops within 1% below it; then
 * less 3000 and halved, as GNU keeps room for its wrapping. The same
 * search makes the jobs take as many values as GNU's. */
static int gnu_line_ok(size_t len, size_t sys) { return len <= sys; }

static size_t gnu_find_max(size_t lo, size_t hi, size_t sys) {
  while (!(lo == hi || lo + 1 == hi || (double)lo / (double)hi > 0.99)) {
    size_t mid = (hi - lo) / 2 + lo;
    if (gnu_line_ok(mid, sys))
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

static size_t line_limit(void) {
  long argmax = sysconf(_SC_ARG_MAX);
  size_t sys = argmax > 0 ? (size_t)argmax : 131072, env = 0;
  for (char **e = environ; e && *e; e++) env += strlen(*e) + 1 + sizeof *e;
  sys = sys > env + 8192 ? sys - env : 8192;
  if (sys > 131071)
    sys = 131071; /* MAX_ARG_STRLEN, with its NUL */
  size_t len = 324, lo = len;
  do {
    lo = len;
    len *= 16;
  } while (gnu_line_ok(len, sys));
  size_t max = gnu_find_max(lo, len, sys);
  return max > 3000 + 2000 ? (max - 3000) / 2 : 1000;
}

/* What GNU parallel counts for a job's command line (its CommandLine
 * len): the text, and per replacement string the lengths of what it
 * stands for plus a space per value; in context mode (-X) the words with
 * replacement strings once per value. */
typedef struct len_model {
  size_t text_all;   /* all literal text */
  size_t ctx_text;   /* literal text of the words with replacements */
  size_t ctx_groups; /* those words (+1 for the implied {} when none) */
  size_t nrepl;      /* replacement strings (+1 for the implied {}) */
  size_t words;      /* words (+1 for the implied {}) */
} len_model;

static len_model model_of(const run_template *t) {
  len_model m = {0};
  for (size_t i = 0; i < t->n; i++) {
    size_t text = 0, repl = 0;
    for (size_t k = 0; k < t->w[i].n; k++)
      if (t->w[i].p[k].kind == P_TEXT)
        text += t->w[i].p[k].len;
      else
        repl++;
    m.text_all += text;
    if (repl)
      m.ctx_text += text, m.ctx_groups++;
    m.nrepl += repl;
  }
  m.words = t->n;
  if (t->appends || t->from_input)
    m.words++, m.ctx_groups++, m.nrepl++;
  return m;
}

/* The length before any value: below 0 when the (values - 1) spaces
 * per replacement string count against it. */
static long long len_start(const run_template *t, const len_model *m) {
  long long len = (long long)(m->text_all + m->words) - 1;
  return len - (long long)(t->context ? m->ctx_text + m->ctx_groups : m->nrepl);
}

static size_t mod_len(const char *v, enum piece_mod mod) {
  const char *from;
  size_t n;
  mod_range(v, mod, &from, &n);
  return gnu_quoted_len(from, n);
}

/* The value of source s in tuple tp, or NULL when its record lacks it. */
static const char *tuple_value(const run_inputs *in, size_t tp, size_t s) {
  size_t i = run_inputs_pick_tuple(in, tp, s);
  return in->src[s].absent && in->src[s].absent[i] ? NULL
                                                   : in->src[s].values[i];
}

/* The k-th value tuple tp has (sources whose record lacks it skipped). */
static const char *tuple_nth(const run_inputs *in, size_t tp, size_t k) {
  for (size_t s = 0; s < in->nsrc; s++) {
    const char *v = tuple_value(in, tp, s);
    if (v && k-- == 0)
      return v;
  }
  return NULL;
}

/* What tuple tp adds to a job's length. */
static size_t tuple_len(const run_template *t, const len_model *m,
                        const run_inputs *in, size_t tp) {
  size_t r = 0, sum = 0, all = 0;
  for (size_t s = 0; s < in->nsrc; s++) {
    const char *v = tuple_value(in, tp, s);
    if (v)
      all += gnu_quoted_len(v, strlen(v)), r++;
  }
  for (size_t i = 0; i < t->n; i++)
    for (size_t k = 0; k < t->w[i].n; k++) {
      const piece *pc = &t->w[i].p[k];
      if (pc->kind == P_ALL) {
        for (size_t s = 0; s < in->nsrc; s++) {
          const char *v = tuple_value(in, tp, s);
          if (v)
            sum += mod_len(v, pc->mod);
        }
      } else if (pc->kind == P_POS && pc->pos < r) {
        sum += mod_len(
            tuple_nth(in, tp, pc->from_end ? r - 1 - pc->pos : pc->pos),
            pc->mod);
      }
    }
  if (t->appends || t->from_input)
    sum += all;
  return t->context ? sum + r * (m->ctx_text + m->ctx_groups)
                    : sum + r * m->nrepl;
}

/* -m and -X measure every value's length against the system's limit, so
 * their inputs are bounded (a grid can multiply to 10^8 tuples); the fuzz
 * build makes the bound smaller (fuzz/CMakeLists.txt). */
#ifndef RUN_MULTI_MAX
#define RUN_MULTI_MAX ((size_t)1000000)
#endif

/* -m, -X: each job takes tuples while its command stays under the limit
 * (at most max, if -n says); when the rest fits in one job, it is spread
 * over the job slots, at most ceil(rest / slots) a job (GNU's populate).
 * A single tuple over the system's limit is a job of its own; over -s's,
 * an error (GNU's "Command line too long"). */
static int pack_jobs(const run_template *t, const run_template_opts *o,
                     run_inputs *in, run_err err) {
  len_model m = model_of(t);
  long long limit = o->max_chars ? (long long)o->max_chars
                                 : (long long)line_limit();
  size_t max = o->max_args, njobs = 0;
  int spread = o->slots > 1;
  if (in->ntuples > RUN_MULTI_MAX)
    return run_fail(err,
                    "-m and -X take at most %zu values; these inputs "
                    "have %zu",
                    (size_t)RUN_MULTI_MAX, in->ntuples);
  size_t *first = malloc((in->ntuples + 1) * sizeof *first);
  if (first == NULL)
    return run_fail(err, "out of memory");
  for (size_t tp = 0; tp < in->ntuples; njobs++) {
    long long len = len_start(t, &m);
    size_t count = 0, start = tp;
    first[njobs] = tp;
    while (tp < in->ntuples && (max == 0 || count < max)) {
      long long c = (long long)tuple_len(t, &m, in, tp);
      if (count > 0 && len + c >= limit)
        break;
      if (o->max_chars && len + c >= limit) { /* -s: one value too long */
        free(first);
        return run_fail(
            err,
            "command line too long (%lld >= %zu) at "
            "input %zu: %s",
            len + c, o->max_chars, tp,
            in->nsrc ? in->src[0].values[run_inputs_pick_tuple(in, tp, 0)]
                     : "");
      }
      len += c, count++, tp++;
    }
    if (spread && tp == in->ntuples && count > 1) {
      spread = 0;
      max = (count + o->slots - 1) / o->slots;
      tp = start + max;
    }
  }
  first[njobs] = in->ntuples;
  size_t *shrunk = realloc(first, (njobs + 1) * sizeof *first);
  in->first = shrunk ? shrunk : first;
  in->njobs = njobs;
  return 0;
}

/* Which tuples each job takes: one, N (-n, -N) or as many as fit. Done
 * once per run_inputs_finish: a later parse (--tag's, --tagstring's, on
 * a copy of the inputs) finds the jobs made and leaves them as they are,
 * so it never frees what the original points to. */
static int group_jobs(const run_template *t, const run_template_opts *o,
                      run_inputs *in, run_err err) {
  if (in->first != NULL || in->per_job > 1 || in->ntuples == 0)
    return 0;
  if (o->multi)
    return pack_jobs(t, o, in, err);
  if (o->max_args > 1) {
    in->per_job = o->max_args;
    in->njobs = (in->ntuples - 1) / o->max_args + 1;
  }
  return 0;
}

/* NAME=... : a shell assignment, when it is the first word. */
static int is_assignment(const char *w) {
  if (!(isalpha((unsigned char)*w) || *w == '_'))
    return 0;
  while (isalnum((unsigned char)*w) || *w == '_') w++;
  return *w == '=';
}

/* Does w hold what sh reads as syntax, outside its {= =}? (perl code is
 * replaced before any shell sees the line, as in GNU) */
static int shell_syntax(const char *w) {
  const char *pclose = w;
  for (const char *p = w; *p; p++) {
    const char *end = p[0] == '{' && p[1] == '=' ? perl_end(p, &pclose) : NULL;
    if (end)
      p = end + 1;
    else if (strchr(" \t\n|&;<>()$`\\\"'*?[", *p))
      return 1;
  }
  return 0;
}

/* Is the command a shell line? GNU parallel hands every command to a
 * shell, its words joined with spaces as they are. parc runs the words
 * itself when the shell would read them as they are: when no word holds
 * anything sh reads as syntax -- blanks, quotes, $, `, \, an operator or
 * redirection, a glob, a leading ~ or #, an empty word (sh drops it) --
 * and no first word that only a shell runs: an assignment, a keyword, a
 * builtin such as exit, cd or export. Otherwise the command is a shell line,
 * so that a command line written for GNU parallel means the same here. */
static int needs_shell(char **words, size_t n) {
  /* what only a shell can run: its keywords and the builtins that change
   * the shell itself or have no program of their own */
  static const char *const shell_only[] = {
      "!",     "{",      "}",        "case",   "for",      "if",      "until",
      "while", ".",      ":",        "break",  "continue", "eval",    "exec",
      "exit",  "export", "readonly", "return", "set",      "shift",   "times",
      "trap",  "unset",  "alias",    "cd",     "command",  "getopts", "hash",
      "read",  "type",   "ulimit",   "umask",  "unalias",  "wait"};
  for (size_t k = 0; n > 0 && k < sizeof shell_only / sizeof *shell_only; k++)
    if (strcmp(words[0], shell_only[k]) == 0)
      return 1;
  for (size_t i = 0; i < n; i++) {
    const char *w = words[i];
    if (w[0] == '\0' || w[0] == '~' || w[0] == '#' || shell_syntax(w))
      return 1;
  }
  return n > 0 && is_assignment(words[0]);
}

int run_template_parse(run_template **out, char **words, size_t n,
                       const run_template_opts *topt, run_inputs *in,
                       run_err err) {
  if (n == 1 && words[0][0] == '\0')
    return run_fail(err, "empty command");
  run_template *t = calloc(1, sizeof *t);
  char **given = words;
  if (t == NULL || join_perl_words(t, &words, &n) != 0 ||
      (n && (t->w = calloc(n, sizeof *t->w)) == NULL)) {
    if (words != given)
      free(words);
    run_template_free(t);
    return run_fail(err, "out of memory");
  }
  t->n = n;
  t->shell = topt->shell ||
             (!topt->text && !topt->quote && needs_shell(words, n));
  t->quote = topt->quote;
  t->context = topt->multi == 'X' || topt->replace_args;
  t->from_input = n == 0;
  t->no_args = topt->no_args && n > 0;
  /* every job has one value per source: no -n, -m, -X, no columns */
  size_t fixed = topt->max_args > 1 || topt->multi || in->opt.colsep ||
                         in->opt.header || in->opt.csv || t->no_args
                     ? 0
                     : in->nsrc;
  int has_repl = 0, rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++)
    rc = parse_word(t, &t->w[i], words[i], in, fixed, topt->plus, &has_repl,
                    err);
  if (words != given)
    free(words);
  if (rc != 0) {
    run_template_free(t);
    return -1;
  }
  t->shell |= t->uq && !topt->text;
  t->appends = n > 0 && !has_repl;
  if (group_jobs(t, topt, in, err) != 0) {
    run_template_free(t);
    return -1;
  }
  t->njobs = in->njobs;
  *out = t;
  return 0;
}

void run_template_free(run_template *t) {
  if (t == NULL)
    return;
  for (size_t i = 0; t->w && i < t->n; i++) free(t->w[i].p);
  free(t->w);
  for (size_t i = 0; i < t->njoined; i++) free(t->joined[i]);
  free(t->joined);
  free(t->perl);
  if (t->perl_held)
    run_perl_drop();
  free(t);
}

/* ------------------------------------------------------------ expansion */

int run_shell_quote(run_buf *b, const char *s) {
  size_t n = strlen(s), i = 0;
  while (i < n && safe_char((unsigned char)s[i])) i++;
  if (n > 0 && i == n)
    return run_buf_add(b, s, n);
  if (run_buf_add(b, "'", 1))
    return -1;
  for (const char *p = s; *p; p++) {
    if (*p == '\'' ? run_buf_str(b, "'\"'\"'") : run_buf_add(b, p, 1))
      return -1;
  }
  return run_buf_add(b, "'", 1);
}

/* What a {= =} expression made of a value: evaluated at most once per
 * job (GNU caches them per value). */
typedef struct perl_value {
  char *s; /* NULL: not yet evaluated */
  int flags;
} perl_value;

typedef struct expansion {
  const run_template *t;
  size_t job;
  unsigned slot;
  const char **val; /* the job's values, in order */
  size_t nval;
  int quote_values; /* --shell without -q: each value quoted for sh */
  run_buf args;     /* NUL-terminated arguments, or the script */
  size_t argc;
  perl_value *pv; /* {= =}: [expression * nval + value] */
  int skip;       /* the code called skip() */
  int died;       /* the code died (said on stderr) */
} expansion;

/* Not in context mode: a word with {} stands for all the values. */
#define ALL_VALUES SIZE_MAX

/* The job's values: tuple after tuple, source after source; a column that
 * a record lacks is left out. */
static int gather(expansion *x, const run_inputs *in) {
  size_t first, count;
  run_inputs_tuples(in, x->job, &first, &count);
  if (in->nsrc && count > SIZE_MAX / sizeof *x->val / in->nsrc)
    return -1;
  x->val = malloc((count * in->nsrc + 1) * sizeof *x->val);
  if (x->val == NULL)
    return -1;
  for (size_t t = first; !x->t->no_args && t < first + count; t++)
    for (size_t s = 0; s < in->nsrc; s++) {
      size_t i = run_inputs_pick_tuple(in, t, s);
      if (!in->src[s].absent || !in->src[s].absent[i])
        x->val[x->nval++] = in->src[s].values[i];
    }
  if (in->nsrc == 0 && in->job_value && !x->t->no_args)
    x->val[x->nval++] = in->job_value;
  return 0;
}

/* Appends what expression e (of the template's) makes of value k. */
static int add_perl_value(expansion *x, size_t e, size_t k) {
  perl_value *pv = &x->pv[e * x->nval + k];
  if (pv->s == NULL) {
    run_buf r = {0};
    int rc = run_perl_eval(x->t->perl[e], k, &r, &pv->flags);
    if (rc != 0) {
      run_buf_free(&r);
      x->died |= rc == RUN_PERL_DIED;
      return -1;
    }
    pv->s = r.data;
    x->skip |= (pv->flags & RUN_PERL_SKIP) != 0;
  }
  if (!x->quote_values || (pv->flags & RUN_PERL_UQ))
    return run_buf_str(&x->args, pv->s);
  return run_shell_quote(&x->args, pv->s);
}

/* Appends value k with piece pc's modifier, or whole (pc NULL); quoted
 * in --shell mode. */
static int add_value(expansion *x, size_t k, const piece *pc) {
  const char *from, *v = x->val[k];
  size_t n;
  if (pc && pc->mod == M_PERL)
    return add_perl_value(x, pc->perl, k);
  mod_range(v, pc ? pc->mod : M_NONE, &from, &n);
  if (!x->quote_values)
    return run_buf_add(&x->args, from, n);
  char *tmp = strndup(from, n);
  int rc = tmp ? run_shell_quote(&x->args, tmp) : -1;
  free(tmp);
  return rc;
}

/* Ends the argument being built: a NUL, or a space in a script. */
static int end_arg(expansion *x) {
  if (x->quote_values)
    return run_buf_add(&x->args, " ", 1);
  x->argc++;
  return run_buf_add(&x->args, "", 1);
}

/* One replacement; `only`: the value {} stands for (context mode), or
 * ALL_VALUES. */
static int add_piece(expansion *x, const piece *pc, size_t only) {
  char num[32];
  switch (pc->kind) {
  case P_TEXT: return run_buf_add(&x->args, pc->text, pc->len);
  case P_ALL:
    if (only != ALL_VALUES)
      return add_value(x, only, pc);
    if (x->nval == 0 && pc->mod == M_PERL) /* -n 0: the code on "" (GNU) */
      return add_perl_value(x, pc->perl, 0);
    for (size_t k = 0; k < x->nval; k++) /* one word per value */
      if ((k > 0 && end_arg(x)) || add_value(x, k, pc))
        return -1;
    return 0;
  case P_POS:
    if (pc->pos >= x->nval)
      return 0; /* beyond the values: empty */
    return add_value(x, pc->from_end ? x->nval - 1 - pc->pos : pc->pos, pc);
  case P_JOB: snprintf(num, sizeof num, "%zu", x->job + 1); break;
  case P_TOTAL: snprintf(num, sizeof num, "%zu", x->t->njobs); break;
  case P_SLOT: snprintf(num, sizeof num, "%u", x->slot); break;
  }
  return run_buf_str(&x->args, num);
}

/* Does piece pc stand for something in this job? Text does, and so do a
 * value that is there (empty or not) and the numbers; {N} beyond the
 * job's values and {} of a job without values do not. */
static int has_content(const expansion *x, const piece *pc, size_t only) {
  switch (pc->kind) {
  case P_TEXT: return pc->len > 0;
  case P_ALL: return only != ALL_VALUES || x->nval > 0 || pc->mod == M_PERL;
  case P_POS: return pc->pos < x->nval;
  default: return 1;
  }
}

/* A word of nothing but replacement strings that stand for nothing is
 * left out, as GNU parallel's shell drops it (-N2 with an odd number of
 * values: `cmd {1} {2}` runs `cmd 5`, not `cmd 5 ''`). */
static int add_word(expansion *x, const word *w, size_t only) {
  int content = 0;
  for (size_t k = 0; k < w->n; k++) {
    content |= has_content(x, &w->p[k], only);
    if (add_piece(x, &w->p[k], only))
      return -1;
  }
  return content || w->n == 0 ? end_arg(x) : 0;
}

static int build(expansion *x) {
  const run_template *t = x->t;
  for (size_t i = 0; i < t->n; i++) {
    const word *w = &t->w[i];
    if (!(t->context && w->has_all)) {
      if (add_word(x, w, ALL_VALUES))
        return -1;
      continue;
    }
    for (size_t k = 0; k < x->nval; k++) /* -X: the word once per value */
      if (add_word(x, w, k))
        return -1;
  }
  for (size_t k = 0; t->appends && k < x->nval; k++)
    if (add_value(x, k, NULL) || end_arg(x))
      return -1;
  return 0;
}

/* Packs the arguments into one block: argv pointers, then the strings. */
static char **pack_argv(const char *const *pre, size_t npre, const char *data,
                        size_t len, size_t argc) {
  size_t total = (npre + argc + 1) * sizeof(char *) + len;
  for (size_t i = 0; i < npre; i++) total += strlen(pre[i]) + 1;
  char **argv = malloc(total);
  if (argv == NULL)
    return NULL;
  char *p = (char *)(argv + npre + argc + 1);
  for (size_t i = 0; i < npre; i++) {
    argv[i] = strcpy(p, pre[i]);
    p += strlen(pre[i]) + 1;
  }
  if (len > 0)
    memcpy(p, data, len);
  for (size_t i = 0; i < argc; i++) {
    argv[npre + i] = p;
    p += strlen(p) + 1;
  }
  argv[npre + argc] = NULL;
  return argv;
}

/* The NUL-separated arguments as a command line: each quoted for sh. */
static int join_quoted(const char *data, size_t argc, run_buf *line) {
  int rc = run_buf_add(line, "", 0);
  for (size_t i = 0; rc == 0 && i < argc; i++, data += strlen(data) + 1)
    rc = (i > 0 && run_buf_add(line, " ", 1)) || run_shell_quote(line, data);
  return rc ? -1 : 0;
}

/* No command: the values, joined by spaces (each quoted with -q). */
static int build_from_input(expansion *x) {
  int rc = run_buf_add(&x->args, "", 0);
  for (size_t k = 0; rc == 0 && k < x->nval; k++)
    rc = (k > 0 && run_buf_add(&x->args, " ", 1)) ||
         (x->t->quote ? run_shell_quote(&x->args, x->val[k])
                      : run_buf_str(&x->args, x->val[k]));
  return rc ? -1 : 0;
}

/* The script of a job run by sh: built as one, or arguments quoted. */
static int build_script(expansion *x, run_buf *script) {
  if (x->t->from_input) {
    int rc = build_from_input(x);
    *script = x->args;
    x->args = (run_buf){0};
    return rc;
  }
  if (build(x) != 0)
    return -1;
  if (x->quote_values) { /* drop the space after the last word */
    if (x->args.len > 0)
      x->args.data[--x->args.len] = '\0';
    *script = x->args;
    x->args = (run_buf){0};
    return run_buf_add(script, "", 0);
  }
  return join_quoted(x->args.data, x->argc, script);
}

/* A template with {= =}: the table of the job's results, and the perl
 * co-process's lock until perl_finish. */
static int perl_begin(expansion *x) {
  size_t n = x->nval ? x->nval : 1;
  if (n > SIZE_MAX / sizeof *x->pv / x->t->nperl ||
      (x->pv = calloc(n * x->t->nperl, sizeof *x->pv)) == NULL)
    return -1;
  run_perl_begin(x->job + 1, x->slot, x->t->njobs, x->val, x->nval);
  return 0;
}

static void perl_finish(expansion *x) {
  if (x->pv == NULL)
    return;
  run_perl_end();
  for (size_t i = 0; i < x->t->nperl * (x->nval ? x->nval : 1); i++)
    free(x->pv[i].s);
  free(x->pv);
}

int run_template_expand(const run_template *t, const run_inputs *in, size_t job,
                        unsigned slot, char ***argv, char **line) {
  expansion x = {
      .t = t, .job = job, .slot = slot, .quote_values = t->shell && !t->quote};
  run_buf out = {0};
  int rc = gather(&x, in);
  *argv = NULL;
  if (rc == 0 && t->nperl > 0)
    rc = perl_begin(&x);
  if (rc == 0 && (t->shell || t->from_input)) {
    static const char *const sh[] = {"/bin/sh", "-c"};
    rc = build_script(&x, &out);
    if (rc == 0 && (*argv = pack_argv(sh, 2, out.data, out.len + 1, 1)) == NULL)
      rc = -1;
  } else if (rc == 0) {
    static const char *const empty[] = {"/bin/sh", "-c", ""};
    rc = build(&x);
    /* Every word left out ({2} of a job with one value): GNU's shell runs
     * an empty line, which does nothing and succeeds; so does parc. */
    if (rc == 0 && x.argc == 0)
      *argv = pack_argv(empty, 3, NULL, 0, 0);
    else if (rc == 0)
      *argv = pack_argv(NULL, 0, x.args.data, x.args.len, x.argc);
    if (rc == 0 && *argv == NULL)
      rc = -1;
    if (rc == 0)
      rc = join_quoted(x.args.data, x.argc, &out);
  }
  perl_finish(&x);
  free(x.val);
  run_buf_free(&x.args);
  if (rc != 0) {
    free(*argv);
    *argv = NULL;
    *line = NULL;
    run_buf_free(&out);
    return x.died ? RUN_EXPAND_DIED : -1;
  }
  *line = out.data; /* the command line (the script in shell mode) */
  return x.skip ? RUN_EXPAND_SKIP : 0;
}
