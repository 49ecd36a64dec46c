// interop.mjs - the official AWS SDK for JavaScript v3 judges bhive-emulator.
//
// Starts the emulator (path in BHIVE_EMULATOR) on 127.0.0.1 with --port 0 and
// one SigV4 key, then calls it through BedrockRuntimeClient with a
// NodeHttpHandler (HTTP/1.1) and an endpoint override. The models behind it
// are simulated; what is checked here is the wire: signing, parsing,
// exception names and the SDK's own retries.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import assert from 'node:assert/strict';
import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';

const AKID = 'AKIDSDKINTEROP';
const SECRET = 'sdk-interop-secret/KEY+value';
const SONNET = 'anthropic.claude-3-sonnet-20240229-v1:0';
const QUESTION = [{ role: 'user', content: [{ text: 'What is 2 + 2?' }] }];

function startEmulator(bin) {
	const child = spawn(bin, ['--port', '0', '--time-scale', '0', '--seed', '1',
		'--key', `${AKID}:${SECRET}`], { stdio: ['ignore', 'pipe', 'inherit'] });
	return new Promise((resolve, reject) => {
		const timer = setTimeout(() => reject(new Error('emulator did not start')), 10000);
		const lines = createInterface({ input: child.stdout });
		lines.once('line', (line) => {
			clearTimeout(timer);
			const m = /^listening (http:\/\/127\.0\.0\.1:\d+)$/.exec(line);
			if (!m) reject(new Error(`unexpected first line "${line}"`));
			else resolve({ child, url: m[1] });
		});
		child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
	});
}

function client(url, secret = SECRET, akid = AKID) {
	return new BedrockRuntimeClient({
		region: 'us-east-1',
		endpoint: url,
		credentials: { accessKeyId: akid, secretAccessKey: secret },
		requestHandler: new NodeHttpHandler({ connectionTimeout: 5000, requestTimeout: 10000 }),
	});
}

async function control(url, method, path, body) {
	const res = await fetch(`${url}/_emulator/${path}`, {
		method, body: body ? JSON.stringify(body) : undefined,
		headers: { 'content-type': 'application/json' },
	});
	assert.equal(res.status, 200, `${method} /_emulator/${path}`);
	return res.json();
}

async function expectError(promise, name, message) {
	try {
		await promise;
	} catch (err) {
		assert.equal(err.name, name, `expected ${name}, got ${err.name}: ${err.message}`);
		if (message) assert.equal(err.message, message);
		return err;
	}
	assert.fail(`expected ${name}, the call succeeded`);
}

const checks = [];
function check(name, fn) { checks.push({ name, fn }); }

check('ConverseCommand output is parsed', async (url) => {
	const out = await client(url).send(new ConverseCommand({ modelId: SONNET, messages: QUESTION }));
	assert.equal(out.output.message.role, 'assistant');
	assert.match(out.output.message.content[0].text, /4/);
	assert.equal(out.stopReason, 'end_turn');
	assert.equal(out.usage.inputTokens, 4);
	assert.ok(out.usage.outputTokens >= 1);
	assert.equal(out.usage.totalTokens, out.usage.inputTokens + out.usage.outputTokens +
		(out.usage.cacheReadInputTokens ?? 0) + (out.usage.cacheWriteInputTokens ?? 0));
	assert.equal(typeof out.metrics.latencyMs, 'number');
	assert.match(out.$metadata.requestId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-/);
});

check('inference profile and ARN ids sign and resolve', async (url) => {
	for (const id of [`us.${SONNET}`,
		`arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.${SONNET}`]) {
		const out = await client(url).send(new ConverseCommand({ modelId: id, messages: QUESTION }));
		assert.equal(out.stopReason, 'end_turn', id);
	}
});

check('maxTokens cuts the answer: stopReason max_tokens', async (url) => {
	const out = await client(url).send(new ConverseCommand({
		modelId: SONNET, inferenceConfig: { maxTokens: 1 },
		messages: [{ role: 'user', content: [{ text: 'What is the result of 12+3*4+5-6*7? Make sure to state your answer in <answer> </answer> tags.' }] }],
	}));
	assert.equal(out.stopReason, 'max_tokens');
	assert.equal(out.usage.outputTokens, 1);
});

check('wrong secret: InvalidSignatureException', async (url) => {
	await expectError(client(url, 'not-the-secret').send(
		new ConverseCommand({ modelId: SONNET, messages: QUESTION })), 'InvalidSignatureException');
});

check('unknown key: UnrecognizedClientException', async (url) => {
	await expectError(client(url, SECRET, 'AKIDUNKNOWN').send(
		new ConverseCommand({ modelId: SONNET, messages: QUESTION })),
		'UnrecognizedClientException', 'The security token included in the request is invalid.');
});

check('validation: ValidationException', async (url) => {
	await expectError(client(url).send(new ConverseCommand({
		modelId: SONNET, messages: [{ role: 'assistant', content: [{ text: 'hi' }] }],
	})), 'ValidationException');
	await expectError(client(url).send(new ConverseCommand({
		modelId: 'us.does-not-exist-model-v1:0', messages: QUESTION,
	})), 'ValidationException', 'The provided model identifier is invalid.');
});

check('100% throttling: ThrottlingException after the SDK retries', async (url) => {
	await control(url, 'POST', 'faults', { throttle: 1 });
	await control(url, 'DELETE', 'requests');
	const c = client(url);
	const maxAttempts = await c.config.maxAttempts();
	const err = await expectError(c.send(new ConverseCommand({ modelId: SONNET, messages: QUESTION })),
		'ThrottlingException', 'Too many requests, please wait before trying again.');
	assert.equal(err.$metadata.attempts, maxAttempts);
	const recorded = await control(url, 'GET', 'requests');
	assert.equal(recorded.length, maxAttempts, 'requests the emulator saw');
	assert.ok(recorded.every((r) => r.error_type === 'ThrottlingException'));
	await control(url, 'POST', 'faults', { reset: true });
});

async function main() {
	const bin = process.env.BHIVE_EMULATOR;
	if (!bin) throw new Error('BHIVE_EMULATOR is not set');
	const { child, url } = await startEmulator(bin);
	let failed = 0;
	try {
		for (const { name, fn } of checks) {
			try {
				await fn(url);
				console.log(`ok - ${name}`);
			} catch (err) {
				failed++;
				console.log(`not ok - ${name}: ${err.message}`);
			}
		}
	} finally {
		const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
		child.kill('SIGTERM');
		const code = await exited;
		if (code !== 0) {
			failed++;
			console.log(`not ok - emulator exit status ${code} after SIGTERM`);
		}
	}
	console.log(`${checks.length - failed}/${checks.length} SDK interop checks passed`);
	process.exit(failed ? 1 : 0);
}

main().catch((err) => { console.error(err); process.exit(1); });
