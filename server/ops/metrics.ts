/** Prometheus metrics (prom-client), one registry per server instance. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    logins: new Counter({
      name: 'relay_logins_total',
      help: 'Login attempts by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    tokensIssued: new Counter({ name: 'relay_tokens_issued_total', help: 'Device tokens issued', registers: [registry] }),
    revocations: new Counter({
      name: 'relay_revocations_total',
      help: 'Devices revoked, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    sockets: new Gauge({
      name: 'relay_ws_sockets',
      help: 'Open WebSocket connections by state',
      labelNames: ['state'] as const,
      registers: [registry],
    }),
    wsCloses: new Counter({
      name: 'relay_ws_closes_total',
      help: 'WebSocket closes by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    messagesStored: new Counter({ name: 'relay_messages_stored_total', help: 'Messages stored', registers: [registry] }),
    httpDuration: new Histogram({
      name: 'relay_http_request_duration_seconds',
      help: 'HTTP request duration',
      labelNames: ['method', 'status'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
