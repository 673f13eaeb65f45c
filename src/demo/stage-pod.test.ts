import { describe, expect, it } from 'vitest';
import { decodeReports, encodeReport } from './stage-pod.js';

describe('stage pod reports', () => {
  it('round-trip through a log, the timing rows split into short lines', () => {
    const frames = Array.from({ length: 250 }, (_, i) => Array.from({ length: 10 }, (_, k) => 1_234_567.891_234 + i + k / 10));
    const lines = [...encodeReport({ type: 'listening', port: 7400 }), ...encodeReport({ type: 'finished', frames })];
    expect(lines.length).toBe(1 + 3 + 1);
    for (const l of lines) expect(l.length).toBeLessThan(32 * 1024);
    // Other output (a warning on stderr, say) shares the log and is skipped.
    const log = ['(node:1) Warning: something', ...lines, 'shimmy: done'].join('\n');
    expect(decodeReports(log)).toEqual([
      { type: 'listening', port: 7400 },
      { type: 'finished', frames },
    ]);
  });

  it("reads a shm stage's listening report, which has no port, and an error", () => {
    const log = [...encodeReport({ type: 'listening' }), ...encodeReport({ type: 'error', message: 'boom' })].join('\n');
    expect(decodeReports(log)).toEqual([{ type: 'listening' }, { type: 'error', message: 'boom' }]);
  });

  it('refuses a log that lost timing rows', () => {
    const lines = encodeReport({ type: 'finished', frames: Array.from({ length: 150 }, () => [1, 2]) });
    expect(() => decodeReports([lines[0], lines[2]].join('\n'))).toThrow(/100 of the 150 timing rows/);
  });

  it('is not finished before the finished line', () => {
    const lines = encodeReport({ type: 'finished', frames: Array.from({ length: 150 }, () => [1, 2]) });
    expect(decodeReports(lines.slice(0, 2).join('\n'))).toEqual([]);
  });
});
