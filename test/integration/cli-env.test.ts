/**
 * The CLI inside a pod: NAME resolved from the SHIMMY_* environment the webhook injects
 * (the command waits for the node agent to make the segment; here the test makes it, with
 * the settings the agent would use), and `pub --wait-subscribers`.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { quietPeriod } from '../helpers/wait.js';
import { Channel } from '../../src/channel/channel.js';
import type { ChannelRef } from '../../src/channel/names.js';
import { channelEnvVar } from '../../src/client/env.js';
import { ErrorCode } from '../../src/errors.js';
import { resolveChannel, type ResolvedChannel } from '../../src/k8s/channel-spec.js';
import type { SharedMemoryChannelSpec } from '../../src/k8s/types.js';
import { podEnv } from '../../src/webhook/patch.js';
import { codeOf } from '../helpers/errors.js';
import { CLI, run, startProgram, type Proc } from '../helpers/proc.js';

const NAMESPACE = 'shimmy-it';
const made: ChannelRef[] = [];
afterEach(() => {
  for (const r of made.splice(0)) Channel.remove(r);
});

/** A SharedMemoryChannel as the webhook resolves it; its segments are removed after the test. */
function podChannel(prefix: string, spec: Partial<SharedMemoryChannelSpec> = {}): ResolvedChannel & { uid: string } {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  const uid = `${randomBytes(4).toString('hex')}-7c1e-4f0a-9d2b-${randomBytes(6).toString('hex')}`;
  const resolved = resolveChannel({
    metadata: { namespace: NAMESPACE, name, uid },
    spec: { selector: { matchLabels: { app: 'it' } }, memory: 'HostIPC', ...spec },
  });
  // The uid-less ref too, in case a broken CLI created the segment under the wrong key.
  made.push({ namespace: NAMESPACE, name, uid }, { namespace: NAMESPACE, name });
  return { ...resolved, uid };
}

/** The environment the webhook injects into a pod on `channels`. */
function injectedEnv(...channels: ResolvedChannel[]): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const v of podEnv({ namespace: NAMESPACE, channels })) vars[v.name] = v.value!;
  return vars;
}

/** The CLI as a process in a pod: this process's environment plus `env`. */
function inPod(env: Record<string, string>, args: string[], input?: string): Proc {
  return startProgram('env', [...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, CLI, ...args], input);
}

async function runInPod(env: Record<string, string>, args: string[]) {
  const p = inPod(env, args);
  const code = await exitWithin(p, 60_000);
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** The exit code, or a failure (and the process killed) when it runs longer than `ms`. */
async function exitWithin(p: Proc, ms: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      p.child.kill('SIGKILL');
      reject(new Error(`still running after ${ms} ms; stdout: ${p.stdout().slice(-500)} stderr: ${p.stderr().slice(-500)}`));
    }, ms);
  });
  try {
    return await Promise.race([p.exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** What the node agent does for a pod's ChannelEndpoint: make the segment with the channel's settings. */
function agentMakes(ch: ResolvedChannel & { uid: string }): void {
  Channel.create({ namespace: ch.namespace, name: ch.name, uid: ch.uid }, { ...ch.config }).close();
}

function uidLess(ch: ResolvedChannel): ChannelRef {
  return { namespace: ch.namespace, name: ch.name };
}

describe('shimmy pub and sub in a pod (SHIMMY_* environment, no --namespace)', () => {
  it("wait for the agent's segment under the uid-bearing key, never make it, and carry every message once it exists", async () => {
    const other = podChannel('env-other');
    const ch = podChannel('env', { capacity: '256Ki', maxMessageSize: '1Ki', slowConsumer: 'Block' });
    const env = injectedEnv(other, ch);
    expect(env.SHIMMY_CHANNELS).toBe(`${other.name},${ch.name}`);
    expect(codeOf(() => Channel.open(ch))).toBe(ErrorCode.SEGMENT_NOT_FOUND);

    const n = 20_000;
    const sub = inPod(env, ['sub', ch.name, '--count', String(n), '--verify', '--json', '--quiet']);
    await quietPeriod(1500);
    expect(sub.stderr()).not.toMatch(/subscribed/);
    expect(codeOf(() => Channel.open(ch))).toBe(ErrorCode.SEGMENT_NOT_FOUND);
    agentMakes(ch);
    await sub.waitFor(new RegExp(`subscribed to ${NAMESPACE}/${ch.name}`));
    const pub = await runInPod(env, ['pub', ch.name, '--count', String(n), '--size', '100', '--seq']);
    expect(pub.code, pub.stderr).toBe(0);
    expect(pub.stderr).toMatch(new RegExp(`published ${n} messages \\(${n * 100} bytes\\) to ${NAMESPACE}/${ch.name}`));
    expect(await exitWithin(sub, 60_000)).toBe(0);
    expect(JSON.parse(sub.stdout().trim())).toMatchObject({ received: n, bytes: n * 100, gaps: 0, outOfOrder: 0, lost: 0, corrupt: 0 });

    const seg = Channel.open(ch);
    const s = seg.stats();
    seg.close();
    expect({ key: s.key, mode: s.mode, capacity: s.capacity, maxMessage: s.maxMessage, slowConsumer: s.slowConsumer }).toEqual({
      key: ch.keyText,
      mode: 'pubsub',
      capacity: 256 * 1024,
      maxMessage: 1024,
      slowConsumer: 'block',
    });
    expect(s.messages).toBe(n);
    // The uid is part of the key: nothing was made under the standalone identity.
    expect(codeOf(() => Channel.open(uidLess(ch)))).toBe(ErrorCode.SEGMENT_NOT_FOUND);
    expect(codeOf(() => Channel.open(other))).toBe(ErrorCode.SEGMENT_NOT_FOUND);

    // `channel ls --json` lists it from inside the pod as from outside.
    for (const ls of [await runInPod(env, ['channel', 'ls', '--json']), await run(['channel', 'ls', '--json'])]) {
      expect(ls.code, ls.stderr).toBe(0);
      const listed = (JSON.parse(ls.stdout) as Array<{ namespace: string; name: string; key: string; capacity: number }>).filter((c) => c.name === ch.name);
      expect(listed).toMatchObject([{ namespace: NAMESPACE, name: ch.name, key: ch.keyText, capacity: 256 * 1024 }]);
    }
  });

  it('give up after --segment-wait with one coded line that names the node agent, having made nothing', async () => {
    const ch = podChannel('envw');
    const started = Date.now();
    const sub = await runInPod(injectedEnv(ch), ['sub', ch.name, '--segment-wait', '1s']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(sub.code).toBe(1);
    expect(sub.stderr.trim().split('\n')).toHaveLength(1);
    expect(sub.stderr).toMatch(
      new RegExp(`Channel ${NAMESPACE}/${ch.name} has no segment on this node after 1 s.*node agent.*\\[${ErrorCode.SEGMENT_NOT_FOUND}\\]`),
    );
    expect(codeOf(() => Channel.open(ch))).toBe(ErrorCode.SEGMENT_NOT_FOUND);
  });

  it('use the environment only for the listed names and only without --namespace; a broken environment is one coded line', async () => {
    const ch = podChannel('envx', { capacity: '64Ki', maxMessageSize: '1Ki' });
    const env = injectedEnv(ch);

    // --namespace given: standalone behaviour, open only, no uid.
    const explicit = await runInPod(env, ['pub', ch.name, '--namespace', NAMESPACE, 'hello']);
    expect(explicit.code).toBe(1);
    expect(explicit.stderr).toMatch(new RegExp(`channel ${NAMESPACE}/${ch.name}\\).*\\[${ErrorCode.SEGMENT_NOT_FOUND}\\]`));
    // NAME not in SHIMMY_CHANNELS: standalone behaviour, namespace "default".
    const unlisted = await runInPod(env, ['sub', `${ch.name}-not-listed`]);
    expect(unlisted.code).toBe(1);
    expect(unlisted.stderr).toMatch(new RegExp(`channel default/${ch.name}-not-listed\\).*\\[${ErrorCode.SEGMENT_NOT_FOUND}\\]`));

    // Listed, but the key does not match the identity (a stale or hand-edited environment).
    const keyVar = channelEnvVar(ch.name, 'KEY');
    const stale = { ...env, [keyVar]: '0x00000001' };
    for (const args of [
      ['pub', ch.name, 'hello'],
      ['sub', ch.name, '--count', '1'],
    ]) {
      const broken = await runInPod(stale, args);
      expect(broken.code).toBe(1);
      expect(broken.stderr.trim().split('\n')).toHaveLength(1);
      expect(broken.stderr).toMatch(
        new RegExp(`^shimmy: ${keyVar}=0x00000001 does not match channel ${NAMESPACE}/${ch.name}.*\\[${ErrorCode.INVALID_ENV}\\]\\n$`),
      );
    }
    // Listed, but a setting missing.
    const { [channelEnvVar(ch.name, 'CAPACITY')]: _capacity, ...partial } = env;
    const missing = await runInPod(partial, ['pub', ch.name, 'hello']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(new RegExp(`^shimmy: ${channelEnvVar(ch.name, 'CAPACITY')} is not set.*\\[${ErrorCode.MISSING_ENV}\\]\\n$`));
    expect(codeOf(() => Channel.open(ch))).toBe(ErrorCode.SEGMENT_NOT_FOUND);
  });
});

describe('shimmy pub --wait-subscribers', () => {
  it('started before its subscribers, sends nothing until both are attached, then everything to both', async () => {
    const ch = podChannel('waitsubs', { capacity: '64Ki', maxMessageSize: '1Ki' });
    agentMakes(ch);
    const env = injectedEnv(ch);
    const n = 5000;
    const pub = inPod(env, ['pub', ch.name, '--count', String(n), '--size', '64', '--seq', '--wait-subscribers', '2']);
    await pub.waitFor(new RegExp(`waiting for 2 subscribers on ${NAMESPACE}/${ch.name} \\(0 attached, --timeout 60s\\)`));
    const subArgs = ['sub', ch.name, '--count', String(n), '--verify', '--json', '--quiet'];
    const first = inPod(env, subArgs);
    await first.waitFor(/subscribed/);
    expect(pub.stderr()).not.toMatch(/published/);
    const second = inPod(env, subArgs);
    await second.waitFor(/subscribed/);
    expect(await exitWithin(pub, 60_000)).toBe(0);
    for (const sub of [first, second]) {
      expect(await exitWithin(sub, 60_000), sub.stderr()).toBe(0);
      expect(JSON.parse(sub.stdout().trim())).toMatchObject({ received: n, bytes: n * 64, gaps: 0, outOfOrder: 0, lost: 0, corrupt: 0 });
    }
    expect(pub.stderr().match(/waiting for/g)).toHaveLength(1);
    expect(pub.stderr()).toMatch(new RegExp(`published ${n} messages`));
  });

  it('gives up after --timeout with a coded error, exiting non-zero promptly', async () => {
    const ch = podChannel('waittimeout');
    agentMakes(ch);
    const started = performance.now();
    const p = inPod(injectedEnv(ch), ['pub', ch.name, '--count', '1', '--wait-subscribers', '1', '--timeout', '300ms']);
    const code = await exitWithin(p, 30_000);
    const elapsed = performance.now() - started;
    expect(code).toBe(1);
    expect(elapsed).toBeGreaterThanOrEqual(300);
    expect(elapsed).toBeLessThan(5000);
    const lines = p.stderr().trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^shimmy: waiting for 1 subscriber on .*\(0 attached, --timeout 300ms\)$/);
    expect(lines[1]).toMatch(
      new RegExp(
        `^shimmy: Timed out after 300ms waiting for 1 subscriber on channel ${NAMESPACE}/${ch.name}: 0 attached\\. .*--timeout.* \\[${ErrorCode.TIMEOUT}\\]$`,
      ),
    );
    const seg = Channel.open(ch);
    expect(seg.stats().messages).toBe(0);
    seg.close();
  });

  it('works outside a pod too, and its flags are checked and described', async () => {
    const ref = { namespace: NAMESPACE, name: `waitflags-${randomBytes(4).toString('hex')}` };
    made.push(ref);
    expect((await run(['channel', 'create', ref.name, '-n', ref.namespace, '--capacity', '64KiB', '--max-message', '1KiB'])).code).toBe(0);
    const timedOut = await run(['pub', ref.name, '-n', ref.namespace, 'x', '--wait-subscribers', '1', '--timeout', '100ms']);
    expect(timedOut.code).toBe(1);
    expect(timedOut.stderr).toMatch(
      new RegExp(`Timed out after 100ms waiting for 1 subscriber on channel ${NAMESPACE}/${ref.name}: 0 attached.*\\[${ErrorCode.TIMEOUT}\\]`),
    );

    const noWait = await run(['pub', ref.name, '-n', ref.namespace, 'x', '--timeout', '1s']);
    expect(noWait.code).toBe(1);
    expect(noWait.stderr).toMatch(new RegExp(`--timeout only limits --wait-subscribers.*\\[${ErrorCode.INVALID_ARGUMENT}\\]`));
    const badDuration = await run(['pub', ref.name, '-n', ref.namespace, 'x', '--wait-subscribers', '1', '--timeout', 'soon']);
    expect(badDuration.code).not.toBe(0);
    expect(badDuration.stderr).toMatch(/--timeout must be a duration like 30s/);
    const zero = await run(['pub', ref.name, '-n', ref.namespace, 'x', '--wait-subscribers', '0']);
    expect(zero.code).not.toBe(0);
    expect(zero.stderr).toMatch(/--wait-subscribers must be an integer >= 1/);
    const seg = Channel.open(ref);
    expect(seg.stats().messages).toBe(0);
    seg.close();

    // pub takes only pub/sub channels: on a stream channel it refuses at once, without waiting.
    const stream = { namespace: NAMESPACE, name: `waitstream-${randomBytes(4).toString('hex')}` };
    made.push(stream);
    expect((await run(['channel', 'create', stream.name, '-n', stream.namespace, '--mode', 'stream'])).code).toBe(0);
    const onStream = await run(['pub', stream.name, '-n', stream.namespace, 'x', '--wait-subscribers', '1']);
    expect(onStream.code).toBe(1);
    expect(onStream.stderr).not.toMatch(/waiting for/);
    expect(onStream.stderr).toMatch(new RegExp(`is a stream channel.*\\[${ErrorCode.WRONG_MODE}\\]`));

    const help = await run(['pub', '--help']);
    expect(help.stdout).toMatch(/--wait-subscribers <n>\s+before sending anything, wait until at least n\s+subscribers are attached/);
    expect(help.stdout).toMatch(/--timeout <duration>\s+with --wait-subscribers: give up[\s\S]*500ms,\s+30s,\s+2m \(default: 60s\)/);
    expect(help.stdout).toMatch(/--namespace <ns>\s+namespace \(default: SHIMMY_NAMESPACE when NAME is\s+in\s+SHIMMY_CHANNELS/);
  });
});
