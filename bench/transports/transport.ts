/**
 * What each benchmarked transport provides inside a worker process. `send` returns a
 * promise only when the transport asks the sender to wait (back-pressure).
 */
export interface Endpoints {
  /** host:port or socket path per broker, filled by the peer that was started. */
  [key: string]: string;
}

export type OnMessage = (bytes: Uint8Array, offset: number, length: number) => void;

export interface Sender {
  send(msg: Uint8Array): void | Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface Receiver {
  close(): Promise<void>;
}

export interface WorkerContext {
  endpoints: Endpoints;
  size: number;
  /** Unique per run, so topics and channels never see a previous run's messages. */
  runId: string;
  /** Throughput senders may batch; latency (ping-pong) senders must send each message now. */
  batching: boolean;
}

export interface Transport {
  name: string;
  description: string;
  sender(ctx: WorkerContext, topic: string): Promise<Sender>;
  receiver(ctx: WorkerContext, topic: string, onMessage: OnMessage): Promise<Receiver>;
  /**
   * Optional tight loop for receivers that poll instead of being called back (shared
   * memory): returns when `until()` is true.
   */
  pump?(until: () => boolean): Promise<void>;
}
