import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Checks Meta's `X-Hub-Signature-256` header (`sha256=<hex>`): an HMAC-SHA256 of the
 * RAW request bytes keyed with the app secret. Meta escapes non-ASCII characters as
 * \uXXXX in the body it signs, so the check must run on the bytes as received, never
 * on re-serialized JSON. Constant-time; false for a missing or malformed header.
 */
export function verifyMetaSignature(rawBody: Buffer, header: string | undefined, appSecret: string): boolean {
  if (!header || !appSecret) return false;
  const match = /^sha256=([0-9a-fA-F]{64})$/.exec(header.trim());
  if (!match) return false;
  const given = Buffer.from(match[1]!.toLowerCase(), 'hex');
  const expected = createHmac('sha256', appSecret).update(rawBody).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The header value Meta would send for this body (tests, simulators). */
export function signMetaBody(rawBody: Buffer | string, appSecret: string): string {
  return 'sha256=' + createHmac('sha256', appSecret).update(rawBody).digest('hex');
}
