#!/usr/bin/env bash
# --resume repairs what a crash (or an older parc, or a hand) left behind,
# so that every job ends with exactly one job log line, one results.csv
# row and its output files: a logged job with no row, or no output files,
# runs again and its stale line is dropped from the log; a partial last
# row of results.csv and a partial last line of the job log are cut off; a
# leftover results.csv.tmp or job log .tmp is removed at the next start.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1
mkdir m

# Each run of job x appends a line to m/x: how often it ran.
job='echo run >> m/{x}; echo acc=0.{x}'
sweep() { run_parc -j 2 --joblog jl --results R "$@" --grid x=1:4 --shell "$job"; }
ran() { for x in "$@"; do count_lines "m/$x"; done | tr '\n' ' ' | sed 's/ $//'; }
log_jobs() { awk -F'\t' 'NR > 1 { print $1 }' jl | sort -n | tr '\n' ' ' | sed 's/ $//'; }
csv_jobs() { awk -F, 'NR > 1 { print $1 }' R/results.csv | sort -n | tr '\n' ' ' | sed 's/ $//'; }
well_formed_log() { awk -F'\t' 'NF != 9 { bad = 1 } END { exit bad }' jl; }

sweep
check_rc "first sweep" 0

# A logged job with no row (what a SIGKILL between the job log line and
# the row left when the line came first): it runs again, with one line and
# one row.
grep -v '^2,' R/results.csv >R/c && mv R/c R/results.csv
sweep --resume
check_rc "resume: a logged job has no row" 0
check_eq "the job without its row ran again, the others did not" "1 2 1 1" "$(ran 1 2 3 4)"
check_eq "one job log line per job (the stale one dropped)" "1 2 3 4" "$(log_jobs)"
check_eq "one row per job" "1 2 3 4" "$(csv_jobs)"
check_eq "the re-run job's row has its metric" 0.2 "$(csv_field R/results.csv x 2 acc)"

# A logged job without its output files.
rm 'R/x=3/stdout'
sweep --dry-run --resume
check_eq "--dry-run --resume lists the job it would repair, and only it" \
  "echo run >> m/3; echo acc=0.3" "$OUT"
sweep --resume-failed
check_rc "resume-failed: a logged job has no output files" 0
check_eq "the job without its output ran again" "1 2 2 1" "$(ran 1 2 3 4)"
check_eq "its output files are back" "acc=0.3" "$(cat 'R/x=3/stdout')"
check_eq "one job log line per job" "1 2 3 4" "$(log_jobs)"
check_eq "one row per job" "1 2 3 4" "$(csv_jobs)"
check_absent "the job log was rewritten through a temporary file, gone" jl.tmp

# What a SIGKILL in the middle of writes leaves: a partial last row, a
# partial last job log line (here the start of job 4's, which must not
# count as done), a results.csv.tmp being written, a job log .tmp.
grep -v '^4,' R/results.csv >R/c && mv R/c R/results.csv
printf '4,4,0,0,17000' >>R/results.csv
awk -F'\t' '$1 != 4' jl >jl.c && mv jl.c jl
printf '4\t:\t1700000000.000\t     0.010\t0\t0\t0\t0\techo r' >>jl
echo 'job,x' >R/results.csv.tmp
echo 'Seq' >jl.tmp
sweep --resume
check_rc "resume after a crash in the middle of writes" 0
check_eq "the job whose line was cut ran again" "1 2 2 2" "$(ran 1 2 3 4)"
check_absent "no results.csv.tmp left" R/results.csv.tmp
check_absent "no job log .tmp left" jl.tmp
check_true "every job log line is whole (9 fields)" well_formed_log
check_eq "one job log line per job" "1 2 3 4" "$(log_jobs)"
check_eq "one row per job (the partial one dropped)" "1 2 3 4" "$(csv_jobs)"
check_eq "results.csv has the header and 4 rows" 5 "$(count_lines R/results.csv)"
check_eq "no row was glued to a partial one" "" \
  "$(awk -F, 'NR > 1 && NF != 8' R/results.csv)"

# A partial last line is cut off by any run that writes, not just --resume:
# the next line must not continue it.
printf '9\t:\t1700000000.000' >>jl
run_parc --joblog jl echo ::: more
check_rc "a run appending to a log with a partial last line" 0
check_true "every job log line is whole (9 fields)" well_formed_log

# --results added on resume: a job logged without its row or files (all
# of them) runs again; each still ends with one line.
rm -rf R m/*
run_parc --joblog jl2 --grid x=1:3 --shell "$job"
run_parc --joblog jl2 --results R --resume --grid x=1:3 --shell "$job"
check_rc "--results added on resume" 0
check_eq "every job ran again to fill the results directory" "2 2 2" "$(ran 1 2 3)"
check_eq "one job log line per job" "1 2 3" \
  "$(awk -F'\t' 'NR > 1 { print $1 }' jl2 | sort -n | tr '\n' ' ' | sed 's/ $//')"

# Without --results the job log alone says what is done (unchanged).
run_parc --joblog jl2 --resume --grid x=1:3 --shell "$job"
check_eq "without --results, logged jobs are done" "2 2 2" "$(ran 1 2 3)"

done_testing
