// Every talon fixture (../shared/fixtures/email) must yield its expected visible reply.
// Registers no tests when the fixtures folder is missing (it lives outside the repository).
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { simpleParser } from 'mailparser';
import { parseEmail } from '../../adapters/email/parse.js';
import { extractReplyFromHtml } from '../../adapters/email/quotes.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixtures = join(repoRoot, '..', 'shared', 'fixtures', 'email');
const manifest = join(fixtures, 'expected.json');

interface Expectation {
  file: string;
  expectedReply: string;
  expectedReplyFile?: string;
}

if (existsSync(manifest)) {
  const cases = JSON.parse(readFileSync(manifest, 'utf8')) as Expectation[];

  describe('email visible reply: talon standard_replies fixtures', () => {
    it('has all 12 fixtures', () => {
      expect(cases).to.have.length(12);
    });

    for (const c of cases) {
      // talon: reply text from the *_reply_text file (stripped) when there is one.
      const expected = c.expectedReplyFile
        ? readFileSync(join(fixtures, c.expectedReplyFile), 'utf8').trim()
        : c.expectedReply;

      it(`${c.file}: quotes removed, signature kept (talon semantics)`, async () => {
        expect(expected).to.equal(c.expectedReply);
        const m = await parseEmail(readFileSync(join(fixtures, c.file)), { account: 'support@example.com', keepSignature: true });
        expect(m.text).to.equal(expected);
      });

      it(`${c.file}: stored text also drops the signature`, async () => {
        const m = await parseEmail(readFileSync(join(fixtures, c.file)), { account: 'support@example.com' });
        // Every fixture's reply is "Hello" once iPhone's / Sparrow's signature is gone.
        expect(m.text).to.equal('Hello');
        expect(m.email?.subject).to.be.a('string').and.not.equal('');
      });
    }

    // The HTML alternative of the same mails goes through the HTML quote markers
    // (gmail_quote, blockquote type=cite, hr#zwchr, Outlook "From: Sent:" blocks...).
    const htmlReply: Record<string, string> = {
      // outlook.eml's HTML part really says something else than its text part.
      'standard_replies/outlook.eml': 'Allo! Follow up MIME!',
    };
    for (const c of cases) {
      it(`${c.file}: HTML part (when there is one) yields the same reply`, async () => {
        const p = await simpleParser(readFileSync(join(fixtures, c.file)), { skipHtmlToText: true });
        if (typeof p.html !== 'string') {
          expect(['apple_mail', 'apple_mail_2', 'iphone', 'thunderbird', 'yahoo'].map((n) => `standard_replies/${n}.eml`)).to.include(c.file);
          return;
        }
        expect(extractReplyFromHtml(p.html)).to.equal(htmlReply[c.file] ?? 'Hello');
      });
    }
  });
}
