import { expect } from 'chai';
import { parseEmail } from '../../adapters/email/parse.js';
import { LOOP_RULES } from '../../adapters/email/loop-rules.js';
import { extractReplyFromHtml, decodeFlowed } from '../../adapters/email/quotes.js';

const ACCOUNT = 'support@example.com';

function mail(headers: string[], body = 'I have a question about my order.\r\n'): Buffer {
  const base = [
    'From: "Ann Customer" <Ann.Customer@Example.ORG>',
    'To: Support <support@example.com>',
    'Subject: Order 42',
    'Date: Tue, 03 Apr 2012 16:19:00 +0000',
    'Message-ID: <abc123@example.org>',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
  ];
  const names = headers.map((h) => h.split(':')[0].toLowerCase());
  const kept = base.filter((h) => !names.includes(h.split(':')[0].toLowerCase()));
  return Buffer.from([...kept, ...headers].join('\r\n') + '\r\n\r\n' + body);
}

describe('email parse: normalized InboundMessage', () => {
  it('maps sender, ids, subject, timestamp and visible text', async () => {
    const m = await parseEmail(
      mail(
        ['In-Reply-To: <out-1@example.com>', 'References: <first@example.org>\r\n <out-1@example.com>'],
        'Thanks, that helped!\r\n\r\nOn Mon, Apr 2, 2012 at 6:26 PM, Support <support@example.com> wrote:\r\n> Your order ships tomorrow.\r\n',
      ),
      { account: 'Support@Example.com' },
    );
    expect(m).to.include({ channel: 'email', account: ACCOUNT, from: 'ann.customer@example.org', contactName: 'Ann Customer', kind: 'text' });
    expect(m.externalId).to.equal('<abc123@example.org>');
    expect(m.timestamp).to.equal(Date.UTC(2012, 3, 3, 16, 19));
    expect(m.text).to.equal('Thanks, that helped!');
    expect(m.email).to.deep.include({
      subject: 'Order 42',
      messageId: '<abc123@example.org>',
      inReplyTo: '<out-1@example.com>',
      references: ['<first@example.org>', '<out-1@example.com>'],
      automatic: false,
    });
    expect(Buffer.isBuffer(m.email?.raw)).to.equal(true);
  });

  it('without Message-ID and Date: a hash of the source and the clock', async () => {
    const raw = Buffer.from('From: a@example.org\r\nSubject: x\r\n\r\nhello\r\n');
    const a = await parseEmail(raw, { account: ACCOUNT, now: () => 1234 });
    const b = await parseEmail(Buffer.from(raw), { account: ACCOUNT, now: () => 99 });
    expect(a.externalId).to.match(/^sha256:[0-9a-f]{64}$/);
    expect(b.externalId).to.equal(a.externalId);
    expect(a.timestamp).to.equal(1234);
    const c = await parseEmail(Buffer.from('From: a@example.org\r\nSubject: x\r\n\r\nhello!\r\n'), { account: ACCOUNT });
    expect(c.externalId).to.not.equal(a.externalId);
  });

  it('keeps attachments with their bytes as MediaRef', async () => {
    const raw = [
      'From: a@example.org',
      'Subject: photo',
      'Message-ID: <att@example.org>',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'See the attached photo.',
      '--b1',
      'Content-Type: image/png; name="broken.png"',
      'Content-Disposition: attachment; filename="broken.png"',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from('PNGDATA-123').toString('base64'),
      '--b1',
      'Content-Type: application/pdf',
      'Content-Disposition: attachment; filename="invoice.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from('%PDF-1.4 fake').toString('base64'),
      '--b1--',
      '',
    ].join('\r\n');
    const m = await parseEmail(Buffer.from(raw), { account: ACCOUNT });
    expect(m.kind).to.equal('media');
    expect(m.text).to.equal('See the attached photo.');
    expect(m.media).to.have.length(2);
    expect(m.media![0]).to.include({ type: 'image', mimeType: 'image/png', filename: 'broken.png', size: 11 });
    expect(m.media![0].content!.toString()).to.equal('PNGDATA-123');
    expect(m.media![1]).to.include({ type: 'document', mimeType: 'application/pdf', filename: 'invoice.pdf' });
  });

  it('HTML-only mail: quote markers of common clients are removed, html kept', async () => {
    const html =
      '<div>Yes please, cancel it.</div><div class="gmail_quote"><div class="gmail_attr">On Mon, Support wrote:</div><blockquote class="gmail_quote">Shall we cancel?</blockquote></div>';
    const raw = Buffer.from(
      `From: a@example.org\r\nSubject: Re: x\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n${html}\r\n`,
    );
    const m = await parseEmail(raw, { account: ACCOUNT });
    expect(m.text).to.equal('Yes please, cancel it.');
    expect(m.email?.html).to.contain('gmail_quote');
  });

  const htmlCases: [string, string][] = [
    [
      'Outlook divRplyFwdMsg (quote in following siblings)',
      '<div dir="ltr">Outlook answer</div><hr style="display:inline-block;width:98%"><div id="divRplyFwdMsg"><b>From:</b> Support<br><b>Sent:</b> Monday<br><b>To:</b> Ann<br><b>Subject:</b> x</div><div>Old question</div>',
    ],
    [
      'Outlook desktop "From: … Sent:" block without markers',
      '<div class="WordSection1"><p>Outlook answer</p><p>&nbsp;</p><div style="border:none;border-top:solid #E1E1E1 1.0pt"><p><b>From:</b> Support &lt;support@example.com&gt;<br><b>Sent:</b> Monday, April 2, 2012 5:44 PM<br><b>To:</b> Ann<br><b>Subject:</b> Order</p></div><p>Old question</p></div>',
    ],
    [
      'Apple Mail blockquote type=cite',
      '<div>Outlook answer</div><div><br><blockquote type="cite"><div>Old question</div><div>Second old line</div></blockquote></div>',
    ],
    [
      'Yahoo yahoo_quoted',
      '<div>Outlook answer</div><div id="yahoo_quoted_123" class="yahoo_quoted"><div>Old question</div></div>',
    ],
    [
      'Thunderbird moz-cite-prefix, bottom-posted',
      '<div class="moz-cite-prefix">On 04/02/2012 06:26 PM, Support wrote:<br></div><blockquote type="cite">Old question</blockquote><p>Outlook answer</p>',
    ],
  ];
  for (const [name, html] of htmlCases) {
    it(`HTML quotes: ${name}`, () => {
      expect(extractReplyFromHtml(html)).to.equal('Outlook answer');
    });
  }

  it('format=flowed is decoded per quote depth (RFC 3676)', () => {
    expect(decodeFlowed('On x, y wrote:\n> Hi \nHello')).to.equal('On x, y wrote:\n> Hi \nHello');
    expect(decodeFlowed('one \ntwo \nthree\n> a \n> b')).to.equal('one two three\n> a b');
    expect(decodeFlowed('-- \nsig')).to.equal('-- \nsig');
    expect(decodeFlowed('wo \nrd', true)).to.equal('word');
  });
});

describe('email loop protection rules', () => {
  const triggers: Record<string, string[]> = {
    'auto-submitted': ['Auto-Submitted: auto-replied'],
    'x-autoreply': ['X-Autoreply: yes'],
    'x-autorespond': ['X-Autorespond: vacation'],
    precedence: ['Precedence: bulk'],
    'x-auto-response-suppress': ['X-Auto-Response-Suppress: DR, OOF, AutoReply'],
    'list-id': ['List-Id: Newsletter <news.example.org>'],
    'list-unsubscribe': ['List-Unsubscribe: <mailto:unsub@example.org>'],
    'empty-return-path': ['Return-Path: <>'],
    'system-sender': ['From: Mail Delivery System <MAILER-DAEMON@mx.example.org>'],
    'bounce-report': ['Content-Type: multipart/report; report-type=delivery-status; boundary="r"'],
    'own-address': ['From: Support <support@example.com>'],
  };

  it('covers every rule of the table', () => {
    expect(Object.keys(triggers).sort()).to.deep.equal(LOOP_RULES.map((r) => r.id).sort());
  });

  for (const rule of LOOP_RULES) {
    it(`${rule.id}: ${rule.description}`, async () => {
      const body = rule.id === 'bounce-report' ? '--r\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--r--\r\n' : undefined;
      const m = await parseEmail(mail(triggers[rule.id], body), { account: ACCOUNT });
      expect(m.email?.automatic).to.equal(true);
      expect(m.extra?.automaticReasons).to.include(rule.id);
    });
  }

  const notAutomatic: [string, string[]][] = [
    ['a normal mail', []],
    ['Auto-Submitted: no', ['Auto-Submitted: no']],
    ['Precedence: first-class', ['Precedence: first-class']],
    ['X-Auto-Response-Suppress: DR, RN', ['X-Auto-Response-Suppress: DR, RN']],
    ['a normal Return-Path', ['Return-Path: <ann.customer@example.org>']],
    ['a sender whose name mentions postmaster', ['From: "Postmaster fan" <ann@example.org>']],
  ];
  for (const [name, headers] of notAutomatic) {
    it(`not automatic: ${name}`, async () => {
      const m = await parseEmail(mail(headers), { account: ACCOUNT });
      expect(m.email?.automatic).to.equal(false);
      expect(m.extra?.automaticReasons).to.equal(undefined);
    });
  }

  it('aliases passed as ownAddresses count as our own address', async () => {
    const m = await parseEmail(mail(['From: help@example.com']), { account: ACCOUNT, ownAddresses: ['Help@example.com'] });
    expect(m.extra?.automaticReasons).to.deep.equal(['own-address']);
  });
});

describe('email bounces', () => {
  function bounce(originalPart: string, partType = 'message/rfc822'): Buffer {
    return Buffer.from(
      [
        'From: Mail Delivery Subsystem <mailer-daemon@mx.example.org>',
        'To: support@example.com',
        'Subject: Delivery Status Notification (Failure)',
        'Date: Wed, 04 Apr 2012 10:00:00 +0000',
        'Message-ID: <bounce-1@mx.example.org>',
        'Return-Path: <>',
        'MIME-Version: 1.0',
        'Content-Type: multipart/report; report-type=delivery-status; boundary="BND"',
        '',
        '--BND',
        'Content-Type: text/plain; charset=us-ascii',
        '',
        'Delivery to the following recipient failed permanently:',
        '',
        '    nobody@example.net',
        '',
        '--BND',
        'Content-Type: message/delivery-status',
        '',
        'Reporting-MTA: dns; mx.example.org',
        '',
        'Final-Recipient: rfc822; nobody@example.net',
        'Action: failed',
        'Status: 5.1.1',
        '',
        '--BND',
        `Content-Type: ${partType}`,
        '',
        originalPart,
        '--BND--',
        '',
      ].join('\r\n'),
    );
  }
  const original = [
    'From: support@example.com',
    'To: nobody@example.net',
    'Subject: Re: Order 42',
    'Message-ID:',
    ' <chatgate.m-77@example.com>',
    '',
    'Your order ships tomorrow.',
  ].join('\r\n');

  it('multipart/report with message/rfc822: bounceOf = the original Message-ID', async () => {
    const m = await parseEmail(bounce(original), { account: ACCOUNT });
    expect(m.email?.automatic).to.equal(true);
    expect(m.email?.bounceOf).to.equal('<chatgate.m-77@example.com>');
    expect(m.extra?.automaticReasons).to.include.members(['bounce-report', 'system-sender', 'empty-return-path']);
    expect(m.text).to.contain('failed permanently');
  });

  it('multipart/report with text/rfc822-headers works too', async () => {
    const headersOnly = original.split('\r\n\r\n')[0] + '\r\n';
    const m = await parseEmail(bounce(headersOnly, 'text/rfc822-headers'), { account: ACCOUNT });
    expect(m.email?.bounceOf).to.equal('<chatgate.m-77@example.com>');
  });

  it('an ordinary mail has no bounceOf', async () => {
    const m = await parseEmail(mail([]), { account: ACCOUNT });
    expect(m.email?.bounceOf).to.equal(undefined);
    expect(m.email?.bounceReason).to.equal(undefined);
  });

  it('bounceReason: the Status of the delivery-status part when there is no Diagnostic-Code', async () => {
    const m = await parseEmail(bounce(original), { account: ACCOUNT });
    expect(m.email?.bounceReason).to.equal('failed (status 5.1.1)');
  });

  it('bounceReason: the Diagnostic-Code (folded lines joined) when there is one', async () => {
    const withDiag = bounce(original).toString('utf8').replace('Status: 5.1.1', 'Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 <nobody@example.net>:\r\n Recipient address rejected');
    const m = await parseEmail(Buffer.from(withDiag), { account: ACCOUNT });
    expect(m.email?.bounceReason).to.equal('550 5.1.1 <nobody@example.net>: Recipient address rejected');
  });
});

describe('email ticket references (markers.ts)', () => {
  it('finds our body marker in the quoted part, though the visible text drops it', async () => {
    const m = await parseEmail(mail([], 'Still waiting.\r\n\r\nOn Mon, Support wrote:\r\n> Your order ships.\r\n> [#AB12CD3]\r\n'), { account: ACCOUNT });
    expect(m.text).to.equal('Still waiting.');
    expect(m.email?.refs).to.deep.equal(['AB12CD3']);
  });

  it('finds a reply token in To, Cc or Delivered-To of our support address only', async () => {
    const m = await parseEmail(
      mail(['To: Support <support+ab12cd3@example.com>', 'Cc: other+zz99yy8@example.com, support+q1w2e3r@elsewhere.org', 'Delivered-To: support+k9m8n7p@example.com']),
      { account: ACCOUNT },
    );
    expect(m.email?.refs).to.deep.equal(['AB12CD3', 'K9M8N7P']);
  });

  it('an ordinary mail has no refs', async () => {
    const m = await parseEmail(mail([]), { account: ACCOUNT });
    expect(m.email?.refs).to.equal(undefined);
  });
});
