/**
 * Frames of the demo pipeline and the image work each stage does, in plain JavaScript:
 *   camera    renders a synthetic scene (gradient background, moving bright "faces")
 *   metadata  computes mean brightness and a 16-bin luma histogram
 *   detect    finds bright blobs (connected components on a 1/8 grid) as bounding boxes
 *   blur      box-blurs every detected box in place
 *   resize    halves the frame (2x2 averaging) for the consumer
 * Layout: a 256-byte header, then RGB pixels.
 *   0 magic u32 | 4 frameId u32 | 8 width u16 | 10 height u16 | 12 boxes u16 | 14 stage u16
 *   16 stamps f64[10]: per stage, when it received and when it sent the frame (epoch ms)
 *   96 brightness f64 | 104 histogram u32[16] | 168 boxes (x, y, w, h) u16[4] x 8
 */
import { monotonicMs as now } from '../clock.js';

export { now };
export const FRAME_MAGIC = 0x454d5246;
export const HEADER_BYTES = 256;
export const MAX_BOXES = 8;
export const STAGES = ['camera', 'metadata', 'detect', 'blur', 'resize'] as const;
export type StageName = (typeof STAGES)[number];

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export const frameBytes = (w: number, h: number) => HEADER_BYTES + w * h * 3;

export class FrameView {
  readonly dv: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get id() {
    return this.dv.getUint32(4, true);
  }
  get width() {
    return this.dv.getUint16(8, true);
  }
  get height() {
    return this.dv.getUint16(10, true);
  }
  get pixels() {
    return this.bytes.subarray(HEADER_BYTES, HEADER_BYTES + this.width * this.height * 3);
  }
  received(stage: number): number {
    return this.dv.getFloat64(16 + stage * 16, true);
  }
  sent(stage: number): number {
    return this.dv.getFloat64(24 + stage * 16, true);
  }
  markReceived(stage: number, t = now()) {
    this.dv.setFloat64(16 + stage * 16, t, true);
  }
  markSent(stage: number, t = now()) {
    this.dv.setFloat64(24 + stage * 16, t, true);
  }
  boxes(): Box[] {
    const n = this.dv.getUint16(12, true);
    const out: Box[] = [];
    for (let i = 0; i < n; i++) {
      const o = 168 + i * 8;
      out.push({ x: this.dv.getUint16(o, true), y: this.dv.getUint16(o + 2, true), w: this.dv.getUint16(o + 4, true), h: this.dv.getUint16(o + 6, true) });
    }
    return out;
  }
  setBoxes(boxes: Box[]) {
    const n = Math.min(MAX_BOXES, boxes.length);
    this.dv.setUint16(12, n, true);
    boxes.slice(0, n).forEach((b, i) => {
      const o = 168 + i * 8;
      this.dv.setUint16(o, b.x, true);
      this.dv.setUint16(o + 2, b.y, true);
      this.dv.setUint16(o + 4, b.w, true);
      this.dv.setUint16(o + 6, b.h, true);
    });
  }
  copyHeaderFrom(src: FrameView) {
    this.bytes.set(src.bytes.subarray(0, HEADER_BYTES));
  }
}

export function renderCamera(out: Uint8Array, id: number, w: number, h: number): void {
  const f = new FrameView(out);
  f.dv.setUint32(0, FRAME_MAGIC, true);
  f.dv.setUint32(4, id, true);
  f.dv.setUint16(8, w, true);
  f.dv.setUint16(10, h, true);
  f.dv.setUint16(12, 0, true);
  const px = f.pixels;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      px[i] = (x + id) & 0x3f;
      px[i + 1] = (y >> 2) & 0x3f;
      px[i + 2] = 40;
    }
  }
  // Three bright "faces" moving across the scene.
  for (let k = 0; k < 3; k++) {
    const cx = (id * (3 + k) + k * 200) % (w - 60);
    const cy = 40 + k * 140;
    for (let y = cy; y < Math.min(h, cy + 48); y++) {
      for (let x = cx; x < cx + 40; x++) {
        const i = (y * w + x) * 3;
        px[i] = 230;
        px[i + 1] = 190;
        px[i + 2] = 160;
      }
    }
  }
}

export function computeMetadata(f: FrameView): void {
  const px = f.pixels;
  const hist = new Uint32Array(16);
  let sum = 0;
  for (let i = 0; i < px.length; i += 3) {
    const luma = (px[i]! * 77 + px[i + 1]! * 150 + px[i + 2]! * 29) >> 8;
    sum += luma;
    hist[luma >> 4]!++;
  }
  f.dv.setFloat64(96, sum / (px.length / 3), true);
  hist.forEach((v, i) => f.dv.setUint32(104 + i * 4, v, true));
}

export function detectBlobs(f: FrameView): Box[] {
  const { width: w, height: h } = f;
  const px = f.pixels;
  const gw = Math.floor(w / 8);
  const gh = Math.floor(h / 8);
  const bright = new Uint8Array(gw * gh);
  for (let gy = 0; gy < gh; gy++) {
    for (let gx = 0; gx < gw; gx++) {
      const i = ((gy * 8 + 4) * w + gx * 8 + 4) * 3;
      bright[gy * gw + gx] = px[i]! > 200 ? 1 : 0;
    }
  }
  const label = new Int32Array(gw * gh).fill(-1);
  const boxes: Box[] = [];
  const stack: number[] = [];
  for (let start = 0; start < bright.length; start++) {
    if (!bright[start] || label[start]! >= 0) continue;
    let [x0, y0, x1, y1] = [gw, gh, 0, 0];
    stack.push(start);
    label[start] = boxes.length;
    while (stack.length) {
      const c = stack.pop()!;
      const cx = c % gw;
      const cy = (c - cx) / gw;
      x0 = Math.min(x0, cx);
      y0 = Math.min(y0, cy);
      x1 = Math.max(x1, cx);
      y1 = Math.max(y1, cy);
      for (const n of [c - 1, c + 1, c - gw, c + gw]) {
        if (n < 0 || n >= bright.length || !bright[n] || label[n]! >= 0) continue;
        if ((n === c - 1 && cx === 0) || (n === c + 1 && cx === gw - 1)) continue;
        label[n] = boxes.length;
        stack.push(n);
      }
    }
    boxes.push({ x: x0 * 8, y: y0 * 8, w: (x1 - x0 + 1) * 8, h: (y1 - y0 + 1) * 8 });
  }
  return boxes;
}

export function blurBoxes(f: FrameView, boxes: Box[]): void {
  const w = f.width;
  const px = f.pixels;
  for (const b of boxes) {
    for (let y = b.y; y < b.y + b.h; y += 4) {
      for (let x = b.x; x < b.x + b.w; x += 4) {
        for (let c = 0; c < 3; c++) {
          let s = 0;
          for (let dy = 0; dy < 4; dy++) for (let dx = 0; dx < 4; dx++) s += px[((y + dy) * w + x + dx) * 3 + c]!;
          const avg = s >> 4;
          for (let dy = 0; dy < 4; dy++) for (let dx = 0; dx < 4; dx++) px[((y + dy) * w + x + dx) * 3 + c] = avg;
        }
      }
    }
  }
}

/** Writes the half-size frame into `out` (header copied, dimensions halved). */
export function halve(src: FrameView, out: Uint8Array): number {
  const w = src.width;
  const h = src.height;
  const dst = new FrameView(out);
  dst.copyHeaderFrom(src);
  const ow = w >> 1;
  const oh = h >> 1;
  dst.dv.setUint16(8, ow, true);
  dst.dv.setUint16(10, oh, true);
  const s = src.pixels;
  const d = out.subarray(HEADER_BYTES);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const i = (2 * y * w + 2 * x) * 3;
      const j = i + w * 3;
      const o = (y * ow + x) * 3;
      for (let c = 0; c < 3; c++) d[o + c] = (s[i + c]! + s[i + 3 + c]! + s[j + c]! + s[j + 3 + c]!) >> 2;
    }
  }
  return HEADER_BYTES + ow * oh * 3;
}
