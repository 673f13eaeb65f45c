/**
 * The UCX link between two hosts (two network namespaces joined by a veth pair) against the
 * raw link, measured in one run: `ucx_perftest` (UCX's own tag-matching benchmark, the
 * ceiling) and Shimmy's link (src/replication/ucx.ts, from JavaScript), both on UCX's TCP
 * transport over the veth, without and with the MAC the agents put on every message (the
 * cluster's replication key). Latency is one-way (half a round trip), p50; the rate and the
 * bandwidth are one sender streaming 16 B and 100 KB messages. Run: `npm run bench:ucx-link`
 * (root: it makes the hosts).
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createHostPair, type HostPair } from '../../src/replication/host-pair.js';
import { perftest, runOn, until } from './perftest.js';

const PEER = fileURLToPath(new URL('./peer.js', import.meta.url));
const LAT = { size: 16, count: 20_000 };
const RATE = { size: 16, count: 200_000 };
const BW = { size: 100 * 1024, count: 2_000 };

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
