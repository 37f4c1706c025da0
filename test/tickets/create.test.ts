// POST /api/tickets through the real HTTP server (SPEC §3.2 "(new)" rows, §3.7, §3.9):
// agent-initiated outbound tickets under the channel rules (WhatsApp template outside
// the window, Instagram 7 days, email any time), one open ticket per contact and
// channel, the customer's answer landing in the same ticket, and follow-up tickets
// from a conversation with their duplicate guard. SQLite always; MySQL + Redis when set.

import { expect } from 'chai';
import { ManualClock } from '../../gateway/clock.js';
import { backends, newPhone, newWamid, rand, startGateway, ticketsOf, waTextBody, waitFor, type TestGateway } from '../helpers/gateway-harness.js';

const DAY = 24 * 3_600_000;

const TEMPLATES = [
  { name: 'order_update', language: 'en', category: 'UTILITY', status: 'approved', body: 'Hi {{1}}, your order {{2}} has shipped.' },
  { name: 'winback', language: 'en', category: 'MARKETING', status: 'pending', body: 'We miss you, {{1}}!' },
];

for (const backend of backends()) {
  describe(`POST /api/tickets: outbound and follow-up tickets (${backend === 'sqlite' ? 'SQLite + in-process' : 'MySQL + Redis'})`, function () {
    this.timeout(30_000);
    let t: TestGateway;
    let clock: ManualClock;
    let adminId: string;

    before(async () => {
      clock = new ManualClock(Date.now());
      t = await startGateway({ backend, bot: null, clock });
      const put = await t.api('PUT', '/api/templates', TEMPLATES);
      expect(put.status, JSON.stringify(put.body)).to.equal(200);
      adminId = (await t.query("SELECT id FROM users WHERE role = 'admin'"))[0].id;
    });
    after(async () => {
      await t?.stop();
    });

    const seconds = () => Math.floor(clock.now() / 1000);
    const sim = (body: Record<string, unknown>) =>
      fetch(`${t.url}/simulator/api/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

    async function simTicket(channel: 'instagram' | 'email', persona: string, extra: Record<string, unknown> = {}) {
      const res = await sim({ channel, persona, text: 'hello there', ...extra });
      expect(res.status).to.equal(202);
      return waitFor(async () => {
        const rows = await t.query(
          'SELECT t.* FROM tickets t JOIN contact_identities i ON i.contactId = t.contactId WHERE t.channel = ? AND i.value = ? ORDER BY t.createdAt DESC',
          [channel, persona],
        );
        return rows[0];
      }, 5000, `the ${channel} ticket of ${persona}`);
    }

    describe('WhatsApp to a stranger', () => {
      const phone = newPhone();
      let ticketId: string;

      it('refuses free text with 422 template_required and writes nothing', async () => {
        const res = await t.api('POST', '/api/tickets', { channel: 'whatsapp', to: `+${phone}`, message: { text: 'Hello! About your order' } });
        expect(res.status, JSON.stringify(res.body)).to.equal(422);
        expect(res.body.error.code).to.equal('template_required');
        expect(await ticketsOf(t, phone)).to.have.length(0);
        expect(await t.query('SELECT * FROM contact_identities WHERE value = ?', [phone])).to.have.length(0);
        expect(t.graph.to(phone)).to.have.length(0);
      });

      it('refuses a template that is not approved (422) or whose params do not fit its body (400)', async () => {
        const pending = await t.api('POST', '/api/tickets', { channel: 'whatsapp', to: phone, message: { template: { name: 'winback', language: 'en', params: ['Ann'] } } });
        expect(pending.status).to.equal(422);
        expect(pending.body.error.code).to.equal('template_not_approved');
        const unknown = await t.api('POST', '/api/tickets', { channel: 'whatsapp', to: phone, message: { template: { name: 'order_update', language: 'fr', params: ['Ann', 'A1'] } } });
        expect(unknown.status).to.equal(422);
        expect(unknown.body.error.code).to.equal('template_not_approved');
        const params = await t.api('POST', '/api/tickets', { channel: 'whatsapp', to: phone, message: { template: { name: 'order_update', language: 'en', params: ['Ann'] } } });
        expect(params.status).to.equal(400);
        expect(await ticketsOf(t, phone)).to.have.length(0);
      });

      it('opens a proactive ticket with an approved template: the caller is assignee, the template goes to the Graph API', async () => {
        const res = await t.api('POST', '/api/tickets', {
          channel: 'whatsapp', to: `+${phone}`, name: 'Ann Lee',
          message: { template: { name: 'order_update', language: 'en', params: ['Ann', 'A-1001'] } },
        });
        expect(res.status, JSON.stringify(res.body)).to.equal(201);
        ticketId = res.body.id;
        expect(res.body).to.include({ status: 'proactive', type: 'agent', channel: 'whatsapp', createdBy: 'agent' });
        expect(res.body.assignee.id).to.equal(adminId);
        expect(res.body.contact.identities.whatsapp).to.equal(phone);
        expect(res.body.contact.name).to.equal('Ann Lee');
        const msgs = res.body.timeline.filter((e: any) => e.type === 'message');
        expect(msgs).to.have.length(1);
        expect(msgs[0].message).to.include({ direction: 'out', author: 'agent', kind: 'template', text: 'Hi Ann, your order A-1001 has shipped.' });
        expect(res.body.timeline.find((e: any) => e.type === 'status')).to.include({ from: null, to: 'proactive' });
        expect(res.body.timeline.find((e: any) => e.type === 'assignment')).to.include({ from: null, to: adminId });
        const [send] = await waitFor(() => (t.graph.to(phone).length ? t.graph.to(phone) : null), 5000, 'the template send');
        expect(send!.body.type).to.equal('template');
        expect(send!.body.template.name).to.equal('order_update');
        expect(send!.body.template.language.code).to.equal('en');
        expect(JSON.stringify(send!.body.template.components)).to.contain('A-1001');
      });

      it('refuses a second ticket for the same contact and channel with 409 naming the open one', async () => {
        const again = await t.api('POST', '/api/tickets', { channel: 'whatsapp', to: phone, message: { template: { name: 'order_update', language: 'en', params: ['Ann', 'A-1002'] } } });
        expect(again.status).to.equal(409);
        expect(again.body.error.code).to.equal('open_ticket_exists');
        expect(again.body.error.ticketId).to.equal(ticketId);
        const [row] = await t.query('SELECT contactId FROM tickets WHERE id = ?', [ticketId]);
        const byContact = await t.api('POST', '/api/tickets', { channel: 'whatsapp', contactId: row.contactId, message: { text: 'hi' } });
        expect(byContact.status).to.equal(409);
        expect(byContact.body.error.ticketId).to.equal(ticketId);
        expect(await ticketsOf(t, phone)).to.have.length(1);
      });

      it("lands the customer's reply in the same ticket and makes it active", async () => {
        await t.webhook(waTextBody({ from: phone, id: newWamid(), text: 'Thanks! When will it arrive?', name: 'Ann Lee', timestamp: seconds() }));
        const tk = await waitFor(async () => {
          const res = await t.api('GET', `/api/tickets/${ticketId}`);
          return res.body.status === 'active' ? res.body : null;
        }, 5000, 'the ticket to become active');
        expect(tk.assignee.id).to.equal(adminId);
        expect(tk.type).to.equal('agent');
        expect(tk.timeline.find((e: any) => e.type === 'status' && e.from === 'proactive')).to.include({ to: 'active', cause: 'customer_reply' });
        const inbound = tk.timeline.filter((e: any) => e.type === 'message' && e.message.direction === 'in');
        expect(inbound.map((e: any) => e.message.text)).to.deep.equal(['Thanks! When will it arrive?']);
        expect(await ticketsOf(t, phone)).to.have.length(1);
        // Inside the window now: free text goes through.
        const reply = await t.api('POST', `/api/tickets/${ticketId}/messages`, { text: 'Tomorrow morning.' });
        expect(reply.status, JSON.stringify(reply.body)).to.equal(201);
      });

      it('refuses an unapproved template as an agent reply too (the same check in the outbox)', async () => {
        const res = await t.api('POST', `/api/tickets/${ticketId}/messages`, { template: { name: 'winback', language: 'en', params: ['Ann'] } });
        expect(res.status).to.equal(422);
        expect(res.body.error.code).to.equal('template_not_approved');
      });

      describe('follow-up ticket from this conversation', () => {
        let followUp: string;

        it('creates an internal ticket linked to the conversation, its description pre-filled', async () => {
          const res = await t.api('POST', '/api/tickets', { linkedTicketId: ticketId, description: 'Check the courier', priority: 'high' });
          expect(res.status, JSON.stringify(res.body)).to.equal(201);
          followUp = res.body.id;
          expect(res.body).to.include({ channel: 'internal', linkedTicketId: ticketId, createdBy: 'agent', status: 'pending', priority: 'high' });
          expect(res.body.contact.name).to.equal('Ann Lee');
          const d: string = res.body.description;
          expect(d).to.match(/^Check the courier/);
          expect(d).to.contain('Ann Lee').and.to.contain(phone).and.to.contain('whatsapp');
          expect(d).to.contain('Hi Ann, your order A-1001 has shipped.');
          expect(d).to.contain('Thanks! When will it arrive?');
          expect(d).to.contain('Tomorrow morning.');
          expect(d.indexOf('has shipped')).to.be.lessThan(d.indexOf('When will it arrive'));
          expect(res.body.timeline.find((e: any) => e.type === 'linked')).to.include({ ticketId, relation: 'source' });
          const src = (await t.api('GET', `/api/tickets/${ticketId}`)).body;
          expect(src.linkedTickets).to.deep.equal([followUp]);
          expect(src.timeline.find((e: any) => e.type === 'linked')).to.include({ ticketId: followUp, relation: 'follow_up' });
          // Nothing reaches the customer from an internal follow-up.
          const msg = await t.api('POST', `/api/tickets/${followUp}/messages`, { text: 'hello?' });
          expect(msg.status).to.equal(422);
        });

        it('refuses a second follow-up for the same conversation with 409 duplicate_ticket, unless force: true', async () => {
          const dup = await t.api('POST', '/api/tickets', { linkedTicketId: ticketId });
          expect(dup.status).to.equal(409);
          expect(dup.body.error.code).to.equal('duplicate_ticket');
          expect(dup.body.error.ticketId).to.equal(followUp);
          // Linking to the follow-up itself is the same conversation.
          const viaFollowUp = await t.api('POST', '/api/tickets', { linkedTicketId: followUp });
          expect(viaFollowUp.status).to.equal(409);
          const forced = await t.api('POST', '/api/tickets', { linkedTicketId: ticketId, force: true, subject: 'Second look' });
          expect(forced.status, JSON.stringify(forced.body)).to.equal(201);
          expect(forced.body.subject).to.equal('Second look');
          const src = (await t.api('GET', `/api/tickets/${ticketId}`)).body;
          expect(src.linkedTickets).to.have.members([followUp, forced.body.id]);
        });

        it('answers an unknown linkedTicketId with 404 and refuses mixing it with an outbound message', async () => {
          expect((await t.api('POST', '/api/tickets', { linkedTicketId: 'NOSUCH9' })).status).to.equal(404);
          const mixed = await t.api('POST', '/api/tickets', { linkedTicketId: ticketId, channel: 'whatsapp', message: { text: 'x' } });
          expect(mixed.status).to.equal(400);
        });
      });
    });

    describe('Instagram', () => {
      it('refuses a ticket 8 days after the last message (window_closed), writing nothing', async () => {
        const persona = `ig${rand(4)}`;
        const first = await simTicket('instagram', persona);
        await t.api('POST', `/api/tickets/${first.id}/takeover`);
        expect((await t.api('PATCH', `/api/tickets/${first.id}`, { status: 'closed' })).status).to.equal(200);
        clock.advance(8 * DAY);
        const before = (await t.query('SELECT COUNT(*) AS n FROM tickets'))[0].n;
        const res = await t.api('POST', '/api/tickets', { channel: 'instagram', to: persona, message: { text: 'Still interested?' } });
        expect(res.status, JSON.stringify(res.body)).to.equal(422);
        expect(res.body.error.code).to.equal('window_closed');
        expect((await t.query('SELECT COUNT(*) AS n FROM tickets'))[0].n).to.equal(before);
      });

      it('allows an agent 2 days after the last message (HUMAN_AGENT tag) and refuses a stranger', async () => {
        const persona = `ig${rand(4)}`;
        const first = await simTicket('instagram', persona);
        await t.api('POST', `/api/tickets/${first.id}/takeover`);
        await t.api('PATCH', `/api/tickets/${first.id}`, { status: 'closed' });
        clock.advance(2 * DAY);
        const res = await t.api('POST', '/api/tickets', { channel: 'instagram', to: persona, message: { text: 'Your size is back in stock' } });
        expect(res.status, JSON.stringify(res.body)).to.equal(201);
        expect(res.body.status).to.equal('proactive');
        expect(res.body.id).not.to.equal(first.id);
        const [ob] = await t.query('SELECT o.payload FROM outbox o JOIN messages m ON m.id = o.messageId WHERE m.ticketId = ?', [res.body.id]);
        expect(JSON.parse(ob.payload).tag).to.equal('HUMAN_AGENT');
        const stranger = await t.api('POST', '/api/tickets', { channel: 'instagram', to: `ig${rand(4)}`, message: { text: 'hi' } });
        expect(stranger.status).to.equal(422);
        expect(stranger.body.error.code).to.equal('window_closed');
      });
    });

    describe('email', () => {
      it('starts a ticket any time, and needs a subject', async () => {
        const to = `Buyer.${rand(4)}@Example.com`;
        const noSubject = await t.api('POST', '/api/tickets', { channel: 'email', to, message: { text: 'Your refund is on its way.' } });
        expect(noSubject.status).to.equal(400);
        expect(noSubject.body.error.code).to.equal('subject_required');
        const res = await t.api('POST', '/api/tickets', { channel: 'email', to, subject: 'Your refund', message: { text: 'Your refund is on its way.' }, category: 'billing' });
        expect(res.status, JSON.stringify(res.body)).to.equal(201);
        expect(res.body).to.include({ status: 'proactive', channel: 'email', subject: 'Your refund', category: 'billing' });
        expect(res.body.contact.identities.email).to.equal(to.toLowerCase());
        // The customer's answer lands in it.
        expect((await sim({ channel: 'email', persona: to.toLowerCase(), text: 'Thank you!', subject: 'Re: Your refund' })).status).to.equal(202);
        const tk = await waitFor(async () => {
          const d = (await t.api('GET', `/api/tickets/${res.body.id}`)).body;
          return d.status === 'active' ? d : null;
        }, 5000, 'the email ticket to become active');
        expect(tk.timeline.filter((e: any) => e.type === 'message' && e.message.direction === 'in').map((e: any) => e.message.text)).to.deep.equal(['Thank you!']);
      });
    });

    describe('bad input', () => {
      it('refuses unknown channels, unconfigured accounts, missing recipients, unknown categories and fields', async () => {
        const cases: [Record<string, unknown>, number, string?][] = [
          [{ channel: 'telegram', to: '123', message: { text: 'x' } }, 400, 'unknown_channel'],
          [{ channel: 'whatsapp', account: 'nope', to: newPhone(), message: { text: 'x' } }, 422, 'channel_not_configured'],
          [{ channel: 'whatsapp', message: { text: 'x' } }, 400],
          [{ channel: 'whatsapp', to: newPhone(), contactId: 'c1', message: { text: 'x' } }, 400],
          [{ channel: 'whatsapp', to: 'not a phone', message: { text: 'x' } }, 400],
          [{ channel: 'whatsapp', to: newPhone() }, 400],
          [{ channel: 'whatsapp', to: newPhone(), message: { text: 'x', template: { name: 'order_update' } } }, 400],
          [{ channel: 'whatsapp', contactId: 'NOSUCH', message: { text: 'x' } }, 404],
          [{ subject: 'Task', category: 'astrology' }, 400, 'unknown_category'],
          [{ subject: 'Task', to: newPhone() }, 400],
          [{ subject: 'Task', colour: 'red' }, 400],
          [{ subject: 'Task', teamId: 'NOSUCH' }, 400, 'unknown_team'],
        ];
        const before = (await t.query('SELECT COUNT(*) AS n FROM tickets'))[0].n;
        for (const [body, status, code] of cases) {
          const res = await t.api('POST', '/api/tickets', body);
          expect(res.status, JSON.stringify(body)).to.equal(status);
          expect(res.body.error.message, JSON.stringify(body)).to.be.a('string');
          if (code) expect(res.body.error.code, JSON.stringify(body)).to.equal(code);
        }
        expect((await t.query('SELECT COUNT(*) AS n FROM tickets'))[0].n).to.equal(before);
      });

      it('still creates internal tasks (pending, or active with an assignee)', async () => {
        const res = await t.api('POST', '/api/tickets', { subject: `Task ${rand(3)}`, category: 'general', tags: ['a', 'a', 'b'] });
        expect(res.status).to.equal(201);
        expect(res.body).to.include({ channel: 'internal', status: 'pending', category: 'general' });
        expect(res.body.tags).to.deep.equal(['a', 'b']);
      });
    });
  });
}
