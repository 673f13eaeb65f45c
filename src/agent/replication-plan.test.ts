import { describe, expect, it } from 'vitest';
import type { ChannelEndpoint } from '../k8s/types.js';
import type { ReplicatorReport } from '../replication/node-replicator.js';
import { parseReplicationAddress, peerStatuses, replicatedChannels } from './replication-plan.js';
import type { WantedSegment } from './segment-plan.js';

const endpoint = (channel: string, peers: string[]): ChannelEndpoint =>
  ({ metadata: { namespace: 'ns', name: `${channel}-n1` }, spec: { channel, peers } }) as unknown as ChannelEndpoint;
const want = (name: string, mode: 'pubsub' | 'stream', memory: 'HostIPC' | 'Volume' = 'HostIPC'): WantedSegment => ({
  key: 7,
  ref: { namespace: 'ns', name },
  endpoint: `ns/${name}-n1`,
  memory,
  settings: { mode, capacity: 65536, maxMessage: 1024, slowConsumer: 'block' },
});

describe('parseReplicationAddress', () => {
  it('takes IPv4:port and nothing else', () => {
    expect(parseReplicationAddress('10.0.1.5:7470')).toEqual({ ip: '10.0.1.5', port: 7470 });
    for (const bad of [undefined, '', '10.0.1.5', '10.0.1.5:0', '10.0.1.5:70000', '300.0.0.1:7470', 'host:7470', '[::1]:7470', '10.0.1.5:7470 '])
      expect(parseReplicationAddress(bad), String(bad)).toBeUndefined();
  });
});

describe('replicatedChannels', () => {
  it('replicates the channels that have peers, pub/sub and stream, with their mode, window and, for Volume, their file', () => {
    const got = replicatedChannels(
      [
        { endpoint: endpoint('a', ['n3', 'n2']), want: want('a', 'pubsub') },
        { endpoint: endpoint('b', []), want: want('b', 'pubsub') },
        { endpoint: endpoint('c', ['n2']), want: want('c', 'stream') },
        { endpoint: endpoint('d', ['n2']), want: want('d', 'pubsub', 'Volume') },
      ],
      (ref) => `/run/${ref.name}/ring`,
    );
    expect(got).toEqual([
      { ref: { namespace: 'ns', name: 'a' }, key: 7, maxMessage: 1024, windowBytes: 65536, peers: ['n2', 'n3'], mode: 'pubsub' },
      { ref: { namespace: 'ns', name: 'c' }, key: 7, maxMessage: 1024, windowBytes: 65536, peers: ['n2'], mode: 'stream' },
      { ref: { namespace: 'ns', name: 'd' }, key: 7, maxMessage: 1024, windowBytes: 65536, peers: ['n2'], mode: 'pubsub', file: '/run/d/ring' },
    ]);
  });
});

describe('peerStatuses', () => {
  const report: ReplicatorReport = {
    links: [
      { node: 'n2', state: 'Connected', transport: 'tcp/eth0', reconnects: 1 },
      { node: 'n3', state: 'Dropped', reconnects: 0, lastError: 'connecting to 10.0.0.3:7470 timed out' },
    ],
    channels: {
      'ns/a': [
        {
          peer: 'n2',
          forwarded: 5,
          resent: 2,
          landed: 4,
          repeats: 1,
          unacknowledged: 6,
          skipped: 0,
          restarts: 0,
          resendRequests: 0,
          rejected: 0,
          resumes: 1,
          recovered: 3,
        },
      ],
    },
    waiting: {},
    finished: {},
  };

  it("gives each peer its link, the link's transport and the channel's counters with it", () => {
    expect(peerStatuses(endpoint('a', ['n3', 'n2', 'n4']), report, (n) => n !== 'n4', undefined)).toEqual([
      {
        node: 'n2',
        link: 'Connected',
        transport: 'tcp/eth0',
        forwarded: 5,
        landed: 4,
        resent: 2,
        repeats: 1,
        resumes: 1,
        recovered: 3,
        unacknowledged: 6,
        reconnects: 1,
      },
      {
        node: 'n3',
        link: 'Dropped',
        forwarded: 0,
        landed: 0,
        resent: 0,
        repeats: 0,
        resumes: 0,
        recovered: 0,
        unacknowledged: 0,
        reconnects: 0,
        message: 'connecting to 10.0.0.3:7470 timed out',
      },
      expect.objectContaining({ node: 'n4', link: 'NoAddress' }),
    ]);
  });

  it('says Off with why when the agent does not replicate the channel, and why a channel is not open yet', () => {
    const off = 'this agent does not replicate (start it with --replication-port)';
    expect(peerStatuses(endpoint('a', ['n2']), report, () => true, off)).toEqual([expect.objectContaining({ node: 'n2', link: 'Off', message: off })]);
    const waiting = { ...report, channels: {}, waiting: { 'ns/a': 'no segment' } };
    expect(peerStatuses(endpoint('a', ['n2']), waiting, () => true, undefined)[0]).toMatchObject({
      link: 'Connected',
      message: 'not replicating yet: no segment',
    });
  });
});
