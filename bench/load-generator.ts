// The load generator, run as its own process by bench/run.ts so its CPU is not the
// gateway's: node's own http client with keep-alive agents (no extra dependency; one
// core pushes well above what the bare Express baseline can take, which is what matters).
//
// Sends signed WhatsApp Cloud webhooks, one "hi" text per new contact, round-robin over
// the target URLs, either as a burst (N messages, C in flight) or at a fixed rate
// (open loop: the schedule does not wait for slow answers). Prints one JSON line with
// every request's send time (wall-clock ms), ack latency and status.
//
//   argv[2] = JSON { targets: string[], secret, phoneNumberId, contactBase: number,
//                    mode: 'burst', count, concurrency } | { ..., mode: 'rate', rate, durationS }

import { createHmac } from 'node:crypto';
import http from 'node:http';
import { performance } from 'node:perf_hooks';

interface Common { targets: string[]; secret: string; phoneNumberId: string; contactBase: number; path?: string }
type Options = Common & ({ mode: 'burst'; count: number; concurrency: number } | { mode: 'rate'; rate: number; durationS: number; maxInFlight?: number });

const opts = JSON.parse(process.argv[2] ?? '{}') as Options;
const now = () => performance.timeOrigin + performance.now();
const total = opts.mode === 'burst' ? opts.count : Math.round(opts.rate * opts.durationS);

/** The webhook Meta sends for one text message from a new contact. */
function body(i: number): { from: string; raw: Buffer; sig: string } {
  const from = String(opts.contactBase + i);
  const ts = String(Math.floor(Date.now() / 1000));
  const raw = Buffer.from(JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [{ id: '8856996819413533', changes: [{ field: 'messages', value: {
      messaging_product: 'whatsapp',
      metadata: { display_phone_number: '+1 555 010 0000', phone_number_id: opts.phoneNumberId },
      contacts: [{ profile: { name: `Customer ${i}` }, wa_id: from }],
      messages: [{ from, id: `wamid.BENCH${opts.contactBase}x${i}`, timestamp: ts, type: 'text', text: { body: 'hi' } }],
    } }] }],
  }));
  return { from, raw, sig: 'sha256=' + createHmac('sha256', opts.secret).update(raw).digest('hex') };
}

// Bodies are built and signed before the clock starts: the generator measures the server.
const bodies = Array.from({ length: total }, (_, i) => body(i));
const targets = opts.targets.map((t) => new URL(t));
const agents = targets.map(() => new http.Agent({ keepAlive: true, maxSockets: opts.mode === 'burst' ? opts.concurrency : opts.maxInFlight ?? 512 }));

/** [from, sentAt, ackMs, status] per request. */
const records: [string, number, number, number][] = new Array(total);

function send(i: number): Promise<void> {
  const b = bodies[i]!;
  const t = i % targets.length;
  const url = targets[t]!;
  return new Promise((resolve) => {
    const sentAt = now();
    const req = http.request({
      host: url.hostname, port: url.port, path: opts.path ?? '/webhooks/whatsapp', method: 'POST', agent: agents[t],
      headers: { 'content-type': 'application/json', 'content-length': b.raw.length, 'x-hub-signature-256': b.sig },
    }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => {
        records[i] = [b.from, sentAt, now() - sentAt, res.statusCode ?? 0];
        resolve();
      });
    });
    req.on('error', () => {
      records[i] = [b.from, sentAt, now() - sentAt, 0];
      resolve();
    });
    req.end(b.raw);
  });
}

const startedAt = now();
if (opts.mode === 'burst') {
  let next = 0;
  const worker = async () => {
    while (next < total) await send(next++);
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, total) }, worker));
} else {
  // Open loop: message i is due at startedAt + i / rate, whatever the server does.
  const pending = new Set<Promise<void>>();
  let next = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((now() - startedAt) / 1000) * opts.rate) + 1);
      while (next < due) {
        const p = send(next++);
        pending.add(p);
        void p.then(() => pending.delete(p));
      }
      if (next >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 2);
  });
  await Promise.all([...pending]);
}
const endedAt = now();
for (const a of agents) a.destroy();
process.stdout.write(JSON.stringify({ startedAt, endedAt, records }) + '\n');
