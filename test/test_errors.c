/* test_errors.c -- error codes, their names and texts, and argument checks
 * of the pool API (PARC_EINVAL for what the contract forbids). */
#include "testutil.h"

#include <limits.h>
#include <sched.h>

TestSuite(errors, .timeout = 30);

typedef struct {
  int code;
  const char *name;
  const char *text;
} code_row;

static const code_row k_codes[] = {
#define ROW(name, value, text) {value, #name, text},
    PARC_ERRNO_MAP(ROW)
#undef ROW
};
#define N_CODES (sizeof k_codes / sizeof k_codes[0])

static const int k_unknown[] = {-17, -999, 1, 42, INT_MIN, INT_MAX};
#define N_UNKNOWN (sizeof k_unknown / sizeof k_unknown[0])

Test(errors, strerror_gives_the_listed_text_for_every_code) {
  for (size_t i = 0; i < N_CODES; i++) {
    const char *s = parc_strerror(k_codes[i].code);
    cr_assert_not_null(s, "parc_strerror(%d) is NULL", k_codes[i].code);
    cr_expect_str_eq(s, k_codes[i].text,
                     "parc_strerror(%d): got \"%s\", want \"%s\"",
                     k_codes[i].code, s, k_codes[i].text);
  }
}

Test(errors, err_name_gives_the_name_without_prefix_for_every_code) {
  for (size_t i = 0; i < N_CODES; i++) {
    const char *s = parc_err_name(k_codes[i].code);
    cr_assert_not_null(s, "parc_err_name(%d) is NULL", k_codes[i].code);
    cr_expect_str_eq(s, k_codes[i].name,
                     "parc_err_name(%d): got \"%s\", want \"%s\"",
                     k_codes[i].code, s, k_codes[i].name);
  }
}

Test(errors, codes_have_the_values_of_the_list) {
  ASSERT_I64(PARC_EINVAL, -1, "PARC_EINVAL");
  ASSERT_I64(PARC_ETIMEDOUT, -4, "PARC_ETIMEDOUT");
  ASSERT_I64(PARC_EBROKEN, -14, "PARC_EBROKEN");
  ASSERT_I64(PARC_ESERVED, -15, "PARC_ESERVED");
  ASSERT_I64(PARC_ENOTSHARED, -16, "PARC_ENOTSHARED");
  ASSERT_I64(N_CODES, 16, "number of codes");
}

Test(errors, strerror_of_unknown_code_is_unknown_error) {
  for (size_t i = 0; i < N_UNKNOWN; i++) {
    const char *s = parc_strerror(k_unknown[i]);
    cr_assert_not_null(s, "parc_strerror(%d) is NULL", k_unknown[i]);
    cr_expect_str_eq(s, "unknown error",
                     "parc_strerror(%d): got \"%s\", want \"unknown error\"",
                     k_unknown[i], s);
  }
}

Test(errors, err_name_of_unknown_code_is_no_code_name) {
  for (size_t i = 0; i < N_UNKNOWN; i++) {
    const char *s = parc_err_name(k_unknown[i]);
    cr_assert_not_null(s, "parc_err_name(%d) is NULL", k_unknown[i]);
    for (size_t j = 0; j < N_CODES; j++)
      cr_expect_str_neq(s, k_codes[j].name,
                        "parc_err_name(%d) = \"%s\", the name of code %d",
                        k_unknown[i], s, k_codes[j].code);
  }
}

/* ------------------------------------------------------------ pool args */

Test(errors, pool_create_with_null_out_is_einval) {
  parc_pool_opts o = {.backend = PARC_THREADS, .workers = 1};
  ASSERT_RC(parc_pool_create(NULL, &o), PARC_EINVAL);
}

Test(errors, pool_create_with_unknown_backend_is_einval) {
  parc_pool_opts o = {.backend = (parc_backend)42, .workers = 1};
  parc_pool *p = NULL;
  ASSERT_RC(parc_pool_create(&p, &o), PARC_EINVAL);
  cr_expect_null(p, "a failed create wrote a pool: %p", (void *)p);
}

Test(errors, pool_create_with_mpi_backend_fails_without_libparc_mpi) {
  parc_pool_opts o = {.backend = PARC_MPI, .workers = 1};
  parc_pool *p = NULL;
  int rc = parc_pool_create(&p, &o);
  cr_assert_neq(
      rc, 0, "PARC_MPI pool created by the core library: got %d, want an error",
      rc);
  cr_expect(rc == PARC_ENOTSUP || rc == PARC_EINVAL,
            "PARC_MPI: got %d (%s), want ENOTSUP or EINVAL", rc, errname(rc));
  cr_expect_null(p, "a failed create wrote a pool: %p", (void *)p);
}

Test(errors, pool_create_with_null_opts_uses_threads_one_per_core) {
  parc_pool *p = NULL;
  ASSERT_RC(parc_pool_create(&p, NULL), 0);
  cr_assert_not_null(p);
  ASSERT_I64(parc_pool_workers(p), parc_physical_cores(),
             "workers of a default pool");
  parc_pool_destroy(p);
}

BOTH_BACKENDS(errors, pool_workers_reports_the_requested_count) {
  parc_pool *p = pool_simple(backend, 5, NULL);
  ASSERT_I64(parc_pool_workers(p), 5, "parc_pool_workers (%s)",
             backend_name(backend));
  parc_pool_destroy(p);
}

Test(errors, destroy_and_free_accept_null) {
  parc_pool_destroy(NULL);
  parc_pool_destroy_ex(NULL, 0);
  parc_pool_destroy_ex(NULL, 1);
  parc_future_free(NULL); /* the test fails by crashing */
}

static int ident_task(const void *in, void *out, void *ctx) {
  memcpy(out, in, sizeof(uint64_t));
  return 0;
}

static int add_combine(void *acc, const void *item, void *ctx) {
  *(uint64_t *)acc += *(const uint64_t *)item;
  return 0;
}

static int nop_body(int64_t b, int64_t e, void *ctx) { return 0; }

BOTH_BACKENDS(errors, map_with_null_fn_or_pool_is_einval) {
  parc_pool *p = pool_simple(backend, 2, NULL);
  uint64_t in[4] = {1, 2, 3, 4}, out[4];
  ASSERT_RC(parc_map(p, NULL, in, 8, out, 8, 4, NULL), PARC_EINVAL);
  ASSERT_RC(parc_map(NULL, ident_task, in, 8, out, 8, 4, NULL), PARC_EINVAL);
  parc_pool_destroy(p);
}

BOTH_BACKENDS(errors, map_with_null_buffers_is_einval) {
  parc_pool *p = pool_simple(backend, 2, NULL);
  uint64_t in[4] = {1, 2, 3, 4}, out[4];
  ASSERT_RC(parc_map(p, ident_task, NULL, 8, out, 8, 4, NULL), PARC_EINVAL);
  ASSERT_RC(parc_map(p, ident_task, in, 8, NULL, 8, 4, NULL), PARC_EINVAL);
  parc_pool_destroy(p);
}

BOTH_BACKENDS(errors, submit_with_null_fn_or_out_is_einval) {
  parc_pool *p = pool_simple(backend, 1, NULL);
  uint64_t in = 7;
  parc_future *f = NULL;
  ASSERT_RC(parc_submit(p, NULL, &in, 8, 8, &f), PARC_EINVAL);
  ASSERT_RC(parc_submit(p, ident_task, &in, 8, 8, NULL), PARC_EINVAL);
  ASSERT_RC(parc_submit(NULL, ident_task, &in, 8, 8, &f), PARC_EINVAL);
  parc_pool_destroy(p);
}

BOTH_BACKENDS(errors, map_reduce_with_null_combine_is_einval) {
  parc_pool *p = pool_simple(backend, 2, NULL);
  uint64_t in[4] = {1, 2, 3, 4}, id = 0, res = 0;
  ASSERT_RC(parc_map_reduce(p, ident_task, in, 8, 4, NULL, &id, &res, 8, NULL),
            PARC_EINVAL);
  ASSERT_RC(parc_map_reduce(p, NULL, in, 8, 4, add_combine, &id, &res, 8, NULL),
            PARC_EINVAL);
  parc_pool_destroy(p);
}

BOTH_BACKENDS(errors, for_with_null_body_is_einval) {
  parc_pool *p = pool_simple(backend, 2, NULL);
  ASSERT_RC(parc_for(p, 0, 10, NULL, NULL, NULL), PARC_EINVAL);
  ASSERT_RC(parc_for(NULL, 0, 10, nop_body, NULL, NULL), PARC_EINVAL);
  parc_pool_destroy(p);
}

/* ------------------------------------------------------------ misc */

Test(errors, worker_id_outside_a_task_is_minus_one) {
  ASSERT_I64(parc_worker_id(), -1, "parc_worker_id() in the test thread");
  parc_pool *p = pool_simple(PARC_THREADS, 2, NULL);
  ASSERT_I64(parc_worker_id(), -1,
             "parc_worker_id() in the caller of a live pool");
  parc_pool_destroy(p);
}

Test(errors, cpu_counts_are_sane) {
  unsigned phys = parc_physical_cores(), logical = parc_logical_cpus();
  cpu_set_t set;
  CPU_ZERO(&set);
  cr_assert_eq(sched_getaffinity(0, sizeof set, &set), 0);
  cr_expect_geq(phys, 1u, "parc_physical_cores: got %u, want >= 1", phys);
  ASSERT_I64(logical, CPU_COUNT(&set),
             "parc_logical_cpus vs sched_getaffinity");
}

Test(errors, shm_alloc_is_zero_filled) {
  size_t n = 3 * 4096 + 17;
  unsigned char *p = shm_new(n);
  for (size_t i = 0; i < n; i++)
    if (p[i] != 0)
      cr_assert_fail("parc_shm_alloc byte %zu: got %u, want 0", i, p[i]);
  memset(p, 0xAB, n); /* writable over its whole length */
  parc_shm_free(p);
}
