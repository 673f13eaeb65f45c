/** The controller's Prometheus metrics, on one registry served at /metrics. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { LATENCY_BUCKETS } from './extender-metrics.js';

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly admissions = new Counter({
    name: 'shimmy_admission_requests_total',
    help: 'AdmissionReviews answered, by result (patched, unchanged, bad_request)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly admissionSeconds = new Histogram({
    name: 'shimmy_admission_duration_seconds',
    help: 'Time to answer an AdmissionReview',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly channels = new Gauge({ name: 'shimmy_channels', help: 'SharedMemoryChannels known to the controller', registers: [this.registry] });
  readonly endpoints = new Gauge({
    name: 'shimmy_channel_endpoints',
    help: 'ChannelEndpoints (channel x node) kept by the master',
    registers: [this.registry],
  });
  readonly leader = new Gauge({ name: 'shimmy_master_leader', help: '1 while this replica leads the master', registers: [this.registry] });
  readonly certRotations = new Counter({
    name: 'shimmy_webhook_cert_rotations_total',
    help: 'Serving certificate or CA rotations, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly certExpiry = new Gauge({
    name: 'shimmy_webhook_cert_expiry_timestamp_seconds',
    help: 'When the serving certificate in use expires',
    registers: [this.registry],
  });

  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry });
  }
}
