// The inbound pipeline through real webhooks and the real flow bot, with replies
// going out through the WhatsApp adapter to a local Graph API stub: concurrency,
// duplicates, order, bot tickets, email tickets, closing, handoff.
// SQLite + in-process always; MySQL + Redis when configured.

import { expect } from 'chai';
import {
  PHONE_NUMBER_ID, WA_ACCESS_TOKEN, backends, inboundMessagesOf, newPhone, newWamid, startGateway, ticketsOf, waChange, waEnvelope,
  waMessage, waTextBody, waitFor, type TestGateway,
} from '../helpers/gateway-harness.js';

const nowS = () => Math.floor(Date.now() / 1000);

for (const backend of backends()) {
  describe(`inbound pipeline (${backend === 'sqlite' ? 'SQLite + in-process' : 'MySQL + Redis'})`, function () {
    this.timeout(40_000);
    let t: TestGateway;

    before(async () => {
      t = await startGateway({ backend });
    });
    after(async () => {
      await t?.stop();
    });

    /** Waits until `phone` has `n` inbound messages stored and nothing left to process. */
    async function settled(phone: string, n: number, timeoutMs = 15_000) {
      return waitFor(async () => {
        const tickets = await ticketsOf(t, phone);
        const stored = (await t.query("SELECT COUNT(*) AS n FROM messages m JOIN contact_identities i ON i.value = ? JOIN tickets t ON t.id = m.ticketId AND t.contactId = i.contactId WHERE m.direction = 'in'", [phone]))[0].n;
        const waiting = (await t.query("SELECT COUNT(*) AS n FROM inbound WHERE convKey = ? AND status IN ('received', 'stored')", [`whatsapp:${PHONE_NUMBER_ID}:${phone}`]))[0].n;
        return Number(stored) >= n && Number(waiting) === 0 ? tickets : null;
      }, timeoutMs, `${n} messages from ${phone} processed`);
    }

    it('30 simultaneous webhooks from one new contact make exactly one ticket with 30 messages', async () => {
      const phone = newPhone();
      const base = nowS();
      const ids = Array.from({ length: 30 }, () => newWamid());
      const results = await Promise.all(ids.map((id, i) => t.webhook(waTextBody({ from: phone, id, text: `message ${i + 1}`, timestamp: base + i }))));
      expect(results.map((r) => r.status)).to.deep.equal(Array(30).fill(200));
      expect(results.reduce((s, r) => s + r.body.accepted, 0)).to.equal(30);
      const tickets = await settled(phone, 30);
      expect(tickets).to.have.length(1);
      const msgs = await inboundMessagesOf(t, tickets[0].id);
      expect(msgs).to.have.length(30);
      expect(new Set(msgs.map((m) => m.externalId))).to.deep.equal(new Set(ids));
      // Nothing is left in another ticket or the inbound table in a bad state.
      expect(Number((await t.query("SELECT COUNT(*) AS n FROM inbound WHERE convKey = ? AND status <> 'done'", [`whatsapp:${PHONE_NUMBER_ID}:${phone}`]))[0].n)).to.equal(0);
    });

    it('the same webhook delivered 6 times (some concurrently) is stored once', async () => {
      const phone = newPhone();
      const id = newWamid();
      const body = waTextBody({ from: phone, id, text: 'only once please', timestamp: nowS() });
      const concurrent = await Promise.all([1, 2, 3].map(() => t.webhook(body)));
      const sequential = [];
      for (let i = 0; i < 2; i++) sequential.push(await t.webhook(body));
      // The sixth delivery arrives inside a batch with a new message.
      const other = newWamid();
      const mixed = await t.webhook(waEnvelope([[waChange([waMessage({ from: phone, id, text: 'only once please' }), waMessage({ from: phone, id: other, text: 'and this one', timestamp: nowS() + 1 })], [{ wa_id: phone }])]]));
      const all = [...concurrent, ...sequential, mixed];
      expect(all.map((r) => r.status)).to.deep.equal(Array(6).fill(200));
      expect(all.reduce((s, r) => s + r.body.accepted, 0)).to.equal(2);
      expect(all.reduce((s, r) => s + r.body.duplicates, 0)).to.equal(5);
      const tickets = await settled(phone, 2);
      expect(tickets).to.have.length(1);
      expect((await t.query('SELECT id FROM messages WHERE externalId = ?', [id]))).to.have.length(1);
      expect((await t.query('SELECT id FROM inbound WHERE externalId = ?', [id]))).to.have.length(1);
      expect((await inboundMessagesOf(t, tickets[0].id)).map((m) => m.text)).to.deep.equal(['only once please', 'and this one']);
    });

    it('stores a conversation in platform-timestamp order, whatever the delivery order', async () => {
      const phone = newPhone();
      const base = nowS() - 100;
      // Meta may deliver out of order: one batch listing the messages shuffled.
      const order = [4, 1, 5, 0, 3, 2];
      const body = waEnvelope([[waChange(order.map((i) => waMessage({ from: phone, id: newWamid(), text: `step ${i}`, timestamp: base + i })), [{ wa_id: phone }])]]);
      const res = await t.webhook(body);
      expect(res.status).to.equal(200);
      const [ticket] = await settled(phone, 6);
      const detail = await t.api('GET', `/api/tickets/${ticket.id}`);
      const texts = detail.body.timeline.filter((e: any) => e.type === 'message' && e.message?.direction === 'in').map((e: any) => e.message.text);
      expect(texts).to.deep.equal([0, 1, 2, 3, 4, 5].map((i) => `step ${i}`));
    });

    it('opens a bot ticket on WhatsApp and sends the welcome menu as an interactive message through the Graph API', async () => {
      const phone = newPhone();
      const res = await t.webhook(waTextBody({ from: phone, id: newWamid(), text: 'hi', name: 'Amina' }));
      expect(res.status).to.equal(200);
      const send = await waitFor(() => t.graph.to(phone)[0], 10_000, 'the bot reply at the Graph stub');
      expect(send.path).to.equal(`/v23.0/${PHONE_NUMBER_ID}/messages`);
      expect(send.auth).to.equal(`Bearer ${WA_ACCESS_TOKEN}`);
      expect(send.body.messaging_product).to.equal('whatsapp');
      expect(send.body.type).to.equal('interactive');
      expect(send.body.interactive.body.text).to.contain('virtual assistant');
      const titles = JSON.stringify(send.body.interactive.action);
      expect(titles).to.contain('Talk to an agent');
      const [ticket] = await ticketsOf(t, phone);
      expect(ticket.type).to.equal('bot');
      expect(ticket.status).to.equal('active');
      // The outbound message is recorded as sent with the platform's id, and sent once.
      const out = await waitFor(async () => {
        const rows = await t.query("SELECT * FROM messages WHERE ticketId = ? AND direction = 'out'", [ticket.id]);
        return rows.length && rows.every((r) => r.status === 'sent') ? rows : null;
      }, 5000, 'the reply marked sent');
      expect(out).to.have.length(1);
      expect(out[0].externalId).to.match(/^wamid\.out-/);
      await t.gw.tick();
      expect(t.graph.to(phone)).to.have.length(1);
    });

    it('opens a pending agent ticket for an email persona through the simulator (email is not a bot channel)', async () => {
      const persona = `ann.${Date.now()}@example.com`;
      const res = await fetch(`${t.url}/simulator/api/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'email', persona, text: 'My invoice is wrong', subject: 'Invoice 1234' }),
      });
      expect(res.status).to.equal(202);
      const ticket = await waitFor(async () => (await t.query("SELECT t.* FROM tickets t JOIN contact_identities i ON i.contactId = t.contactId WHERE t.channel = 'email' AND i.value = ?", [persona]))[0], 5000, 'the email ticket');
      expect(ticket.type).to.equal('agent');
      expect(ticket.status).to.equal('pending');
      expect(ticket.subject).to.equal('Invoice 1234');
      await waitFor(async () => Number((await t.query("SELECT COUNT(*) AS n FROM inbound WHERE channel = 'email' AND status <> 'done'"))[0].n) === 0, 5000, 'the email processed');
      await t.gw.dispatcher.drain();
      const out = await t.query("SELECT * FROM messages WHERE ticketId = ? AND direction = 'out'", [ticket.id]);
      expect(out.filter((m) => m.author === 'bot')).to.have.length(0);
    });

    it('after a ticket is closed, the next message opens a NEW ticket and the bot answers in it', async () => {
      const phone = newPhone();
      await t.webhook(waTextBody({ from: phone, id: newWamid(), text: 'hi' }));
      await waitFor(() => t.graph.to(phone).length === 1, 10_000, 'the first welcome');
      const [first] = await ticketsOf(t, phone);
      // bot active -> takeover (agent, active) -> closed: a path the status table allows.
      const take = await t.api('POST', `/api/tickets/${first.id}/takeover`);
      expect(take.status, JSON.stringify(take.body)).to.equal(200);
      const close = await t.api('PATCH', `/api/tickets/${first.id}`, { status: 'closed' });
      expect(close.status, JSON.stringify(close.body)).to.equal(200);
      expect(close.body.status).to.equal('closed');

      await t.webhook(waTextBody({ from: phone, id: newWamid(), text: 'hello again' }));
      await waitFor(() => t.graph.to(phone).length === 2, 10_000, 'the bot answer in the new ticket');
      const tickets = await ticketsOf(t, phone);
      expect(tickets).to.have.length(2);
      const second = tickets.find((x) => x.id !== first.id)!;
      expect(second.type).to.equal('bot');
      expect(second.status).to.equal('active');
      expect((await inboundMessagesOf(t, second.id)).map((m) => m.text)).to.deep.equal(['hello again']);
      // The closed ticket received nothing new.
      expect((await inboundMessagesOf(t, first.id)).map((m) => m.text)).to.deep.equal(['hi']);
      const reply = await waitFor(async () => (await t.query("SELECT * FROM messages WHERE ticketId = ? AND direction = 'out' AND author = 'bot'", [second.id]))[0], 5000, 'the bot reply row');
      expect(reply.ticketId).to.equal(second.id);
      expect((await t.api('GET', `/api/tickets/${first.id}`)).body.status).to.equal('closed');
    });

    it('"talk to an agent" turns the same ticket into an agent ticket with a handler timeline entry', async () => {
      const phone = newPhone();
      await t.webhook(waTextBody({ from: phone, id: newWamid(), text: 'hi' }));
      await waitFor(() => t.graph.to(phone).length === 1, 10_000, 'the welcome');
      await t.webhook(waTextBody({ from: phone, id: newWamid(), text: 'talk to an agent' }));
      const detail = await waitFor(async () => {
        const [tk] = await ticketsOf(t, phone);
        return tk.type === 'agent' ? (await t.api('GET', `/api/tickets/${tk.id}`)).body : null;
      }, 10_000, 'the handoff');
      const tickets = await ticketsOf(t, phone);
      expect(tickets).to.have.length(1);
      expect(detail.type).to.equal('agent');
      expect(detail.status).to.equal('pending');
      const handler = detail.timeline.filter((e: any) => e.type === 'handler');
      expect(handler).to.have.length(1);
      expect(handler[0]).to.include({ from: 'bot', to: 'agent' });
      expect(handler[0].cause).to.be.a('string').and.not.empty;
      const status = detail.timeline.find((e: any) => e.type === 'status' && e.cause === 'handoff');
      expect(status).to.include({ from: 'active', to: 'pending' });
      // The bot told the customer it is connecting them; nobody is online (the admin's presence
      // is offline), so the out-of-office message follows in the same handoff (tickets/lifecycle.ts),
      // queued behind the bot's reply. Both are waited for: counting after the first alone raced the second.
      const texts = () => t.graph.to(phone).map((s) => JSON.stringify(s.body));
      await waitFor(() => texts().length >= 3, 5000, 'the handoff message and the out-of-office message');
      expect(texts()).to.have.length(3);
      expect(texts()[1]).to.include('connecting you');
      expect(texts()[2]).to.include('Our team is offline right now');
      // From then on the bot does not answer on that ticket.
      const sendsBefore = t.graph.to(phone).length;
      const id = newWamid();
      await t.webhook(waTextBody({ from: phone, id, text: 'hi' }));
      await waitFor(async () => (await t.query("SELECT status FROM inbound WHERE externalId = ?", [id]))[0]?.status === 'done', 5000, 'the message processed');
      await t.gw.dispatcher.drain();
      expect(t.graph.to(phone)).to.have.length(sendsBefore);
    });
  });
}
