/* test_pipe.c -- parc_pipe: both directions in order, sizes, ETOOBIG,
 * timeouts, close, bind, and a peer process that dies (SIGKILL or exit)
 * while the other side is blocked in recv or in send on a full pipe: the
 * blocked call returns PARC_ECLOSED promptly instead of hanging. Large
 * messages are pipelined (sent a piece at a time, copied out as they
 * come): they arrive whole, a recv that times out in the middle of one
 * leaves it whole, and a sender killed in the middle gives PARC_ECLOSED
 * (senders are stopped mid-message through the library's test hook,
 * chanutil.h).
 *
 * Ends are used by one thread at a time each. Children are forked after the
 * pipe is made (chanutil.h); the parent closes its own handles of both ends
 * once the child is gone ("frees this process's handle"). */
#include "chanutil.h"
#include "leakcheck.h"

#include <malloc.h>

static void pipe_init(void) {
  no_core_dumps();
  mallopt(M_ARENA_MAX, 1); /* see test_leaks.c: keeps the maps count still */
}

TestSuite(pipe, .init = pipe_init, .timeout = 120);

typedef struct ends {
  parc_pipe *a, *b;
} ends;

static ends pipe_new(size_t max_msg, int flags) {
  ends e = {NULL, NULL};
  int rc = parc_pipe_create(&e.a, &e.b, max_msg, flags);
  cr_assert_eq(rc, 0, "parc_pipe_create(%zu, %d): got %d (%s)", max_msg, flags,
               rc, errname(rc));
  cr_assert(e.a && e.b && e.a != e.b,
            "parc_pipe_create returned 0 but ends %p, %p", (void *)e.a,
            (void *)e.b);
  return e;
}

static void pipe_free(ends e) {
  parc_pipe_close(e.a);
  parc_pipe_close(e.b);
}

#define BOTH_MODES(name)                                                       \
  static void pipe__##name(int flags);                                         \
  Test(pipe, name##_private) { pipe__##name(0); }                              \
  Test(pipe, name##_shared) { pipe__##name(PARC_SHARED); }                     \
  static void pipe__##name(int flags)

static void send_u32(parc_pipe *e, uint32_t v) {
  ASSERT_RC(parc_pipe_send(e, &v, 4, 1.0), 0);
}

static uint32_t recv_u32(parc_pipe *e) {
  uint32_t v = 0xdeadbeef;
  size_t len = 0;
  ASSERT_RC(parc_pipe_recv(e, &v, sizeof v, &len, 1.0), 0);
  ASSERT_I64(len, 4, "length of a 4-byte message");
  return v;
}

/* Fills the direction that `e` sends on with 16-byte messages, by sends
 * that do not wait, until EAGAIN; returns how many fit (a pipe that takes
 * 16 MiB without filling up fails the test). */
static size_t fill_pipe(parc_pipe *e) {
  char msg[16] = {0};
  size_t n = 0;
  int rc;
  while ((rc = parc_pipe_send(e, msg, sizeof msg, 0)) == 0) {
    n++;
    cr_assert_lt(n, (size_t)1 << 20, "the pipe took 16 MiB without filling up");
  }
  ASSERT_RC(rc, PARC_EAGAIN);
  cr_assert_gt(n, 0, "not one message fitted in an empty pipe");
  return n;
}

/* ------------------------------------------------------------ basics */

BOTH_MODES(sends_arrive_in_order_both_ways) {
  ends e = pipe_new(64, flags);
  for (uint32_t i = 0; i < 40; i++) {
    send_u32(e.a, i);
    send_u32(e.b, 1000 + i);
  }
  for (uint32_t i = 0; i < 40; i++) {
    ASSERT_I64(recv_u32(e.b), i, "a->b message %u", i);
    ASSERT_I64(recv_u32(e.a), 1000 + i, "b->a message %u", i);
  }
  /* nothing crosses over: each end only gets what the other sent */
  uint32_t v;
  size_t len;
  ASSERT_RC(parc_pipe_recv(e.a, &v, 4, &len, 0), PARC_EAGAIN);
  ASSERT_RC(parc_pipe_recv(e.b, &v, 4, &len, 0), PARC_EAGAIN);
  pipe_free(e);
}

BOTH_MODES(every_size_round_trips) {
  enum { MAX = 300 };
  ends e = pipe_new(MAX, flags);
  unsigned char msg[MAX], buf[MAX + 8];
  for (size_t n = 0; n <= MAX; n++) {
    parc_pipe *from = n & 1 ? e.a : e.b, *to = n & 1 ? e.b : e.a;
    fill_bytes(msg, n, 300 + n);
    ASSERT_RC(parc_pipe_send(from, msg, n, 1.0), 0);
    size_t len = 999;
    memset(buf, 0x5a, sizeof buf);
    ASSERT_RC(parc_pipe_recv(to, buf, sizeof buf, &len, 1.0), 0);
    ASSERT_I64(len, n, "length of the %zu-byte message", n);
    cr_assert(memcmp(buf, msg, n) == 0, "the %zu-byte message changed", n);
    ASSERT_I64(buf[n], 0x5a, "recv wrote past the %zu-byte message", n);
  }
  pipe_free(e);
}

BOTH_MODES(send_larger_than_max_msg_is_etoobig) {
  ends e = pipe_new(100, flags);
  char msg[200] = {0};
  ASSERT_RC(parc_pipe_send(e.a, msg, 101, 1.0), PARC_ETOOBIG);
  ASSERT_RC(parc_pipe_send(e.b, msg, 200, 0), PARC_ETOOBIG);
  ASSERT_RC(parc_pipe_send(e.a, msg, 100, 1.0), 0);
  size_t len;
  ASSERT_RC(parc_pipe_recv(e.b, msg, sizeof msg, &len, 1.0), 0);
  ASSERT_I64(len, 100, "the message after the refused one");
  ASSERT_RC(parc_pipe_recv(e.b, msg, sizeof msg, &len, 0), PARC_EAGAIN);
  pipe_free(e);
}

BOTH_MODES(recv_into_a_small_buffer_is_etoobig_and_keeps_the_message) {
  ends e = pipe_new(100, flags);
  unsigned char msg[60], buf[100];
  fill_bytes(msg, sizeof msg, 5);
  ASSERT_RC(parc_pipe_send(e.a, msg, 60, 1.0), 0);
  send_u32(e.a, 31337);
  size_t len = 0;
  ASSERT_RC(parc_pipe_recv(e.b, buf, 59, &len, 1.0), PARC_ETOOBIG);
  ASSERT_I64(len, 60, "*len after ETOOBIG");
  ASSERT_RC(parc_pipe_recv(e.b, buf, sizeof buf, &len, 1.0), 0);
  ASSERT_I64(len, 60, "length of the kept message");
  cr_assert(memcmp(buf, msg, 60) == 0, "the kept message changed");
  ASSERT_I64(recv_u32(e.b), 31337, "the message behind it");
  pipe_free(e);
}

/* ------------------------------------------------------------ timeouts */

BOTH_MODES(recv_on_an_empty_pipe_times_out) {
  ends e = pipe_new(64, flags);
  char buf[64];
  size_t len;
  ASSERT_RC(parc_pipe_recv(e.b, buf, sizeof buf, &len, 0), PARC_EAGAIN);
  double t0 = now_s();
  ASSERT_RC(parc_pipe_recv(e.b, buf, sizeof buf, &len, 0.2), PARC_ETIMEDOUT);
  ASSERT_WAITED(now_s() - t0, 0.2, HOLD_S, "recv(0.2 s) on an empty pipe");
  t0 = now_s();
  ASSERT_RC(parc_pipe_recv(e.a, buf, sizeof buf, &len, 0.2), PARC_ETIMEDOUT);
  ASSERT_WAITED(now_s() - t0, 0.2, HOLD_S, "recv(0.2 s) on the other end");
  pipe_free(e);
}

BOTH_MODES(send_on_a_full_pipe_times_out) {
  ends e = pipe_new(64, flags);
  size_t n = fill_pipe(e.a);
  char msg[16] = {0};
  double t0 = now_s();
  ASSERT_RC(parc_pipe_send(e.a, msg, 16, 0.2), PARC_ETIMEDOUT);
  ASSERT_WAITED(now_s() - t0, 0.2, HOLD_S, "send(0.2 s) on a full pipe");
  /* the other direction is independent */
  send_u32(e.b, 5);
  ASSERT_I64(recv_u32(e.a), 5, "b->a while a->b is full");
  /* one recv makes room again; everything sent is there, in order */
  char buf[64];
  size_t len;
  ASSERT_RC(parc_pipe_recv(e.b, buf, sizeof buf, &len, 1.0), 0);
  ASSERT_RC(parc_pipe_send(e.a, msg, 16, 1.0), 0);
  for (size_t i = 0; i < n; i++)
    ASSERT_RC(parc_pipe_recv(e.b, buf, sizeof buf, &len, 1.0), 0);
  ASSERT_RC(parc_pipe_recv(e.b, buf, sizeof buf, &len, 0), PARC_EAGAIN);
  pipe_free(e);
}

/* ------------------------------------------------------------ close */

BOTH_MODES(close_lets_the_peer_drain_then_eclosed) {
  ends e = pipe_new(64, flags);
  for (uint32_t i = 0; i < 3; i++) send_u32(e.a, i);
  parc_pipe_close(e.a);
  for (uint32_t i = 0; i < 3; i++)
    ASSERT_I64(recv_u32(e.b), i, "drained message %u", i);
  char buf[64];
  size_t len;
  double t0 = now_s();
  ASSERT_RC(parc_pipe_recv(e.b, buf, sizeof buf, &len, HOLD_S), PARC_ECLOSED);
  /* wrong: waiting out the timeout */
  ASSERT_SOONER(now_s() - t0, HOLD_S, "recv from a closed, drained peer");
  ASSERT_RC(parc_pipe_recv(e.b, buf, sizeof buf, &len, 0), PARC_ECLOSED);
  ASSERT_RC(parc_pipe_send(e.b, "x", 1, 1.0), PARC_ECLOSED);
  parc_pipe_close(e.b);
  parc_pipe_close(NULL);
}

typedef struct parg {
  parc_pipe *e;
  _Atomic int ready;
  int rc;
  double took;
} parg;

static int blocked_recv(void *p) {
  parg *a = p;
  char buf[64];
  size_t len;
  atomic_store(&a->ready, 1);
  double t0 = now_s();
  a->rc = parc_pipe_recv(a->e, buf, sizeof buf, &len, HOLD_S);
  a->took = now_s() - t0;
  return 0;
}

static int blocked_send(void *p) {
  parg *a = p;
  char msg[16] = {0};
  atomic_store(&a->ready, 1);
  double t0 = now_s();
  a->rc = parc_pipe_send(a->e, msg, sizeof msg, HOLD_S);
  a->took = now_s() - t0;
  return 0;
}

BOTH_MODES(close_wakes_a_blocked_recv_on_the_other_end) {
  ends e = pipe_new(64, flags);
  parg a = {.e = e.b};
  tjob j;
  tjob_start(&j, blocked_recv, &a);
  cr_assert(wait_flag(&a.ready, 1, 5.0), "receiver did not start");
  sleep_s(0.2);
  parc_pipe_close(e.a);
  /* wrong: the receiver waits out its timeout of HOLD_S */
  ASSERT_THREAD_OK(&j, HOLD_S / 2, "receiver");
  ASSERT_RC(a.rc, PARC_ECLOSED);
  ASSERT_SOONER(a.took, HOLD_S, "the receiver, to see the close (0.2 s in)");
  parc_pipe_close(e.b);
}

BOTH_MODES(close_wakes_a_blocked_send_on_the_other_end) {
  ends e = pipe_new(64, flags);
  fill_pipe(e.a);
  parg a = {.e = e.a};
  tjob j;
  tjob_start(&j, blocked_send, &a);
  cr_assert(wait_flag(&a.ready, 1, 5.0), "sender did not start");
  sleep_s(0.2);
  parc_pipe_close(e.b);
  /* wrong: the sender waits out its timeout of HOLD_S */
  ASSERT_THREAD_OK(&j, HOLD_S / 2, "sender");
  ASSERT_RC(a.rc, PARC_ECLOSED);
  ASSERT_SOONER(a.took, HOLD_S, "the sender, to see the close (0.2 s in)");
  parc_pipe_close(e.a);
}

/* ------------------------------------------------------------ processes */

typedef struct pshared {
  ends e;
  _Atomic int bound; /* the child has bound its end */
  _Atomic int go;    /* the parent is ready for the child's next step */
  _Atomic int step;  /* where the child got to */
  _Atomic int bad;   /* what the child found wrong */
  uint32_t n;
  uint64_t seed;
} pshared;

static pshared *pshared_new(size_t max_msg) {
  pshared *s = shm_new(sizeof *s);
  s->e = pipe_new(max_msg, PARC_SHARED);
  return s;
}

static void pshared_free(pshared *s) {
  pipe_free(s->e);
  parc_shm_free(s);
}

static int ping_child(void *p) {
  pshared *s = p;
  for (uint32_t i = 0; i < s->n; i++) {
    uint32_t v = 0;
    size_t len;
    int rc = parc_pipe_recv(s->e.a, &v, 4, &len, 10.0);
    if (rc)
      return rc_code(rc);
    if (v != i)
      return 1;
    v = v * 3 + 1;
    rc = parc_pipe_send(s->e.a, &v, 4, 10.0);
    if (rc)
      return rc_code(rc);
  }
  return 0;
}

Test(pipe, ping_pong_between_processes) {
  pshared *s = pshared_new(64);
  s->n = 5000;
  pid_t pid = spawn_child(ping_child, s);
  for (uint32_t i = 0; i < s->n; i++) {
    ASSERT_RC(parc_pipe_send(s->e.b, &i, 4, 10.0), 0);
    uint32_t v = 0;
    size_t len;
    ASSERT_RC(parc_pipe_recv(s->e.b, &v, 4, &len, 10.0), 0);
    ASSERT_I64(v, i * 3 + 1, "reply %u", i);
  }
  ASSERT_CHILD_OK(pid, 10.0, "ping child");
  pshared_free(s);
}

enum { BULK_MAX = 1000 };

static size_t bulk_len(uint64_t seed, uint32_t i) {
  uint64_t x = seed + i;
  return (size_t)(splitmix64(&x) % (BULK_MAX - 7)) + 8;
}

static size_t bulk_msg(uint64_t seed, uint32_t i, unsigned char *m) {
  size_t n = bulk_len(seed, i);
  fill_bytes(m, n, seed * 31 + i);
  memcpy(m, &i, 4);
  return n;
}

static int bulk_check(uint64_t seed, uint32_t i, const unsigned char *m,
                      size_t len) {
  unsigned char want[BULK_MAX];
  size_t n = bulk_msg(seed, i, want);
  return len == n && memcmp(m, want, n) == 0;
}

/* Sends n messages and receives n, interleaved with calls that do not wait,
 * so that both sides can fill the pipe both ways at once. */
static int duplex(parc_pipe *e, uint64_t send_seed, uint64_t recv_seed,
                  uint32_t n, _Atomic int *bad) {
  unsigned char m[BULK_MAX];
  uint32_t sent = 0, got = 0;
  size_t mlen = bulk_msg(send_seed, 0, m);
  while (sent < n || got < n) {
    int moved = 0;
    while (sent < n) {
      int rc = parc_pipe_send(e, m, mlen, 0);
      if (rc == PARC_EAGAIN)
        break;
      if (rc)
        return rc_code(rc);
      moved = 1;
      if (++sent < n)
        mlen = bulk_msg(send_seed, sent, m);
    }
    unsigned char r[BULK_MAX];
    size_t len;
    while (got < n) {
      int rc = parc_pipe_recv(e, r, sizeof r, &len, 0);
      if (rc == PARC_EAGAIN)
        break;
      if (rc)
        return rc_code(rc);
      moved = 1;
      if (!bulk_check(recv_seed, got, r, len))
        atomic_fetch_add(bad, 1);
      got++;
    }
    if (!moved && got < n) {
      /* block for a moment in recv: the peer sends or makes room */
      int rc = parc_pipe_recv(e, r, sizeof r, &len, 0.01);
      if (rc == 0) {
        if (!bulk_check(recv_seed, got, r, len))
          atomic_fetch_add(bad, 1);
        got++;
      } else if (rc != PARC_ETIMEDOUT) {
        return rc_code(rc);
      }
    }
  }
  return 0;
}

static int duplex_child(void *p) {
  pshared *s = p;
  return duplex(s->e.a, s->seed + 1, s->seed, s->n, &s->bad);
}

Test(pipe, full_duplex_bulk_between_processes) {
  pshared *s = pshared_new(BULK_MAX);
  s->n = 30000;
  s->seed = 777;
  pid_t pid = spawn_child(duplex_child, s);
  int rc = duplex(s->e.b, s->seed, s->seed + 1, s->n, &s->bad);
  cr_assert_eq(rc, 0, "parent duplex: exit code %d", rc);
  ASSERT_CHILD_OK(pid, 30.0, "duplex child");
  ASSERT_I64(atomic_load(&s->bad), 0,
             "messages that arrived wrong or out of order");
  pshared_free(s);
}

static int close_then_linger_child(void *p) {
  pshared *s = p;
  for (uint32_t i = 0; i < 3; i++) {
    int rc = parc_pipe_send(s->e.a, &i, 4, 5.0);
    if (rc)
      return rc_code(rc);
  }
  parc_pipe_close(s->e.a);
  atomic_store(&s->step, 1);
  wait_flag(&s->go, 1, HOLD_S); /* alive until the parent has checked */
  return 0;
}

Test(pipe, close_in_a_live_child_gives_eclosed_after_draining) {
  pshared *s = pshared_new(64);
  pid_t pid = spawn_child(close_then_linger_child, s);
  for (uint32_t i = 0; i < 3; i++) {
    uint32_t v;
    size_t len;
    ASSERT_RC(parc_pipe_recv(s->e.b, &v, 4, &len, 5.0), 0);
    ASSERT_I64(v, i, "message %u before the close", i);
  }
  cr_assert(wait_flag(&s->step, 1, 5.0), "child did not close");
  char buf[64];
  size_t len;
  double t0 = now_s();
  ASSERT_RC(parc_pipe_recv(s->e.b, buf, sizeof buf, &len, HOLD_S),
            PARC_ECLOSED);
  /* wrong: waiting out the timeout */
  ASSERT_SOONER(now_s() - t0, HOLD_S, "recv after the child's close");
  ASSERT_RC(parc_pipe_send(s->e.b, "x", 1, 1.0), PARC_ECLOSED);
  cr_assert(lc_pid_alive(pid),
            "the child died before the check: not a test of close");
  atomic_store(&s->go, 1);
  ASSERT_CHILD_OK(pid, 5.0, "child");
  pshared_free(s);
}

/* The child binds its end, reports, then dies by SIGKILL after a pause. */
static int bind_then_die_child(void *p) {
  pshared *s = p;
  int rc = parc_pipe_bind(s->e.a);
  atomic_store(&s->bad, rc);
  atomic_store(&s->bound, 1);
  if (rc)
    return rc_code(rc);
  wait_flag(&s->go, 1, HOLD_S);
  sleep_s(0.2);
  raise(SIGKILL);
  return 0;
}

Test(pipe, peer_killed_during_a_blocking_recv_gives_eclosed_promptly) {
  pshared *s = pshared_new(64);
  pid_t pid = spawn_child(bind_then_die_child, s);
  cr_assert(wait_flag(&s->bound, 1, 5.0), "child did not bind");
  ASSERT_RC(atomic_load(&s->bad), 0); /* parc_pipe_bind in the child */
  atomic_store(&s->go, 1);
  char buf[64];
  size_t len;
  double t0 = now_s();
  /* the child is not reaped while the parent waits: a zombie is dead too */
  ASSERT_RC(parc_pipe_recv(s->e.b, buf, sizeof buf, &len, HOLD_S),
            PARC_ECLOSED);
  /* wrong: not seeing the death, waiting out the timeout */
  ASSERT_SOONER(now_s() - t0, HOLD_S, "recv, to see the peer die (0.2 s in)");
  ASSERT_RC(parc_pipe_recv(s->e.b, buf, sizeof buf, &len, 1.0), PARC_ECLOSED);
  ASSERT_RC(parc_pipe_send(s->e.b, "x", 1, 1.0), PARC_ECLOSED);
  int st = 0;
  cr_assert(reap_child(pid, 5.0, &st) && WIFSIGNALED(st), "child status %#x",
            st);
  pshared_free(s);
}

Test(pipe,
     peer_killed_during_a_blocking_send_on_a_full_pipe_gives_eclosed_promptly) {
  pshared *s = pshared_new(64);
  pid_t pid = spawn_child(bind_then_die_child, s);
  cr_assert(wait_flag(&s->bound, 1, 5.0), "child did not bind");
  fill_pipe(s->e.b);
  atomic_store(&s->go, 1);
  char msg[16] = {0};
  double t0 = now_s();
  ASSERT_RC(parc_pipe_send(s->e.b, msg, sizeof msg, HOLD_S), PARC_ECLOSED);
  /* wrong: not seeing the death, waiting out the timeout */
  ASSERT_SOONER(now_s() - t0, HOLD_S, "send, to see the peer die (0.2 s in)");
  int st = 0;
  cr_assert(reap_child(pid, 5.0, &st) && WIFSIGNALED(st), "child status %#x",
            st);
  pshared_free(s);
}

/* The peer binds only after this side is already blocked in recv (or in
 * send on a full pipe), then dies: "from then on" the blocked call too
 * must return ECLOSED, not wait out its timeout. */
static int late_bind_then_die_child(void *p) {
  pshared *s = p;
  wait_flag(&s->go, 1, HOLD_S); /* the parent is about to block */
  sleep_s(0.2);
  int rc = parc_pipe_bind(s->e.a);
  atomic_store(&s->bound, 1);
  if (rc)
    return rc_code(rc);
  sleep_s(0.2);
  raise(SIGKILL);
  return 0;
}

Test(pipe, peer_that_binds_while_recv_is_blocked_then_dies_gives_eclosed) {
  pshared *s = pshared_new(64);
  pid_t pid = spawn_child(late_bind_then_die_child, s);
  atomic_store(&s->go, 1);
  char buf[64];
  size_t len;
  double t0 = now_s();
  int rc = parc_pipe_recv(s->e.b, buf, sizeof buf, &len, HOLD_S);
  double took = now_s() - t0;
  cr_assert(atomic_load(&s->bound),
            "returned before the child bound: not the case tested");
  ASSERT_RC(rc, PARC_ECLOSED);
  /* wrong: not seeing the death, waiting out the timeout */
  ASSERT_SOONER(took, HOLD_S,
                "recv, to see the late-bound peer die (0.4 s in)");
  int st = 0;
  cr_assert(reap_child(pid, 5.0, &st) && WIFSIGNALED(st), "child status %#x",
            st);
  pshared_free(s);
}

Test(pipe, peer_that_binds_while_send_is_blocked_then_dies_gives_eclosed) {
  pshared *s = pshared_new(64);
  fill_pipe(s->e.b);
  pid_t pid = spawn_child(late_bind_then_die_child, s);
  atomic_store(&s->go, 1);
  char msg[16] = {0};
  double t0 = now_s();
  int rc = parc_pipe_send(s->e.b, msg, sizeof msg, HOLD_S);
  double took = now_s() - t0;
  cr_assert(atomic_load(&s->bound),
            "returned before the child bound: not the case tested");
  ASSERT_RC(rc, PARC_ECLOSED);
  /* wrong: not seeing the death, waiting out the timeout */
  ASSERT_SOONER(took, HOLD_S,
                "send, to see the late-bound peer die (0.4 s in)");
  int st = 0;
  cr_assert(reap_child(pid, 5.0, &st) && WIFSIGNALED(st), "child status %#x",
            st);
  pshared_free(s);
}

/* Messages of several MiB: larger than any ring the pipe may have. */
enum { HUGE = 5 << 20 };

static size_t huge_len(int i) { return i == 0 ? 3u << 20 : i == 1 ? HUGE : 1; }

static int send_huge_child(void *p) {
  pshared *s = p;
  unsigned char *m = malloc(HUGE);
  if (!m)
    return 2;
  for (int i = 0; i < 3; i++) {
    fill_bytes(m, huge_len(i), 50 + i);
    int rc = parc_pipe_send(s->e.a, m, huge_len(i), 10.0);
    if (rc)
      return rc_code(rc);
  }
  free(m);
  return 0;
}

Test(pipe, messages_of_megabytes_arrive_whole_between_processes) {
  pshared *s = pshared_new(HUGE);
  pid_t pid = spawn_child(send_huge_child, s);
  unsigned char *buf = malloc(HUGE), *want = malloc(HUGE);
  cr_assert(buf && want);
  for (int i = 0; i < 3; i++) {
    size_t len = 0;
    ASSERT_RC(parc_pipe_recv(s->e.b, buf, HUGE, &len, 10.0), 0);
    ASSERT_I64(len, huge_len(i), "length of huge message %d", i);
    fill_bytes(want, len, 50 + i);
    cr_assert(memcmp(buf, want, len) == 0, "huge message %d changed", i);
  }
  ASSERT_CHILD_OK(pid, 10.0, "sender");
  free(buf);
  free(want);
  pshared_free(s);
}

typedef struct hsend {
  parc_pipe *e;
  double timeout;
  int rc;
  double took;
} hsend;

static int send_huge_alone(void *p) {
  hsend *h = p;
  unsigned char *m = calloc(1, HUGE);
  if (!m)
    return 2;
  double t0 = now_s();
  h->rc = parc_pipe_send(h->e, m, HUGE, h->timeout);
  h->took = now_s() - t0;
  free(m);
  return 0;
}

/* Nobody reads: a send of a message larger than the pipe can hold keeps its
 * timeout like any other (0: EAGAIN at once; 0.3 s: ETIMEDOUT then). */
BOTH_MODES(send_of_a_message_larger_than_the_pipe_keeps_its_timeout) {
  static const double timeouts[] = {0, 0.3};
  for (int i = 0; i < 2; i++) {
    ends e = pipe_new(HUGE, flags);
    hsend h = {.e = e.a, .timeout = timeouts[i], .rc = 12345};
    tjob j;
    tjob_start(&j, send_huge_alone, &h);
    /* wrong: waiting for a reader, who never comes */
    cr_assert(tjob_join(&j, HOLD_S / 2),
              "send(%d MiB, timeout %.1f s) with no reader still blocked after "
              "%.0f s",
              HUGE >> 20, timeouts[i], HOLD_S / 2);
    ASSERT_RC(h.rc, timeouts[i] == 0 ? PARC_EAGAIN : PARC_ETIMEDOUT);
    if (timeouts[i] > 0)
      ASSERT_WAITED(h.took, timeouts[i], HOLD_S, "send of a huge message");
    /* whatever was refused left no partial message behind */
    send_u32(e.a, 99);
    size_t len = 0;
    uint32_t v = 0;
    ASSERT_RC(parc_pipe_recv(e.b, &v, 4, &len, 1.0), 0);
    ASSERT_I64(len, 4, "the message after the refused huge one");
    ASSERT_I64(v, 99, "the message after the refused huge one");
    pipe_free(e);
  }
}

/* ------------------------------------------------------------ pipelined large messages */

/* Sizes around the piece size (32 KiB) and the ring: 1 MiB messages fit a
 * 2 MiB ring whole (published a piece at a time, consumed at once); 3 MiB
 * ones stream through it. */
static const size_t big_sizes[] = {(32 << 10) - 1, 32 << 10, (32 << 10) + 1,
                                   (96 << 10) + 5, 1 << 20,  (2 << 20) - 8,
                                   3 << 20};
enum { NBIG = sizeof big_sizes / sizeof big_sizes[0], BIG_MAX = 3 << 20 };

typedef struct bigsend {
  parc_pipe *e;
  int rc;
} bigsend;

static int send_big_sizes(void *p) {
  bigsend *b = p;
  unsigned char *m = malloc(BIG_MAX);
  if (!m)
    return 2;
  for (int i = 0; i < NBIG && b->rc == 0; i++) {
    fill_bytes(m, big_sizes[i], 700 + i);
    b->rc = parc_pipe_send(b->e, m, big_sizes[i], 10.0);
  }
  free(m);
  return b->rc ? rc_code(b->rc) : 0;
}

static void recv_big_sizes(parc_pipe *e) {
  unsigned char *buf = malloc(BIG_MAX + 1), *want = malloc(BIG_MAX);
  cr_assert(buf && want);
  for (int i = 0; i < NBIG; i++) {
    size_t len = 0;
    buf[big_sizes[i]] = 0x5a;
    ASSERT_RC(parc_pipe_recv(e, buf, BIG_MAX + 1, &len, 10.0), 0);
    ASSERT_I64(len, big_sizes[i], "length of large message %d", i);
    fill_bytes(want, len, 700 + i);
    cr_assert(memcmp(buf, want, len) == 0,
              "large message %d (%zu bytes) changed", i, len);
    ASSERT_I64(buf[len], 0x5a, "recv wrote past the %zu-byte message", len);
  }
  free(buf);
  free(want);
}

/* The receiver is already waiting, so it copies each piece while the
 * sender writes the next. */
BOTH_MODES(large_messages_arrive_whole_while_the_receiver_waits) {
  ends e = pipe_new(BIG_MAX, flags);
  bigsend b = {.e = e.a};
  tjob j;
  tjob_start(&j, send_big_sizes, &b);
  recv_big_sizes(e.b);
  ASSERT_THREAD_OK(&j, 10.0, "sender");
  pipe_free(e);
}

static int send_big_sizes_child(void *p) {
  pshared *s = p;
  bigsend b = {.e = s->e.a};
  return send_big_sizes(&b);
}

Test(pipe, large_messages_arrive_whole_between_processes) {
  pshared *s = pshared_new(BIG_MAX);
  pid_t pid = spawn_child(send_big_sizes_child, s);
  recv_big_sizes(s->e.b);
  ASSERT_CHILD_OK(pid, 10.0, "sender");
  pshared_free(s);
}

/* A pipe used a message at a time starts a large message at the start of
 * its ring (after a skip frame) once it is past the middle. With max_msg
 * 64 KiB - 8 the ring is 64 KiB: a first message leaves the end `d` bytes
 * before the ring's end, so the next large one finds too little room there
 * for a skip frame (d < 8), or just enough (d >= 8). Every message must
 * arrive whole, and a small one after each too. */
BOTH_MODES(large_messages_just_before_the_end_of_the_ring_arrive_whole) {
  enum { RING = 64 << 10, MAX = RING - 8 };
  unsigned char *m = malloc(MAX), *r = malloc(MAX);
  cr_assert(m && r);
  for (size_t d = 1; d <= 12; d++) {
    ends e = pipe_new(MAX, flags);
    size_t lens[] = {RING - d - 8, (32 << 10) + 1, 40000, 4, (32 << 10) + d};
    for (int i = 0; i < 5; i++) {
      fill_bytes(m, lens[i], d * 10 + i);
      ASSERT_RC(parc_pipe_send(e.a, m, lens[i], 1.0), 0);
      size_t len = 0;
      ASSERT_RC(parc_pipe_recv(e.b, r, MAX, &len, 1.0), 0);
      ASSERT_I64(len, lens[i], "length of message %d (d = %zu)", i, d);
      cr_assert(memcmp(m, r, len) == 0, "message %d (d = %zu) changed", i, d);
    }
    pipe_free(e);
  }
  free(m);
  free(r);
}

typedef struct stopped {
  parc_pipe *e;
  size_t len;
  int rc;
} stopped;

static int send_one_big(void *p) {
  stopped *st = p;
  unsigned char *m = malloc(st->len);
  if (!m)
    return 2;
  fill_bytes(m, st->len, st->len);
  st->rc = parc_pipe_send(st->e, m, st->len, 10.0);
  free(m);
  return 0;
}

/* A sender stopped in the middle of a message that fits the ring: recv's
 * timeout holds, and the message is not consumed -- once the sender goes
 * on, it arrives whole. */
BOTH_MODES(recv_times_out_on_a_half_sent_message_and_leaves_it_whole) {
  piece_stop ps = {0};
  stop_senders(&ps);
  ends e = pipe_new(1 << 20, flags);
  stopped st = {.e = e.a, .len = 1 << 20};
  tjob j;
  tjob_start(&j, send_one_big, &st);
  cr_assert(wait_flag(&ps.reached, 1, 5.0),
            "the sender did not stop mid-message");
  unsigned char *buf = malloc(st.len), *want = malloc(st.len);
  cr_assert(buf && want);
  size_t len = 0;
  ASSERT_RC(parc_pipe_recv(e.b, buf, st.len, &len, 0), PARC_EAGAIN);
  double t0 = now_s();
  ASSERT_RC(parc_pipe_recv(e.b, buf, st.len, &len, 0.2), PARC_ETIMEDOUT);
  /* the sender is held HOLD_S: waiting for the rest would cost that */
  ASSERT_WAITED(now_s() - t0, 0.2, HOLD_S,
                "recv(0.2 s) of a half-sent message");
  atomic_store(&ps.release, 1);
  ASSERT_RC(parc_pipe_recv(e.b, buf, st.len, &len, 5.0), 0);
  ASSERT_I64(len, st.len, "length of the message once the sender went on");
  fill_bytes(want, st.len, st.len);
  cr_assert(memcmp(buf, want, st.len) == 0,
            "the half-sent message arrived changed");
  ASSERT_THREAD_OK(&j, 5.0, "sender");
  ASSERT_RC(st.rc, 0);
  free(buf);
  free(want);
  pipe_free(e);
}

typedef struct diesend {
  ends e;
  piece_stop ps;
  size_t len;
} diesend;

static int die_mid_message_child(void *p) {
  diesend *d = p;
  stop_senders(&d->ps); /* d->ps.die: SIGKILL after the first piece */
  stopped st = {.e = d->e.a, .len = d->len};
  send_one_big(&st);
  return 1; /* not reached */
}

/* The sender dies in the middle of a message, both when the message fits
 * the ring (copied as it comes, consumed at once) and when it streams
 * through it: the receiver already blocked in recv gets PARC_ECLOSED
 * promptly, and so does every later recv. */
static void peer_dies_mid_message(size_t len) {
  diesend *d = shm_new(sizeof *d);
  d->e = pipe_new(BIG_MAX, PARC_SHARED);
  d->ps.die = 1;
  d->len = len;
  ASSERT_RC(parc_pipe_bind(d->e.b), 0);
  pid_t pid = spawn_child(die_mid_message_child, d);
  unsigned char *buf = malloc(len);
  cr_assert(buf);
  size_t got = 0;
  double t0 = now_s();
  ASSERT_RC(parc_pipe_recv(d->e.b, buf, len, &got, HOLD_S), PARC_ECLOSED);
  /* wrong: not seeing the death, waiting out the timeout */
  ASSERT_SOONER(now_s() - t0, HOLD_S,
                "recv, to see the sender die mid-message");
  cr_assert(atomic_load(&d->ps.reached),
            "the sender never reached the middle of its message");
  ASSERT_RC(parc_pipe_recv(d->e.b, buf, len, &got, 1.0), PARC_ECLOSED);
  ASSERT_RC(parc_pipe_send(d->e.b, "x", 1, 1.0), PARC_ECLOSED);
  int st = 0;
  cr_assert(reap_child(pid, 5.0, &st) && WIFSIGNALED(st) &&
                WTERMSIG(st) == SIGKILL,
            "sender status %#x", st);
  free(buf);
  pipe_free(d->e);
  parc_shm_free(d);
}

Test(pipe, sender_killed_inside_a_message_that_fits_gives_eclosed) {
  peer_dies_mid_message(1 << 20);
}

Test(pipe, sender_killed_inside_a_streamed_message_gives_eclosed) {
  peer_dies_mid_message(3 << 20);
}

static int send_then_exit_child(void *p) {
  pshared *s = p;
  for (uint32_t i = 0; i < s->n; i++) {
    int rc = parc_pipe_send(s->e.a, &i, 4, 5.0);
    if (rc)
      return rc_code(rc);
  }
  return 0; /* exits without closing: death closes */
}

Test(pipe, a_peer_that_exits_is_drained_then_eclosed) {
  pshared *s = pshared_new(64);
  s->n = 10;
  pid_t pid = spawn_child(send_then_exit_child, s);
  int st = 0;
  cr_assert(reap_child(pid, 5.0, &st) && WIFEXITED(st) && WEXITSTATUS(st) == 0,
            "child status %#x", st);
  for (uint32_t i = 0; i < s->n; i++) {
    uint32_t v;
    size_t len;
    ASSERT_RC(parc_pipe_recv(s->e.b, &v, 4, &len, 1.0), 0);
    ASSERT_I64(v, i, "message %u from the dead child", i);
  }
  char buf[64];
  size_t len;
  double t0 = now_s();
  ASSERT_RC(parc_pipe_recv(s->e.b, buf, sizeof buf, &len, HOLD_S),
            PARC_ECLOSED);
  /* wrong: waiting out the timeout */
  ASSERT_SOONER(now_s() - t0, HOLD_S, "recv after draining a dead peer");
  pshared_free(s);
}

static int sends_then_killed_child(void *p) {
  pshared *s = p;
  for (uint32_t i = 0; i < s->n; i++) {
    int rc = parc_pipe_send(s->e.a, &i, 4, 5.0);
    if (rc)
      return rc_code(rc);
  }
  atomic_store(&s->step, 1);
  raise(SIGKILL);
  return 0;
}

Test(pipe, a_killed_peer_is_drained_then_eclosed_with_send_binding_implicitly) {
  pshared *s = pshared_new(64);
  s->n = 5;
  pid_t pid = spawn_child(sends_then_killed_child, s);
  int st = 0;
  cr_assert(reap_child(pid, 5.0, &st) && WIFSIGNALED(st), "child status %#x",
            st);
  ASSERT_I64(atomic_load(&s->step), 1, "child sent everything");
  for (uint32_t i = 0; i < s->n; i++) {
    uint32_t v;
    size_t len;
    ASSERT_RC(parc_pipe_recv(s->e.b, &v, 4, &len, 1.0), 0);
    ASSERT_I64(v, i, "message %u from the killed child", i);
  }
  char buf[64];
  size_t len;
  ASSERT_RC(parc_pipe_recv(s->e.b, buf, sizeof buf, &len, 5.0), PARC_ECLOSED);
  pshared_free(s);
}

static int recv_then_die_child(void *p) {
  pshared *s = p;
  uint32_t v;
  size_t len;
  /* recv binds too: the first use of the end */
  int rc = parc_pipe_recv(s->e.a, &v, 4, &len, 5.0);
  atomic_store(&s->step, rc == 0 ? 1 : -1);
  wait_flag(&s->go, 1, HOLD_S);
  sleep_s(0.2);
  raise(SIGKILL);
  return 0;
}

Test(pipe, recv_binds_on_first_use) {
  pshared *s = pshared_new(64);
  pid_t pid = spawn_child(recv_then_die_child, s);
  uint32_t v = 1;
  ASSERT_RC(parc_pipe_send(s->e.b, &v, 4, 1.0), 0);
  cr_assert(wait_flag(&s->step, 1, 5.0), "child did not receive (step %d)",
            atomic_load(&s->step));
  atomic_store(&s->go, 1);
  char buf[64];
  size_t len;
  double t0 = now_s();
  ASSERT_RC(parc_pipe_recv(s->e.b, buf, sizeof buf, &len, HOLD_S),
            PARC_ECLOSED);
  /* wrong: not seeing the death, waiting out the timeout */
  ASSERT_SOONER(now_s() - t0, HOLD_S, "recv, to see the peer die (0.2 s in)");
  int st = 0;
  cr_assert(reap_child(pid, 5.0, &st) && WIFSIGNALED(st), "child status %#x",
            st);
  pshared_free(s);
}

static int idle_child(void *p) {
  (void)p;
  return 0; /* never touches the pipe */
}

Test(pipe, a_child_that_never_bound_an_end_does_not_close_it_by_exiting) {
  pshared *s = pshared_new(64);
  pid_t pid = spawn_child(idle_child, s);
  ASSERT_CHILD_OK(pid, 5.0, "idle child");
  char buf[64];
  size_t len;
  ASSERT_RC(parc_pipe_recv(s->e.b, buf, sizeof buf, &len, 0.2), PARC_ETIMEDOUT);
  /* this process can still use both ends */
  send_u32(s->e.a, 11);
  ASSERT_I64(recv_u32(s->e.b), 11, "a->b after the idle child exited");
  send_u32(s->e.b, 12);
  ASSERT_I64(recv_u32(s->e.a), 12, "b->a after the idle child exited");
  pshared_free(s);
}

/* As with multiprocessing.Pipe, each process closes the end it does not
 * use -- once the other has bound it, that close only drops the copy. */
static int close_unused_child(void *p) {
  pshared *s = p;
  int rc = parc_pipe_bind(s->e.a);
  atomic_store(&s->bound, 1);
  if (rc)
    return rc_code(rc);
  parc_pipe_close(s->e.b);      /* its copy of the parent's end */
  wait_flag(&s->go, 1, HOLD_S); /* the parent has closed its copy of a */
  for (uint32_t i = 0; i < 3; i++)
    if ((rc = parc_pipe_send(s->e.a, &i, 4, 5.0)) != 0)
      return rc_code(rc);
  uint32_t v = 0;
  size_t len;
  if ((rc = parc_pipe_recv(s->e.a, &v, 4, &len, 5.0)) != 0)
    return rc_code(rc);
  if (v != 77)
    return 1;
  parc_pipe_close(s->e.a);
  return 0;
}

Test(pipe, each_process_closes_the_end_it_does_not_use) {
  pshared *s = pshared_new(64);
  ASSERT_RC(parc_pipe_bind(s->e.b), 0);
  pid_t pid = spawn_child(close_unused_child, s);
  cr_assert(wait_flag(&s->bound, 1, 5.0), "child did not bind");
  parc_pipe_close(s->e.a); /* bound to the child: only our copy goes */
  atomic_store(&s->go, 1);
  for (uint32_t i = 0; i < 3; i++) {
    uint32_t v = 99;
    size_t len;
    ASSERT_RC(parc_pipe_recv(s->e.b, &v, 4, &len, 5.0), 0);
    ASSERT_I64(v, i, "message %u after both closed their unused copies", i);
  }
  uint32_t reply = 77;
  ASSERT_RC(parc_pipe_send(s->e.b, &reply, 4, 5.0), 0);
  char buf[8];
  size_t len;
  ASSERT_RC(parc_pipe_recv(s->e.b, buf, sizeof buf, &len, 5.0), PARC_ECLOSED);
  ASSERT_CHILD_OK(pid, 5.0, "child");
  parc_pipe_close(s->e.b);
  parc_shm_free(s);
}

/* Two siblings, one per end: the survivor's blocked recv sees the other
 * die -- death is noticed for any process, not just the caller's children. */
static int sibling_victim(void *p) {
  pshared *s = p;
  int rc = parc_pipe_bind(s->e.a);
  if (rc)
    return rc_code(rc);
  atomic_fetch_add(&s->bound, 1);
  wait_flag(&s->go, 1, HOLD_S);
  sleep_s(0.2);
  raise(SIGKILL);
  return 0;
}

static int sibling_survivor(void *p) {
  pshared *s = p;
  int rc = parc_pipe_bind(s->e.b);
  if (rc)
    return rc_code(rc);
  atomic_fetch_add(&s->bound, 1);
  wait_flag(&s->go, 1, HOLD_S);
  char buf[64];
  size_t len;
  double t0 = now_s();
  rc = parc_pipe_recv(s->e.b, buf, sizeof buf, &len, HOLD_S);
  if (rc != PARC_ECLOSED)
    return rc == 0 ? 1 : rc_code(rc);
  /* wrong: not seeing the death, waiting out the timeout */
  return now_s() - t0 < HOLD_S / 2 ? 0 : 2;
}

Test(pipe, sibling_processes_see_each_other_die) {
  pshared *s = pshared_new(64);
  pid_t v = spawn_child(sibling_victim, s);
  pid_t w = spawn_child(sibling_survivor, s);
  cr_assert(wait_flag(&s->bound, 2, 5.0), "siblings did not bind");
  atomic_store(&s->go, 1);
  /* exit 1: recv returned 0; 2: it took over HOLD_S / 2; 64+: that error */
  ASSERT_CHILD_OK(w, HOLD_S, "survivor");
  int st = 0;
  cr_assert(reap_child(v, 5.0, &st) && WIFSIGNALED(st), "victim status %#x",
            st);
  pshared_free(s);
}

/* ------------------------------------------------------------ leaks */

static void pipe_cycle(int flags, int used) {
  ends e = pipe_new(used ? 4096 : 64, flags);
  if (used) {
    send_u32(e.a, 1);
    send_u32(e.b, 2);
    ASSERT_I64(recv_u32(e.b), 1, "a->b");
    send_u32(e.a, 3); /* closed with a message in flight */
  }
  pipe_free(e);
}

Test(pipe, hundred_pipes_leave_nothing_behind) {
  for (int flags = 0; flags <= PARC_SHARED; flags++) {
    for (int i = 0; i < 3; i++) pipe_cycle(flags, i & 1);
    chan_snap before, after;
    snap_take(&before);
    for (int i = 0; i < 100; i++) pipe_cycle(flags, i & 1);
    snap_take(&after);
    snap_check_same(&before, &after, flags ? "shared pipes" : "private pipes");
  }
}

Test(pipe, pipes_used_by_dead_children_leave_nothing_behind) {
  chan_snap before, after;
  for (int round = 0; round < 23; round++) {
    if (round == 3)
      snap_take(&before); /* rounds 0-2 warm up */
    pshared *s = pshared_new(64);
    s->n = 2;
    pid_t pid = spawn_child(send_then_exit_child, s);
    ASSERT_I64(recv_u32(s->e.b), 0, "round %d first message", round);
    ASSERT_I64(recv_u32(s->e.b), 1, "round %d second message", round);
    char buf[8];
    size_t len;
    ASSERT_RC(parc_pipe_recv(s->e.b, buf, sizeof buf, &len, 5.0), PARC_ECLOSED);
    ASSERT_CHILD_OK(pid, 5.0, "child");
    pshared_free(s);
  }
  snap_take(&after);
  snap_check_same(&before, &after, "20 pipes whose child died");
}
