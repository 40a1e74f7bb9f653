/* error.c -- names and sentences for the PARC_E* codes (one X-macro list),
 * and the reason behind the last PARC_ESYS of each thread. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "parc.h"
#include "sys/sys.h"

const char *parc_strerror(int err) {
  switch (err) {
  case 0: return "success";
#define PARC__ERR_TEXT(name, value, text)                                      \
  case PARC_##name: return text;
    PARC_ERRNO_MAP(PARC__ERR_TEXT)
#undef PARC__ERR_TEXT
  default: return "unknown error";
  }
}

const char *parc_err_name(int err) {
  switch (err) {
  case 0: return "OK";
#define PARC__ERR_NAME(name, value, text)                                      \
  case PARC_##name: return #name;
    PARC_ERRNO_MAP(PARC__ERR_NAME)
#undef PARC__ERR_NAME
  default: return "EUNKNOWN";
  }
}

/* The failure is kept as it happened (MPI's sentence must be asked of MPI
 * then); the message is written when asked for. */
static _Thread_local struct {
  const char *call;
  int code;
  int is_mpi;
  char mpi_text[200];
} last;

int parc__sys_fail(const char *call, int code) {
  last.call = call;
  last.code = code;
  last.is_mpi = 0;
  errno = code;
  return PARC_ESYS;
}

int parc__mpi_fail(const char *call, int code, const char *text) {
  last.call = call;
  last.code = code;
  last.is_mpi = 1;
  snprintf(last.mpi_text, sizeof last.mpi_text, "%s", text ? text : "");
  return PARC_ESYS;
}

void parc_last_sys_error(parc_sys_error *e) {
  if (!e)
    return;
  e->call = last.call;
  e->code = last.code;
  e->is_mpi = last.is_mpi;
  e->message[0] = '\0';
  if (!last.call)
    return;
  if (last.is_mpi) {
    snprintf(e->message, sizeof e->message, "%s: %s (MPI error %d)", last.call,
             last.mpi_text, last.code);
    return;
  }
  char buf[128];
  /* GNU strerror_r: returns the sentence, in buf or static */
  const char *why = strerror_r(last.code, buf, sizeof buf);
  snprintf(e->message, sizeof e->message, "%s: %s", last.call, why);
}
