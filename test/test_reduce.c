/* test_reduce.c -- parc_map_reduce: bit-identical floating-point results for
 * any worker count and backend, order kept for a non-commutative combine,
 * the identity for n = 0, and map errors with their index. */
#include "testutil.h"

#include <math.h>

TestSuite(reduce, .timeout = 90);

/* ------------------------------------------------------------ float sum */

enum { FN = 100000 };

static int triple_task(const void *in, void *out, void *ctx) {
  double x;
  memcpy(&x, in, 8);
  x *= 3.0;
  memcpy(out, &x, 8);
  return 0;
}

static int f64_add(void *acc, const void *item, void *ctx) {
  double a, b;
  memcpy(&a, acc, 8);
  memcpy(&b, item, 8);
  a += b;
  memcpy(acc, &a, 8);
  return 0;
}

/* Values over 17 orders of magnitude with both signs: a sum whose rounding
 * depends on the order of the additions. */
static double *float_data(void) {
  double *v = malloc(FN * sizeof *v);
  cr_assert_not_null(v);
  uint64_t s = 0xF1047;
  for (size_t i = 0; i < FN; i++) {
    double u = (double)(splitmix64(&s) >> 11) / 9007199254740992.0 * 2.0 - 1.0;
    v[i] = u * pow(10.0, (double)((int)(i % 17) - 8));
  }
  return v;
}

static double pairwise(const double *v, size_t n) {
  if (n == 1)
    return v[0] * 3.0;
  return pairwise(v, n / 2) + pairwise(v + n / 2, n - n / 2);
}

Test(reduce, float_data_is_sensitive_to_the_order_of_additions) {
  /* the premise of the bit-identity tests: another association order
   * gives another double */
  double *v = float_data(), serial = 0.0;
  for (size_t i = 0; i < FN; i++) serial += v[i] * 3.0;
  double pw = pairwise(v, FN);
  cr_assert_neq(memcmp(&serial, &pw, 8), 0, "serial %.17g == pairwise %.17g",
                serial, pw);
  free(v);
}

static double float_reduce(parc_backend backend, unsigned workers, size_t chunk,
                           const double *v) {
  parc_pool *p = pool_simple(backend, workers, NULL);
  double id = 0.0, res = -1.0;
  parc_map_opts o = {.chunk = chunk};
  int rc = parc_map_reduce(p, triple_task, v, 8, FN, f64_add, &id, &res, 8, &o);
  cr_assert_eq(rc, 0, "parc_map_reduce(%s, workers=%u): got %d (%s), want 0",
               backend_name(backend), workers, rc, errname(rc));
  parc_pool_destroy(p);
  return res;
}

static void check_float_identity(parc_backend backend, double *first,
                                 int *have_first) {
  double *v = float_data();
  unsigned counts[] = {1, 2, 3, 8};
  for (size_t k = 0; k < 4; k++) {
    double r = float_reduce(backend, counts[k], 0, v);
    if (!*have_first) {
      *first = r;
      *have_first = 1;
    }
    cr_assert_eq(memcmp(&r, first, 8), 0,
                 "%s workers=%u: %.17g (%a), want %.17g (%a)",
                 backend_name(backend), counts[k], r, r, *first, *first);
  }
  /* chunk is documented as ignored: it must not change the blocks */
  double r = float_reduce(backend, 3, 7, v);
  cr_assert_eq(memcmp(&r, first, 8), 0,
               "%s chunk=7: %.17g (%a), want %.17g (%a)", backend_name(backend),
               r, r, *first, *first);
  free(v);
}

BOTH_BACKENDS(reduce, float_sum_is_bit_identical_for_1_2_3_8_workers) {
  double first = 0;
  int have = 0;
  check_float_identity(backend, &first, &have);
}

Test(reduce, float_sum_is_bit_identical_across_backends) {
  double first = 0;
  int have = 0;
  check_float_identity(PARC_THREADS, &first, &have);
  check_float_identity(PARC_PROCESSES, &first, &have);
}

BOTH_BACKENDS(reduce, float_sum_is_close_to_the_exact_sum) {
  double *v = float_data();
  long double exact = 0;
  for (size_t i = 0; i < FN; i++) exact += (long double)v[i] * 3.0L;
  double r = float_reduce(backend, 3, 0, v);
  double err = fabs(r - (double)exact);
  cr_assert_lt(err, 1e-6 * fabs((double)exact) + 1e-3,
               "sum %.17g, exact %.17Lg", r, exact);
  free(v);
}

/* ------------------------------------------------------------ integers */

static int mix_task(const void *in, void *out, void *ctx) {
  uint64_t x;
  memcpy(&x, in, 8);
  x = mix64(x);
  memcpy(out, &x, 8);
  return 0;
}

static int u64_add(void *acc, const void *item, void *ctx) {
  uint64_t a, b;
  memcpy(&a, acc, 8);
  memcpy(&b, item, 8);
  a += b;
  memcpy(acc, &a, 8);
  return 0;
}

BOTH_BACKENDS(reduce, integer_sum_is_exact) {
  enum { N = 100003 };
  uint64_t *in = malloc(N * 8), want = 0;
  for (size_t i = 0; i < N; i++) {
    in[i] = i * 31 + 7;
    want += mix64(in[i]);
  }
  parc_pool *p = pool_simple(backend, 4, NULL);
  uint64_t id = 0, res = 1;
  ASSERT_RC(parc_map_reduce(p, mix_task, in, 8, N, u64_add, &id, &res, 8, NULL),
            0);
  ASSERT_U64(res, want, "sum");
  parc_pool_destroy(p);
  free(in);
}

/* 2x2 matrices mod a prime: associative, not commutative. */
enum { PRIME = 1000003 };
typedef struct mat {
  uint64_t a, b, c, d;
} mat;

static mat mat_mul(mat x, mat y) {
  mat r = {(x.a * y.a + x.b * y.c) % PRIME, (x.a * y.b + x.b * y.d) % PRIME,
           (x.c * y.a + x.d * y.c) % PRIME, (x.c * y.b + x.d * y.d) % PRIME};
  return r;
}

static mat mat_of(uint64_t i) {
  uint64_t h = mix64(i);
  mat m = {1, h % PRIME, (h >> 32) % PRIME, 1 + (h >> 20) % 3};
  return m;
}

static int mat_task(const void *in, void *out, void *ctx) {
  uint64_t i;
  memcpy(&i, in, 8);
  mat m = mat_of(i);
  memcpy(out, &m, sizeof m);
  return 0;
}

static int mat_combine(void *acc, const void *item, void *ctx) {
  mat a, b;
  memcpy(&a, acc, sizeof a);
  memcpy(&b, item, sizeof b);
  a = mat_mul(a, b);
  memcpy(acc, &a, sizeof a);
  return 0;
}

BOTH_BACKENDS(reduce, non_commutative_combine_keeps_input_order) {
  enum { N = 10007 };
  uint64_t *in = malloc(N * 8);
  mat want = {1, 0, 0, 1};
  for (size_t i = 0; i < N; i++) {
    in[i] = i;
    want = mat_mul(want, mat_of(i));
  }
  mat id = {1, 0, 0, 1}, res = {0, 0, 0, 0};
  parc_pool *p = pool_simple(backend, 3, NULL);
  ASSERT_RC(parc_map_reduce(p, mat_task, in, 8, N, mat_combine, &id, &res,
                            sizeof res, NULL),
            0);
  ASSERT_U64(res.a, want.a, "product.a");
  ASSERT_U64(res.b, want.b, "product.b");
  ASSERT_U64(res.c, want.c, "product.c");
  ASSERT_U64(res.d, want.d, "product.d");
  parc_pool_destroy(p);
  free(in);
}

/* A 1 KiB result: histogram of input bytes. */
static int hist_task(const void *in, void *out, void *ctx) {
  const unsigned char *b = in;
  uint32_t h[256] = {0};
  for (size_t i = 0; i < 64; i++) h[b[i]]++;
  memcpy(out, h, sizeof h);
  return 0;
}

static int hist_add(void *acc, const void *item, void *ctx) {
  uint32_t a[256], b[256];
  memcpy(a, acc, sizeof a);
  memcpy(b, item, sizeof b);
  for (int i = 0; i < 256; i++) a[i] += b[i];
  memcpy(acc, a, sizeof a);
  return 0;
}

BOTH_BACKENDS(reduce, kib_sized_results_add_up) {
  enum { N = 5000 };
  unsigned char *in = malloc(N * 64);
  fill_bytes(in, N * 64, 0x4157);
  uint32_t want[256] = {0}, id[256] = {0}, res[256];
  for (size_t i = 0; i < N * 64; i++) want[in[i]]++;
  parc_pool *p = pool_simple(backend, 3, NULL);
  ASSERT_RC(parc_map_reduce(p, hist_task, in, 64, N, hist_add, id, res,
                            sizeof res, NULL),
            0);
  for (int i = 0; i < 256; i++) ASSERT_I64(res[i], want[i], "histogram[%d]", i);
  parc_pool_destroy(p);
  free(in);
}

/* ------------------------------------------------------------ edges */

BOTH_BACKENDS(reduce, n0_gives_the_identity) {
  parc_pool *p = pool_simple(backend, 2, NULL);
  double in[1] = {5.0}, id = 42.5, res = -1.0;
  ASSERT_RC(
      parc_map_reduce(p, triple_task, in, 8, 0, f64_add, &id, &res, 8, NULL),
      0);
  cr_assert_eq(memcmp(&res, &id, 8), 0, "result %.17g, want the identity %.17g",
               res, id);
  parc_pool_destroy(p);
}

BOTH_BACKENDS(reduce, n1_gives_the_one_mapped_item) {
  parc_pool *p = pool_simple(backend, 2, NULL);
  double in[1] = {2.0}, id = 0.0, res = -1.0;
  ASSERT_RC(
      parc_map_reduce(p, triple_task, in, 8, 1, f64_add, &id, &res, 8, NULL),
      0);
  cr_assert_eq(res, 6.0, "result %.17g, want 6.0", res);
  parc_pool_destroy(p);
}

static int fail_some_task(const void *in, void *out, void *ctx) {
  uint64_t i;
  memcpy(&i, in, 8);
  if (i == 1234 || i == 5000 || i == 9999)
    return 9;
  memcpy(out, &i, 8);
  return 0;
}

BOTH_BACKENDS(reduce, map_error_reports_the_lowest_failing_index) {
  enum { N = 10000 };
  uint64_t *in = malloc(N * 8);
  for (size_t i = 0; i < N; i++) in[i] = i;
  parc_pool *p = pool_simple(backend, 3, NULL);
  uint64_t id = 0, res = 0;
  size_t err_index = 0;
  parc_map_opts o = {.err_index = &err_index};
  ASSERT_RC(
      parc_map_reduce(p, fail_some_task, in, 8, N, u64_add, &id, &res, 8, &o),
      PARC_ETASK);
  ASSERT_I64(err_index, 1234, "err_index");
  /* the pool is fine afterwards */
  ASSERT_RC(
      parc_map_reduce(p, mix_task, in, 8, 10, u64_add, &id, &res, 8, NULL), 0);
  parc_pool_destroy(p);
  free(in);
}

static int picky_add(void *acc, const void *item, void *ctx) {
  uint64_t b;
  memcpy(&b, item, 8);
  if (b == 777)
    return 4;
  return u64_add(acc, item, ctx);
}

static int copy_task(const void *in, void *out, void *ctx) {
  memcpy(out, in, 8);
  return 0;
}

BOTH_BACKENDS(reduce, combine_error_fails_the_call) {
  enum { N = 2000 };
  uint64_t *in = malloc(N * 8);
  for (size_t i = 0; i < N; i++) in[i] = i;
  parc_pool *p = pool_simple(backend, 2, NULL);
  uint64_t id = 0, res = 0;
  int rc = parc_map_reduce(p, copy_task, in, 8, N, picky_add, &id, &res, 8,
                           NULL);
  cr_assert_neq(rc, 0, "a failing combine was ignored: result %llu",
                (unsigned long long)res);
  parc_pool_destroy(p);
  free(in);
}
