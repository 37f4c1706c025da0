// The five-minute tour in real Chromium, inbox and simulator side by side: a WhatsApp
// persona says hi and taps "Talk to an agent"; the ticket appears live in the inbox
// as an agent ticket; the agent replies and the reply shows in the simulator; the
// agent closes; the persona writes again and the bot answers.

import { expect } from 'chai';
import type { Browser } from 'playwright-core';
import { backends, newPhone, startGateway, type TestGateway } from '../helpers/gateway-harness.js';
import { browserSuite, screenshot, signIn, watchErrors } from '../helpers/browser.js';

for (const backend of backends()) {
  describe(`browser: the five-minute tour (${backend === 'sqlite' ? 'SQLite + in-process' : 'MySQL + Redis'})`, function () {
    this.timeout(90_000);
    let t: TestGateway;
    let browser: Browser;

    browserSuite(() => startGateway({ backend }), (g, b) => ((t = g), (browser = b)));

    it('simulator hi → "Talk to an agent" → live agent ticket → reply → close → the bot answers again', async () => {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const inbox = await context.newPage();
      const sim = await context.newPage();
      const inboxErrors = watchErrors(inbox);
      const simErrors = watchErrors(sim);

      // Some other work in the queue, so the list looks like a working day.
      for (const [subject, priority] of [['Refund for order A-1042', 'urgent'], ['Printer jam in the warehouse', 'low'], ['Update the FAQ on returns', 'medium']]) {
        expect((await t.api('POST', '/api/tickets', { subject, priority })).status).to.equal(201);
      }

      // The agent signs in and goes online, so the handoff assigns the ticket to them.
      await signIn(inbox, t.url, t.adminToken);
      await inbox.getByLabel('My presence').selectOption('online');
      await waitForPresence(t, 'online');
      await inbox.locator('.live-live').waitFor();

      // The customer, in the simulator.
      const phone = newPhone();
      await sim.goto(`${t.url}/simulator?channel=whatsapp&persona=${phone}&name=Ada%20Lovelace`);
      await sim.getByText('online', { exact: true }).waitFor();
      await sim.getByLabel('Message').fill('hi');
      await sim.getByRole('button', { name: 'Send' }).click();
      const agentButton = sim.getByRole('group', { name: 'Reply buttons' }).getByRole('button', { name: 'Talk to an agent' });
      await agentButton.waitFor();
      await screenshot(sim, 'simulator-menu', { doc: true });
      await agentButton.click();
      await sim.getByText("I'm connecting you with one of our agents").waitFor();

      // The ticket appears in the inbox without a reload, as an agent ticket, unread.
      const row = inbox.locator('tr[data-ticket]', { hasText: phone });
      await row.waitFor();
      await row.locator('.type-agent').waitFor();
      expect(await row.locator('.col-status').innerText()).to.equal('Active');
      expect(await row.locator('.col-assignee').innerText()).to.equal('Admin');
      expect(await row.getAttribute('class')).to.contain('unread');
      await screenshot(inbox, 'inbox-list', { doc: true });

      await row.getByRole('link').click();
      await inbox.getByTestId('ticket-type').filter({ hasText: 'Agent ticket' }).waitFor();
      expect(await row.getAttribute('class')).not.to.contain('unread');
      const conversation = inbox.getByRole('list', { name: 'Messages' });
      await conversation.locator('.msg.from-customer', { hasText: 'hi' }).first().waitFor();
      await conversation.locator('.msg.from-bot', { hasText: 'connecting you' }).waitFor();
      await inbox.locator('[data-window="free"]', { hasText: 'left' }).waitFor();

      // The agent replies; the customer reads it in the simulator.
      await inbox.getByLabel('Reply', { exact: true }).fill('Hello Ada, this is Admin. How can I help?');
      await inbox.getByRole('button', { name: 'Send', exact: true }).click();
      await conversation.locator('.msg.from-agent', { hasText: 'How can I help?' }).waitFor();
      const agentMsg = sim.locator('[data-testid="business-message"][data-author="agent"]', { hasText: 'How can I help?' });
      await agentMsg.waitFor();
      // Delivery ticks: the simulator transport reports it sent.
      await conversation.locator('.msg.from-agent .ticks-sent').waitFor();
      await sim.getByLabel('Message').fill('My order never arrived');
      await sim.getByRole('button', { name: 'Send' }).click();
      await conversation.locator('.msg.from-customer', { hasText: 'My order never arrived' }).waitFor();
      await inbox.locator('.detail').evaluate((e) => e.scrollTo(0, 0));
      await screenshot(inbox, 'inbox-ticket', { doc: true });
      await screenshot(sim, 'simulator-agent-reply', { doc: true });

      // The agent closes the ticket.
      await inbox.getByRole('group', { name: 'Ticket actions' }).getByRole('button', { name: 'Close' }).click();
      await inbox.locator('.detail-head .badge.st-closed').waitFor();
      await inbox.getByText('This ticket is closed').waitFor();

      // The customer writes again: a new ticket, and the bot answers first.
      const botBefore = await sim.locator('[data-testid="business-message"][data-author="bot"]').count();
      await sim.getByLabel('Message').fill('hello again');
      await sim.getByRole('button', { name: 'Send' }).click();
      await sim.locator('[data-testid="business-message"][data-author="bot"]').nth(botBefore).waitFor();
      const last = sim.locator('[data-testid="business-message"]').last();
      expect(await last.getAttribute('data-author')).to.equal('bot');
      await last.getByRole('button', { name: 'Talk to an agent' }).waitFor();
      await screenshot(sim, 'simulator-bot-again', { doc: true });

      const tickets = await t.query(
        "SELECT t.id, t.status, t.type FROM tickets t JOIN contact_identities i ON i.contactId = t.contactId WHERE i.value = ? ORDER BY t.createdAt, t.id",
        [phone],
      );
      expect(tickets.map((x) => [x.status, x.type])).to.deep.equal([['closed', 'agent'], ['active', 'bot']]);
      // The whole story at a glance: the closed ticket and the customer's chat side by side.
      const both = await context.newPage();
      await both.setViewportSize({ width: 1600, height: 900 });
      // A same-origin host page, so the inbox frame shares the signed-in storage.
      await both.goto(`${t.url}/styles.css`);
      await both.setContent(`<style>body{margin:0;display:flex;gap:4px;background:#888}iframe{border:0;width:50%;height:100vh;background:#fff}</style>
        <iframe title="Inbox" src="${t.url}/#/t/${tickets[0].id}"></iframe>
        <iframe title="Simulator" src="${t.url}/simulator?channel=whatsapp&persona=${phone}&name=Ada%20Lovelace"></iframe>`);
      await both.frameLocator('iframe[title="Inbox"]').locator('.detail-head .badge.st-closed').waitFor();
      await both.frameLocator('iframe[title="Simulator"]').getByRole('button', { name: 'Talk to an agent' }).last().waitFor();
      await screenshot(both, 'tour-side-by-side', { doc: true });

      expect(inboxErrors, inboxErrors.join('\n')).to.deep.equal([]);
      expect(simErrors, simErrors.join('\n')).to.deep.equal([]);
      await context.close();
    });

    it('the simulator draws Instagram choices as quick replies, and a tap answers the bot', async () => {
      const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
      const sim = await context.newPage();
      const errors = watchErrors(sim);
      await sim.goto(`${t.url}/simulator`);
      await sim.getByLabel('Channel').selectOption('instagram');
      await sim.getByText('Instagram Direct').waitFor();
      expect(await sim.getByLabel('Instagram user id').inputValue()).to.match(/^\d+$/);
      await sim.getByText('online', { exact: true }).waitFor();
      await sim.getByLabel('Message').fill('hi');
      await sim.getByRole('button', { name: 'Send' }).click();
      const quick = sim.getByRole('group', { name: 'Quick replies' }).last();
      await quick.getByRole('button', { name: 'FAQ' }).click();
      // The FAQ flow answers the tap.
      await sim.locator('[data-testid="business-message"][data-author="bot"]').nth(1).waitFor();
      await screenshot(sim, 'simulator-instagram-phone');
      // The persona is in the address: a reload keeps the conversation.
      const url = sim.url();
      expect(url).to.contain('channel=instagram');
      await sim.reload();
      await sim.locator('[data-testid="customer-message"]', { hasText: 'FAQ' }).waitFor();
      expect(errors, errors.join('\n')).to.deep.equal([]);
      await context.close();
    });
  });
}

async function waitForPresence(t: TestGateway, presence: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const rows = await t.query("SELECT presence FROM users WHERE role = 'admin'");
    if (rows.some((r) => r.presence === presence)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`the admin never became ${presence}`);
}
