/**
 * The UCX link between two hosts (two network namespaces joined by a veth pair) against the
 * raw link, measured in one run: `ucx_perftest` (UCX's own tag-matching benchmark, the
 * ceiling) and Shimmy's link (src/replication/ucx.ts, from JavaScript), both on UCX's TCP
 * transport over the veth, without and with the MAC the agents put on every message (the
 * cluster's replication key). Latency is one-way (half a round trip), p50; the rate and the
 * bandwidth are one sender streaming 16 B and 100 KB messages. Run: `npm run bench:ucx-link`
 * (root: it makes the hosts).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createHostPair, type HostPair, type Side } from '../../src/replication/host-pair.js';

const PEER = fileURLToPath(new URL('./peer.js', import.meta.url));
const LAT = { size: 16, count: 20_000 };
const RATE = { size: 16, count: 200_000 };
const BW = { size: 100 * 1024, count: 2_000 };

interface Proc {
  out: Promise<string>;
  lines: string[];
}

function runOn(pair: HostPair, side: Side, program: string, args: string[], env: Record<string, string> = {}): Proc {
  const [cmd, argv] = pair.on(side, program, args);
  const child = spawn(cmd, argv, { env: { ...process.env, UCX_TLS: 'tcp', UCX_NET_DEVICES: pair.veth[side], ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let text = '';
  child.stdout.on('data', (d: Buffer) => {
    text += d;
    lines.push(...d.toString().split('\n').filter(Boolean));
  });
  child.stderr.on('data', (d: Buffer) => (text += d));
  const out = new Promise<string>((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`${program} ${args.join(' ')} exited ${code}: ${text.slice(-800)}`)))),
  );
  return { out, lines };
}

async function until(proc: Proc, pattern: RegExp): Promise<RegExpExecArray> {
  for (let i = 0; i < 200; i++) {
    for (const l of proc.lines) {
      const m = pattern.exec(l);
      if (m) return m;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no ${pattern} from the server`);
}

/** ucx_perftest's "Final:" line: [iterations, p50 latency us, avg, overall, MB/s avg, MB/s overall, ...]. */
async function perftest(pair: HostPair, test: string, size: number, count: number): Promise<number[]> {
  const port = String(20000 + (process.pid % 10000));
  const server = runOn(pair, 'a', 'ucx_perftest', ['-p', port]);
  await new Promise((r) => setTimeout(r, 500));
  const client = runOn(pair, 'b', 'ucx_perftest', [
    pair.address.a,
    '-p',
    port,
    '-t',
    test,
    '-s',
    String(size),
    '-n',
    String(count),
    '-w',
    String(Math.ceil(count / 10)),
  ]);
  const [text] = await Promise.all([client.out, server.out]);
  const final = text.split('\n').find((l) => l.startsWith('Final:'));
  if (!final) throw new Error(`ucx_perftest printed no Final line: ${text.slice(-800)}`);
  return final.split(/\s+/).slice(1).map(Number);
}

async function link(pair: HostPair, serve: 'serve' | 'echo', size: number, count: number, key?: string): Promise<Record<string, number>> {
  const env: Record<string, string> = key ? { SHIMMY_LINK_KEY: key } : {};
  const server = runOn(pair, 'a', process.execPath, [PEER, serve, pair.address.a, String(count), String(size)], env);
  const port = (await until(server, /listening (\d+)/))[1]!;
  const client = runOn(pair, 'b', process.execPath, [PEER, serve === 'echo' ? 'ping' : 'send', pair.address.a, port, String(count), String(size)], env);
  const [sent, received] = await Promise.all([client.out, server.out]);
  const last = (t: string) => JSON.parse(t.trim().split('\n').pop()!) as Record<string, number>;
  return { ...last(received), ...last(sent) };
}

const pair = createHostPair(process.pid);
try {
  const rawLat = await perftest(pair, 'tag_lat', LAT.size, LAT.count);
  const rawBw = await perftest(pair, 'tag_bw', BW.size, BW.count);
  const rawRate = await perftest(pair, 'tag_bw', RATE.size, RATE.count);
  const key = randomBytes(32).toString('hex');
  const [ours, oursKeyed] = [await link(pair, 'echo', LAT.size, LAT.count), await link(pair, 'echo', LAT.size, LAT.count, key)];
  const [oursRate, oursRateKeyed] = [await link(pair, 'serve', RATE.size, RATE.count), await link(pair, 'serve', RATE.size, RATE.count, key)];
  const [oursBw, oursBwKeyed] = [await link(pair, 'serve', BW.size, BW.count), await link(pair, 'serve', BW.size, BW.count, key)];
  const perSecond = (mbPerSecond: number) => (mbPerSecond * 1e6) / RATE.size / 1000;
  // [what, raw, link, link with MAC, lower is better]
  const rows = [
    ['one-way p50, 16 B (us)', rawLat[1]!, ours.p50Us!, oursKeyed.p50Us!, true],
    ['rate, 16 B (k msg/s)', perSecond(rawRate[5]!), perSecond(oursRate.mbPerSecond!), perSecond(oursRateKeyed.mbPerSecond!), false],
    ['bandwidth, 100 KB (MB/s)', rawBw[5]!, oursBw.mbPerSecond!, oursBwKeyed.mbPerSecond!, false],
  ] as const;
  const worse = (x: number, than: number, lowerIsBetter: boolean) => (lowerIsBetter ? x / than : than / x).toFixed(2) + 'x';
  console.log(`UCX link over a veth pair (UCX_TLS=tcp), ${new Date().toISOString()}`);
  console.log('measure                    ucx_perftest  shimmy link  link+MAC   link vs raw  MAC vs link (worse by)');
  for (const [what, raw, shimmy, keyed, lower] of rows)
    console.log(
      `${what.padEnd(26)} ${raw.toFixed(1).padStart(12)} ${shimmy.toFixed(1).padStart(12)} ${keyed.toFixed(1).padStart(9)}   ${worse(shimmy, raw, lower).padStart(11)}  ${worse(keyed, shimmy, lower).padStart(11)}`,
    );
  if (process.argv.includes('--json')) console.log(JSON.stringify({ rawLat, rawBw, rawRate, ours, oursKeyed, oursRate, oursRateKeyed, oursBw, oursBwKeyed }));
} finally {
  pair.remove();
}
