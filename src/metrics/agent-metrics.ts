/** The node agent's Prometheus metrics, on one registry served at /metrics. */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

const CHANNEL_LABELS = ['namespace', 'channel'] as const;

export class AgentMetrics {
  readonly registry = new Registry();
  readonly segments = new Gauge({ name: 'shimmy_agent_segments', help: 'Shimmy segments on this node', registers: [this.registry] });
  readonly segmentBytes = new Gauge({
    name: 'shimmy_agent_segment_bytes',
    help: 'Bytes of shared memory in Shimmy segments on this node',
    registers: [this.registry],
  });
  readonly segmentActions = new Counter({
    name: 'shimmy_agent_segment_actions_total',
    help: 'Segments created or removed by this agent, by action and reason',
    labelNames: ['action', 'reason'] as const,
    registers: [this.registry],
  });
  readonly volumeOperations = new Counter({
    name: 'shimmy_agent_volume_operations_total',
    help: "The CSI plugin's channel mounts (publish) and unmounts (unpublish), by gRPC status code",
    labelNames: ['operation', 'code'] as const,
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({ name: 'shimmy_agent_reconcile_errors_total', help: 'Segment reconciles that failed', registers: [this.registry] });
  readonly messages = new Counter({
    name: 'shimmy_channel_messages_total',
    help: 'Messages published into the channel on this node, counted since this agent started',
    labelNames: CHANNEL_LABELS,
    registers: [this.registry],
  });
  readonly bytes = new Counter({
    name: 'shimmy_channel_ring_bytes_total',
    help: 'Ring bytes written on this node (records with their heads and padding), counted since this agent started',
    labelNames: CHANNEL_LABELS,
    registers: [this.registry],
  });
  readonly publishers = new Gauge({
    name: 'shimmy_channel_publishers',
    help: 'Publishers with a live slot',
    labelNames: CHANNEL_LABELS,
    registers: [this.registry],
  });
  readonly subscribers = new Gauge({
    name: 'shimmy_channel_subscribers',
    help: 'Subscribers with a live slot',
    labelNames: CHANNEL_LABELS,
    registers: [this.registry],
  });
  readonly lag = new Gauge({
    name: 'shimmy_channel_lag_messages',
    help: 'Largest number of messages a subscriber has yet to take',
    labelNames: CHANNEL_LABELS,
    registers: [this.registry],
  });
  readonly lost = new Gauge({
    name: 'shimmy_channel_lost_messages',
    help: 'Messages overwritten before a subscriber read them',
    labelNames: CHANNEL_LABELS,
    registers: [this.registry],
  });

  readonly linkUp = new Gauge({
    name: 'shimmy_replication_link_up',
    help: "1 while this node's link to the peer node is connected, by the UCX transport in use (tcp/eth0, rc_mlx5/mlx5_0:1)",
    labelNames: ['peer', 'transport'] as const,
    registers: [this.registry],
  });
  readonly reconnects = new Counter({
    name: 'shimmy_replication_reconnects_total',
    help: 'Connections to the peer node made again after one failed',
    labelNames: ['peer'] as const,
    registers: [this.registry],
  });
  readonly replicated = new Counter({
    name: 'shimmy_replication_messages_total',
    help: "Messages replicated with the peer node: out, this node's sent to it; in, its landed here",
    labelNames: [...CHANNEL_LABELS, 'peer', 'direction'] as const,
    registers: [this.registry],
  });
  readonly resent = new Counter({
    name: 'shimmy_replication_resent_total',
    help: 'Messages sent to the peer node again after a reconnect (it had not acknowledged them)',
    labelNames: [...CHANNEL_LABELS, 'peer'] as const,
    registers: [this.registry],
  });
  readonly repeats = new Counter({
    name: 'shimmy_replication_repeats_total',
    help: 'Messages from the peer node that came again and were dropped (already landed)',
    labelNames: [...CHANNEL_LABELS, 'peer'] as const,
    registers: [this.registry],
  });
  readonly resumes = new Counter({
    name: 'shimmy_replication_resumes_total',
    help: 'Times the agent went on from what an earlier agent on this node had landed from the peer node (after a restart or a SIGKILL)',
    labelNames: [...CHANNEL_LABELS, 'peer'] as const,
    registers: [this.registry],
  });
  readonly recovered = new Counter({
    name: 'shimmy_replication_recovered_total',
    help: "This node's messages for the peer node that a killed or restarted agent had sent but not had acknowledged, sent again from its spool",
    labelNames: [...CHANNEL_LABELS, 'peer'] as const,
    registers: [this.registry],
  });
  readonly rejected = new Counter({
    name: 'shimmy_replication_rejected_total',
    help: "Frames and acknowledgements under the peer node's tags dropped unread: no valid MAC under the cluster's replication key, or too long",
    labelNames: [...CHANNEL_LABELS, 'peer'] as const,
    registers: [this.registry],
  });
  readonly unacknowledged = new Gauge({
    name: 'shimmy_replication_unacknowledged_messages',
    help: 'Messages kept for the peer node until it acknowledges them',
    labelNames: [...CHANNEL_LABELS, 'peer'] as const,
    registers: [this.registry],
  });
  readonly replicationRestarts = new Counter({
    name: 'shimmy_replication_thread_restarts_total',
    help: 'Times the replication thread ended and was started again',
    registers: [this.registry],
  });

  constructor(defaults = true) {
    if (defaults) collectDefaultMetrics({ register: this.registry });
  }

  /** Drops a channel's series once its segment is gone. */
  forget(labels: { namespace: string; channel: string }): void {
    for (const m of [this.messages, this.bytes, this.publishers, this.subscribers, this.lag, this.lost]) m.remove(labels);
  }
}
