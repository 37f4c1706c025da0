// Meta webhooks (SPEC §4): GET verification handshake, POST notifications verified
// with X-Hub-Signature-256 over the raw bytes, parsed by the channel's adapter, stored
// durably, then acknowledged. Malformed JSON -> 400; bad signature -> 401/403;
// storage failure -> 503 so Meta retries.

import express, { type Router } from 'express';
import { verifyMetaSignature } from '../../adapters/meta/signature.js';
import { parseWhatsAppWebhook } from '../../adapters/whatsapp-cloud/parse.js';
import { parseInstagramWebhook } from '../../adapters/instagram/parse.js';
import type { WebhookBatch } from '../../adapters/types.js';
import type { Config } from '../config.js';
import type { InboundPipeline } from '../inbound.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { ApiError } from '../../tickets/errors.js';
import { crashPoint } from '../crash-points.js';

interface MetaChannel {
  name: 'whatsapp' | 'instagram';
  verifyToken?: string;
  parse: (body: unknown) => WebhookBatch;
}

export function createWebhooks(config: Config, pipeline: InboundPipeline, log: Logger, metrics: Metrics): Router {
  const r = express.Router();
  const channels: MetaChannel[] = [
    { name: 'whatsapp', verifyToken: config.whatsapp.verifyToken, parse: (b) => parseWhatsAppWebhook(b, { phoneNumberId: config.whatsapp.phoneNumberId }) },
    { name: 'instagram', verifyToken: config.instagram.verifyToken, parse: (b) => parseInstagramWebhook(b, { accountId: config.instagram.accountId }) },
  ];
  for (const ch of channels) {
    r.get(`/webhooks/${ch.name}`, (req, res) => {
      const mode = req.query['hub.mode'];
      const token = req.query['hub.verify_token'];
      const challenge = req.query['hub.challenge'];
      if (mode === 'subscribe' && ch.verifyToken && token === ch.verifyToken && typeof challenge === 'string') {
        res.type('text/plain').send(challenge);
        return;
      }
      throw new ApiError(403, 'verification_failed', 'hub.verify_token does not match (or the verify token is not configured)');
    });

    r.post(`/webhooks/${ch.name}`, express.raw({ type: () => true, limit: config.bodyLimit }), async (req, res) => {
      const raw: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const reply = (status: number, body: unknown) => {
        metrics.webhooks.inc({ channel: ch.name, status: String(status) });
        res.status(status).json(body);
      };
      if (config.metaAppSecret) {
        const sig = req.headers['x-hub-signature-256'];
        if (typeof sig !== 'string' || !sig) return reply(401, { error: { code: 'signature_missing', message: 'X-Hub-Signature-256 header is required' } });
        if (!verifyMetaSignature(raw, sig, config.metaAppSecret)) return reply(403, { error: { code: 'signature_invalid', message: 'X-Hub-Signature-256 does not match the body' } });
      }
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return reply(400, { error: { code: 'malformed_json', message: 'the body is not valid JSON' } });
      }
      let batch: WebhookBatch;
      try {
        batch = ch.parse(body);
      } catch (err) {
        log.warn({ err, channel: ch.name }, 'webhook payload could not be parsed');
        return reply(400, { error: { code: 'invalid_payload', message: (err as Error).message } });
      }
      for (const e of batch.errors) log.warn({ channel: ch.name, code: e.code, message: e.message }, 'provider error in webhook');
      if (batch.rejected.length) log.info({ channel: ch.name, rejected: batch.rejected }, 'webhook items rejected');
      try {
        const r = await pipeline.accept(batch);
        crashPoint('before-ack');
        if (r.accepted) res.once('finish', () => crashPoint('after-ack'));
        return reply(200, { status: 'ok', accepted: r.accepted, duplicates: r.duplicates, statuses: batch.statuses.length, ignored: batch.ignored.length, rejected: batch.rejected });
      } catch (err) {
        log.error({ err, channel: ch.name }, 'webhook could not be stored; the platform will retry');
        return reply(503, { error: { code: 'unavailable', message: 'could not store the notification; retry later' } });
      }
    });
  }
  return r;
}
