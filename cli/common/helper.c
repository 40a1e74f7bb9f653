/* helper.c -- the helper programs, and the words for a libparc error.
 *
 * Where the parc command's helper programs are (parc-mpi-pingpong for
 * `parc bench`, parc-run-mpi for `parc run` under mpirun): next to the
 * parc binary (a build tree), in libexec/parc relative to it (an install,
 * wherever it was moved), or in the libexec directory configured at build
 * time. And the words for a libparc error, with the OS reason behind a
 * PARC_ESYS. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "parc.h"

int cli_find_helper(const char *name, char *buf, size_t cap) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  char *slash = n > 0 ? (self[n] = '\0', strrchr(self, '/')) : NULL;
  if (slash != NULL) {
    *slash = '\0';
    if (snprintf(buf, cap, "%s/%s", self, name) < (int)cap &&
        access(buf, X_OK) == 0)
      return 0;
    if (snprintf(buf, cap, "%s/%s/%s", self, PARC_BIN_TO_LIBEXEC, name) <
            (int)cap &&
        access(buf, X_OK) == 0)
      return 0;
  }
  snprintf(buf, cap, "%s/%s", PARC_LIBEXECDIR, name);
  return access(buf, X_OK) == 0 ? 0 : -1;
}

const char *cli_strerror(int rc) {
  static _Thread_local parc_sys_error e;
  if (rc != PARC_ESYS)
    return parc_strerror(rc);
  parc_last_sys_error(&e);
  return e.message[0] ? e.message : parc_strerror(rc);
}
