// SPEC §3.2 through the product's own doors (REST API, webhooks, the flow bot, the
// scheduler with an injected clock): every row of the transition table is walked,
// each checked for its status, its timeline entry (from, to, cause, actor) and its
// event on /api/events; then every move the table does not allow is requested with
// PATCH, by an agent and by an admin, and refused with 409 naming the allowed moves.
// SQLite + in-process always; MySQL + Redis when configured.

import { expect } from 'chai';
import { ManualClock } from '../../gateway/clock.js';
import { STATUSES, type TicketStatus } from '../../tickets/model.js';
import { allowedMoves, findTransition, type Mover } from '../../tickets/statuses.js';
import { backends, newPhone, newWamid, startGateway, ticketsOf, waTextBody, waitFor, type TestGateway } from '../helpers/gateway-harness.js';

const MIN = 60_000;
const HOUR = 60 * MIN;

/** Collects /api/events frames (as the admin) for the whole suite. */
async function eventStream(url: string, token: string) {
  const events: any[] = [];
  const ac = new AbortController();
  const res = await fetch(`${url}/api/events`, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
  expect(res.status).to.equal(200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += decoder.decode(value, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = frame.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          const type = /^event: (.+)$/m.exec(frame)?.[1];
          if (data && type) events.push({ ...JSON.parse(data), type });
        }
      }
    } catch {
      /* aborted */
    }
  })();
  return { events, close: () => ac.abort() };
}

for (const backend of backends()) {
  describe(`status transitions through the API (${backend === 'sqlite' ? 'SQLite + in-process' : 'MySQL + Redis'})`, function () {
    this.timeout(40_000);
    const clock = new ManualClock(Date.UTC(2026, 2, 2, 9, 0, 0));
    let t: TestGateway;
    let stream: Awaited<ReturnType<typeof eventStream>>;
    let ag: { id: string; token: string };
    let adminId: string;

    before(async () => {
      t = await startGateway({ backend, clock });
      stream = await eventStream(t.url, t.adminToken);
      const res = await t.api('PUT', '/api/settings', { idleAfter: '1h', idleCloseAfter: '1h', onHoldReturnAfter: '1h', autoCloseAfter: '1h', presenceTimeout: '1d' });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      const tpl = await t.api('PUT', '/api/templates', [{ name: 'hello_again', language: 'en', category: 'UTILITY', status: 'approved', body: 'Hello {{1}}, we have news about your order.' }]);
      expect(tpl.status, JSON.stringify(tpl.body)).to.equal(200);
      const a = await t.api('POST', '/api/agents', { name: 'Row Walker', email: `walker.${newWamid()}@example.com`, capacity: 500 });
      ag = { id: a.body.id, token: a.body.token };
      adminId = (await t.query("SELECT id FROM users WHERE role = 'admin'"))[0].id;
    });
    after(async () => {
      stream?.close();
      await t?.stop();
    });

    const presence = async (p: 'online' | 'away' | 'offline') => expect((await t.api('PUT', '/api/agents/me/presence', { presence: p }, ag.token)).status).to.equal(200);
    const get = async (id: string) => (await t.api('GET', `/api/tickets/${id}`)).body;
    const patch = async (id: string, body: Record<string, unknown>, token = ag.token) => {
      const res = await t.api('PATCH', `/api/tickets/${id}`, body, token);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      return res.body;
    };
    async function say(phone: string, text: string) {
      const id = newWamid();
      expect((await t.webhook(waTextBody({ from: phone, id, text, timestamp: Math.floor(clock.now() / 1000) }))).status).to.equal(200);
      await waitFor(async () => (await t.query('SELECT status FROM inbound WHERE externalId = ?', [id]))[0]?.status === 'done', 10_000, `"${text}" processed`);
      await t.gw.dispatcher.drain();
      return (await ticketsOf(t, phone)).at(-1).id as string;
    }
    async function email(persona: string, text: string) {
      const res = await fetch(`${t.url}/simulator/api/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ channel: 'email', persona, text, subject: 'Row walk' }) });
      expect(res.status).to.equal(202);
      await waitFor(async () => Number((await t.query("SELECT COUNT(*) AS n FROM inbound WHERE channel = 'email' AND status IN ('received', 'stored')"))[0].n) === 0, 5000, 'the email processed');
      return (await t.query("SELECT t.id FROM tickets t JOIN contact_identities i ON i.contactId = t.contactId WHERE t.channel = 'email' AND i.value = ? ORDER BY t.createdAt DESC", [persona]))[0].id as string;
    }
    const task = async (assigneeId?: string) => {
      const res = await t.api('POST', '/api/tickets', { subject: `task ${newWamid()}`, ...(assigneeId ? { assigneeId } : {}) }, ag.token);
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      return res.body.id as string;
    };
    /** A WhatsApp conversation handed to agents by the customer ("talk to an agent"). */
    const agentTicket = async () => {
      const phone = newPhone();
      await say(phone, 'hi');
      const id = await say(phone, 'talk to an agent');
      return { id, phone };
    };
    const tick = async (advance: number) => {
      clock.advance(advance);
      await t.gw.tick();
    };

    /** The row's promise: status `to`, a status timeline entry with the cause and actor kind, and an event carrying the status. */
    async function expectMove(id: string, from: TicketStatus | null, to: TicketStatus, cause: string | RegExp, actor: string, extra: Record<string, unknown> = {}) {
      const d = await waitFor(async () => {
        const x = await get(id);
        return x.status === to ? x : null;
      }, 5000, `${id} to become ${to}`);
      const entries = d.timeline.filter((e: any) => e.type === 'status' && e.from === from && e.to === to);
      expect(entries.length, `status entry ${from} -> ${to} in ${JSON.stringify(d.timeline.map((e: any) => [e.type, e.from, e.to, e.cause]))}`).to.be.greaterThan(0);
      const e = entries.at(-1);
      if (typeof cause === 'string') expect(e.cause).to.equal(cause);
      else expect(e.cause).to.match(cause);
      expect(e.actor.kind).to.equal(actor);
      expect(e.at).to.be.a('string');
      for (const [k, v] of Object.entries(extra)) expect(d[k], k).to.deep.equal(v);
      await waitFor(
        () => stream.events.some((ev) => ev.ticketId === id && (ev.data?.status === to || (ev.type === 'ticket.created' && ev.data?.status === to))),
        5000,
        `an event for ${id} becoming ${to}`,
      );
      return d;
    }

    describe('every row of SPEC §3.2', () => {
      it('(new) -> active (bot): a customer message on a channel where the bot is enabled', async () => {
        const id = await say(newPhone(), 'hi');
        await expectMove(id, null, 'active', 'customer_message_bot', 'customer', { type: 'bot', assignee: null });
      });

      it('(new) -> pending / active: a customer message on a channel without bot (email): pending with nobody online, active when auto-assignment finds an agent', async () => {
        await presence('offline');
        const queued = await email(`queued.${newWamid()}@example.com`, 'Please help');
        await expectMove(queued, null, 'pending', 'customer_message', 'customer', { type: 'agent', assignee: null });
        await presence('online');
        const assigned = await email(`assigned.${newWamid()}@example.com`, 'Please help');
        const d = await expectMove(assigned, null, 'active', 'customer_message', 'customer', { type: 'agent' });
        expect(d.assignee.id).to.equal(ag.id);
      });

      it('(new) -> proactive: an agent-initiated outbound ticket; the agent is the first assignee', async () => {
        const res = await t.api('POST', '/api/tickets', { channel: 'whatsapp', to: newPhone(), message: { template: { name: 'hello_again', language: 'en', params: ['Ann'] } } }, ag.token);
        expect(res.status, JSON.stringify(res.body)).to.equal(201);
        const d = await expectMove(res.body.id, null, 'proactive', /./, 'agent');
        expect(d.assignee.id).to.equal(ag.id);
      });

      it('(new) -> pending / active: a manual ticket, active when created with an assignee', async () => {
        await expectMove(await task(), null, 'pending', 'manual', 'agent', { assignee: null });
        const d = await expectMove(await task(ag.id), null, 'active', 'manual', 'agent');
        expect(d.assignee.id).to.equal(ag.id);
      });

      it('active (bot) -> pending (agent): handoff with nobody online', async () => {
        await presence('offline');
        const { id } = await agentTicket();
        await expectMove(id, 'active', 'pending', 'handoff', 'bot', { type: 'agent', assignee: null });
        await presence('online');
      });

      it('active (bot) -> active (agent): handoff assigned at once, and takeover by an agent', async () => {
        const { id } = await agentTicket();
        const d = await expectMove(id, 'active', 'active', 'handoff', 'bot', { type: 'agent' });
        expect(d.assignee.id).to.equal(ag.id);
        const other = await say(newPhone(), 'hi');
        const take = await t.api('POST', `/api/tickets/${other}/takeover`, undefined, ag.token);
        expect(take.status, JSON.stringify(take.body)).to.equal(200);
        const d2 = await expectMove(other, 'active', 'active', 'handoff', 'agent', { type: 'agent' });
        expect(d2.assignee.id).to.equal(ag.id);
      });

      it('pending -> active: assigned to an agent (manually, or by taking it)', async () => {
        const a = await task();
        await patch(a, { assigneeId: ag.id });
        expect((await expectMove(a, 'pending', 'active', 'assigned', 'agent')).assignee.id).to.equal(ag.id);
        const b = await task();
        await patch(b, { status: 'active' });
        expect((await expectMove(b, 'pending', 'active', 'assigned', 'agent')).assignee.id).to.equal(ag.id);
      });

      it('active -> on_hold: an agent parks it; the assignee is removed', async () => {
        const id = await task(ag.id);
        await patch(id, { status: 'on_hold' });
        await expectMove(id, 'active', 'on_hold', 'parked', 'agent', { assignee: null });
      });

      it("active -> idle: the customer hasn't replied within idleAfter of the agent's last message", async () => {
        const { id } = await agentTicket();
        clock.advance(MIN);
        expect((await t.api('POST', `/api/tickets/${id}/messages`, { text: 'Which order is it?' }, ag.token)).status).to.equal(201);
        await tick(HOUR + MIN);
        await expectMove(id, 'active', 'idle', 'idle_timeout', 'system');
      });

      it('active -> resolved: an agent resolves it', async () => {
        const id = await task(ag.id);
        await patch(id, { status: 'resolved' });
        const d = await expectMove(id, 'active', 'resolved', 'resolved', 'agent');
        expect(d.resolvedAt).to.be.a('string');
      });

      it('active -> closed: an agent or an admin closes it', async () => {
        const a = await task(ag.id);
        await patch(a, { status: 'closed' });
        expect((await expectMove(a, 'active', 'closed', 'closed', 'agent')).closedAt).to.be.a('string');
        const b = await task(ag.id);
        await patch(b, { status: 'closed' }, t.adminToken);
        await expectMove(b, 'active', 'closed', 'closed', 'agent');
      });

      it('active -> pending: the assignee went away or offline (requeued)', async () => {
        const away = await task(ag.id);
        await presence('away');
        await expectMove(away, 'active', 'pending', 'requeued', 'system', { assignee: null });
        await presence('online');
        await waitFor(async () => (await get(away)).status === 'active', 5000, 'the queue drained');
        const off = await task(ag.id);
        await presence('offline');
        await expectMove(off, 'active', 'pending', 'requeued', 'system', { assignee: null });
        await presence('online');
      });

      it('active (agent) -> active (bot): an agent hands it back to the bot', async () => {
        const { id } = await agentTicket();
        const res = await t.api('POST', `/api/tickets/${id}/handback`, {}, ag.token);
        expect(res.status, JSON.stringify(res.body)).to.equal(200);
        expect(res.body).to.include({ type: 'bot', status: 'active' });
        expect(res.body.assignee).to.equal(null);
        const handler = res.body.timeline.filter((e: any) => e.type === 'handler').at(-1);
        expect(handler).to.include({ from: 'agent', to: 'bot', cause: 'handback' });
        await waitFor(() => stream.events.some((ev) => ev.ticketId === id && ev.data?.cause === 'handback'), 5000, 'the handback event');
      });

      it('on_hold -> active: an admin assigns an online agent (an agent may not)', async () => {
        const id = await task(ag.id);
        await patch(id, { status: 'on_hold' });
        const refused = await t.api('PATCH', `/api/tickets/${id}`, { assigneeId: ag.id }, ag.token);
        expect(refused.status).to.equal(409);
        await patch(id, { assigneeId: ag.id }, t.adminToken);
        expect((await expectMove(id, 'on_hold', 'active', 'assigned', 'agent')).assignee.id).to.equal(ag.id);
      });

      it('on_hold -> pending: onHoldReturnAfter elapsed', async () => {
        const id = await task(ag.id);
        await patch(id, { status: 'on_hold' });
        await presence('offline'); // nobody to take it once it is back in the queue
        await tick(HOUR + MIN);
        await expectMove(id, 'on_hold', 'pending', 'on_hold_return', 'system', { assignee: null });
        await presence('online');
      });

      /** A WhatsApp agent ticket that went idle. */
      async function idleTicket() {
        const { id, phone } = await agentTicket();
        clock.advance(MIN);
        expect((await t.api('POST', `/api/tickets/${id}/messages`, { text: 'Still there?' }, ag.token)).status).to.equal(201);
        await tick(HOUR + MIN);
        expect((await get(id)).status).to.equal('idle');
        return { id, phone };
      }

      it('idle -> on_hold: an agent changes it', async () => {
        const { id } = await idleTicket();
        await patch(id, { status: 'on_hold' });
        await expectMove(id, 'idle', 'on_hold', 'parked', 'agent', { assignee: null });
      });

      it('idle -> active: the customer sent a message', async () => {
        const { id, phone } = await idleTicket();
        await say(phone, 'Yes, sorry');
        await expectMove(id, 'idle', 'active', 'customer_reply', 'customer');
      });

      it('idle -> closed: an agent or admin closes it, or idleCloseAfter elapsed', async () => {
        const a = await idleTicket();
        await patch(a.id, { status: 'closed' });
        await expectMove(a.id, 'idle', 'closed', 'closed', 'agent');
        const b = await idleTicket();
        await tick(HOUR + MIN);
        await expectMove(b.id, 'idle', 'closed', 'idle_close', 'system');
      });

      it('proactive -> active: the customer replied', async () => {
        const phone = newPhone();
        const res = await t.api('POST', '/api/tickets', { channel: 'whatsapp', to: phone, message: { template: { name: 'hello_again', language: 'en', params: ['Bo'] } } }, ag.token);
        expect(res.status, JSON.stringify(res.body)).to.equal(201);
        await say(phone, 'Oh, thanks!');
        const d = await expectMove(res.body.id, 'proactive', 'active', 'customer_reply', 'customer');
        expect(d.assignee.id).to.equal(ag.id);
      });

      it('resolved -> active: the customer replied before the ticket was closed (reopen)', async () => {
        const { id, phone } = await agentTicket();
        await patch(id, { status: 'resolved' });
        await say(phone, 'It broke again');
        await expectMove(id, 'resolved', 'active', 'reopened_by_customer', 'customer');
      });

      it('resolved -> closed: autoCloseAfter elapsed, a trigger fired, or an agent closed it', async () => {
        const a = await task(ag.id);
        await patch(a, { status: 'resolved' });
        await tick(HOUR + MIN);
        await expectMove(a, 'resolved', 'closed', 'auto_close', 'system');

        const put = await t.api('PUT', '/api/triggers', [{ name: 'close tag', on: 'ticket.updated', if: [{ field: 'tags', op: 'includes', value: 'close' }], then: [{ set: 'status', value: 'closed' }] }]);
        expect(put.status, JSON.stringify(put.body)).to.equal(200);
        const b = await task(ag.id);
        await patch(b, { status: 'resolved' });
        await patch(b, { tags: ['close'] });
        await expectMove(b, 'resolved', 'closed', 'trigger', 'system');
        expect((await t.api('PUT', '/api/triggers', [])).status).to.equal(200);

        const c = await task(ag.id);
        await patch(c, { status: 'resolved' });
        await patch(c, { status: 'closed' });
        await expectMove(c, 'resolved', 'closed', 'closed', 'agent');
      });

      it('closed -> pending / active: an admin reopens it, active if the last assignee is online, else pending', async () => {
        const a = await task(ag.id);
        await patch(a, { status: 'closed' });
        const denied = await t.api('POST', `/api/tickets/${a}/reopen`, undefined, ag.token);
        expect(denied.status).to.equal(403);
        expect((await t.api('POST', `/api/tickets/${a}/reopen`)).status).to.equal(200);
        expect((await expectMove(a, 'closed', 'active', 'reopened', 'agent')).assignee.id).to.equal(ag.id);
        const b = await task(ag.id);
        await patch(b, { status: 'closed' });
        await presence('offline');
        expect((await t.api('POST', `/api/tickets/${b}/reopen`)).status).to.equal(200);
        await expectMove(b, 'closed', 'pending', 'reopened', 'agent', { assignee: null });
        await presence('online');
      });
    });

    describe('every move the table does not allow', () => {
      const fixtures = new Map<TicketStatus, string>();

      before(async () => {
        await presence('online');
        // Idle first: the tick that makes it idle would also move the other fixtures on.
        const { id } = await agentTicket();
        clock.advance(MIN);
        await t.api('POST', `/api/tickets/${id}/messages`, { text: 'Still there?' }, ag.token);
        await tick(HOUR + MIN);
        fixtures.set('idle', id);
        fixtures.set('pending', await task());
        fixtures.set('active', await task(ag.id));
        const onHold = await task(ag.id);
        await patch(onHold, { status: 'on_hold' });
        fixtures.set('on_hold', onHold);
        const resolved = await task(ag.id);
        await patch(resolved, { status: 'resolved' });
        fixtures.set('resolved', resolved);
        const closed = await task(ag.id);
        await patch(closed, { status: 'closed' });
        fixtures.set('closed', closed);
        const res = await t.api('POST', '/api/tickets', { channel: 'whatsapp', to: newPhone(), message: { template: { name: 'hello_again', language: 'en', params: ['Cy'] } } }, ag.token);
        fixtures.set('proactive', res.body.id);
        for (const [s, fid] of fixtures) expect((await get(fid)).status, s).to.equal(s);
      });

      const movers: [Mover, () => string][] = [['agent', () => ag.token], ['admin', () => t.adminToken]];
      for (const from of STATUSES) {
        for (const [who, token] of movers) {
          it(`from ${from}, as ${who}: every status the table does not allow is refused with 409 naming the allowed moves, and nothing changes`, async () => {
            const id = fixtures.get(from)!;
            const before = await get(id);
            let refused = 0;
            for (const to of STATUSES) {
              if (to === from || findTransition(from, to, who)) continue;
              const res = await t.api('PATCH', `/api/tickets/${id}`, { status: to }, token());
              expect(res.status, `${from} -> ${to} as ${who}: ${JSON.stringify(res.body)}`).to.equal(409);
              expect(res.body.error.code).to.equal('forbidden_transition');
              const allowed = allowedMoves(from, who);
              expect(res.body.error.allowed).to.have.members(allowed);
              expect(res.body.error.message).to.contain(from).and.to.contain(to);
              for (const m of allowed) expect(res.body.error.message).to.contain(m);
              refused++;
            }
            expect(refused).to.be.greaterThan(0);
            const after = await get(id);
            expect(after.status).to.equal(from);
            expect(after.timeline).to.deep.equal(before.timeline);
          });
        }
      }
    });
  });
}
