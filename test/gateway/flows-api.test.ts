import { expect } from 'chai';
import { backends, newPhone, newWamid, startGateway, waitFor, waTextBody, type TestGateway } from '../helpers/gateway-harness.js';

for (const backend of backends()) {
  describe(`designer API: /api/flows (${backend})`, function () {
    this.timeout(30_000);
    let t: TestGateway;
    before(async () => {
      t = await startGateway({ backend });
    });
    after(async () => t?.stop());

    it('lists the loaded flows with their versions and the problems of the last load', async () => {
      const res = await t.api('GET', '/api/flows');
      expect(res.status).to.equal(200);
      expect(res.body.flows.map((f: any) => f.name).sort()).to.deep.equal(['faq', 'feedback', 'order-status', 'welcome']);
      expect(res.body.flows[0].hash).to.match(/^[0-9a-f]{16}$/);
      expect(res.body.problems.filter((p: any) => p.severity === 'error')).to.deep.equal([]);
      expect((await t.api('GET', '/api/flows', undefined, null)).status).to.equal(401);
    });

    it('keeps what the bot did not understand, per flow and node, for designers', async () => {
      const phone = newPhone();
      await t.webhook(waTextBody({ from: phone, id: newWamid(), text: 'hi' }));
      await waitFor(() => t.graph.to(phone).length === 1, 10_000, 'the welcome menu');
      const odd = `xyzzy plugh ${phone}`;
      await t.webhook(waTextBody({ from: phone, id: newWamid(), text: odd }));
      const item = await waitFor(async () => (await t.api('GET', '/api/flows/misunderstood?flow=welcome')).body.items.find((m: any) => m.text.includes(phone)), 10_000, 'the misunderstood entry');
      expect(item).to.deep.include({ flow: 'welcome', count: 1 });
      expect(item.node).to.be.a('string').and.not.equal('');
      expect((await t.api('GET', '/api/flows/misunderstood?flow=faq')).body.items.some((m: any) => m.text.includes(phone))).to.equal(false);
    });

    it('reloads on request (admins only)', async () => {
      const agent = await t.api('POST', '/api/agents', { name: 'Designer', email: `d${Date.now()}@example.com`, role: 'agent' });
      expect(agent.status).to.equal(201);
      expect((await t.api('POST', '/api/flows/reload', {}, agent.body.token)).status).to.equal(403);
      const res = await t.api('POST', '/api/flows/reload', {});
      expect(res.status).to.equal(200);
      expect(res.body.flows).to.have.length(4);
    });
  });
}
