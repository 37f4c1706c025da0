// Three real gateway processes (`node --import tsx gateway/main.ts`) sharing one MySQL
// database and one Redis, with a short SCHEDULER_INTERVAL: every time-based automation
// (auto-close, idle close, on-hold return, idle) acts exactly once per due ticket,
// whichever process runs it. Registered only when TEST_MYSQL_URL and TEST_REDIS_URL are set.

import { expect } from 'chai';
import { openDatabase, type Database } from '../../gateway/db/open.js';
import { newTicketId } from '../../gateway/ids.js';
import { backends, waitFor, type TestDatabase } from '../helpers/gateway-harness.js';
import { processSuite, startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

if (backends().includes('mysql')) {
  describe('automations with three gateway processes sharing MySQL + Redis', function () {
    this.timeout(150_000);
    let db: TestDatabase;
    let suiteEnv: Record<string, string>;
    let conn: Database | null = null;
    const procs: GatewayProcess[] = [];

    processSuite('mysql', (s) => void ({ db, env: suiteEnv } = s), () => conn?.close());

    it('each automation changes each due ticket exactly once (one status timeline entry per ticket)', async () => {
      const env = { ...suiteEnv, SCHEDULER_INTERVAL: '200ms' };
      const started = await Promise.all(['a', 'b', 'c'].map((name) => startGatewayProcess({ ...env, INSTANCE_ID: name }, 60_000)));
      procs.push(...started);
      conn = await openDatabase(db.url, { migrate: false });
      const sql = conn.sql;

      // Due tickets of every kind, written directly (the defaults: idleAfter 1d, idleCloseAfter 3d,
      // autoCloseAfter 4d, onHoldReturnAfter 1d), in waves while the processes run.
      const kinds = [
        { status: 'resolved', age: 5 * DAY, to: 'closed', cause: 'auto_close' },
        { status: 'idle', age: 4 * DAY, to: 'closed', cause: 'idle_close' },
        { status: 'on_hold', age: 2 * DAY, to: 'pending', cause: 'on_hold_return' },
        { status: 'active', age: 2 * DAY, to: 'idle', cause: 'idle_timeout' },
      ] as const;
      const expected = new Map<string, (typeof kinds)[number]>();
      for (let wave = 0; wave < 3; wave++) {
        const now = Date.now();
        for (const k of kinds) {
          for (let i = 0; i < 10; i++) {
            const id = newTicketId();
            expected.set(id, k);
            await sql.execute(
              `INSERT INTO tickets (id, channel, subject, type, status, priority, tags, createdBy, createdAt, updatedAt, statusChangedAt, resolvedAt, lastAgentMessageAt, version)
               VALUES (?, 'internal', ?, 'agent', ?, 'medium', '[]', 'agent', ?, ?, ?, ?, ?, 0)`,
              [id, `wave ${wave} ${k.status} ${i}`, k.status, now - k.age - DAY, now - k.age, now - k.age, k.status === 'resolved' ? now - k.age : null, k.status === 'active' ? now - k.age : null],
            );
          }
        }
        await new Promise((r) => setTimeout(r, 150)); // let a scheduler run land between waves
      }
      const ids = [...expected.keys()];
      const ph = ids.map(() => '?').join(', ');
      const outs = () => procs.map((p) => p.output()).join('\n');
      await waitFor(async () => {
        const rows = await sql.query<{ id: string; status: string }>(`SELECT id, status FROM tickets WHERE id IN (${ph})`, ids);
        return rows.every((r) => r.status === expected.get(r.id)!.to);
      }, 30_000, `every ticket moved\n${outs()}`);
      // Give the other schedulers a few more runs to (wrongly) act again.
      await new Promise((r) => setTimeout(r, 800));

      const entries = await sql.query<{ ticketId: string; data: string; actorName: string | null }>(
        `SELECT ticketId, data, actorName FROM timeline WHERE type = 'status' AND ticketId IN (${ph})`,
        ids,
      );
      expect(entries).to.have.length(ids.length);
      const perTicket = new Map<string, number>();
      for (const e of entries) {
        perTicket.set(e.ticketId, (perTicket.get(e.ticketId) ?? 0) + 1);
        const data = JSON.parse(e.data);
        const k = expected.get(e.ticketId)!;
        expect(data, e.ticketId).to.include({ from: k.status, to: k.to, cause: k.cause });
        expect(e.actorName).to.equal('automation');
      }
      expect([...perTicket.values()].every((n) => n === 1)).to.equal(true);
      expect(perTicket.size).to.equal(ids.length);
      const rows = await sql.query<{ id: string; status: string; version: number }>(`SELECT id, status, version FROM tickets WHERE id IN (${ph})`, ids);
      expect(rows.every((r) => Number(r.version) === 1), 'each ticket written once').to.equal(true);

      const codes = await Promise.all(procs.map((p) => p.stop()));
      expect(codes, outs()).to.deep.equal([0, 0, 0]);
    });
  });
}
