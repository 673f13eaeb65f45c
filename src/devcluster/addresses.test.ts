import { describe, expect, it } from 'vitest';
import { MAX_REAL_NODES, hostNames, nodeIndex, nodeIp, nodeName, podCidr } from './addresses.js';

describe('the address plan', () => {
  it('gives every node its own address and pod subnet, up to the largest cluster', () => {
    const ips = new Set<string>();
    const subnets = new Set<string>();
    for (let i = 1; i <= MAX_REAL_NODES; i++) {
      ips.add(nodeIp(i));
      subnets.add(podCidr(i).subnet);
      expect(nodeIp(i)).toMatch(/^10\.213\.0\.(\d+)$/);
      expect(Number(nodeIp(i).split('.')[3])).toBeLessThan(255);
    }
    expect(ips.size).toBe(MAX_REAL_NODES);
    expect(subnets.size).toBe(MAX_REAL_NODES);
    expect(ips.has('10.213.0.1')).toBe(false);
  });

  it('keeps interface names within the kernel limit of 15 characters', () => {
    const names = hostNames('ffff');
    expect(names.bridge.length).toBeLessThanOrEqual(15);
    expect(names.hostVeth(MAX_REAL_NODES).length).toBeLessThanOrEqual(15);
  });

  it('reads node names back to their index', () => {
    expect(nodeIndex(nodeName(17))).toBe(17);
    expect(() => nodeIndex('worker-1')).toThrow(RangeError);
  });
});
