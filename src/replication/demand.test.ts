import { describe, expect, it } from 'vitest';
import { ASK_AGAIN_MS, DEMAND, LOW_BACKLOG, REFRESH_MS, demandNow } from './demand.js';

const fresh = { asked: 0, askedAt: 0, landedSince: 0 };

describe('demandNow', () => {
  it('asks at once when consumers wait on an almost empty ring, and never without consumers', () => {
    expect(demandNow(fresh, 1, 0, 1000)).toBe(DEMAND);
    expect(demandNow(fresh, 2, LOW_BACKLOG - 1, 1000)).toBe(DEMAND);
    expect(demandNow(fresh, 1, LOW_BACKLOG, 1000)).toBeNull();
    expect(demandNow(fresh, 0, 0, 1000)).toBeNull();
  });

  it('takes back what it asked for once the consumers are gone or have enough', () => {
    const asked = { asked: DEMAND, askedAt: 1000, landedSince: 0 };
    expect(demandNow(asked, 0, 0, 1000)).toBe(0);
    expect(demandNow(asked, 1, LOW_BACKLOG, 1000)).toBe(0);
  });

  it('asks again soon while messages come, and otherwise only to refresh a request that may have been lost', () => {
    const quiet = { asked: DEMAND, askedAt: 1000, landedSince: 0 };
    expect(demandNow(quiet, 1, 0, 1000 + ASK_AGAIN_MS)).toBeNull();
    expect(demandNow(quiet, 1, 0, 1000 + REFRESH_MS - 1)).toBeNull();
    expect(demandNow(quiet, 1, 0, 1000 + REFRESH_MS)).toBe(DEMAND);
    const busy = { asked: DEMAND, askedAt: 1000, landedSince: 3 };
    expect(demandNow(busy, 1, 0, 1000 + ASK_AGAIN_MS / 2)).toBeNull();
    expect(demandNow(busy, 1, 0, 1000 + ASK_AGAIN_MS)).toBe(DEMAND);
  });
});
