/* cli.h -- the subcommands of the parc command, one file each. Each takes
 * the arguments after its name and returns the process exit status. */
#ifndef PARC_CLI_H
#define PARC_CLI_H

int parc_cmd_run(int argc, char **argv);
int parc_cmd_probe(int argc, char **argv);
int parc_cmd_plan(int argc, char **argv);
int parc_cmd_bench(int argc, char **argv);

#include <stddef.h>

/* Where the helper programs are installed; CMake sets both. */
#ifndef PARC_LIBEXECDIR
#define PARC_LIBEXECDIR "/usr/local/libexec/parc"
#endif
#ifndef PARC_BIN_TO_LIBEXEC
#define PARC_BIN_TO_LIBEXEC "../libexec/parc"
#endif

/* The path of helper program `name` (see helper.c) into buf: 0, or -1 if
 * there is none. */
int parc_find_helper(const char *name, char *buf, size_t cap);

/* What libparc error rc means, for a message: for PARC_ESYS the reason
 * this thread's last one had (parc_last_sys_error: "fork: Resource
 * temporarily unavailable"), else parc_strerror(rc). The text lives until
 * this thread's next call. */
const char *cli_strerror(int rc);

#endif
