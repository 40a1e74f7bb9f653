#!/usr/bin/env bash
# Values with spaces, quotes, ;, $(), backticks, globs and newlines arrive
# as one literal argument each and run nothing, with or without a shell
# (-0, so that the value with a newline stays one value: without it a :::
# value is split at newlines, as in GNU; -q: printf's format is a word
# with shell syntax, which would make the command a shell line).
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1
nl=$'line1\nline2'
values=('a b' "it's" 'say "hi"' 'x;y' '$(touch pwned1)' '`touch pwned2`'
        '; touch pwned3' '*' '~' "$nl" '-n' '' '  lead' 'back\slash' '$HOME')

run_parc -q -0 -k printf '[%s]\n' ::: "${values[@]}"
check_rc "awkward values run" 0
expected=$(for v in "${values[@]}"; do printf '[%s]\n' "$v"; done)
check_eq "each value arrives as one literal argument (appended)" "$expected" "$OUT"

run_parc -q -0 -k printf '[%s]\n' '{}' ::: "${values[@]}"
check_eq "each value arrives as one literal argument ({})" "$expected" "$OUT"

run_parc -q -0 -k printf '[%s]\n' 'v={1}' ::: "${values[@]}"
expected=$(for v in "${values[@]}"; do printf '[v=%s]\n' "$v"; done)
check_eq "a value inside a word stays literal" "$expected" "$OUT"

check_absent "\$(touch ...) in a value did not run" "$T/pwned1"
check_absent "backticks in a value did not run" "$T/pwned2"
check_absent "; touch in a value did not run" "$T/pwned3"

# A ::: value is read as GNU parallel reads it, through the record
# separator: a newline in it makes two values; with -0 it is one.
run_parc -q -0 -k printf '[%s]\n' ::: "$nl"
check_eq "-0: a newline inside a ::: value stays in it" "[$nl]" "$OUT"
run_parc -q -k printf '[%s]\n' ::: "$nl" $'end\n'
check_eq "a ::: value holding the separator is several values (GNU)" \
  "$(lines '[line1]' '[line2]' '[end]' '[]')" "$OUT"
run_parc -q -k -d , printf '[%s]\n' ::: 'a,b' c
check_eq "-d , splits ::: values at it (GNU)" "$(lines '[a]' '[b]' '[c]')" "$OUT"

# Template words: a command whose words hold shell syntax is a shell line,
# as GNU parallel runs every command (the words joined as written, the
# values quoted); plain words, or any with -q, run without a shell.
run_parc -k echo a '$HOME' 'x;echo' y ::: z
check_eq "words with shell syntax: a shell line, as in GNU parallel" \
  "$(lines "a $HOME x" 'y z')" "$OUT"
run_parc -q -k echo a '$HOME' 'x;y' ::: z
check_eq "-q: the words passed as they are, no shell" "a \$HOME x;y z" "$OUT"
run_parc -k echo '"a  b"' "'c'" 'f[12]' ::: x
check_eq "quotes and globs read by sh, as in GNU parallel" "a  b c f[12] x" "$OUT"
touch "$T/f1" "$T/f2"
run_parc -k echo 'f[12]' ::: x
check_eq "a glob matching files: expanded by sh, as in GNU" "f1 f2 x" "$OUT"
run_parc -k echo '{}' '|' tr a-z A-Z ::: 'x;touch pwned4' '$(touch pwned4)'
check_eq "an operator word: a shell line, as in GNU parallel" \
  "$(printf '%s\n' 'X;TOUCH PWNED4' '$(TOUCH PWNED4)')" "$OUT"
run_parc -k 'echo {} && echo done' ::: '`touch pwned4`'
check_eq "one word with blanks: a shell line, as in GNU parallel" \
  "$(printf '%s\n' '`touch pwned4`' done)" "$OUT"
check_absent "values in a shell line stayed literal" "$T/pwned4"
run_parc -k 'echo a;echo' b ::: x
check_eq "a first word with blanks among others: a shell line (GNU)" \
  "$(lines a 'b x')" "$OUT"
run_parc -k echo {} '>{}.out' ::: r1 'r;2'
check_eq "a redirection with its file: a shell line (GNU)" \
  "$(lines r1 'r;2')" "$(cat "$T/r1.out" "$T/r;2.out")"
run_parc -k cat {} '2>/dev/null' ::: no-such-file
check_eq "2>FILE: a shell line, the job's stderr redirected (GNU)" "" "$ERR"
run_parc -k V=7 printenv V ::: x
check_eq "NAME=value first: the job's environment, as in GNU parallel" 7 "$OUT"
run_parc -k echo '' x ::: y
check_eq "an empty word: dropped by sh, as in GNU parallel" "x y" "$OUT"
run_parc -k echo x ::: y
check_eq "plain words (no shell): as they are" "x y" "$OUT"
run_parc exit {} ::: 0 3
check_rc "a shell builtin first (exit): a shell line, one job failed (GNU)" 1
run_parc -k cd {} '&&' pwd ::: /
check_eq "cd: a shell line (GNU)" / "$OUT"

# Values from a :::: file (one per line) are literal as well.
printf '%s\n' 'a b' '$(touch pwned5)' "it's" >"$T/vals"
run_parc -q -k printf '[%s]\n' :::: "$T/vals"
check_eq ":::: file values arrive literally" "$(lines '[a b]' '[$(touch pwned5)]' "[it's]")" "$OUT"
check_absent "\$(touch ...) from a :::: file did not run" "$T/pwned5"

# --grid values too.
run_parc -q -k --grid 'v=a b,$(touch pwned6)' printf '[%s]\n' '{v}'
check_eq "--grid values arrive literally" "$(lines '[a b]' '[$(touch pwned6)]')" "$OUT"
check_absent "\$(touch ...) from --grid did not run" "$T/pwned6"

done_testing
