#!/usr/bin/env bash
# cli_converse.sh - `bhive converse` end to end against bhive-emulator's
# scripted models: text and JSON output, the AWS CLI response shape, stdin
# prompts, --cli-input-json, --verifier-cmd, bad arguments (exit 2) and a
# service error (exit 1 with the error type and message on stderr).
set -u

: "${BHIVE:?}" "${BHIVE_EMULATOR:?}"
for tool in jq curl; do
	command -v "$tool" >/dev/null || { echo "skipped: $tool is not installed"; exit 77; }
done

work=$(mktemp -d)
emu_pid=
cleanup() {
	[ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
expect_eq() { [ "$1" == "$2" ] || fail "$3: expected [$2], got [$1]"; }

cat >"$work/emu.json" <<'EOF'
{"models": {
  "test.one-v1:0": {"kind": "scripted", "script": {"rules": [
      {"contains": "external verification", "reply": {"text": "revised <answer>4</answer>"}},
      {"contains": "reiterate", "reply": {"text": "again <answer>4</answer>"}},
      {"regex": ".", "reply": {"text": "The answer is <answer>4</answer>"}}]}},
  "test.two-v1:0": {"kind": "scripted", "script": {"rules": [
      {"regex": ".", "reply": {"text": "Two says <answer>5</answer>"}}]}},
  "test.bad-v1:0": {"kind": "scripted", "script": {"rules": [
      {"regex": ".", "reply": {"error": {"status": 429, "type": "ThrottlingException",
        "message": "Too many requests, please wait before trying again."}}}]}}
}}
EOF

"$BHIVE_EMULATOR" --port 0 --config "$work/emu.json" --no-default-models \
	>"$work/emu.out" 2>"$work/emu.err" &
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
bh() { "$BHIVE" converse --endpoint-url "$url" --max-attempts 1 "$@"; }
requests() { curl -s "$url/_emulator/requests"; }
reset() { curl -s -X DELETE "$url/_emulator/requests" >/dev/null; }

# 1. Text: the answer alone on stdout, nothing on stderr off a terminal.
out=$(bh --model test.one-v1:0 "What is 2 + 2?" 2>"$work/err")
expect_eq "$?" 0 "text exit"
expect_eq "$out" "The answer is <answer>4</answer>" "text output"
expect_eq "$(cat "$work/err")" "" "text stderr"

# 2. Several slots without an aggregator: each answer labelled.
out=$(bh --model test.one-v1:0 --model test.two-v1:0 "What is 2 + 2?" 2>/dev/null)
expect_eq "$out" "$(printf '[slot 0: test.one-v1:0]\nThe answer is <answer>4</answer>\n\n[slot 1: test.two-v1:0]\nTwo says <answer>5</answer>')" "labelled slots"

# 3. JSON: the whole result; a single call also carries the raw response.
reset
bh --model test.one-v1:0 --output json "What is 2 + 2?" >"$work/r.json"
expect_eq "$(jq -r .answer "$work/r.json")" "The answer is <answer>4</answer>" "json answer"
expect_eq "$(jq -r .calls "$work/r.json")" 1 "json calls"
expect_eq "$(jq -r '.response.output.message.content[0].text' "$work/r.json")" \
	"The answer is <answer>4</answer>" "json response"
expect_eq "$(jq -r '.models["test.one-v1:0"].usage | has("inputTokens")' "$work/r.json")" true "json usage"
expect_eq "$(jq -r '.cost | has("total_usd")' "$work/r.json")" true "json cost"

# 4. --output aws is the Converse response exactly as the service sent it.
bh --model test.one-v1:0 --output aws "What is 2 + 2?" >"$work/aws.json"
expect_eq "$(jq -c 'keys' "$work/aws.json")" '["metrics","output","stopReason","usage"]' "aws keys"
expect_eq "$(jq -c . "$work/aws.json" | jq -c 'del(.metrics)')" \
	"$(jq -c '.response | del(.metrics)' "$work/r.json")" "aws shape equals response"

# 5. The prompt from stdin and from a file.
out=$(echo "What is 2 + 2?" | bh --model test.one-v1:0 - 2>/dev/null)
expect_eq "$out" "The answer is <answer>4</answer>" "stdin prompt"
echo "What is 2 + 2?" >"$work/q.txt"
reset
bh --model test.one-v1:0 --file "$work/q.txt" >/dev/null
expect_eq "$(requests | jq -r '.[0].body.messages[0].content[0].text')" "What is 2 + 2?" "file prompt"

# 6. --cli-input-json: modelId, messages, system and inferenceConfig pass through.
reset
out=$(bh --cli-input-json '{"modelId": "test.one-v1:0", "messages": [{"role": "user",
  "content": [{"text": "What is 2 + 2?"}]}], "system": [{"text": "be brief"}],
  "inferenceConfig": {"maxTokens": 64, "temperature": 0.5}}')
expect_eq "$out" "The answer is <answer>4</answer>" "cli-input-json answer"
expect_eq "$(requests | jq -c '.[0].body | [.system[0].text, .inferenceConfig.maxTokens]')" \
	'["be brief",64]' "cli-input-json pass-through"
echo '{"modelId": "test.one-v1:0", "messages": [{"role": "user", "content": [{"text": "hi"}]}]}' \
	>"$work/req.json"
out=$(bh --cli-input-json "file://$work/req.json")
expect_eq "$?" 0 "cli-input-json file"

# 7. --verifier-cmd: the answer on stdin, the question in BHIVE_QUESTION, feedback back.
cat >"$work/verify.sh" <<'EOF'
#!/bin/sh
answer=$(cat)
echo "score: 0"
echo "checked question=[$BHIVE_QUESTION] answer=[$answer]"
EOF
chmod +x "$work/verify.sh"
reset
out=$(bh --model test.one-v1:0 --reflections 1 --verifier-cmd "'$work/verify.sh' --unused-arg" \
	"What is 2 + 2?")
expect_eq "$out" "revised <answer>4</answer>" "verifier answer"
fb=$(requests | jq -r '.[1].body.messages[2].content[0].text')
case "$fb" in
*"An external verification function has added context to this answer: checked question=[What is 2 + 2?] answer=[The answer is <answer>4</answer>]"*) ;;
*) fail "verifier feedback not in the reflection prompt: $fb" ;;
esac
case "$fb" in *"score: 0"*) fail "the score line leaked into the feedback" ;; esac

# 8. A failing verifier is reported and the run goes on; --verifier-fatal stops it.
printf '#!/bin/sh\necho broken >&2\nexit 3\n' >"$work/broken.sh"
chmod +x "$work/broken.sh"
reset
out=$(bh --model test.one-v1:0 --reflections 1 --verifier-cmd "$work/broken.sh" "What is 2 + 2?" \
	2>"$work/err")
expect_eq "$?" 0 "non-fatal verifier exit"
grep -q 'exited with status 3' "$work/err" || fail "verifier failure not reported: $(cat "$work/err")"
case "$(requests | jq -r '.[1].body.messages[2].content[0].text')" in
*"the verifier failed"*) ;;
*) fail "the model was not told the verifier failed" ;;
esac
bh --model test.one-v1:0 --reflections 1 --verifier-cmd "$work/broken.sh" --verifier-fatal \
	"What is 2 + 2?" >/dev/null 2>"$work/err"
expect_eq "$?" 1 "fatal verifier exit"
printf '#!/bin/sh\nsleep 5\n' >"$work/slow.sh"
chmod +x "$work/slow.sh"
start=$(date +%s)
bh --model test.one-v1:0 --reflections 1 --verifier-cmd "$work/slow.sh" --verifier-timeout 0.3 \
	--verifier-fatal "What is 2 + 2?" >/dev/null 2>"$work/err"
expect_eq "$?" 1 "verifier timeout exit"
grep -q 'timed out' "$work/err" || fail "verifier timeout not reported"
[ $(($(date +%s) - start)) -lt 4 ] || fail "the verifier time limit was not kept"

# 9. Bad arguments: exit 2 and a message.
for args in "--reflections -1 x" "--reflections x q" "--output yaml q" "--bogus q" "" \
	"--augment loud q" "--verifier nope q" "--retry-mode eager q" "--verifier-cmd '' q" \
	"--schema /nonexistent/schema.json q" "--model m --max-attempts 0 q" \
	"--endpoint-url '' q" "--region '' q" "--read-timeout 1e30 q" "--connect-timeout nan q" \
	"--max-reasoning-seconds 86401 q" "--verifier-timeout 0 q" "''" \
	"--cli-input-json '{\"messages\": {}}'" "--cli-input-json '{\"messages\": [5]}'" \
	"--cli-input-json '{\"system\": \"be brief\"}' q" \
	"--cli-input-json '{\"inferenceConfig\": []}' q" "--endpoint-url notaurl q"; do
	eval "set -- $args"
	if [ "$args" = "" ]; then set --; fi
	"$BHIVE" converse --model test.one-v1:0 "$@" </dev/null >/dev/null 2>"$work/err"
	expect_eq "$?" 2 "bad arguments [$args]"
	grep -q '^bhive: error: ' "$work/err" || fail "no error message for [$args]"
done
"$BHIVE" converse --help | grep -q -- '--verifier-cmd' || fail "--help lacks --verifier-cmd"
"$BHIVE" converse --help | grep -q '^Exit status' || fail "--help lacks exit codes"

# 10. A service error: exit 1, the model, error type and message on stderr.
out=$(bh --model test.bad-v1:0 "What is 2 + 2?" 2>"$work/err")
expect_eq "$?" 1 "service error exit"
expect_eq "$out" "" "service error stdout"
expect_eq "$(cat "$work/err")" \
	'bhive: error: model "test.bad-v1:0" returned ThrottlingException: Too many requests, please wait before trying again.' \
	"service error message"

# The failed call is counted, and named as failed, in the JSON output.
bh --model test.bad-v1:0 --output json "What is 2 + 2?" >"$work/fail.json" 2>/dev/null
expect_eq "$?" 1 "service error exit (json)"
expect_eq "$(jq '.calls' "$work/fail.json")" 1 "failed call counted"
expect_eq "$(jq '.failed_calls' "$work/fail.json")" 1 "failed call named"
expect_eq "$(jq '.models["test.bad-v1:0"].failed_calls' "$work/fail.json")" 1 \
	"failed call per model"
expect_eq "$(jq -r '.slots[0].error.error_type' "$work/fail.json")" ThrottlingException \
	"failed slot's error"

# 11. --log-level and BHIVE_LOG_LEVEL give progress lines off a terminal.
bh --model test.one-v1:0 --log-level info "What is 2 + 2?" >/dev/null 2>"$work/err"
grep -q 'round 0 slot 0 model=test.one-v1:0' "$work/err" || fail "no progress line at info"
BHIVE_LOG_LEVEL=info bh --model test.one-v1:0 "What is 2 + 2?" >/dev/null 2>"$work/err"
grep -q 'round 0 slot 0' "$work/err" || fail "BHIVE_LOG_LEVEL ignored"

[ "$failures" -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
echo "cli_converse: all passed"
