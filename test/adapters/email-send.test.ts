// Outbound email against a real SMTP listener (smtp-server on 127.0.0.1).
import { expect } from 'chai';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEmailAdapter, type EmailAdapter } from '../../adapters/email/send.js';
import { parseEmail } from '../../adapters/email/parse.js';
import { SendError, type OutboundEnvelope } from '../../adapters/types.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';

const SUPPORT = 'support@example.com';
const CUSTOMER = 'ann@example.org';

function envelope(over: Partial<OutboundEnvelope> = {}): OutboundEnvelope {
  return {
    messageId: 'm-1',
    channel: 'email',
    account: SUPPORT,
    to: CUSTOMER,
    author: 'agent',
    content: { kind: 'text', text: 'Your order ships tomorrow.\n\nBest, Bob' },
    email: { subject: 'Order 42', inReplyTo: '<cust-2@example.org>', references: ['<cust-1@example.org>'] },
    ...over,
  };
}

async function expectSendError(p: Promise<unknown>): Promise<SendError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(SendError);
    return err as SendError;
  }
  throw new Error('expected a SendError');
}

describe('email send (SMTP)', () => {
  let sink: SmtpSink;
  let adapter: EmailAdapter;
  let now = 1_000_000;
  let dir: string;

  before(async () => {
    sink = await startSmtpSink();
    dir = mkdtempSync(join(tmpdir(), 'chatgate-mail-'));
  });
  beforeEach(() => {
    now = 1_000_000;
    adapter = createEmailAdapter({
      smtpUrl: sink.url,
      supportEmail: SUPPORT,
      supportName: 'Example Support',
      autoReplyCap: { max: 2, windowMs: 60 * 60_000 },
      clock: () => now,
    });
  });
  afterEach(() => adapter.close());
  after(async () => {
    await sink.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('declares email capabilities: long text, no buttons/lists/quick replies/templates, no window', () => {
    expect(adapter.channel).to.equal('email');
    expect(adapter.capabilities.maxTextLength).to.be.at.least(100_000);
    expect(adapter.capabilities.buttons.max).to.equal(0);
    expect(adapter.capabilities.list.max).to.equal(0);
    expect(adapter.capabilities.quickReplies.max).to.equal(0);
    expect(adapter.capabilities.templates).to.equal(false);
    expect(adapter.capabilities.windowMs).to.equal(null);
  });

  it("an agent's reply threads: In-Reply-To, References, our Message-ID, Re: subject, text + HTML, no Auto-Submitted", async () => {
    const result = await adapter.send(envelope());
    const got = await sink.next();
    const p = got.parsed;
    expect(got.to).to.deep.equal([CUSTOMER]);
    expect(got.from).to.equal(SUPPORT);
    expect(p.from?.value[0]).to.deep.include({ address: SUPPORT, name: 'Example Support' });
    expect(p.subject).to.equal('Re: Order 42');
    expect(p.inReplyTo).to.equal('<cust-2@example.org>');
    expect(p.references).to.deep.equal(['<cust-1@example.org>', '<cust-2@example.org>']);
    expect(p.messageId).to.equal(result.messageIdHeader);
    expect(result.externalId).to.equal(result.messageIdHeader);
    expect(result.messageIdHeader).to.match(/^<[^@<>]+@example\.com>$/);
    expect(p.text?.trim()).to.equal('Your order ships tomorrow.\n\nBest, Bob');
    expect(p.html).to.contain('<p>Your order ships tomorrow.</p>');
    expect(p.headers.has('auto-submitted')).to.equal(false);

    // The customer's client answers it: our parser threads by the same ids.
    const answer = Buffer.from(
      `From: ${CUSTOMER}\r\nTo: ${SUPPORT}\r\nSubject: changed subject\r\nMessage-ID: <cust-3@example.org>\r\n` +
        `In-Reply-To: ${result.messageIdHeader}\r\nReferences: <cust-1@example.org> <cust-2@example.org> ${result.messageIdHeader}\r\n\r\nThanks!\r\n`,
    );
    const m = await parseEmail(answer, { account: SUPPORT });
    expect(m.email?.inReplyTo).to.equal(result.messageIdHeader);
    expect(m.email?.references?.at(-1)).to.equal(result.messageIdHeader);
    expect(m.email?.automatic).to.equal(false);
  });

  it('keeps an existing Re: and does not prefix a new conversation', async () => {
    await adapter.send(envelope({ messageId: 'm-2', email: { subject: 'RE: Order 42', inReplyTo: '<c@example.org>' } }));
    expect((await sink.next()).parsed.subject).to.equal('RE: Order 42');
    await adapter.send(envelope({ messageId: 'm-3', email: { subject: 'About your order' } }));
    const got = await sink.next();
    expect(got.parsed.subject).to.equal('About your order');
    expect(got.parsed.inReplyTo).to.equal(undefined);
  });

  it('mail of a ticket ends with its marker [#ref] (text and HTML); Reply-To carries the token only when replyTokens is on', async () => {
    await adapter.send(envelope({ messageId: 'r-1', email: { subject: 'Order 42', inReplyTo: '<c@example.org>', ref: 'AB12CD3' } }));
    const plain = await sink.next();
    expect(plain.parsed.text?.trimEnd().endsWith('[#AB12CD3]')).to.equal(true);
    expect(plain.parsed.html).to.include('[#AB12CD3]');
    expect(plain.parsed.replyTo).to.equal(undefined);
    // The customer's answer quoting it names the ticket again.
    const quoted = await parseEmail(Buffer.from(`From: ${CUSTOMER}\r\nTo: ${SUPPORT}\r\nSubject: Re\r\nMessage-ID: <q@example.org>\r\n\r\nYes\r\n\r\n> ${plain.parsed.text!.trim().split('\n').join('\r\n> ')}\r\n`), { account: SUPPORT });
    expect(quoted.email?.refs).to.deep.equal(['AB12CD3']);

    const tokens = createEmailAdapter({ smtpUrl: sink.url, supportEmail: SUPPORT, replyTokens: true });
    try {
      await tokens.send(envelope({ messageId: 'r-2', email: { subject: 'Order 42', ref: 'AB12CD3' } }));
      expect((await sink.next()).parsed.replyTo?.value[0].address).to.equal('support+ab12cd3@example.com');
    } finally {
      await tokens.close();
    }
  });

  it('bot and system mail, and mail flagged automatic, carry Auto-Submitted: auto-replied', async () => {
    await adapter.send(envelope({ messageId: 'b-1', author: 'bot' }));
    const bot = await sink.next();
    expect(bot.parsed.headers.get('auto-submitted')).to.equal('auto-replied');
    // Our own automatic mail, read back, is recognised as automatic (never answered by a bot).
    const back = await parseEmail(bot.raw, { account: 'other@example.net' });
    expect(back.email?.automatic).to.equal(true);
    expect(back.extra?.automaticReasons).to.include('auto-submitted');

    await adapter.send(envelope({ messageId: 's-1', author: 'agent', to: 'b@example.org', email: { subject: 'x', automatic: true } }));
    expect((await sink.next()).parsed.headers.get('auto-submitted')).to.equal('auto-replied');
  });

  it('renders a choice as a numbered list (text) and an ordered list (HTML)', async () => {
    await adapter.send(
      envelope({
        messageId: 'c-1',
        author: 'bot',
        to: 'choice@example.org',
        content: {
          kind: 'choice',
          text: 'How can we help?',
          options: [
            { id: 'faq', title: 'FAQ' },
            { id: 'order', title: 'Order status', description: 'where is my parcel' },
            { id: 'agent', title: 'Talk to an agent' },
          ],
        },
      }),
    );
    const p = (await sink.next()).parsed;
    expect(p.text?.trim()).to.equal('How can we help?\n\n1. FAQ\n2. Order status - where is my parcel\n3. Talk to an agent');
    expect(p.html).to.contain('<ol><li>FAQ</li><li>Order status - where is my parcel</li><li>Talk to an agent</li></ol>');
  });

  it('attaches media from media.path', async () => {
    const file = join(dir, 'label.pdf');
    writeFileSync(file, '%PDF-1.4 shipping label');
    await adapter.send(
      envelope({ messageId: 'a-1', content: { kind: 'media', text: 'Here is your label.', media: { type: 'document', path: file, mimeType: 'application/pdf' } } }),
    );
    const p = (await sink.next()).parsed;
    expect(p.text?.trim()).to.equal('Here is your label.');
    expect(p.attachments).to.have.length(1);
    expect(p.attachments[0]).to.include({ filename: 'label.pdf', contentType: 'application/pdf' });
    expect(p.attachments[0].content.toString()).to.equal('%PDF-1.4 shipping label');
  });

  it('caps automatic mail per recipient per hour; agent mail and other recipients are not capped', async () => {
    const before = sink.received.length;
    await adapter.send(envelope({ messageId: 'cap-1', author: 'bot', to: 'loop@example.org' }));
    await adapter.send(envelope({ messageId: 'cap-2', author: 'system', to: 'loop@example.org' }));
    const err = await expectSendError(adapter.send(envelope({ messageId: 'cap-3', author: 'bot', to: 'Loop@Example.org' })));
    expect(err.code).to.equal('auto_reply_limit');
    expect(err.retryable).to.equal(false);
    expect(sink.received.length - before).to.equal(2);
    await adapter.send(envelope({ messageId: 'cap-4', author: 'agent', to: 'loop@example.org' }));
    await adapter.send(envelope({ messageId: 'cap-5', author: 'bot', to: 'other@example.org' }));
    now += 60 * 60_000 + 1; // the hour has passed
    await adapter.send(envelope({ messageId: 'cap-6', author: 'bot', to: 'loop@example.org' }));
    expect(sink.received.length - before).to.equal(5);
    for (let i = 0; i < 5; i++) await sink.next();
  });

  it('SMTP 5xx is a permanent SendError, 4xx a retryable one; a failed automatic send does not count against the cap', async () => {
    sink.failRecipient('gone@example.org', 550);
    sink.failRecipient('busy@example.org', 451);
    const perm = await expectSendError(adapter.send(envelope({ messageId: 'f-1', to: 'gone@example.org' })));
    expect(perm.retryable).to.equal(false);
    expect(perm.code).to.equal('smtp_550');
    for (let i = 0; i < 3; i++) {
      const temp = await expectSendError(adapter.send(envelope({ messageId: `f-2-${i}`, author: 'bot', to: 'busy@example.org' })));
      expect(temp.retryable).to.equal(true);
      expect(temp.code).to.equal('smtp_451');
    }
  });

  it('an unreachable SMTP server is retryable; a bad recipient and a missing attachment are permanent', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const down = createEmailAdapter({ smtpUrl: `smtp://127.0.0.1:${port}`, supportEmail: SUPPORT });
    try {
      const err = await expectSendError(down.send(envelope({ messageId: 'd-1' })));
      expect(err.retryable).to.equal(true);
    } finally {
      await down.close();
    }
    const bad = await expectSendError(adapter.send(envelope({ messageId: 'd-2', to: 'not an address' })));
    expect(bad).to.include({ code: 'invalid_recipient', retryable: false });
    const missing = await expectSendError(
      adapter.send(envelope({ messageId: 'd-3', content: { kind: 'media', media: { type: 'document', path: join(dir, 'nope.pdf') } } })),
    );
    expect(missing).to.include({ code: 'attachment_unreadable', retryable: false });
  });
});
