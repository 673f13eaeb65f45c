/**
 * An SVG chart of the matrix, one column per message size: throughput per transport (msg/s,
 * the best of the counts) above, one-way latency (a p50 bar and a p99 marker, microseconds)
 * below, both on log-scale axes shared by all sizes so columns compare. A plain,
 * self-contained SVG string: no scripts, fonts or dependencies.
 */
import type { BenchRow } from './runner.js';

const esc = (s: string) => s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!);

const LABEL_W = 90;
const PLOT_W = 330;
const VALUE_W = 150;
const COL_W = LABEL_W + PLOT_W + VALUE_W;
const BAR_H = 16;
const ROW_H = 22;

const positive = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;

/** 1, 10, 100, 1k, 10k, ... 1M, 10M, ... */
export function formatTick(v: number): string {
  if (v >= 1e9) return `${v / 1e9}G`;
  if (v >= 1e6) return `${v / 1e6}M`;
  if (v >= 1e3) return `${v / 1e3}k`;
  return String(v);
}

export interface LogScale {
  lo: number;
  hi: number;
  /** Pixels from the plot's left edge. */
  x(v: number): number;
  /** The powers of ten from lo to hi. */
  ticks: number[];
}

/** A log10 scale over whole decades covering `values` (1..10 when there are none). */
export function logScale(values: number[], width: number): LogScale {
  const vs = values.filter(positive);
  const lo = vs.length ? Math.floor(Math.log10(Math.min(...vs))) : 0;
  let hi = vs.length ? Math.ceil(Math.log10(Math.max(...vs))) : 1;
  // One value, or all on one power of ten: still a decade wide.
  if (hi <= lo) hi = lo + 1;
  const ticks: number[] = [];
  for (let d = lo; d <= hi; d++) ticks.push(10 ** d);
  return {
    lo: 10 ** lo,
    hi: 10 ** hi,
    ticks,
    x: (v) => ((Math.min(Math.max(Math.log10(v), lo), hi) - lo) / (hi - lo)) * width,
  };
}

function color(transport: string): string {
  if (transport.startsWith('shm')) return '#d9480f';
  if (transport === 'bare-ring') return '#2b8a3e';
  return '#4263eb';
}

function sizeLabel(size: number): string {
  if (size >= 1024 * 1024 && size % (1024 * 1024) === 0) return `${size / (1024 * 1024)} MiB`;
  if (size >= 1024) return `${Math.round((size / 1024) * 10) / 10} KiB`;
  return `${size} B`;
}

const fmt = (v: number, digits = 0) => v.toLocaleString('en-US', { maximumFractionDigits: digits });

/** Gridlines and tick labels of a log axis below a panel's bars. */
function axis(parts: string[], scale: LogScale, x0: number, yTop: number, yBottom: number, unit: string): void {
  for (const t of scale.ticks) {
    const x = (x0 + scale.x(t)).toFixed(1);
    parts.push(`<line x1="${x}" y1="${yTop}" x2="${x}" y2="${yBottom}" stroke="#dee2e6"/>`);
    parts.push(`<text x="${x}" y="${yBottom + 13}" text-anchor="middle" font-size="10" fill="#495057">${formatTick(t)}</text>`);
  }
  parts.push(`<line x1="${x0}" y1="${yBottom}" x2="${x0 + PLOT_W}" y2="${yBottom}" stroke="#868e96"/>`);
  parts.push(`<text x="${x0 + PLOT_W}" y="${yBottom + 26}" text-anchor="end" font-size="10" fill="#495057">${esc(unit)} (log scale)</text>`);
}

export function renderChart(rows: BenchRow[]): string {
  const used = rows.filter((r) => !r.skipped);
  const sizes = [...new Set(used.map((r) => r.size))].sort((a, b) => a - b);
  const transports = [...new Set(rows.map((r) => r.transport))];
  const at = (t: string, size: number) => rows.filter((r) => r.transport === t && r.size === size);
  const best = (t: string, size: number) =>
    Math.max(
      0,
      ...at(t, size)
        .filter((r) => !r.skipped && !r.error && positive(r.msgsPerSec))
        .map((r) => r.msgsPerSec),
    );
  const lat = (t: string, size: number) => at(t, size).find((r) => !r.skipped && positive(r.p50Us));
  const why = (t: string, size: number) => {
    const rs = at(t, size);
    return rs.some((r) => r.skipped) ? 'skipped' : rs.some((r) => r.error) ? 'error' : 'n/a';
  };

  const tput = logScale(
    sizes.flatMap((s) => transports.map((t) => best(t, s))),
    PLOT_W,
  );
  const latScale = logScale(
    sizes.flatMap((s) => transports.flatMap((t) => [lat(t, s)?.p50Us ?? 0, lat(t, s)?.p99Us ?? 0])),
    PLOT_W,
  );

  const bars = transports.length * ROW_H;
  const tputTop = 92;
  const latTop = tputTop + bars + 70;
  const legendTop = latTop + bars + 48;
  const width = Math.max(900, 20 + COL_W * Math.max(1, sizes.length));
  const idle = new Map<string, string>();
  for (const r of rows) if (r.idle && !idle.has(r.transport)) idle.set(r.transport, r.idle);
  // The idle strategies, wrapped to the chart's width (about 6 px a character at 11 px).
  const idleLines: string[] = [];
  for (const entry of [...idle].map(([t, how]) => `${t} ${how}`)) {
    const last = idleLines.length - 1;
    if (last >= 0 && (idleLines[last]! + '; ' + entry).length * 6 < width - 40) idleLines[last] += `; ${entry}`;
    else idleLines.push(last < 0 ? `Receivers wait by: ${entry}` : entry);
  }
  const height = legendTop + 40 + idleLines.length * 16;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="20" y="24" font-size="16" font-weight="bold">One publisher to one subscriber: throughput and one-way latency per message size</text>`,
    `<text x="20" y="42" font-size="11" fill="#495057">Throughput: best of the counts, msg/s. Latency: half a ping-pong round trip, p50 bar and p99 marker, microseconds. Log scales.</text>`,
  ];
  sizes.forEach((size, p) => {
    const x0 = 20 + p * COL_W;
    const px = x0 + LABEL_W;
    parts.push(`<text x="${x0}" y="66" font-size="14" font-weight="bold">${esc(sizeLabel(size))} messages</text>`);
    parts.push(`<text x="${x0}" y="${tputTop - 8}" font-weight="bold">Throughput (msg/s)</text>`);
    parts.push(`<text x="${x0}" y="${latTop - 8}" font-weight="bold">Latency, one way (us)</text>`);
    axis(parts, tput, px, tputTop - 4, tputTop + bars, 'msg/s');
    axis(parts, latScale, px, latTop - 4, latTop + bars, 'microseconds');
    transports.forEach((t, i) => {
      const v = best(t, size);
      const y = tputTop + i * ROW_H;
      parts.push(`<text x="${x0}" y="${y + 12}">${esc(t)}</text>`);
      if (v > 0) {
        const w = Math.max(1, tput.x(v));
        parts.push(
          `<rect class="throughput" x="${px}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${color(t)}"><title>${esc(`${t}, ${sizeLabel(size)}: ${fmt(v)} msg/s`)}</title></rect>`,
        );
        parts.push(`<text x="${(px + w + 4).toFixed(1)}" y="${y + 12}" font-size="11">${fmt(v)}</text>`);
      } else parts.push(`<text x="${px + 4}" y="${y + 12}" font-size="11" fill="#868e96">${why(t, size)}</text>`);

      const l = lat(t, size);
      const ly = latTop + i * ROW_H;
      parts.push(`<text x="${x0}" y="${ly + 12}">${esc(t)}</text>`);
      if (l) {
        const w = Math.max(1, latScale.x(l.p50Us));
        const tip = `${t}, ${sizeLabel(size)}: p50 ${l.p50Us} us, p99 ${positive(l.p99Us) ? l.p99Us : '-'} us`;
        parts.push(
          `<rect class="latency-p50" x="${px}" y="${ly}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${color(t)}" fill-opacity="0.55"><title>${esc(tip)}</title></rect>`,
        );
        let label = `${fmt(l.p50Us, 2)}`;
        let end = px + w;
        if (positive(l.p99Us)) {
          const mx = px + latScale.x(l.p99Us);
          parts.push(`<line x1="${(px + w).toFixed(1)}" y1="${ly + BAR_H / 2}" x2="${mx.toFixed(1)}" y2="${ly + BAR_H / 2}" stroke="#212529"/>`);
          parts.push(
            `<rect class="latency-p99" x="${(mx - 2).toFixed(1)}" y="${ly - 1}" width="4" height="${BAR_H + 2}" fill="#212529"><title>${esc(tip)}</title></rect>`,
          );
          label += ` / ${fmt(l.p99Us, 2)}`;
          end = Math.max(end, mx + 2);
        }
        parts.push(`<text x="${(end + 4).toFixed(1)}" y="${ly + 12}" font-size="11">${label}</text>`);
      } else parts.push(`<text x="${px + 4}" y="${ly + 12}" font-size="11" fill="#868e96">${why(t, size)}</text>`);
    });
  });
  let ly = legendTop;
  parts.push(`<rect x="20" y="${ly - 10}" width="12" height="12" fill="#d9480f"/><text x="36" y="${ly}">Shimmy shared memory</text>`);
  parts.push(`<rect x="200" y="${ly - 10}" width="12" height="12" fill="#2b8a3e"/><text x="216" y="${ly}">bare ring (no protocol: the floor)</text>`);
  parts.push(`<rect x="440" y="${ly - 10}" width="12" height="12" fill="#4263eb"/><text x="456" y="${ly}">sockets, brokers, external peers</text>`);
  parts.push(`<rect x="680" y="${ly - 11}" width="4" height="14" fill="#212529"/><text x="690" y="${ly}">p99 (latency labels: p50 / p99)</text>`);
  ly += 4;
  for (const line of idleLines) {
    ly += 16;
    parts.push(`<text x="20" y="${ly}" font-size="11" fill="#495057">${esc(line)}</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}
