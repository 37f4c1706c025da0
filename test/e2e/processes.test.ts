// Real gateway processes (`node --import tsx gateway/main.ts`):
// (a) SIGKILL between acknowledging and processing loses nothing, and a restart
//     processes the stored inbound exactly once (SQLite always; MySQL + Redis when set);
// (b) two processes sharing one MySQL database and one Redis keep "one ticket, each
//     message stored once" under concurrency and cross-process duplicates.

import { expect } from 'chai';
import { parseWhatsAppWebhook } from '../../adapters/whatsapp-cloud/parse.js';
import { openDatabase, type Database } from '../../gateway/db/open.js';
import { newId } from '../../gateway/ids.js';
import { convKeyOf } from '../../gateway/inbound.js';
import {
  PHONE_NUMBER_ID, backends, dropRedisPrefix, mysqlDatabase, newPhone, newRedisPrefix, newWamid, postWebhook, waTextBody, waitFor,
  type GraphStub, type TestDatabase,
} from '../helpers/gateway-harness.js';
import { count, killAll, processSuite, startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';

const label = (b: string) => (b === 'sqlite' ? 'SQLite + in-process' : 'MySQL + Redis');

for (const backend of backends()) {
  describe(`gateway process crash (${label(backend)})`, function () {
    this.timeout(90_000);
    let graph: GraphStub;
    let db: TestDatabase;
    let env: Record<string, string>;
    let conn: Database | null = null;
    const procs: GatewayProcess[] = [];

    processSuite(backend, (s) => void ({ graph, db, env } = s), () => conn?.close());

    it('SIGKILL between acknowledging and processing loses nothing: the restarted process handles the stored inbound exactly once', async () => {
      const a = newPhone();
      const b = newPhone();
      const c = newPhone();

      // 1. A working process: a message is acknowledged, processed and answered.
      const p1 = await startGatewayProcess(env);
      procs.push(p1);
      const res = await postWebhook(p1.url, waTextBody({ from: a, id: newWamid(), text: 'hi' }));
      expect(res.status, p1.output()).to.equal(200);
      await waitFor(() => graph.to(a).length === 1, 15_000, `the answer to ${a}\n${p1.output()}`);
      conn = await openDatabase(db.url, { migrate: false });
      await waitFor(async () => (await count(conn!, "SELECT COUNT(*) AS n FROM messages WHERE direction = 'out' AND status = 'sent'")) === 1, 10_000, 'the reply recorded as sent');

      // 2. Crash. Then the state the crash leaves when it strikes after the ack and before
      //    processing: inbound rows stored as "received" (what accept() commits before 200).
      await p1.crash();
      const pending = [
        { from: b, id: newWamid(), text: 'hi', ts: 0 },
        { from: c, id: newWamid(), text: 'hello', ts: 0 },
        { from: c, id: newWamid(), text: 'menu', ts: 1 },
      ];
      const base = Math.floor(Date.now() / 1000);
      for (const m of pending) {
        const batch = parseWhatsAppWebhook(waTextBody({ from: m.from, id: m.id, text: m.text, timestamp: base + m.ts }), { phoneNumberId: PHONE_NUMBER_ID });
        expect(batch.messages).to.have.length(1);
        const msg = batch.messages[0]!;
        await conn.sql.execute(
          "INSERT INTO inbound (id, channel, account, externalId, convKey, payload, status, attempts, receivedAt) VALUES (?, ?, ?, ?, ?, ?, 'received', 0, ?)",
          [newId(), msg.channel, msg.account, msg.externalId, convKeyOf(msg), JSON.stringify(msg), Date.now()],
        );
      }
      expect(await count(conn, "SELECT COUNT(*) AS n FROM inbound WHERE status = 'received'")).to.equal(3);

      // 3. Restart on the same database: the stored inbound is processed and answered.
      const p2 = await startGatewayProcess(env);
      procs.push(p2);
      await waitFor(async () => (await count(conn!, "SELECT COUNT(*) AS n FROM inbound WHERE status <> 'done'")) === 0, 15_000, `recovery\n${p2.output()}`);
      await waitFor(() => graph.to(b).length === 1 && graph.to(c).length === 2, 15_000, `the answers after restart\n${p2.output()}`);
      for (const m of pending) {
        expect(await count(conn, 'SELECT COUNT(*) AS n FROM messages WHERE externalId = ?', [m.id]), m.id).to.equal(1);
      }

      // 4. Another crash and restart: nothing is processed or sent a second time. A fresh
      //    message from each contact, answered after recovery ran, proves the process caught up.
      await waitFor(async () => (await count(conn!, "SELECT COUNT(*) AS n FROM outbox WHERE status NOT IN ('sent', 'failed')")) === 0, 10_000, 'the outbox settled');
      await p2.crash();
      const p3 = await startGatewayProcess(env);
      procs.push(p3);
      for (const phone of [a, b]) {
        const r = await postWebhook(p3.url, waTextBody({ from: phone, id: newWamid(), text: 'hi' }));
        expect(r.status).to.equal(200);
      }
      await waitFor(() => graph.to(a).length >= 2 && graph.to(b).length >= 2, 15_000, `the fresh answers\n${p3.output()}`);
      await waitFor(async () => (await count(conn!, "SELECT COUNT(*) AS n FROM inbound WHERE status <> 'done'")) === 0, 10_000, 'all inbound done');
      expect(graph.to(a)).to.have.length(2);
      expect(graph.to(b)).to.have.length(2);
      expect(graph.to(c)).to.have.length(2);
      expect(await count(conn, "SELECT COUNT(*) AS n FROM messages WHERE direction = 'in'")).to.equal(6);
      expect(await count(conn, 'SELECT COUNT(*) AS n FROM tickets')).to.equal(3);
      const code = await p3.stop();
      expect(code, p3.output()).to.equal(0);
    });
  });
}

if (backends().includes('mysql')) {
  describe('two gateway processes sharing MySQL + Redis', function () {
    this.timeout(90_000);
    let graph: GraphStub;
    let db: TestDatabase;
    let env: Record<string, string>;
    let conn: Database | null = null;

    processSuite('mysql', (s) => void ({ graph, db, env } = s), () => conn?.close());

    it('two processes started at the same time on a fresh database both come up (migrations do not race)', async () => {
      const fresh = await mysqlDatabase();
      const prefix = newRedisPrefix();
      try {
        const e = { ...env, DATABASE_URL: fresh.url, REDIS_PREFIX: prefix };
        const started = await Promise.allSettled([startGatewayProcess({ ...e, INSTANCE_ID: 'a' }), startGatewayProcess({ ...e, INSTANCE_ID: 'b' })]);
        const failed = started.filter((s) => s.status === 'rejected').map((s) => String((s as PromiseRejectedResult).reason).slice(0, 600));
        for (const s of started) if (s.status === 'fulfilled') expect(await s.value.stop()).to.equal(0);
        expect(failed, failed.join('\n')).to.deep.equal([]);
      } finally {
        await killAll();
        await fresh.drop().catch(() => undefined);
        await dropRedisPrefix(prefix).catch(() => undefined);
      }
    });

    it('30 concurrent webhooks for one new contact over both processes, each also delivered to both: one ticket, 30 messages, each stored once', async () => {
      // Started one after the other: the concurrent first start is the test above.
      const p1 = await startGatewayProcess({ ...env, INSTANCE_ID: 'one' });
      const p2 = await startGatewayProcess({ ...env, INSTANCE_ID: 'two' });
      const phone = newPhone();
      const base = Math.floor(Date.now() / 1000);
      const ids = Array.from({ length: 30 }, () => newWamid());
      const bodies = ids.map((id, i) => waTextBody({ from: phone, id, text: 'hi', timestamp: base + i }));
      // Each message goes to one process first (alternating), and its duplicate to the other, all at once.
      const sends = bodies.flatMap((body, i) => [postWebhook((i % 2 ? p1 : p2).url, body), postWebhook((i % 2 ? p2 : p1).url, body)]);
      const results = await Promise.all(sends);
      expect(results.map((r) => r.status)).to.deep.equal(Array(60).fill(200));
      expect(results.reduce((s, r) => s + r.body.accepted, 0)).to.equal(30);
      expect(results.reduce((s, r) => s + r.body.duplicates, 0)).to.equal(30);

      conn = await openDatabase(db.url, { migrate: false });
      await waitFor(async () => (await count(conn!, "SELECT COUNT(*) AS n FROM messages WHERE direction = 'in'")) >= 30, 30_000, `30 messages\n${p1.output()}\n${p2.output()}`);
      const tickets = await conn.sql.query("SELECT * FROM tickets WHERE channel = 'whatsapp'");
      expect(tickets).to.have.length(1);
      const rows = await conn.sql.query("SELECT externalId FROM messages WHERE direction = 'in' AND ticketId = ?", [tickets[0].id]);
      expect(rows).to.have.length(30);
      expect(new Set(rows.map((r: any) => r.externalId))).to.deep.equal(new Set(ids));
      expect(await count(conn, 'SELECT COUNT(*) AS n FROM inbound')).to.equal(30);
      expect(await count(conn, 'SELECT COUNT(*) AS n FROM contacts')).to.equal(1);
      const [c1, c2] = await Promise.all([p1.stop(), p2.stop()]);
      expect([c1, c2]).to.deep.equal([0, 0]);
    });
  });
}
