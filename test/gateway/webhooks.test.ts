// Meta webhooks end to end through the real HTTP server: handshake, signature on the
// raw bytes, malformed and oversized bodies, non-ASCII text, status-only and unknown
// notifications, batches. SQLite + in-process always; MySQL + Redis when configured.

import { expect } from 'chai';
import { signMetaBody } from '../../adapters/meta/signature.js';
import {
  APP_SECRET, VERIFY_TOKEN, backends, inboundMessagesOf, newPhone, newWamid, startGateway, ticketsOf, waChange, waEnvelope, waMessage,
  waStatusBody, waTextBody, waitFor, type TestGateway,
} from '../helpers/gateway-harness.js';

for (const backend of backends()) {
  describe(`webhooks (${backend === 'sqlite' ? 'SQLite + in-process' : 'MySQL + Redis'})`, function () {
    this.timeout(30_000);
    let t: TestGateway;

    before(async () => {
      // No bot: these tests are about what is stored, not what is answered.
      t = await startGateway({ backend, bot: null, env: { BODY_LIMIT: '2kb' } });
    });
    after(async () => {
      await t?.stop();
    });

    const count = async (table: string) => Number((await t.query(`SELECT COUNT(*) AS n FROM ${table}`))[0].n);

    describe('GET verification handshake', () => {
      it('answers the challenge when the verify token matches', async () => {
        const res = await fetch(`${t.url}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=${VERIFY_TOKEN}&hub.challenge=1158201444`);
        expect(res.status).to.equal(200);
        expect(await res.text()).to.equal('1158201444');
      });

      it('refuses a wrong verify token with 403', async () => {
        const res = await fetch(`${t.url}/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1158201444`);
        expect(res.status).to.equal(403);
        const body = await res.json();
        expect(body.error.code).to.be.a('string');
        expect(JSON.stringify(body)).not.to.contain('1158201444');
      });
    });

    describe('POST signature', () => {
      it('refuses an unsigned notification with 401 and stores nothing', async () => {
        const before = await count('inbound');
        const res = await t.webhook(waTextBody({ from: newPhone(), id: newWamid(), text: 'unsigned' }), { sign: false });
        expect(res.status).to.equal(401);
        expect(res.body.error.code).to.equal('signature_missing');
        expect(await count('inbound')).to.equal(before);
      });

      it('refuses a wrong signature with 403 and stores nothing', async () => {
        const before = await count('inbound');
        const beforeMessages = await count('messages');
        const body = JSON.stringify(waTextBody({ from: newPhone(), id: newWamid(), text: 'forged' }));
        const res = await t.webhook(body, { signature: signMetaBody(body, 'not-the-app-secret') });
        expect(res.status).to.equal(403);
        expect(res.body.error.code).to.equal('signature_invalid');
        // A signature of other bytes (the body re-serialized differently) is refused too.
        const res2 = await t.webhook(body, { signature: signMetaBody(body + ' ', APP_SECRET) });
        expect(res2.status).to.equal(403);
        const res3 = await t.webhook(body, { signature: 'sha256=zz' });
        expect(res3.status).to.equal(403);
        expect(await count('inbound')).to.equal(before);
        expect(await count('messages')).to.equal(beforeMessages);
      });
    });

    describe('POST bodies', () => {
      it('answers malformed JSON (correctly signed) with 400 and stores nothing', async () => {
        const before = await count('inbound');
        const res = await t.webhook('{"object":"whatsapp_business_account","entry":[', {});
        expect(res.status).to.equal(400);
        expect(res.body.error.code).to.equal('malformed_json');
        expect(res.body.error.message).to.be.a('string').and.not.empty;
        expect(await count('inbound')).to.equal(before);
      });

      it('answers a body over BODY_LIMIT with 413 and stores nothing', async () => {
        const before = await count('inbound');
        const phone = newPhone();
        const res = await t.webhook(waTextBody({ from: phone, id: newWamid(), text: 'x'.repeat(4000) }));
        expect(res.status).to.equal(413);
        expect(res.body.error.code).to.equal('body_too_large');
        expect(await count('inbound')).to.equal(before);
        expect(await ticketsOf(t, phone)).to.have.length(0);
      });

      it('verifies non-ASCII text escaped as \\uXXXX in the signed raw body and stores it exactly', async () => {
        const phone = newPhone();
        const text = 'Muraho! Ça va? 你好 — ünïcödé 👋🏽 "quoted" \\ back';
        // Meta's serialization: every non-ASCII character escaped (surrogate pairs for emoji).
        const escaped = JSON.stringify(waTextBody({ from: phone, id: newWamid(), text, name: 'Zoë Ñúñez' })).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
        expect(escaped).to.match(/^[\x00-\x7f]*$/);
        expect(escaped).to.contain('\\u4f60');
        const res = await t.webhook(escaped);
        expect(res.status).to.equal(200);
        expect(res.body.accepted).to.equal(1);
        const [ticket] = await waitFor(async () => {
          const ts = await ticketsOf(t, phone);
          return ts.length && (await inboundMessagesOf(t, ts[0].id)).length ? ts : null;
        }, 5000, 'the ticket');
        const detail = await t.api('GET', `/api/tickets/${ticket.id}`);
        expect(detail.status).to.equal(200);
        const msgs = detail.body.timeline.filter((e: any) => e.type === 'message').map((e: any) => e.message);
        expect(msgs).to.have.length(1);
        expect(msgs[0].text).to.equal(text);
        expect(detail.body.contact.name).to.equal('Zoë Ñúñez');
      });

      it('acknowledges a status-only notification with 200 without storing a message', async () => {
        const beforeIn = await count('inbound');
        const beforeTickets = await count('tickets');
        const res = await t.webhook(waStatusBody(newWamid(), newPhone()));
        expect(res.status).to.equal(200);
        expect(res.body.accepted).to.equal(0);
        expect(await count('inbound')).to.equal(beforeIn);
        expect(await count('tickets')).to.equal(beforeTickets);
      });

      it('acknowledges unknown message types and unknown fields with 200 without harm', async () => {
        const phone = newPhone();
        const beforeTickets = await count('tickets');
        const unknown = { from: phone, id: newWamid(), timestamp: String(Math.floor(Date.now() / 1000)), type: 'unsupported', errors: [{ code: 131051, title: 'Message type unknown', message: 'Message type unknown', error_data: { details: 'Message type is currently not supported.' } }] };
        const res = await t.webhook(waEnvelope([[waChange([unknown], [{ wa_id: phone }])]]));
        expect(res.status).to.equal(200);
        const res2 = await t.webhook({ object: 'whatsapp_business_account', entry: [{ id: '1', changes: [{ field: 'account_update', value: { event: 'VERIFIED_ACCOUNT' } }] }] });
        expect(res2.status).to.equal(200);
        expect(res2.body.accepted).to.equal(0);
        // The gateway is still healthy and still takes the next normal message.
        const id = newWamid();
        const res3 = await t.webhook(waTextBody({ from: phone, id, text: 'after the odd ones' }));
        expect(res3.status).to.equal(200);
        expect(res3.body.accepted).to.equal(1);
        await waitFor(async () => (await t.query('SELECT * FROM messages WHERE externalId = ?', [id])).length === 1, 5000, 'the normal message');
        expect(await count('tickets')).to.be.at.most(beforeTickets + 1);
      });

      it('stores every message of a batch with several entries, changes and messages', async () => {
        const a = newPhone();
        const b = newPhone();
        const c = newPhone();
        const ts = Math.floor(Date.now() / 1000);
        const ids = Array.from({ length: 6 }, () => newWamid());
        const body = waEnvelope([
          [
            waChange([waMessage({ from: a, id: ids[0]!, text: 'a1', timestamp: ts }), waMessage({ from: a, id: ids[1]!, text: 'a2', timestamp: ts + 1 })], [{ wa_id: a }]),
            waChange([waMessage({ from: b, id: ids[2]!, text: 'b1', timestamp: ts })], [{ wa_id: b }]),
          ],
          [waChange([waMessage({ from: c, id: ids[3]!, text: 'c1', timestamp: ts }), waMessage({ from: b, id: ids[4]!, text: 'b2', timestamp: ts + 1 }), waMessage({ from: c, id: ids[5]!, text: 'c2', timestamp: ts + 2 })], [{ wa_id: c }, { wa_id: b }])],
        ]);
        const res = await t.webhook(body);
        expect(res.status).to.equal(200);
        expect(res.body.accepted).to.equal(6);
        await waitFor(async () => (await t.query(`SELECT id FROM messages WHERE externalId IN (${ids.map(() => '?').join(',')})`, ids)).length === 6, 5000, 'six messages');
        for (const [phone, texts] of [[a, ['a1', 'a2']], [b, ['b1', 'b2']], [c, ['c1', 'c2']]] as const) {
          const tickets = await ticketsOf(t, phone);
          expect(tickets, phone).to.have.length(1);
          expect((await inboundMessagesOf(t, tickets[0].id)).map((m) => m.text)).to.deep.equal(texts);
        }
      });
    });
  });
}
