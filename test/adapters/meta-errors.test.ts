import { expect } from 'chai';
import { SendError } from '../../adapters/types.js';
import { classifyGraphError, networkError, parseGraphError, parseRetryAfter } from '../../adapters/meta/errors.js';

const graphError = (code: number, extra: Record<string, unknown> = {}, status = 400) =>
  classifyGraphError(parseGraphError(status, { error: { message: `error ${code}`, type: 'OAuthException', code, ...extra } }));

describe('Graph error classification', () => {
  for (const code of [4, 80007, 130429, 131048, 131056, 133016]) {
    it(`throttling code ${code} is retryable`, () => {
      const e = graphError(code);
      expect(e).to.be.instanceOf(SendError);
      expect(e.retryable).to.equal(true);
      expect(e.code).to.equal(String(code));
    });
  }
  for (const code of [1, 2]) {
    it(`transient code ${code} is retryable`, () => expect(graphError(code, {}, 500).retryable).to.equal(true));
  }
  for (const code of [131026, 131050, 131051, 132000, 132001, 132012, 190]) {
    it(`code ${code} is permanent`, () => {
      const e = graphError(code);
      expect(e.retryable).to.equal(false);
      expect(e.code).to.equal(String(code));
      expect(e.retryAfterMs).to.equal(undefined);
    });
  }

  it('131047 (re-engagement) is permanent and keeps the reason and details', () => {
    const e = graphError(131047, { error_data: { details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.' } });
    expect(e.retryable).to.equal(false);
    expect(e.code).to.equal('131047');
    expect(e.message).to.include('error 131047').and.include('more than 24 hours');
  });

  it('Instagram code 10 with subcode 2018278 or 2534022 is window_closed, permanent', () => {
    for (const subcode of [2018278, 2534022]) {
      const e = graphError(10, { error_subcode: subcode });
      expect(e.code).to.equal('window_closed');
      expect(e.retryable).to.equal(false);
    }
    expect(graphError(10, { error_subcode: 123 }).code, 'other code 10: a permission error').to.equal('10');
  });

  it('falls back on the HTTP status: 5xx retryable, unknown 4xx permanent, 429 retryable', () => {
    const e500 = classifyGraphError(parseGraphError(502, '<html>Bad gateway</html>'));
    expect(e500.retryable).to.equal(true);
    expect(e500.code).to.equal('http_502');
    expect(classifyGraphError(parseGraphError(400, { error: { message: 'x', code: 999999 } })).retryable).to.equal(false);
    expect(classifyGraphError(parseGraphError(429, '')).retryable).to.equal(true);
  });

  it('keeps Retry-After for retryable errors only', () => {
    expect(classifyGraphError(parseGraphError(400, { error: { code: 130429, message: 'x' } }), 30_000).retryAfterMs).to.equal(30_000);
    expect(classifyGraphError(parseGraphError(400, { error: { code: 190, message: 'x' } }), 30_000).retryAfterMs).to.equal(undefined);
    expect(parseRetryAfter('12')).to.equal(12_000);
    expect(parseRetryAfter(new Date(10_000 + 5_000).toUTCString(), 10_000)).to.be.within(4_000, 5_000);
    expect(parseRetryAfter(null)).to.equal(undefined);
    expect(parseRetryAfter('soon')).to.equal(undefined);
  });

  it('network failures are retryable', () => {
    const e = networkError(new TypeError('fetch failed'));
    expect(e.retryable).to.equal(true);
    expect(e.code).to.equal('network');
  });
});
