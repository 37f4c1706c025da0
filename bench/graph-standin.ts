// A local stand-in for the Graph API, run as its own process by bench/run.ts: answers
// every send like Meta does and records, per recipient, when the first reply arrived
// (wall-clock ms with sub-ms precision, comparable across processes on one machine).
//
//   POST /<version>/<phone-number-id>/messages  -> 200 {messages:[{id}]}
//   GET  /_count                                -> {"replies": n}
//   GET  /_stats                                -> {"replies": n, "first": {to: ms}, "counts": {to: n}}
//   POST /_reset                                -> forget everything
// Prints `{"port":N}` on stdout once listening.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

const now = () => performance.timeOrigin + performance.now();

let first = new Map<string, number>();
let counts = new Map<string, number>();
let replies = 0;
let seq = 0;

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/_count') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ replies }));
    return;
  }
  if (req.method === 'GET' && req.url === '/_stats') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ replies, first: Object.fromEntries(first), counts: Object.fromEntries(counts) }));
    return;
  }
  if (req.method === 'POST' && req.url === '/_reset') {
    first = new Map();
    counts = new Map();
    replies = 0;
    res.writeHead(204).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const at = now();
    let body: any = null;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      /* not JSON */
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    if (body?.status === 'read') {
      res.end('{"success":true}');
      return;
    }
    const to = String(body?.to ?? '');
    replies++;
    counts.set(to, (counts.get(to) ?? 0) + 1);
    if (!first.has(to)) first.set(to, at);
    res.end(JSON.stringify({ messaging_product: 'whatsapp', contacts: [{ input: to, wa_id: to }], messages: [{ id: `wamid.bench-${++seq}` }] }));
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: (server.address() as AddressInfo).port }) + '\n');
});
process.on('SIGTERM', () => process.exit(0));
