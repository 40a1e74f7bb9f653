/* run_pipe.c -- --pipe: stdin cut into chunks, each chunk one job's stdin.
 *
 * The chunks are cut as GNU parallel 20221122 cuts them (its spreadstdin,
 * without --regexp), so that the same input gives the same jobs. A record
 * boundary is where --recend (default "\n") is followed by --recstart
 * (default ""): the cut lies between the two, and the two are searched for
 * as one string, sep.
 *   - the buffer is filled up to the next multiple of --block (a read
 *     waits for that much, or for the end of stdin);
 *   - by --block: a chunk is the buffer up to its last boundary (not in
 *     the round that reaches the end of stdin);
 *   - with -N N: chunks of N records each (N * L with -L L too), as long as
 *     the buffer holds N. Boundaries are searched for from the second byte
 *     on, each search one byte after the last one found (GNU's nindex): an
 *     empty first record joins the next one;
 *   - with -L L and no -N: one chunk a round, the buffer up to the end of
 *     its last whole record of L lines (lines end at "\n" there, whatever
 *     --recend says), in the last round too;
 *   - a round that cuts no chunk (a record longer than the block, or fewer
 *     than N records in it) grows the block: ceil(1.3 * block + 1), with
 *     GNU's warning;
 *   - at the end of stdin what is left is the last chunk, a boundary at
 *     its end or not; an empty stdin is no chunk, so no job;
 *   - --rrs takes the separators out of each chunk as GNU's remove_rec_sep
 *     does: every sep, then a --recstart at its start, then a --recend at
 *     its end (or, as Perl's $ matches, before a last "\n");
 *   - --header RE: what RE matches at the start of stdin (read a block at
 *     a time until it matches, or stdin ends: then no header) is taken
 *     out and put before each chunk (after --rrs); `:` is the first line,
 *     N the first N lines, 0 none (GNU's find_header);
 *   - -r takes the lines of nothing but white space out of the buffer
 *     each round, before cutting (GNU's s/^\s*\n//gm): a round left with
 *     nothing cuts nothing and does not grow the block.
 *
 * A reader thread does the reading and cutting, so that a slow stdin never
 * holds up the loop (signals, finished jobs, progress), and hands chunks
 * through a small queue: it waits while QUEUE_MAX chunks are waiting, so
 * that parc holds about (2 jobs per lane + QUEUE_MAX) chunks plus two
 * blocks, never all of stdin. The loop (run.c) pops them in order, one
 * per job: chunk k is job k ({#}). The job gets its chunk through a pipe
 * that its lane feeds (run_job.c): nothing is written to disk.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "run_record.h"
#include "run_state.h"

#define QUEUE_MAX 4
#define BLOCK_MAX ((size_t)0x7fffffff) /* GNU's limit: 2 GiB - 1 */

struct run_pipe {
  pthread_t thread;
  int started;
  int quit_fd; /* eventfd: the reader stops reading */
  pthread_mutex_t lock;
  pthread_cond_t changed; /* a chunk queued or taken, or the end */
  run_buf q[QUEUE_MAX];   /* a ring of chunks */
  size_t head, n;
  int ended;           /* the reader has queued its last chunk */
  int quit;            /* parc is ending: the reader stops */
  run_buf next;        /* popped by run_job_known, for run_pipe_take */
  size_t block;        /* --block (it grows) */
  size_t records;      /* -N (times -L): records per chunk, 0: by block */
  size_t lines;        /* -L without -N: lines per record, 0: none */
  run_buf sep;         /* --recend then --recstart, escapes undone */
  size_t end_len;      /* --recend's length: the cut lies after it */
  int rrs;             /* --rrs */
  int no_blank;        /* -r */
  const run_opts *o;   /* --header's kind, lines and regexp */
  run_buf header;      /* what it matched, before each chunk */
  int chunk_fd;        /* --cat, --fifo: where a job gets its chunk; 0: stdin */
  char chunk_path[32]; /* /dev/fd/N: the jobs' {} */
  run_buf buf;         /* what the reader has read and not cut */
  size_t start;        /* buf's bytes before this are cut off */
};

#define NONE ((size_t)-1)

/* ------------------------------------------------------------ the reader */

/* Cuts c[at, at + n) out. */
static void drop(run_buf *c, size_t at, size_t n) {
  memmove(c->data + at, c->data + at + n, c->len - at - n);
  c->len -= n;
}

/* --rrs: GNU's remove_rec_sep, its three substitutions in turn. */
static void remove_seps(const run_pipe *p, run_buf *c) {
  const char *sep = p->sep.data, *rs = sep + p->end_len;
  size_t rs_len = p->sep.len - p->end_len, e = p->end_len;
  if (p->sep.len > 0) { /* s/sep//g: left to right, matches not overlapping */
    char *w = c->data, *r = c->data, *end = c->data + c->len, *f;
    while ((f = memmem(r, (size_t)(end - r), sep, p->sep.len)) != NULL) {
      memmove(w, r, (size_t)(f - r));
      w += f - r;
      r = f + p->sep.len;
    }
    memmove(w, r, (size_t)(end - r));
    c->len = (size_t)(w + (end - r) - c->data);
  }
  if (rs_len > 0 && c->len >= rs_len && memcmp(c->data, rs, rs_len) == 0)
    drop(c, 0, rs_len); /* s/^recstart// */
  /* s/recend$//: Perl's $ also matches before a last newline, and the
   * leftmost match is taken */
  if (e > 0 && c->len > e && c->data[c->len - 1] == '\n' &&
      memcmp(c->data + c->len - 1 - e, sep, e) == 0)
    drop(c, c->len - 1 - e, e);
  else if (e > 0 && c->len >= e && memcmp(c->data + c->len - e, sep, e) == 0)
    drop(c, c->len - e, e);
  c->data[c->len] = '\0';
}

/* --header: h before c's bytes, in c's own buffer (a chunk as long as
 * stdin is not held twice). 0, or -1 (ENOMEM). */
static int prepend(run_buf *c, const run_buf *h) {
  if (run_buf_reserve(c, h->len) != 0)
    return -1;
  memmove(c->data + h->len, c->data, c->len);
  memcpy(c->data, h->data, h->len);
  c->len += h->len;
  c->data[c->len] = '\0';
  return 0;
}

/* Queues buf[start, start + n) as a chunk; waits while the queue is full.
 * A chunk that is all of buf takes buf itself: a record without its end,
 * as long as stdin, is held once, not twice. Returns 0, or -1 when parc
 * is ending. */
static int put_chunk(run_pipe *p, size_t n) {
  run_buf c = {0};
  if (p->start == 0 && n == p->buf.len) {
    c = p->buf; /* run_buf_reserve left room for a NUL */
    c.data[c.len] = '\0';
    p->buf = (run_buf){0};
  } else if (run_buf_add(&c, p->buf.data + p->start, n) != 0) {
    return -1;
  } else {
    p->start += n;
  }
  if (p->rrs)
    remove_seps(p, &c);
  if (p->header.len && prepend(&c, &p->header) != 0) {
    run_buf_free(&c);
    return -1;
  }
  pthread_mutex_lock(&p->lock);
  while (p->n == QUEUE_MAX && !p->quit)
    pthread_cond_wait(&p->changed, &p->lock);
  int quit = p->quit;
  if (!quit) {
    p->q[(p->head + p->n++) % QUEUE_MAX] = c;
    pthread_cond_broadcast(&p->changed);
  }
  pthread_mutex_unlock(&p->lock);
  if (quit)
    run_buf_free(&c);
  return quit ? -1 : 0;
}

/* Perl's \s. */
static int is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* -r: GNU's s/^\s*\n//gm on b. At each line's start, a run of white space
 * that holds a newline goes, up to its last newline; the rest of the line
 * stays. */
static void drop_blank_lines(run_buf *b) {
  size_t r = 0, w = 0;
  while (r < b->len) { /* r is at a line's start */
    size_t i = r, after_nl = NONE;
    for (; i < b->len && is_space(b->data[i]); i++)
      if (b->data[i] == '\n')
        after_nl = i + 1;
    if (after_nl != NONE)
      r = after_nl;
    const char *nl = memchr(b->data + r, '\n', b->len - r);
    size_t end = nl ? (size_t)(nl - b->data) + 1 : b->len;
    memmove(b->data + w, b->data + r, end - r);
    w += end - r;
    r = end;
  }
  b->len = w;
}

/* Reads up to want more bytes into buf (GNU's read_block: until they are
 * all there or stdin ends). Returns 1 at the end of stdin, 0, or -1 when
 * parc is ending. */
static int read_more(run_pipe *p, size_t want) {
  if (p->start > 0) { /* cut chunks off the front once per round */
    memmove(p->buf.data, p->buf.data + p->start, p->buf.len - p->start);
    p->buf.len -= p->start;
    p->start = 0;
  }
  while (want > 0) {
    struct pollfd f[2] = {{0, POLLIN, 0}, {p->quit_fd, POLLIN, 0}};
    if (poll(f, 2, -1) < 0 && errno != EINTR)
      return 1;
    if (f[1].revents)
      return -1;
    if (!f[0].revents)
      continue;
    if (run_buf_reserve(&p->buf, want) != 0)
      return 1; /* out of memory: the end */
    ssize_t k = read(0, p->buf.data + p->buf.len, want);
    if (k > 0)
      p->buf.len += (size_t)k;
    if (k < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (k <= 0)
      return 1; /* the end, or an error: what was read is all */
    want -= (size_t)k;
  }
  return 0;
}

/* Perl's index(s, sep, pos): where the first sep at or after pos starts
 * (pos held to len: an empty sep is found there), or NONE. */
static size_t sep_index(const run_pipe *p, const char *s, size_t len,
                        size_t pos) {
  if (pos > len)
    pos = len;
  if (p->sep.len == 0)
    return pos;
  const char *f = memmem(s + pos, len - pos, p->sep.data, p->sep.len);
  return f ? (size_t)(f - s) : NONE;
}

/* Perl's rindex(s, sep): where the last sep starts (an empty one: at
 * len), or NONE. */
static size_t sep_rindex(const run_pipe *p, const char *s, size_t len) {
  if (p->sep.len == 0)
    return len;
  if (len < p->sep.len)
    return NONE;
  size_t n = len - p->sep.len + 1; /* a sep may start in s[0, n) */
  const char *c;
  while (n > 0 && (c = memrchr(s, p->sep.data[0], n)) != NULL) {
    if (memcmp(c, p->sep.data, p->sep.len) == 0)
      return (size_t)(c - s);
    n = (size_t)(c - s);
  }
  return NONE;
}

/* The cut after record `n` of buf[start..) (GNU's nindex), or 0 when
 * there are fewer. */
static size_t nth_record_end(const run_pipe *p, size_t n) {
  const char *s = p->buf.data + p->start;
  size_t len = p->buf.len - p->start, i = 0;
  if (p->sep.len == 0) /* each search finds one byte more: no loop of n */
    return n < len ? n : len;
  for (size_t k = 0; k < n; k++)
    if ((i = sep_index(p, s, len, i + 1)) == NONE)
      return 0;
  return i + p->end_len;
}

/* The cut after the last boundary of buf[start..) (GNU's pass), or 0. */
static size_t last_record_end(const run_pipe *p) {
  size_t i = sep_rindex(p, p->buf.data + p->start, p->buf.len - p->start);
  return i == NONE ? 0 : i + p->end_len;
}

/* -L: the cut after the last whole record of p->lines lines in
 * buf[start..) (GNU's pass_n_line_records), or 0. */
static size_t last_lines_end(const run_pipe *p) {
  const char *s = p->buf.data + p->start, *nl;
  size_t len = p->buf.len - p->start, i = 0, k = 0, end = 0;
  while ((nl = memchr(s + i, '\n', len - i)) != NULL) {
    i = (size_t)(nl - s) + 1;
    if (++k % p->lines == 0)
      end = i;
  }
  return end;
}

/* One round's cutting (GNU's pass, pass_n, pass_n_line_records). Returns
 * the chunks cut, or -1 when parc is ending. */
static long cut(run_pipe *p, int eof) {
  long cuts = 0;
  if (p->records) {
    size_t end;
    while (p->buf.len > p->start && (end = nth_record_end(p, p->records)) > 0) {
      if (put_chunk(p, end) != 0)
        return -1;
      cuts++;
    }
    return cuts;
  }
  /* by block, at the end of stdin the rest goes whole */
  size_t end = p->lines ? last_lines_end(p) : eof ? 0 : last_record_end(p);
  if (end == 0)
    return 0;
  return put_chunk(p, end) != 0 ? -1 : 1;
}

/* GNU's warning when a round cut nothing; parc's stderr is shared with
 * the jobs' output, written whole by one call. */
static void grow_block(run_pipe *p) {
  if (p->block >= BLOCK_MAX)
    return;
  size_t old = p->block;
  double next = ceil((double)old * 1.3 + 1);
  p->block = next > (double)BLOCK_MAX ? BLOCK_MAX : (size_t)next;
  fprintf(stderr,
          "parc run: Warning: A record was longer than %zu. "
          "Increasing to --blocksize %zu.\n",
          old, p->block);
}

/* --header: the length of the header at the start of buf, or NONE while
 * it is not all there (its lines, or what its regexp matches). */
static size_t header_end(run_pipe *p) {
  const char *s = p->buf.data, *nl;
  size_t len = p->buf.len, i = 0;
  if (p->o->header_kind == RUN_HEADER_LINES) {
    for (size_t k = 0; k < p->o->header_lines; k++, i = (size_t)(nl - s) + 1)
      if ((nl = memchr(s + i, '\n', len - i)) == NULL)
        return NONE;
    return i;
  }
  if (len > INT_MAX) /* past what regexec can say */
    return NONE;
  p->buf.data[len] = '\0'; /* read_more left room; for ASan's regexec */
  regmatch_t m = {0, (regoff_t)len};
  if (regexec(&p->o->header_re, s, 1, &m, REG_STARTEND) == 0 && m.rm_so == 0)
    return (size_t)m.rm_eo; /* an empty match too: no header, as GNU's */
  return NONE;
}

/* --header: reads a block at a time until the header is all there at the
 * start of stdin (then takes it out of buf) or stdin ends (then there is
 * no header). 0, 1 at the end of stdin, -1 when parc is ending. */
static int find_header(run_pipe *p) {
  for (;;) {
    int eof = read_more(p, p->block);
    if (eof < 0)
      return -1;
    size_t end = p->buf.len ? header_end(p) : NONE;
    if (end != NONE) {
      if (run_buf_add(&p->header, p->buf.data, end) != 0)
        return -1;
      p->start = end; /* read_more moves the rest down */
      return eof;
    }
    if (eof || p->buf.len > INT_MAX)
      return eof;
  }
}

static void *reader(void *arg) {
  run_pipe *p = arg;
  if (p->o->header_kind != RUN_HEADER_NONE && find_header(p) < 0)
    goto end;
  for (;;) {
    size_t have = p->buf.len - p->start;
    int eof = read_more(p, p->block - have % p->block);
    if (eof < 0)
      break;
    if (p->no_blank) { /* read_more left nothing cut off the front */
      drop_blank_lines(&p->buf);
      if (p->buf.len == 0 && !eof)
        continue;
    }
    long cuts = cut(p, eof);
    if (cuts < 0)
      break;
    if (eof) {
      if (p->buf.len > p->start)
        put_chunk(p, p->buf.len - p->start);
      break;
    }
    if (cuts == 0)
      grow_block(p);
  }
end:
  run_buf_free(&p->buf);
  pthread_mutex_lock(&p->lock);
  p->ended = 1;
  pthread_cond_broadcast(&p->changed);
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

/* ------------------------------------------------------------ the loop's */

/* Appends str to b with GNU's escapes undone: \0 \r \n \t \' \" \\ (any
 * other backslash stays). 0, or -1 (ENOMEM). */
static int add_unescaped(run_buf *b, const char *str) {
  static const char from[] = "0rnt'\"\\", to[] = "\0\r\n\t'\"\\";
  int rc = run_buf_add(b, "", 0);
  for (const char *c = str; rc == 0 && *c; c++) {
    const char *k = c[0] == '\\' && c[1] ? strchr(from, c[1]) : NULL;
    if (k != NULL)
      c++;
    rc = run_buf_add(b, k ? &to[k - from] : c, 1);
  }
  return rc;
}

/* GNU's recstartrecend: neither given, records end with a newline. */
static int set_seps(run_pipe *p, const run_opts *o) {
  const char *end = o->recend || o->recstart ? o->recend : "\n";
  if (add_unescaped(&p->sep, end ? end : "") != 0)
    return -1;
  p->end_len = p->sep.len;
  return add_unescaped(&p->sep, o->recstart ? o->recstart : "");
}

int run_pipe_start(run_state *s, run_err err) {
  run_pipe *p = calloc(1, sizeof *p);
  if (p == NULL)
    return run_fail(err, "out of memory");
  p->block = s->o.block ? s->o.block : (size_t)1 << 20;
  /* GNU: -N N -L L is N * L records; -L alone, records of L lines */
  p->records = s->o.pipe_records * (s->o.pipe_lines ? s->o.pipe_lines : 1);
  p->lines = s->o.pipe_records ? 0 : s->o.pipe_lines;
  p->rrs = s->o.rrs;
  p->o = &s->o;
  p->no_blank = s->in.opt.skip_blank;
  if (s->o.chunk_as != RUN_CHUNK_STDIN) {
    /* {} names the chunk (GNU's temporary file): the job's descriptor
     * chunk_fd, by its path; under mpirun jobs inherit nothing else */
    p->chunk_fd = s->mpi ? 3 : run_job_chunk_fd();
    snprintf(p->chunk_path, sizeof p->chunk_path, "/dev/fd/%d", p->chunk_fd);
    s->in.job_value = p->chunk_path;
  }
  p->quit_fd = eventfd(0, EFD_CLOEXEC);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->changed, &ca);
  pthread_condattr_destroy(&ca);
  s->pipe = p;
  if (set_seps(p, &s->o) != 0)
    return run_fail(err, "out of memory");
  /* The jobs are the chunks, known as they are read: none yet. --resume
   * skips a chunk by its Seq, as it comes (run_job_known). */
  s->in.njobs = 0;
  free(s->skip);
  s->skip = NULL;
  if (p->quit_fd < 0 || pthread_create(&p->thread, NULL, reader, p) != 0)
    return run_fail(err, "cannot read stdin: %s", strerror(errno));
  p->started = 1;
  return 0;
}

/* Pops the next chunk into p->next, waiting up to `wait` seconds. 1, or 0
 * when none came. */
static int pop(run_pipe *p, double wait) {
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += (time_t)wait;
  until.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
  if (until.tv_nsec >= 1000000000L)
    until.tv_sec++, until.tv_nsec -= 1000000000L;
  pthread_mutex_lock(&p->lock);
  while (p->n == 0 && !p->ended && wait > 0 &&
         pthread_cond_timedwait(&p->changed, &p->lock, &until) == 0) {
  }
  int got = p->n > 0;
  if (got) {
    p->next = p->q[p->head];
    p->head = (p->head + 1) % QUEUE_MAX;
    p->n--;
    pthread_cond_broadcast(&p->changed);
  }
  pthread_mutex_unlock(&p->lock);
  return got;
}

/* --resume, --resume-failed: chunk i is done when the log has its
 * Seq; it is marked in s->skip (grown as chunks come), which next_job
 * reads. 0, or -1 (ENOMEM). */
static int mark_done(run_state *s, size_t i) {
  if (!(s->o.resume || s->o.resume_failed) || s->rec == NULL)
    return 0;
  if (i % 8 == 0) {
    unsigned char *k = realloc(s->skip, i / 8 + 1);
    if (k == NULL)
      return -1;
    (s->skip = k)[i / 8] = 0;
  }
  int done = run_records_skip(s->rec, i, "");
  if (done < 0)
    return -1;
  s->skip[i / 8] |= (unsigned char)(done << (i % 8));
  if (done)
    run_buf_free(&s->pipe->next); /* not run again */
  return 0;
}

int run_job_known(run_state *s, size_t next, int idle) {
  run_pipe *p = s->pipe;
  if (p == NULL || next < s->in.njobs)
    return next < s->in.njobs;
  if (!pop(p, idle ? 0.1 : 0))
    return 0;
  s->in.njobs = next + 1;
  atomic_store(&s->njobs_known, s->in.njobs);
  s->torun++;
  if (mark_done(s, next) != 0) {
    s->fatal = 1; /* out of memory: the loop starts no more jobs */
    return 0;
  }
  return 1;
}

int run_pipe_more(run_state *s) {
  run_pipe *p = s->pipe;
  if (p == NULL || s->fatal || atomic_load(&s->sig.stopping) ||
      atomic_load(&s->closed))
    return 0;
  pthread_mutex_lock(&p->lock);
  int more = p->n > 0 || !p->ended;
  pthread_mutex_unlock(&p->lock);
  return more || p->next.data != NULL;
}

int run_pipe_chunk_fd(const run_state *s) {
  return s->pipe ? s->pipe->chunk_fd : 0;
}

void run_pipe_take(run_state *s, job *j) {
  run_pipe *p = s->pipe;
  if (p == NULL)
    return;
  j->chunk = p->next;
  p->next = (run_buf){0};
}

void run_pipe_stop(run_state *s) {
  run_pipe *p = s->pipe;
  if (p == NULL)
    return;
  if (p->started) {
    uint64_t one = 1;
    pthread_mutex_lock(&p->lock);
    p->quit = 1;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
    if (write(p->quit_fd, &one, sizeof one) < 0) {
      /* an eventfd write fails only on overflow: readable then anyway */
    }
    pthread_join(p->thread, NULL);
  }
  for (size_t i = 0; i < p->n; i++)
    run_buf_free(&p->q[(p->head + i) % QUEUE_MAX]);
  run_buf_free(&p->next);
  run_buf_free(&p->sep);
  run_buf_free(&p->header);
  if (s->in.job_value == p->chunk_path)
    s->in.job_value = NULL;
  if (p->quit_fd >= 0)
    close(p->quit_fd);
  pthread_mutex_destroy(&p->lock);
  pthread_cond_destroy(&p->changed);
  free(p);
  s->pipe = NULL;
}
