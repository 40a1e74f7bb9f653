#!/usr/bin/env bash
# stdin: one value per line when there is no other source, or with :::: -;
# jobs themselves always get /dev/null as stdin.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1

printf 'a\nb c\n$(touch pwned)\n' >in1
PARC_STDIN=in1 run_parc -q -k printf '[%s]\n'
check_rc "values from stdin" 0
check_eq "no source: one value per line of stdin" "$(lines '[a]' '[b c]' '[$(touch pwned)]')" "$OUT"
check_absent "stdin values are literal" pwned

PARC_STDIN=in1 run_parc -q -k printf '[%s]\n' :::: -
check_eq ":::: - reads stdin" "$(lines '[a]' '[b c]' '[$(touch pwned)]')" "$OUT"

printf 'x\ny\n' >in2
PARC_STDIN=in2 run_parc -k echo ::: 1 2 :::: -
check_eq ":::: - combined with a list" "$(lines '1 x' '1 y' '2 x' '2 y')" "$OUT"

printf 'p\nq\nr' >in3
PARC_STDIN=in3 run_parc -k echo
check_eq "last stdin line without a newline is a value" "$(lines p q r)" "$OUT"

: >empty
PARC_STDIN=empty run_parc echo should-not-run
check_eq "empty stdin: nothing runs" "" "$OUT"

# With a source given, stdin is not read as input.
PARC_STDIN=in2 run_parc -k echo ::: only
check_eq "::: given: stdin is not an input source" "only" "$OUT"
PARC_STDIN=in2 run_parc -k --grid g=1,2 echo '{g}'
check_eq "--grid given: stdin is not an input source" "$(lines 1 2)" "$OUT"

# Jobs get /dev/null as stdin, even when parc's stdin has data.
printf 'secret\n' >in4
PARC_STDIN=in4 run_parc -k --shell 'cat; echo end-{}' ::: a b
check_eq "a job reading stdin gets nothing" "$(lines end-a end-b)" "$OUT"
PARC_STDIN=in4 run_parc -k --shell 'readlink /proc/$$/fd/0' ::: a
check_eq "a job's stdin is /dev/null" "/dev/null" "$OUT"
PARC_STDIN=in4 run_parc -q -k sh -c 'readlink /proc/$$/fd/0' '{}' ::: a
check_eq "a job's stdin is /dev/null (without --shell)" "/dev/null" "$OUT"

# Jobs reading stdin while parc itself reads its input from stdin.
PARC_STDIN=in2 run_parc -k --shell 'cat; echo got-{}'
check_eq "jobs do not eat parc's stdin input" "$(lines got-x got-y)" "$OUT"

# A closed stdin (<&-) is an empty one, as GNU's: no descriptor parc
# opens takes its number (an eventfd read as stdin waited forever)
timeout -k 5 20 "$PARC" run --pipe cat <&- >closed.out 2>&1
check_rc_is() { check_eq "$1 (exit status)" "$2" "$3"; }
check_rc_is "--pipe with stdin closed: no job, no hang" 0 "$?"
timeout -k 5 20 "$PARC" run echo a <&- >closed.out 2>&1
check_rc_is "values from a closed stdin: none" 0 "$?"
check_eq "... nothing run, nothing said" "" "$(cat closed.out)"
timeout -k 5 20 "$PARC" run --results cr echo ::: a b 2>&- >closed.out
check_rc_is "stderr closed: the run goes on" 0 "$?"
check_eq "... its output where it belongs" "$(lines a b)" "$(sort closed.out)"

done_testing
