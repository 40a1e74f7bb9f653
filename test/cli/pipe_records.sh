#!/usr/bin/env bash
# --pipe's records as GNU parallel 20221122 cuts them (the expected outputs
# are GNU's): -L N (records of N lines, whole ones filling --block), and
# with -N; --recend STR and --recstart STR (a record boundary is where the
# one is followed by the other), GNU's escapes in them; --rrs (the
# separators taken out of each chunk); -r (blank lines taken out);
# --header (the start of stdin before each chunk); --cat and --fifo;
# then larger inputs, checked by their outputs' checksums, and the
# errors.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1
# chunks INPUT ARGS...: parc run -k --pipe ARGS on printf INPUT, each
# chunk's job printing it on one line, newlines as '/'; the lines joined
# by spaces.
chunks() {
  printf "$1" >in
  shift
  PARC_STDIN=in run_parc -k --pipe "$@" 'tr "\n" /; echo'
  CHUNKS=$(tr '\n' ' ' <"$OUT_FILE" | sed -e 's/ $//')
}
ten='1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n'

# --- -L N: records of N lines ------------------------------------------
chunks "$ten" -L 4
check_rc "-L 4" 0
check_eq "-L 4: the block up to its last whole 4-line record, then the rest" \
  "1/2/3/4/5/6/7/8/ 9/10/" "$CHUNKS"
PARC_STDIN=in run_parc -k --pipe -L 4 wc -l
check_eq "-L 4 is not -N 4: GNU's 8 and 2 lines" "8 2" "$(echo $OUT)"
chunks "$(seq 30 | sed -e 's/$/\\n/' | tr -d '\n')" -L 3 --block 20
check_eq "-L 3 --block 20: whole 3-line records up to each block" \
  "1/2/3/4/5/6/7/8/9/ 10/11/12/13/14/15/ 16/17/18/19/20/21/ 22/23/24/25/26/27/ 28/29/30/" \
  "$CHUNKS"
chunks 'a\nb\nc\nd\ne' -L 2
check_eq "-L 2: the last line without its newline goes last" "a/b/c/d/ e" \
  "$CHUNKS"
chunks "$ten" -L 3 --block 5
check_eq "-L 3 --block 5: the block grows to hold a record" \
  "1/2/3/ 4/5/6/ 7/8/9/ 10/" "$CHUNKS"
check_eq "-L 3 --block 5: GNU's warning" \
  "parc run: Warning: A record was longer than 5. Increasing to --blocksize 8." \
  "$ERR"
chunks "$ten" -L 2 -N 2
check_eq "-L 2 -N 2: chunks of 2 x 2 lines" "1/2/3/4/ 5/6/7/8/ 9/10/" "$CHUNKS"
chunks '\n\na\nb\n' -L 2
check_eq "-L 2 and empty lines: lines all the same" "//a/b/" "$CHUNKS"
chunks 'a;b\nc;d\ne;f\n' -L 2 --recend ';'
check_eq "-L without -N: lines end at newlines whatever --recend says" \
  "a;b/c;d/ e;f/" "$CHUNKS"
chunks 'a;b\nc;d\ne;f\n' -L 1 -N 2 --recend ';'
check_eq "-L 1 -N 2 --recend ';': 2 ;-records a chunk" "a;b/c; d/e;f/" \
  "$CHUNKS"

# --- --recend STR -----------------------------------------------------
chunks 'a;b;c;' -N1 --recend ';'
check_eq "--recend ';' -N1" "a; b; c;" "$CHUNKS"
chunks 'a\nb;c\nd;e' --recend ';' --block 4
check_eq "--recend ';' --block 4: newlines are no boundary" "a/b; c/d; e" \
  "$CHUNKS"
chunks ';a;;b;' --recend ';' -N 1
check_eq "--recend ';' -N1: an empty first record joins the next one" \
  ";a; ;b;" "$CHUNKS"
chunks 'xabyabzab' --recend ab -N 1
check_eq "--recend ab: a separator of two bytes" "xab yab zab" "$CHUNKS"
chunks 'aaaaaaa' --recend aa -N 2
check_eq "--recend aa -N2: GNU counts overlapping separators" "aaaa aaa" \
  "$CHUNKS"
chunks 'abcdefg' --recend '' --block 3
check_eq "--recend '': chunks of --block bytes" "abc def g" "$CHUNKS"
chunks 'abcdefg' --recend '' -N 2
check_eq "--recend '' -N 2: chunks of 2 bytes" "ab cd ef g" "$CHUNKS"
chunks 'a\tb\tc\t' --recend '\t' -N 1
check_eq "--recend '\\t': GNU's escapes" "$(printf 'a\t b\t c\t')" "$CHUNKS"
printf 'a\0bc\0d' >nul
PARC_STDIN=nul run_parc -k --pipe --recend '\0' -N 1 wc -c
check_eq "--recend '\\0': NUL-ended records" "2 3 1" "$(echo $OUT)"

# --- --recstart STR ---------------------------------------------------
chunks 'XaXbXc' --recstart X -N 1
check_eq "--recstart X -N1" "Xa Xb Xc" "$CHUNKS"
chunks 'abXcXd' --recstart X -N 1
check_eq "--recstart X: what comes before the first X is a record" \
  "ab Xc Xd" "$CHUNKS"
chunks 'XaaaXbXcccX' --recstart X --block 4
check_eq "--recstart X --block 4: cut before the last X" "XaaaXb XcccX" \
  "$CHUNKS"
chunks 'Xa;Xb;c;Xd;' --recstart X --recend ';' -N 1
check_eq "--recstart X --recend ';': a boundary is ';X' only" \
  "Xa; Xb;c; Xd;" "$CHUNKS"
chunks 'XaXbXcXdXe' --recstart X -L 2 -N 1
check_eq "--recstart X -L 2 -N 1: 2 records a chunk" "XaXb XcXd Xe" \
  "$CHUNKS"

# --- --rrs ------------------------------------------------------------
chunks 'a;b;c;' -N1 --recend ';' --rrs
check_eq "--rrs: the separators taken out" "a b c" "$CHUNKS"
chunks 'Xa;Xb;\n' --recstart X --recend ';' --rrs
check_eq "--rrs: ';X' inside, X at the start, ';' at the end (or before a last newline)" \
  "ab/" "$CHUNKS"
chunks "$ten" --rrs -L 4
check_eq "--rrs with newlines: all of them go" "12345678 910" "$CHUNKS"
chunks 'aaaabbaab' --recend ab --rrs
check_eq "--rrs: one pass, left to right, then the end" "aaaba" "$CHUNKS"
printf 'a;b;c;' >semi
PARC_STDIN=semi run_parc -k --pipe --rrs -N1 --recend ';' --joblog jl cat
check_eq "--rrs: Send is the chunk's bytes as sent" "1 1 1" \
  "$(awk -F'\t' 'NR > 1 { printf "%s%s", sep, $5; sep = " " }' jl)"

# --- larger inputs: GNU's outputs by their checksum and line count ------
awk 'BEGIN { for (i = 1; i <= 2000; i++) { n = (i * 7) % 13; s = "";
  for (k = 0; k < n; k++) s = s substr("ab;X", (i * k) % 4 + 1, 1); print s } }' >bulk
bulk() { # EXPECTED ARGS...: cksum and lines of the chunks of bulk
  local want=$1
  shift
  PARC_STDIN=bulk run_parc -k --pipe "$@" 'tr "\n" /; echo'
  check_eq "14006 bytes, $*" "$want" \
    "$(cksum <"$OUT_FILE" | cut -d' ' -f1,2) $(wc -l <"$OUT_FILE")"
}
bulk "2065241513 14022 16" -L 3 --block 1k
bulk "3469234097 14151 145" --recend ';' --block 100
bulk "2372255228 14204 198" --recstart X -N 7
bulk "3152325245 14083 77" --recstart X --recend ';' --block 200
bulk "2004349716 14283 277" -L 2 -N 5 --recend ';'
bulk "3968062878 12661 269" --recend ab -N 3 --rrs
bulk "2072662584 14353 347" --recend ab --block 50

# --- a chunk --rrs leaves empty: a job, logged, but no command (GNU) ------
printf 'a;;;b;' >rrs_in
PARC_STDIN=rrs_in run_parc -k --pipe -N1 --recend ';' --rrs --joblog rrs.log \
  'echo "[$(cat)]"'
check_eq "--rrs: an emptied chunk runs no command" "$(lines '[a]' '[b]')" "$OUT"
check_eq "--rrs: the emptied chunk is job 2, logged as a success" \
  "$(lines '1 1 4 0 0' '2 0 0 0 0' '3 1 4 0 0')" \
  "$(awk -F'\t' 'NR > 1 { print $1, $5, $6, $7, $8 }' rrs.log | sort -n)"

# --- a record as long as stdin: held once --------------------------------
# No newline in 48 MiB: the block grows to hold it all (GNU's way), and the
# last chunk is the buffer itself, not a copy of it (parc's peak was twice
# the input). Not measured under a sanitizer: ASan's quarantine keeps
# what realloc freed, TSan's shadow memory doubles every byte touched.
asan=0
grep -a -e __asan_init -e __tsan_init "$PARC" >/dev/null && asan=1
peak=$(python3 - "$PARC" "$T/long" "$asan" <<'EOF'
import resource, subprocess, sys
size, asan = 48 << 20, sys.argv[3] == "1"
with open(sys.argv[2], "wb") as f:
    f.write(b"x" * size)
with open(sys.argv[2], "rb") as f:
    r = subprocess.run([sys.argv[1], "run", "--pipe", "wc", "-c"], stdin=f,
                       capture_output=True)
kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
held = "under 1.5x" if asan or kb * 1024 < size * 1.5 else "%d MiB" % (kb >> 10)
print(r.stdout.decode().strip(), held)
EOF
)
rm -f long
check_eq "a 48 MiB record: one chunk, parc's peak under 1.5 times it" \
  "50331648 under 1.5x" "$peak"

# --- -r: lines of nothing but white space are taken out before cutting --
blank='a\n\n  \nb\n\n\n  c\n \t\r\n\nd'
chunks "$blank" -r -N1
check_eq "-r -N1: one chunk per line that is not blank" "a/ b/   c/ d" "$CHUNKS"
chunks "$blank" -r -N2
check_eq "-r -N2: blank lines are no records" "a/b/   c/d" "$CHUNKS"
chunks "$blank" -r -L 2
check_eq "-r -L 2" "a/b/   c/d" "$CHUNKS"
chunks "$blank" -r --recend , -N1
check_eq "-r --recend ,: lines still end at newlines for -r" "a/b/  c/d" \
  "$CHUNKS"
chunks "$blank" -r --block 3
check_eq "-r --block 3" "a/ b/   c/ d" "$CHUNKS"
chunks '\n \n\t\n' -r
check_eq "-r: stdin of blank lines is no job" "" "$CHUNKS"
chunks "$blank" -N2
check_eq "without -r blank lines are records" 'a//   /b/ //  c/  \t\r// d' \
  "$(printf '%s' "$CHUNKS" | sed 's/\t/\\t/; s/\r/\\r/')"

# --- --header: the start of stdin before each chunk ---------------------
csv='h1,h2\n1,a\n2,b\n3,c\n'
chunks "$csv" --header : -N1
check_eq "--header :: the first line before each chunk" \
  "h1,h2/1,a/ h1,h2/2,b/ h1,h2/3,c/" "$CHUNKS"
chunks "$csv" --header : -N2
check_eq "--header : -N2" "h1,h2/1,a/2,b/ h1,h2/3,c/" "$CHUNKS"
chunks "$csv" --header 2 -N1
check_eq "--header 2: the first two lines" "h1,h2/1,a/2,b/ h1,h2/1,a/3,c/" \
  "$CHUNKS"
chunks "$csv" --header h. -N1
check_eq "--header REGEXP: what it matches at the start" \
  "h1,h2/ h11,a/ h12,b/ h13,c/" "$CHUNKS"
chunks "$csv" --header zz -N1
check_eq "--header that does not match: no header" "h1,h2/ 1,a/ 2,b/ 3,c/" \
  "$CHUNKS"
chunks "$csv" --header : --rrs --recend , -N1
check_eq "--header with --rrs: the header is kept whole" \
  "h1,h2/1 h1,h2/a/2 h1,h2/b/3 h1,h2/c/" "$CHUNKS"
chunks 'h1,h2\n' --header :
check_eq "--header: stdin of only a header is no job" "" "$CHUNKS"
chunks 'id,v\n1,a\n2,b\n' --header 'id.*$' -N1
check_eq "--header: Perl's \$ is the end of stdin, not of a line" \
  "id,v/ 1,a/ 2,b/" "$CHUNKS"
chunks 'h\nx\ny\n' --header '[^z]*' -N1
check_eq "--header: [^z] takes newlines too (all of stdin: no job)" "" \
  "$CHUNKS"
printf 'a\0b\n1\n2\n' >nul
PARC_STDIN=nul run_parc -k --pipe --header : -N1 'tr "\0\n" "@/"; echo'
check_eq "--header :: a header holding a NUL" "$(lines a@b/1/ a@b/2/)" "$OUT"
seq 3000 >t3000
PARC_STDIN=t3000 run_parc -k --pipe --block 100 --header 1001 -N1000 \
  -q awk 'NR == 1 { print } END { print NR }'
check_eq "--header 1001: 1001 lines, read over many blocks" \
  "$(lines 1 2001 1 2000)" "$OUT"
run_parc --pipe --header '(' cat
check_rc "--header with a bad regexp" 255
check_contains "--header with a bad regexp: says so" "bad --header '('" "$ERR"

# --- --cat, --fifo: the chunk named by {}, stdin empty -------------------
# GNU's {} is a file in $TMPDIR; parc's a descriptor (/dev/fd/N) on a
# memfd or a pipe: the contents are GNU's, the name is not checked
seq 3 >in
for how in --cat --fifo; do
  PARC_STDIN=in run_parc $how 'wc -c < {}; wc -c'
  check_rc "$how" 0
  check_eq "$how: the chunk in {}, stdin empty" "$(lines 6 0)" "$OUT"
  PARC_STDIN=in run_parc $how wc -l
  check_eq "$how: {} appended when the command has none" 3 "${OUT%% *}"
  PARC_STDIN=in run_parc -k $how -N1 'cat {}'
  check_eq "$how -N1: each job its own chunk" "$(lines 1 2 3)" "$OUT"
done
PARC_STDIN=in run_parc --cat 'cat {} {} | wc -l'
check_eq "--cat: a file, read twice" 6 "$OUT"
seq 1000000 >big
PARC_STDIN=big run_parc --fifo --block 10M 'sleep 0.1; : {}'
check_rc "--fifo: a job that never reads its chunk ends (GNU's hangs)" 0
mkdir tmp
PARC_STDIN=in TMPDIR=$T/tmp run_parc --cat 'wc -c {}'
check_eq "--cat: nothing written to \$TMPDIR" "" "$(ls tmp)"
PARC_STDIN=in run_parc -k --cat -N1 'ls -l /proc/$$/fd | grep -c memfd:; : {}'
check_eq "--cat: each job holds its own chunk only" "$(lines 1 1 1)" "$OUT"

# --- errors -------------------------------------------------------------
for opt in "--recend ;" "--recstart X" --rrs; do
  run_parc $opt echo ::: a
  check_rc "$opt without --pipe" 255
  check_contains "$opt without --pipe: says so" "need --pipe" "$ERR"
done

done_testing
