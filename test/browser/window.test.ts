// In real Chromium: the composer follows the channel's window (SPEC §3.7). Outside the
// WhatsApp 24-hour window it offers only approved templates, with their parameters,
// and the send reaches the customer; Instagram after 24 h is "human agent" mode.
// The customers are simulator personas; time moves by an injected clock.

import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { ManualClock } from '../../gateway/clock.js';
import { backends, newPhone, rand, startGateway, waitFor, type TestGateway } from '../helpers/gateway-harness.js';
import { browserSuite, screenshot, signIn, watchErrors } from '../helpers/browser.js';

const HOUR = 3_600_000;

for (const backend of backends()) {
  describe(`browser: the composer and the channel windows (${backend === 'sqlite' ? 'SQLite + in-process' : 'MySQL + Redis'})`, function () {
    this.timeout(90_000);
    let t: TestGateway;
    let browser: Browser;
    const clock = new ManualClock(Date.now());

    browserSuite(() => startGateway({ backend, clock }), (g, b) => ((t = g), (browser = b)), async () => {
      const put = await t.api('PUT', '/api/templates', [
        { name: 'order_shipped', language: 'en', category: 'UTILITY', status: 'approved', body: 'Hi {{1}}, your order {{2}} has shipped.' },
        { name: 'summer_promo', language: 'en', category: 'MARKETING', status: 'pending', body: 'Summer sale!' },
      ]);
      expect(put.status, JSON.stringify(put.body)).to.equal(200);
    });

    /** A simulator customer asks for an agent; resolves with the agent ticket's id. */
    async function agentTicket(channel: 'whatsapp' | 'instagram', persona: string, name: string): Promise<string> {
      const res = await fetch(`${t.url}/simulator/api/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ channel, persona, name, text: 'talk to an agent' }),
      });
      expect(res.status).to.equal(202);
      const row = await waitFor(async () => {
        const rows = await t.query(
          "SELECT t.id FROM tickets t JOIN contact_identities i ON i.contactId = t.contactId WHERE t.channel = ? AND i.value = ? AND t.type = 'agent'",
          [channel, persona],
        );
        return rows[0];
      }, 10_000, 'the agent ticket');
      return row.id;
    }

    async function openTicket(id: string): Promise<{ page: Page; errors: string[] }> {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      await page.clock.setFixedTime(clock.now());
      const errors = watchErrors(page);
      await signIn(page, t.url, t.adminToken);
      await page.goto(`${t.url}/#/t/${id}`);
      await page.getByRole('region', { name: /Reply/ }).waitFor();
      return { page, errors };
    }

    it('outside the WhatsApp window offers approved templates instead of free text, and the template reaches the customer', async () => {
      const phone = newPhone();
      const id = await agentTicket('whatsapp', phone, 'Ada');
      clock.advance(25 * HOUR);

      const { page, errors } = await openTicket(id);
      await page.locator('[data-window="template"]', { hasText: 'window is closed' }).waitFor();
      expect(await page.getByLabel('Reply', { exact: true }).count(), 'no free-text box').to.equal(0);
      // Only the approved template is offered (a label's name includes the chosen option).
      const select = page.getByRole('combobox', { name: /^Template/ });
      expect(await select.locator('option').evaluateAll((os) => os.map((o) => o.textContent))).to.deep.equal(['order_shipped (en)']);
      await page.getByLabel('Parameter {{1}}').fill('Ada');
      await page.getByLabel('Parameter {{2}}').fill('A-1042');
      await page.getByLabel('Preview').getByText('Hi Ada, your order A-1042 has shipped.').waitFor();
      // A taller window for the picture, so the whole ticket and picker fit.
      await page.setViewportSize({ width: 1280, height: 1000 });
      await page.locator('.detail').evaluate((e) => e.scrollTo(0, 0));
      await screenshot(page, 'inbox-template-composer', { doc: true });
      await page.getByRole('button', { name: 'Send template' }).click();

      const sent = page.getByRole('list', { name: 'Messages' }).locator('.msg.from-agent', { hasText: 'Hi Ada, your order A-1042 has shipped.' });
      await sent.waitFor();
      await sent.getByText('Template “order_shipped”').waitFor();
      expect(await page.locator('[role="alert"]').count()).to.equal(0);

      // The customer got it, as a template, in the simulator.
      const entry = await waitFor(() => t.gw.simulator!.transcript('whatsapp', phone).find((e) => e.template?.name === 'order_shipped'), 5000, 'the template in the simulator');
      expect(entry.text).to.equal('Hi Ada, your order A-1042 has shipped.');
      // The page and the API agree: free text is refused now.
      const free = await t.api('POST', `/api/tickets/${id}/messages`, { text: 'hello?' });
      expect(free.status).to.equal(422);
      expect(free.body.error.code).to.equal('template_required');
      expect(errors, errors.join('\n')).to.deep.equal([]);
      await page.context().close();
    });

    it('a refused free-text send shows the API\'s reason and switches to templates', async () => {
      const phone = newPhone();
      const id = await agentTicket('whatsapp', phone, 'Grace');
      // The page was loaded while the window was open; then the gateway's clock passes it.
      // Its view is kept as loaded (the scheduler's events would otherwise refresh it
      // into template mode, which is right but not what this test is about).
      const { page } = await openTicket(id);
      await page.locator('[data-window="free"]').waitFor();
      const stale = await (await page.request.get(`${t.url}/api/tickets/${id}`, { headers: { authorization: `Bearer ${t.adminToken}` } })).text();
      await page.route(`${t.url}/api/tickets/${id}`, (route) => (route.request().method() === 'GET' ? route.fulfill({ body: stale, contentType: 'application/json' }) : route.continue()));
      clock.advance(25 * HOUR);
      await page.getByLabel('Reply', { exact: true }).fill('Are you still there?');
      await page.getByRole('button', { name: 'Send', exact: true }).click();
      await page.getByRole('alert').filter({ hasText: 'only an approved template can be sent' }).waitFor();
      await page.getByRole('combobox', { name: /^Template/ }).waitFor();
      await page.context().close();
    });

    it('Instagram after 24 h is "human agent" mode and the message goes with the HUMAN_AGENT tag', async () => {
      const igsid = `1784${rand(6).replace(/\D/g, '7')}`;
      const id = await agentTicket('instagram', igsid, 'Linus');
      clock.advance(30 * HOUR);
      const { page, errors } = await openTicket(id);
      await page.locator('[data-window="human_agent"]', { hasText: 'Human agent mode' }).waitFor();
      await page.getByLabel('Reply', { exact: true }).fill('Sorry for the wait, here is your answer.');
      await page.getByRole('button', { name: 'Send', exact: true }).click();
      await page.getByRole('list', { name: 'Messages' }).locator('.msg.from-agent', { hasText: 'Sorry for the wait' }).waitFor();
      const entry = await waitFor(() => t.gw.simulator!.transcript('instagram', igsid).find((e) => e.author === 'agent'), 5000, 'the agent message in the simulator');
      expect(entry.tag).to.equal('HUMAN_AGENT');
      expect(errors, errors.join('\n')).to.deep.equal([]);
      await page.context().close();
    });
  });
}
