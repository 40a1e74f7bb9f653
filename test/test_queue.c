/* test_queue.c -- parc_queue: order, sizes, ETOOBIG, full and empty,
 * timeouts, close, stats; exactly-once delivery under stress between
 * threads and between processes, also when consumers are SIGKILLed; large
 * messages, put a piece at a time and copied out as they come, arrive
 * whole, and a producer or consumer killed in the middle of one (stopped
 * there through the library's test hook, chanutil.h), or a consumer killed
 * inside a rewind of the ring, costs nothing but what it held; and
 * creating and destroying queues leaves nothing behind.
 *
 * Stress messages: an 8-byte header {id, checksum of the payload} and a
 * payload of 1..256 bytes whose length and bytes follow from the id and a
 * fixed seed, so a consumer can check any message it gets on its own.
 * Consumers count each id in a parc_shm_alloc array (atomic increments);
 * the test then checks every id was seen exactly once. Each consumer also
 * checks that the messages of any one producer reach it in the order that
 * producer put them (the queue hands out the oldest message first). */
#include "chanutil.h"
#include "leakcheck.h"

#include <malloc.h>

static void queue_init(void) {
  no_core_dumps();
  mallopt(M_ARENA_MAX, 1); /* see test_leaks.c: keeps the maps count still */
}

TestSuite(queue, .init = queue_init, .timeout = 120);

static parc_queue *queue_new(size_t capacity, size_t max_msg, int flags) {
  parc_queue *q = NULL;
  int rc = parc_queue_create(&q, capacity, max_msg, flags);
  cr_assert_eq(rc, 0, "parc_queue_create(%zu, %zu, %d): got %d (%s)", capacity,
               max_msg, flags, rc, errname(rc));
  cr_assert_not_null(q, "parc_queue_create returned 0 but no queue");
  return q;
}

#define BOTH_MODES(name)                                                       \
  static void queue__##name(int flags);                                        \
  Test(queue, name##_private) { queue__##name(0); }                            \
  Test(queue, name##_shared) { queue__##name(PARC_SHARED); }                   \
  static void queue__##name(int flags)

/* ------------------------------------------------------------ basics */

Test(queue, create_rejects_a_zero_capacity) {
  parc_queue *q = NULL;
  ASSERT_RC(parc_queue_create(&q, 0, 16, 0), PARC_EINVAL);
  ASSERT_RC(parc_queue_create(&q, 0, 16, PARC_SHARED), PARC_EINVAL);
  parc_queue_destroy(NULL); /* destroy accepts NULL */
}

BOTH_MODES(put_then_get_keeps_order) {
  parc_queue *q = queue_new(4096, 64, flags);
  for (uint32_t i = 0; i < 50; i++)
    ASSERT_RC(parc_queue_put(q, &i, sizeof i, 1.0), 0);
  for (uint32_t i = 0; i < 50; i++) {
    uint32_t got = 0xdeadbeef;
    size_t len = 99;
    ASSERT_RC(parc_queue_get(q, &got, sizeof got, &len, 1.0), 0);
    ASSERT_I64(len, 4, "length of message %u", i);
    ASSERT_I64(got, i, "message %u", i);
  }
  size_t len = 0;
  uint32_t x;
  ASSERT_RC(parc_queue_try_get(q, &x, sizeof x, &len), PARC_EAGAIN);
  parc_queue_destroy(q);
}

BOTH_MODES(every_size_from_zero_to_max_msg_round_trips) {
  enum { MAX = 300 };
  parc_queue *q = queue_new(64 * 1024, MAX, flags);
  unsigned char msg[MAX], buf[MAX + 16];
  for (size_t n = 0; n <= MAX; n++) {
    fill_bytes(msg, n, 7000 + n);
    ASSERT_RC(parc_queue_put(q, msg, n, 1.0), 0);
    size_t len = 12345;
    memset(buf, 0xa5, sizeof buf);
    ASSERT_RC(parc_queue_get(q, buf, sizeof buf, &len, 1.0), 0);
    ASSERT_I64(len, n, "length of the message of %zu bytes", n);
    cr_assert(memcmp(buf, msg, n) == 0,
              "the message of %zu bytes came back changed", n);
    ASSERT_I64(buf[n], 0xa5, "get wrote past the message of %zu bytes", n);
  }
  /* and all of them queued at once, then taken in order */
  for (size_t n = 0; n <= MAX; n += 13) {
    fill_bytes(msg, n, 9000 + n);
    ASSERT_RC(parc_queue_put(q, msg, n, 1.0), 0);
  }
  for (size_t n = 0; n <= MAX; n += 13) {
    size_t len = 0;
    fill_bytes(msg, n, 9000 + n);
    ASSERT_RC(parc_queue_get(q, buf, sizeof buf, &len, 1.0), 0);
    ASSERT_I64(len, n, "length of queued message %zu", n);
    cr_assert(memcmp(buf, msg, n) == 0, "queued message of %zu bytes changed",
              n);
  }
  parc_queue_destroy(q);
}

BOTH_MODES(put_larger_than_max_msg_is_etoobig) {
  parc_queue *q = queue_new(4096, 100, flags);
  unsigned char msg[200] = {0};
  ASSERT_RC(parc_queue_put(q, msg, 101, 1.0), PARC_ETOOBIG);
  ASSERT_RC(parc_queue_try_put(q, msg, 200), PARC_ETOOBIG);
  ASSERT_RC(parc_queue_put(q, msg, 100, 1.0), 0);
  uint64_t taken = 9, queued = 9;
  parc_queue_stats(q, &taken, &queued);
  ASSERT_I64(queued, 1, "queued after one good and two too-big puts");
  parc_queue_destroy(q);
}

BOTH_MODES(get_into_a_small_buffer_is_etoobig_and_keeps_the_message) {
  parc_queue *q = queue_new(4096, 100, flags);
  unsigned char msg[80], buf[100];
  fill_bytes(msg, sizeof msg, 42);
  ASSERT_RC(parc_queue_put(q, msg, 80, 1.0), 0);
  uint32_t second = 77;
  ASSERT_RC(parc_queue_put(q, &second, 4, 1.0), 0);
  size_t len = 0;
  ASSERT_RC(parc_queue_get(q, buf, 79, &len, 1.0), PARC_ETOOBIG);
  ASSERT_I64(len, 80, "*len after ETOOBIG (the size needed)");
  len = 0;
  ASSERT_RC(parc_queue_try_get(q, buf, 10, &len), PARC_ETOOBIG);
  ASSERT_I64(len, 80, "*len after a second ETOOBIG");
  uint64_t taken = 9, queued = 9;
  parc_queue_stats(q, &taken, &queued);
  ASSERT_I64(taken, 0, "taken after two ETOOBIG gets");
  ASSERT_I64(queued, 2, "queued after two ETOOBIG gets");
  /* the message is still first in line */
  ASSERT_RC(parc_queue_get(q, buf, sizeof buf, &len, 1.0), 0);
  ASSERT_I64(len, 80, "length of the kept message");
  cr_assert(memcmp(buf, msg, 80) == 0, "the kept message changed");
  uint32_t got = 0;
  ASSERT_RC(parc_queue_get(q, &got, 4, &len, 1.0), 0);
  ASSERT_I64(got, 77, "the message behind it");
  parc_queue_destroy(q);
}

/* Fills a queue of `cap` bytes with `msglen`-byte messages by try_put;
 * returns how many fit. */
static size_t fill_queue(parc_queue *q, size_t cap, size_t msglen) {
  unsigned char msg[64] = {0};
  size_t n = 0;
  int rc;
  while ((rc = parc_queue_try_put(q, msg, msglen)) == 0) {
    n++;
    cr_assert_leq(n * msglen, cap,
                  "a queue of %zu bytes took %zu messages of %zu bytes", cap, n,
                  msglen);
  }
  ASSERT_RC(rc, PARC_EAGAIN);
  return n;
}

BOTH_MODES(try_put_on_a_full_queue_is_eagain) {
  enum { CAP = 1024, LEN = 24 };
  parc_queue *q = queue_new(CAP, 64, flags);
  size_t n = fill_queue(q, CAP, LEN);
  /* each message costs LEN + 8 bytes of framing: CAP / 32 fit */
  cr_assert_geq(n, CAP / (LEN + 8),
                "only %zu messages of %d bytes fit in %d bytes", n, LEN, CAP);
  unsigned char msg[LEN] = {0};
  ASSERT_RC(parc_queue_put(q, msg, LEN, 0), PARC_EAGAIN);
  ASSERT_RC(parc_queue_try_put(q, msg, LEN), PARC_EAGAIN);
  uint64_t taken, queued;
  parc_queue_stats(q, &taken, &queued);
  ASSERT_I64(queued, n, "queued when full");
  /* one get makes room for one more */
  size_t len;
  ASSERT_RC(parc_queue_try_get(q, msg, LEN, &len), 0);
  ASSERT_RC(parc_queue_try_put(q, msg, LEN), 0);
  ASSERT_RC(parc_queue_try_put(q, msg, LEN), PARC_EAGAIN);
  parc_queue_destroy(q);
}

BOTH_MODES(try_get_on_an_empty_queue_is_eagain) {
  parc_queue *q = queue_new(1024, 64, flags);
  char buf[64];
  size_t len = 0;
  ASSERT_RC(parc_queue_try_get(q, buf, sizeof buf, &len), PARC_EAGAIN);
  ASSERT_RC(parc_queue_get(q, buf, sizeof buf, &len, 0), PARC_EAGAIN);
  ASSERT_RC(parc_queue_put(q, "x", 1, 0), 0);
  ASSERT_RC(parc_queue_try_get(q, buf, sizeof buf, &len), 0);
  ASSERT_RC(parc_queue_try_get(q, buf, sizeof buf, &len), PARC_EAGAIN);
  parc_queue_destroy(q);
}

/* ------------------------------------------------------------ timeouts */

BOTH_MODES(get_on_an_empty_queue_times_out) {
  parc_queue *q = queue_new(1024, 64, flags);
  char buf[64];
  size_t len = 0;
  double t0 = now_s();
  ASSERT_RC(parc_queue_get(q, buf, sizeof buf, &len, 0.2), PARC_ETIMEDOUT);
  ASSERT_WAITED(now_s() - t0, 0.2, HOLD_S, "get(0.2 s) on an empty queue");
  parc_queue_destroy(q);
}

BOTH_MODES(put_on_a_full_queue_times_out) {
  parc_queue *q = queue_new(256, 64, flags);
  fill_queue(q, 256, 16);
  char msg[16] = {0};
  double t0 = now_s();
  ASSERT_RC(parc_queue_put(q, msg, 16, 0.2), PARC_ETIMEDOUT);
  ASSERT_WAITED(now_s() - t0, 0.2, HOLD_S, "put(0.2 s) on a full queue");
  parc_queue_destroy(q);
}

typedef struct qarg {
  parc_queue *q;
  _Atomic int ready;
  int rc;
  double took;
  uint32_t value;
} qarg;

static int blocked_getter(void *p) {
  qarg *a = p;
  size_t len = 0;
  atomic_store(&a->ready, 1);
  double t0 = now_s();
  a->rc = parc_queue_get(a->q, &a->value, sizeof a->value, &len, HOLD_S);
  a->took = now_s() - t0;
  return 0;
}

static int blocked_putter(void *p) {
  qarg *a = p;
  char msg[16] = {0};
  atomic_store(&a->ready, 1);
  double t0 = now_s();
  a->rc = parc_queue_put(a->q, msg, 16, HOLD_S);
  a->took = now_s() - t0;
  return 0;
}

BOTH_MODES(a_put_wakes_a_blocked_getter) {
  qarg a = {.q = queue_new(1024, 64, flags)};
  tjob j;
  tjob_start(&j, blocked_getter, &a);
  cr_assert(wait_flag(&a.ready, 1, 5.0), "getter did not start");
  sleep_s(0.1);
  uint32_t v = 4242;
  ASSERT_RC(parc_queue_put(a.q, &v, 4, 1.0), 0);
  /* wrong: the getter not woken, waiting out its timeout of HOLD_S */
  ASSERT_THREAD_OK(&j, HOLD_S / 2, "getter");
  ASSERT_RC(a.rc, 0);
  ASSERT_I64(a.value, 4242, "the value the blocked getter got");
  ASSERT_SOONER(a.took, HOLD_S, "the getter, to wake (0.1 s in)");
  parc_queue_destroy(a.q);
}

BOTH_MODES(a_get_wakes_a_blocked_putter) {
  qarg a = {.q = queue_new(256, 64, flags)};
  fill_queue(a.q, 256, 16);
  tjob j;
  tjob_start(&j, blocked_putter, &a);
  cr_assert(wait_flag(&a.ready, 1, 5.0), "putter did not start");
  sleep_s(0.1);
  char buf[64];
  size_t len;
  ASSERT_RC(parc_queue_get(a.q, buf, sizeof buf, &len, 1.0), 0);
  /* wrong: the putter not woken, waiting out its timeout of HOLD_S */
  ASSERT_THREAD_OK(&j, HOLD_S / 2, "putter");
  ASSERT_RC(a.rc, 0);
  ASSERT_SOONER(a.took, HOLD_S, "the putter, to wake (0.1 s in)");
  parc_queue_destroy(a.q);
}

/* ------------------------------------------------------------ close */

BOTH_MODES(close_refuses_puts_and_drains_gets) {
  parc_queue *q = queue_new(4096, 64, flags);
  for (uint32_t i = 0; i < 3; i++) ASSERT_RC(parc_queue_put(q, &i, 4, 1.0), 0);
  parc_queue_close(q);
  uint32_t v = 9;
  ASSERT_RC(parc_queue_put(q, &v, 4, 1.0), PARC_ECLOSED);
  ASSERT_RC(parc_queue_try_put(q, &v, 4), PARC_ECLOSED);
  for (uint32_t i = 0; i < 3; i++) {
    size_t len = 0;
    ASSERT_RC(parc_queue_get(q, &v, 4, &len, 1.0), 0);
    ASSERT_I64(v, i, "drained message %u", i);
  }
  size_t len = 0;
  double t0 = now_s();
  ASSERT_RC(parc_queue_get(q, &v, 4, &len, HOLD_S), PARC_ECLOSED);
  /* wrong: waiting out the timeout */
  ASSERT_SOONER(now_s() - t0, HOLD_S, "get on a closed, drained queue");
  ASSERT_RC(parc_queue_try_get(q, &v, 4, &len), PARC_ECLOSED);
  ASSERT_RC(parc_queue_get(q, &v, 4, &len, -1), PARC_ECLOSED);
  parc_queue_close(q); /* twice is harmless */
  ASSERT_RC(parc_queue_try_get(q, &v, 4, &len), PARC_ECLOSED);
  parc_queue_destroy(q);
}

BOTH_MODES(close_wakes_blocked_getters) {
  enum { G = 3 };
  parc_queue *q = queue_new(1024, 64, flags);
  qarg a[G];
  tjob j[G];
  for (int i = 0; i < G; i++) {
    memset(&a[i], 0, sizeof a[i]);
    a[i].q = q;
    tjob_start(&j[i], blocked_getter, &a[i]);
  }
  for (int i = 0; i < G; i++)
    cr_assert(wait_flag(&a[i].ready, 1, 5.0), "getter %d", i);
  sleep_s(0.2);
  parc_queue_close(q);
  /* wrong: a getter not woken, waiting out its timeout of HOLD_S */
  for (int i = 0; i < G; i++) {
    ASSERT_THREAD_OK(&j[i], HOLD_S / 2, "getter");
    ASSERT_RC(a[i].rc, PARC_ECLOSED);
    ASSERT_SOONER(a[i].took, HOLD_S, "getter %d, to see the close (0.2 s in)",
                  i);
  }
  parc_queue_destroy(q);
}

BOTH_MODES(close_wakes_blocked_putters) {
  enum { P = 3 };
  parc_queue *q = queue_new(256, 64, flags);
  size_t n = fill_queue(q, 256, 16);
  qarg a[P];
  tjob j[P];
  for (int i = 0; i < P; i++) {
    memset(&a[i], 0, sizeof a[i]);
    a[i].q = q;
    tjob_start(&j[i], blocked_putter, &a[i]);
  }
  for (int i = 0; i < P; i++)
    cr_assert(wait_flag(&a[i].ready, 1, 5.0), "putter %d", i);
  sleep_s(0.2);
  parc_queue_close(q);
  /* wrong: a putter not woken, waiting out its timeout of HOLD_S */
  for (int i = 0; i < P; i++) {
    ASSERT_THREAD_OK(&j[i], HOLD_S / 2, "putter");
    ASSERT_RC(a[i].rc, PARC_ECLOSED);
    ASSERT_SOONER(a[i].took, HOLD_S, "putter %d, to see the close (0.2 s in)",
                  i);
  }
  /* what was queued before the close still drains */
  char buf[64];
  size_t len;
  for (size_t i = 0; i < n; i++)
    ASSERT_RC(parc_queue_try_get(q, buf, sizeof buf, &len), 0);
  ASSERT_RC(parc_queue_try_get(q, buf, sizeof buf, &len), PARC_ECLOSED);
  parc_queue_destroy(q);
}

static int close_after_delay(void *p) {
  parc_queue *q = p;
  sleep_s(0.2);
  parc_queue_close(q);
  return 0;
}

Test(queue, close_in_another_process_wakes_a_blocked_getter) {
  parc_queue *q = queue_new(1024, 64, PARC_SHARED);
  pid_t pid = spawn_child(close_after_delay, q);
  char buf[64];
  size_t len;
  double t0 = now_s();
  ASSERT_RC(parc_queue_get(q, buf, sizeof buf, &len, HOLD_S), PARC_ECLOSED);
  /* wrong: not woken by the other process, waiting out the timeout */
  ASSERT_SOONER(now_s() - t0, HOLD_S,
                "the getter, to see the close (0.2 s in)");
  ASSERT_CHILD_OK(pid, 5.0, "closer");
  parc_queue_destroy(q);
}

/* Close while producers and consumers are busy: a put that returned 0 was
 * accepted before the close, so its message must be drained by the gets --
 * a get may return ECLOSED only once nothing accepted is left. Races are
 * short, so many rounds. */
typedef struct closer {
  parc_queue *q;
  _Atomic uint64_t puts_ok, gets_ok, errors;
  _Atomic int first_err;
} closer;

static int close_race_producer(void *p) {
  closer *c = p;
  uint64_t v = 0;
  for (;;) {
    int rc = parc_queue_put(c->q, &v, 8, 10.0);
    if (rc == PARC_ECLOSED)
      return 0;
    if (rc) {
      atomic_store(&c->first_err, rc);
      atomic_fetch_add(&c->errors, 1);
      return 1;
    }
    atomic_fetch_add(&c->puts_ok, 1);
    v++;
  }
}

static int close_race_consumer(void *p) {
  closer *c = p;
  for (;;) {
    uint64_t v;
    size_t len;
    int rc = parc_queue_get(c->q, &v, 8, &len, 10.0);
    if (rc == PARC_ECLOSED)
      return 0;
    if (rc) {
      atomic_store(&c->first_err, rc);
      atomic_fetch_add(&c->errors, 1);
      return 1;
    }
    atomic_fetch_add(&c->gets_ok, 1);
  }
}

BOTH_MODES(close_during_puts_and_gets_loses_no_accepted_message) {
  enum { ROUNDS = 1000, P = 3, C = 3 };
  uint64_t rng = 31337;
  for (int round = 0; round < ROUNDS; round++) {
    closer c = {.q = queue_new(512, 8, flags)};
    tjob j[P + C];
    for (int i = 0; i < P + C; i++)
      tjob_start(&j[i], i < P ? close_race_producer : close_race_consumer, &c);
    sleep_s((double)(splitmix64(&rng) % 2000) * 1e-6);
    parc_queue_close(c.q);
    for (int i = 0; i < P + C; i++)
      ASSERT_THREAD_OK(&j[i], 10.0, "round party");
    uint64_t taken, queued;
    parc_queue_stats(c.q, &taken, &queued);
    ASSERT_I64(atomic_load(&c.errors), 0, "round %d: unexpected returns (%s)",
               round, errname(atomic_load(&c.first_err)));
    ASSERT_I64(atomic_load(&c.gets_ok), atomic_load(&c.puts_ok),
               "round %d: messages got, after every get returned ECLOSED, "
               "against puts "
               "that returned 0 (stats: taken %llu, queued %llu)",
               round, (unsigned long long)taken, (unsigned long long)queued);
    parc_queue_destroy(c.q);
  }
}

Test(queue, a_queue_holds_at_most_capacity_bytes_of_messages) {
  /* capacities that are not powers of two, messages that are */
  static const size_t caps[] = {600, 1000, 3000};
  for (int i = 0; i < 3; i++) {
    parc_queue *q = queue_new(caps[i], 64, 0);
    size_t n = fill_queue(q, caps[i], 24);
    cr_assert_geq(n, caps[i] / 32, "capacity %zu took only %zu messages",
                  caps[i], n);
    parc_queue_destroy(q);
  }
}

/* ------------------------------------------------------------ stats */

BOTH_MODES(stats_count_taken_and_queued) {
  parc_queue *q = queue_new(4096, 64, flags);
  uint64_t taken = 99, queued = 99;
  parc_queue_stats(q, &taken, &queued);
  ASSERT_I64(taken, 0, "taken when new");
  ASSERT_I64(queued, 0, "queued when new");
  for (int i = 0; i < 10; i++) ASSERT_RC(parc_queue_put(q, &i, 4, 1.0), 0);
  parc_queue_stats(q, &taken, &queued);
  ASSERT_I64(taken, 0, "taken after 10 puts");
  ASSERT_I64(queued, 10, "queued after 10 puts");
  int v;
  size_t len;
  for (int i = 0; i < 4; i++) ASSERT_RC(parc_queue_get(q, &v, 4, &len, 1.0), 0);
  parc_queue_stats(q, &taken, &queued);
  ASSERT_I64(taken, 4, "taken after 4 gets");
  ASSERT_I64(queued, 6, "queued after 4 gets");
  ASSERT_RC(parc_queue_try_get(q, &v, 1, &len), PARC_ETOOBIG); /* not taken */
  parc_queue_close(q);
  for (int i = 0; i < 6; i++) ASSERT_RC(parc_queue_get(q, &v, 4, &len, 1.0), 0);
  ASSERT_RC(parc_queue_get(q, &v, 4, &len, 1.0), PARC_ECLOSED);
  parc_queue_stats(q, &taken, &queued);
  ASSERT_I64(taken, 10, "taken after draining");
  ASSERT_I64(queued, 0, "queued after draining");
  parc_queue_destroy(q);
}

/* ------------------------------------------------------------ pipelined large messages */

/* Sizes around the pipelining threshold (64 KiB: written a 32 KiB piece at
 * a time, copied out as the pieces come) and well above it. */
static const size_t big_sizes[] = {
    (64 << 10) - 1, 64 << 10, (64 << 10) + 1, 300001, 1 << 20, 4 << 20, 17};
enum { NBIG = sizeof big_sizes / sizeof big_sizes[0], BIG_MAX = 4 << 20 };

static size_t big_len(uint32_t i) { return big_sizes[i % NBIG]; }

typedef struct bigq {
  parc_queue *q;
  uint32_t n;
  int rc;
  uint32_t bad; /* messages that arrived wrong */
} bigq;

static int put_bigs(void *p) {
  bigq *b = p;
  unsigned char *m = malloc(BIG_MAX);
  if (!m)
    return 2;
  for (uint32_t i = 0; i < b->n && b->rc == 0; i++) {
    fill_bytes(m, big_len(i), 500 + i);
    b->rc = parc_queue_put(b->q, m, big_len(i), 10.0);
  }
  free(m);
  return b->rc ? rc_code(b->rc) : 0;
}

static int get_bigs(void *p) {
  bigq *b = p;
  unsigned char *m = malloc(BIG_MAX + 1), *want = malloc(BIG_MAX);
  if (!m || !want)
    return 2;
  for (uint32_t i = 0; i < b->n && b->rc == 0; i++) {
    size_t len = 0;
    m[big_len(i)] = 0x5a;
    b->rc = parc_queue_get(b->q, m, BIG_MAX + 1, &len, 10.0);
    fill_bytes(want, big_len(i), 500 + i);
    if (b->rc == 0 && (len != big_len(i) || memcmp(m, want, len) != 0 ||
                       m[big_len(i)] != 0x5a))
      b->bad++;
  }
  free(m);
  free(want);
  return b->rc ? rc_code(b->rc) : 0;
}

/* A getter waiting while the producer writes (so it copies the pieces as
 * they come), messages queued behind one another, and one at a time (so
 * the consumer rewinds the ring); every message whole and in order. */
BOTH_MODES(large_messages_arrive_whole_and_in_order) {
  parc_queue *q = queue_new(6 << 20, BIG_MAX, flags);
  bigq g = {.q = q, .n = 3 * NBIG}, p = {.q = q, .n = 3 * NBIG};
  tjob j;
  tjob_start(&j, get_bigs, &g);
  put_bigs(&p);
  ASSERT_RC(p.rc, 0);
  ASSERT_THREAD_OK(&j, 20.0, "getter");
  ASSERT_RC(g.rc, 0);
  ASSERT_I64(g.bad, 0, "large messages that arrived wrong (getter waiting)");
  bigq p1 = {.q = q, .n = 2}, g1 = {.q = q, .n = 2}; /* queued, then taken */
  put_bigs(&p1);
  get_bigs(&g1);
  ASSERT_RC(p1.rc, 0);
  ASSERT_RC(g1.rc, 0);
  ASSERT_I64(g1.bad, 0, "large messages that arrived wrong (queued)");
  for (uint32_t i = 0; i < 2 * NBIG; i++) { /* one at a time */
    bigq p2 = {.q = q, .n = 1}, g2 = {.q = q, .n = 1};
    put_bigs(&p2);
    get_bigs(&g2);
    ASSERT_RC(g2.rc, 0);
    ASSERT_I64(g2.bad, 0,
               "a large message that arrived wrong (one at a time, %u)", i);
  }
  uint64_t taken, queued;
  parc_queue_stats(q, &taken, &queued);
  ASSERT_I64(taken, 5 * NBIG + 2, "stats: taken");
  ASSERT_I64(queued, 0, "stats: queued");
  parc_queue_destroy(q);
}

/* Messages of two pieces back and forth, many times: a getter often sees
 * the piece under way and then the message published before it looks
 * again -- every get must still return the message, whole. */
typedef struct twopiece {
  parc_queue *to, *from;
  uint32_t n;
} twopiece;

enum { TWO_PIECES = (64 << 10) + 1 };

static int twopiece_echo(void *p) {
  twopiece *t = p;
  unsigned char *m = malloc(TWO_PIECES);
  if (!m)
    return 2;
  for (uint32_t i = 0; i < t->n; i++) {
    size_t len;
    int rc = parc_queue_get(t->to, m, TWO_PIECES, &len, 10.0);
    if (rc == 0)
      rc = parc_queue_put(t->from, m, len, 10.0);
    if (rc)
      return rc_code(rc);
  }
  free(m);
  return 0;
}

static void two_pieces_back_and_forth(int flags, int procs) {
  enum { N = 2000 };
  twopiece *t = shm_new(sizeof *t);
  *t = (twopiece){queue_new(TWO_PIECES + 8, TWO_PIECES, flags),
                  queue_new(TWO_PIECES + 8, TWO_PIECES, flags), N};
  tjob j;
  pid_t pid = -1;
  if (procs)
    pid = spawn_child(twopiece_echo, t);
  else
    tjob_start(&j, twopiece_echo, t);
  unsigned char *m = malloc(TWO_PIECES), *r = malloc(TWO_PIECES);
  cr_assert(m && r);
  for (uint32_t i = 0; i < N; i++) {
    size_t len = 0;
    fill_bytes(m, TWO_PIECES, i);
    ASSERT_RC(parc_queue_put(t->to, m, TWO_PIECES, 10.0), 0);
    ASSERT_RC(parc_queue_get(t->from, r, TWO_PIECES, &len, 10.0), 0);
    ASSERT_I64(len, TWO_PIECES, "length of reply %u", i);
    cr_assert(memcmp(m, r, TWO_PIECES) == 0, "reply %u changed", i);
  }
  if (procs)
    ASSERT_CHILD_OK(pid, 10.0, "echo");
  else
    ASSERT_THREAD_OK(&j, 10.0, "echo");
  free(m);
  free(r);
  parc_queue_destroy(t->to);
  parc_queue_destroy(t->from);
  parc_shm_free(t);
}

BOTH_MODES(pipelined_messages_back_and_forth_between_threads) {
  two_pieces_back_and_forth(flags, 0);
}

Test(queue, pipelined_messages_back_and_forth_between_processes) {
  two_pieces_back_and_forth(PARC_SHARED, 1);
}

/* After rewinds (1 MiB messages one at a time through a 4 MiB arena), the
 * queue still holds its whole capacity. */
Test(queue, a_rewound_queue_still_holds_its_capacity) {
  enum { CAP = 3 << 20, MSG = 1000 };
  parc_queue *q = queue_new(CAP, 1 << 20, 0);
  unsigned char *m = malloc(1 << 20);
  cr_assert(m);
  for (int i = 0; i < 7; i++) {
    size_t len;
    ASSERT_RC(parc_queue_put(q, m, 1 << 20, 1.0), 0);
    ASSERT_RC(parc_queue_get(q, m, 1 << 20, &len, 1.0), 0);
  }
  uint32_t n = 0;
  unsigned char small[MSG] = {0};
  while (memcpy(small, &n, 4), parc_queue_try_put(q, small, MSG) == 0) n++;
  cr_assert_geq(n, CAP / (MSG + 8),
                "a %d-byte queue took only %u messages of %d bytes", CAP, n,
                MSG);
  for (uint32_t i = 0; i < n; i++) {
    size_t len;
    ASSERT_RC(parc_queue_try_get(q, small, MSG, &len), 0);
    uint32_t id;
    memcpy(&id, small, 4);
    ASSERT_I64(id, i, "message %u after the fill", i);
  }
  free(m);
  parc_queue_destroy(q);
}

typedef struct oneput {
  parc_queue *q;
  size_t len;
  uint64_t seed;
  int rc;
} oneput;

static int put_one(void *p) {
  oneput *o = p;
  unsigned char *m = malloc(o->len);
  if (!m)
    return 2;
  fill_bytes(m, o->len, o->seed);
  o->rc = parc_queue_put(o->q, m, o->len, 10.0);
  free(m);
  return o->rc ? rc_code(o->rc) : 0;
}

/* Gets one message and checks it is the `len` bytes of `seed`. */
static void get_one(parc_queue *q, size_t len, uint64_t seed, double timeout,
                    const char *what) {
  unsigned char *m = malloc(len), *want = malloc(len);
  cr_assert(m && want);
  size_t got = 0;
  ASSERT_RC(parc_queue_get(q, m, len, &got, timeout), 0);
  ASSERT_I64(got, len, "length of %s", what);
  fill_bytes(want, len, seed);
  cr_assert(memcmp(m, want, len) == 0, "%s arrived changed", what);
  free(m);
  free(want);
}

/* A producer stopped in the middle of a large message: the message is not
 * there yet (try_get: EAGAIN; get: its timeout), nothing is counted, and
 * once the producer goes on it arrives whole. */
BOTH_MODES(get_times_out_on_a_half_put_message_and_leaves_it_whole) {
  piece_stop ps = {0};
  stop_senders(&ps);
  parc_queue *q = queue_new(2 << 20, 1 << 20, flags);
  oneput o = {.q = q, .len = 1 << 20, .seed = 91};
  tjob j;
  tjob_start(&j, put_one, &o);
  cr_assert(wait_flag(&ps.reached, 1, 5.0),
            "the producer did not stop mid-message");
  unsigned char *m = malloc(o.len);
  cr_assert(m);
  size_t len = 0;
  ASSERT_RC(parc_queue_try_get(q, m, o.len, &len), PARC_EAGAIN);
  double t0 = now_s();
  ASSERT_RC(parc_queue_get(q, m, o.len, &len, 0.2), PARC_ETIMEDOUT);
  /* the producer is held HOLD_S: waiting for the rest would cost that */
  ASSERT_WAITED(now_s() - t0, 0.2, HOLD_S, "get(0.2 s) of a half-put message");
  ASSERT_RC(parc_queue_get(q, m, 1000, &len, 1.0), PARC_ETOOBIG);
  ASSERT_I64(len, o.len, "*len of a half-put message too big for the buffer");
  uint64_t taken = 9, queued = 9;
  parc_queue_stats(q, &taken, &queued);
  ASSERT_I64(taken, 0, "taken while the put is half done");
  ASSERT_I64(queued, 0, "queued while the put is half done");
  atomic_store(&ps.release, 1);
  get_one(q, o.len, 91, 5.0, "the message once the producer went on");
  ASSERT_THREAD_OK(&j, 5.0, "producer");
  parc_queue_stats(q, &taken, &queued);
  ASSERT_I64(taken, 1, "taken at the end");
  ASSERT_I64(queued, 0, "queued at the end");
  free(m);
  parc_queue_destroy(q);
}

typedef struct qdeath {
  parc_queue *q;
  piece_stop ps;
  oneput o;
  _Atomic int getting;
} qdeath;

static int die_inside_put_child(void *p) {
  qdeath *d = p;
  stop_senders(&d->ps); /* d->ps.die */
  put_one(&d->o);
  return 1; /* not reached */
}

static int put_one_child(void *p) {
  qdeath *d = p;
  return put_one(&d->o);
}

static int get_one_thread(void *p) {
  qdeath *d = p;
  atomic_store(&d->getting, 1);
  get_one(d->q, 1 << 20, 2, 10.0, "the good message after the dead one");
  return 0;
}

/* A producer SIGKILLed in the middle of a large put, while a consumer is
 * copying the message as it comes: the consumer does not hang and does not
 * deliver the dead half-message; the next producer's message arrives whole;
 * the dead put was never counted. Then again with nobody waiting. */
Test(queue, producer_killed_inside_a_large_put_loses_only_its_message) {
  qdeath *d = shm_new(sizeof *d);
  d->q = queue_new(2 << 20, 1 << 20, PARC_SHARED);
  for (int waiting = 1; waiting >= 0; waiting--) {
    atomic_store(&d->ps.reached, 0);
    d->ps.die = 1;
    d->o = (oneput){.q = d->q, .len = 1 << 20, .seed = 1};
    tjob j;
    if (waiting) {
      tjob_start(&j, get_one_thread, d);
      cr_assert(wait_flag(&d->getting, 1, 5.0), "getter did not start");
    }
    pid_t dead = spawn_child(die_inside_put_child, d);
    int st = 0;
    cr_assert(reap_child(dead, 5.0, &st) && WIFSIGNALED(st),
              "dying producer: status %#x", st);
    cr_assert(atomic_load(&d->ps.reached),
              "the producer died before its first piece");
    d->o = (oneput){.q = d->q, .len = 1 << 20, .seed = 2};
    pid_t good = spawn_child(put_one_child, d);
    ASSERT_CHILD_OK(good, 10.0, "good producer");
    if (waiting)
      ASSERT_THREAD_OK(&j, 10.0, "getter");
    else
      get_one(d->q, 1 << 20, 2, 5.0, "the good message after the dead one");
    uint64_t taken = 9, queued = 9;
    parc_queue_stats(d->q, &taken, &queued);
    ASSERT_I64(taken, 2 - waiting, "taken (waiting getter: %d)", waiting);
    ASSERT_I64(queued, 0, "queued (waiting getter: %d)", waiting);
  }
  parc_queue_destroy(d->q);
  parc_shm_free(d);
}

static int get_forever_child(void *p) {
  qdeath *d = p;
  unsigned char *m = malloc(1 << 20);
  size_t len;
  atomic_store(&d->getting, 1);
  parc_queue_get(d->q, m, 1 << 20, &len, 30.0);
  return 1; /* killed before */
}

/* A consumer SIGKILLed while it copies a message that is still being put:
 * it had not taken it, so the message is delivered whole to the next
 * consumer, exactly once. */
Test(queue, consumer_killed_while_copying_a_large_message_leaves_it_queued) {
  qdeath *d = shm_new(sizeof *d);
  d->q = queue_new(2 << 20, 1 << 20, PARC_SHARED);
  stop_senders(&d->ps);
  d->o = (oneput){.q = d->q, .len = 1 << 20, .seed = 3};
  pid_t c = spawn_child(get_forever_child, d);
  cr_assert(wait_flag(&d->getting, 1, 5.0), "consumer did not start");
  tjob j;
  tjob_start(&j, put_one, &d->o);
  cr_assert(wait_flag(&d->ps.reached, 1, 5.0),
            "the producer did not stop mid-message");
  sleep_s(0.05); /* the consumer copies the first piece, then waits */
  cr_assert_eq(kill(c, SIGKILL), 0);
  int st = 0;
  cr_assert(reap_child(c, 5.0, &st) && WIFSIGNALED(st), "consumer status %#x",
            st);
  atomic_store(&d->ps.release, 1);
  ASSERT_THREAD_OK(&j, 5.0, "producer");
  get_one(d->q, 1 << 20, 3, 5.0, "the message the killed consumer was copying");
  uint64_t taken = 9, queued = 9;
  parc_queue_stats(d->q, &taken, &queued);
  ASSERT_I64(taken, 1, "taken");
  ASSERT_I64(queued, 0, "queued");
  parc_queue_destroy(d->q);
  parc_shm_free(d);
}

static int die_inside_rewind_child(void *p) {
  qdeath *d = p;
  d->ps = (piece_stop){.die = 1, .at_rewind = 1};
  stop_senders(&d->ps);
  get_one(d->q, 1 << 20, 4, 5.0, "the message before the rewind");
  return 1; /* killed inside the get, after taking the message */
}

/* A consumer SIGKILLed between the two stores of a rewind: the message it
 * took counts as taken, and the queue stays usable -- the next get skips
 * the rewind's frame, it never comes out as a message. */
Test(queue, consumer_killed_inside_a_rewind_leaves_the_queue_usable) {
  qdeath *d = shm_new(sizeof *d);
  d->q = queue_new((1 << 20) + 8, 1 << 20, PARC_SHARED);
  d->o = (oneput){.q = d->q, .len = 1 << 20, .seed = 4};
  put_one(&d->o);
  ASSERT_RC(d->o.rc, 0);
  pid_t c = spawn_child(die_inside_rewind_child, d);
  int st = 0;
  cr_assert(reap_child(c, 5.0, &st) && WIFSIGNALED(st), "consumer status %#x",
            st);
  cr_assert(atomic_load(&d->ps.reached),
            "the consumer did not reach the rewind");
  char small[8];
  size_t len;
  ASSERT_RC(parc_queue_try_get(d->q, small, sizeof small, &len), PARC_EAGAIN);
  for (uint64_t seed = 5; seed < 8; seed++) {
    d->o = (oneput){.q = d->q, .len = 1 << 20, .seed = seed};
    put_one(&d->o);
    ASSERT_RC(d->o.rc, 0);
    get_one(d->q, 1 << 20, seed, 5.0, "a message after the broken rewind");
  }
  uint64_t taken = 9, queued = 9;
  parc_queue_stats(d->q, &taken, &queued);
  ASSERT_I64(taken, 4, "taken");
  ASSERT_I64(queued, 0, "queued");
  parc_queue_destroy(d->q);
  parc_shm_free(d);
}

/* ------------------------------------------------------------ stress */

enum { NPROD = 4, NCONS = 4, MAXPAY = 256, HDR = 8, MAXMSG = HDR + MAXPAY };
static const uint64_t SEED = 0x5eed1234abcdull;

/* Payload length (1..256) and bytes of message `id`. */
static size_t payload_len(uint32_t id) {
  uint64_t s = SEED ^ ((uint64_t)id << 20);
  return 1 + (size_t)(splitmix64(&s) % MAXPAY);
}

static size_t make_msg(uint32_t id, unsigned char *m) {
  size_t n = payload_len(id);
  fill_bytes(m + HDR, n, SEED + id);
  uint32_t sum = (uint32_t)fnv1a(m + HDR, n);
  memcpy(m, &id, 4);
  memcpy(m + 4, &sum, 4);
  return HDR + n;
}

typedef struct stress {
  parc_queue *q;
  uint32_t n; /* messages in all */
  uint32_t nprod;
  _Atomic uint64_t got;     /* messages consumers recorded (progress) */
  _Atomic uint64_t bad_msg; /* wrong length or checksum, or id out of range */
  _Atomic uint64_t reorder; /* a producer's messages out of order */
  _Atomic uint64_t errors;  /* unexpected return codes */
  _Atomic int first_err;
  _Atomic int ready; /* consumers that have started */
  _Atomic int producers_done;
  _Atomic uint32_t seen[]; /* per id: times recorded */
} stress;

typedef struct role {
  stress *s;
  uint32_t index;
} role;

static void note_error(stress *s, int rc) {
  int zero = 0;
  atomic_compare_exchange_strong(&s->first_err, &zero, rc);
  atomic_fetch_add(&s->errors, 1);
}

static int producer(void *p) {
  role *r = p;
  stress *s = r->s;
  unsigned char m[MAXMSG];
  for (uint32_t id = r->index; id < s->n; id += s->nprod) {
    size_t len = make_msg(id, m);
    int rc = parc_queue_put(s->q, m, len, 30.0);
    if (rc != 0) {
      note_error(s, rc);
      atomic_fetch_add(&s->producers_done, 1);
      return 1;
    }
  }
  atomic_fetch_add(&s->producers_done, 1);
  return 0;
}

/* Gets until the queue is closed and drained. */
static int consumer(void *p) {
  role *r = p;
  stress *s = r->s;
  unsigned char m[MAXMSG];
  int64_t last[NPROD];
  for (int i = 0; i < NPROD; i++) last[i] = -1;
  atomic_fetch_add(&s->ready, 1);
  for (;;) {
    size_t len = 0;
    int rc = parc_queue_get(s->q, m, sizeof m, &len, 30.0);
    if (rc == PARC_ECLOSED)
      return 0;
    if (rc != 0) {
      note_error(s, rc);
      return 1;
    }
    uint32_t id, sum;
    memcpy(&id, m, 4);
    memcpy(&sum, m + 4, 4);
    if (len < HDR || id >= s->n || len != HDR + payload_len(id) ||
        sum != (uint32_t)fnv1a(m + HDR, len - HDR)) {
      atomic_fetch_add(&s->bad_msg, 1);
      continue;
    }
    atomic_fetch_add_explicit(&s->seen[id], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->got, 1, memory_order_relaxed);
    uint32_t from = id % s->nprod;
    if ((int64_t)id <= last[from])
      atomic_fetch_add(&s->reorder, 1);
    last[from] = id;
  }
}

/* Reaps a producer or consumer that must exit 0; on failure says where the
 * run stood (the first error a party saw, progress, the queue's stats). */
static void reap_party(stress *s, pid_t pid, double max_s, const char *what) {
  int st = 0;
  int ok = reap_child(pid, max_s, &st);
  if (ok && WIFEXITED(st) && WEXITSTATUS(st) == 0)
    return;
  uint64_t taken = 0, queued = 0;
  parc_queue_stats(s->q, &taken, &queued);
  cr_assert_fail(
      "%s (pid %d) %s: %s %d; first error seen by a party: %s; recorded %llu "
      "of %u; stats: taken %llu, queued %llu",
      what, (int)pid, ok ? "ended badly" : "did not end (killed)",
      WIFEXITED(st) ? "exit" : "signal",
      WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
      errname(atomic_load(&s->first_err)),
      (unsigned long long)atomic_load(&s->got), s->n, (unsigned long long)taken,
      (unsigned long long)queued);
}

static stress *stress_new(uint32_t n, int flags) {
  stress *s = shm_new(sizeof(stress) + (size_t)n * sizeof(_Atomic uint32_t));
  s->n = n;
  s->nprod = NPROD;
  s->q = queue_new(16 * 1024, MAXMSG, flags);
  return s;
}

/* Every id recorded exactly once (or, with `may_lose`, at most once and at
 * most may_lose missing); returns the number of ids recorded. */
static uint64_t check_seen(stress *s, uint64_t may_lose, const char *what) {
  uint64_t dup = 0, missing = 0, recorded = 0;
  int64_t first_dup = -1, first_missing = -1;
  for (uint32_t id = 0; id < s->n; id++) {
    uint32_t c = atomic_load(&s->seen[id]);
    recorded += c;
    if (c > 1 && dup++ == 0)
      first_dup = id;
    if (c == 0 && missing++ == 0)
      first_missing = id;
  }
  ASSERT_I64(atomic_load(&s->errors), 0,
             "%s: unexpected return codes (first: %s)", what,
             errname(atomic_load(&s->first_err)));
  ASSERT_I64(atomic_load(&s->bad_msg), 0, "%s: corrupt messages", what);
  ASSERT_I64(atomic_load(&s->reorder), 0,
             "%s: messages of one producer out of order", what);
  ASSERT_I64(dup, 0, "%s: ids delivered more than once (first: %lld)", what,
             (long long)first_dup);
  cr_assert_leq(missing, may_lose,
                "%s: %llu ids never delivered (first: %lld), at most %llu "
                "may be lost",
                what, (unsigned long long)missing, (long long)first_missing,
                (unsigned long long)may_lose);
  return recorded;
}

static void stress_threads_run(uint32_t n) {
  stress *s = stress_new(n, 0);
  role pr[NPROD], cr[NCONS];
  tjob pj[NPROD], cj[NCONS];
  for (uint32_t i = 0; i < NCONS; i++) {
    cr[i] = (role){s, i};
    tjob_start(&cj[i], consumer, &cr[i]);
  }
  for (uint32_t i = 0; i < NPROD; i++) {
    pr[i] = (role){s, i};
    tjob_start(&pj[i], producer, &pr[i]);
  }
  for (uint32_t i = 0; i < NPROD; i++)
    ASSERT_THREAD_OK(&pj[i], 90.0, "producer thread");
  parc_queue_close(s->q);
  for (uint32_t i = 0; i < NCONS; i++)
    ASSERT_THREAD_OK(&cj[i], 30.0, "consumer thread");
  ASSERT_I64(check_seen(s, 0, "threads"), n, "messages recorded");
  uint64_t taken, queued;
  parc_queue_stats(s->q, &taken, &queued);
  ASSERT_I64(taken, n, "stats: taken");
  ASSERT_I64(queued, 0, "stats: queued");
  parc_queue_destroy(s->q);
  parc_shm_free(s);
}

/* 10^6 messages through 4 producers and 4 consumers (about 0.5 s on the
 * 2-core test machine, so every run uses the full count). */
enum { STRESS_N = 1000000, KILL_N = 1000000 };

Test(queue, stress_threads_every_message_exactly_once) {
  stress_threads_run(STRESS_N);
}

/* Processes: producers and consumers are forked children; `kills` of the
 * consumers are SIGKILLed at evenly spaced points of the run. */
static void stress_procs_run(uint32_t n, int kills) {
  stress *s = stress_new(n, PARC_SHARED);
  role pr[NPROD], cr[NCONS];
  pid_t pp[NPROD], cp[NCONS];
  for (uint32_t i = 0; i < NCONS; i++) {
    cr[i] = (role){s, i};
    cp[i] = spawn_child(consumer, &cr[i]);
  }
  cr_assert(wait_flag(&s->ready, NCONS, 10.0), "consumers did not start");
  for (uint32_t i = 0; i < NPROD; i++) {
    pr[i] = (role){s, i};
    pp[i] = spawn_child(producer, &pr[i]);
  }
  for (int k = 0; k < kills; k++) {
    /* kill consumer k once (k+1)/(kills+1) of the messages are through */
    uint64_t at = (uint64_t)n * (uint64_t)(k + 1) / (uint64_t)(kills + 1);
    double end = now_s() + 60.0;
    while (atomic_load(&s->got) < at && now_s() < end) sleep_s(0.0005);
    cr_assert_geq(atomic_load(&s->got), at, "the run stalled before kill %d",
                  k);
    cr_assert_eq(kill(cp[k], SIGKILL), 0, "kill consumer %d", k);
    int st = 0;
    cr_assert(reap_child(cp[k], 5.0, &st), "killed consumer %d did not die", k);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
              "consumer %d ended before it was killed (status %#x)", k, st);
  }
  for (uint32_t i = 0; i < NPROD; i++) reap_party(s, pp[i], 90.0, "producer");
  /* close wakes every waiter: the survivors end at once, none sleeps on */
  parc_queue_close(s->q);
  for (uint32_t i = (uint32_t)kills; i < NCONS; i++)
    reap_party(s, cp[i], 5.0, "consumer");

  /* Accounting: a consumer killed inside get leaves its message queued (a
   * survivor gets it) or taken; one killed between get and recording it
   * loses that one message. So recorded + lost == taken == n, with at most
   * one lost per killed consumer, nothing duplicated, nothing left queued. */
  uint64_t recorded = check_seen(
      s, (uint64_t)kills, kills ? "processes, killed consumers" : "processes");
  uint64_t taken = 0, queued = 99;
  parc_queue_stats(s->q, &taken, &queued);
  ASSERT_I64(queued, 0, "stats: queued at the end");
  ASSERT_I64(
      taken, n,
      "stats: taken (every message was put once and the queue is drained)");
  uint64_t lost = taken - recorded;
  cr_assert_leq(lost, (uint64_t)kills,
                "%llu messages taken but never recorded, %d consumers "
                "killed",
                (unsigned long long)lost, kills);
  parc_queue_destroy(s->q);
  parc_shm_free(s);
}

Test(queue, stress_processes_every_message_exactly_once) {
  stress_procs_run(STRESS_N, 0);
}

Test(queue, stress_processes_with_a_killed_consumer_loses_at_most_its_message) {
  stress_procs_run(KILL_N, 1);
}

Test(queue, stress_processes_with_three_killed_consumers) {
  stress_procs_run(KILL_N, 3);
}

/* Consumers that are SIGKILLed again and again at random moments -- some of
 * them inside parc_queue_get, holding the consumers' lock, some between
 * moving the ring and counting the message -- for as long as the producers
 * run: the queue neither stalls nor duplicates or corrupts a message, and
 * its stats stay exact (taken + queued == put). */
Test(queue, consumers_killed_at_random_moments_never_break_the_queue) {
  enum { N = 3000000, MAX_KILLS = 3000 };
  enum { STEADY = 5 };
  stress *s = stress_new(N, PARC_SHARED);
  role pr[NPROD], steady[STEADY];
  pid_t pp[NPROD], sp[STEADY];
  for (uint32_t i = 0; i < STEADY; i++) {
    steady[i] = (role){s, i};
    sp[i] = spawn_child(consumer, &steady[i]);
  }
  for (uint32_t i = 0; i < NPROD; i++) {
    pr[i] = (role){s, i};
    pp[i] = spawn_child(producer, &pr[i]);
  }
  uint64_t rng = 99;
  int kills = 0;
  while (atomic_load(&s->producers_done) < NPROD && kills < MAX_KILLS) {
    role r = {s, STEADY};
    pid_t c = spawn_child(consumer, &r);
    sleep_s(0.0002 + (double)(splitmix64(&rng) % 3000) * 1e-6);
    cr_assert_eq(kill(c, SIGKILL), 0, "kill churn consumer %d", kills);
    int st = 0;
    cr_assert(reap_child(c, 5.0, &st), "churn consumer %d did not die", kills);
    kills += WIFSIGNALED(st);
  }
  cr_assert_geq(kills, 50,
                "only %d consumers were killed while the producers ran", kills);
  for (uint32_t i = 0; i < NPROD; i++) reap_party(s, pp[i], 90.0, "producer");
  /* close wakes every waiter: the survivors end at once, none sleeps on */
  parc_queue_close(s->q);
  for (uint32_t i = 0; i < STEADY; i++)
    reap_party(s, sp[i], 5.0, "steady consumer");
  uint64_t recorded = check_seen(s, (uint64_t)kills, "churned consumers");
  uint64_t taken = 0, queued = 99;
  parc_queue_stats(s->q, &taken, &queued);
  ASSERT_I64(queued, 0, "stats: queued at the end (%d consumers killed)",
             kills);
  ASSERT_I64(taken, N, "stats: taken (%d consumers killed)", kills);
  cr_assert_leq(taken - recorded, (uint64_t)kills,
                "%llu lost, %d consumers killed",
                (unsigned long long)(taken - recorded), kills);
  parc_queue_destroy(s->q);
  parc_shm_free(s);
}

/* ------------------------------------------------------------ leaks */

static void queue_cycle(int flags, size_t cap, int used) {
  parc_queue *q = queue_new(cap, 64, flags);
  if (used) {
    char buf[64];
    size_t len;
    ASSERT_RC(parc_queue_put(q, "hello", 5, 1.0), 0);
    ASSERT_RC(parc_queue_get(q, buf, sizeof buf, &len, 1.0), 0);
    ASSERT_RC(parc_queue_put(q, "left", 4, 1.0), 0); /* destroyed non-empty */
    parc_queue_close(q);
  }
  parc_queue_destroy(q);
}

Test(queue, hundred_queues_leave_nothing_behind) {
  static const int modes[] = {0, PARC_SHARED};
  static const size_t caps[] = {1024,
                                1 << 20}; /* small, and big enough for mmap */
  for (int m = 0; m < 2; m++)
    for (int c = 0; c < 2; c++) {
      for (int i = 0; i < 3; i++)
        queue_cycle(modes[m], caps[c], i & 1); /* warm up */
      chan_snap before, after;
      snap_take(&before);
      for (int i = 0; i < 100; i++) queue_cycle(modes[m], caps[c], i & 1);
      snap_take(&after);
      char what[64];
      snprintf(what, sizeof what, "%s queues of %zu bytes",
               modes[m] ? "shared" : "private", caps[c]);
      snap_check_same(&before, &after, what);
    }
}

static int use_queue_in_child(void *p) {
  parc_queue *q = p;
  uint32_t v = 0;
  size_t len;
  int rc = parc_queue_get(q, &v, 4, &len, 5.0);
  if (rc)
    return rc_code(rc);
  v++;
  return rc_code(parc_queue_put(q, &v, 4, 5.0));
}

Test(queue, shared_queues_used_by_children_leave_nothing_behind) {
  for (int round = 0; round < 23; round++) {
    static chan_snap before;
    if (round == 3)
      snap_take(&before); /* rounds 0-2 warm up */
    parc_queue *q = queue_new(4096, 64, PARC_SHARED);
    uint32_t v = (uint32_t)round * 10;
    ASSERT_RC(parc_queue_put(q, &v, 4, 1.0), 0);
    pid_t pid = spawn_child(use_queue_in_child, q);
    ASSERT_CHILD_OK(pid, 10.0, "child using the queue");
    size_t len;
    ASSERT_RC(parc_queue_get(q, &v, 4, &len, 1.0), 0);
    ASSERT_I64(v, round * 10 + 1, "value back from the child in round %d",
               round);
    parc_queue_destroy(q);
    if (round == 22) {
      chan_snap after;
      snap_take(&after);
      snap_check_same(&before, &after, "20 shared queues used by a child");
    }
  }
}
