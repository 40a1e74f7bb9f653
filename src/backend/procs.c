/* procs.c -- the process backend: each worker is a forked process.
 *
 * Processes involved:
 *   caller --fork--> zygote --fork--> worker, worker, ...
 *
 * The zygote is forked once, at pool creation, from the calling thread; it
 * is single-threaded and forks every worker, first ones and replacements
 * alike. So every worker starts from the same memory image (the caller's
 * at parc_pool_create), and no fork ever happens in a process where
 * another thread may hold a lock.
 *
 * The caller and the zygote talk over a SOCK_SEQPACKET pair: the manager
 * asks for spawns and kills, the zygote reports each worker's pid and each
 * death with its wait status (it reaps them). A watchdog thread in the
 * caller blocks on that socket (and on a pidfd of the zygote) and turns
 * reports into events for the manager. The socket is also the lifeline:
 * when the caller dies, the zygote reads EOF and kills every worker (which
 * also have PR_SET_PDEATHSIG against the zygote, if it is killed itself).
 *
 * Workers inherit the caller's descriptors, as after a plain fork; the
 * zygote closes nothing. Another pool's zygote may so hold our socket's
 * far end, which is why the watchdog watches the zygote's pidfd too.
 *
 * Lanes and slots live in one memfd mapping made before the zygote is
 * forked, so they are at the same address in every process and vanish
 * with the last of them.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "pool.h"

enum { Z_SPAWN = 1, Z_KILL, Z_BYE, Z_SPAWNED, Z_DIED, Z_GONE };

typedef struct zmsg {
  int32_t kind;
  uint32_t w;
  int32_t pid;
  int32_t status;
} zmsg;

typedef struct pstate {
  int sock;
  pid_t zygote;
  int zygote_fd; /* a pidfd: the zygote's death is seen even if another
                    process inherited its end of the socket */
  pthread_t watchdog;
  bool watchdog_started;
  void *area;
  size_t area_size;
  /* Reports from the watchdog to the manager: a ring allocated at start
   * (4 per worker: more than its lives can report between two rounds),
   * so the watchdog never allocates; when full it waits for the manager,
   * and once the pool is closing it drops them. */
  pthread_mutex_t ev_lock;
  pthread_cond_t ev_room;
  zmsg *ev;
  unsigned ev_cap, ev_head, ev_len;
  _Atomic unsigned ev_waiting; /* ev_len, readable without the lock: every
                                  round asks, and nearly always it is 0 */
  bool closing;
} pstate;

/* Held from a pool's socketpair until the caller has closed the zygote's
 * end: two pools created at once in two threads could otherwise fork each
 * other's zygote end into their zygotes, and after the caller dies each
 * zygote would wait for the other to close it. (One process-wide lock for
 * one process-wide resource: the descriptor table.) */
static pthread_mutex_t fork_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---------------------------------------------------------------- zygote */

typedef struct zygote {
  parc_pool *p;
  int sock, sfd;
  pid_t *pids;
  sigset_t worker_mask;
} zygote;

static void zsend(int sock, int kind, unsigned w, pid_t pid, int status) {
  zmsg m = {kind, w, pid, status};
  parc__send_msg(sock, &m, sizeof m);
}

static void worker_child(zygote *z, unsigned w, pid_t zpid) {
  if (!parc__die_with_parent(zpid))
    parc__exit_now(1);
  parc__close(z->sock);
  parc__close(z->sfd);
  parc__signal_mask_set(&z->worker_mask);
  parc__set_process_name("parc-worker");
  parc_pool *p = z->p;
  parc__worker_main(p, w, p->workers[w].slot);
  fflush(NULL);
  parc__exit_now(
      atomic_load(&p->workers[w].slot->state) == SLOT_INIT_FAILED ? 1 : 0);
}

static void zspawn(zygote *z, unsigned w) {
  if (w >= z->p->nworkers || z->pids[w] > 0)
    return;
  pid_t zpid = parc__pid();
  pid_t pid = parc__fork();
  if (pid == 0)
    worker_child(z, w, zpid);
  if (pid < 0) {
    zsend(z->sock, Z_DIED, w, -1, 0); /* pid -1: none was forked */
    return;
  }
  z->pids[w] = pid;
  zsend(z->sock, Z_SPAWNED, w, pid, 0);
}

static void zreap(zygote *z) {
  parc__child_events_drain(z->sfd);
  int status;
  pid_t pid;
  while ((pid = parc__wait_child(-1, &status, false)) > 0)
    for (unsigned w = 0; w < z->p->nworkers; w++)
      if (z->pids[w] == pid) {
        z->pids[w] = 0;
        zsend(z->sock, Z_DIED, w, pid, status);
      }
}

static unsigned zalive(zygote *z) {
  unsigned n = 0;
  for (unsigned w = 0; w < z->p->nworkers; w++) n += z->pids[w] > 0;
  return n;
}

/* The caller has closed its end: after a BYE, give the workers (told to
 * stop through their lanes) a grace period; else kill them at once. */
static void zshutdown(zygote *z, bool graceful) {
  uint64_t until = parc__now_ns() + (graceful ? PARC__STOP_GRACE_NS : 0);
  while (zalive(z) > 0 && parc__now_ns() < until) {
    struct pollfd pf = {z->sfd, POLLIN, 0};
    parc__poll(&pf, 1, parc__now_ns() + 50000000u); /* and look again */
    zreap(z);
  }
  for (unsigned w = 0; w < z->p->nworkers; w++)
    if (z->pids[w] > 0)
      parc__kill(z->pids[w], SIGKILL);
  while (parc__wait_child(-1, NULL, true) > 0)
    ;
}

static void zygote_main(parc_pool *p, int sock) {
  zygote z = {.p = p, .sock = sock};
  /* Signal dispositions are inherited, as after a plain fork, except
   * SIGCHLD: ignored, the kernel would reap the workers before the zygote
   * could learn how they died. */
  parc__set_process_name("parc-zygote");
  z.sfd = parc__child_events(&z.worker_mask);
  z.pids = parc__calloc(p->nworkers, sizeof *z.pids);
  if (z.sfd < 0 || !z.pids)
    parc__exit_now(1);
  /* Each new worker is let run before the next fork: where the caller
   * holds the other CPUs, the forks would otherwise keep the first worker
   * from its first task for as long as they all take (a fork copies the
   * caller's page tables: 0.3 ms for a 16 MB Python). */
  for (unsigned w = 0; w < p->nworkers; w++) {
    zspawn(&z, w);
    parc__yield();
  }
  bool graceful = false;
  for (;;) {
    struct pollfd pf[2] = {{sock, POLLIN, 0}, {z.sfd, POLLIN, 0}};
    if (parc__poll(pf, 2, PARC__FOREVER) < 0 && errno != EINTR)
      break;
    if (pf[1].revents)
      zreap(&z);
    if (!pf[0].revents)
      continue;
    zmsg m;
    ssize_t n = parc__recv_msg(sock, &m, sizeof m, true);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break; /* the caller closed its end or died */
    if (m.kind == Z_SPAWN)
      zspawn(&z, m.w);
    else if (m.kind == Z_KILL && m.w < p->nworkers && z.pids[m.w] > 0)
      parc__kill(z.pids[m.w], SIGKILL);
    else if (m.kind == Z_BYE)
      graceful = true;
  }
  zshutdown(&z, graceful);
  parc__exit_now(0);
}

/* ---------------------------------------------------------------- caller */

static void push_event(pstate *st, zmsg m) {
  pthread_mutex_lock(&st->ev_lock);
  while (st->ev_len == st->ev_cap && !st->closing)
    pthread_cond_wait(&st->ev_room, &st->ev_lock);
  if (st->ev_len < st->ev_cap) {
    st->ev[(st->ev_head + st->ev_len++) % st->ev_cap] = m;
    atomic_store(&st->ev_waiting, st->ev_len);
  }
  pthread_mutex_unlock(&st->ev_lock);
}

/* An event pushed after the unlocked look is not lost: the watchdog rings
 * the doorbell after pushing it, so another round follows. */
static bool pop_event(pstate *st, zmsg *m) {
  if (atomic_load(&st->ev_waiting) == 0)
    return false;
  pthread_mutex_lock(&st->ev_lock);
  bool got = st->ev_len > 0;
  if (got) {
    *m = st->ev[st->ev_head];
    st->ev_head = (st->ev_head + 1) % st->ev_cap;
    st->ev_len--;
    atomic_store(&st->ev_waiting, st->ev_len);
    pthread_cond_signal(&st->ev_room);
  }
  pthread_mutex_unlock(&st->ev_lock);
  return got;
}

static void *watchdog_main(void *arg) {
  parc_pool *p = arg;
  pstate *st = p->be_state;
  for (;;) {
    struct pollfd pf[2] = {{st->sock, POLLIN, 0}, {st->zygote_fd, POLLIN, 0}};
    int nfds = st->zygote_fd >= 0 ? 2 : 1;
    if (parc__poll(pf, nfds, PARC__FOREVER) < 0 && errno == EINTR)
      continue;
    zmsg m;
    ssize_t n = pf[0].revents ? parc__recv_msg(st->sock, &m, sizeof m, false)
                              : 0; /* only the pidfd: the zygote is gone */
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n != (ssize_t)sizeof m) {
      push_event(st, (zmsg){Z_GONE, 0, 0, 0});
      parc__event_signal(p->doorbell, 1);
      return NULL;
    }
    push_event(st, m);
    parc__event_signal(p->doorbell, 1);
  }
}

/* A death as the zygote saw it (a wait status; pid -1: no process could
 * be forked), as the scheduler hears it. */
static parc__worker_event death(const zmsg *m) {
  if (m->pid < 0)
    return (parc__worker_event){.what = PARC__WORKER_INIT_FAILED};
  if (WIFSIGNALED(m->status))
    return (parc__worker_event){.what = PARC__WORKER_SIGNALED,
                                .code = WTERMSIG(m->status),
                                .pid = m->pid};
  return (parc__worker_event){.what = PARC__WORKER_EXITED,
                              .code = WEXITSTATUS(m->status),
                              .pid = m->pid};
}

static void p_poll(parc_pool *p) {
  pstate *st = p->be_state;
  zmsg m;
  while (pop_event(st, &m)) {
    if (m.kind == Z_GONE) { /* the zygote died: no worker survives it */
      parc__close(st->sock);
      st->sock = -1;
      for (unsigned w = 0; w < p->nworkers; w++) /* PR_SET_PDEATHSIG */
        parc__worker_report(p, w,
                            (parc__worker_event){.what = PARC__WORKER_SIGNALED,
                                                 .code = SIGKILL});
    } else if (m.w >= p->nworkers) {
      continue;
    } else if (m.kind == Z_SPAWNED) {
      parc__worker_report(
          p, m.w,
          (parc__worker_event){.what = PARC__WORKER_SPAWNED, .pid = m.pid});
    } else if (m.kind == Z_DIED) {
      parc__worker_report(p, m.w, death(&m));
    }
  }
}

static int p_spawn(parc_pool *p, unsigned w) {
  pstate *st = p->be_state;
  if (st->sock < 0)
    return PARC_EBROKEN;
  parc__cell_reset(p, w);
  zmsg m = {Z_SPAWN, w, 0, 0};
  return parc__send_msg(st->sock, &m, sizeof m) == sizeof m
             ? 0
             : parc__sys_fail("send", errno);
}

static void p_kill(parc_pool *p, unsigned w, parc__job *pin) {
  (void)pin; /* a process is killed, not abandoned: never given one */
  pstate *st = p->be_state;
  zmsg m = {Z_KILL, w, 0, 0};
  if (st->sock >= 0)
    parc__send_msg(st->sock, &m, sizeof m);
}

static void p_stop(parc_pool *p, bool kill_all) {
  pstate *st = p->be_state;
  pthread_mutex_lock(&st->ev_lock);
  st->closing = true; /* the manager is gone: nobody drains the ring */
  pthread_cond_broadcast(&st->ev_room);
  pthread_mutex_unlock(&st->ev_lock);
  if (st->sock >= 0 && !kill_all) {
    zmsg m = {Z_BYE, 0, 0, 0};
    parc__send_msg(st->sock, &m, sizeof m);
  }
  if (st->sock >= 0)
    parc__shutdown_write(st->sock); /* EOF for the zygote; it exits */
  if (st->watchdog_started)
    pthread_join(st->watchdog, NULL);
  parc__close(st->sock);
  parc__close(st->zygote_fd);
  if (st->zygote > 0)
    parc__wait_child(st->zygote, NULL, true);
  parc__shm_unmap(st->area, st->area_size);
  pthread_mutex_destroy(&st->ev_lock);
  pthread_cond_destroy(&st->ev_room);
  free(st->ev);
  free(st);
  p->be_state = NULL;
}

/* The caller's end and the zygote's; 0 or -1 with the reason noted. */
static int socket_pair(int sv[2]) {
  if (parc__socket_pair(sv) != 0) {
    parc__sys_fail("socketpair", errno);
    return -1;
  }
  return 0;
}

static int p_start(parc_pool *p) {
  pstate *st = parc__calloc(1, sizeof *st);
  if (!st)
    return PARC_ENOMEM;
  st->sock = -1;
  st->zygote_fd = -1;
  int rc = parc__mutex_init_plain(&st->ev_lock);
  if (rc == 0 && (rc = parc__cond_init(&st->ev_room, 0)) != 0)
    pthread_mutex_destroy(&st->ev_lock);
  if (rc != 0) {
    free(st);
    return rc;
  }
  p->be_state = st; /* from here p_stop unwinds whatever is done */
  st->ev_cap = 4 * p->nworkers + 64;
  st->ev = parc__calloc(st->ev_cap, sizeof *st->ev);
  if (!st->ev) {
    p_stop(p, true);
    return PARC_ENOMEM;
  }
  size_t head = (sizeof(parc__event) + 63u) & ~(size_t)63u;
  st->area_size = head + (size_t)p->nworkers * parc__cell_size();
  st->area = parc__shm_map(st->area_size); /* notes its reason */
  int sv[2];
  pthread_mutex_lock(&fork_lock);
  if (!st->area || socket_pair(sv) != 0) {
    pthread_mutex_unlock(&fork_lock);
    p_stop(p, true);
    return PARC_ESYS;
  }
  p->doorbell = st->area;
  parc__event_init(p->doorbell);
  for (unsigned w = 0; w < p->nworkers; w++) {
    parc__cell_attach(p, w, (char *)st->area + head + w * parc__cell_size());
    parc__cell_reset(p, w);
  }
  p->shm_gen = parc__shm_generation(); /* regions the workers will map */
  st->zygote = parc__fork();
  if (st->zygote == 0) {
    /* Our copy was taken locked: unlock it for a task that creates a pool
     * of its own (this process has one thread, so this is safe). */
    pthread_mutex_init(&fork_lock, NULL);
    parc__close(sv[0]);
    zygote_main(p, sv[1]);
  }
  parc__close(sv[1]);
  pthread_mutex_unlock(&fork_lock);
  st->sock = sv[0];
  if (st->zygote > 0)
    st->zygote_fd = parc__pidfd_open(st->zygote);
  rc = st->zygote < 0 ? PARC_ESYS /* noted by parc__fork */
                      : parc__thread_create(&st->watchdog, watchdog_main, p);
  if (rc != 0) {
    p_stop(p, true);
    return rc;
  }
  st->watchdog_started = true;
  return 0;
}

const parc__backend parc__procs_backend = {
    .name = "processes",
    .shared = true,
    .start = p_start,
    .spawn = p_spawn,
    .kill = p_kill,
    .poll = p_poll,
    .stop = p_stop,
};
