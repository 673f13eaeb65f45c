import { describe, expect, it } from 'vitest';
import { figuresTable, medianFigures, type LatencyFigures } from './control-plane-bench.js';

const fig = (what: string, p50: number, p99: number, max = p99 * 2): LatencyFigures => ({
  what,
  rate: 100,
  requests: 1000,
  failed: 0,
  p50,
  p90: p50 * 2,
  p99,
  max,
});

describe('medianFigures', () => {
  it('takes the median of each percentile per scenario, the largest max and the p99 range', () => {
    const runs = [
      [fig('admission', 0.2, 3), fig('filter', 0.8, 2.5)],
      [fig('admission', 0.4, 7), fig('filter', 0.7, 1.9)],
      [fig('admission', 0.3, 2, 30), fig('filter', 0.9, 2.1)],
    ];
    const [admission, filter] = medianFigures(runs);
    expect(admission).toMatchObject({ what: 'admission', requests: 3000, p50: 0.3, p99: 3, max: 30, runs: 3, p99Min: 2, p99Max: 7 });
    expect(filter).toMatchObject({ p50: 0.8, p99: 2.1, p99Min: 1.9, p99Max: 2.5 });
  });
});

describe('figuresTable', () => {
  it('shows the p99 range only for repeated runs', () => {
    expect(figuresTable([fig('admission', 0.2, 3)])).not.toContain('min..max');
    expect(figuresTable(medianFigures([[fig('admission', 0.2, 3)], [fig('admission', 0.2, 0.5)]]))).toMatch(/p99 min\.\.max[\s\S]*500 µs\.\.3\.00 ms/);
  });
});
