// The baseline: a bare Express app doing only what any webhook receiver must do
// (read the raw body, check Meta's HMAC signature in constant time, answer 200).
// bench/run.ts sends it the same signed webhooks as the gateway; the ratio of the two
// throughputs shows what storing, threading and answering costs on top.
// Prints `{"port":N}` on stdout once listening.

import express from 'express';
import type { AddressInfo } from 'node:net';
import { verifyMetaSignature } from '../adapters/meta/signature.js';

const secret = process.env.META_APP_SECRET ?? '';
const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.post('/webhooks/whatsapp', express.raw({ type: () => true, limit: '1mb' }), (req, res) => {
  const raw: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  if (!verifyMetaSignature(raw, req.headers['x-hub-signature-256'] as string | undefined, secret)) {
    res.status(403).json({ error: { code: 'signature_invalid', message: 'bad signature' } });
    return;
  }
  res.status(200).json({ status: 'ok' });
});
const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as AddressInfo).port }) + '\n');
});
server.keepAliveTimeout = 65_000;
process.on('SIGTERM', () => process.exit(0));
