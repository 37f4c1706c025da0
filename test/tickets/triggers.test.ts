// Triggers (SPEC §4 /api/triggers): the PUT body is validated (400 invalid_trigger,
// nothing stored), only admins replace the list, conditions evaluate as documented,
// and each event kind fires its triggers with every action kind.

import { expect } from 'chai';
import { ManualClock } from '../../gateway/clock.js';
import type { TicketRow } from '../../tickets/model.js';
import { changesOf, conditionHolds } from '../../tickets/triggers.js';
import { backends, newPhone, newWamid, startGateway, ticketsOf, waTextBody, waitFor, type TestGateway } from '../helpers/gateway-harness.js';

describe('trigger conditions', () => {
  const t = { status: 'resolved', type: 'agent', priority: 'high', category: null, channel: 'whatsapp', tags: '["vip","close"]', teamId: 'T1' } as unknown as TicketRow;
  const cases: [string, any, boolean][] = [
    ['status is resolved', { field: 'status', op: 'is', value: 'resolved' }, true],
    ['status is active', { field: 'status', op: 'is', value: 'active' }, false],
    ['status not active', { field: 'status', op: 'not', value: 'active' }, true],
    ['priority in [high, urgent]', { field: 'priority', op: 'in', value: ['high', 'urgent'] }, true],
    ['channel in [email]', { field: 'channel', op: 'in', value: ['email'] }, false],
    ['category is null', { field: 'category', op: 'is', value: null }, true],
    ['team is T1', { field: 'team', op: 'is', value: 'T1' }, true],
    ['tags includes close', { field: 'tags', op: 'includes', value: 'close' }, true],
    ['tags is vip (membership)', { field: 'tags', op: 'is', value: 'vip' }, true],
    ['tags not close', { field: 'tags', op: 'not', value: 'close' }, false],
    ['tags in [a, vip]', { field: 'tags', op: 'in', value: ['a', 'vip'] }, true],
    ['tags in [a, b]', { field: 'tags', op: 'in', value: ['a', 'b'] }, false],
  ];
  for (const [name, cond, want] of cases) it(name, () => expect(conditionHolds(cond, t)).to.equal(want));

  it('maps a change\'s events to trigger kinds per ticket (outbound messages fire nothing)', () => {
    const m = changesOf([
      { type: 'ticket.created', ticketId: 'A', at: 1 },
      { type: 'message.created', ticketId: 'A', at: 1, data: { direction: 'in' } },
      { type: 'ticket.assigned', ticketId: 'B', at: 1 },
      { type: 'message.created', ticketId: 'C', at: 1, data: { direction: 'out' } },
    ]);
    expect([...m.get('A')!]).to.have.members(['ticket.created', 'message.received']);
    expect([...m.get('B')!]).to.deep.equal(['ticket.updated']);
    expect(m.has('C')).to.equal(false);
  });
});

for (const backend of backends()) {
  describe(`/api/triggers (${backend === 'sqlite' ? 'SQLite + in-process' : 'MySQL + Redis'})`, function () {
    this.timeout(30_000);
    const clock = new ManualClock(Date.UTC(2026, 3, 1, 9, 0, 0));
    let t: TestGateway;
    let agent: { id: string; token: string };

    before(async () => {
      t = await startGateway({ backend, clock });
      const res = await t.api('POST', '/api/agents', { name: 'Trig', email: `trig.${newWamid()}@example.com`, capacity: 50 });
      agent = { id: res.body.id, token: res.body.token };
    });
    after(async () => {
      await t?.stop();
    });

    it('refuses malformed lists with 400 invalid_trigger and stores nothing; agents may read but not write', async () => {
      const good = [{ name: 'vip', on: 'ticket.created', if: [], then: [{ set: 'priority', value: 'high' }] }];
      expect((await t.api('PUT', '/api/triggers', good)).status).to.equal(200);
      const bad: unknown[] = [
        { name: 'x' },
        [{ name: 'x', on: 'ticket.deleted', then: [{ addTag: 'a' }] }],
        [{ name: 'x', on: 'ticket.created', then: [] }],
        [{ name: 'x', on: 'ticket.created', if: [{ field: 'colour', op: 'is', value: 'red' }], then: [{ addTag: 'a' }] }],
        [{ name: 'x', on: 'ticket.created', if: [{ field: 'status', op: 'is', value: 'open' }], then: [{ addTag: 'a' }] }],
        [{ name: 'x', on: 'ticket.created', if: [{ field: 'status', op: 'in', value: 'active' }], then: [{ addTag: 'a' }] }],
        [{ name: 'x', on: 'ticket.created', if: [{ field: 'priority', op: 'includes', value: 'high' }], then: [{ addTag: 'a' }] }],
        [{ name: 'x', on: 'ticket.created', then: [{ set: 'status', value: 'done' }] }],
        [{ name: 'x', on: 'ticket.created', then: [{ set: 'subject', value: 'hi' }] }],
        [{ name: 'x', on: 'ticket.created', then: [{ addTag: 'a', removeTag: 'b' }] }],
        [{ name: 'x', on: 'ticket.created', then: [{ assign: 'nobody' }] }],
        [{ name: 'x', on: 'ticket.created', then: [{ set: 'team', value: 'no such team' }] }],
        [{ name: 'x', on: 'ticket.created', then: [{ set: 'category', value: 'no such category' }] }],
        [{ name: 'x', on: 'ticket.created', then: [{ addTag: 'a' }] }, { name: 'x', on: 'ticket.created', then: [{ addTag: 'b' }] }],
      ];
      for (const body of bad) {
        const res = await t.api('PUT', '/api/triggers', body);
        expect(res.status, JSON.stringify(body)).to.equal(400);
        expect(res.body.error.code).to.equal('invalid_trigger');
        expect(res.body.error.message).to.be.a('string').and.not.empty;
      }
      expect((await t.api('PUT', '/api/triggers', [], agent.token)).status).to.equal(403);
      const read = await t.api('GET', '/api/triggers', undefined, agent.token);
      expect(read.status).to.equal(200);
      expect(read.body).to.deep.equal(good.map((x) => ({ ...x })));
      expect((await t.api('GET', '/api/settings')).body).not.to.have.property('collection:triggers');
      expect((await t.api('PUT', '/api/triggers', [])).status).to.equal(200);
    });

    it('ticket.created: sets fields and tags on a new ticket; message.received: tags, assigns and answers', async () => {
      await t.api('PUT', '/api/agents/me/presence', { presence: 'online' }, agent.token);
      const put = await t.api('PUT', '/api/triggers', [
        { name: 'urgent tasks', on: 'ticket.created', if: [{ field: 'channel', op: 'is', value: 'internal' }, { field: 'tags', op: 'includes', value: 'outage' }], then: [{ set: 'priority', value: 'urgent' }, { addTag: 'triaged' }, { set: 'category', value: 'technical' }] },
        { name: 'refund words', on: 'message.received', if: [{ field: 'type', op: 'is', value: 'agent' }, { field: 'status', op: 'in', value: ['pending', 'active'] }], then: [{ addTag: 'customer-wrote' }, { sendMessage: 'Thanks, an agent will read this shortly.' }] },
        { name: 'take pending', on: 'ticket.updated', if: [{ field: 'status', op: 'is', value: 'pending' }, { field: 'type', op: 'is', value: 'agent' }], then: [{ assign: agent.id }] },
      ]);
      expect(put.status, JSON.stringify(put.body)).to.equal(200);

      const created = await t.api('POST', '/api/tickets', { subject: 'Site down', tags: ['outage'] });
      expect(created.status).to.equal(201);
      expect(created.body).to.include({ priority: 'urgent', category: 'technical' });
      expect(created.body.tags).to.deep.equal(['outage', 'triaged']);
      const calm = await t.api('POST', '/api/tickets', { subject: 'Nice to have' });
      expect(calm.body).to.include({ priority: 'medium' });

      // A customer message on an agent ticket: tagged and answered by the trigger.
      await t.api('PUT', '/api/agents/me/presence', { presence: 'offline' }, agent.token);
      const phone = newPhone();
      const say = async (text: string) => {
        const id = newWamid();
        await t.webhook(waTextBody({ from: phone, id, text, timestamp: Math.floor(clock.now() / 1000) }));
        await waitFor(async () => (await t.query('SELECT status FROM inbound WHERE externalId = ?', [id]))[0]?.status === 'done', 10_000, text);
      };
      await say('hi');
      await say('talk to an agent');
      const [tk] = await ticketsOf(t, phone);
      expect(tk.status).to.equal('pending');
      await say('hello? I want a refund');
      const d = await waitFor(async () => {
        const x = (await t.api('GET', `/api/tickets/${tk.id}`)).body;
        return x.tags.includes('customer-wrote') ? x : null;
      }, 5000, 'the message.received trigger');
      const sent = d.timeline.filter((e: any) => e.type === 'message' && e.message.direction === 'out' && e.message.author === 'system');
      expect(sent.map((e: any) => e.message.text)).to.include('Thanks, an agent will read this shortly.');
      // The assign action is refused while the agent is offline: recorded, not applied.
      expect(d.status).to.equal('pending');
      const skipped = d.timeline.filter((e: any) => e.type === 'trigger' && e.name === 'take pending');
      expect(skipped.length).to.be.greaterThan(0);
      expect(skipped[0].skipped[0].action).to.equal('assign');
      await t.api('PUT', '/api/triggers', []);
    });
  });
}
