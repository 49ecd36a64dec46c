#!/usr/bin/env bash
# resume_kill.sh - a benchmark killed with kill -9 part-way and run again
# never sends a finished sample twice. The emulator answers every call in
# 200 ms; the first run is killed once a few samples are in the store; the
# same command then finishes the rest, and the emulator's request record
# shows that none of the samples finished in the first run was sent again,
# and the store holds every sample exactly once.
set -u

: "${BHIVE:?}" "${BHIVE_EMULATOR:?}"
for tool in jq curl sqlite3; do
	command -v "$tool" >/dev/null || { echo "skipped: $tool is not installed"; exit 77; }
done

work=$(mktemp -d)
emu_pid=
bench_pid=
cleanup() {
	[ -n "$bench_pid" ] && kill -9 "$bench_pid" 2>/dev/null
	[ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null
	if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
expect_eq() { [ "$1" == "$2" ] || fail "$3: expected [$2], got [$1]"; }

"$BHIVE_EMULATOR" --port 0 --latency-ms 200 >"$work/emu.out" 2>"$work/emu.err" &
emu_pid=$!
for _ in $(seq 100); do
	grep -q listening "$work/emu.out" 2>/dev/null && break
	sleep 0.05
done
url=$(grep -o 'http://[0-9.:]*' "$work/emu.out" | head -1)
[ -n "$url" ] || { echo "emulator did not start"; cat "$work/emu.err"; exit 1; }

export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
export AWS_REGION=us-east-1
unset AWS_PROFILE AWS_BEARER_TOKEN_BEDROCK BHIVE_LOG_LEVEL

samples=40
store="$work/results.db"
# 40 samples x 2 calls x 200 ms at 4 in flight: about 4 s in all.
args=(bench --endpoint-url "$url" --arithmetic "medium:$samples"
      --model anthropic.claude-3-sonnet-20240229-v1:0 --reflections 1 --concurrency 4
      --store "$store" --no-progress)
stored() { sqlite3 -cmd '.timeout 2000' "$store" 'SELECT count(*) FROM samples' 2>/dev/null || echo 0; }
# The question of every recorded sample, from its trace.
stored_prompts() {
	sqlite3 "$store" "SELECT json_extract(trace, '\$.slots[0].history[0].content[0].text')
	                  FROM samples ORDER BY idx"
}

# 1. Start, wait for a few finished samples, kill -9.
# (bhive itself in the background, not a subshell: kill -9 must hit it)
"$BHIVE" "${args[@]}" >"$work/run1.out" 2>"$work/run1.err" &
bench_pid=$!
for _ in $(seq 200); do
	[ "$(stored)" -ge 6 ] && break
	sleep 0.05
done
kill -9 "$bench_pid"
wait "$bench_pid" 2>/dev/null
# Calls of the killed run still parked in the emulator drain first.
sleep 0.5
bench_pid=
first=$(stored)
[ "$first" -ge 6 ] || fail "the first run recorded only $first samples before the kill"
[ "$first" -lt "$samples" ] || fail "the first run finished before the kill ($first samples)"
stored_prompts >"$work/finished1.txt"
expect_eq "$(wc -l <"$work/finished1.txt")" "$first" "prompts of the first run"

# 2. The same command again, with the emulator's record cleared.
curl -s -X DELETE "$url/_emulator/requests" >/dev/null
"$BHIVE" "${args[@]}" --output json >"$work/run2.json" 2>"$work/run2.err"
expect_eq "$?" 0 "second run exit"
curl -s "$url/_emulator/requests" >"$work/requests.json"
jq -r '.[].body.messages[0].content[0].text' "$work/requests.json" | sort -u >"$work/sent2.txt"
again=$(sort -u "$work/finished1.txt" | comm -12 - "$work/sent2.txt" | wc -l)
expect_eq "$again" 0 "finished samples sent again"
# Every sample not finished in the first run is sent: two calls each.
expect_eq "$(wc -l <"$work/sent2.txt")" "$((samples - first))" "samples sent by the second run"
expect_eq "$(jq length "$work/requests.json")" "$((2 * (samples - first)))" "calls of the second run"

# 3. The store holds every sample once, in one run.
expect_eq "$(sqlite3 "$store" 'SELECT count(*), count(DISTINCT idx), count(DISTINCT run) FROM samples')" \
	"$samples|$samples|1" "store has every sample once"
expect_eq "$(jq -r '.rows[0].samples' "$work/run2.json")" "$samples" "report samples"
expect_eq "$(jq -r '.source' "$work/run2.json")" "simulated models (bhive-emulator)" "report source"

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "resume_kill: first run recorded $first of $samples before kill -9; none sent again"
