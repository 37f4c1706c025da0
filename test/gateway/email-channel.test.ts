// The email channel end to end, against real servers: a private Dovecot (IMAP, mail put in
// with APPEND) and a real SMTP listener. Gateways are built with createGateway on SQLite, and
// on MySQL + Redis when TEST_MYSQL_URL and TEST_REDIS_URL are set.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../gateway/config.js';
import { createCoordinator } from '../../gateway/coordination/index.js';
import type { Coordinator } from '../../gateway/coordination/types.js';
import { createLogger } from '../../gateway/log.js';
import { createGateway, type Gateway, type GatewayOverrides } from '../../gateway/server.js';
import { Effects } from '../../tickets/events.js';
import { loadTicket } from '../../tickets/lifecycle.js';
import { startDovecot, type Dovecot } from '../helpers/dovecot.js';
import { baseEnv, backends, dropRedisPrefix, mysqlDatabase, newRedisPrefix, rand, request, sqliteDatabase, waitFor, type Backend, type TestDatabase } from '../helpers/gateway-harness.js';
import { startSmtpSink, type ReceivedMail, type SmtpSink } from '../helpers/smtp-sink.js';

const SUPPORT = 'support@example.com';
const DELIVERY = 10_000; // IMAP IDLE delivery: seconds at most (a NOOP poll would take minutes)

interface MailOpts {
  from: string;
  subject: string;
  id: string;
  body: string;
  name?: string;
  to?: string;
  inReplyTo?: string;
  references?: string[];
  headers?: Record<string, string>;
}

function mail(o: MailOpts): string {
  return [
    `From: ${o.name ?? 'Customer'} <${o.from}>`,
    `To: Support <${o.to ?? SUPPORT}>`,
    `Subject: ${o.subject}`,
    `Message-ID: ${o.id}`,
    `Date: ${new Date().toUTCString()}`,
    ...(o.inReplyTo ? [`In-Reply-To: ${o.inReplyTo}`] : []),
    ...(o.references?.length ? [`References: ${o.references.join(' ')}`] : []),
    ...Object.entries(o.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    o.body,
    '',
  ].join('\r\n');
}

/** A delivery status notification (RFC 3464) for the original message `originalId` sent to `to`. */
function bounce(o: { originalId: string; to: string; id: string }): string {
  const b = `bnd-${rand(4)}`;
  return [
    'From: Mail Delivery System <MAILER-DAEMON@mx.example.org>',
    `To: ${SUPPORT}`,
    'Subject: Undelivered Mail Returned to Sender',
    `Message-ID: ${o.id}`,
    `Date: ${new Date().toUTCString()}`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${b}"`,
    '',
    `--${b}`,
    'Content-Type: text/plain; charset=us-ascii',
    '',
    `I'm sorry to have to inform you that your message could not be delivered to ${o.to}.`,
    '',
    `--${b}`,
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.example.org',
    '',
    `Final-Recipient: rfc822; ${o.to}`,
    'Action: failed',
    'Status: 5.1.1',
    `Diagnostic-Code: smtp; 550 5.1.1 <${o.to}>: Recipient address rejected: User unknown`,
    '',
    `--${b}`,
    'Content-Type: message/rfc822',
    '',
    `From: ${SUPPORT}`,
    `To: ${o.to}`,
    'Subject: Re: Where is my parcel',
    `Message-ID: ${o.originalId}`,
    '',
    'We are looking into it.',
    '',
    `--${b}--`,
    '',
  ].join('\r\n');
}

function withAttachment(o: MailOpts, file: { name: string; type: string; content: Buffer }): string {
  const b = `mix-${rand(4)}`;
  return [
    `From: ${o.name ?? 'Customer'} <${o.from}>`,
    `To: ${SUPPORT}`,
    `Subject: ${o.subject}`,
    `Message-ID: ${o.id}`,
    `Date: ${new Date().toUTCString()}`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${b}"`,
    '',
    `--${b}`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    o.body,
    `--${b}`,
    `Content-Type: ${o.headers?.['x-type'] ?? file.type}; name="${file.name}"`,
    `Content-Disposition: attachment; filename="${file.name}"`,
    'Content-Transfer-Encoding: base64',
    '',
    file.content.toString('base64').replace(/.{76}/g, '$&\r\n'),
    `--${b}--`,
    '',
  ].join('\r\n');
}

const customer = () => `c-${rand(4)}@example.org`;
const mid = (tag = 'm') => `<${tag}-${rand(6)}@example.org>`;

interface Booted {
  gw: Gateway;
  url: string;
  /** Resolves once the watcher finished its first catch-up (it holds the lease and is connected). */
  synced: Promise<void>;
  /** UIDs the watcher handed to the pipeline in this run. */
  delivered: number[];
  api(method: string, p: string, body?: unknown): Promise<{ status: number; body: any }>;
  query<T = any>(q: string, params?: unknown[]): Promise<T[]>;
}

interface Env {
  backend: Backend;
  db: TestDatabase;
  redisPrefix?: string;
  env: Record<string, string>;
  adminToken: string;
}

async function makeEnv(backend: Backend, dovecot: Dovecot, smtp: SmtpSink, mailbox: string, mediaDir: string): Promise<Env> {
  const db = backend === 'mysql' ? await mysqlDatabase() : sqliteDatabase();
  const redisPrefix = backend === 'mysql' ? newRedisPrefix() : undefined;
  const adminToken = `admin-${rand(12)}`;
  const env = {
    ...baseEnv({ databaseUrl: db.url, graphUrl: 'http://127.0.0.1:9', redisPrefix, adminToken }),
    IMAP_URL: dovecot.url(mailbox),
    SMTP_URL: smtp.url,
    SUPPORT_EMAIL: SUPPORT,
    MEDIA_DIR: mediaDir,
  };
  return { backend, db, redisPrefix, env, adminToken };
}

async function boot(e: Env, o: GatewayOverrides = {}): Promise<Booted> {
  const gw = await createGateway(loadConfig(e.env), { log: createLogger(process.env.LOG_LEVEL ?? 'silent'), ...o });
  const watcher = gw.email!.adapter.watcher!;
  const delivered: number[] = [];
  watcher.on('delivered', ({ uid }: { uid: number }) => delivered.push(uid));
  const synced = new Promise<void>((resolve) => watcher.once('synced', () => resolve()));
  const port = await gw.listen(0);
  const url = `http://127.0.0.1:${port}`;
  return {
    gw,
    url,
    synced,
    delivered,
    api: (method, p, body) => request(url, method, p, body, e.adminToken),
    query: (q, params = []) => gw.db.sql.query(q, params as any[]) as any,
  };
}

async function ticketsOf(b: Booted, address: string): Promise<any[]> {
  return b.query(
    "SELECT t.* FROM tickets t JOIN contact_identities i ON i.contactId = t.contactId WHERE t.channel = 'email' AND i.value = ? ORDER BY t.createdAt, t.id",
    [address],
  );
}

async function messagesOf(b: Booted, ticketId: string): Promise<any[]> {
  return b.query('SELECT * FROM messages WHERE ticketId = ? ORDER BY createdAt, id', [ticketId]);
}

/** Closes a ticket through the API (assigned to the admin, who is online meanwhile). */
async function closeTicket(b: Booted, id: string): Promise<void> {
  const admin = ((await b.api('GET', '/api/agents')).body as any[]).find((u) => u.role === 'admin');
  expect((await b.api('PUT', '/api/agents/me/presence', { presence: 'online' })).status).to.equal(200);
  try {
    const t = (await b.api('GET', `/api/tickets/${id}`)).body;
    if (t.status === 'pending') {
      const assigned = await b.api('PATCH', `/api/tickets/${id}`, { assigneeId: admin.id });
      expect(assigned.status, JSON.stringify(assigned.body)).to.equal(200);
    }
    const closed = await b.api('PATCH', `/api/tickets/${id}`, { status: 'closed' });
    expect(closed.status, JSON.stringify(closed.body)).to.equal(200);
  } finally {
    await b.api('PUT', '/api/agents/me/presence', { presence: 'offline' });
  }
}

/** Waits until the inbound row of `externalId` has been processed (done or ignored). */
async function processed(b: Booted, externalId: string): Promise<any> {
  return waitFor(
    async () => (await b.query("SELECT * FROM inbound WHERE externalId = ? AND status IN ('done', 'ignored')", [externalId]))[0],
    DELIVERY,
    `inbound ${externalId} processed`,
  );
}

/** The next mail the SMTP listener receives for `to`, skipping others. */
async function nextMailTo(smtp: SmtpSink, to: string, seen: Set<ReceivedMail>): Promise<ReceivedMail> {
  return waitFor(() => smtp.received.find((m) => !seen.has(m) && m.to.includes(to) && (seen.add(m), true)), DELIVERY, `a mail to ${to}`);
}

for (const backend of backends()) {
  describe(`email channel end to end: IMAP in, SMTP out (${backend})`, function () {
    this.timeout(60_000);
    let dovecot: Dovecot;
    let smtp: SmtpSink;
    let mediaDir: string;
    let e: Env;
    let b: Booted;
    const mailbox = `support-${rand(4)}`;
    const seen = new Set<ReceivedMail>();
    const append = (raw: string) => dovecot.append(mailbox, raw);

    before(async function () {
      this.timeout(700_000); // the first run may install dovecot-imapd
      dovecot = await startDovecot();
      const c = await dovecot.client();
      await c.mailboxCreate(mailbox);
      await c.logout();
      smtp = await startSmtpSink();
      mediaDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatgate-media-'));
      e = await makeEnv(backend, dovecot, smtp, mailbox, mediaDir);
      b = await boot(e);
      await b.synced;
    });

    after(async () => {
      await b?.gw.stop();
      await e?.db.drop().catch(() => undefined);
      if (e?.redisPrefix) await dropRedisPrefix(e.redisPrefix).catch(() => undefined);
      await smtp?.stop();
      await dovecot?.stop();
      if (mediaDir) fs.rmSync(mediaDir, { recursive: true, force: true });
    });

    it('a mail appended to the inbox becomes a pending agent email ticket within seconds (IDLE), stored without bytes in JSON, original kept as a file', async () => {
      const from = customer();
      const id = mid();
      const raw = mail({ from, name: 'Ada Lovelace', subject: 'Invoice 1234 is wrong', id, body: 'Hello,\n\nmy invoice shows the wrong amount.\n\n-- \nAda Lovelace\nAnalytical Engines Ltd' });
      await append(raw);
      const [t] = await waitFor(async () => ((await ticketsOf(b, from)).length ? ticketsOf(b, from) : null), DELIVERY, 'the email ticket');
      expect(t.channel).to.equal('email');
      expect(t.type).to.equal('agent');
      expect(['pending', 'active']).to.include(t.status);
      expect(t.subject).to.equal('Invoice 1234 is wrong');
      expect(t.account).to.equal(SUPPORT);
      const [m] = await messagesOf(b, t.id);
      expect(m.externalId).to.equal(id);
      expect(m.text).to.equal('Hello,\n\nmy invoice shows the wrong amount.');
      // No Buffer went into JSON: the raw source is a file, referenced from an attachments row.
      const [inb] = await b.query('SELECT payload FROM inbound WHERE externalId = ?', [id]);
      expect(inb.payload).to.not.include('"type":"Buffer"');
      expect(m.payload).to.not.include('"type":"Buffer"');
      const atts = await b.query('SELECT * FROM attachments WHERE messageId = ?', [m.id]);
      expect(atts).to.have.length(1);
      expect(atts[0]).to.include({ filename: 'original.eml', contentType: 'message/rfc822', ticketId: t.id });
      const kept = fs.readFileSync(path.join(mediaDir, atts[0].storageKey), 'utf8');
      expect(Number(atts[0].size)).to.equal(Buffer.byteLength(kept));
      expect(atts[0].sha256).to.equal(createHash('sha256').update(kept).digest('hex'));
      expect(kept).to.equal(raw.replace(/\r?\n/g, '\r\n')); // as the IMAP server keeps it (CRLF)
      // Agents can download the original.
      const dl = await fetch(`${b.url}/api/media/${atts[0].id}`, { headers: { authorization: `Bearer ${e.adminToken}` } });
      expect(dl.status).to.equal(200);
      expect(await dl.text()).to.equal(kept);
      // The API shows it too.
      const detail = await b.api('GET', `/api/tickets/${t.id}`);
      expect(detail.status).to.equal(200);
      expect(detail.body.channel).to.equal('email');
    });

    it('keeps attachments as files with attachments rows (message kind media)', async () => {
      const from = customer();
      const id = mid();
      const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.from(rand(200), 'hex')]);
      await append(withAttachment({ from, subject: 'Receipt attached', id, body: 'See the receipt.' }, { name: 'receipt.pdf', type: 'application/pdf', content: pdf }));
      await processed(b, id);
      const [t] = await ticketsOf(b, from);
      const [m] = await messagesOf(b, t.id);
      expect(m.kind).to.equal('media');
      expect(m.text).to.equal('See the receipt.');
      const atts = await b.query('SELECT * FROM attachments WHERE messageId = ? ORDER BY filename', [m.id]);
      expect(atts.map((a) => a.filename)).to.deep.equal(['original.eml', 'receipt.pdf']);
      const file = atts.find((a) => a.filename === 'receipt.pdf');
      expect(file.contentType).to.equal('application/pdf');
      expect(Number(file.size)).to.equal(pdf.length);
      expect(file.sha256).to.equal(createHash('sha256').update(pdf).digest('hex'));
      expect(fs.readFileSync(path.join(mediaDir, file.storageKey)).equals(pdf)).to.equal(true);
    });

    it("an agent's reply goes out over SMTP threaded on the customer's Message-ID; the answer threads into the same ticket even with a changed subject", async () => {
      const from = customer();
      const first = mid('first');
      await append(mail({ from, subject: 'Where is my parcel', id: first, body: 'It did not arrive.' }));
      await processed(b, first);
      const [t] = await ticketsOf(b, from);
      const sent = await b.api('POST', `/api/tickets/${t.id}/messages`, { text: 'We are looking into it.\n\nBest, Support' });
      expect(sent.status).to.equal(201);
      const out = await nextMailTo(smtp, from, seen);
      expect(out.parsed.inReplyTo).to.equal(first);
      expect([out.parsed.references].flat()).to.include(first);
      expect(out.parsed.subject).to.equal('Re: Where is my parcel');
      expect(out.parsed.from?.value[0].address).to.equal(SUPPORT);
      expect(out.parsed.text).to.include('We are looking into it.');
      expect(out.parsed.text).to.include(`[#${t.id}]`);
      expect(out.parsed.html).to.be.a('string').and.include('We are looking into it.');
      expect(out.parsed.headers.get('auto-submitted')).to.equal(undefined); // a person wrote it
      const ourId = out.parsed.messageId!;
      await waitFor(async () => (await b.query("SELECT * FROM messages WHERE ticketId = ? AND direction = 'out' AND status = 'sent'", [t.id]))[0], DELIVERY, 'the message sent');
      const [outRow] = await b.query("SELECT * FROM messages WHERE ticketId = ? AND direction = 'out'", [t.id]);
      expect(outRow.externalId).to.equal(ourId);

      // The customer answers with another subject: In-Reply-To threads it.
      const answer = mid('answer');
      await append(mail({ from, subject: 'Different topic, same parcel', id: answer, inReplyTo: ourId, references: [first, ourId], body: `Thanks!\n\nOn Mon, Support wrote:\n> We are looking into it.\n> [#${t.id}]` }));
      await processed(b, answer);
      const tickets = await ticketsOf(b, from);
      expect(tickets).to.have.length(1);
      const ins = (await messagesOf(b, t.id)).filter((m) => m.direction === 'in');
      expect(ins.map((m) => m.externalId)).to.deep.equal([first, answer]);
      expect(ins[1].text).to.equal('Thanks!');
      expect(tickets[0].subject).to.equal('Where is my parcel');
    });

    it("an agent's reply with a file goes out as a mail with the attachment, threaded on the customer's mail", async () => {
      const from = customer();
      const first = mid();
      await append(mail({ from, subject: 'Need the invoice', id: first, body: 'Please send the invoice.' }));
      await processed(b, first);
      const [t] = await ticketsOf(b, from);
      const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.from(rand(300), 'hex')]);
      const form = new FormData();
      form.append('text', 'Here it is.');
      form.append('file', new Blob([pdf], { type: 'application/pdf' }), 'invoice-1234.pdf');
      const res = await fetch(`${b.url}/api/tickets/${t.id}/messages`, { method: 'POST', headers: { authorization: `Bearer ${e.adminToken}` }, body: form });
      expect(res.status, await res.clone().text()).to.equal(201);
      const out = await nextMailTo(smtp, from, seen);
      expect(out.parsed.inReplyTo).to.equal(first);
      expect(out.parsed.text).to.include('Here it is.');
      expect(out.parsed.attachments).to.have.length(1);
      expect(out.parsed.attachments[0].filename).to.equal('invoice-1234.pdf');
      expect(out.parsed.attachments[0].contentType).to.equal('application/pdf');
      expect(out.parsed.attachments[0].content.equals(pdf)).to.equal(true);
    });

    it("an agent-initiated email ticket goes out with its subject; the customer's answer threads into it (proactive -> active)", async () => {
      const to = customer();
      const created = await b.api('POST', '/api/tickets', { channel: 'email', to, subject: 'Your order 77 is delayed', message: { text: 'Sorry, it ships next week.' } });
      expect(created.status, JSON.stringify(created.body)).to.equal(201);
      const id = created.body.id;
      expect(created.body.status).to.equal('proactive');
      const out = await nextMailTo(smtp, to, seen);
      expect(out.parsed.subject).to.equal('Your order 77 is delayed');
      expect(out.parsed.inReplyTo).to.equal(undefined);
      expect(out.parsed.text).to.include(`[#${id}]`);
      const answer = mid('answer');
      await append(mail({ from: to, subject: 'Re: Your order 77 is delayed', id: answer, inReplyTo: out.parsed.messageId, body: 'OK, thanks.' }));
      await processed(b, answer);
      const tickets = await ticketsOf(b, to);
      expect(tickets.map((t) => t.id)).to.deep.equal([id]);
      expect(tickets[0].status).to.equal('active');
    });

    it('threads by References (newest first), the body marker and the reply token when In-Reply-To is missing; never into another contact\'s ticket', async () => {
      const from = customer();
      const first = mid();
      await append(mail({ from, subject: 'Login problem', id: first, body: 'I cannot log in.' }));
      await processed(b, first);
      const [t1] = await ticketsOf(b, from);
      // Each follow-up below names a closed ticket in one way only: the new ticket is linked to the one it named.
      await closeTicket(b, t1.id);
      const byRefs = mid();
      await append(mail({ from, subject: 'New subject', id: byRefs, references: [first, '<unknown@elsewhere>'].reverse(), body: 'Still broken.' }));
      await processed(b, byRefs);
      const t2 = (await ticketsOf(b, from)).find((t) => t.status !== 'closed');
      expect(t2.linkedTicketId).to.equal(t1.id);

      await closeTicket(b, t2.id);
      const byMarker = mid();
      await append(mail({ from, subject: 'Other words', id: byMarker, body: `Any news?\n\nOn Tuesday you wrote:\n> Hello\n> [#${t2.id}]` }));
      await processed(b, byMarker);
      const t3 = (await ticketsOf(b, from)).find((t) => t.status !== 'closed');
      expect(t3.linkedTicketId).to.equal(t2.id);
      expect((await messagesOf(b, t3.id))[0].text).to.equal('Any news?');

      await closeTicket(b, t3.id);
      const byToken = mid();
      await append(mail({ from, to: `support+${t3.id.toLowerCase()}@example.com`, subject: 'Yet another', id: byToken, body: 'Hello again' }));
      await processed(b, byToken);
      const t4 = (await ticketsOf(b, from)).find((t) => t.status !== 'closed');
      expect(t4.linkedTicketId).to.equal(t3.id);

      // Someone else quoting the marker of that ticket gets a ticket of their own, not linked.
      const other = customer();
      const stranger = mid();
      await append(mail({ from: other, subject: 'Fwd: Login problem', id: stranger, body: `Forwarded:\n> [#${t4.id}]` }));
      await processed(b, stranger);
      const theirs = await ticketsOf(b, other);
      expect(theirs).to.have.length(1);
      expect(theirs[0].id).to.not.equal(t4.id);
      expect(theirs[0].linkedTicketId).to.equal(null);
      expect(theirs[0].subject).to.equal('Login problem');
    });

    it('a reply to a closed ticket opens a new ticket linked to the old one; an auto-reply to it opens none', async () => {
      const from = customer();
      const first = mid();
      await append(mail({ from, subject: 'Refund please', id: first, body: 'I want a refund.' }));
      await processed(b, first);
      const [t] = await ticketsOf(b, from);
      expect((await b.api('POST', `/api/tickets/${t.id}/messages`, { text: 'Refunded.' })).status).to.equal(201);
      const out = await nextMailTo(smtp, from, seen);
      await closeTicket(b, t.id);

      const ooo = mid('ooo');
      await append(mail({ from, subject: 'Automatic reply: Refund please', id: ooo, inReplyTo: out.parsed.messageId, body: 'I am out of office.', headers: { 'Auto-Submitted': 'auto-replied' } }));
      const row = await processed(b, ooo);
      expect(row.status).to.equal('ignored');
      expect(await ticketsOf(b, from)).to.have.length(1);

      const reply = mid('late');
      await append(mail({ from, subject: 'Re: Refund please', id: reply, inReplyTo: out.parsed.messageId, references: [first, out.parsed.messageId!], body: 'It did not arrive yet.' }));
      await processed(b, reply);
      const tickets = await ticketsOf(b, from);
      expect(tickets).to.have.length(2);
      const fresh = tickets.find((x) => x.id !== t.id);
      expect(fresh.linkedTicketId).to.equal(t.id);
      expect(fresh.subject).to.equal('Refund please');
      expect(['pending', 'active']).to.include(fresh.status);
      expect((await messagesOf(b, fresh.id)).map((m) => m.externalId)).to.deep.equal([reply]);
      expect((await b.api('GET', `/api/tickets/${fresh.id}`)).body.linkedTicketId).to.equal(t.id);
    });

    it('an out-of-office auto-reply produces no automatic answer and no new ticket (bot on email)', async () => {
      expect((await b.api('PUT', '/api/settings', { botChannels: ['whatsapp', 'instagram', 'email'] })).status).to.equal(200);
      try {
        const from = customer();
        const first = mid();
        await append(mail({ from, subject: 'Hello', id: first, body: 'Hi there' }));
        await processed(b, first);
        const [t] = await ticketsOf(b, from);
        expect(t.type).to.equal('bot');
        // The bot answers a person, marked as automatic mail (RFC 3834).
        const botMail = await nextMailTo(smtp, from, seen);
        expect(botMail.parsed.headers.get('auto-submitted')).to.equal('auto-replied');
        expect(botMail.parsed.inReplyTo).to.equal(first);
        const outBefore = (await messagesOf(b, t.id)).filter((m) => m.direction === 'out').length;
        const mailsBefore = smtp.received.length;

        // The customer's mail server answers with an out-of-office note.
        const ooo = mid('ooo');
        await append(mail({ from, subject: 'Out of office: Hello', id: ooo, inReplyTo: botMail.parsed.messageId, body: 'I am away until Monday.', headers: { 'Auto-Submitted': 'auto-replied', 'X-Autoreply': 'yes' } }));
        await processed(b, ooo);
        const tickets = await ticketsOf(b, from);
        expect(tickets).to.have.length(1);
        const msgs = await messagesOf(b, t.id);
        expect(msgs.filter((m) => m.direction === 'in').map((m) => m.externalId)).to.deep.equal([first, ooo]);
        expect(msgs.filter((m) => m.direction === 'out')).to.have.length(outBefore);
        await b.gw.dispatcher.drain();
        expect(smtp.received.length).to.equal(mailsBefore);
        expect((await loadTicket(b.gw.db.sql, t.id)).lastCustomerMessageAt).to.equal(t.lastCustomerMessageAt);

        // Any automatic message (here: straight through the outbox, as CSAT or out-of-office would) is held back.
        const fx = new Effects();
        const held = await b.gw.db.sql.tx(async (tx) => b.gw.ctx.outbound.enqueue(tx, fx, { ticket: await loadTicket(tx, t.id), content: { kind: 'text', text: 'How did we do?' }, author: 'system', automatic: true }));
        expect(held.status).to.equal('failed');
        expect(held.error).to.match(/^loop_protection: not sent in answer to an automatic mail \(auto-submitted/);
        expect(fx.outbox).to.have.length(0);
        expect((await b.query('SELECT COUNT(*) AS n FROM outbox WHERE messageId = ?', [held.id]))[0].n).to.satisfy((n: unknown) => Number(n) === 0);

        // An out-of-office from someone without a ticket opens none and gets no answer.
        const stranger = customer();
        const lone = mid('ooo');
        await append(mail({ from: stranger, subject: 'Auto: away', id: lone, body: 'Away.', headers: { 'Auto-Submitted': 'auto-replied' } }));
        expect((await processed(b, lone)).status).to.equal('ignored');
        expect(await ticketsOf(b, stranger)).to.have.length(0);
        expect((await b.query("SELECT COUNT(*) AS n FROM contact_identities WHERE channel = 'email' AND value = ?", [stranger]))[0].n).to.satisfy((n: unknown) => Number(n) === 0);
        await b.gw.dispatcher.drain();
        expect(smtp.received.filter((m) => m.to.includes(stranger))).to.have.length(0);
      } finally {
        await b.api('PUT', '/api/settings', { botChannels: ['whatsapp', 'instagram'] });
      }
    });

    it('an auto-acknowledgement (trigger) answers a person, never an auto-reply', async () => {
      const put = await b.api('PUT', '/api/triggers', [
        { name: 'email acknowledgement', on: 'message.received', if: [{ field: 'channel', op: 'is', value: 'email' }], then: [{ sendMessage: 'We got your mail and will answer soon.' }] },
      ]);
      expect(put.status, JSON.stringify(put.body)).to.equal(200);
      try {
        const from = customer();
        const first = mid();
        await append(mail({ from, subject: 'Broken zipper', id: first, body: 'My bag broke.' }));
        const ack = await nextMailTo(smtp, from, seen);
        expect(ack.parsed.text).to.include('We got your mail');
        expect(ack.parsed.headers.get('auto-submitted')).to.equal('auto-replied');
        expect(ack.parsed.inReplyTo).to.equal(first);
        const [t] = await ticketsOf(b, from);

        // Their vacation program answers our acknowledgement: the trigger fires, the guard holds it back.
        const ooo = mid('ooo');
        await append(mail({ from, subject: 'Abwesenheitsnotiz: Broken zipper', id: ooo, inReplyTo: ack.parsed.messageId, body: 'Ich bin nicht im Büro.', headers: { 'X-Auto-Response-Suppress': 'All', Precedence: 'auto_reply' } }));
        await processed(b, ooo);
        const held = await waitFor(
          async () => (await b.query("SELECT * FROM messages WHERE ticketId = ? AND direction = 'out' AND status = 'failed'", [t.id]))[0],
          DELIVERY,
          'the held-back acknowledgement',
        );
        expect(held.error).to.match(/^loop_protection: not sent in answer to an automatic mail/);
        await b.gw.dispatcher.drain();
        expect(smtp.received.filter((m) => m.to.includes(from))).to.have.length(1);
        expect(await ticketsOf(b, from)).to.have.length(1);
      } finally {
        await b.api('PUT', '/api/triggers', []);
      }
    });

    it('caps automatic mail per recipient (5 per hour); agent mail is not capped', async () => {
      const from = customer();
      const first = mid();
      await append(mail({ from, subject: 'Cap', id: first, body: 'A question.' }));
      await processed(b, first);
      const [t] = await ticketsOf(b, from);
      const results = [];
      for (let i = 0; i < 6; i++) {
        const fx = new Effects();
        results.push(await b.gw.db.sql.tx(async (tx) => b.gw.ctx.outbound.enqueue(tx, fx, { ticket: await loadTicket(tx, t.id), content: { kind: 'text', text: `Automatic ${i}` }, author: 'bot', automatic: true })));
      }
      expect(results.map((m) => m.status)).to.deep.equal(['queued', 'queued', 'queued', 'queued', 'queued', 'failed']);
      expect(results[5].error).to.match(/^loop_protection: 5 automatic mails already sent/);
      const fx = new Effects();
      const agent = await b.gw.db.sql.tx(async (tx) => b.gw.ctx.outbound.enqueue(tx, fx, { ticket: await loadTicket(tx, t.id), content: { kind: 'text', text: 'A person writes' }, author: 'agent' }));
      expect(agent.status).to.equal('queued');
    });

    it('a bounce attaches to the ticket of the message it bounces and marks that message failed', async () => {
      const from = customer();
      const first = mid();
      await append(mail({ from, subject: 'Where is my parcel', id: first, body: 'Tracking?' }));
      await processed(b, first);
      const [t] = await ticketsOf(b, from);
      expect((await b.api('POST', `/api/tickets/${t.id}/messages`, { text: 'On its way.' })).status).to.equal(201);
      const out = await nextMailTo(smtp, from, seen);
      await waitFor(async () => (await b.query("SELECT * FROM messages WHERE externalId = ? AND status = 'sent'", [out.parsed.messageId]))[0], DELIVERY, 'sent');
      const ticketsBefore = Number((await b.query('SELECT COUNT(*) AS n FROM tickets'))[0].n);

      const bid = mid('bounce');
      await append(bounce({ originalId: out.parsed.messageId!, to: from, id: bid }));
      const row = await processed(b, bid);
      expect(row.ticketId).to.equal(t.id);
      const [orig] = await b.query('SELECT * FROM messages WHERE externalId = ?', [out.parsed.messageId]);
      expect(orig.status).to.equal('failed');
      expect(orig.error).to.match(/^bounced: 550 5\.1\.1/);
      const [bm] = await b.query('SELECT * FROM messages WHERE externalId = ?', [bid]);
      expect(bm).to.include({ ticketId: t.id, direction: 'in', author: 'system' });
      expect(Number((await b.query('SELECT COUNT(*) AS n FROM tickets'))[0].n)).to.equal(ticketsBefore);
      expect((await b.query("SELECT COUNT(*) AS n FROM contact_identities WHERE value = 'mailer-daemon@mx.example.org'"))[0].n).to.satisfy((n: unknown) => Number(n) === 0);
      // The next agent reply still answers the customer's mail, not the bounce.
      expect((await b.api('POST', `/api/tickets/${t.id}/messages`, { text: 'Which address should we use?' })).status).to.equal(201);
      expect((await nextMailTo(smtp, from, seen)).parsed.inReplyTo).to.equal(first);
    });

    it('a restart neither imports a mail twice nor misses mail that arrived while it was down', async () => {
      const from = customer();
      const before = mid('before');
      await append(mail({ from, subject: 'Before restart', id: before, body: 'one' }));
      await processed(b, before);
      await b.gw.stop();
      const whileDown = mid('down');
      const [downUid] = await append(mail({ from, subject: 'While down', id: whileDown, body: 'two' }));
      b = await boot(e);
      await b.synced;
      await processed(b, whileDown);
      // Only the mail that arrived while down was fetched again: the checkpoint held.
      await waitFor(() => b.delivered.length >= 1, DELIVERY, 'the checkpoint moved');
      expect(b.delivered).to.deep.equal([downUid]);
      expect((await b.query('SELECT COUNT(*) AS n FROM inbound WHERE externalId = ?', [before]))[0].n).to.satisfy((n: unknown) => Number(n) === 1);
      const [t] = await ticketsOf(b, from);
      expect((await messagesOf(b, t.id)).map((m) => m.externalId)).to.deep.equal([before, whileDown]);
      // And the watcher is live again (IDLE) after the restart.
      const after = mid('after');
      await append(mail({ from, subject: 'After restart', id: after, body: 'three' }));
      await processed(b, after);
      const key = b.gw.email!.adapter.watcher!.checkpointKey;
      await waitFor(async () => JSON.parse((await b.query('SELECT value FROM channel_state WHERE id = ?', [key]))[0].value).lastUid === downUid + 1, DELIVERY, 'the checkpoint at the new mail');
    });
  });
}

describe('email channel: exactly one gateway watches a mailbox (lease)', function () {
  this.timeout(60_000);
  let dovecot: Dovecot;
  let smtp: SmtpSink;
  let mediaDir: string;

  before(async function () {
    this.timeout(700_000);
    dovecot = await startDovecot();
    smtp = await startSmtpSink();
    mediaDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatgate-media-'));
  });
  after(async () => {
    await smtp?.stop();
    await dovecot?.stop();
    if (mediaDir) fs.rmSync(mediaDir, { recursive: true, force: true });
  });

  async function twoGateways(backend: Backend, shared?: Coordinator) {
    const c = await dovecot.client();
    const mailbox = `lease-${rand(4)}`;
    await c.mailboxCreate(mailbox);
    await c.logout();
    const e = await makeEnv(backend, dovecot, smtp, mailbox, mediaDir);
    const o = shared ? { coordinator: shared } : {};
    const first = await boot(e, o);
    await first.synced;
    const second = await boot(e, o);
    return { e, mailbox, first, second };
  }

  async function check(backend: Backend, shared?: Coordinator) {
    const { e, mailbox, first, second } = await twoGateways(backend, shared);
    let firstStopped = false;
    try {
      expect(first.gw.email!.watching()).to.equal(true);
      const from = customer();
      const one = mid();
      await dovecot.append(mailbox, mail({ from, subject: 'Lease', id: one, body: 'one' }));
      await processed(first, one);
      // 'delivered' follows the checkpoint write, which may come after processing finished.
      await waitFor(() => first.delivered.length === 1, DELIVERY, 'the first gateway delivered it');
      expect(second.gw.email!.watching()).to.equal(false);
      expect(second.delivered).to.have.length(0);
      // The holder stops: the other takes the mailbox over, from the shared checkpoint.
      await first.gw.stop();
      firstStopped = true;
      await second.synced;
      expect(second.gw.email!.watching()).to.equal(true);
      const two = mid();
      await dovecot.append(mailbox, mail({ from, subject: 'Lease', id: two, body: 'two' }));
      await processed(second, two);
      await waitFor(() => second.delivered.length === 1, DELIVERY, 'the second gateway delivered it');
      const [t] = await ticketsOf(second, from);
      expect((await messagesOf(second, t.id)).map((m) => m.externalId)).to.deep.equal([one, two]);
    } finally {
      if (!firstStopped) await first.gw.stop().catch(() => undefined);
      await second.gw.stop();
      await e.db.drop().catch(() => undefined);
      if (e.redisPrefix) await dropRedisPrefix(e.redisPrefix).catch(() => undefined);
    }
  }

  it('two gateways on one database and one (in-process) coordinator: only the lease holder watches; the other takes over when it stops', async () => {
    const coord = await createCoordinator({});
    try {
      await check('sqlite', coord);
    } finally {
      await coord.close();
    }
  });

  if (process.env.TEST_MYSQL_URL && process.env.TEST_REDIS_URL) {
    it('two gateways sharing MySQL and Redis: only the lease holder watches; the other takes over when it stops', async () => {
      await check('mysql');
    });
  }
});
