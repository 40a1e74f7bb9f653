#!/usr/bin/env bash
# --shell: the command runs with sh -c (pipes, redirections, &&), and every
# substituted value is single-quoted so it can never inject shell syntax.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1

run_parc -k --shell 'echo {} | tr a-z A-Z' ::: abc def
check_rc "--shell pipe" 0
check_eq "--shell runs pipes" "$(lines ABC DEF)" "$OUT"

run_parc -k --shell 'echo {} > out_{}.txt && cat out_{}.txt' ::: x
check_eq "--shell runs redirections and &&" "x" "$OUT"
check_file "--shell redirection wrote its file" "$T/out_x.txt"

run_parc -k --shell false '||' echo fallback ::: v
check_eq "--shell joins the command words with spaces" "fallback v" "$OUT"

# -0: a newline inside a ::: value keeps it one value (GNU reads ::: values
# through the record separator)
nl=$'line1\nline2'
values=('a b' "it's" 'say "hi"' 'x;y' '$(touch pwned1)' '`touch pwned2`'
        '; touch pwned3' "'; touch pwned4; '" '" ; touch pwned5 ; "' '*' '~'
        "$nl" '&& touch pwned6' '| touch pwned7' '> pwned8' '$HOME' 'back\slash'
        '\' "''" '')
run_parc -0 -k --shell 'printf "[%s]\n" {}' ::: "${values[@]}"
check_rc "--shell with awkward values" 0
expected=$(for v in "${values[@]}"; do printf '[%s]\n' "$v"; done)
check_eq "--shell: each value is one quoted word" "$expected" "$OUT"

run_parc -0 -k --shell 'printf "[%s]\n" v={1}end' ::: "${values[@]}"
expected=$(for v in "${values[@]}"; do printf '[v=%send]\n' "$v"; done)
check_eq "--shell: a value inside a word stays literal" "$expected" "$OUT"

run_parc -0 -k --shell printf '"[%s]\n"' ::: "${values[@]}"
expected=$(for v in "${values[@]}"; do printf '[%s]\n' "$v"; done)
check_eq "--shell: appended values are quoted too" "$expected" "$OUT"

for i in 1 2 3 4 5 6 7 8; do
  check_absent "--shell: value did not inject pwned$i" "$T/pwned$i"
done

run_parc -k --shell 'printf "[%s]\n" {}' ::: 'a b' ::: "c'd"
check_eq "--shell: {} with two sources is two quoted words" "$(lines '[a b]' "[c'd]")" "$OUT"

run_parc -k --grid 'v=$(touch pwned9),a b' --shell 'printf "[%s]\n" {v}'
check_eq "--shell: {NAME} values are quoted" "$(lines '[$(touch pwned9)]' '[a b]')" "$OUT"
check_absent "--shell: --grid value did not inject" "$T/pwned9"

run_parc -k --shell 'printf "[%s]\n" {.} {/}' ::: 'my dir/a b.txt'
check_eq "--shell: modified values are quoted" "$(lines '[my dir/a b]' '[a b.txt]')" "$OUT"

done_testing
