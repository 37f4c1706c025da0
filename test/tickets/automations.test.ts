// Time-based automations, presence expiry, CSAT, triggers and out-of-office through the
// real HTTP API, real webhooks and the real flow bot, with an injected ManualClock:
// time moves by clock.advance() and gw.tick() runs the scheduler once (no sleeping).
// SQLite + in-process always; MySQL + Redis when configured.

import { expect } from 'chai';
import { ManualClock } from '../../gateway/clock.js';
import { Automations } from '../../tickets/automations.js';
import { newTicketId } from '../../gateway/ids.js';
import { backends, newPhone, newWamid, startGateway, ticketsOf, waTextBody, waitFor, type TestGateway } from '../helpers/gateway-harness.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

for (const backend of backends()) {
  describe(`automations, presence, CSAT, triggers (${backend === 'sqlite' ? 'SQLite + in-process' : 'MySQL + Redis'})`, function () {
    this.timeout(30_000);
    const clock = new ManualClock(Date.UTC(2026, 0, 5, 9, 0, 0));
    let t: TestGateway;

    before(async () => {
      t = await startGateway({ backend, clock });
    });
    after(async () => {
      await t?.stop();
    });
    afterEach(async () => {
      // Each test starts with nobody online, default settings and no triggers.
      await t.gw.db.sql.execute("UPDATE users SET presence = 'offline'");
      await t.gw.db.sql.execute("DELETE FROM settings WHERE name NOT LIKE 'collection:%'");
      t.gw.ctx.settings.invalidate();
      await t.api('PUT', '/api/triggers', []);
    });

    async function settings(patch: Record<string, unknown>) {
      const res = await t.api('PUT', '/api/settings', patch);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
    }

    async function agent(name: string, presence: 'online' | 'away' | 'offline' = 'online') {
      const res = await t.api('POST', '/api/agents', { name, email: `${name.toLowerCase()}.${newWamid()}@example.com`, capacity: 100 });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      const token = res.body.token as string;
      if (presence !== 'offline') expect((await t.api('PUT', '/api/agents/me/presence', { presence }, token)).status).to.equal(200);
      return { id: res.body.id as string, token };
    }

    /** A customer message at the clock's time, processed (and the bot's turn done). */
    async function say(phone: string, text: string) {
      const id = newWamid();
      const res = await t.webhook(waTextBody({ from: phone, id, text, timestamp: Math.floor(clock.now() / 1000) }));
      expect(res.status).to.equal(200);
      await waitFor(async () => (await t.query('SELECT status FROM inbound WHERE externalId = ?', [id]))[0]?.status === 'done', 10_000, `"${text}" processed`);
      await t.gw.dispatcher.drain();
    }

    const ticket = async (id: string) => {
      const res = await t.api('GET', `/api/tickets/${id}`);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      return res.body;
    };
    const statusEntries = (d: any) => d.timeline.filter((e: any) => e.type === 'status');
    const lastStatus = (d: any) => statusEntries(d).at(-1);

    /** A WhatsApp conversation handed to agents ("talk to an agent"). */
    async function handedOff(phone = newPhone()) {
      await say(phone, 'hi');
      await say(phone, 'talk to an agent');
      const [tk] = await ticketsOf(t, phone);
      expect(tk.type).to.equal('agent');
      return { id: tk.id as string, phone };
    }

    const sentTexts = (phone: string) => t.graph.to(phone).map((s) => JSON.stringify(s.body));

    it('handoff with one agent online assigns it (active); the agent going away requeues it (pending); back online assigns it again', async () => {
      const a = await agent('Ada');
      const { id } = await handedOff();
      let d = await ticket(id);
      expect(d).to.deep.include({ type: 'agent', status: 'active' });
      expect(d.assignee.id).to.equal(a.id);

      expect((await t.api('PUT', '/api/agents/me/presence', { presence: 'away' }, a.token)).status).to.equal(200);
      d = await ticket(id);
      expect(d.status).to.equal('pending');
      expect(d.assignee).to.equal(null);
      expect(lastStatus(d)).to.include({ from: 'active', to: 'pending', cause: 'requeued' });

      expect((await t.api('PUT', '/api/agents/me/presence', { presence: 'online' }, a.token)).status).to.equal(200);
      d = await waitFor(async () => {
        const x = await ticket(id);
        return x.status === 'active' ? x : null;
      }, 5000, 'the ticket assigned again');
      expect(d.assignee.id).to.equal(a.id);
      expect(lastStatus(d)).to.include({ from: 'pending', to: 'active', cause: 'assigned' });
    });

    it('out-of-office: only after a handoff when nobody is online, never before', async () => {
      await settings({ outOfOfficeMessage: 'We are closed right now (OOO test).' });
      const phone = newPhone();
      await say(phone, 'hi');
      expect(sentTexts(phone).join()).not.to.contain('OOO test');
      await say(phone, 'talk to an agent');
      const texts = await waitFor(() => (sentTexts(phone).some((s) => s.includes('OOO test')) ? sentTexts(phone) : null), 5000, 'the out-of-office message');
      const connecting = texts.findIndex((s) => s.includes('connecting you'));
      const ooo = texts.findIndex((s) => s.includes('OOO test'));
      expect(connecting).to.be.greaterThan(-1);
      expect(ooo).to.be.greaterThan(connecting);
      expect(texts.filter((s) => s.includes('OOO test'))).to.have.length(1);
      // With an agent online, a handoff sends no out-of-office message.
      await agent('Otto');
      const other = newPhone();
      await say(other, 'hi');
      await say(other, 'talk to an agent');
      await t.gw.dispatcher.drain();
      expect(sentTexts(other).join()).not.to.contain('OOO test');
    });

    it('active -> idle after idleAfter without a customer reply to the agent\'s last message; the customer\'s reply -> active; idle -> closed after idleCloseAfter', async () => {
      await settings({ idleAfter: '2h', idleCloseAfter: '1d', presenceTimeout: '1d' });
      const a = await agent('Iris');
      const { id, phone } = await handedOff();
      clock.advance(MIN);
      expect((await t.api('POST', `/api/tickets/${id}/messages`, { text: 'Can you send me the order number?' }, a.token)).status).to.equal(201);
      clock.advance(2 * HOUR - MIN);
      await t.gw.tick();
      expect((await ticket(id)).status).to.equal('active');
      clock.advance(2 * MIN);
      await t.gw.tick();
      let d = await ticket(id);
      expect(d.status).to.equal('idle');
      expect(lastStatus(d)).to.deep.include({ from: 'active', to: 'idle', cause: 'idle_timeout' });
      expect(lastStatus(d).actor).to.deep.include({ kind: 'system', name: 'automation' });
      await t.gw.tick(); // idempotent: nothing more happens
      expect(statusEntries(await ticket(id)).filter((e: any) => e.cause === 'idle_timeout')).to.have.length(1);

      clock.advance(MIN);
      await say(phone, 'It is 12345');
      d = await ticket(id);
      expect(d.status).to.equal('active');
      expect(lastStatus(d)).to.include({ from: 'idle', to: 'active', cause: 'customer_reply' });
      // The customer answered last: no idle however long the agent waits.
      clock.advance(3 * HOUR);
      await t.gw.tick();
      expect((await ticket(id)).status).to.equal('active');

      // The agent writes again, the customer goes quiet: idle, then closed after idleCloseAfter.
      clock.advance(MIN);
      expect((await t.api('POST', `/api/tickets/${id}/messages`, { text: 'Found it. Anything else?' }, a.token)).status).to.equal(201);
      clock.advance(2 * HOUR + MIN);
      await t.gw.tick();
      expect((await ticket(id)).status).to.equal('idle');
      clock.advance(DAY + MIN);
      await t.gw.tick();
      d = await ticket(id);
      expect(d.status).to.equal('closed');
      expect(lastStatus(d)).to.include({ from: 'idle', to: 'closed', cause: 'idle_close' });
      // Closing handed the conversation back: the next message opens a new bot ticket.
      await say(phone, 'hello again');
      const tickets = await ticketsOf(t, phone);
      expect(tickets).to.have.length(2);
      expect(tickets.find((x) => x.id !== id)).to.include({ type: 'bot', status: 'active' });
    });

    it('resolve asks the rating through the feedback flow; the rating lands on the ticket; a later reply reopens it', async () => {
      const a = await agent('Rae');
      const { id, phone } = await handedOff();
      const before = t.graph.to(phone).length;
      const res = await t.api('PATCH', `/api/tickets/${id}`, { status: 'resolved' }, a.token);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      await waitFor(() => sentTexts(phone).slice(before).some((s) => s.includes('How would you rate')), 5000, 'the rating question');
      let d = await ticket(id);
      expect(d.status).to.equal('resolved');
      expect(d.csat).to.include({ score: null });
      expect(d.csat.requestedAt).to.be.a('string');
      expect(d.timeline.filter((e: any) => e.type === 'csat' && e.event === 'requested')).to.have.length(1);

      await say(phone, '5');
      expect((await ticket(id)).status, 'a rating is an answer, not a reopen').to.equal('resolved');
      await say(phone, 'Great service');
      d = await ticket(id);
      expect(d.status).to.equal('resolved');
      expect(d.csat).to.include({ score: 5, comment: 'Great service' });

      await say(phone, 'Actually, one more question');
      d = await ticket(id);
      expect(d.status).to.equal('active');
      expect(d.assignee.id).to.equal(a.id);
      expect(lastStatus(d)).to.include({ from: 'resolved', to: 'active', cause: 'reopened_by_customer' });
      // Resolved again: the rating is not asked a second time for this ticket (the request is written with the resolve).
      const again = await t.api('PATCH', `/api/tickets/${id}`, { status: 'resolved' }, a.token);
      expect(again.status).to.equal(200);
      expect(again.body.timeline.filter((e: any) => e.type === 'csat' && e.event === 'requested')).to.have.length(1);
    });

    it('a reply to a resolved ticket that is not an answer to the rating question reopens it at once (no re-ask)', async () => {
      const a = await agent('Rex');
      const { id, phone } = await handedOff();
      expect((await t.api('PATCH', `/api/tickets/${id}`, { status: 'resolved' }, a.token)).status).to.equal(200);
      await waitFor(() => sentTexts(phone).some((s) => s.includes('How would you rate')), 5000, 'the rating question');
      const sends = t.graph.to(phone).length;
      await say(phone, 'my parcel still has not arrived');
      const d = await ticket(id);
      expect(d.status).to.equal('active');
      expect(lastStatus(d)).to.include({ from: 'resolved', to: 'active', cause: 'reopened_by_customer' });
      expect(sentTexts(phone).slice(sends).join()).not.to.contain('number from 1 to 5');
    });

    it('outside the channel\'s window the rating is not asked: skipped and recorded', async () => {
      await settings({ presenceTimeout: '1d' });
      const a = await agent('Sky');
      const { id, phone } = await handedOff();
      clock.advance(25 * HOUR); // the customer's last message is now older than WhatsApp's 24 h
      await t.api('PUT', '/api/agents/me/presence', { presence: 'online' }, a.token);
      const res = await t.api('PATCH', `/api/tickets/${id}`, { status: 'resolved' }, a.token);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      await t.gw.dispatcher.drain();
      const d = await ticket(id);
      expect(d.csat).to.deep.include({ score: null, requestedAt: null, skipped: 'template_required' });
      expect(d.timeline.find((e: any) => e.type === 'csat')).to.include({ event: 'skipped', reason: 'template_required' });
      expect(sentTexts(phone).join()).not.to.contain('How would you rate');
      // Without a rating episode, the customer's reply reopens at once.
      await say(phone, 'hello?');
      expect((await ticket(id)).status).to.equal('active');
    });

    it('resolved -> closed after autoCloseAfter (default 4 days), not before', async () => {
      await settings({ presenceTimeout: '1d' });
      const a = await agent('Cal');
      const { id } = await handedOff();
      expect((await t.api('PATCH', `/api/tickets/${id}`, { status: 'resolved' }, a.token)).status).to.equal(200);
      expect((await t.api('GET', '/api/settings')).body.autoCloseAfter).to.equal('4d');
      clock.advance(4 * DAY - MIN);
      await t.gw.tick();
      expect((await ticket(id)).status).to.equal('resolved');
      clock.advance(2 * MIN);
      await t.gw.tick();
      const d = await ticket(id);
      expect(d.status).to.equal('closed');
      expect(d.closedAt).to.equal(new Date(clock.now()).toISOString());
      expect(lastStatus(d)).to.include({ from: 'resolved', to: 'closed', cause: 'auto_close' });
      const bad = await t.api('PUT', '/api/settings', { autoCloseAfter: '29d' });
      expect(bad.status).to.equal(400);
    });

    it('on_hold -> pending after onHoldReturnAfter (back in the queue, offered to online agents)', async () => {
      await settings({ onHoldReturnAfter: '3h', presenceTimeout: '1d' });
      const a = await agent('Hal');
      const { id } = await handedOff();
      const park = await t.api('PATCH', `/api/tickets/${id}`, { status: 'on_hold' }, a.token);
      expect(park.status, JSON.stringify(park.body)).to.equal(200);
      expect(park.body.assignee).to.equal(null);
      await t.api('PUT', '/api/agents/me/presence', { presence: 'away' }, a.token);
      clock.advance(3 * HOUR + MIN);
      await t.gw.tick();
      let d = await ticket(id);
      expect(d.status).to.equal('pending');
      expect(lastStatus(d)).to.include({ from: 'on_hold', to: 'pending', cause: 'on_hold_return' });
      // Back in the queue: an agent coming online gets it.
      await t.api('PUT', '/api/agents/me/presence', { presence: 'online' }, a.token);
      d = await waitFor(async () => ((await ticket(id)).status === 'active' ? ticket(id) : null), 5000, 'the returned ticket assigned');
      expect(d.assignee.id).to.equal(a.id);
    });

    it('presence expires when the agent is not seen for presenceTimeout: offline, active tickets requeued and offered to others', async () => {
      for (const bad of ['10s', '2d', 'soon']) expect((await t.api('PUT', '/api/settings', { presenceTimeout: bad })).status, bad).to.equal(400);
      expect((await t.api('GET', '/api/settings')).body.presenceTimeout).to.equal('2m');
      await settings({ presenceTimeout: '2m' });
      const gone = await agent('Gus');
      const { id } = await handedOff();
      expect((await ticket(id)).assignee.id).to.equal(gone.id);
      // API calls keep an agent present.
      clock.advance(90_000);
      expect((await t.api('GET', '/api/tickets?limit=1', undefined, gone.token)).status).to.equal(200);
      clock.advance(90_000);
      await t.gw.tick();
      expect((await t.query('SELECT presence FROM users WHERE id = ?', [gone.id]))[0].presence).to.equal('online');
      expect((await ticket(id)).status).to.equal('active');
      // Silence for longer than the timeout: offline, requeued; another online agent gets the ticket.
      clock.advance(2 * MIN + 1000);
      const other = await agent('Olga');
      await t.gw.tick();
      expect((await t.query('SELECT presence FROM users WHERE id = ?', [gone.id]))[0].presence).to.equal('offline');
      expect((await t.query('SELECT presence FROM users WHERE id = ?', [other.id]))[0].presence).to.equal('online');
      const d = await waitFor(async () => {
        const x = await ticket(id);
        return x.assignee?.id === other.id ? x : null;
      }, 5000, 'the ticket offered to the other agent');
      const requeue = statusEntries(d).find((e: any) => e.cause === 'requeued');
      expect(requeue).to.include({ from: 'active', to: 'pending', reason: 'presence_expired' });
      expect(lastStatus(d)).to.include({ from: 'pending', to: 'active' });
    });

    it('an open event stream keeps the agent present', async () => {
      await settings({ presenceTimeout: '2m' });
      const a = await agent('Eve');
      const ac = new AbortController();
      const res = await fetch(`${t.url}/api/events`, { headers: { authorization: `Bearer ${a.token}` }, signal: ac.signal });
      expect(res.status).to.equal(200);
      try {
        clock.advance(10 * MIN);
        await t.gw.tick();
        expect((await t.query('SELECT presence FROM users WHERE id = ?', [a.id]))[0].presence).to.equal('online');
      } finally {
        ac.abort();
      }
      await waitFor(async () => {
        clock.advance(3 * MIN);
        await t.gw.tick();
        return (await t.query('SELECT presence FROM users WHERE id = ?', [a.id]))[0].presence === 'offline';
      }, 5000, 'the agent offline once the stream closed');
    });

    it('the Zendesk recipe: tag "close" on a resolved ticket closes it at once (trigger), and triggers cannot loop', async () => {
      const a = await agent('Tia');
      const { id } = await handedOff();
      const put = await t.api('PUT', '/api/triggers', [
        { name: 'close tag', on: 'ticket.updated', if: [{ field: 'tags', op: 'includes', value: 'close' }, { field: 'status', op: 'is', value: 'resolved' }], then: [{ set: 'status', value: 'closed' }] },
        // Would loop forever if the triggers' own changes fired triggers again.
        { name: 'add x', on: 'ticket.updated', if: [{ field: 'tags', op: 'not', value: 'x' }], then: [{ addTag: 'x' }] },
        { name: 'remove x', on: 'ticket.updated', if: [{ field: 'tags', op: 'includes', value: 'x' }], then: [{ removeTag: 'x' }] },
      ]);
      expect(put.status, JSON.stringify(put.body)).to.equal(200);
      const resolved = await t.api('PATCH', `/api/tickets/${id}`, { status: 'resolved' }, a.token);
      expect(resolved.status).to.equal(200);
      // One change: each matching trigger once, in order, on the ticket as the earlier ones left it.
      expect(resolved.body.timeline.filter((e: any) => e.type === 'trigger').map((e: any) => e.name)).to.deep.equal(['add x', 'remove x']);
      expect(resolved.body.tags).to.deep.equal([]);
      expect(resolved.body.status).to.equal('resolved');
      const res = await t.api('PATCH', `/api/tickets/${id}`, { tags: ['close'] }, a.token);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body.status).to.equal('closed');
      const closing = lastStatus(res.body);
      expect(closing).to.include({ from: 'resolved', to: 'closed', cause: 'trigger', trigger: 'close tag' });
      expect(closing.actor).to.deep.include({ kind: 'system', name: 'trigger: close tag' });
      const fired = res.body.timeline.filter((e: any) => e.type === 'trigger').map((e: any) => e.name);
      expect(fired).to.deep.equal(['add x', 'remove x', 'close tag', 'add x', 'remove x']);
      // Nothing keeps firing afterwards.
      await t.gw.tick();
      expect((await ticket(id)).timeline.filter((e: any) => e.type === 'trigger').length).to.equal(5);
    });

    it('several schedulers acting at once change each due ticket exactly once', async () => {
      // 24 resolved tickets whose resolve is 5 days old (made directly in the database).
      const now = clock.now();
      const ids: string[] = [];
      for (let i = 0; i < 24; i++) {
        const id = newTicketId();
        ids.push(id);
        await t.gw.db.sql.execute(
          `INSERT INTO tickets (id, channel, subject, type, status, priority, tags, createdBy, createdAt, updatedAt, resolvedAt, statusChangedAt, version)
           VALUES (?, 'internal', ?, 'agent', 'resolved', 'medium', '[]', 'agent', ?, ?, ?, ?, 0)`,
          [id, `bulk ${i}`, now - 6 * DAY, now - 5 * DAY, now - 5 * DAY, now - 5 * DAY],
        );
      }
      const runners = [0, 1, 2].map(() => new Automations(t.gw.ctx, () => undefined));
      const results = await Promise.all(runners.map((r) => r.run(now)));
      const placeholders = ids.map(() => '?').join(', ');
      const rows = await t.query(`SELECT status FROM tickets WHERE id IN (${placeholders})`, ids);
      expect(rows.every((r) => r.status === 'closed')).to.equal(true);
      const entries = await t.query(`SELECT ticketId, data FROM timeline WHERE type = 'status' AND ticketId IN (${placeholders})`, ids);
      expect(entries).to.have.length(24);
      expect(new Set(entries.map((e) => e.ticketId)).size).to.equal(24);
      expect(entries.every((e) => JSON.parse(e.data).cause === 'auto_close')).to.equal(true);
      expect(results.reduce((s, r) => s + r.changed.auto_close, 0)).to.equal(24);
    });
  });
}
