/* test_fit.c -- parc bench's statistics and its fit of T(s) = mu + s/B
 * (cli/bench/bench_fit.c, compiled into this test): the fit recovers mu and B
 * exactly from exact data, wherever they sit in the size range; noise
 * within the tolerance is one range; a protocol switch is found at the
 * first size of the new protocol, and the range after it is fitted too;
 * and bad input is refused. */
#include <criterion/criterion.h>
#include <math.h>

#include "bench.h"

TestSuite(fit, .timeout = 30);

/* sizes 8, 16, ... 8 * 2^(n-1) */
static size_t doubling(double *s, size_t n) {
  for (size_t i = 0; i < n; i++) s[i] = 8.0 * pow(2, (double)i);
  return n;
}

static void assert_close(double got, double want, double rel,
                         const char *what) {
  cr_assert(fabs(got - want) <= rel * fabs(want),
            "%s: got %.17g, want %.17g (relative error %.3g > %.3g)", what, got,
            want, fabs(got - want) / fabs(want), rel);
}

Test(fit, recovers_mu_and_b_from_exact_data) {
  static const double mus[] = {3e-7, 2.5e-6, 40e-6};
  static const double bws[] = {12e9, 1.5e9, 80e6};
  double s[22], t[22];
  size_t n = doubling(s, 22); /* 8 B .. 16 MiB */
  for (int k = 0; k < 3; k++) {
    for (size_t i = 0; i < n; i++) t[i] = mus[k] + s[i] / bws[k];
    bench_line l;
    cr_assert_eq(bench_fit_line(s, t, 0, n - 1, &l), 0);
    assert_close(l.mu, mus[k], 1e-9, "mu");
    assert_close(bench_line_bw(&l), bws[k], 1e-9, "B");
    assert_close(l.r2, 1, 1e-12, "R^2");
    cr_assert(l.max_resid < 1e-9, "max residual %g", l.max_resid);
    cr_assert_eq(l.fitted, 1);
  }
}

Test(fit, two_points_determine_the_line) {
  double s[2] = {1024, 1 << 20}, t[2];
  for (int i = 0; i < 2; i++) t[i] = 1e-6 + s[i] / 4e9;
  bench_line l;
  cr_assert_eq(bench_fit_line(s, t, 0, 1, &l), 0);
  assert_close(l.mu, 1e-6, 1e-9, "mu");
  assert_close(bench_line_bw(&l), 4e9, 1e-9, "B");
}

Test(fit, exact_data_is_one_range) {
  double s[22], t[22];
  size_t n = doubling(s, 22);
  for (size_t i = 0; i < n; i++) t[i] = 1e-6 + s[i] / 5e9;
  bench_model m;
  cr_assert_eq(bench_fit_model(s, t, NULL, n, BENCH_FIT_TOL, &m), 0);
  cr_assert_eq(m.nseg, 1, "%zu ranges, want 1", m.nseg);
  cr_assert_eq(m.seg[0].first, 0);
  cr_assert_eq(m.seg[0].last, n - 1);
  assert_close(m.seg[0].mu, 1e-6, 1e-9, "mu");
  assert_close(bench_line_bw(&m.seg[0]), 5e9, 1e-9, "B");
}

Test(fit, noise_within_the_tolerance_is_one_range) {
  double s[22], t[22];
  size_t n = doubling(s, 22);
  for (size_t i = 0; i < n; i++) /* +-8%, in a fixed pattern */
    t[i] = (1e-6 + s[i] / 5e9) * (1 + 0.08 * ((i * 7) % 5 == 0 ? 1 : -1));
  bench_model m;
  cr_assert_eq(bench_fit_model(s, t, NULL, n, BENCH_FIT_TOL, &m), 0);
  cr_assert_eq(m.nseg, 1, "%zu ranges (second from %g B), want 1", m.nseg,
               m.nseg > 1 ? s[m.seg[1].first] : 0.0);
  assert_close(m.seg[0].mu, 1e-6, 0.15, "mu");
  assert_close(bench_line_bw(&m.seg[0]), 5e9, 0.15, "B");
  cr_assert(m.seg[0].r2 > 0.9, "R^2 %g", m.seg[0].r2);
}

/* A pipe-like switch: up to 64 KiB one protocol, above it a slower one
 * with a bigger start-up. */
Test(fit, finds_the_size_where_the_protocol_switches) {
  double s[22], t[22];
  size_t n = doubling(s, 22), knee = 13; /* s[13] = 64 KiB */
  for (size_t i = 0; i < n; i++)
    t[i] = i <= knee ? 2e-6 + s[i] / 8e9 : 60e-6 + s[i] / 2e9;
  bench_model m;
  cr_assert_eq(bench_fit_model(s, t, NULL, n, BENCH_FIT_TOL, &m), 0);
  cr_assert_eq(m.nseg, 2, "%zu ranges, want 2", m.nseg);
  cr_assert_eq(m.seg[0].last, knee, "first range ends at %g B, want %g B",
               s[m.seg[0].last], s[knee]);
  cr_assert_eq(m.seg[1].first, knee + 1, "the break is at %g B, want %g B",
               s[m.seg[1].first], s[knee + 1]);
  assert_close(m.seg[0].mu, 2e-6, 1e-9, "mu below the switch");
  assert_close(bench_line_bw(&m.seg[0]), 8e9, 1e-9, "B below the switch");
  assert_close(m.seg[1].mu, 60e-6, 1e-9, "mu above the switch");
  assert_close(bench_line_bw(&m.seg[1]), 2e9, 1e-9, "B above the switch");
}

Test(fit, a_short_tail_after_a_switch_is_its_own_range) {
  double s[10], t[10];
  size_t n = doubling(s, 10);
  for (size_t i = 0; i < n; i++)
    t[i] = i < 8 ? 1e-6 + s[i] / 1e9 : 1e-6 + 10 * s[i] / 1e9;
  bench_model m;
  cr_assert_eq(bench_fit_model(s, t, NULL, n, BENCH_FIT_TOL, &m), 0);
  cr_assert_eq(m.nseg, 2, "%zu ranges, want 2", m.nseg);
  cr_assert_eq(m.seg[1].first, 8);
  cr_assert_eq(m.seg[1].last, 9);
}

/* One point 60% off the line: a break when it was measured tightly, none
 * when its own repetitions spread that much (noise is not a switch). */
Test(fit, a_noisy_outlier_is_not_a_switch) {
  double s[12], t[12], tight[12] = {0}, loose[12] = {0};
  size_t n = doubling(s, 12), odd = 6;
  for (size_t i = 0; i < n; i++) t[i] = 1e-6 + s[i] / 2e9;
  t[odd] *= 1.6;
  loose[odd] = 0.7;
  bench_model m;
  cr_assert_eq(bench_fit_model(s, t, tight, n, BENCH_FIT_TOL, &m), 0);
  cr_assert_gt(m.nseg, 1, "a tight outlier must break the range");
  cr_assert_eq(bench_fit_model(s, t, loose, n, BENCH_FIT_TOL, &m), 0);
  cr_assert_eq(m.nseg, 1, "%zu ranges with a noisy outlier, want 1", m.nseg);
  double bad[12] = {0};
  bad[3] = -1;
  cr_assert_eq(bench_fit_model(s, t, bad, n, BENCH_FIT_TOL, &m), -1,
               "negative noise");
}

Test(fit, flat_times_have_no_bandwidth) {
  double s[5], t[5] = {2e-6, 2e-6, 2e-6, 2e-6, 2e-6};
  size_t n = doubling(s, 5);
  bench_model m;
  cr_assert_eq(bench_fit_model(s, t, NULL, n, BENCH_FIT_TOL, &m), 0);
  cr_assert_eq(m.nseg, 1);
  assert_close(m.seg[0].mu, 2e-6, 1e-12, "mu");
  cr_assert_eq(bench_line_bw(&m.seg[0]), 0.0, "B %g, want 0 (undetermined)",
               bench_line_bw(&m.seg[0]));
  cr_assert_eq(m.seg[0].r2, 1.0);
}

Test(fit, refuses_bad_input) {
  double s[3] = {8, 16, 32}, t[3] = {1e-6, 2e-6, 3e-6};
  bench_model m;
  bench_line l;
  cr_assert_eq(bench_fit_model(s, t, NULL, 0, BENCH_FIT_TOL, &m), -1,
               "no points");
  cr_assert_eq(bench_fit_line(s, t, 2, 1, &l), -1, "reversed range");
  double unsorted[3] = {16, 8, 32};
  cr_assert_eq(bench_fit_model(unsorted, t, NULL, 3, BENCH_FIT_TOL, &m), -1,
               "sizes not ascending");
  double zero[3] = {1e-6, 0, 3e-6};
  cr_assert_eq(bench_fit_model(s, zero, NULL, 3, BENCH_FIT_TOL, &m), -1,
               "T = 0");
  double nan_t[3] = {1e-6, NAN, 3e-6};
  cr_assert_eq(bench_fit_line(s, nan_t, 0, 2, &l), -1, "T = NaN");
}

Test(fit, median_and_quartiles) {
  double odd[5] = {5, 1, 4, 2, 3};
  bench_stat st;
  cr_assert_eq(bench_stat_of(odd, 5, &st), 0);
  cr_assert_eq(st.median, 3.0);
  cr_assert_eq(st.q1, 2.0);
  cr_assert_eq(st.q3, 4.0);
  cr_assert_eq(st.min, 1.0);
  cr_assert_eq(st.max, 5.0);
  cr_assert_eq(st.n, 5u);
  double even[4] = {4, 1, 3, 2};
  cr_assert_eq(bench_stat_of(even, 4, &st), 0);
  cr_assert_eq(st.median, 2.5);
  cr_assert_eq(st.q1, 1.75, "q1 %g", st.q1);
  cr_assert_eq(st.q3, 3.25, "q3 %g", st.q3);
  double one = 7;
  cr_assert_eq(bench_stat_of(&one, 1, &st), 0);
  cr_assert_eq(st.median, 7.0);
  cr_assert_eq(st.q1, 7.0);
  cr_assert_eq(bench_stat_of(&one, 0, &st), -1);
}
