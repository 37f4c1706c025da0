// Small, total readers for untrusted webhook JSON: they never throw.
import type { WebhookBatch } from '../types.js';

export type Json = Record<string, unknown>;

export function asRecord(value: unknown): Json | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : undefined;
}

export function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** A non-empty string, or a finite number turned into one (Meta mixes both for ids and codes). */
export function asString(value: unknown): string | undefined {
  if (typeof value === 'string') return value.length > 0 ? value : undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

export function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}

/**
 * A platform timestamp in ms, or undefined when it is not a positive integer.
 * `unit` says what the platform sends (WhatsApp: seconds as a string; Instagram: ms).
 */
export function parseTimestamp(value: unknown, unit: 'seconds' | 'milliseconds'): number | undefined {
  let n: number | undefined;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && /^\d+$/.test(value.trim())) n = Number(value.trim());
  if (n === undefined || !Number.isSafeInteger(n) || n <= 0) return undefined;
  return unit === 'seconds' ? n * 1000 : n;
}

/** Seconds or milliseconds, guessed from the magnitude (entry.time differs between webhook products). */
export function parseLooseTimestamp(value: unknown): number | undefined {
  const n = parseTimestamp(value, 'milliseconds');
  if (n === undefined) return undefined;
  return n < 1e12 ? n * 1000 : n;
}

export function emptyBatch(): WebhookBatch {
  return { messages: [], statuses: [], events: [], errors: [], ignored: [], rejected: [] };
}

/**
 * Opens a Meta webhook envelope `{object, entry: [...]}`: the entries, or a batch that
 * says why the body is refused (not an object, another product's object type, no entries).
 */
export function openEnvelope(body: unknown, object: string): { batch: WebhookBatch; entries: unknown[] } {
  const batch = emptyBatch();
  const root = asRecord(body);
  if (!root) batch.rejected.push('body is not a JSON object');
  else if (root.object !== object) batch.rejected.push(`unexpected object type ${quote(root.object)}`);
  else if (asArray(root.entry).length === 0) batch.rejected.push('no entries');
  return { batch, entries: batch.rejected.length ? [] : asArray(root!.entry) };
}

/** Meta's error objects: `{code, title, message, error_data: {details}}`. */
export function providerError(value: unknown): { code: string; message: string } | undefined {
  const e = asRecord(value);
  if (!e) return undefined;
  const code = asString(e.code) ?? 'unknown';
  const details = asString(asRecord(e.error_data)?.details);
  const message = asString(e.title) ?? asString(e.message) ?? details ?? 'unknown error';
  return { code, message };
}

/** Quotes a value for an ignore/reject reason without dumping whole objects. */
export function quote(value: unknown): string {
  const s = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  return `'${s.length > 80 ? s.slice(0, 77) + '...' : s}'`;
}
