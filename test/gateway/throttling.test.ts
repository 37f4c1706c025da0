// Outbound throttling and platform rejections through the real gateway: a 130429 pauses
// only the throttled phone number (Retry-After honoured, ManualClock + tick, no sleeps)
// and the message goes out once; permanent errors fail the message at once and reach the
// event stream; 131047 marks the message failed whether it comes back synchronously
// (HTTP 400) or later as a `failed` status webhook.

import { expect } from 'chai';
import { createWhatsAppCloudAdapter } from '../../adapters/whatsapp-cloud/index.js';
import { ManualClock } from '../../gateway/clock.js';
import { EVENTS_TOPIC } from '../../gateway/http/events.js';
import type { TicketEvent } from '../../tickets/events.js';
import { PHONE_NUMBER_ID, WA_ACCESS_TOKEN, backends, newPhone, newWamid, waEnvelope, waStatusBody, waTextBody, waitFor } from '../helpers/gateway-harness.js';
import { startChannelGateway, type ChannelGateway } from '../helpers/channel-harness.js';

const SECOND_NUMBER = '200000000000002';

for (const backend of backends()) {
  describe(`outbound throttling and rejections (${backend === 'sqlite' ? 'SQLite + in-process' : 'MySQL + Redis'})`, function () {
    this.timeout(30_000);
    const clock = new ManualClock(Date.UTC(2026, 2, 2, 10, 0, 0));
    let t: ChannelGateway;
    const events: TicketEvent[] = [];

    before(async () => {
      t = await startChannelGateway({
        backend,
        clock,
        // A second WhatsApp number on the same gateway: its queue must not wait for the first one's.
        adapters: (graphUrl) => [[createWhatsAppCloudAdapter({ graphUrl, graphVersion: 'v23.0', accessToken: WA_ACCESS_TOKEN, phoneNumberId: SECOND_NUMBER }), SECOND_NUMBER]],
      });
      await t.gw.coord.subscribe(EVENTS_TOPIC, (m) => events.push(...(JSON.parse(m) as TicketEvent[])));
    });
    after(async () => {
      await t?.stop();
    });

    /** A customer writes to `account` (now, in the gateway's clock); the agent takes the ticket over. */
    async function customerTicket(account = PHONE_NUMBER_ID): Promise<{ id: string; phone: string }> {
      const phone = newPhone();
      const ts = Math.floor(clock.now() / 1000);
      if (account === PHONE_NUMBER_ID) {
        expect((await t.webhook(waTextBody({ from: phone, id: newWamid(), text: 'hello', timestamp: ts }))).status).to.equal(200);
      } else {
        await t.gw.pipeline.accept({ messages: [{ channel: 'whatsapp', account, externalId: newWamid(), from: phone, timestamp: clock.now(), kind: 'text', text: 'hello' }] });
      }
      const [tk] = await waitFor(async () => {
        const rows = await t.query("SELECT t.* FROM tickets t JOIN contact_identities i ON i.contactId = t.contactId WHERE i.value = ?", [phone]);
        return rows.length ? rows : null;
      }, 5000, 'the ticket');
      expect((await t.api('POST', `/api/tickets/${tk.id}/takeover`)).status).to.equal(200);
      return { id: tk.id, phone };
    }

    const sendsTo = (phone: string) => t.graph.messages().filter((r) => r.body?.to === phone);
    const message = async (id: string) => (await t.query('SELECT * FROM messages WHERE id = ?', [id]))[0];

    it('a 130429 pauses only its phone number, honours Retry-After, and the message is sent exactly once', async () => {
      const a = await customerTicket();
      const b = await customerTicket(SECOND_NUMBER);
      t.graph.once((r) => r.body?.to === a.phone, {
        status: 400,
        headers: { 'retry-after': '30' },
        body: { error: { message: '(#130429) Rate limit hit', type: 'OAuthException', code: 130429, error_data: { messaging_product: 'whatsapp', details: 'Cloud API message throughput has been reached.' } } },
      });
      const first = await t.api('POST', `/api/tickets/${a.id}/messages`, { text: 'first' });
      expect(first.status).to.equal(201);
      await waitFor(async () => (await t.query("SELECT * FROM outbox WHERE messageId = ? AND status = 'pending' AND attempts = 1", [first.body.id])).length, 5000, 'the throttled row back to pending');
      expect((await message(first.body.id)).status).to.equal('queued');

      // The throttled number holds its queue: a second reply waits behind the pause...
      const second = await t.api('POST', `/api/tickets/${a.id}/messages`, { text: 'second' });
      // ...while the other number's messages go out at once.
      const other = await t.api('POST', `/api/tickets/${b.id}/messages`, { text: 'for the other number' });
      await waitFor(async () => (await message(other.body.id)).status === 'sent', 5000, 'the other number sending');
      expect(sendsTo(b.phone).map((r) => r.path)).to.deep.equal([`/v23.0/${SECOND_NUMBER}/messages`]);
      await waitFor(async () => Number((await t.query('SELECT nextAttemptAt FROM outbox WHERE messageId = ?', [second.body.id]))[0].nextAttemptAt) > clock.now(), 5000, 'second reply paused');
      expect(sendsTo(a.phone).map((r) => r.body.text.body)).to.deep.equal(['first']);

      // Before Retry-After has passed, nothing is retried.
      clock.advance(20_000);
      await t.gw.tick();
      await t.gw.dispatcher.drain();
      expect(sendsTo(a.phone)).to.have.length(1);

      clock.advance(15_000);
      await t.gw.tick();
      await t.gw.dispatcher.drain();
      await waitFor(async () => (await message(second.body.id)).status === 'sent', 5000, 'both replies sent');
      expect((await message(first.body.id)).status).to.equal('sent');
      // One rejected attempt and one successful send of "first", then "second", in order.
      expect(sendsTo(a.phone).map((r) => r.body.text.body)).to.deep.equal(['first', 'first', 'second']);
      const rows = await t.query('SELECT status, attempts FROM outbox WHERE messageId = ?', [first.body.id]);
      expect(rows[0].status).to.equal('sent');
      expect(Number(rows[0].attempts)).to.equal(2);
    });

    it('a transient failure (HTTP 503) is retried with backoff and a later reply to the same customer waits behind it', async () => {
      const a = await customerTicket();
      t.graph.once((r) => r.body?.to === a.phone, { status: 503, body: { error: { message: 'Service temporarily unavailable', type: 'OAuthException', code: 2 } } });
      const first = await t.api('POST', `/api/tickets/${a.id}/messages`, { text: 'one' });
      await waitFor(async () => (await t.query("SELECT * FROM outbox WHERE messageId = ? AND status = 'pending' AND attempts = 1", [first.body.id])).length, 5000, 'first back to pending');
      const second = await t.api('POST', `/api/tickets/${a.id}/messages`, { text: 'two' });
      await waitFor(async () => Number((await t.query('SELECT nextAttemptAt FROM outbox WHERE messageId = ?', [second.body.id]))[0].nextAttemptAt) > clock.now(), 5000, 'second waiting behind the first');
      expect(sendsTo(a.phone).map((r) => r.body.text.body)).to.deep.equal(['one']);
      clock.advance(65_000);
      await t.gw.tick();
      await t.gw.dispatcher.drain();
      await waitFor(async () => (await message(second.body.id)).status === 'sent', 5000, 'both sent');
      expect(sendsTo(a.phone).map((r) => r.body.text.body)).to.deep.equal(['one', 'one', 'two']);
    });

    it('a permanent error (131026) fails the message at once, is not retried, and reaches the event stream', async () => {
      const a = await customerTicket();
      t.graph.once((r) => r.body?.to === a.phone, {
        status: 400,
        body: { error: { message: '(#131026) Message Undeliverable', type: 'OAuthException', code: 131026, error_data: { details: 'Message Undeliverable.' } } },
      });
      const sent = await t.api('POST', `/api/tickets/${a.id}/messages`, { text: 'will bounce' });
      const m = await waitFor(async () => {
        const row = await message(sent.body.id);
        return row.status === 'failed' ? row : null;
      }, 5000, 'the message failed');
      expect(m.error).to.match(/^131026: /);
      clock.advance(10 * 60_000);
      await t.gw.tick();
      await t.gw.dispatcher.drain();
      expect(sendsTo(a.phone)).to.have.length(1);
      const ev = await waitFor(() => events.find((e) => e.type === 'message.updated' && e.data?.messageId === sent.body.id), 5000, 'message.updated');
      expect(ev.data).to.include({ status: 'failed' });
      expect(String(ev.data!.error)).to.match(/^131026/);
      const detail = await t.api('GET', `/api/tickets/${a.id}`);
      const entry = detail.body.timeline.find((e: any) => e.type === 'message' && e.message?.id === sent.body.id);
      expect(entry.message).to.include({ status: 'failed' });
      expect(entry.message.error).to.match(/^131026/);
    });

    it('131047 returned synchronously (HTTP 400) marks the message failed with that reason', async () => {
      const a = await customerTicket();
      t.graph.once((r) => r.body?.to === a.phone, {
        status: 400,
        body: { error: { message: '(#131047) Re-engagement message', type: 'OAuthException', code: 131047, error_data: { details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.' } } },
      });
      const sent = await t.api('POST', `/api/tickets/${a.id}/messages`, { text: 'too late after all' });
      const m = await waitFor(async () => {
        const row = await message(sent.body.id);
        return row.status === 'failed' ? row : null;
      }, 5000, 'the message failed');
      expect(m.error).to.match(/^131047: .*Re-engagement/);
    });

    it('131047 arriving only as a `failed` status webhook marks the sent message failed with that reason', async () => {
      const a = await customerTicket();
      const sent = await t.api('POST', `/api/tickets/${a.id}/messages`, { text: 'accepted by the API' });
      const m = await waitFor(async () => {
        const row = await message(sent.body.id);
        return row.status === 'sent' ? row : null;
      }, 5000, 'the message sent');
      const failed = waEnvelope([[{
        field: 'messages',
        value: {
          messaging_product: 'whatsapp',
          metadata: { display_phone_number: '+1 555 010 0000', phone_number_id: PHONE_NUMBER_ID },
          statuses: [{
            id: m.externalId, status: 'failed', timestamp: String(Math.floor(clock.now() / 1000) + 2), recipient_id: a.phone,
            errors: [{ code: 131047, title: 'Re-engagement message', message: 'Re-engagement message', error_data: { details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.' } }],
          }],
        },
      }]]);
      expect((await t.webhook(failed)).status).to.equal(200);
      const row = await message(sent.body.id);
      expect(row.status).to.equal('failed');
      expect(row.error).to.equal('131047: Re-engagement message');
      const ev = await waitFor(() => events.find((e) => e.type === 'message.updated' && e.data?.messageId === sent.body.id && e.data?.status === 'failed'), 5000, 'message.updated failed');
      expect(ev.data!.error).to.equal('131047: Re-engagement message');
      // A late `delivered` for the same message never undoes the failure.
      expect((await t.webhook(waStatusBody(m.externalId, a.phone, 'delivered'))).status).to.equal(200);
      expect((await message(sent.body.id)).status).to.equal('failed');
    });
  });
}
