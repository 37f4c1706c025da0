import { createHmac } from 'node:crypto';
import { expect } from 'chai';
import { signMetaBody, verifyMetaSignature } from '../../adapters/meta/signature.js';

const SECRET = 'app-secret';
const hmac = (body: Buffer | string, secret = SECRET) => 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');

describe('verifyMetaSignature', () => {
  const body = Buffer.from('{"object":"whatsapp_business_account","entry":[]}');

  it('accepts the HMAC-SHA256 of the raw body under the app secret', () => {
    expect(verifyMetaSignature(body, hmac(body), SECRET)).to.equal(true);
    expect(signMetaBody(body, SECRET)).to.equal(hmac(body));
  });

  it('accepts upper-case hex', () => {
    expect(verifyMetaSignature(body, 'sha256=' + hmac(body).slice(7).toUpperCase(), SECRET)).to.equal(true);
  });

  it('refuses another secret, another body, a missing or malformed header', () => {
    expect(verifyMetaSignature(body, hmac(body, 'other'), SECRET)).to.equal(false);
    expect(verifyMetaSignature(Buffer.from(body.toString() + ' '), hmac(body), SECRET)).to.equal(false);
    expect(verifyMetaSignature(body, undefined, SECRET)).to.equal(false);
    expect(verifyMetaSignature(body, '', SECRET)).to.equal(false);
    expect(verifyMetaSignature(body, hmac(body).slice(7), SECRET), 'no sha256= prefix').to.equal(false);
    expect(verifyMetaSignature(body, 'sha1=' + hmac(body).slice(7), SECRET)).to.equal(false);
    expect(verifyMetaSignature(body, 'sha256=zz', SECRET)).to.equal(false);
  });

  it('is length-safe: a truncated or over-long digest is refused without throwing', () => {
    expect(verifyMetaSignature(body, hmac(body).slice(0, -2), SECRET)).to.equal(false);
    expect(verifyMetaSignature(body, hmac(body) + '00', SECRET)).to.equal(false);
  });

  it('refuses everything when no app secret is configured', () => {
    expect(verifyMetaSignature(body, hmac(body, ''), '')).to.equal(false);
  });

  it('verifies non-ASCII text on the raw bytes Meta signed (\\uXXXX escapes), not on re-serialized JSON', () => {
    // Meta sends and signs non-ASCII escaped: "Olá ❤️" arrives as "Ol\u00e1 \u2764\ufe0f".
    const raw = Buffer.from('{"entry":[{"messaging":[{"message":{"text":"Ol\\u00e1 \\u2764\\ufe0f"}}]}]}', 'utf8');
    const header = hmac(raw);
    expect(verifyMetaSignature(raw, header, SECRET)).to.equal(true);
    const parsed = JSON.parse(raw.toString('utf8'));
    expect(parsed.entry[0].messaging[0].message.text).to.equal('Olá ❤️');
    // Re-serializing turns the escapes into UTF-8 bytes: the signature no longer matches.
    const reserialized = Buffer.from(JSON.stringify(parsed), 'utf8');
    expect(verifyMetaSignature(reserialized, header, SECRET)).to.equal(false);
  });

  it('verifies a body carrying raw UTF-8 non-ASCII bytes too', () => {
    const raw = Buffer.from('{"text":"Grüße, 日本語 🚀"}', 'utf8');
    expect(verifyMetaSignature(raw, hmac(raw), SECRET)).to.equal(true);
    expect(verifyMetaSignature(Buffer.from(raw.toString('latin1'), 'utf8'), hmac(raw), SECRET)).to.equal(false);
  });
});
