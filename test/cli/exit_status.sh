#!/usr/bin/env bash
# parc's exit status: 0 when every job succeeded, else the number of failed
# jobs, at most 101. A command that cannot be started is exit 127 with one
# line on stderr, and counts as a failure. --dry-run runs nothing.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1

run_parc true ::: 1 2 3
check_rc "every job succeeded" 0

run_parc --shell 'exit {}' ::: 0 1 0 3 7
check_rc "three of five jobs failed" 3

run_parc --shell 'kill -KILL $$' ::: 1
check_rc "a job killed by a signal is a failure" 1

run_parc -j 4 false ::: $(seq 105)
check_rc "105 failed jobs: capped at 101" 101

run_parc -j 4 --shell 'exit 1' ::: $(seq 101)
check_rc "101 failed jobs" 101

run_parc -j 4 --shell '[ {} -gt 100 ]' ::: $(seq 200)
check_rc "100 failed jobs of 200" 100

# A command that does not exist: exit 127 per job, one stderr line per job
# naming the command, each job a failure.
run_parc --quiet --joblog jl nosuchcmd-parc-test ::: 1 2 3
check_rc "missing command in three jobs" 3
check_eq "missing command: one stderr line per job" 3 "$(count_lines "$ERR_FILE")"
check_eq "missing command: each line names the command" 3 "$(grep -c nosuchcmd-parc-test "$ERR_FILE")"
check_eq "missing command: joblog Exitval 127" "127 127 127" \
  "$(awk -F'\t' 'NR > 1 { print $7 }' jl | tr '\n' ' ' | sed 's/ $//')"
check_eq "missing command: nothing on stdout" "" "$OUT"

run_parc --quiet --results R ./not-here ::: 1
check_rc "missing command by path" 1
check_eq "missing command: results.csv exit 127" 127 "$(csv_field R/results.csv job 1 exit)"

touch not-exec && chmod 644 not-exec
run_parc --quiet ./not-exec ::: 1
check_rc "a file that cannot be executed fails the job" 1

# --dry-run prints the command lines and runs nothing.
run_parc --dry-run -k touch 'm-{}' ::: a b
check_rc "--dry-run" 0
words=$(printf '%s\n' "$OUT" | while IFS= read -r c; do eval "set -- $c"; echo "$*"; done)
check_eq "--dry-run prints one command line per job" "$(lines 'touch m-a' 'touch m-b')" "$words"
check_absent "--dry-run ran nothing (a)" m-a
check_absent "--dry-run ran nothing (b)" m-b

run_parc --dry-run sh "$LIB_DIR/../../../nonexistent-script" ::: 'x y' "q'r"
cmds=$OUT
check_eq "--dry-run with values to quote: two lines" 2 "$(printf '%s\n' "$cmds" | wc -l | tr -d ' ')"
replay=$(printf '%s\n' "$cmds" | while IFS= read -r c; do
  eval "set -- $c"; shift 2; printf '[%s]' "$@"; echo; done | sort)
check_eq "--dry-run lines quote values as a shell reads them" "$(lines "[q'r]" '[x y]')" "$replay"

run_parc --dry-run --shell 'touch m-{}; exit 1' ::: c
check_rc "--dry-run --shell" 0
check_absent "--dry-run --shell ran nothing" m-c
check_contains "--dry-run --shell prints the shell command" "touch m-" "$OUT"

done_testing
