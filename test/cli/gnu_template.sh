#!/usr/bin/env bash
# Replacement strings and commands as GNU parallel 20221122 builds them:
# {//} {/} {.} {/.} edge cases, {} inside a word, {N} beyond the values,
# {-N}, commands from the input, -q. Every expected output below is what
# GNU parallel printed for the same command line.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

# value|{//}|{/}|{.}|{/.}
while IFS='|' read -r v dir base dot basedot; do
  run_parc -q -k printf '%s|%s|%s|%s\n' '{//}' '{/}' '{.}' '{/.}' ::: "$v"
  check_eq "modifiers of '$v'" "$dir|$base|$dot|$basedot" "$OUT"
done <<'CASES'
/|/||/|
dir/|.||dir/|
a//b.c|a|b.c|a//b|b
a/b/c|a/b|c|a/b/c|c
bare|.|bare|bare|bare
a.b/c|a.b|c|a.b/c|c
.bashrc|.|.bashrc||
a/.bashrc|a|.bashrc|a/|
a/b/|a||a/b/|
a/b//|a||a/b//|
//|/||//|
//a|/|a|//a|a
./x|.|x|./x|x
x.tar.gz|.|x.tar.gz|x.tar|x.tar
/a|/|a|/a|a
|.|||
a/b.c/|a||a/b.c/|
..|.|..|.|.
CASES

run_parc -q -k printf '[%s]' 'x{}y' ::: a ::: b
check_eq "{} inside a word with two values: two words (GNU)" "[xa][by]" "$OUT"
run_parc -k -N2 echo '[{3}]' ::: a b c
check_eq "{N} beyond a job's values is empty" "$(lines '[]' '[]')" "$OUT"
run_parc -k echo '[{5}]' ::: a b
check_rc "{5} that no job can have is an error (GNU: empty)" 255
check_eq "{5} that no job can have: nothing runs" "" "$OUT"
run_parc -k echo '[{-1}]' ::: a b ::: c
check_eq "{-1} is the last value" "$(lines '[c]' '[c]')" "$OUT"
run_parc -k echo '[{0}]' ::: a
check_eq "{0} is the last value too (Perl's index -1)" "[a]" "$OUT"
run_parc -q -k printf '[%s]' '{2}' '{1}' ::: a ::: b
check_eq "{2} {1}" "[b][a]" "$OUT"

# ---------------------------------------------------------------- no command
run_parc -k ::: 'echo a' 'echo b'
check_eq "no command: each value is a command line" "$(lines a b)" "$OUT"
run_parc -k ::: echo printf ::: a b
check_eq "no command: a job's values joined are the command" \
  "$(lines a b ab)" "$OUT"
printf 'echo 1\necho 2 | tr 2 3\n' >cmds
PARC_STDIN=cmds run_parc -k
check_eq "commands from stdin, run by sh" "$(lines 1 3)" "$OUT"
printf 'echo "a  b"\n\necho 2\n' >cmds
PARC_STDIN=cmds run_parc -k
check_rc "an empty command line succeeds" 0
check_eq "commands keep their quoting" "$(lines 'a  b' 2)" "$OUT"
run_parc -k -n2 ::: 'echo a' 'echo b' 'echo c'
check_eq "no command, -n2: two values make one command line" \
  "$(lines 'a echo b' c)" "$OUT"
run_parc -k -q ::: 'echo a'
check_rc "no command, -q: the value is quoted as one word" 1

# ---------------------------------------------------------------- -q
run_parc -k -q perl -e 'print "{}\n"' ::: a
check_eq "-q perl -e 'print \"{}\\n\"'" "a" "$OUT"
run_parc -k -q echo 'a  b' ::: x
check_eq "-q keeps spaces in a word" "a  b x" "$OUT"
run_parc -k -q echo '$HOME' '{}' ::: '$USER'
check_eq "-q: no expansion in words or values" '$HOME $USER' "$OUT"
run_parc -k -q --shell echo 'a  b' '$HOME' '{}' ::: 'x y'
check_eq "-q --shell: the words are quoted for sh too" 'a  b $HOME x y' "$OUT"
run_parc -k --shell echo 'a  b' '{}' ::: 'x y'
check_eq "--shell without -q: words are shell code, values quoted" \
  'a b x y' "$OUT"

# --plus: GNU's further replacement strings (expected from GNU 20221122)
run_parc -q -k --plus sh -c 'printf "[%s]" "$@"; echo' sh {..} {...} {+.} {+..} {+...} {+/} {/..} {/...} {##} \
  ::: a.tar.gz d/e/b.x c d.e/g.h.i.j
check_eq "--plus strings as GNU's" \
  "$(printf '%s\n' '[a][a.tar.gz][gz][tar.gz][][][a][a.tar.gz][4]' \
     '[d/e/b.x][d/e/b.x][x][][][d/e][b.x][b.x][4]' \
     '[c][c][][][][][c][c][4]' \
     '[d.e/g.h][d.e/g][j][i.j][h.i.j][d.e][g.h][g][4]')" "$OUT"
run_parc -q -k --plus sh -c 'printf "[%s]" "$@"; echo' sh {1..} {2+.} ::: a.b.c ::: x.y
check_eq "--plus modifiers on one value" "[a][y]" "$OUT"
run_parc -q -k sh -c 'printf "[%s]" "$@"; echo' sh {..} {##} ::: a.b.c
check_eq "without --plus they are text (and the value is appended)" "[{..}][{##}][a.b.c]" "$OUT"
