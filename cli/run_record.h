/* run_record.h -- the inside of a run_records, for the two files that
 * share its results table: run_record.c fills it as jobs finish and
 * writes it out; run_best.c reads it for the --best summary.
 *
 * The columns, in order: "job", one per axis (source), the NTAIL fixed
 * ones (exit, signal, start, runtime, host), then the metrics in the order
 * they were first seen. A row is one job's setting: a re-run of the same
 * values replaces it. */
#ifndef PARC_CLI_RUN_RECORD_H
#define PARC_CLI_RUN_RECORD_H

#include <string.h>

#include "run.h"

#define NTAIL 5u /* the fixed columns between the axes and the metrics */

typedef struct row {
  char *key;    /* the job's values joined by \x1f */
  char **cell;  /* by column; NULL: empty */
  size_t ncell;
} row;

struct run_records {
  const run_inputs *in;
  int joblog_fd;         /* -1: no job log */
  int joblog_new;        /* the header is still to be written */
  uint64_t *done;        /* resume: open-addressing set of command hashes */
  size_t done_cap, done_n;
  char *dir;             /* --results DIR, or NULL */
  char **col;            /* column names */
  size_t ncol;
  size_t first_metric;   /* columns before this are fixed */
  row *rows;
  size_t nrows;
  int csv_stale;         /* the file must be rewritten whole */
  char host[256];
};

/* The index of column `name`, or -1. */
static inline int find_col(const run_records *r, const char *name) {
  for (size_t i = 0; i < r->ncol; i++)
    if (strcmp(r->col[i], name) == 0) return (int)i;
  return -1;
}

#endif
