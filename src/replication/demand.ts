/**
 * Stream channels across nodes are pulled: a node whose consumers of a ring are idle asks each
 * peer for up to DEMAND messages of that ring (on an acknowledgement, FLAG_DEMAND), and a
 * peer's agent takes only that many from its own ring for it. So the agent takes work from
 * its node's consumers only for consumers elsewhere that wait, and never sends a message to a
 * node with nobody to take it.
 */

/** Messages asked for at a time: a peer's credit, replaced by each request. */
export const DEMAND = 512;
/** Asked for again once fewer than this many messages wait in the ring. */
export const LOW_BACKLOG = 128;
/** While the peer's messages come, asked for again at most this often. */
export const ASK_AGAIN_MS = 1;
/** While nothing comes, the request stands; it is repeated this often in case it was lost with a link. */
export const REFRESH_MS = 100;

export interface DemandState {
  /** What this node last asked the peer for (0: nothing, or not yet asked). */
  asked: number;
  askedAt: number;
  /** Messages landed from the peer since then. */
  landedSince: number;
}

/**
 * How many messages to ask the peer for now, or null to say nothing: `consumers` live on this
 * node for the ring, and `backlog` messages in it wait for them.
 */
export function demandNow(s: DemandState, consumers: number, backlog: number, now: number): number | null {
  const want = consumers > 0 && backlog < LOW_BACKLOG ? DEMAND : 0;
  if (want === 0) return s.asked === 0 ? null : 0;
  const since = now - s.askedAt;
  if (s.asked === 0 || since >= REFRESH_MS || (s.landedSince > 0 && since >= ASK_AGAIN_MS)) return want;
  return null;
}
