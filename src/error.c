/* error.c -- names and sentences for the PARC_E* codes (one X-macro list). */
#include "parc.h"

const char *parc_strerror(int err) {
  switch (err) {
  case 0: return "success";
#define PARC__ERR_TEXT(name, value, text) case PARC_##name: return text;
    PARC_ERRNO_MAP(PARC__ERR_TEXT)
#undef PARC__ERR_TEXT
  default: return "unknown error";
  }
}

const char *parc_err_name(int err) {
  switch (err) {
  case 0: return "OK";
#define PARC__ERR_NAME(name, value, text) case PARC_##name: return #name;
    PARC_ERRNO_MAP(PARC__ERR_NAME)
#undef PARC__ERR_NAME
  default: return "EUNKNOWN";
  }
}
