#!/usr/bin/env bash
# Input sources as GNU parallel 20221122 reads them: empty sources, record
# separators (-0, -d), -a, --colsep, --header and --csv. Every expected
# output below is what GNU parallel printed for the same command line.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
: >empty
printf 'a\nb\n' >f2

# ---------------------------------------------------------------- empty
run_parc -k echo ::: a b :::: empty
check_eq "an empty source beside others counts as one empty value" \
  "$(lines 'a ' 'b ')" "$OUT"
run_parc -k echo '{1}-{2}-{3}' ::: a b :::: empty ::: c
check_eq "the empty source's place is an empty value" "$(lines a--c b--c)" "$OUT"
run_parc -k echo ::: a b :::+ :::: empty
check_eq "an empty linked source makes its group one value long" "a  " "$OUT"
run_parc echo :::
check_rc "'echo :::' (no values) exits 0" 0
check_eq "'echo :::' runs nothing" "" "$OUT"
run_parc echo ::: :::: empty
check_rc "only empty sources: exit 0" 0
check_eq "only empty sources: nothing runs" "" "$OUT"
PARC_STDIN=empty run_parc echo x
check_rc "empty stdin: exit 0" 0
check_eq "empty stdin: nothing runs" "" "$OUT"

# ---------------------------------------------------------------- records
printf 'a\n\nb\n' >in; PARC_STDIN=in run_parc -k echo '[{}]'
check_eq "an empty line is an empty value" "$(lines '[a]' '[]' '[b]')" "$OUT"
printf 'a\nb' >in; PARC_STDIN=in run_parc -k echo '[{}]'
check_eq "a last line without newline counts" "$(lines '[a]' '[b]')" "$OUT"
printf 'a\nb\n\n' >in; PARC_STDIN=in run_parc -k echo '[{}]'
check_eq "a trailing separator makes no record, a blank line does" \
  "$(lines '[a]' '[b]' '[]')" "$OUT"
printf 'a\0b\0' >in; PARC_STDIN=in run_parc -k -0 echo '[{}]'
check_eq "-0: NUL-separated records" "$(lines '[a]' '[b]')" "$OUT"
printf 'a\0b' >in; PARC_STDIN=in run_parc -k --null echo '[{}]'
check_eq "--null: a last record without NUL counts" "$(lines '[a]' '[b]')" "$OUT"
printf 'a,b\n' >in; PARC_STDIN=in run_parc -k -d , echo '[{}]'
check_eq "-d ,: the newline stays in the last record" \
  "$(lines '[a]' '[b' ']')" "$OUT"
printf 'a,,b,,' >in; PARC_STDIN=in run_parc -k -d , echo '[{}]'
check_eq "-d ,: empty records are kept, the last separator ends one" \
  "$(lines '[a]' '[]' '[b]' '[]')" "$OUT"
printf 'aXYbXYc' >in; PARC_STDIN=in run_parc -k -d XY echo '[{}]'
check_eq "-d with a two-character separator" "$(lines '[a]' '[b]' '[c]')" "$OUT"
printf 'a\tb' >in; PARC_STDIN=in run_parc -k -d '\t' echo '[{}]'
check_eq "-d '\\t' is a TAB" "$(lines '[a]' '[b]')" "$OUT"
printf 'x,y,' >in; run_parc -k -d , echo '[{}]' :::: in
check_eq "-d applies to :::: files" "$(lines '[x]' '[y]')" "$OUT"

run_parc -k -a f2 echo '[{}]'
check_eq "-a FILE is an input source" "$(lines '[a]' '[b]')" "$OUT"
run_parc -k -a f2 -a f2 echo '[{1}{2}]'
check_eq "-a twice: two sources" "$(lines '[aa]' '[ab]' '[ba]' '[bb]')" "$OUT"
run_parc -k -a f2 echo '[{}]' ::: x y
check_eq "-a comes before the ::: sources" \
  "$(lines '[a x]' '[a y]' '[b x]' '[b y]')" "$OUT"

# ---------------------------------------------------------------- --colsep
run_parc -k --colsep , echo '{2}' '{1}' ::: a,b c,d
check_eq "--colsep: columns are {1} {2}" "$(lines 'b a' 'd c')" "$OUT"
echo c,d >cd
run_parc -k --colsep , echo '{1}-{2}-{3}-{4}' ::: a,b :::: cd
check_eq "--colsep: columns numbered across sources" "a-b-c-d" "$OUT"
echo c,d,e >cde
run_parc -k --colsep , echo '{1}-{2}-{3}' ::: a,b c :::: cde
check_eq "--colsep: a short record shifts the later columns (GNU)" \
  "$(lines a-b-c c-c-d)" "$OUT"
run_parc -k --colsep , printf '[%s]' ::: a,b c
check_eq "--colsep: appended columns are separate arguments" "[a][b][c]" "$OUT"
run_parc -k --colsep , echo '[{}]' ::: a,b c
check_eq "--colsep: {} is the columns" "$(lines '[a b]' '[c]')" "$OUT"
run_parc -k --colsep , echo '[{5}]' ::: a,b
check_eq "--colsep: a column beyond the record is empty" "[]" "$OUT"
run_parc -k --colsep , echo '[{1}]' ::: ,b , a,
check_eq "--colsep: empty columns" "$(lines '[]' '[]' '[a]')" "$OUT"
run_parc -k --colsep '[,;]+' echo '{1}-{2}-{3}' ::: 'a,;b;c'
check_eq "--colsep is a regular expression" "a-b-c" "$OUT"
run_parc -k --colsep '\t' echo '{2}' ::: "$(printf 'a\tb')"
check_eq "--colsep '\\t'" "b" "$OUT"
run_parc -k --colsep '' echo '{1}-{2}' ::: ab
check_eq "--colsep '': every character a column (GNU)" "a-b" "$OUT"
run_parc -k --colsep '' -q printf '[%s]' ::: ab
check_eq "--colsep '': an empty last column, as perl's split, -1" "[a][b][]" "$OUT"
run_parc -k --colsep ' *' echo '{1}-{2}-{3}' ::: 'a b'
check_eq "--colsep matching empty at the end: an empty last column (GNU)" \
  "a-b-" "$OUT"
run_parc --csv --colsep '' echo ::: a
check_rc "--csv with --colsep '': refused" 255
run_parc -k --colsep '\s+' echo '{2}' ::: 'a   b'
check_eq "--colsep '\\s+'" "b" "$OUT"
run_parc -k --colsep '\|' echo '{2}' ::: 'a|b'
check_eq "--colsep '\\|'" "b" "$OUT"
run_parc -k --colsep '[\t,]' echo '{2}' ::: "$(printf 'a\tb')" c,d
check_eq "--colsep '[\\t,]'" "$(lines b d)" "$OUT"
run_parc -k --colsep ' ' echo '[{2}]' ::: 'a  b'
check_eq "--colsep ' ' between two spaces: an empty column" "[]" "$OUT"
run_parc -k --colsep , echo '[{1}]' '[{2}]' ::: ' a , b '
check_eq "--colsep trims white space around columns" "[a] [b]" "$OUT"
run_parc -k --colsep , echo '{2.}' '{2/}' ::: a,b/c.d
check_eq "--colsep: modifiers on columns" "b/c c.d" "$OUT"
run_parc -k --colsep , --tag echo '{2}' ::: a,b c,d
check_eq "--colsep --tag: the columns, space-separated" \
  "$(lines "a b	b" "c d	d")" "$OUT"

# ---------------------------------------------------------------- --header
run_parc -k --header : echo '{x}-{y}' ::: x 1 2 ::: y 3 4
check_eq "--header: the first value names a ::: source" \
  "$(lines 1-3 1-4 2-3 2-4)" "$OUT"
printf 'a\tb\n1\t2\n' >tsv; PARC_STDIN=tsv run_parc -k --header : echo '{a}-{b}-{1}-{2}'
check_eq "--header alone: columns at TABs" "1-2-1-2" "$OUT"
printf 'c\n3\n' >c3
run_parc -k --header : --colsep , echo '{b}-{a}-{c}' ::: a,b 1,2 :::: c3
check_eq "--header --colsep: columns by name across sources" "2-1-3" "$OUT"
printf 'h\n1\n2\n' >h12; PARC_STDIN=h12 run_parc -k --header 2 echo '{}'
check_eq "--header: only the first line is the header" "$(lines 1 2)" "$OUT"
run_parc -k --header : echo ::: x 1 2
check_eq "--header: the header is no job" "$(lines 1 2)" "$OUT"
run_parc -k --header : --colsep , echo '{a.}' '{b/}' ::: a,b 1.x,2/y
check_eq "--header: modifiers on names" "1 y" "$OUT"
run_parc -k --header : echo '{x}' ::: x
check_eq "--header: a header and no values runs nothing" "" "$OUT"
run_parc -k --header : echo '{x}' '{y}' ::: x 1 ::: y
check_eq "--header: a source with only its header counts as empty" "1 " "$OUT"

# ---------------------------------------------------------------- --csv
run_parc -k --csv echo '{2}' ::: 'a,"b,c"'
check_eq "--csv: a quoted field holds the separator" "b,c" "$OUT"
printf 'a,"b\nc"\n' >ml; PARC_STDIN=ml run_parc --csv echo '{2}'
check_eq "--csv: a quoted field holds a newline" "$(lines b c)" "$OUT"
run_parc -k --csv echo '[{1}]' '[{2}]' ::: ' a , b '
check_eq "--csv alone keeps white space" "[ a ] [ b ]" "$OUT"
run_parc -k --csv --colsep ';' echo '[{2}]' ::: 'a;"b;c"'
check_eq "--csv --colsep: another separator" "[b;c]" "$OUT"
run_parc -k --csv echo '[{2}]' ::: 'a,"b""c"'
check_eq "--csv: a doubled quote is a quote" '[b"c]' "$OUT"
run_parc -k --header : --csv echo '{b}' ::: a,b '1,"2,3"'
check_eq "--csv --header: columns by name" "2,3" "$OUT"
run_parc -k --csv echo '{2}' ::: 'x,"y'
check_rc "--csv: an unclosed quote is an error before any job" 255
check_eq "--csv: no job ran" "" "$OUT"
