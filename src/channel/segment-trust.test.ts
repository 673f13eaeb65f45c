import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../errors.js';
import { thrown } from '../../test/helpers/errors.js';
import type { ShmInfo } from '../shm/native.js';
import { checkSegmentOwner, ownerProblem } from './segment-trust.js';

const OWNER = { uid: 64500, gid: 64601 };
const agents = { uid: 64500, creatorUid: 64500, gid: 64601, creatorGid: 64601, mode: 0o660 };

describe('ownerProblem (hardened HostIPC segments)', () => {
  it("accepts the agent's segment: creator and owner are the segment owner and the channel's group, others get nothing", () => {
    expect(ownerProblem(agents, OWNER)).toBeUndefined();
    expect(ownerProblem({ ...agents, mode: 0o600 }, OWNER)).toBeUndefined();
  });

  it('refuses a segment made or owned by another uid, root included (root processes match the creator)', () => {
    expect(ownerProblem({ ...agents, creatorUid: 0 }, OWNER)).toMatch(/made by uid 0 and is owned by uid 64500/);
    expect(ownerProblem({ ...agents, uid: 10001 }, OWNER)).toMatch(/owned by uid 10001/);
  });

  it('refuses another group, as creator group or owner group, and any access for others', () => {
    expect(ownerProblem({ ...agents, creatorGid: 0 }, OWNER)).toMatch(/groups are 0 \(creator\) and 64601/);
    expect(ownerProblem({ ...agents, gid: 64602 }, OWNER)).toMatch(/not the channel's group 64601/);
    expect(ownerProblem({ ...agents, mode: 0o664 }, OWNER)).toMatch(/mode 0664 gives other users access/);
  });

  it('checkSegmentOwner throws UNTRUSTED_SEGMENT with the reason', () => {
    const info = { ...agents, creatorUid: 10001, size: 1, attached: 0, changedAt: 0, removed: false, creatorPid: 1, lastPid: 1 } as ShmInfo;
    const err = thrown(() => checkSegmentOwner(info, OWNER, 0x1234, 'a/b'));
    expect(err.code).toBe(ErrorCode.UNTRUSTED_SEGMENT);
    expect(err.message).toMatch(/0x00001234 for channel a\/b is not the node agent's: it was made by uid 10001/);
  });
});
