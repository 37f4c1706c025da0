// Prometheus metrics (GET /metrics).
import client from 'prom-client';

export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  return {
    registry,
    inbound: new client.Counter({ name: 'gateway_inbound_messages_total', help: 'Customer messages accepted (after dedupe)', labelNames: ['channel'], registers: [registry] }),
    duplicates: new client.Counter({ name: 'gateway_inbound_duplicates_total', help: 'Platform retries and duplicates dropped', labelNames: ['channel'], registers: [registry] }),
    outbound: new client.Counter({ name: 'gateway_outbound_messages_total', help: 'Outbound sends by result', labelNames: ['channel', 'result'], registers: [registry] }),
    webhooks: new client.Counter({ name: 'gateway_webhook_requests_total', help: 'Webhook requests by channel and HTTP status', labelNames: ['channel', 'status'], registers: [registry] }),
    pipeline: new client.Histogram({
      name: 'gateway_pipeline_seconds',
      help: 'Time from webhook acceptance to the end of processing (threading + bot turn + outbox write)',
      labelNames: ['channel'],
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
