/**
 * Peers that run their own benchmark programs (another language, their own processes):
 * Aeron's and iceoryx2's. The runner asks one for a throughput run and a latency run with
 * the same sizes, counts and budgets as the Node transports, and reports them in the same
 * rows. Each program's receiver touches every byte it receives, as the Node workers do.
 */
export interface ExternalThroughput {
  msgsPerSec: number;
  mbPerSec: number;
  /** Messages the receiver got and checked (its checksum covered every byte). */
  delivered: number;
  /** The publisher stopped at the time budget before `count`. */
  truncated: boolean;
}

export interface ExternalLatency {
  /** One-way latency samples (round trip / 2), microseconds. */
  oneWayUs: number[];
}

export type ExternalCheck = { ok: true } | { ok: false; reason: string };

export interface ExternalPeer {
  name: string;
  description: string;
  /** How its receivers wait, in the peer's own words ("BusySpinIdleStrategy", ...). */
  idle: string;
  /** Whether its programs are built (bench/peers/setup.sh builds them); says how otherwise. */
  check(): ExternalCheck;
  throughput(size: number, count: number, budgetMs: number): Promise<ExternalThroughput>;
  latency(size: number, samples: number, budgetMs: number): Promise<ExternalLatency>;
}
