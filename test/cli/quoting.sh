#!/usr/bin/env bash
# Without --shell each template word is one argument after substitution:
# values with spaces, quotes, ;, $(), backticks, globs and newlines arrive
# literally and run nothing.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1
nl=$'line1\nline2'
values=('a b' "it's" 'say "hi"' 'x;y' '$(touch pwned1)' '`touch pwned2`'
        '; touch pwned3' '*' '~' "$nl" '-n' '' '  lead' 'back\slash' '$HOME')

run_parc -k printf '[%s]\n' ::: "${values[@]}"
check_rc "awkward values run" 0
expected=$(for v in "${values[@]}"; do printf '[%s]\n' "$v"; done)
check_eq "each value arrives as one literal argument (appended)" "$expected" "$OUT"

run_parc -k printf '[%s]\n' '{}' ::: "${values[@]}"
check_eq "each value arrives as one literal argument ({})" "$expected" "$OUT"

run_parc -k printf '[%s]\n' 'v={1}' ::: "${values[@]}"
expected=$(for v in "${values[@]}"; do printf '[v=%s]\n' "$v"; done)
check_eq "a value inside a word stays literal" "$expected" "$OUT"

check_absent "\$(touch ...) in a value did not run" "$T/pwned1"
check_absent "backticks in a value did not run" "$T/pwned2"
check_absent "; touch in a value did not run" "$T/pwned3"

# Template words are literal too, unless the command can only be a shell
# line (a word that is a shell operator, or one word with blanks): then it
# runs as GNU parallel runs every command, through sh, the values quoted.
run_parc -k echo a '$HOME' 'x;y' ::: z
check_eq "template words are passed literally, no shell" "a \$HOME x;y z" "$OUT"
run_parc -k echo '{}' '|' tr a-z A-Z ::: 'x;touch pwned4' '$(touch pwned4)'
check_eq "an operator word: a shell line, as in GNU parallel" \
  "$(printf '%s\n' 'X;TOUCH PWNED4' '$(TOUCH PWNED4)')" "$OUT"
run_parc -k 'echo {} && echo done' ::: '`touch pwned4`'
check_eq "one word with blanks: a shell line, as in GNU parallel" \
  "$(printf '%s\n' '`touch pwned4`' done)" "$OUT"
check_absent "values in a shell line stayed literal" "$T/pwned4"

# Values from a :::: file (one per line) are literal as well.
printf '%s\n' 'a b' '$(touch pwned5)' "it's" >"$T/vals"
run_parc -k printf '[%s]\n' :::: "$T/vals"
check_eq ":::: file values arrive literally" "$(lines '[a b]' '[$(touch pwned5)]' "[it's]")" "$OUT"
check_absent "\$(touch ...) from a :::: file did not run" "$T/pwned5"

# --grid values too.
run_parc -k --grid 'v=a b,$(touch pwned6)' printf '[%s]\n' '{v}'
check_eq "--grid values arrive literally" "$(lines '[a b]' '[$(touch pwned6)]')" "$OUT"
check_absent "\$(touch ...) from --grid did not run" "$T/pwned6"

done_testing
