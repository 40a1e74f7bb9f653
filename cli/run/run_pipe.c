/* run_pipe.c -- --pipe: stdin cut into chunks, each chunk one job's stdin.
 *
 * The chunks are cut as GNU parallel 20221122 cuts them (its spreadstdin,
 * --recend "\n", no --recstart), so that the same input gives the same
 * jobs:
 *   - the buffer is filled up to the next multiple of --block (a read
 *     waits for that much, or for the end of stdin);
 *   - by --block: a chunk is the buffer up to its last newline; with -N N:
 *     chunks of N records each, as long as the buffer holds N (records are
 *     counted from the second byte on: an empty first record joins the
 *     next one, as GNU's nindex does);
 *   - a round that cuts no chunk (a record longer than the block, or fewer
 *     than N records in it) grows the block: ceil(1.3 * block + 1), with
 *     GNU's warning;
 *   - at the end of stdin what is left is the last chunk, newline or not;
 *     an empty stdin is no chunk, so no job.
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
  int ended;             /* the reader has queued its last chunk */
  int quit;              /* parc is ending: the reader stops */
  run_buf next;          /* popped by run_job_known, for run_pipe_take */
  size_t block, records; /* --block (it grows), -N (0: by block) */
  run_buf buf;           /* what the reader has read and not cut */
  size_t start;          /* buf's bytes before this are cut off */
};

/* ------------------------------------------------------------ the reader */

/* Queues buf[start, start + n) as a chunk; waits while the queue is full.
 * Returns 0, or -1 when parc is ending. */
static int put_chunk(run_pipe *p, size_t n) {
  run_buf c = {0};
  if (run_buf_add(&c, p->buf.data + p->start, n) != 0)
    return -1;
  p->start += n;
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

/* Room for `more` bytes after b's. 0, or -1 (ENOMEM). */
static int reserve(run_buf *b, size_t more) {
  if (b->len + more <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + more) cap *= 2;
  char *d = realloc(b->data, cap);
  if (d == NULL)
    return -1;
  b->data = d;
  b->cap = cap;
  return 0;
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
    if (reserve(&p->buf, want) != 0)
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

/* The offset just past the newline that ends record `n` of buf[start..),
 * counting from its second byte (GNU's nindex), or 0 when there are fewer. */
static size_t nth_record_end(const run_pipe *p, size_t n) {
  const char *s = p->buf.data + p->start;
  size_t len = p->buf.len - p->start, i = 0;
  for (size_t k = 0; k < n; k++) {
    const char *nl = i + 1 < len ? memchr(s + i + 1, '\n', len - i - 1) : NULL;
    if (nl == NULL)
      return 0;
    i = (size_t)(nl - s);
  }
  return i + 1;
}

/* One round's cutting (GNU's pass / pass_n). Returns the chunks cut, or
 * -1 when parc is ending. */
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
  if (eof)
    return 0; /* the rest goes whole */
  const char *s = p->buf.data + p->start;
  size_t len = p->buf.len - p->start;
  while (len > 0 && s[len - 1] != '\n') len--;
  if (len == 0)
    return 0;
  return put_chunk(p, len) != 0 ? -1 : 1;
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

static void *reader(void *arg) {
  run_pipe *p = arg;
  for (;;) {
    size_t have = p->buf.len - p->start;
    int eof = read_more(p, p->block - have % p->block);
    if (eof < 0)
      break;
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
  run_buf_free(&p->buf);
  pthread_mutex_lock(&p->lock);
  p->ended = 1;
  pthread_cond_broadcast(&p->changed);
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

/* ------------------------------------------------------------ the loop's */

int run_pipe_start(run_state *s, run_err err) {
  run_pipe *p = calloc(1, sizeof *p);
  if (p == NULL)
    return run_fail(err, "out of memory");
  p->block = s->o.block ? s->o.block : (size_t)1 << 20;
  p->records = s->o.pipe_records;
  p->quit_fd = eventfd(0, EFD_CLOEXEC);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->changed, &ca);
  pthread_condattr_destroy(&ca);
  s->pipe = p;
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
  if (p->quit_fd >= 0)
    close(p->quit_fd);
  pthread_mutex_destroy(&p->lock);
  pthread_cond_destroy(&p->changed);
  free(p);
  s->pipe = NULL;
}
