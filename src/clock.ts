/**
 * Milliseconds on CLOCK_MONOTONIC, as a float. Unlike performance.timeOrigin + now(), it is
 * the same clock in every process on the host, so stamps taken in two processes subtract.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
