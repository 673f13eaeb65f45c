/**
 * The node agent's lock (src/replication/agent-lock.ts) with real processes: one holder at a
 * time, and the kernel lets go of it when the holder is killed with SIGKILL.
 */
import { randomInt } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentLock } from '../../src/replication/agent-lock.js';
import { helper, kill9, killStarted } from '../helpers/proc.js';

afterEach(() => killStarted());

describe("the node agent's lock", () => {
  it('has one holder at a time, and is free again the moment its holder is killed with SIGKILL', async () => {
    const key = 0x53000000 + randomInt(0xffffff);
    const first = helper('hold-agent-lock', [String(key)]);
    await first.waitFor(/^(held|busy)/m);
    expect(first.stdout()).toMatch(/^held/m);
    const second = helper('hold-agent-lock', [String(key)]);
    await second.waitFor(/^(held|busy)/m);
    expect(second.stdout()).toMatch(/^busy/m);
    const here = new AgentLock(key);
    expect(here.held()).toBe(false);
    await kill9(first);
    expect(here.held()).toBe(true);
    // Held by this process now: asking again does not take it twice.
    expect(here.held()).toBe(true);
    here.release();
    const third = helper('hold-agent-lock', [String(key)]);
    await third.waitFor(/^(held|busy)/m);
    expect(third.stdout()).toMatch(/^held/m);
    await kill9(third);
    await kill9(second);
    const last = new AgentLock(key);
    expect(last.held()).toBe(true);
    last.release();
  });
});
