/* test_rng.c -- parc_rng: Philox4x32-10 against Random123's known answers;
 * the documented counter and word layout; streams that differ and repeat;
 * the ranges and rough distributions of uniform, below and normal; and the
 * point of it all: a map drawing from stream = task index gives the same
 * bits for any worker count and either backend. */
#include "testutil.h"

#include <math.h>

TestSuite(rng, .timeout = 120);

/* ------------------------------------------------------------ Philox */

typedef struct {
  const char *name;
  uint32_t ctr[4];
  uint32_t key[2];
  uint32_t want[4];
} kat;

/* Random123's tests/kat_vectors, the "philox4x32 10" lines (counter, key,
 * expected), then three of its examples/kat_vectors lines, which set one
 * counter word and one key word at a time. */
static const kat kats[] = {
    {"all zero",
     {0x00000000, 0x00000000, 0x00000000, 0x00000000},
     {0x00000000, 0x00000000},
     {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {"all ones",
     {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {"pi digits",
     {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    {"ctr0 = 1, key0 = 1",
     {0x00000001, 0x00000000, 0x00000000, 0x00000000},
     {0x00000001, 0x00000000},
     {0xac08141b, 0xdfc5ccbe, 0x79c07a47, 0xa7f66093}},
    {"ctr3 = 1, key1 = 1",
     {0x00000000, 0x00000000, 0x00000000, 0x00000001},
     {0x00000000, 0x00000001},
     {0x96b27e8c, 0x28826d0f, 0x66d958ef, 0x081509dc}},
    {"ctr2 = 2^31, key1 = 2^31",
     {0x00000000, 0x00000000, 0x80000000, 0x00000000},
     {0x00000000, 0x80000000},
     {0xae56ca02, 0x7609ba67, 0x25abd7df, 0x46ce39a3}},
};

Test(rng, philox4x32_10_matches_random123_known_answers) {
  for (size_t i = 0; i < sizeof kats / sizeof kats[0]; i++) {
    uint32_t got[4];
    parc_philox4x32_10(kats[i].ctr, kats[i].key, got);
    for (int w = 0; w < 4; w++)
      cr_assert_eq(got[w], kats[i].want[w],
                   "KAT \"%s\" word %d: got %08x, want %08x (block %08x %08x "
                   "%08x %08x)",
                   kats[i].name, w, got[w], kats[i].want[w], got[0], got[1],
                   got[2], got[3]);
  }
}

/* ------------------------------------------------------------ layout */

static void block(uint64_t seed, uint64_t stream, uint64_t n, uint32_t out[4]) {
  uint32_t ctr[4] = {(uint32_t)n, (uint32_t)(n >> 32), (uint32_t)stream,
                     (uint32_t)(stream >> 32)};
  uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  parc_philox4x32_10(ctr, key, out);
}

Test(rng, u64_is_block_words_low_half_first) {
  uint64_t seed = 0x0123456789abcdefull, stream = 0xfedcba9876543210ull;
  parc_rng r;
  parc_rng_init(&r, seed, stream);
  for (uint64_t n = 0; n < 3; n++) {
    uint32_t b[4];
    block(seed, stream, n, b);
    for (int half = 0; half < 2; half++) {
      uint64_t want = b[2 * half] | (uint64_t)b[2 * half + 1] << 32;
      ASSERT_U64(parc_rng_u64(&r), want, "block %llu, value %d",
                 (unsigned long long)n, half);
    }
  }
}

Test(rng, block_number_carries_into_the_high_word) {
  parc_rng r;
  parc_rng_init(&r, 7, 9);
  r.ctr[0] = 0xffffffffu; /* the struct is public: jump to block 2^32 - 1 */
  uint32_t b[4];
  parc_rng_u64(&r);
  parc_rng_u64(&r);
  uint64_t got = parc_rng_u64(&r); /* first value of block 2^32 */
  block(7, 9, 1ull << 32, b);
  ASSERT_U64(got, b[0] | (uint64_t)b[1] << 32, "first value of block 2^32");
  ASSERT_U64(r.ctr[2] | (uint64_t)r.ctr[3] << 32, 9, "stream after the carry");
}

/* ------------------------------------------------------------ streams */

#define SEQ 64

static void draw(uint64_t seed, uint64_t stream, uint64_t v[SEQ]) {
  parc_rng r;
  parc_rng_init(&r, seed, stream);
  for (int i = 0; i < SEQ; i++) v[i] = parc_rng_u64(&r);
}

static size_t equal_values(const uint64_t a[SEQ], const uint64_t b[SEQ]) {
  size_t same = 0;
  for (int i = 0; i < SEQ; i++) same += a[i] == b[i];
  return same;
}

Test(rng, same_seed_and_stream_give_the_same_sequence) {
  uint64_t a[SEQ], b[SEQ];
  draw(42, 1000, a);
  draw(42, 1000, b);
  ASSERT_I64(equal_values(a, b), SEQ, "equal values of two identical streams");
}

Test(rng, a_copied_generator_continues_identically) {
  parc_rng r, c;
  parc_rng_init(&r, 5, 6);
  parc_rng_u64(&r);
  parc_rng_normal(&r); /* leaves a spare behind: the copy must have it too */
  c = r;
  for (int i = 0; i < 100; i++) {
    double x = parc_rng_normal(&r), y = parc_rng_normal(&c);
    cr_assert_eq(memcmp(&x, &y, sizeof x), 0, "draw %d: %a vs %a", i, x, y);
  }
}

Test(rng, different_streams_give_different_sequences) {
  uint64_t s[4][SEQ];
  uint64_t streams[4] = {0, 1, 1ull << 32, UINT64_MAX};
  for (int i = 0; i < 4; i++) draw(42, streams[i], s[i]);
  for (int i = 0; i < 4; i++)
    for (int j = i + 1; j < 4; j++)
      ASSERT_I64(
          equal_values(s[i], s[j]), 0, "equal values, streams %#llx and %#llx",
          (unsigned long long)streams[i], (unsigned long long)streams[j]);
}

Test(rng, different_seeds_give_different_sequences) {
  uint64_t s[4][SEQ];
  uint64_t seeds[4] = {0, 1, 1ull << 32, UINT64_MAX};
  for (int i = 0; i < 4; i++) draw(seeds[i], 3, s[i]);
  for (int i = 0; i < 4; i++)
    for (int j = i + 1; j < 4; j++)
      ASSERT_I64(equal_values(s[i], s[j]), 0,
                 "equal values, seeds %#llx and %#llx",
                 (unsigned long long)seeds[i], (unsigned long long)seeds[j]);
}

/* ------------------------------------------------------------ uniform */

Test(rng, uniform_is_in_0_1_with_mean_one_half) {
  parc_rng r;
  parc_rng_init(&r, 2024, 0);
  enum { N = 1000000 };
  double lo = 1, hi = 0, sum = 0;
  for (int i = 0; i < N; i++) {
    double u = parc_rng_uniform(&r);
    cr_assert(u >= 0.0 && u < 1.0, "draw %d = %a outside [0, 1)", i, u);
    lo = u < lo ? u : lo;
    hi = u > hi ? u : hi;
    sum += u;
  }
  double mean = sum / N; /* sd of the mean: sqrt(1/12/N) = 0.00029 */
  cr_assert(fabs(mean - 0.5) < 0.0015, "mean %.6f, want 0.5 +- 0.0015", mean);
  cr_assert(lo < 1e-4 && hi > 1 - 1e-4, "min %g, max %g: range not covered", lo,
            hi);
}

Test(rng, uniform_uses_the_top_53_bits) {
  parc_rng r, c;
  parc_rng_init(&r, 11, 12);
  c = r;
  for (int i = 0; i < 1000; i++) {
    double u = parc_rng_uniform(&r);
    double want = (double)(parc_rng_u64(&c) >> 11) / 9007199254740992.0;
    cr_assert_eq(u, want, "draw %d: %a, want %a", i, u, want);
  }
}

/* ------------------------------------------------------------ below */

Test(rng, below_of_0_and_1_is_0) {
  parc_rng r;
  parc_rng_init(&r, 1, 1);
  for (int i = 0; i < 100; i++) {
    ASSERT_U64(parc_rng_below(&r, 0), 0, "below(0)");
    ASSERT_U64(parc_rng_below(&r, 1), 0, "below(1)");
  }
}

Test(rng, below_is_in_range_and_roughly_uniform) {
  enum { K = 37, PER_BIN = 10000, N = K * PER_BIN };
  long count[K] = {0};
  parc_rng r;
  parc_rng_init(&r, 0x5EED, 0);
  for (int i = 0; i < N; i++) {
    uint64_t x = parc_rng_below(&r, K);
    cr_assert(x < K, "below(%d) = %llu", K, (unsigned long long)x);
    count[x]++;
  }
  double chi2 = 0;
  for (int k = 0; k < K; k++) {
    double d = (double)count[k] - PER_BIN;
    chi2 += d * d / PER_BIN;
  }
  /* 36 degrees of freedom: mean 36, sd 8.5; P(chi2 > 80) < 1e-4. */
  cr_assert(chi2 < 80, "chi-square %.1f with 36 degrees of freedom", chi2);
}

/* n = 3 * 2^62: a modulo reduction would put 3/4 of the values below 2^63;
 * unbiased, 2/3 of them are. */
Test(rng, below_has_no_modulo_bias_for_a_large_n) {
  const uint64_t n = 3ull << 62;
  enum { N = 300000 };
  parc_rng r;
  parc_rng_init(&r, 77, 0);
  long low = 0;
  for (int i = 0; i < N; i++) {
    uint64_t x = parc_rng_below(&r, n);
    cr_assert(x < n, "below(3*2^62) = %#llx", (unsigned long long)x);
    low += x < (1ull << 63);
  }
  double frac = (double)low / N; /* sd: sqrt(2/9/N) = 0.00086 */
  cr_assert(fabs(frac - 2.0 / 3) < 0.005,
            "fraction below 2^63: %.4f, want 0.6667", frac);
}

/* ------------------------------------------------------------ normal */

Test(rng, normal_has_mean_0_and_variance_1) {
  enum { N = 1000000 };
  parc_rng r;
  parc_rng_init(&r, 31337, 4);
  double sum = 0, sum2 = 0, sum4 = 0;
  for (int i = 0; i < N; i++) {
    double z = parc_rng_normal(&r);
    cr_assert(isfinite(z), "draw %d is %g", i, z);
    sum += z;
    sum2 += z * z;
    sum4 += z * z * z * z;
  }
  double mean = sum / N, var = sum2 / N - mean * mean, kurt = sum4 / N;
  /* 5 standard errors: 0.005 for the mean, 0.007 for the variance. */
  cr_assert(fabs(mean) < 0.005, "mean %.5f, want 0 +- 0.005", mean);
  cr_assert(fabs(var - 1) < 0.007, "variance %.5f, want 1 +- 0.007", var);
  cr_assert(fabs(kurt - 3) < 0.05, "fourth moment %.4f, want 3 +- 0.05", kurt);
}

/* ------------------------------------------------------------ in a pool */

enum { TASKS = 1000, DRAWS = 200 };

/* Task i mixes uniform, below and normal draws from stream i into one
 * 64-bit digest of their bits. */
static int stream_task(const void *in, void *out, void *ctx) {
  (void)ctx;
  uint64_t i;
  memcpy(&i, in, 8);
  parc_rng r;
  parc_rng_init(&r, 0xC0FFEE, i);
  uint64_t h = 0xcbf29ce484222325ull;
  for (int k = 0; k < DRAWS; k++) {
    double u = parc_rng_uniform(&r), z = parc_rng_normal(&r);
    uint64_t b = parc_rng_below(&r, 1000 + i), bu, bz;
    memcpy(&bu, &u, 8);
    memcpy(&bz, &z, 8);
    h = mix64(h ^ bu) ^ mix64(bz) ^ b;
  }
  memcpy(out, &h, 8);
  return 0;
}

static void run_streams(parc_backend backend, unsigned workers, uint64_t *out) {
  static uint64_t in[TASKS];
  for (uint64_t i = 0; i < TASKS; i++) in[i] = i;
  parc_pool *p = pool_simple(backend, workers, NULL);
  ASSERT_RC(parc_map(p, stream_task, in, 8, out, 8, TASKS, NULL), 0);
  parc_pool_destroy(p);
}

Test(rng, map_over_streams_is_identical_for_any_workers_and_backend) {
  static uint64_t ref[TASKS], got[TASKS];
  for (uint64_t i = 0; i < TASKS; i++) stream_task(&i, &ref[i], NULL);
  parc_backend backends[2] = {PARC_THREADS, PARC_PROCESSES};
  unsigned workers[3] = {1, 2, 4};
  for (int b = 0; b < 2; b++)
    for (int w = 0; w < 3; w++) {
      memset(got, 0, sizeof got);
      run_streams(backends[b], workers[w], got);
      for (size_t i = 0; i < TASKS; i++)
        if (got[i] != ref[i])
          cr_assert_fail("%s, %u workers: task %zu digest %#llx, serial %#llx",
                         backend_name(backends[b]), workers[w], i,
                         (unsigned long long)got[i],
                         (unsigned long long)ref[i]);
    }
}
