// The main agent tasks in real Chromium: create an internal task, edit its fields,
// comment, move it through the statuses the machine allows; take a bot conversation
// over and hand it back; export; admin settings (categories, templates, agents). And
// the page itself: first load weight, labelled controls, keyboard, phone width.

import { expect } from 'chai';
import fs from 'node:fs';
import { gzipSync } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import { backends, newPhone, rand, startGateway, waitFor, type TestGateway } from '../helpers/gateway-harness.js';
import { browserSuite, screenshot, signIn, watchErrors } from '../helpers/browser.js';

for (const backend of backends()) {
  describe(`browser: agent tasks, settings and the page (${backend === 'sqlite' ? 'SQLite + in-process' : 'MySQL + Redis'})`, function () {
    this.timeout(90_000);
    let t: TestGateway;
    let browser: Browser;
    const tag = rand(3);

    browserSuite(() => startGateway({ backend }), (g, b) => ((t = g), (browser = b)));

    async function open(viewport = { width: 1280, height: 800 }): Promise<{ page: Page; errors: string[] }> {
      const context = await browser.newContext({ viewport, acceptDownloads: true });
      const page = await context.newPage();
      const errors = watchErrors(page);
      await signIn(page, t.url, t.adminToken);
      return { page, errors };
    }

    it('creates an internal task, edits fields, comments, and offers only allowed status moves', async () => {
      const { page, errors } = await open();
      await page.getByRole('button', { name: 'New ticket' }).click();
      const dialog = page.getByRole('dialog', { name: 'New ticket' });
      await dialog.getByLabel('Subject').fill(`Restock the returns shelf ${tag}`);
      await dialog.getByLabel('Description').fill('Boxes from last week');
      await dialog.getByLabel('Priority').selectOption('high');
      await dialog.getByRole('button', { name: 'Create ticket' }).click();
      await page.getByRole('heading', { name: `Restock the returns shelf ${tag}` }).waitFor();
      const id = decodeURIComponent(new URL(page.url()).hash.replace('#/t/', ''));
      expect(id).to.match(/^[A-Z0-9]+$/);

      // Pending: the only move is to take it.
      const actions = page.getByRole('group', { name: 'Ticket actions' });
      expect(await actions.getByRole('button').allInnerTexts()).to.deep.equal(['Assign to me']);
      // Offline agents can't take tickets: the page says why.
      await actions.getByRole('button', { name: 'Assign to me' }).click();
      await page.getByRole('alert').filter({ hasText: 'only online agents can take tickets' }).waitFor();
      await page.getByLabel('My presence').selectOption('online');
      await page.locator('.presence-switch select.p-online').waitFor();
      // Going online offers the queue to me: the router may assign it before I click.
      const assign = actions.getByRole('button', { name: 'Assign to me' });
      if (await assign.isVisible()) await assign.click();
      await page.locator('.detail-head .badge.st-active').waitFor();
      expect(await actions.getByRole('button').allInnerTexts()).to.deep.equal(['Put on hold', 'Resolve', 'Close']);

      // Fields: priority and tags.
      await page.locator('.fields-box summary').click();
      await page.getByRole('group', { name: 'Ticket fields' }).getByLabel('Priority').selectOption('urgent');
      await page.locator('.fields-box summary', { hasText: 'Urgent' }).waitFor();
      await page.getByLabel('Tags').fill('warehouse, returns');
      await page.getByLabel('Tags').press('Enter');
      await page.locator('.fields-box summary', { hasText: '#returns' }).waitFor();

      // A comment.
      await page.getByRole('tab', { name: /Comments/ }).click();
      await page.getByLabel('Add a comment').fill('Ask Sam for the key');
      await page.getByRole('button', { name: 'Add comment' }).click();
      await page.locator('.remark-list', { hasText: 'Ask Sam for the key' }).waitFor();
      // Its author may edit it.
      await page.locator('.remark-list').getByRole('button', { name: 'Edit' }).click();
      await page.getByLabel('Edit comment').fill('Ask Sam for the key (he is in at 9)');
      await page.getByRole('button', { name: 'Save' }).click();
      await page.locator('.remark-list', { hasText: 'he is in at 9' }).waitFor();

      // Tabs move with the arrow keys.
      await page.getByRole('tab', { name: /Comments/ }).focus();
      await page.keyboard.press('ArrowLeft');
      await page.getByRole('tab', { name: /Timeline/, selected: true }).waitFor();
      await page.getByRole('tabpanel').getByText('Status Pending → Active').waitFor();

      await actions.getByRole('button', { name: 'Put on hold' }).click();
      await page.locator('.detail-head .badge.st-on_hold').waitFor();
      // An admin may assign an on-hold ticket again.
      expect(await actions.getByRole('button').allInnerTexts()).to.include('Assign & activate');

      const api = await t.api('GET', `/api/tickets/${id}`);
      expect(api.body.priority).to.equal('urgent');
      expect(api.body.tags).to.deep.equal(['warehouse', 'returns']);
      expect(api.body.status).to.equal('on_hold');
      expect(api.body.timeline.filter((e: any) => e.type === 'comment').map((e: any) => e.body)).to.deep.equal(['Ask Sam for the key (he is in at 9)']);
      expect(errors, errors.join('\n')).to.deep.equal([]);
      await page.context().close();
    });

    it('takes a bot conversation over and hands it back to the bot', async () => {
      const phone = newPhone();
      const res = await fetch(`${t.url}/simulator/api/messages`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'whatsapp', persona: phone, name: 'Bob', text: 'hi' }),
      });
      expect(res.status).to.equal(202);
      const [row] = await waitFor(async () => {
        const rows = await t.query("SELECT t.id FROM tickets t JOIN contact_identities i ON i.contactId = t.contactId WHERE i.value = ?", [phone]);
        return rows.length ? rows : null;
      }, 5000, 'the bot ticket');
      const { page, errors } = await open();
      await page.goto(`${t.url}/#/t/${row.id}`);
      await page.getByText('The bot is answering this conversation').waitFor();
      await page.getByRole('region', { name: 'Reply' }).getByRole('button', { name: 'Take over' }).click();
      await page.getByTestId('ticket-type').filter({ hasText: 'Agent ticket' }).waitFor();
      // A reply with an attachment (multipart), downloadable from the conversation.
      await page.getByLabel('Reply', { exact: true }).fill('Here is the form');
      await page.getByLabel('Attach files').setInputFiles({ name: 'return-form.txt', mimeType: 'text/plain', buffer: Buffer.from('RMA 42\n') });
      await page.getByRole('button', { name: 'Send', exact: true }).click();
      const link = page.getByRole('list', { name: 'Attachments' }).getByRole('link', { name: /return-form\.txt/ });
      await link.waitFor();
      const [file] = await Promise.all([page.waitForEvent('download'), link.click()]);
      expect(file.suggestedFilename()).to.equal('return-form.txt');
      expect(fs.readFileSync((await file.path())!, 'utf8')).to.equal('RMA 42\n');
      expect(await page.getByLabel('Attach files').evaluate((e) => (e as HTMLInputElement).files?.length)).to.equal(0);
      await page.getByRole('button', { name: 'Hand back to bot' }).click();
      await page.getByTestId('ticket-type').filter({ hasText: 'Bot ticket' }).waitFor();
      // A follow-up ticket from this conversation; a second one needs "Create anyway".
      for (const second of [false, true]) {
        await page.goto(`${t.url}/#/t/${row.id}`);
        await page.getByRole('button', { name: 'New linked ticket' }).click();
        const dialog = page.getByRole('dialog', { name: 'New ticket' });
        await dialog.getByLabel(`From ${row.id}`).waitFor();
        await dialog.getByRole('button', { name: 'Create ticket' }).click();
        if (second) {
          await dialog.getByRole('alert').waitFor();
          await dialog.getByRole('button', { name: 'Create anyway' }).click();
        }
        await page.locator('.detail-head .meta', { hasText: `linked to ${row.id}` }).waitFor();
      }
      const linked = await t.query('SELECT id FROM tickets WHERE linkedTicketId = ?', [row.id]);
      expect(linked).to.have.length(2);

      const tk = await t.api('GET', `/api/tickets/${row.id}`);
      expect(tk.body.type).to.equal('bot');
      expect(tk.body.timeline.filter((e: any) => e.type === 'handler').map((e: any) => e.to)).to.deep.equal(['agent', 'bot']);
      expect(errors, errors.join('\n')).to.deep.equal([]);
      await page.context().close();
    });

    it('starts a WhatsApp conversation with an approved template (a proactive ticket)', async () => {
      const put = await t.api('PUT', '/api/templates', [
        { name: 'appointment_reminder', language: 'en', category: 'UTILITY', status: 'approved', body: 'Hello {{1}}, see you on {{2}}.' },
      ]);
      expect(put.status, JSON.stringify(put.body)).to.equal(200);
      const phone = newPhone();
      const { page, errors } = await open();
      await page.getByRole('button', { name: 'New ticket' }).click();
      const dialog = page.getByRole('dialog', { name: 'New ticket' });
      await dialog.getByLabel('Message a customer').check();
      await dialog.getByLabel('Phone number').fill(phone);
      await dialog.getByLabel('Customer name (optional)').fill('Carol');
      await dialog.getByLabel('Parameter {{1}}').fill('Carol');
      await dialog.getByLabel('Parameter {{2}}').fill('Monday');
      await dialog.getByText('Hello Carol, see you on Monday.').waitFor();
      await dialog.getByRole('button', { name: 'Create ticket' }).click();
      await page.locator('.detail-head .badge.st-proactive').waitFor();
      await page.getByRole('list', { name: 'Messages' }).locator('.msg.from-agent', { hasText: 'Hello Carol, see you on Monday.' }).waitFor();
      const [tk] = await t.query(
        "SELECT t.status, t.assigneeId FROM tickets t JOIN contact_identities i ON i.contactId = t.contactId WHERE i.value = ?",
        [phone.replace(/\D/g, '')],
      );
      expect(tk.status).to.equal('proactive');
      expect(errors, errors.join('\n')).to.deep.equal([]);
      await page.context().close();
    });

    it('exports the tickets as JSON from the export dialog', async () => {
      const { page, errors } = await open();
      await page.getByRole('button', { name: 'Export' }).click();
      const dialog = page.getByRole('dialog', { name: 'Export tickets' });
      await dialog.getByLabel('JSON').check();
      await dialog.getByLabel('Channel').selectOption('internal');
      const [download] = await Promise.all([page.waitForEvent('download'), dialog.getByRole('button', { name: 'Download' }).click()]);
      expect(download.suggestedFilename()).to.match(/^tickets-\d{4}-\d{2}-\d{2}\.json$/);
      const body = JSON.parse(fs.readFileSync((await download.path())!, 'utf8'));
      const items: any[] = Array.isArray(body) ? body : body.items ?? body.tickets;
      expect(items.map((x) => x.subject)).to.include(`Restock the returns shelf ${tag}`);
      expect(items.every((x) => x.channel === 'internal')).to.equal(true);
      await dialog.getByText(/^Done: .* KB downloaded\.$/).waitFor();
      expect(errors, errors.join('\n')).to.deep.equal([]);
      await page.context().close();
    });

    it('admin settings: categories, templates, a new agent with a token shown once', async () => {
      const { page, errors } = await open();
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).click();
      await page.getByRole('heading', { name: 'SLA & automations' }).waitFor();
      await page.getByLabel('Urgent first response').fill('10m');
      await page.getByRole('button', { name: 'Save settings' }).click();
      await page.getByText('Saved.').waitFor();
      expect((await t.api('GET', '/api/settings')).body.sla.urgent.firstResponse).to.equal('10m');
      await page.evaluate(() => window.scrollTo(0, 0));
      await screenshot(page, 'settings-sla', { doc: true });

      const nav = page.getByRole('navigation', { name: 'Settings pages' });
      await nav.getByRole('link', { name: 'Categories' }).click();
      await page.getByLabel('New category').fill(`Returns ${tag}`);
      await page.getByRole('button', { name: 'Add category' }).click();
      await page.getByRole('button', { name: `Remove Returns ${tag}` }).waitFor();
      expect((await t.api('GET', '/api/categories')).body).to.include(`Returns ${tag}`);

      await nav.getByRole('link', { name: 'Templates' }).click();
      await page.getByLabel('Name').fill(`welcome_back_${tag}`);
      await page.getByLabel('Body').fill('Welcome back {{1}}!');
      await page.getByRole('button', { name: 'Save template' }).click();
      await page.getByRole('rowheader', { name: `welcome_back_${tag}` }).waitFor();

      await nav.getByRole('link', { name: 'Agents' }).click();
      // The templates form (also with a "Name" field) stays until the agents page renders:
      // filling before that typed into the old page (seen once in a full run).
      await page.getByRole('heading', { name: 'Add an agent' }).waitFor();
      await page.getByLabel('Name').fill(`Sam ${tag}`);
      await page.getByLabel('May read and write internal notes').check();
      await page.getByRole('button', { name: 'Create agent' }).click();
      const token = (await page.locator('code.token').innerText()).trim();
      expect(token.length).to.be.greaterThan(16);
      const me = await t.api('GET', '/api/agents/me', undefined, token);
      expect(me.status).to.equal(200);
      expect(me.body.permissions).to.deep.equal(['notes']);

      // Channel status: every transport listed with what it still needs.
      await nav.getByRole('link', { name: 'Channels' }).click();
      await page.getByRole('rowheader', { name: 'Instagram' }).waitFor();
      expect(await page.locator('table.grid tbody tr').count()).to.be.greaterThan(2);
      expect(errors, errors.join('\n')).to.deep.equal([]);
      await page.context().close();
    });

    it('draws the whatsapp-web login QR from the channel status', async () => {
      const qr = `2@${rand(16)},${rand(12)}==,${rand(12)}==`;
      const { page, errors } = await open();
      // The gateway here runs no whatsapp-web session: its status entry is added to the real answer.
      const real = (await t.api('GET', '/api/channels')).body;
      await page.route(`${t.url}/api/channels`, (route) => route.fulfill({
        contentType: 'application/json',
        body: JSON.stringify([...real, { channel: 'whatsapp', transport: 'whatsapp-web', account: 'whatsapp-web', configured: false, missing: [], webhookUrl: null, status: 'qr', qr }]),
      }));
      await page.goto(`${t.url}/#/settings/channels`);
      const svg = page.getByRole('img', { name: 'WhatsApp Web login QR code' });
      await svg.waitFor();
      // The same library in Node draws the same modules for that string.
      const { default: qrcode } = await import('qrcode-generator');
      const code = qrcode(0, 'L');
      code.addData(qr);
      code.make();
      let d = '';
      for (let r = 0; r < code.getModuleCount(); r++) for (let c = 0; c < code.getModuleCount(); c++) if (code.isDark(r, c)) d += `M${c + 4} ${r + 4}h1v1h-1z`;
      expect(await svg.locator('path').getAttribute('d')).to.equal(d);
      await screenshot(page, 'settings-channels-qr');
      expect(errors, errors.join('\n')).to.deep.equal([]);
      await page.context().close();
    });

    it('loads under 200 KB, labels every control, works by keyboard and at phone width', async () => {
      const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
      const page = await context.newPage();
      const errors = watchErrors(page);
      const sizes = new Map<string, number>();
      page.on('response', async (r) => {
        if (new URL(r.url()).pathname.startsWith('/api/')) return;
        try {
          sizes.set(r.url(), gzipSync(await r.body()).length);
        } catch {
          /* redirects have no body */
        }
      });
      await signIn(page, t.url, t.adminToken);
      const total = [...sizes.values()].reduce((a, b) => a + b, 0);
      expect(total, `first load ${total} bytes gzipped`).to.be.lessThan(200 * 1024);
      console.log(`      first load: ${sizes.size} files, ${(total / 1024).toFixed(1)} KB gzipped`);

      // Every form control has an accessible name.
      const unlabelled = await page.evaluate(() => Array.from(document.querySelectorAll('input, select, textarea'))
        .filter((el) => !(el as HTMLInputElement).labels?.length && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
        .map((el) => el.outerHTML.slice(0, 80)));
      expect(unlabelled).to.deep.equal([]);

      // Phone: no sideways scrolling; the list, then the ticket alone with a way back.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow).to.be.at.most(0);
      await screenshot(page, 'inbox-phone-list', { doc: true });
      // Keyboard: "/" is search; arrows move between tickets; Enter opens one.
      await page.keyboard.press('/');
      expect(await page.evaluate(() => (document.activeElement as HTMLInputElement).type)).to.equal('search');
      const links = page.locator('tr[data-ticket] a.subject');
      expect(await links.count()).to.be.greaterThan(1);
      await links.first().focus();
      await page.keyboard.press('ArrowDown');
      const second = await links.nth(1).getAttribute('href');
      expect(await page.evaluate(() => document.activeElement?.getAttribute('href'))).to.equal(second);
      await page.keyboard.press('Enter');
      await page.waitForURL((u) => u.hash === second);
      await page.getByRole('link', { name: '← Tickets' }).waitFor();
      expect(await page.locator('.list-pane').isVisible()).to.equal(false);
      expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).to.be.at.most(0);
      await screenshot(page, 'inbox-phone-ticket');
      await page.getByRole('link', { name: '← Tickets' }).click();
      await page.locator('.list-pane').waitFor();
      expect(errors, errors.join('\n')).to.deep.equal([]);
      await context.close();
    });
  });
}
