/* example.c -- what the examples share (example.h). */
#include "example.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef EX_HAVE_MPI
#include <parc_mpi.h>
#endif

double ex_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int ex_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *v) {
  char *end;
  errno = 0;
  unsigned long long x = strtoull(s, &end, 10);
  if (s[0] == '-' || end == s || *end != '\0' || errno != 0 || x < min ||
      x > max)
    return -1;
  *v = x;
  return 0;
}

const char *ex_strerror(int rc) {
  static _Thread_local parc_sys_error e;
  if (rc != PARC_ESYS)
    return parc_strerror(rc);
  parc_last_sys_error(&e);
  return e.message[0] ? e.message : parc_strerror(rc);
}

/* ------------------------------------------------------------ backends */

int ex_parse_backend(const char *name, parc_backend *b) {
  if (strcmp(name, "threads") == 0)
    *b = PARC_THREADS;
  else if (strcmp(name, "processes") == 0)
    *b = PARC_PROCESSES;
  else if (strcmp(name, "mpi") == 0) {
#ifdef EX_HAVE_MPI
    *b = PARC_MPI;
#else
    fprintf(stderr, "--backend mpi: this build has no libparc_mpi (MPI was "
                    "not found when it was configured)\n");
    return -1;
#endif
  } else
    return -1;
  return 0;
}

int ex_backend_start(parc_backend b, int *argc, char ***argv) {
#ifdef EX_HAVE_MPI
  if (b != PARC_MPI)
    return 0;
  int rc = parc_mpi_init(argc, argv);
  if (rc != 0) {
    fprintf(stderr, "--backend mpi: parc_mpi_init: %s\n", ex_strerror(rc));
    return 1;
  }
  if (parc_mpi_size() < 2) { /* rank 0 schedules, the others work */
    fprintf(stderr, "--backend mpi: %d rank; run it as mpirun -n N, N >= 2\n",
            parc_mpi_size());
    return ex_backend_end(b, 1);
  }
#else
  (void)b, (void)argc, (void)argv;
#endif
  return 0;
}

int ex_backend_end(parc_backend b, int rc) {
#ifdef EX_HAVE_MPI
  if (b == PARC_MPI)
    parc_mpi_finalize();
#else
  (void)b;
#endif
  return rc;
}

int ex_reports(void) {
#ifdef EX_HAVE_MPI
  return parc_mpi_rank() <= 0; /* -1: MPI not started, not an MPI run */
#else
  return 1;
#endif
}

const char *ex_backend_name(parc_backend b) {
  static char mpi[32];
  switch (b) {
  case PARC_THREADS: return "threads";
  case PARC_PROCESSES: return "processes";
  default:
#ifdef EX_HAVE_MPI
    snprintf(mpi, sizeof mpi, "mpi, %d ranks", parc_mpi_size());
#endif
    return mpi;
  }
}

/* ------------------------------------------------------------ replicates */

static int common_option(ex_opts *c, const char *a, const char *val) {
  uint64_t v;
  if ((strcmp(a, "-j") == 0 || strcmp(a, "--workers") == 0) &&
      ex_parse_u64(val, 1, 1024, &v) == 0)
    c->workers = (unsigned)v;
  else if (strcmp(a, "--backend") == 0 &&
           ex_parse_backend(val, &c->backend) == 0)
    ;
  else if (strcmp(a, "--seed") == 0 &&
           ex_parse_u64(val, 0, UINT64_MAX, &v) == 0)
    c->seed = v;
  else
    return -1;
  return 0;
}

int ex_parse_args(int argc, char **argv, ex_opts *c, ex_option_fn own_fn,
                  void *own, void (*usage)(FILE *f)) {
  *c = (ex_opts){parc_physical_cores(), PARC_THREADS, 1};
  for (int i = 1; i < argc; i += 2) { /* an option and its value */
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      exit(0);
    }
    if (i + 1 >= argc || (common_option(c, argv[i], argv[i + 1]) != 0 &&
                          own_fn(own, argv[i], argv[i + 1]) != 0)) {
      fprintf(stderr, "bad option: %s %s\n", argv[i],
              i + 1 < argc ? argv[i + 1] : "(no value)");
      usage(stderr);
      return 2;
    }
  }
  return ex_backend_start(c->backend, &argc, &argv);
}

/* One pool of `workers` from create to destroy running w into out; *secs is
 * that whole wall time. Returns 0, PARC_ESERVED, or the parc error
 * (printed). */
static int run_once(const ex_opts *c, unsigned workers, const ex_work *w,
                    void *out, double *secs) {
  parc_pool_opts po = {0};
  po.backend = c->backend;
  po.workers = workers;
  parc_pool *pool = NULL;
  fflush(stdout); /* a fork must not inherit unwritten output */
  double t0 = ex_now();
  int rc = parc_pool_create(&pool, &po);
  if (rc == PARC_ESERVED)
    return rc;
  if (rc != 0) {
    fprintf(stderr, "parc_pool_create: %s\n", ex_strerror(rc));
    return rc;
  }
  size_t bad = 0;
  parc_map_opts mo = {0};
  mo.err_index = &bad;
  mo.chunk = w->chunk;
  if (w->combine) {
    void *zero = calloc(1, w->out_size);
    rc = zero ? parc_map_reduce(pool, w->fn, w->in, w->in_size, w->n,
                                w->combine, zero, out, w->out_size, &mo)
              : PARC_ENOMEM;
    free(zero);
  } else {
    rc = parc_map(pool, w->fn, w->in, w->in_size, out, w->out_size, w->n, &mo);
  }
  parc_pool_destroy(pool);
  *secs = ex_now() - t0;
  if (rc != 0)
    fprintf(stderr, "%s: task %zu: %s\n",
            w->combine ? "parc_map_reduce" : "parc_map", bad,
            parc_strerror(rc));
  return rc;
}

int ex_replicates(const ex_opts *c, const ex_work *w, void *out1, double *t1,
                  void *outj, double *tj) {
  int rc = run_once(c, 1, w, out1, t1);
  /* Under MPI every rank creates the same pools: a serving rank serves the
   * second one too, so rank 0 creates it even after an error. */
  if (rc != 0 && rc != PARC_ESERVED && c->backend != PARC_MPI)
    return rc;
  int rc2 = run_once(c, c->workers, w, outj, tj);
  return rc != 0 && rc != PARC_ESERVED ? rc : rc2;
}

int ex_replicates_end(const ex_opts *c, int rc) {
  return ex_backend_end(c->backend, rc == PARC_ESERVED ? 0 : 1);
}

int ex_add_u64(void *acc, const void *item, void *ctx) {
  (void)ctx;
  uint64_t a, b;
  memcpy(&a, acc, sizeof a);
  memcpy(&b, item, sizeof b);
  a += b;
  memcpy(acc, &a, sizeof a);
  return 0;
}

void ex_print_times(const ex_opts *c, double t1, double tj) {
  const char *per = c->backend == PARC_MPI ? " per rank" : "";
  printf("time: 1 worker%s %.3f s, %u worker%s%s %.3f s, speedup %.2f\n", per,
         t1, c->workers, c->workers == 1 ? "" : "s", per, tj,
         tj > 0 ? t1 / tj : 0.0);
}
