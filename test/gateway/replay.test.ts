import { expect } from 'chai';
import { backends, newPhone, newWamid, startGateway, ticketsOf, waitFor, waTextBody, type TestGateway } from '../helpers/gateway-harness.js';

// A crash can leave an inbound row un-finished after its message was stored; by the
// time it is replayed the ticket may be closed. The replay must not open a new ticket.
for (const backend of backends()) {
  describe(`replaying a stored message after its ticket closed (${backend})`, function () {
    this.timeout(30_000);
    let t: TestGateway;
    before(async () => {
      t = await startGateway({ backend });
    });
    after(async () => t?.stop());

    it('threads into nothing new: the closed ticket keeps the message, no empty ticket appears', async () => {
      const phone = newPhone();
      const wamid = newWamid();
      await t.webhook(waTextBody({ from: phone, id: wamid, text: 'hi' }));
      await waitFor(() => t.graph.to(phone).length === 1, 10_000, 'the welcome menu');
      const [ticket] = await ticketsOf(t, phone);
      expect((await t.api('POST', `/api/tickets/${ticket.id}/takeover`)).status).to.equal(200);
      expect((await t.api('PATCH', `/api/tickets/${ticket.id}`, { status: 'closed' })).status).to.equal(200);

      // the row as a crash between threading and the end of processing would leave it
      await t.gw.db.sql.execute("UPDATE inbound SET status = 'received' WHERE externalId = ?", [wamid]);
      await t.gw.pipeline.recover(0);
      await waitFor(async () => (await t.query("SELECT status FROM inbound WHERE externalId = ?", [wamid]))[0]?.status === 'done', 10_000, 'the replayed row done');

      const tickets = await ticketsOf(t, phone);
      expect(tickets.map((x: any) => [x.id, x.status])).to.deep.equal([[ticket.id, 'closed']]);
      expect(await t.query('SELECT id FROM messages WHERE externalId = ?', [wamid])).to.have.length(1);
      await t.gw.dispatcher.drain();
      expect(t.graph.to(phone)).to.have.length(1);
    });
  });
}
