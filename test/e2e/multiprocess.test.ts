// Three gateway processes on one MySQL database and one Redis, the test acting as a
// round-robin load balancer (each webhook to the next process in turn). Bursts from
// many contacts at once, each message also re-delivered (Meta's retries) to another
// process: one ticket per contact, each message stored once, in platform order per
// conversation. The scheduler lease is held by exactly one process and taken over
// within seconds when its holder is SIGKILLed (LEASE_TTL=2s).
// Registered only when TEST_MYSQL_URL and TEST_REDIS_URL are set.

import { expect } from 'chai';
import { createClient } from 'redis';
import { signMetaBody } from '../../adapters/meta/signature.js';
import { openDatabase, type Database } from '../../gateway/db/open.js';
import {
  APP_SECRET, backends, newPhone, rand, waTextBody, waitFor,
  type GraphStub, type TestDatabase,
} from '../helpers/gateway-harness.js';
import { count, processSuite, startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';

async function deliver(url: string, raw: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/webhooks/whatsapp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signMetaBody(Buffer.from(raw), APP_SECRET) },
    body: raw,
    signal: AbortSignal.timeout(20_000),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

if (backends().includes('mysql')) {
  describe('three gateway processes behind round-robin (MySQL + Redis)', function () {
    this.timeout(240_000);
    let graph: GraphStub;
    let db: TestDatabase;
    let prefix: string | undefined;
    let conn: Database;
    let procs: GatewayProcess[] = [];
    let rr = 0;
    const next = () => procs[rr++ % procs.length]!;

    let suiteEnv: Record<string, string>;
    processSuite('mysql', (s) => void ({ graph, db, redisPrefix: prefix, env: suiteEnv } = s), () => conn?.close());

    before(async () => {
      const env = { ...suiteEnv, LEASE_TTL: '2s', SCHEDULER_INTERVAL: '1s' };
      // Together, as a deployment rolling out: the migrations take turns behind their lock.
      procs = await Promise.all(['a', 'b', 'c'].map((id) => startGatewayProcess({ ...env, INSTANCE_ID: id }, 90_000)));
      conn = await openDatabase(db.url, { migrate: false });
    });

    it('bursts from 20 contacts with every message retried on another process: one ticket each, every message stored once, in order', async () => {
      const base = Math.floor(Date.now() / 1000);
      const convs = Array.from({ length: 20 }, () => {
        const from = newPhone();
        return Array.from({ length: 5 }, (_, i) => {
          const id = `wamid.MP${rand(8).toUpperCase()}`;
          return { from, id, raw: JSON.stringify(waTextBody({ from, id, text: i === 0 ? 'hi' : `message ${i}`, timestamp: base + i })) };
        });
      });
      // Per contact in order (the next once the previous is acknowledged, as a phone sends),
      // each one also delivered at once to another process; all contacts at the same time.
      const results = await Promise.all(convs.map(async (msgs) => {
        const out: { status: number; body: any }[] = [];
        for (const m of msgs) out.push(...(await Promise.all([deliver(next().url, m.raw), deliver(next().url, m.raw)])));
        return out;
      }));
      const flat = results.flat();
      expect(flat.map((r) => r.status)).to.deep.equal(Array(200).fill(200));
      expect(flat.reduce((s, r) => s + r.body.accepted, 0), 'accepted once').to.equal(100);
      expect(flat.reduce((s, r) => s + r.body.duplicates, 0), 'the retries are duplicates').to.equal(100);

      await waitFor(async () => (await count(conn, "SELECT COUNT(*) AS n FROM inbound WHERE status <> 'done'")) === 0, 60_000, 'processing');
      expect(await count(conn, 'SELECT COUNT(*) AS n FROM inbound')).to.equal(100);
      for (const msgs of convs) {
        const tickets = await conn.sql.query<any>(
          "SELECT t.id FROM tickets t JOIN contact_identities i ON i.contactId = t.contactId WHERE t.channel = 'whatsapp' AND i.value = ?", [msgs[0]!.from]);
        expect(tickets, `one ticket for ${msgs[0]!.from}`).to.have.length(1);
        const stored = await conn.sql.query<any>("SELECT externalId FROM messages WHERE ticketId = ? AND direction = 'in' ORDER BY createdAt, id", [tickets[0].id]);
        expect(stored.map((r) => r.externalId), 'each once, in order').to.deep.equal(msgs.map((m) => m.id));
      }
      // Every message was answered by the bot, each reply sent once.
      await waitFor(async () => (await count(conn, "SELECT COUNT(*) AS n FROM outbox WHERE status <> 'sent'")) === 0, 30_000, 'replies sent');
      const outRows = await count(conn, "SELECT COUNT(*) AS n FROM messages WHERE direction = 'out'");
      expect(outRows).to.be.at.least(20);
      expect(graph.sends.filter((s) => s.body?.status !== 'read')).to.have.length(outRows);
    });

    it('the scheduler lease is held by exactly one process and taken over within seconds when the holder is SIGKILLed', async () => {
      const redis = createClient({ url: process.env.TEST_REDIS_URL });
      await redis.connect();
      try {
        const holderPid = async () => {
          const v = await redis.get(`${prefix}lease:scheduler`);
          const pid = v ? Number(v.split(':')[1]) : NaN;
          return procs.find((p) => p.child.pid === pid && p.child.exitCode === null && p.child.signalCode === null);
        };
        const holder = await waitFor(holderPid, 10_000, 'a lease holder');
        // One key, one value: exactly one process; it stays with it while it lives.
        for (let i = 0; i < 5; i++) {
          expect((await holderPid())?.child.pid).to.equal(holder.child.pid);
          await new Promise((r) => setTimeout(r, 200));
        }
        await holder.crash();
        const killedAt = Date.now();
        const successor = await waitFor(holderPid, 10_000, 'a successor');
        expect(successor.child.pid).to.not.equal(holder.child.pid);
        expect(Date.now() - killedAt, 'taken over within LEASE_TTL and a renewal tick').to.be.below(6_000);
        procs = procs.filter((p) => p !== holder);
        // The survivors still serve webhooks and answer.
        const from = newPhone();
        const id = `wamid.MP${rand(8).toUpperCase()}`;
        expect((await deliver(procs[0]!.url, JSON.stringify(waTextBody({ from, id, text: 'hi' })))).status).to.equal(200);
        await waitFor(() => graph.to(from).length === 1, 15_000, 'the answer after the takeover');
      } finally {
        await redis.quit();
      }
    });
  });
}
