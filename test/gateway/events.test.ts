// The event stream (GET /api/events) and the shared event log behind it: SSE frames,
// token in header or query, Last-Event-ID resume with the missed events replayed in
// order, resync when the log no longer reaches back, and (with Redis) fan-out and
// resume across two gateways. The log contract runs against memory and, when
// TEST_REDIS_URL is set, Redis.

import { expect } from 'chai';
import { createLogger } from '../../gateway/log.js';
import { loadConfig } from '../../gateway/config.js';
import { createGateway, type Gateway } from '../../gateway/server.js';
import type { EventHub } from '../../gateway/http/events.js';
import { MemoryCoordinator, MemoryHub, type Coordinator } from '../../gateway/coordination/index.js';
import { RedisCoordinator } from '../../gateway/coordination/redis.js';
import { compareLogIds, type EventLog, type LogEntry } from '../../gateway/coordination/event-log.js';
import {
  backends, baseEnv, dropRedisPrefix, mysqlDatabase, newPhone, newRedisPrefix, newWamid, rand, request, sqliteDatabase, startGateway,
  startGraphStub, waTextBody, waitFor, type GraphStub, type TestDatabase, type TestGateway,
} from '../helpers/gateway-harness.js';
import { openStream, type SseStream } from '../helpers/sse-client.js';

// ---- the log contract ------------------------------------------------------------------

interface LogBackend {
  name: string;
  /** Two coordinators sharing state (two processes). */
  pair(): Promise<[Coordinator, Coordinator]>;
  cleanup(): Promise<void>;
}

const logBackends: LogBackend[] = [
  (() => {
    const made: Coordinator[] = [];
    return {
      name: 'memory',
      async pair() {
        const hub = new MemoryHub();
        const p: [Coordinator, Coordinator] = [new MemoryCoordinator({ hub }), new MemoryCoordinator({ hub })];
        made.push(...p);
        return p;
      },
      async cleanup() {
        for (const c of made.splice(0)) await c.close();
      },
    };
  })(),
];
if (process.env.TEST_REDIS_URL) {
  const url = process.env.TEST_REDIS_URL;
  const made: Coordinator[] = [];
  const prefixes: string[] = [];
  logBackends.push({
    name: 'Redis',
    async pair() {
      const prefix = newRedisPrefix();
      prefixes.push(prefix);
      const p: [Coordinator, Coordinator] = [await RedisCoordinator.connect({ url, prefix }), await RedisCoordinator.connect({ url, prefix })];
      made.push(...p);
      return p;
    },
    async cleanup() {
      for (const c of made.splice(0)) await c.close();
      for (const p of prefixes.splice(0)) await dropRedisPrefix(p);
    },
  });
}

for (const b of logBackends) {
  describe(`event log (${b.name})`, function () {
    this.timeout(20_000);
    after(() => b.cleanup());

    const collect = async (log: EventLog) => {
      const got: LogEntry[] = [];
      const unsub = await log.subscribe((entries) => got.push(...entries));
      return { got, unsub };
    };

    it('appends with increasing ids, delivers live to every process in order, replays after an id', async () => {
      const [a, b2] = await b.pair();
      const la = a.eventLog(`t-${rand(3)}`);
      const name = `t-${rand(3)}`;
      const l1 = a.eventLog(name);
      const l2 = b2.eventLog(name);
      expect(la).to.not.equal(l1);
      const head = await l2.head();
      const live = await collect(l2);
      const ids1 = await l1.append(['a', 'b']);
      const ids2 = await l2.append(['c']);
      const ids3 = await l1.append(['d', 'e', 'f']);
      const ids = [...ids1, ...ids2, ...ids3];
      for (let i = 1; i < ids.length; i++) expect(compareLogIds(ids[i - 1], ids[i]), `${ids[i - 1]} < ${ids[i]}`).to.equal(-1);
      expect(compareLogIds(head, ids[0])).to.equal(-1);
      await waitFor(() => live.got.length === 6, 3000, 'live delivery');
      expect(live.got.map((e) => e.payload)).to.deep.equal(['a', 'b', 'c', 'd', 'e', 'f']);
      expect(live.got.map((e) => e.id)).to.deep.equal(ids);
      await live.unsub();

      const fromHead = await l1.readAfter(head, 100);
      expect(fromHead.gap).to.equal(false);
      expect(fromHead.entries.map((e) => e.payload)).to.deep.equal(['a', 'b', 'c', 'd', 'e', 'f']);
      const afterC = await l2.readAfter(ids[2], 2);
      expect(afterC.entries.map((e) => e.payload)).to.deep.equal(['d', 'e']);
      expect((await l2.readAfter(ids[5], 10)).entries).to.deep.equal([]);
      expect(await l1.head()).to.equal(ids[5]);
    });

    it('stays bounded, and says "gap" to a reader older than what is kept', async () => {
      const [a] = await b.pair();
      const log = a.eventLog(`bounded-${rand(3)}`, { maxLen: 10 });
      const first = await log.append(['0']);
      const ids: string[] = [...first];
      for (let i = 1; i < 400; i += 50) ids.push(...(await log.append(Array.from({ length: 50 }, (_, k) => String(i + k)))));
      const all = await log.readAfter('0-0', 10_000);
      // Memory keeps exactly maxLen; Redis trims approximately (whole stream nodes, about 100 entries).
      expect(all.entries.length).to.be.at.least(10).and.below(250);
      expect(all.entries[all.entries.length - 1].payload).to.equal('400');
      expect(all.gap).to.equal(true);
      expect((await log.readAfter(first[0], 10)).gap).to.equal(true);
      // A reader within the kept window is told nothing is missing.
      const kept = all.entries[all.entries.length - 5].id;
      const recent = await log.readAfter(kept, 10);
      expect(recent.gap).to.equal(false);
      expect(recent.entries.map((e) => e.payload)).to.deep.equal(['397', '398', '399', '400']);
    });

    it('an empty log gives a head below every later id', async () => {
      const [a, b2] = await b.pair();
      const name = `empty-${rand(3)}`;
      const head = await a.eventLog(name).head();
      const [id] = await b2.eventLog(name).append(['x']);
      expect(compareLogIds(head, id)).to.equal(-1);
      const r = await a.eventLog(name).readAfter(head, 10);
      expect(r).to.deep.equal({ entries: [{ id, payload: 'x' }], gap: false });
    });
  });
}

// ---- the HTTP stream ------------------------------------------------------------------------

for (const backend of backends()) describe(`event stream GET /api/events (${backend === 'sqlite' ? 'SQLite + in-process' : 'MySQL + Redis'})`, function () {
  this.timeout(30_000);
  let t: TestGateway;
  const streams: SseStream[] = [];
  const open = async (o: Parameters<typeof openStream>[1]) => {
    const s = await openStream(t.url, o);
    streams.push(s);
    return s;
  };

  before(async () => {
    t = await startGateway({ backend, bot: null });
  });
  after(async () => {
    for (const s of streams) s.close();
    await t?.stop();
  });

  const task = async (subject: string) => {
    const res = await t.api('POST', '/api/tickets', { subject });
    expect(res.status).to.equal(201);
    return res.body.id as string;
  };

  it('needs a token: 401 without or with a bad one; Bearer header, ?token= and ?access_token= work', async () => {
    expect((await open({})).status).to.equal(401);
    expect((await open({ token: 'nope' })).status).to.equal(401);
    expect((await open({ query: 'token=nope' })).status).to.equal(401);
    for (const o of [{ token: t.adminToken }, { query: `token=${t.adminToken}` }, { query: `access_token=${t.adminToken}` }]) {
      const s = await open(o);
      expect(s.status).to.equal(200);
      await s.ready();
      s.close();
    }
  });

  it('sends SSE frames (id, event, JSON data) for ticket, assignment and message changes', async () => {
    const s = await open({ token: t.adminToken });
    await s.ready();
    const id = await task(`Frames ${rand(3)}`);
    const created = await s.waitFor((e) => e.event === 'ticket.created' && e.json?.ticketId === id, 'ticket.created');
    expect(created.id).to.match(/^\d+-\d+$/);
    expect(created.json).to.include({ id: created.id, type: 'ticket.created', ticketId: id });
    expect(created.json).to.have.property('at');
    expect(created.json).to.not.have.property('private');

    const agent = (await t.api('POST', '/api/agents', { name: `Ev ${rand(3)}`, email: `ev-${rand(4)}@example.com` })).body;
    await t.api('PUT', '/api/agents/me/presence', { presence: 'online' }, agent.token);
    // Going online lets routing offer pending tickets to the agent at the same time: a
    // PATCH racing it may get 409 concurrent_update, and is simply retried.
    const patched = await waitFor(async () => {
      const r = await t.api('PATCH', `/api/tickets/${id}`, { assigneeId: agent.id, priority: 'high' });
      return r.status === 409 && r.body.error.code === 'concurrent_update' ? null : r;
    }, 5000, 'the PATCH');
    expect(patched.status, JSON.stringify(patched.body)).to.equal(200);
    await s.waitFor((e) => e.event === 'ticket.assigned' && e.json?.ticketId === id, 'ticket.assigned');
    await s.waitFor((e) => e.event === 'ticket.updated' && e.json?.ticketId === id, 'ticket.updated');

    const phone = newPhone();
    expect((await t.webhook(waTextBody({ from: phone, id: newWamid(), text: 'hello', name: 'Stream Customer' }))).status).to.equal(200);
    const msg = await s.waitFor((e) => e.event === 'message.created' && e.json?.data?.direction === 'in', 'message.created');
    await s.waitFor((e) => e.event === 'ticket.created' && e.json?.ticketId === msg.json.ticketId, 'the WhatsApp ticket.created');
    // Ids increase along the stream.
    const ids = s.events.map((e) => e.id!);
    for (let i = 1; i < ids.length; i++) expect(compareLogIds(ids[i - 1], ids[i])).to.equal(-1);
  });

  it('Last-Event-ID resume replays exactly the missed events, in order, then goes live', async () => {
    const s1 = await open({ token: t.adminToken });
    await s1.ready();
    const a = await task(`Seen ${rand(3)}`);
    await s1.waitFor((e) => e.event === 'ticket.created' && e.json?.ticketId === a, 'A');
    const resumeFrom = s1.lastEventId!;
    s1.close();

    const missed = [await task(`Missed 1 ${rand(3)}`), await task(`Missed 2 ${rand(3)}`)];
    expect((await t.api('POST', `/api/tickets/${missed[0]}/comments`, { body: 'while away' })).status).to.equal(201);

    const s2 = await open({ token: t.adminToken, lastEventId: resumeFrom });
    await s2.waitFor((e) => e.event === 'comment.created', 'the replayed comment');
    const d = await task(`Live ${rand(3)}`);
    await s2.waitFor((e) => e.event === 'ticket.created' && e.json?.ticketId === d, 'the live event');
    const created = s2.of('ticket.created').map((e) => e.json.ticketId);
    expect(created).to.deep.equal([...missed, d]);
    expect(s2.events.some((e) => e.json?.ticketId === a)).to.equal(false);
    expect(s2.of('resync')).to.deep.equal([]);
    const ids = s2.events.map((e) => e.id!);
    expect(new Set(ids).size).to.equal(ids.length);

    // The same through ?lastEventId= (a reloaded page that kept the id).
    const s3 = await open({ query: `token=${t.adminToken}&lastEventId=${encodeURIComponent(resumeFrom)}` });
    await s3.waitFor((e) => e.event === 'ticket.created' && e.json?.ticketId === d, 'the replay via query');
    expect(s3.of('ticket.created').map((e) => e.json.ticketId)).to.deep.equal([...missed, d]);
  });

  it('re-checks the user on keep-alive: a revoked notes permission stops note events, a rotated token ends the stream', async () => {
    const agent = (await t.api('POST', '/api/agents', { name: `Revoked ${rand(3)}`, email: `rev-${rand(4)}@example.com`, permissions: ['notes'] })).body;
    const s = await open({ token: agent.token });
    await s.ready();
    const id = await task(`Revoke ${rand(3)}`);
    expect((await t.api('POST', `/api/tickets/${id}/notes`, { body: 'before' })).status).to.equal(201);
    await s.waitFor((e) => e.event === 'note.created' && e.json?.ticketId === id, 'the note while permitted');

    expect((await t.api('PATCH', `/api/agents/${agent.id}`, { permissions: [] })).status).to.equal(200);
    await (t.gw.ctx.events as EventHub).recheckAll(); // what the next keep-alive does
    expect((await t.api('POST', `/api/tickets/${id}/notes`, { body: 'after revocation' })).status).to.equal(201);
    expect((await t.api('POST', `/api/tickets/${id}/comments`, { body: 'marker' })).status).to.equal(201);
    await s.waitFor((e) => e.event === 'comment.created' && e.json?.ticketId === id, 'the comment after the note');
    expect(s.events.some((e) => e.data.includes('after revocation'))).to.equal(false);

    expect((await t.api('PATCH', `/api/agents/${agent.id}`, { rotateToken: true })).status).to.equal(200);
    await (t.gw.ctx.events as EventHub).recheckAll();
    await waitFor(() => s.ended, 3000, 'the stream to end');
  });

  it('a resume id older than the log gets `resync` first; a malformed one is ignored', async () => {
    // In memory the log knows it began after '1-0'; a Redis stream only knows once it has
    // trimmed (covered by the log contract above).
    if (backend === 'sqlite') {
      const old = await open({ token: t.adminToken, lastEventId: '1-0' });
      const resync = await old.waitFor((e) => e.event === 'resync', 'resync');
      expect(old.events[0]).to.equal(resync);
    }
    const junk = await open({ token: t.adminToken, lastEventId: 'not-an-id' });
    await junk.ready();
    const id = await task(`After junk ${rand(3)}`);
    await junk.waitFor((e) => e.json?.ticketId === id, 'a live event');
    expect(junk.of('resync')).to.deep.equal([]);
    expect(junk.of('ticket.created').map((e) => e.json.ticketId)).to.deep.equal([id]);
  });
});

// ---- two gateways sharing Redis ------------------------------------------------------------

if (process.env.TEST_REDIS_URL) {
  const shared = process.env.TEST_MYSQL_URL ? 'one MySQL database' : 'a SQLite file each';
  describe(`event stream across two gateways sharing Redis (${shared})`, function () {
    this.timeout(60_000);
    const prefix = newRedisPrefix();
    const adminToken = `admin-${rand(12)}`;
    const gws: Gateway[] = [];
    const urls: string[] = [];
    const dbs: TestDatabase[] = [];
    const streams: SseStream[] = [];
    let graph: GraphStub;

    before(async () => {
      graph = await startGraphStub();
      const mysqlDb = process.env.TEST_MYSQL_URL ? await mysqlDatabase() : null;
      if (mysqlDb) dbs.push(mysqlDb);
      for (let i = 0; i < 2; i++) {
        const db = mysqlDb ?? sqliteDatabase();
        if (!mysqlDb) dbs.push(db);
        const env = baseEnv({ databaseUrl: db.url, graphUrl: graph.url, redisPrefix: prefix, adminToken });
        const gw = await createGateway(loadConfig(env), { log: createLogger(process.env.LOG_LEVEL ?? 'silent'), bot: null });
        gws.push(gw);
        urls.push(`http://127.0.0.1:${await gw.listen(0)}`);
      }
      expect(gws.map((g) => g.coord.kind)).to.deep.equal(['redis', 'redis']);
    });
    after(async () => {
      for (const s of streams) s.close();
      for (const gw of gws) await gw.stop().catch(() => undefined);
      await graph?.close();
      for (const db of dbs) await db.drop().catch(() => undefined);
      await dropRedisPrefix(prefix);
    });

    const task = async (url: string, subject: string) => {
      const res = await request(url, 'POST', '/api/tickets', { subject }, adminToken);
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      return res.body.id as string;
    };

    it('an event on one gateway reaches streams on the other, and a client resumes on either', async () => {
      const onB = await openStream(urls[1], { token: adminToken });
      streams.push(onB);
      await onB.ready();
      const first = await task(urls[0], `On A ${rand(3)}`);
      await onB.waitFor((e) => e.event === 'ticket.created' && e.json?.ticketId === first, 'the event from gateway A on B');
      const resumeFrom = onB.lastEventId!;
      onB.close();

      // Missed while away, written through both gateways.
      const missed = [await task(urls[0], `Missed A ${rand(3)}`), await task(urls[1], `Missed B ${rand(3)}`), await task(urls[0], `Missed A2 ${rand(3)}`)];
      // Reconnects to the other gateway (the load balancer chose A this time).
      const onA = await openStream(urls[0], { token: adminToken, lastEventId: resumeFrom });
      streams.push(onA);
      await onA.waitFor((e) => e.json?.ticketId === missed[2], 'the last missed event');
      const live = await task(urls[1], `Live on B ${rand(3)}`);
      await onA.waitFor((e) => e.json?.ticketId === live, 'a live event from B');
      expect(onA.of('ticket.created').map((e) => e.json.ticketId)).to.deep.equal([...missed, live]);
      expect(onA.of('resync')).to.deep.equal([]);
    });
  });
}

describe('EventHub.publish', () => {
  it('appends the events published in one turn of the event loop together, in publish order', async () => {
    const { EventHub } = await import('../../gateway/http/events.js');
    const coord = new MemoryCoordinator();
    const hub = new EventHub(coord);
    const appends: string[][] = [];
    const append = hub.log.append.bind(hub.log);
    hub.log.append = async (payloads: string[]) => {
      appends.push(payloads.map((p) => JSON.parse(p).ticketId));
      return append(payloads);
    };
    const ev = (ticketId: string) => ({ type: 'ticket.updated' as const, ticketId, at: 1, data: {} });
    hub.publish([ev('A'), ev('B')]);
    hub.publish([ev('C')]);
    expect(appends, 'nothing is appended before the turn ends').to.deep.equal([]);
    await new Promise((r) => setImmediate(r));
    hub.publish([ev('D')]);
    await new Promise((r) => setImmediate(r));
    expect(appends).to.deep.equal([['A', 'B', 'C'], ['D']]);
    const { entries } = await hub.log.readAfter('0-0', 10);
    expect(entries.map((e) => JSON.parse(e.payload).ticketId)).to.deep.equal(['A', 'B', 'C', 'D']);
    await coord.close();
  });
});
