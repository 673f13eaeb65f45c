/**
 * A stream end as a Node Duplex: each write() is one message, each chunk read is one
 * message (as a Buffer). Back-pressure in both directions: writes wait for ring space off
 * the event loop; reads stop taking messages while the readable buffer is full.
 */
import { Duplex } from 'node:stream';
import { ErrorCode, ShimmyError } from '../errors.js';
import type { StreamEnd } from '../channel/endpoints.js';

export class ChannelDuplex extends Duplex {
  private reading = false;

  constructor(
    private readonly streamEnd: StreamEnd,
    private readonly onClose: () => void = () => {},
  ) {
    super({ readableHighWaterMark: 256, writableHighWaterMark: 256, objectMode: false, decodeStrings: true });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    try {
      if (this.streamEnd.tryPublish(chunk)) return callback();
    } catch (err) {
      return callback(err as Error);
    }
    this.streamEnd.publish(chunk).then(() => callback(), callback);
  }

  override _read(): void {
    if (this.reading) return;
    this.reading = true;
    void this.pump();
  }

  private async pump(): Promise<void> {
    try {
      while (!this.destroyed) {
        let more = true;
        const n = this.streamEnd.take(64, (msg) => {
          more = this.push(msg) && more;
        });
        if (n === 0) {
          await this.streamEnd.waitForMessages();
          continue;
        }
        if (!more) break;
      }
    } catch (err) {
      if (!(err instanceof ShimmyError && err.code === ErrorCode.CLOSED)) this.destroy(err as Error);
    } finally {
      this.reading = false;
    }
  }

  override _final(callback: (err?: Error | null) => void): void {
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.streamEnd.interrupt();
    this.streamEnd.close();
    this.onClose();
    callback(err);
  }
}
