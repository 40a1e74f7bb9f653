/* main.c -- the parc command: the subcommands, one folder each (run/,
 * probe/, plan/, bench/), and what they share (common/). */
#include <stdio.h>
#include <string.h>

#include "common/cli.h"
#include "parc.h"
#include "run/run.h"
#include "run/run_memory.h"

static const char USAGE[] =
    "usage: parc COMMAND [ARGS...]\n"
    "\n"
    "  run     run a command over a parameter grid on every core\n"
    "          (parc run --help)\n"
    "  probe   this machine: topology, and latencies beside the classic table\n"
    "  plan    cores for a deadline, cost, Amdahl and Gustafson\n"
    "  bench   start-up, dispatch, latency and bandwidth; T(s) = mu + s/B\n"
    "\n"
    "  parc --version prints the version.\n";

int main(int argc, char **argv) {
  cli_std_fds_open();
  if (argc < 2) {
    fputs(USAGE, stderr);
    return CLI_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  /* parc run --memory's shim (run/run_memory.c): the limit, then the job */
  if (strcmp(cmd, "__memory") == 0)
    return run_memory_shim(argc, argv);
  if (strcmp(cmd, "run") == 0) {
    run_launch_mpi(argc, argv); /* returns unless under mpirun */
    return cmd_run(argc - 2, argv + 2);
  }
  if (strcmp(cmd, "probe") == 0)
    return cmd_probe(argc - 2, argv + 2);
  if (strcmp(cmd, "plan") == 0)
    return cmd_plan(argc - 2, argv + 2);
  if (strcmp(cmd, "bench") == 0)
    return cmd_bench(argc - 2, argv + 2);
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
    fputs(USAGE, stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0) {
    printf("parc %d.%d.%d\n", PARC_VERSION_MAJOR, PARC_VERSION_MINOR,
           PARC_VERSION_PATCH);
    return 0;
  }
  fprintf(stderr, "parc: unknown command '%s' (see 'parc --help')\n", cmd);
  return CLI_EXIT_USAGE;
}
