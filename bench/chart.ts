/** An SVG bar chart of throughput per transport (log scale), one panel per message size. */
import type { BenchRow } from './runner.js';

const esc = (s: string) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

export function renderChart(rows: BenchRow[]): string {
  const measured = rows.filter((r) => !r.skipped && !r.error && r.msgsPerSec > 0);
  const sizes = [...new Set(measured.map((r) => r.size))];
  const transports = [...new Set(rows.map((r) => r.transport))];
  const panelW = 520;
  const panelH = 40 + transports.length * 26;
  const width = panelW * Math.max(1, sizes.length) + 40;
  const height = panelH + 70;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="20" y="24" font-size="16" font-weight="bold">Throughput, one publisher to one subscriber (msg/s, log scale; best of the counts)</text>`,
  ];
  sizes.forEach((size, p) => {
    const x0 = 20 + p * panelW;
    const best = transports.map((t) => ({ t, v: Math.max(0, ...measured.filter((r) => r.transport === t && r.size === size).map((r) => r.msgsPerSec)) }));
    const max = Math.max(...best.map((b) => b.v), 10);
    const scale = (v: number) => (v <= 1 ? 0 : (Math.log10(v) / Math.log10(max)) * (panelW - 200));
    parts.push(`<text x="${x0}" y="52" font-weight="bold">${size >= 1024 ? `${Math.round(size / 1024)} KiB` : `${size} B`} messages</text>`);
    best.forEach(({ t, v }, i) => {
      const y = 64 + i * 26;
      parts.push(`<text x="${x0}" y="${y + 14}">${esc(t)}</text>`);
      parts.push(`<rect x="${x0 + 80}" y="${y}" width="${scale(v).toFixed(1)}" height="18" fill="${t.startsWith('shm') ? '#d9480f' : '#4263eb'}"/>`);
      parts.push(`<text x="${x0 + 86 + scale(v)}" y="${y + 14}">${v ? Math.round(v).toLocaleString('en-US') : 'skipped'}</text>`);
    });
  });
  parts.push('</svg>');
  return parts.join('\n');
}
