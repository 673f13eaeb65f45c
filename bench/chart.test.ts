import { describe, expect, it } from 'vitest';
import { formatTick, logScale, renderChart } from './chart.js';
import type { BenchRow } from './runner.js';

const row = (transport: string, size: number, msgsPerSec: number, p50Us: number, p99Us: number, extra: Partial<BenchRow> = {}): BenchRow => ({
  transport,
  size,
  count: 100_000,
  msgsPerSec,
  mbPerSec: 0,
  p50Us,
  p99Us,
  p999Us: p99Us * 2,
  idle: transport.startsWith('shm') ? 'busy-spin' : 'event loop (epoll)',
  delivered: 100_000,
  ...extra,
});

/** Well-formed enough for a browser: every tag closed in order, attributes quoted, one root. */
function checkXml(svg: string): void {
  const stack: string[] = [];
  const tags = svg.match(/<[^>]+>/g) ?? [];
  for (const tag of tags) {
    expect(tag, tag).toMatch(/^<\/?[a-zA-Z][\w-]*(\s+[\w:-]+="[^"<>]*")*\s*\/?>$/);
    const name = /^<\/?([\w-]+)/.exec(tag)![1]!;
    if (tag.startsWith('</')) expect(stack.pop(), `closing ${name}`).toBe(name);
    else if (!tag.endsWith('/>')) stack.push(name);
  }
  expect(stack).toEqual([]);
  expect(tags[0]).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  // Text between tags has no stray markup characters.
  for (const text of svg.split(/<[^>]+>/)) expect(text).not.toMatch(/[<>]|&(?!(lt|gt|amp|quot|#39);)/);
}

const rows: BenchRow[] = [
  row('shm', 16, 15_000_000, 0.49, 4.29),
  row('shm', 16, 9_000_000, 0.49, 4.29, { count: 10_000 }),
  row('tcp', 16, 6_900_000, 11.5, 60),
  row('shm', 102_400, 170_000, 9.1, 16.2),
  row('tcp', 102_400, 32_000, 45.5, 182),
  row('kafka', 16, 0, NaN, NaN, { skipped: 'java is not installed; <install> & "retry"' }),
  row('kafka', 102_400, 0, NaN, NaN, { skipped: 'java is not installed; <install> & "retry"' }),
];

describe('logScale', () => {
  it('spans whole decades around the values, sub-unit latencies included', () => {
    const s = logScale([0.49, 182, NaN, 0], 300);
    expect(s.ticks).toEqual([0.1, 1, 10, 100, 1000]);
    expect(s.x(0.1)).toBe(0);
    expect(s.x(1000)).toBe(300);
    expect(s.x(10)).toBeCloseTo(150);
    expect(logScale([], 100).ticks).toEqual([1, 10]);
    expect(logScale([100], 100).ticks).toEqual([100, 1000]);
  });

  it('labels ticks with k, M, G', () => {
    expect([1, 10, 1000, 1e5, 1e6, 1e7, 1e9].map(formatTick)).toEqual(['1', '10', '1k', '100k', '1M', '10M', '1G']);
  });
});

describe('renderChart', () => {
  const svg = renderChart(rows);

  it('is one well-formed, self-contained SVG document', () => {
    checkXml(svg);
    expect(svg).not.toMatch(/<script|href=|@import|url\(/);
  });

  it('draws a panel per size with throughput and latency on log axes', () => {
    expect(svg).toContain('16 B messages');
    expect(svg).toContain('100 KiB messages');
    expect(svg.match(/Throughput \(msg\/s\)/g)).toHaveLength(2);
    expect(svg.match(/Latency, one way \(us\)/g)).toHaveLength(2);
    expect(svg).toContain('msg/s (log scale)');
    expect(svg).toContain('microseconds (log scale)');
    // Decade ticks: throughput from 10k to 100M, latency from 0.1 us to 1 ms.
    for (const tick of ['10k', '100k', '1M', '10M', '100M', '0.1', '1k']) expect(svg).toContain(`>${tick}</text>`);
  });

  it('shows the best throughput of the counts, a p50 bar and a p99 marker per measured transport', () => {
    expect(svg.match(/class="throughput"/g)).toHaveLength(4);
    expect(svg.match(/class="latency-p50"/g)).toHaveLength(4);
    expect(svg.match(/class="latency-p99"/g)).toHaveLength(4);
    expect(svg).toContain('15,000,000');
    expect(svg).not.toContain('9,000,000');
    expect(svg).toContain('0.49 / 4.29');
    expect(svg).toContain('>skipped</text>');
  });

  it('puts bars on the log scale: a tenth of the throughput is a fixed step shorter', () => {
    const widths = [...svg.matchAll(/class="throughput" x="[\d.]+" y="[\d.]+" width="([\d.]+)"/g)].map((m) => Number(m[1]));
    const [shm16, tcp16] = widths;
    const scale = logScale([15e6, 6.9e6, 170e3, 32e3], 330);
    expect(shm16).toBeCloseTo(scale.x(15e6), 0);
    expect(tcp16).toBeCloseTo(scale.x(6.9e6), 0);
  });

  it('says how each transport waits, and escapes text', () => {
    expect(svg).toContain('Receivers wait by: shm busy-spin; tcp event loop (epoll); kafka event loop (epoll)');
    expect(renderChart([row('a<b>&"c"', 16, 10, 1, 2)])).toContain('a&lt;b&gt;&amp;&quot;c&quot;');
  });

  it('draws an empty matrix without failing', () => {
    checkXml(renderChart([]));
    checkXml(renderChart(rows.filter((r) => r.skipped)));
  });
});
