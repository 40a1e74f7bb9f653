/* mpi_wire.c -- the MPI backend's messages: sends in flight, receives,
 * waiting, and functions as (object, offset).
 *
 * Functions travel as the object that holds them and their offset from
 * its load address (dladdr), so every rank finds its own copy wherever its
 * loader put it (PIE executables and shared libraries differ per host). An
 * object is matched by its path, else by its file name, else dlopen()ed;
 * the main program is named "" (its path may differ between hosts).
 */
#include <dlfcn.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>

#include "backend/mpi_int.h"

bool parc__mpi_post(mpi_courier *c, int dest, int tag, void *buf, size_t len) {
  mpi_out *o = parc__malloc(sizeof *o);
  if (!o || len > INT32_MAX || c->rank_lost[dest] ||
      MPI_Isend(buf, (int)len, MPI_BYTE, dest, tag, c->comm, &o->req) !=
          MPI_SUCCESS) {
    if (o && len <= INT32_MAX)
      c->rank_lost[dest] = true;
    free(o);
    free(buf);
    return false;
  }
  o->dest = dest;
  o->buf = buf;
  o->next = c->out;
  c->out = o;
  return true;
}

bool parc__mpi_sends(mpi_courier *c) {
  bool moved = false;
  for (mpi_out **pp = &c->out; *pp;) {
    mpi_out *o = *pp;
    int done = 0;
    if (MPI_Test(&o->req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
      c->rank_lost[o->dest] = true;
      done = 1;
    }
    if (!done) {
      pp = &o->next;
      continue;
    }
    *pp = o->next;
    free(o->buf);
    free(o);
    moved = true;
  }
  return moved;
}

void parc__mpi_drain(mpi_courier *c) {
  while (c->out) {
    mpi_out *o = c->out;
    c->out = o->next;
    if (!c->rank_lost[o->dest] &&
        MPI_Wait(&o->req, MPI_STATUS_IGNORE) != MPI_SUCCESS)
      c->rank_lost[o->dest] = true;
    free(o->buf);
    free(o);
  }
}

mpi_chunk *parc__mpi_take(mpi_courier *c, int source, int *tag, int *from) {
  int flag = 0, n = 0;
  MPI_Status s;
  if (MPI_Iprobe(source, MPI_ANY_TAG, c->comm, &flag, &s) != MPI_SUCCESS ||
      !flag || MPI_Get_count(&s, MPI_BYTE, &n) != MPI_SUCCESS)
    return NULL;
  /* As a chunk: results go on to a lane as they are. */
  mpi_chunk *k = parc__malloc(sizeof *k + (size_t)n + 1);
  if (!k)
    return NULL; /* left queued: taken again when memory allows */
  if (MPI_Recv(k->data, n, MPI_BYTE, s.MPI_SOURCE, s.MPI_TAG, c->comm,
               MPI_STATUS_IGNORE) != MPI_SUCCESS) {
    c->rank_lost[s.MPI_SOURCE] = true;
    free(k);
    return NULL;
  }
  k->next = NULL;
  k->len = (size_t)n;
  k->off = 0;
  *tag = s.MPI_TAG;
  *from = s.MPI_SOURCE;
  return k;
}

void parc__mpi_nap(mpi_courier *c, uint32_t seen, bool moved) {
  uint64_t now = parc__now_ns();
  if (moved) {
    c->idle = 0;
    c->last_moved = now;
    return;
  }
  if (++c->idle < PARC__MPI_SPIN) {
    parc__cpu_relax();
    return;
  }
  /* Shortly after traffic, an answer is likely on its way: keep polling,
   * but give the core away between looks (ranks often share cores). */
  if (now - c->last_moved < PARC__MPI_BUSY_NS) {
    parc__yield();
    return;
  }
  unsigned k = c->idle - PARC__MPI_SPIN;
  uint64_t ns = PARC__MPI_NAP_NS << (k < 7 ? k : 7);
  parc__event_wait(&c->bell, seen, now + ns, 0, 0);
}

void parc__mpi_fifo_push(mpi_fifo *f, mpi_chunk *k) {
  k->next = NULL;
  if (f->tail)
    f->tail->next = k;
  else
    f->head = k;
  f->tail = k;
}

bool parc__mpi_fifo_flush(mpi_fifo *f, parc__ring *r) {
  bool moved = false;
  while (f->head) {
    mpi_chunk *k = f->head;
    size_t n = parc__ring_write_some(r, k->data + k->off, k->len - k->off);
    k->off += n;
    moved |= n > 0;
    if (k->off < k->len)
      break;
    f->head = k->next;
    if (!f->head)
      f->tail = NULL;
    free(k);
  }
  return moved;
}

void parc__mpi_fifo_free(mpi_fifo *f) {
  while (f->head) {
    mpi_chunk *k = f->head;
    f->head = k->next;
    free(k);
  }
  f->tail = NULL;
}

/* ---------------------------------------------------------------- functions */

typedef struct find_arg {
  const char *name; /* NULL: the main program */
  bool by_base;     /* compare file names only */
  uintptr_t addr;   /* out: an address inside the object */
} find_arg;

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

static int find_object(struct dl_phdr_info *info, size_t size, void *arg) {
  find_arg *a = arg;
  (void)size;
  const char *n = info->dlpi_name ? info->dlpi_name : "";
  bool match = a->name == NULL ? true /* the first object is the program */
               : a->by_base ? n[0] && !strcmp(base_name(n), base_name(a->name))
                            : n[0] && !strcmp(n, a->name);
  if (!match)
    return 0;
  for (int i = 0; i < info->dlpi_phnum; i++)
    if (info->dlpi_phdr[i].p_type == PT_LOAD) {
      a->addr = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
      return 1;
    }
  return a->name == NULL ? 1 : 0;
}

/* dladdr's load address of the object named `name` (NULL: the program). */
static uintptr_t object_base(const char *name) {
  find_arg a = {name, false, 0};
  dl_iterate_phdr(find_object, &a);
  if (!a.addr && name) {
    a.by_base = true;
    dl_iterate_phdr(find_object, &a);
  }
  Dl_info di;
  if (!a.addr || !dladdr((void *)a.addr, &di))
    return 0;
  return (uintptr_t)di.dli_fbase;
}

int parc__mpi_fn_encode(mpi_courier *c, uint64_t fn, mpi_fnref *ref) {
  if (fn == 0) {
    *ref = (mpi_fnref){"", 0};
    return 0;
  }
  if (c->enc.fn == fn) {
    *ref = c->enc.ref;
    return 0;
  }
  Dl_info di;
  if (!dladdr((void *)(uintptr_t)fn, &di) || !di.dli_fbase)
    return PARC_EINVAL;
  uintptr_t base = (uintptr_t)di.dli_fbase;
  ref->name = base == object_base(NULL) || !di.dli_fname ? "" : di.dli_fname;
  ref->off = fn - base;
  c->enc.fn = fn;
  c->enc.ref = *ref;
  return 0;
}

uint64_t parc__mpi_fn_decode(mpi_courier *c, const char *name, size_t len,
                             uint64_t off) {
  if ((len == 0 && off == 0) || off == PARC__MPI_NO_FN)
    return 0; /* no function (no combine), or none that could be placed */
  char path[4096];
  if (len >= sizeof path)
    return 0;
  memcpy(path, name, len);
  path[len] = '\0';
  if (len < sizeof c->dec.name && c->dec.base && !strcmp(c->dec.name, path))
    return c->dec.base + off;
  uintptr_t base = object_base(len ? path : NULL);
  if (!base && len && dlopen(path, RTLD_NOW | RTLD_GLOBAL))
    base = object_base(path); /* the handle is kept: the code must stay */
  if (!base)
    return 0;
  if (len < sizeof c->dec.name) {
    memcpy(c->dec.name, path, len + 1);
    c->dec.base = base;
  }
  return base + off;
}

/* ---------------------------------------------------------------- batches */

size_t parc__mpi_payload(const parc__msg_batch *m) {
  switch (m->kind) {
  case MSG_MAP: return m->in_ptr ? 0 : m->count * m->in_size;
  case MSG_REDUCE: return m->out_size + (m->in_ptr ? 0 : m->count * m->in_size);
  case MSG_FOR: return m->in_size;
  case MSG_BYTES: return m->in_size;
  default: return 0;
  }
}
