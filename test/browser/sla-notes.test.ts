// In real Chromium: a ticket past its SLA shows a red badge and is what the SLA filter
// finds; an agent without the notes permission gets no notes tab and never sees a
// note's text, while one with the permission does. Time moves by an injected clock,
// and the page's clock is pinned to it.

import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import { ManualClock } from '../../gateway/clock.js';
import { backends, rand, startGateway, type TestGateway } from '../helpers/gateway-harness.js';
import { browserSuite, screenshot, signIn, watchErrors } from '../helpers/browser.js';

const MINUTE = 60_000;

for (const backend of backends()) {
  describe(`browser: SLA badge and filter, notes permission (${backend === 'sqlite' ? 'SQLite + in-process' : 'MySQL + Redis'})`, function () {
    this.timeout(90_000);
    let t: TestGateway;
    let browser: Browser;
    const clock = new ManualClock(Date.now());
    const tag = rand(3);

    browserSuite(() => startGateway({ backend, clock, bot: null }), (g, b) => ((t = g), (browser = b)));

    async function page(token: string): Promise<{ page: Page; errors: string[] }> {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const p = await context.newPage();
      await p.clock.setFixedTime(clock.now());
      const errors = watchErrors(p);
      await signIn(p, t.url, token);
      return { page: p, errors };
    }

    it('shows a breached ticket with a red badge and finds it with the SLA filter', async () => {
      const put = await t.api('PUT', '/api/settings', { sla: { high: { firstResponse: '1m', resolution: '5m' } } });
      expect(put.status, JSON.stringify(put.body)).to.equal(200);
      const late = await t.api('POST', '/api/tickets', { subject: `Refund overdue ${tag}`, priority: 'high' });
      expect(late.status, JSON.stringify(late.body)).to.equal(201);
      clock.advance(6 * MINUTE);
      await t.gw.tick();
      const fresh = await t.api('POST', '/api/tickets', { subject: `Invoice question ${tag}`, priority: 'high' });
      expect(fresh.status).to.equal(201);

      const { page: p, errors } = await page(t.adminToken);
      const lateRow = p.locator('tr[data-ticket]', { hasText: `Refund overdue ${tag}` });
      const freshRow = p.locator('tr[data-ticket]', { hasText: `Invoice question ${tag}` });
      await lateRow.waitFor();
      expect(await lateRow.locator('.sla').getAttribute('data-sla')).to.equal('red');
      expect(await lateRow.locator('.sla').evaluate((e) => getComputedStyle(e).backgroundColor)).to.equal('rgb(180, 35, 24)');
      expect(await freshRow.locator('.sla').getAttribute('data-sla')).to.equal('green');

      await p.getByRole('button', { name: /^Filters/ }).click();
      await p.getByLabel('SLA').selectOption('red');
      await freshRow.waitFor({ state: 'detached' });
      await p.getByText('1 ticket', { exact: true }).waitFor();
      expect(await p.locator('tr[data-ticket]').count()).to.equal(1);
      expect(await lateRow.count()).to.equal(1);
      await screenshot(p, 'inbox-sla-filter', { doc: true });

      // The filter is the API's, not only the page's.
      const api = await t.api('GET', '/api/tickets?sla=red');
      expect(api.body.items.map((x: any) => x.id)).to.deep.equal([late.body.id]);
      expect(errors, errors.join('\n')).to.deep.equal([]);
      await p.context().close();
    });

    it('hides internal notes from an agent without the notes permission, and shows them to one with it', async () => {
      const tk = await t.api('POST', '/api/tickets', { subject: `VIP escalation ${tag}` });
      expect(tk.status).to.equal(201);
      const secret = `Customer is on the legal hold list ${rand(4)}`;
      const note = await t.api('POST', `/api/tickets/${tk.body.id}/notes`, { body: secret });
      expect(note.status, JSON.stringify(note.body)).to.equal(201);
      const comment = await t.api('POST', `/api/tickets/${tk.body.id}/comments`, { body: 'Please handle today' });
      expect(comment.status, JSON.stringify(comment.body)).to.equal(201);

      const plain = await t.api('POST', '/api/agents', { name: `Pat ${tag}`, email: `pat-${tag}@example.com`, role: 'agent', permissions: [] });
      const noter = await t.api('POST', '/api/agents', { name: `Nora ${tag}`, email: `nora-${tag}@example.com`, role: 'agent', permissions: ['notes'] });
      expect(plain.status).to.equal(201);
      expect(noter.status).to.equal(201);

      // Without the permission: no notes tab, and the note's text is nowhere in the page.
      const { page: p, errors } = await page(plain.body.token);
      await p.goto(`${t.url}/#/t/${tk.body.id}`);
      await p.getByRole('tab', { name: /Comments/ }).waitFor();
      expect(await p.getByRole('tab', { name: /notes/i }).count()).to.equal(0);
      await p.getByRole('tab', { name: /Comments/ }).click();
      await p.getByText('Please handle today').waitFor();
      await p.getByRole('tab', { name: /Timeline/ }).click();
      await p.getByRole('tab', { name: /Timeline/, selected: true }).waitFor();
      expect(await p.content()).not.to.contain(secret);
      await screenshot(p, 'inbox-no-notes-permission');
      expect(errors, errors.join('\n')).to.deep.equal([]);
      await p.context().close();

      // With it: the tab and the note.
      const { page: q } = await page(noter.body.token);
      await q.goto(`${t.url}/#/t/${tk.body.id}`);
      await q.getByRole('tab', { name: /Internal notes/ }).click();
      await q.getByText(secret).waitFor();
      await screenshot(q, 'inbox-notes', { doc: true });
      await q.context().close();
    });
  });
}
