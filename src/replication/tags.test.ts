import { describe, expect, it } from 'vitest';
import { channelTag, LINK_PROTOCOL } from './tags.js';

describe('channelTag', () => {
  it("puts the channel's key on top, the kind in the next bit, and the sender below it", () => {
    const data = channelTag(0x12345678, 'data', 'node-1');
    expect(data >> 32n).toBe(0x12345678n);
    expect(channelTag(0x12345678, 'ack', 'node-1')).toBe(data | 0x80000000n);
    expect(channelTag(0x12345678, 'data', 'node-2')).not.toBe(data);
  });

  it('differs between link protocol versions, so agents of two versions never take each other’s frames', () => {
    expect(LINK_PROTOCOL).toBe(2);
    for (const kind of ['data', 'ack'] as const)
      for (const node of ['node-1', 'node-2', 'kind-worker']) expect(channelTag(0x1234, kind, node, LINK_PROTOCOL)).not.toBe(channelTag(0x1234, kind, node, 1));
  });
});
