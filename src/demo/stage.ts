/**
 * One stage of the demo pipeline, as its own process (started by pipeline.ts with a JSON
 * config in argv[2], reporting over IPC).
 */
import { STAGES, FrameView, blurBoxes, computeMetadata, detectBlobs, frameBytes, halve, now, renderCamera, type StageName } from './frame.js';
import { shmIn, shmOut, tcpIn, tcpOut, type InLink, type OutLink } from './links.js';

export interface StageConfig {
  stage: StageName;
  transport: 'shm' | 'tcp';
  frames: number;
  fps: number;
  width: number;
  height: number;
  namespace: string;
  runId: string;
  /** For tcp: the port of the next stage. */
  nextPort?: number;
}

export type StageReport =
  | { type: 'listening'; port?: number }
  | { type: 'finished'; frames: number[][] }
  | { type: 'error'; message: string };

const report = (r: StageReport) => process.send!(r);
const cfg = JSON.parse(process.argv[2]!) as StageConfig;
const index = STAGES.indexOf(cfg.stage);
const ref = (hop: number) => ({ namespace: cfg.namespace, name: `demo-${cfg.runId}-hop${hop}` });

async function main(): Promise<void> {
  let input: InLink | null = null;
  if (index > 0) {
    if (cfg.transport === 'shm') {
      input = shmIn(ref(index));
      report({ type: 'listening' });
    } else {
      const t = await tcpIn();
      input = t.link;
      report({ type: 'listening', port: t.port });
    }
  }
  const next = (await new Promise((resolve) => process.once('message', resolve))) as { nextPort?: number };
  let output: OutLink | null = null;
  if (index < STAGES.length - 1) output = cfg.transport === 'shm' ? shmOut(ref(index + 1)) : await tcpOut(next.nextPort!);
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
  await input!.run((bytes) => {
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
  }, () => seen >= cfg.frames);
  await Promise.all(pending);
  input!.close();
  await output?.close();
  if (cfg.stage === 'resize') report({ type: 'finished', frames: timings });
}

// Never outlive the parent: it may have been killed without cleaning up.
process.on('disconnect', () => process.exit(1));

main().then(
  () => setTimeout(() => process.exit(0), 20),
  (err: Error) => {
    report({ type: 'error', message: err?.stack ?? String(err) });
    setTimeout(() => process.exit(1), 20);
  },
);
