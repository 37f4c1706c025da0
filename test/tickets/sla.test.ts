// SLA (SPEC §3.6) through the real gateway with an injected clock: states over time, the
// list's sla= filter and sort=sla on the stored columns, breaches recorded once (timeline,
// event stream, columns) however often the scan runs, the resolution clock paused while
// idle, and stored columns recomputed after a settings change.
// SQLite always; MySQL + Redis when TEST_MYSQL_URL / TEST_REDIS_URL are set.

import { expect } from 'chai';
import { ManualClock } from '../../gateway/clock.js';
import { Effects } from '../../tickets/events.js';
import { loadTicket, moveStatus } from '../../tickets/lifecycle.js';
import { SYSTEM } from '../../tickets/model.js';
import { backends, newPhone, newWamid, rand, startGateway, ticketsOf, waitFor, waTextBody, type TestGateway } from '../helpers/gateway-harness.js';
import { openStream } from '../helpers/sse-client.js';

const iso = (t: number) => new Date(t).toISOString();

for (const backend of backends()) {
  describe(`SLA (${backend === 'sqlite' ? 'SQLite + in-process' : 'MySQL + Redis'})`, function () {
    this.timeout(30_000);
    let t: TestGateway;
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 9, 0, 0));
    const tag = rand(4);
    let agentId: string;

    before(async () => {
      t = await startGateway({ backend, bot: null, clock });
      const put = await t.api('PUT', '/api/settings', {
        botChannels: [],
        slaWarningPercent: 50,
        sla: {
          low: { firstResponse: '1h', resolution: '40m' },
          medium: { firstResponse: '4s', resolution: '1h' },
          high: { firstResponse: '1h', resolution: '10s' },
          urgent: { firstResponse: '1h', resolution: '20m' },
        },
      });
      expect(put.status, JSON.stringify(put.body)).to.equal(200);
      // An agent who stays offline: tickets can be assigned to them without routing taking others.
      const agent = await t.api('POST', '/api/agents', { name: `Sam ${tag}`, email: `sam-${tag}@example.com` });
      expect(agent.status, JSON.stringify(agent.body)).to.equal(201);
      agentId = agent.body.id;
      await t.gw.tick();
    });
    after(async () => {
      await t?.stop();
    });

    const scan = () => t.gw.jobs.find((j) => j.name === 'sla')!;
    const ids = async (query: string) => {
      const res = await t.api('GET', `/api/tickets?limit=200&${query}`);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      return (res.body.items as any[]).map((x) => x.id);
    };
    const detail = async (id: string) => (await t.api('GET', `/api/tickets/${id}`)).body;
    const slaEntries = async (id: string) => (await detail(id)).timeline.filter((e: any) => e.type === 'sla');
    const task = async (subject: string, extra: Record<string, unknown> = {}) => {
      const res = await t.api('POST', '/api/tickets', { subject, ...extra });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      return res.body;
    };
    const move = (id: string, to: any, actor: any, as: any) =>
      t.gw.db.sql.tx(async (tx) => moveStatus(t.gw.ctx, tx, new Effects(), await loadTicket(tx, id), to, actor, { as }));

    it('goes green, yellow at 50 % of a 4 s first response, red at 4 s; sla=red lists it; the breach is recorded once', async () => {
      const stream = await openStream(t.url, { token: t.adminToken });
      await stream.ready();
      try {
        const phone = newPhone();
        await t.webhook(waTextBody({ from: phone, id: newWamid(), text: 'where is my order?', name: `Quinn ${tag}` }));
        const [stored] = await waitFor(async () => {
          const ts = await ticketsOf(t, phone);
          return ts.length ? ts : null;
        }, 5000, 'the ticket');
        const tk = await detail(stored.id);
        expect(tk).to.include({ type: 'agent', status: 'pending', priority: 'medium' });
        const created = Date.parse(tk.createdAt);
        expect(tk.sla).to.deep.equal({ state: 'green', firstResponseDueAt: iso(created + 4000), resolutionDueAt: iso(created + 3_600_000), breachedAt: null });
        // Listed by its stored SLA columns from creation on, before any scan.
        expect(await ids(`q=${tk.id}&sla=green`)).to.deep.equal([tk.id]);
        expect(await ids(`q=${tk.id}&sla=yellow,red`)).to.deep.equal([]);

        clock.advance(1999);
        expect((await detail(tk.id)).sla.state).to.equal('green');
        clock.advance(1);
        expect((await detail(tk.id)).sla.state).to.equal('yellow');
        expect(await ids(`q=${tk.id}&sla=yellow`)).to.deep.equal([tk.id]);
        expect(await ids(`q=${tk.id}&sla=green,red`)).to.deep.equal([]);

        clock.advance(2000);
        const red = await detail(tk.id);
        expect(red.sla).to.deep.include({ state: 'red', breachedAt: iso(created + 4000) });
        // Listed as red from the stored due moment, before any scan ran.
        expect(await ids(`q=${tk.id}&sla=red`)).to.deep.equal([tk.id]);
        expect(await ids(`q=${tk.id}&sla=green,yellow,met,none`)).to.deep.equal([]);
        expect(await ids(`sla=red`)).to.include(tk.id);

        for (let i = 0; i < 3; i++) {
          await t.gw.tick();
          clock.advance(1000);
        }
        const entries = await slaEntries(tk.id);
        expect(entries).to.have.length(1);
        expect(entries[0]).to.deep.include({ type: 'sla', event: 'first_response_breached', at: iso(created + 4000) });
        expect(entries[0].actor.kind).to.equal('system');
        const [row] = await t.query('SELECT slaFirstResponseBreachedAt, slaBreachedAt, slaResolutionBreachedAt FROM tickets WHERE id = ?', [tk.id]);
        expect(Number(row.slaFirstResponseBreachedAt)).to.equal(created + 4000);
        expect(Number(row.slaBreachedAt)).to.equal(created + 4000);
        expect(row.slaResolutionBreachedAt).to.equal(null);

        await stream.waitFor((e) => e.event === 'sla.breached' && e.json?.ticketId === tk.id, 'the breach on the event stream');
        // A later event on the same ticket: everything before it has been delivered.
        await t.api('PATCH', `/api/tickets/${tk.id}`, { tags: ['checked'] });
        await stream.waitFor((e) => e.event === 'ticket.updated' && e.json?.ticketId === tk.id, 'the later update');
        const breaches = stream.of('sla.breached').filter((e) => e.json?.ticketId === tk.id);
        expect(breaches).to.have.length(1);
        expect(breaches[0].json.data).to.deep.include({ event: 'first_response_breached', target: 'first_response' });
        // Still red after the agent answers late.
        expect((await detail(tk.id)).sla.state).to.equal('red');
      } finally {
        stream.close();
      }
    });

    it('stops the first-response clock when an agent answers, in the list too without waiting for a scan', async () => {
      const phone = newPhone();
      await t.webhook(waTextBody({ from: phone, id: newWamid(), text: 'hello?' }));
      const [stored] = await waitFor(async () => {
        const ts = await ticketsOf(t, phone);
        return ts.length ? ts : null;
      }, 5000, 'the ticket');
      await t.gw.tick();
      clock.advance(1000);
      const reply = await t.api('POST', `/api/tickets/${stored.id}/messages`, { text: 'Hi, looking into it' });
      expect(reply.status, JSON.stringify(reply.body)).to.equal(201);
      clock.advance(2000); // the 4 s first response would be yellow now, and red in 1 s
      const tk = await detail(stored.id);
      expect(tk.firstResponseAt).to.equal(iso(Date.parse(tk.createdAt) + 1000));
      expect(tk.sla.state).to.equal('green');
      expect(await ids(`q=${stored.id}&sla=green`)).to.deep.equal([stored.id]);
      clock.advance(5000);
      expect(await ids(`q=${stored.id}&sla=green`)).to.deep.equal([stored.id]);
      await t.gw.tick();
      expect(await slaEntries(stored.id)).to.deep.equal([]);
    });

    it('records a breach once when two scans run at the same time', async () => {
      const tk = await task(`Race ${tag}`, { priority: 'high', assigneeId: agentId });
      await t.gw.tick();
      clock.advance(11_000);
      await Promise.all([scan().run(clock.now()), scan().run(clock.now()), t.gw.tick()]);
      await scan().run(clock.now());
      const entries = await slaEntries(tk.id);
      expect(entries.map((e: any) => e.event)).to.deep.equal(['resolution_breached']);
    });

    it('pauses the resolution clock while the ticket is idle', async () => {
      // high: resolution 10 s, warning at 5 s. An internal task has no first-response clock.
      const t0 = clock.now();
      const tk = await task(`Pause ${tag}`, { priority: 'high', assigneeId: agentId });
      expect(tk.status).to.equal('active');
      expect(tk.sla).to.deep.include({ state: 'green', firstResponseDueAt: null, resolutionDueAt: iso(t0 + 10_000) });
      await t.gw.tick();

      clock.advance(3000);
      await move(tk.id, 'idle', SYSTEM, 'automation');
      clock.advance(60_000);
      const idle = await detail(tk.id);
      expect(idle.status).to.equal('idle');
      // 3 s used, 7 s left whenever it resumes.
      expect(idle.sla).to.deep.include({ state: 'green', resolutionDueAt: iso(clock.now() + 7000), breachedAt: null });
      await t.gw.tick();
      expect(await slaEntries(tk.id)).to.deep.equal([]);
      expect(await ids(`q=${tk.id}&sla=green`)).to.deep.equal([tk.id]);
      const [paused] = await t.query('SELECT slaPausedAt, slaPausedMs, slaDueAt FROM tickets WHERE id = ?', [tk.id]);
      expect(Number(paused.slaPausedAt)).to.equal(t0 + 3000);
      expect(paused.slaDueAt).to.equal(null);

      await move(tk.id, 'active', { kind: 'customer' }, 'customer');
      const resumed = clock.now();
      expect((await detail(tk.id)).sla).to.deep.include({ state: 'green', resolutionDueAt: iso(resumed + 7000) });
      clock.advance(2000); // 5 s of 10 used: yellow
      expect((await detail(tk.id)).sla.state).to.equal('yellow');
      expect(await ids(`q=${tk.id}&sla=yellow`)).to.deep.equal([tk.id]);
      clock.advance(5000);
      expect((await detail(tk.id)).sla).to.deep.include({ state: 'red', breachedAt: iso(resumed + 7000) });
      await t.gw.tick();
      const entries = await slaEntries(tk.id);
      expect(entries).to.have.length(1);
      expect(entries[0]).to.deep.include({ event: 'resolution_breached', at: iso(resumed + 7000) });
      const [row] = await t.query('SELECT slaPausedAt, slaPausedMs FROM tickets WHERE id = ?', [tk.id]);
      expect(row.slaPausedAt).to.equal(null);
      expect(Number(row.slaPausedMs)).to.equal(60_000);
    });

    it('shows met for a ticket resolved within its target and keeps the clock stopped after', async () => {
      const tk = await task(`Met ${tag}`, { priority: 'low', assigneeId: agentId });
      clock.advance(60_000);
      const res = await t.api('PATCH', `/api/tickets/${tk.id}`, { status: 'resolved' });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body.sla.state).to.equal('met');
      clock.advance(3_600_000);
      await t.gw.tick();
      expect((await detail(tk.id)).sla.state).to.equal('met');
      expect(await ids(`q=${tk.id}&sla=met`)).to.deep.equal([tk.id]);
      expect(await slaEntries(tk.id)).to.deep.equal([]);
    });

    it('sort=sla orders open tickets by time left (no running clock last), both ways, across pages', async () => {
      const s = `Order ${rand(3)}`;
      // Internal tasks created at one instant: due in 1 h (medium), 40 m (low), 20 m (urgent), 10 s (high).
      const medium = await task(`${s} m`, { priority: 'medium', assigneeId: agentId });
      const low = await task(`${s} l`, { priority: 'low', assigneeId: agentId });
      const urgent = await task(`${s} u`, { priority: 'urgent', assigneeId: agentId });
      const high = await task(`${s} h`, { priority: 'high', assigneeId: agentId });
      const done = await task(`${s} d`, { priority: 'urgent', assigneeId: agentId });
      await t.api('PATCH', `/api/tickets/${done.id}`, { status: 'resolved' });
      await t.gw.tick();
      const q = `q=${encodeURIComponent(s)}`;
      expect(await ids(`${q}&sort=sla`)).to.deep.equal([high.id, urgent.id, low.id, medium.id, done.id]);
      expect(await ids(`${q}&sort=-sla`)).to.deep.equal([medium.id, low.id, urgent.id, high.id, done.id]);
      const paged: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await t.api('GET', `/api/tickets?${q}&sort=sla&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.status).to.equal(200);
        paged.push(...res.body.items.map((x: any) => x.id));
        cursor = res.body.nextCursor;
      } while (cursor);
      expect(paged).to.deep.equal([high.id, urgent.id, low.id, medium.id, done.id]);
      // Once the 10 s one breaches it stays first (most overdue), and sla=red,yellow narrows the list.
      clock.advance(11_000);
      expect(await ids(`${q}&sort=sla&sla=red,yellow`)).to.deep.equal([high.id]);
    });

    it('recomputes stored SLA columns of open tickets in the background after the targets change', async () => {
      const tk = await task(`Retarget ${tag}`, { priority: 'urgent', assigneeId: agentId }); // resolution 20 m
      await t.gw.tick();
      clock.advance(11 * 60_000); // past 50 %: yellow
      expect(await ids(`q=${tk.id}&sla=yellow`)).to.deep.equal([tk.id]);
      const put = await t.api('PUT', '/api/settings', { sla: { low: { firstResponse: '1h', resolution: '40m' }, medium: { firstResponse: '4s', resolution: '1h' }, high: { firstResponse: '1h', resolution: '10s' }, urgent: { firstResponse: '1h', resolution: '2h' } } });
      expect(put.status).to.equal(200);
      expect((await detail(tk.id)).sla.state).to.equal('green');
      await t.gw.tick();
      expect(await ids(`q=${tk.id}&sla=green`)).to.deep.equal([tk.id]);
      const [row] = await t.query('SELECT slaResolutionDueAt FROM tickets WHERE id = ?', [tk.id]);
      expect(Number(row.slaResolutionDueAt)).to.equal(Date.parse(tk.createdAt) + 2 * 3_600_000);
    });

    it('the refresh still finds a changed ticket after runs in which only bot tickets changed', async () => {
      const tk = await task(`Refresh ${tag}`, { priority: 'urgent', assigneeId: agentId }); // resolution 20 m
      await t.gw.tick();
      // Bot tickets never handed off (no SLA) change for a while; the scan skips them and moves on.
      for (let i = 0; i < 3; i++) {
        clock.advance(120_000);
        const now = clock.now();
        await t.gw.db.sql.execute(
          "UPDATE tickets SET type = 'bot', handoffAt = NULL, updatedAt = ? WHERE id IN (SELECT id FROM (SELECT id FROM tickets WHERE id <> ? ORDER BY createdAt LIMIT 3) x)",
          [now, tk.id],
        );
        await scan().run(now);
      }
      // A path without SLA code of its own changes the ticket's priority (high: resolution 10 s).
      await t.gw.db.sql.execute('UPDATE tickets SET priority = ?, updatedAt = ? WHERE id = ?', ['high', clock.now(), tk.id]);
      await scan().run(clock.now());
      const [row] = await t.query('SELECT slaResolutionDueAt FROM tickets WHERE id = ?', [tk.id]);
      expect(Number(row.slaResolutionDueAt)).to.equal(Date.parse(tk.createdAt) + 10_000);
    });

    it('refuses a bad sla filter value with 400', async () => {
      const res = await t.api('GET', '/api/tickets?sla=orange');
      expect(res.status).to.equal(400);
      expect(res.body.error.message).to.contain('green');
    });
  });
}
