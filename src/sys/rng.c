/* rng.c -- reproducible parallel random numbers: Philox4x32-10 streams.
 *
 * Philox4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel random numbers:
 * as easy as 1, 2, 3", SC11; the Random123 library) is a keyed bijection
 * of 128-bit counters: block = philox(counter, key). A generator is then
 * nothing but a key and a counter, so any number of independent streams
 * come from splitting the counter, not from seeding many generators.
 *
 * Layout (the contract the tests and docs/rng.md hold us to):
 *   key[0], key[1]  the seed's low and high 32 bits
 *   ctr[0], ctr[1]  the block number, low and high 32 bits, from 0
 *   ctr[2], ctr[3]  the stream, low and high 32 bits
 * A block is 4 words, handed out in order out[0], out[1], out[2], out[3].
 * parc_rng_u64 takes two consecutive words, the first as the low half:
 * u64 = out[2i] | (uint64_t)out[2i+1] << 32. Every draw takes whole 64-bit
 * values, so `used` is always even and a value never spans two blocks.
 *
 * The state is plain data with no pointers and no global state: copying a
 * parc_rng (into a forked child, over a pipe) copies its future exactly.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include <parc.h>

#define PHILOX_M0 0xD2511F53u /* round multipliers */
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u /* key schedule: golden ratio */
#define PHILOX_W1 0xBB67AE85u /* key schedule: sqrt(3) - 1 */
#define PHILOX_ROUNDS 10

static void mulhilo32(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo) {
  uint64_t p = (uint64_t)a * b;
  *hi = (uint32_t)(p >> 32);
  *lo = (uint32_t)p;
}

/* One round: two multiplies whose high halves are xored with the other
 * words and the round key, then a fixed permutation of the four words. */
static void philox_round(uint32_t x[4], const uint32_t k[2]) {
  uint32_t hi0, lo0, hi1, lo1;
  mulhilo32(PHILOX_M0, x[0], &hi0, &lo0);
  mulhilo32(PHILOX_M1, x[2], &hi1, &lo1);
  uint32_t y0 = hi1 ^ x[1] ^ k[0];
  uint32_t y2 = hi0 ^ x[3] ^ k[1];
  x[0] = y0;
  x[1] = lo1;
  x[2] = y2;
  x[3] = lo0;
}

void parc_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2],
                        uint32_t out[4]) {
  uint32_t x[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
  uint32_t k[2] = {key[0], key[1]};
  philox_round(x, k);
  for (int r = 1; r < PHILOX_ROUNDS; r++) { /* the key steps between rounds */
    k[0] += PHILOX_W0;
    k[1] += PHILOX_W1;
    philox_round(x, k);
  }
  for (int i = 0; i < 4; i++) out[i] = x[i];
}

void parc_rng_init(parc_rng *r, uint64_t seed, uint64_t stream) {
  r->key[0] = (uint32_t)seed;
  r->key[1] = (uint32_t)(seed >> 32);
  r->ctr[0] = 0;
  r->ctr[1] = 0;
  r->ctr[2] = (uint32_t)stream;
  r->ctr[3] = (uint32_t)(stream >> 32);
  for (int i = 0; i < 4; i++) r->out[i] = 0;
  r->used = 4; /* empty: the first draw computes block 0 */
  r->has_spare = 0;
  r->spare = 0.0;
}

/* Computes the block at the current counter, then steps the 64-bit block
 * number (carry from ctr[0] into ctr[1]; the stream words never change). */
static void next_block(parc_rng *r) {
  parc_philox4x32_10(r->ctr, r->key, r->out);
  if (++r->ctr[0] == 0)
    r->ctr[1]++;
  r->used = 0;
}

uint64_t parc_rng_u64(parc_rng *r) {
  if (r->used >= 4)
    next_block(r);
  uint64_t lo = r->out[r->used];
  uint64_t hi = r->out[r->used + 1];
  r->used += 2;
  return lo | hi << 32;
}

double parc_rng_uniform(parc_rng *r) {
  /* The top 53 bits, scaled by 2^-53: every value is k * 2^-53, exactly
   * representable, so the largest is 1 - 2^-53 and 1.0 never comes up. */
  return (double)(parc_rng_u64(r) >> 11) * 0x1.0p-53;
}

/* Marsaglia's polar method: a point uniform in the unit disc (by
 * rejection, 21% of pairs rejected) gives two independent normals. The
 * second is kept in the state, so the sequence of values a stream yields
 * is fixed whatever the caller interleaves with it. */
double parc_rng_normal(parc_rng *r) {
  if (r->has_spare) {
    r->has_spare = 0;
    return r->spare;
  }
  double u, v, s;
  do {
    u = 2.0 * parc_rng_uniform(r) - 1.0;
    v = 2.0 * parc_rng_uniform(r) - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  double f = sqrt(-2.0 * log(s) / s);
  r->spare = v * f;
  r->has_spare = 1;
  return u * f;
}

/* The full 128-bit product a * b, as its high and low 64-bit halves. */
static void mul64(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo) {
  uint64_t a_lo = (uint32_t)a, a_hi = a >> 32;
  uint64_t b_lo = (uint32_t)b, b_hi = b >> 32;
  uint64_t ll = a_lo * b_lo, lh = a_lo * b_hi;
  uint64_t hl = a_hi * b_lo, hh = a_hi * b_hi;
  uint64_t mid = (ll >> 32) + (uint32_t)lh + (uint32_t)hl;
  *hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
  *lo = (mid << 32) | (uint32_t)ll;
}

/* Lemire, "Fast random integer generation in an interval" (2019): the high
 * half of x * n is uniform on [0, n) once the 2^64 mod n values of x whose
 * low half falls below that threshold are rejected. The modulo is only
 * computed when the low half is small enough to possibly need it. */
uint64_t parc_rng_below(parc_rng *r, uint64_t n) {
  if (n == 0)
    return 0;
  uint64_t hi, lo;
  mul64(parc_rng_u64(r), n, &hi, &lo);
  if (lo < n) {
    uint64_t threshold = (0 - n) % n; /* 2^64 mod n */
    while (lo < threshold) mul64(parc_rng_u64(r), n, &hi, &lo);
  }
  return hi;
}
