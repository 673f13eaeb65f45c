/**
 * What a channel needs from the memory it lives in, whichever way that memory reached this
 * process: a System V segment (shmat) or a memory file (mmap).
 */
import type { Address } from './native.js';

export interface SharedMemory {
  /** The mapping, valid while `attached`. */
  readonly buffer: ArrayBuffer;
  readonly size: number;
  readonly attached: boolean;
  /** What the kernel calls this memory, for messages: `segment 0x… (id 42)` or a file path. */
  readonly description: string;
  /** The address of a 32-bit word inside the mapping, for futex calls. */
  wordAddress(byteOffset: number): Address;
  /** Whether nobody new can find this memory any more (segment marked for removal, file replaced or gone). */
  removed(): boolean;
  /** Processes that have it mapped, where the kernel counts them (System V); null where it does not. */
  users(): number | null;
  /**
   * Unmaps. With `viewsMayOutlive`, views handed out earlier then see private zero pages
   * instead of unmapped memory (a SIGSEGV).
   */
  detach(viewsMayOutlive?: boolean): void;
}
