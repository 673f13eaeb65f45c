/** The scheduler extender's Prometheus metrics, on the registry of the thread that serves it. */
import { Counter, Histogram, Registry } from 'prom-client';

export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5];

export class ExtenderMetrics {
  readonly registry = new Registry();
  readonly extenderSeconds = new Histogram({
    name: 'shimmy_extender_duration_seconds',
    help: 'Time to answer a scheduler extender call, by verb',
    labelNames: ['verb'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly extenderErrors = new Counter({
    name: 'shimmy_extender_bad_requests_total',
    help: 'Extender calls refused as malformed, by verb',
    labelNames: ['verb'] as const,
    registers: [this.registry],
  });
  readonly extenderRefused = new Counter({
    name: 'shimmy_extender_tls_refused_total',
    help: 'Connections to the extender refused during the TLS handshake (no client certificate, one from another CA, plain HTTP)',
    registers: [this.registry],
  });
}
