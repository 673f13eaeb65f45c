/**
 * One stage of the demo pipeline: the frame work and the links, the same in every setting.
 * How a stage is told where its next hop is and where its reports go is a Coordinator:
 *   - stage-process.ts: a child process of the local demo (pipeline.ts), over Node IPC;
 *   - stage-pod.ts: a pod of `shimmy demo --cluster` (`shimmy demo-stage`), configured by
 *     argv and the webhook's SHIMMY_* environment, reporting JSON lines on stdout.
 */
import { Channel } from '../channel/channel.js';
import type { ChannelRef } from '../channel/names.js';
import { openChannelWhenReady } from '../client/open.js';
import { STAGES, FrameView, blurBoxes, computeMetadata, detectBlobs, frameBytes, halve, now, renderCamera, type StageName } from './frame.js';
import { shmIn, shmOut, tcpIn, tcpOut, type InLink, type OutLink } from './links.js';

export interface Address {
  host: string;
  port: number;
}

export interface StageConfig {
  stage: StageName;
  transport: 'shm' | 'tcp';
  frames: number;
  fps: number;
  width: number;
  height: number;
  /**
   * shm: where the hop channels are. Explicit: `demo-<runId>-hop<N>` in `namespace`, made and
   * removed by the orchestrator. 'injected': `hop<N>` from the pod's SHIMMY_* environment,
   * created when absent (there is no node agent yet) and removed by their reader when done.
   */
  channels: { namespace: string; runId: string } | 'injected';
  /** tcp: where to listen; default loopback on a free port. */
  listen?: Address;
}

export type StageReport = { type: 'listening'; port?: number } | { type: 'finished'; frames: number[][] } | { type: 'error'; message: string };

export interface Coordinator {
  report(r: StageReport): void;
  /**
   * Called after 'listening': resolves once frames may flow, with the next stage's address
   * for tcp (undefined for shm and for the last stage).
   */
  nextHop(): Promise<Address | undefined>;
}

/** The name of the channel between stage `hop - 1` and stage `hop`. */
export const hopChannel = (hop: number) => `hop${hop}`;

async function openHop(cfg: StageConfig, hop: number): Promise<{ channel: Channel; ref: ChannelRef }> {
  if (cfg.channels === 'injected') {
    const { channel } = await openChannelWhenReady(hopChannel(hop));
    return { channel, ref: channel.ref };
  }
  const ref = { namespace: cfg.channels.namespace, name: `demo-${cfg.channels.runId}-${hopChannel(hop)}` };
  return { channel: Channel.open(ref), ref };
}

export async function runStage(cfg: StageConfig, coord: Coordinator): Promise<void> {
  const index = STAGES.indexOf(cfg.stage);
  let input: InLink | null = null;
  let inputRef: ChannelRef | null = null;
  if (index > 0) {
    if (cfg.transport === 'shm') {
      const hop = await openHop(cfg, index);
      // A memory file is the node agent's to remove, once the namespace's endpoints are gone.
      if (hop.channel.memory === 'segment') inputRef = hop.ref;
      input = shmIn(hop.channel);
      coord.report({ type: 'listening' });
    } else {
      const t = await tcpIn(cfg.listen);
      input = t.link;
      coord.report({ type: 'listening', port: t.port });
    }
  }
  const next = await coord.nextHop();
  let output: OutLink | null = null;
  if (index < STAGES.length - 1) output = cfg.transport === 'shm' ? shmOut((await openHop(cfg, index + 1)).channel) : await tcpOut(next!);
  const max = frameBytes(cfg.width, cfg.height);

  if (cfg.stage === 'camera') {
    const start = now();
    for (let id = 0; id < cfg.frames; id++) {
      const due = start + (cfg.fps ? (id * 1000) / cfg.fps : 0);
      const wait = due - now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await output!.send(max, (out) => {
        const f = new FrameView(out);
        const t = now();
        renderCamera(out, id, cfg.width, cfg.height);
        f.markReceived(0, t);
        f.markSent(0);
        return max;
      });
    }
    await output!.close();
    return;
  }

  let seen = 0;
  const timings: number[][] = [];
  const pending: Promise<void>[] = [];
  await input!.run(
    (bytes) => {
      const arrived = now();
      seen++;
      const src = new FrameView(bytes);
      if (cfg.stage === 'resize') {
        const out = new Uint8Array(frameBytes(src.width >> 1, src.height >> 1));
        halve(src, out);
        const f = new FrameView(out);
        f.markReceived(index, arrived);
        f.markSent(index);
        const row: number[] = [];
        for (let s = 0; s < STAGES.length; s++) row.push(f.received(s), f.sent(s));
        timings.push(row);
        return;
      }
      // Copy the frame into the outgoing buffer (the ring itself for shm), then work in place.
      const forward = (from: Uint8Array) => (out: Uint8Array) => {
        out.set(from);
        const f = new FrameView(out);
        f.markReceived(index, arrived);
        if (cfg.stage === 'metadata') computeMetadata(f);
        else if (cfg.stage === 'detect') f.setBoxes(detectBlobs(f));
        else if (cfg.stage === 'blur') blurBoxes(f, f.boxes());
        f.markSent(index);
        return from.length;
      };
      // The input is a view valid only during this call: when the next stage is behind, keep a copy.
      if (!output!.trySend(max, forward(bytes))) pending.push(output!.send(max, forward(bytes.slice())));
    },
    () => seen >= cfg.frames,
  );
  await Promise.all(pending);
  input!.close();
  // Every frame of the hop has been read, so its writer has written them all: nobody needs
  // the segment again, and it goes once both have detached.
  if (cfg.channels === 'injected' && inputRef) Channel.remove(inputRef);
  await output?.close();
  if (cfg.stage === 'resize') coord.report({ type: 'finished', frames: timings });
}
