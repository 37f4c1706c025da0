// Crash tests with real gateway processes (issue 9): a gateway SIGKILLed in the middle
// of a load, at a chosen point of a message's journey (CRASH_AT, gateway/crash-points.ts),
// then restarted; everything Meta would retry (every webhook not acknowledged with 200)
// is delivered again. Afterwards: every message stored exactly once, one ticket per
// contact, no ticket half-made, every bot reply sent at most once (and all but the one
// caught mid-send sent). SQLite always; MySQL + Redis when configured. With MySQL +
// Redis also: Redis and then MySQL cut under load through a TCP proxy: webhooks either
// succeed or fail with a 5xx (never hang, never 4xx), and the same process recovers.

import { expect } from 'chai';
import { openDatabase, type Database } from '../../gateway/db/open.js';
import { signMetaBody } from '../../adapters/meta/signature.js';
import {
  APP_SECRET, backends, baseEnv, dropRedisPrefix, mysqlDatabase, newPhone, newRedisPrefix, rand, sqliteDatabase, startGraphStub, waTextBody, waitFor,
  type GraphStub, type TestDatabase,
} from '../helpers/gateway-harness.js';
import { count, killAll, processSuite, startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { prng } from '../../bench/prng.js';

// The crash points are random (seeded PRNG): a failure reproduces with CRASH_SEED.
const SEED = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 1e9));

interface Msg { from: string; id: string; raw: string; status: number }

/** `perContact` messages from each of `contacts` new contacts, platform timestamps increasing. */
function traffic(contacts: number, perContact: number): Msg[][] {
  const base = Math.floor(Date.now() / 1000);
  return Array.from({ length: contacts }, () => {
    const from = newPhone();
    return Array.from({ length: perContact }, (_, i) => {
      const id = `wamid.CRASH${rand(8).toUpperCase()}`;
      return { from, id, raw: JSON.stringify(waTextBody({ from, id, text: i % 2 ? 'hello' : 'hi', timestamp: base + i })), status: -1 };
    });
  });
}

/** One delivery as Meta makes it: 0 when the connection failed or nothing came back in time. */
async function deliver(url: string, m: Msg): Promise<number> {
  try {
    const res = await fetch(`${url}/webhooks/whatsapp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hub-signature-256': signMetaBody(Buffer.from(m.raw), APP_SECRET) },
      body: m.raw,
      signal: AbortSignal.timeout(15_000),
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** Each contact's messages in order (the next after the previous was answered), contacts in parallel. */
async function sendAll(url: () => string, convs: Msg[][], onlyFailed = false, between?: () => Promise<void>): Promise<void> {
  await Promise.all(convs.map(async (msgs) => {
    for (const m of msgs) {
      if (onlyFailed && m.status === 200) continue;
      m.status = await deliver(url(), m);
      await between?.();
    }
  }));
}

/**
 * The invariants after the dust settled. Replies the dead process had claimed (outbox
 * `sending`: maybe sent, maybe not) are never sent again; every other reply was sent once.
 */
async function checkConsistent(db: Database, graph: GraphStub, convs: Msg[][]): Promise<void> {
  const all = convs.flat();
  for (const m of all) expect(await count(db, "SELECT COUNT(*) AS n FROM messages WHERE direction = 'in' AND externalId = ?", [m.id]), `message ${m.id} stored once`).to.equal(1);
  expect(await count(db, 'SELECT COUNT(*) AS n FROM inbound')).to.equal(all.length);
  expect(await count(db, "SELECT COUNT(*) AS n FROM inbound WHERE status <> 'done'")).to.equal(0);
  let sends = 0;
  for (const msgs of convs) {
    const from = msgs[0]!.from;
    const tickets = await db.sql.query<any>(
      "SELECT t.* FROM tickets t JOIN contact_identities i ON i.contactId = t.contactId WHERE t.channel = 'whatsapp' AND i.value = ?", [from]);
    expect(tickets, `one ticket for ${from}`).to.have.length(1);
    const t = tickets[0];
    // Not half-made: it has its conversation, its opening timeline entry and its messages, in platform order.
    expect(t.conversationId).to.be.a('string');
    expect(await count(db, "SELECT COUNT(*) AS n FROM timeline WHERE ticketId = ? AND type = 'status'", [t.id])).to.be.at.least(1);
    const stored = await db.sql.query<any>("SELECT externalId FROM messages WHERE ticketId = ? AND direction = 'in' ORDER BY createdAt, id", [t.id]);
    expect(stored.map((r) => r.externalId), `order of ${from}`).to.deep.equal(msgs.map((m) => m.id));
    // Every bot reply has its outbox row (same transaction) and was sent at most once.
    const out = await count(db, "SELECT COUNT(*) AS n FROM messages WHERE ticketId = ? AND direction = 'out'", [t.id]);
    expect(await count(db, 'SELECT COUNT(*) AS n FROM outbox o JOIN messages m ON m.id = o.messageId WHERE m.ticketId = ?', [t.id])).to.equal(out);
    expect(out, `bot replies to ${from}`).to.be.at.least(1);
    const sent = graph.to(from).length;
    expect(sent, `sends to ${from} (${out} replies)`).to.be.at.most(out);
    sends += sent;
  }
  const byStatus = Object.fromEntries((await db.sql.query<any>('SELECT status, COUNT(*) AS n FROM outbox GROUP BY status')).map((r) => [r.status, Number(r.n)]));
  expect(Object.keys(byStatus).filter((k) => k !== 'sent' && k !== 'sending'), JSON.stringify(byStatus)).to.deep.equal([]);
  expect(sends, `replies sent (outbox ${JSON.stringify(byStatus)})`).to.be.within(byStatus.sent ?? 0, (byStatus.sent ?? 0) + (byStatus.sending ?? 0));
}

const POINTS = ['before-ack', 'after-ack', 'after-thread', 'before-send', 'after-send'] as const;

for (const backend of backends()) {
  describe(`crash at random points under load, restart, Meta's retries (${backend === 'sqlite' ? 'SQLite + in-process' : 'MySQL + Redis'}; seed ${SEED})`, function () {
    this.timeout(240_000);
    const random = prng(SEED);
    let graph: GraphStub;
    const cleanups: (() => Promise<void>)[] = [];

    before(async () => {
      graph = await startGraphStub();
    });
    after(async () => {
      await killAll();
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
      await graph?.close();
    });

    for (const point of POINTS) {
      it(`SIGKILL at ${point}: every message stored once, every reply sent at most once, no ticket half-made`, async () => {
        const db: TestDatabase = backend === 'mysql' ? await mysqlDatabase() : sqliteDatabase();
        const prefix = backend === 'mysql' ? newRedisPrefix() : undefined;
        cleanups.push(async () => db.drop(), async () => (prefix ? dropRedisPrefix(prefix) : undefined));
        const env = { ...baseEnv({ databaseUrl: db.url, graphUrl: graph.url, redisPrefix: prefix, adminToken: `admin-${rand(8)}` }), SCHEDULER_INTERVAL: '1s', LEASE_TTL: '2s' };
        const nth = 3 + Math.floor(random() * 10);
        const convs = traffic(8, 3);

        const p1 = await startGatewayProcess({ ...env, CRASH_AT: `${point}:${nth}` }, 90_000);
        let current: GatewayProcess = p1;
        await sendAll(() => current.url, convs);
        await waitFor(() => p1.child.signalCode === 'SIGKILL', 15_000, `the crash at ${point}:${nth}\n${p1.output()}`);
        const unacked = convs.flat().filter((m) => m.status !== 200).length;
        if (point === 'before-ack') expect(unacked, 'the webhook being stored when it died was not acknowledged').to.be.at.least(1);

        current = await startGatewayProcess(env, 90_000);
        await sendAll(() => current.url, convs, true);
        expect(convs.flat().filter((m) => m.status !== 200).map((m) => m.status)).to.deep.equal([]);
        // Meta also re-delivers some acknowledged notifications: they must change nothing.
        for (const m of convs.flat().filter((_, i) => i % 5 === 0)) expect(await deliver(current.url, m)).to.equal(200);

        const conn = await openDatabase(db.url, { migrate: false });
        cleanups.push(async () => conn.close());
        await waitFor(async () => (await count(conn, "SELECT COUNT(*) AS n FROM inbound WHERE status <> 'done'")) === 0
          && (await count(conn, "SELECT COUNT(*) AS n FROM outbox WHERE status = 'pending'")) === 0, 30_000, `the restarted gateway catching up\n${current.output()}`);
        await checkConsistent(conn, graph, convs);
        expect(await current.stop(), current.output()).to.equal(0);
      });
    }
  });
}

if (backends().includes('mysql')) {
  describe('Redis restarted / MySQL connection dropped under load (MySQL + Redis through a cuttable TCP proxy)', function () {
    this.timeout(240_000);
    let graph: GraphStub;
    let db: TestDatabase;
    let redisProxy: TcpProxy;
    let mysqlProxy: TcpProxy;
    let gw: GatewayProcess;
    let conn: Database;

    let env: Record<string, string>;
    processSuite('mysql', (s) => void ({ graph, db, env } = s), async () => {
      await conn?.close().catch(() => undefined);
      await redisProxy?.close();
      await mysqlProxy?.close();
    });

    before(async () => {
      redisProxy = await startTcpProxy(process.env.TEST_REDIS_URL!);
      mysqlProxy = await startTcpProxy(db.url);
      gw = await startGatewayProcess({ ...env, DATABASE_URL: mysqlProxy.url, REDIS_URL: redisProxy.url, SCHEDULER_INTERVAL: '1s', LEASE_TTL: '2s' }, 90_000);
      conn = await openDatabase(db.url, { migrate: false });
    });

    for (const which of ['redis', 'mysql'] as const) {
      it(`${which} cut for 1.5 s in the middle of a load: only 200 or 5xx, then the same process recovers and every message is stored once`, async () => {
        const proxy = which === 'redis' ? redisProxy : mysqlProxy;
        const convs = traffic(6, 6);
        let sent = 0;
        let cut = false;
        const healthDuringCut: number[] = [];
        await sendAll(() => gw.url, convs, false, async () => {
          if (++sent === 12 && !cut) {
            cut = true;
            proxy.cut();
            const h = await fetch(`${gw.url}/healthz`, { signal: AbortSignal.timeout(15_000) }).catch(() => null);
            healthDuringCut.push(h?.status ?? 0);
            setTimeout(() => proxy.restore(), 1500);
          }
        });
        expect(healthDuringCut, '/healthz while cut').to.deep.equal([503]);
        const first = convs.flat().map((m) => m.status);
        for (const s of first) expect(s === 200 || (s >= 500 && s < 600), `status ${s}`).to.equal(true);
        // Meta retries what was not acknowledged, until it is.
        await waitFor(async () => {
          await sendAll(() => gw.url, convs, true);
          return convs.flat().every((m) => m.status === 200);
        }, 30_000, `every webhook acknowledged after the ${which} outage\n${gw.output()}`);
        await waitFor(async () => (await count(conn, "SELECT COUNT(*) AS n FROM inbound WHERE status <> 'done'")) === 0, 30_000, `processing caught up\n${gw.output().slice(-3000)}`);
        await waitFor(async () => (await count(conn, "SELECT COUNT(*) AS n FROM outbox WHERE status = 'pending'")) === 0, 30_000, 'outbox drained');
        const all = convs.flat();
        for (const m of all) expect(await count(conn, "SELECT COUNT(*) AS n FROM messages WHERE direction = 'in' AND externalId = ?", [m.id])).to.equal(1);
        for (const msgs of convs) {
          const n = await count(conn, "SELECT COUNT(*) AS n FROM tickets t JOIN contact_identities i ON i.contactId = t.contactId WHERE i.value = ?", [msgs[0]!.from]);
          expect(n, `one ticket for ${msgs[0]!.from}`).to.equal(1);
        }
        expect(gw.child.exitCode, 'the gateway kept running').to.equal(null);
        expect((await fetch(`${gw.url}/healthz`)).status).to.equal(200);
      });
    }
  });
}
