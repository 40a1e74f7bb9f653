/* probe.c -- `parc probe`: the machine (hwloc) and a latency table measured
 * on it, beside the classic figures every programmer should know (seed
 * 002's table, from Jeff Dean and Peter Norvig).
 *
 * This file holds the options, the rows and their published figures, the
 * order they are measured in (caches first, while nothing else has run;
 * the file last) and the two outputs: a table for people, one JSON object
 * for scripts. How a row is timed is in probe_measure.c; what each row
 * does is in probe_mem.c, probe_os.c and probe_file.c.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cli.h"
#include "parc.h"
#include "probe.h"

#define MIB ((uint64_t)1 << 20)

static const char USAGE[] =
    "usage: parc probe [--quick] [--json] [--dir DIR]\n"
    "\n"
    "Shows this machine (packages, cores, hardware threads, caches and who\n"
    "shares them, memory, NUMA nodes), then measures latencies on it -- cache\n"
    "and memory references, a mutex, snappy, thread/fork/spawn, context "
    "switch,\n"
    "a cache line between two cores, reading memory and a file, loopback TCP "
    "--\n"
    "beside the classic published figure for each, with the ratio.\n"
    "\n"
    "      --quick     smaller working sets and fewer samples (under 5 s)\n"
    "      --json      one JSON object on stdout instead of the tables\n"
    "      --dir DIR   where the file rows put their temporary file\n"
    "                  (default: $TMPDIR, else the current directory)\n"
    "  -h, --help      this help\n"
    "\n"
    "Exit: 0, 1 if a row failed (its note says why), 2 for bad usage.\n"
    "See docs/parc-probe.md.\n";

typedef struct probe_opts {
  int quick, json;
  const char *dir;
} probe_opts;

enum { O_QUICK = 256, O_JSON, O_DIR };

static const struct option OPTIONS[] = {{"quick", no_argument, NULL, O_QUICK},
                                        {"json", no_argument, NULL, O_JSON},
                                        {"dir", required_argument, NULL, O_DIR},
                                        {"help", no_argument, NULL, 'h'},
                                        {NULL, 0, NULL, 0}};

static const cli_cmd CMD = {"probe", CLI_EXIT_USAGE, "+:h", OPTIONS};

static int apply_option(void *ctx, int id, const char *v, cli_err err) {
  probe_opts *o = ctx;
  (void)err;
  switch (id) {
  case O_QUICK: o->quick = 1; break;
  case O_JSON: o->json = 1; break;
  case O_DIR: o->dir = v; break;
  case 'h': return 1;
  }
  return 0;
}

/* 0 to go on, 1 for --help done, or CLI_EXIT_USAGE after the message. */
static int parse_args(probe_opts *o, int argc, char **argv) {
  const char *tmp = getenv("TMPDIR");
  cli_err err = "";
  o->dir = tmp && *tmp ? tmp : ".";
  int rc = cli_parse_options(&CMD, argc, argv, apply_option, o, err);
  if (rc != 0)
    return rc == 1 ? 1 : cli_usage_error(&CMD, "%s", err);
  struct stat st;
  if (stat(o->dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
      access(o->dir, W_OK | X_OK) != 0)
    return cli_usage_error(&CMD, "'%s' is not a writable directory (--dir)",
                           o->dir);
  return 0;
}

/* ------------------------------------------------------------ rows */

static const probe_row ROWS[ROW_COUNT] = {
    [ROW_L1] = {"l1", "L1 cache reference", 0.5, "L1 cache reference"},
    [ROW_L2] = {"l2", "L2 cache reference", 7, "L2 cache reference"},
    [ROW_L3] = {"l3", "L3 cache reference", 0, NULL},
    [ROW_MEMORY] = {"memory", "Main memory reference", 100,
                    "Main memory reference"},
    [ROW_MUTEX] = {"mutex", "Mutex lock/unlock", 25, "Lock/unlock mutex"},
    [ROW_COMPRESS] = {"compress_1k", "Compress 1 KiB with snappy", 3000,
                      "Compress 1K bytes with Zippy"},
    [ROW_THREAD] = {"thread", "Thread create+join", 0, NULL},
    [ROW_FORK] = {"fork", "fork+wait", 0, NULL},
    [ROW_SPAWN] = {"spawn", "posix_spawn+wait", 0, NULL},
    [ROW_CTXSW] = {"context_switch", "Context switch (pipe ping-pong)", 3000,
                   "Context switch (3,000-30,000 ns)"},
    [ROW_CACHELINE] = {"cacheline", "Cache-line round trip, 2 cores", 0, NULL},
    [ROW_MEMREAD] = {"memory_read_1m", "Read 1 MiB sequentially, memory",
                     250000, "Read 1 MB sequentially from memory"},
    [ROW_FILE4K] = {"file_read_4k", "Read 4 KiB at random, file", 150000,
                    "Read 4K randomly from SSD"},
    [ROW_FILE1M] = {"file_read_1m", "Read 1 MiB sequentially, file", 1000000,
                    "Read 1 MB sequentially from SSD"},
    [ROW_TCP] = {"tcp_loopback", "Loopback TCP round trip", 500000,
                 "Round trip within same datacenter"},
};

static void make_plan(probe_plan *plan, const probe_opts *o,
                      const probe_topo *topo) {
  plan->quick = o->quick;
  plan->dir = o->dir;
  plan->batch_ns = o->quick ? 0.5e6 : 2e6;
  plan->budget_ns = o->quick ? 0.15e9 : 1e9;
  plan->min_samples = 5;
  plan->max_samples = 1000;
  plan->file_bytes = (o->quick ? 16 : 128) * MIB;
  /* main memory: four times L3 at least, so nearly every load misses it */
  uint64_t mem = 4 * topo->l3;
  if (mem < 64 * MIB)
    mem = 64 * MIB;
  uint64_t ram = topo->memory > topo->memory_kernel ? topo->memory
                                                    : topo->memory_kernel;
  if (ram && mem > ram / 4)
    mem = ram / 4;
  if (mem > 1024 * MIB)
    mem = 1024 * MIB; /* building the chase takes long */
  plan->mem_bytes = mem / MIB * MIB;
}

/* ------------------------------------------------------------ output */

void probe_json_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c == '\n')
      fputs("\\n", stdout);
    else if (c < 0x20)
      printf("\\u%04x", c);
    else
      putchar(c);
  }
  putchar('"');
}

static void fmt_ns(char *b, size_t n, double ns) {
  if (ns < 10)
    snprintf(b, n, "%.2f ns", ns);
  else if (ns < 1e3)
    snprintf(b, n, "%.1f ns", ns);
  else if (ns < 1e6)
    snprintf(b, n, "%.1f us", ns / 1e3);
  else if (ns < 1e9)
    snprintf(b, n, "%.2f ms", ns / 1e6);
  else
    snprintf(b, n, "%.2f s", ns / 1e9);
}

static int measured(const probe_row *r) {
  return !r->skipped && !r->failed && r->st.samples > 0;
}

static void print_row(const probe_row *r) {
  char m[32] = "-", sp[16] = "", pub[32] = "-", ratio[32] = "-";
  if (measured(r)) {
    fmt_ns(m, sizeof m, r->st.median);
    snprintf(sp, sizeof sp, "%.0f%%",
             100 * (r->st.p75 - r->st.p25) / r->st.median);
  } else if (r->failed) {
    snprintf(m, sizeof m, "failed");
  }
  if (r->published_ns > 0) {
    fmt_ns(pub, sizeof pub, r->published_ns);
    double q = r->st.median / r->published_ns;
    if (measured(r))
      snprintf(ratio, sizeof ratio, q < 1 ? "%.2gx" : "%.3gx", q);
  }
  printf("%-32s %10s %6s %10s %8s  %s\n", r->name, m, sp, pub, ratio, r->note);
}

static void print_text(const probe_topo *topo, const probe_row *rows,
                       const probe_plan *plan, double clock_ns) {
  probe_topo_print(topo);
  printf("\nLatencies%s\n", plan->quick ? " (--quick)" : "");
  printf("%-32s %10s %6s %10s %8s  %s\n", "", "measured", "spread", "published",
         "ratio", "note");
  for (int i = 0; i < ROW_COUNT; i++) print_row(&rows[i]);
  printf("\nMethod: a sample is a batch of n operations between two "
         "CLOCK_MONOTONIC reads\n(one read costs %.0f ns), divided by n. "
         "n doubles until a batch lasts %.1f ms;\nthose batches and one more "
         "are warm-up. Then samples for %.2f s (at least %u,\nat most %u). "
         "measured = median; spread = interquartile range / median.\n"
         "ratio = measured / published: above 1 this machine is slower than "
         "the classic\nfigure (seed 002: Jeff Dean, Peter Norvig et al.); "
         "'-': no published figure.\n",
         clock_ns, plan->batch_ns / 1e6, plan->budget_ns / 1e9,
         plan->min_samples, plan->max_samples);
}

/* ns with 4 decimals; a ratio (below 1e-3 at times) with 6 digits. */
static void json_num(const char *key, double v, int ok, const char *sep) {
  if (ok)
    printf(strcmp(key, "ratio") ? "\"%s\": %.4f%s" : "\"%s\": %.6g%s", key, v,
           sep);
  else
    printf("\"%s\": null%s", key, sep);
}

static void json_row(const probe_row *r, int last) {
  int ok = measured(r), pub = r->published_ns > 0;
  printf("    {\"key\": \"%s\", \"name\": ", r->key);
  probe_json_str(r->name);
  printf(", \"status\": \"%s\", ", ok           ? "ok"
                                   : r->skipped ? "skipped"
                                                : "failed");
  json_num("measured_ns", r->st.median, ok, ", ");
  json_num("published_ns", r->published_ns, pub, ", ");
  json_num("ratio", ok && pub ? r->st.median / r->published_ns : 0, ok && pub,
           ", ");
  fputs("\"published_as\": ", stdout);
  if (pub)
    probe_json_str(r->published);
  else
    fputs("null", stdout);
  fputs(", ", stdout);
  json_num("p25_ns", r->st.p25, ok, ", ");
  json_num("p75_ns", r->st.p75, ok, ", ");
  json_num("min_ns", r->st.min, ok, ", ");
  json_num("max_ns", r->st.max, ok, ", ");
  printf("\"samples\": %u, \"per_sample\": %llu, \"note\": ", r->st.samples,
         (unsigned long long)r->st.per_sample);
  probe_json_str(r->note);
  printf("}%s\n", last ? "" : ",");
}

static void print_json(const probe_topo *topo, const probe_row *rows,
                       const probe_plan *plan, double clock_ns,
                       double elapsed) {
  printf("{\n  \"parc_version\": \"%d.%d.%d\",\n  \"quick\": %s,\n",
         PARC_VERSION_MAJOR, PARC_VERSION_MINOR, PARC_VERSION_PATCH,
         plan->quick ? "true" : "false");
  printf("  \"topology\": ");
  probe_topo_json(topo, "  ");
  printf(",\n  \"method\": {\"clock\": \"CLOCK_MONOTONIC\", "
         "\"clock_read_ns\": %.1f, \"batch_ns\": %.0f, \"budget_s\": %.2f, "
         "\"min_samples\": %u, \"max_samples\": %u, \"warmup\": "
         "\"calibration batches and one more\", \"statistic\": \"median\", "
         "\"spread\": \"p25_ns..p75_ns\"},\n",
         clock_ns, plan->batch_ns, plan->budget_ns / 1e9, plan->min_samples,
         plan->max_samples);
  printf("  \"rows\": [\n");
  for (int i = 0; i < ROW_COUNT; i++) json_row(&rows[i], i == ROW_COUNT - 1);
  printf("  ],\n  \"elapsed_s\": %.2f\n}\n", elapsed);
}

/* ------------------------------------------------------------ main */

static void progress(int on, const char *what) {
  if (!on)
    return;
  if (what)
    fprintf(stderr, "\r\033[Kparc probe: measuring %s...", what);
  else
    fputs("\r\033[K", stderr);
}

int cmd_probe(int argc, char **argv) {
  probe_opts o = {0};
  int rc = parse_args(&o, argc, argv);
  if (rc == 1)
    return fputs(USAGE, stdout), 0;
  if (rc != 0)
    return rc;

  double t0 = probe_now_ns();
  probe_topo topo;
  if (probe_topo_load(&topo) != 0) {
    perror("parc probe: loading the hwloc topology");
    return 1;
  }
  probe_plan plan;
  make_plan(&plan, &o, &topo);
  probe_row rows[ROW_COUNT];
  memcpy(rows, ROWS, sizeof rows);
  void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);
  int tty = !o.json && isatty(STDERR_FILENO);

  double clock_ns = probe_clock_cost_ns();
  progress(tty, "caches and memory");
  probe_mem_rows(rows, &topo, &plan);
  progress(tty, "threads, processes, a second core, TCP");
  probe_os_rows(rows, &topo, &plan);
  progress(tty, "a file");
  probe_file_rows(rows, &plan);
  progress(tty, NULL);
  signal(SIGPIPE, old_pipe);

  double elapsed = (probe_now_ns() - t0) / 1e9;
  if (o.json)
    print_json(&topo, rows, &plan, clock_ns, elapsed);
  else
    print_text(&topo, rows, &plan, clock_ns);
  probe_topo_free(&topo);
  rc = 0;
  for (int i = 0; i < ROW_COUNT; i++) rc |= rows[i].failed;
  if (fflush(stdout) != 0)
    rc = 1;
  return rc;
}
