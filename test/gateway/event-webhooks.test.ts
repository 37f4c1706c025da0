// Outgoing webhooks for integrations: configured by admins (secrets masked when read
// back), every public ticket event POSTed to the matching targets with an HMAC-SHA256
// signature over the raw body, never a note event, and retried on failure by the
// scheduler (injected clock). SQLite always; MySQL + Redis when configured.

import http from 'node:http';
import { createHmac } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { ManualClock } from '../../gateway/clock.js';
import type { EventHub } from '../../gateway/http/events.js';
import { backends, rand, startGateway, waitFor, type TestGateway } from '../helpers/gateway-harness.js';

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  raw: string;
  json: any;
}

async function startReceiver() {
  const got: Received[] = [];
  const failNext: Record<string, number> = {};
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      got.push({ path: req.url ?? '', headers: req.headers, raw, json: JSON.parse(raw) });
      const path = req.url ?? '';
      if (failNext[path]) {
        failNext[path]--;
        res.writeHead(500).end('try later');
      } else {
        res.writeHead(204).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    got,
    failNext,
    at: (path: string) => got.filter((g) => g.path === path),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    }),
  };
}

for (const backend of backends()) {
  describe(`outgoing webhooks (${backend === 'sqlite' ? 'SQLite + in-process' : 'MySQL + Redis'})`, function () {
    this.timeout(30_000);
    const clock = new ManualClock(Date.UTC(2026, 10, 21, 9, 0, 0));
    const secret = `whsec-${rand(10)}`;
    let t: TestGateway;
    let rx: Awaited<ReturnType<typeof startReceiver>>;
    let hub: EventHub;

    before(async () => {
      rx = await startReceiver();
      t = await startGateway({ backend, bot: null, clock });
      hub = t.gw.ctx.events as EventHub;
      await waitFor(() => hub.webhooks?.active, 5000, 'the webhooks lease');
      const res = await t.api('PUT', '/api/webhooks', [
        { url: `${rx.url}/all`, secret, events: ['*'] },
        { url: `${rx.url}/created`, secret, events: ['ticket.created'] },
      ]);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
    });
    after(async () => {
      await t?.stop();
      await rx?.close();
    });

    const task = async (subject: string) => {
      const res = await t.api('POST', '/api/tickets', { subject });
      expect(res.status).to.equal(201);
      return res.body.id as string;
    };

    it('is configured by admins only, validated, and never shows the secrets again', async () => {
      const list = await t.api('GET', '/api/webhooks');
      expect(list.status).to.equal(200);
      expect(list.body.map((w: any) => w.url)).to.deep.equal([`${rx.url}/all`, `${rx.url}/created`]);
      expect(JSON.stringify(list.body)).not.to.contain(secret);
      expect(list.body[0].secret).to.equal(`••••${secret.slice(-4)}`);
      expect(JSON.stringify((await t.api('GET', '/api/settings')).body)).not.to.contain(secret);
      const agent = (await t.api('POST', '/api/agents', { name: `Hooks ${rand(3)}`, email: `hooks-${rand(4)}@example.com` })).body;
      expect((await t.api('GET', '/api/webhooks', undefined, agent.token)).status).to.equal(403);
      expect((await t.api('PUT', '/api/webhooks', [], agent.token)).status).to.equal(403);
      for (const bad of [{}, [{ url: 'ftp://x', secret }], [{ url: 'http://x', secret: 'short' }], [{ url: 'http://x', secret, events: ['note.created'] }], [{ url: 'http://x', secret, extra: 1 }]]) {
        const res = await t.api('PUT', '/api/webhooks', bad);
        expect(res.status, JSON.stringify(bad)).to.equal(400);
      }
      expect((await t.api('GET', '/api/webhooks')).body).to.have.length(2);
    });

    it('POSTs each event to the matching targets, signed over the raw body', async () => {
      const id = await task(`Hooked ${rand(3)}`);
      const [all] = await waitFor(() => {
        const x = rx.at('/all').filter((g) => g.json.ticketId === id && g.json.type === 'ticket.created');
        return x.length ? x : null;
      }, 5000, 'the delivery to /all');
      await waitFor(() => rx.at('/created').some((g) => g.json.ticketId === id), 5000, 'the delivery to /created');
      expect(all.json).to.include({ type: 'ticket.created', ticketId: id });
      expect(all.json.id).to.match(/^\d+-\d+$/);
      expect(all.headers['x-chatgate-event']).to.equal('ticket.created');
      expect(all.headers['x-chatgate-delivery']).to.equal(all.json.id);
      const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(all.headers['x-chatgate-signature']));
      expect(m, String(all.headers['x-chatgate-signature'])).to.not.equal(null);
      expect(Number(m![1])).to.equal(Math.floor(clock.now() / 1000));
      expect(m![2]).to.equal(createHmac('sha256', secret).update(`${m![1]}.${all.raw}`).digest('hex'));

      // The ticket.created-only target gets nothing else.
      expect((await t.api('PATCH', `/api/tickets/${id}`, { priority: 'urgent' })).status).to.equal(200);
      await waitFor(() => rx.at('/all').some((g) => g.json.ticketId === id && g.json.type === 'ticket.updated'), 5000, 'ticket.updated to /all');
      expect(rx.at('/created').filter((g) => g.json.ticketId === id).map((g) => g.json.type)).to.deep.equal(['ticket.created']);
    });

    it('never sends a note event', async () => {
      const id = await task(`Notes ${rand(3)}`);
      expect((await t.api('POST', `/api/tickets/${id}/notes`, { body: 'internal only' })).status).to.equal(201);
      expect((await t.api('POST', `/api/tickets/${id}/comments`, { body: 'team remark' })).status).to.equal(201);
      await waitFor(() => rx.at('/all').some((g) => g.json.ticketId === id && g.json.type === 'comment.created'), 5000, 'the comment');
      expect(rx.got.some((g) => g.raw.includes('internal only') || String(g.json.type).startsWith('note'))).to.equal(false);
    });

    it('retries a failed delivery when its time comes (same delivery id)', async () => {
      rx.failNext['/created'] = 1;
      const id = await task(`Retry ${rand(3)}`);
      await waitFor(() => rx.at('/created').some((g) => g.json.ticketId === id), 5000, 'the failing attempt');
      await waitFor(() => hub.webhooks!.pending === 1, 5000, 'the queued retry');
      await t.gw.tick();
      expect(rx.at('/created').filter((g) => g.json.ticketId === id)).to.have.length(1); // not due yet
      clock.advance(5_000);
      await t.gw.tick();
      const attempts = await waitFor(() => {
        const x = rx.at('/created').filter((g) => g.json.ticketId === id);
        return x.length === 2 ? x : null;
      }, 8000, 'the retry (by the tick, or the deliverer timer when another process holds the scheduler)');
      expect(attempts[1].headers['x-chatgate-delivery']).to.equal(attempts[0].headers['x-chatgate-delivery']);
      expect(hub.webhooks!.pending).to.equal(0);
    });
  });
}
