// How a Graph API failure is classified, in one table: retry later, or fail the message.
import { SendError } from '../types.js';
import { asNumber, asRecord, asString } from './payload.js';

/** Graph's error body: `{"error": {"message", "type", "code", "error_subcode", "error_data": {"details"}}}`. */
export interface GraphError {
  httpStatus: number;
  code?: number;
  subcode?: number;
  message: string;
  details?: string;
}

interface Rule {
  /** What the rule is about, for readers. */
  why: string;
  matches(e: GraphError): boolean;
  retryable: boolean;
  /** The SendError code; default: the Graph code as a string. */
  code?: string;
}

const codeIs = (...codes: number[]) => (e: GraphError) => e.code !== undefined && codes.includes(e.code);

/** First matching rule wins. */
export const GRAPH_ERROR_RULES: readonly Rule[] = [
  // Instagram/Messenger: outside the allowed window (24 h, or 7 days with HUMAN_AGENT).
  { why: 'Instagram message sent outside the allowed window', retryable: false, code: 'window_closed',
    matches: (e) => e.code === 10 && (e.subcode === 2018278 || e.subcode === 2534022) },
  // Throttling: app/account/phone-number/pair rate limits, spam rate limit.
  { why: 'throttled (app, account, phone number or pair rate limit)', retryable: true,
    matches: codeIs(4, 80007, 130429, 131048, 131056, 133016) },
  // Transient platform errors.
  { why: 'transient Graph error (unknown / service unavailable)', retryable: true,
    matches: codeIs(1, 2, 131000, 133004) },
  // Re-engagement: the 24 h window is closed, only a template may go out.
  { why: 'WhatsApp re-engagement message: outside the 24 h window, a template is required', retryable: false,
    matches: codeIs(131047) },
  { why: 'recipient cannot receive the message (not on WhatsApp, blocked, unsupported type)', retryable: false,
    matches: codeIs(131026, 131050, 131051) },
  { why: 'template error (missing, paused, parameter mismatch...)', retryable: false,
    matches: (e) => e.code !== undefined && e.code >= 132000 && e.code < 133000 },
  { why: 'access token invalid or expired', retryable: false, matches: codeIs(190) },
  { why: 'permission denied', retryable: false, matches: codeIs(10, 200, 3) },
  { why: 'invalid parameter', retryable: false, matches: codeIs(100, 131008, 131009) },
  // Fallbacks by HTTP status.
  { why: 'HTTP 429 without a known code', retryable: true, matches: (e) => e.code === undefined && e.httpStatus === 429 },
  { why: 'server error', retryable: true, matches: (e) => e.httpStatus >= 500 },
];

/** Reads Graph's error JSON (or whatever came back) into a GraphError. */
export function parseGraphError(httpStatus: number, body: unknown): GraphError {
  const error = asRecord(asRecord(body)?.error);
  if (!error) {
    const text = typeof body === 'string' && body.trim() ? body.trim().slice(0, 200) : `HTTP ${httpStatus}`;
    return { httpStatus, message: text };
  }
  const details = asString(asRecord(error.error_data)?.details);
  return {
    httpStatus,
    code: asNumber(error.code),
    subcode: asNumber(error.error_subcode),
    message: asString(error.message) ?? asString(error.error_user_msg) ?? `HTTP ${httpStatus}`,
    details,
  };
}

/** Turns a failed Graph response into the SendError the dispatcher acts on. */
export function classifyGraphError(e: GraphError, retryAfterMs?: number): SendError {
  const rule = GRAPH_ERROR_RULES.find((r) => r.matches(e));
  const retryable = rule ? rule.retryable : false; // unknown 4xx: permanent
  const code = rule?.code ?? (e.code !== undefined ? String(e.code) : `http_${e.httpStatus}`);
  const message = e.details && !e.message.includes(e.details) ? `${e.message} (${e.details})` : e.message;
  return new SendError(message, code, retryable, retryable ? retryAfterMs : undefined);
}

/** A request that never got an HTTP answer (DNS, reset, timeout): always worth retrying. */
export function networkError(cause: unknown): SendError {
  const message = cause instanceof Error ? cause.message : String(cause);
  return new SendError(`network error: ${message}`, 'network', true);
}

/** `Retry-After` in seconds or as an HTTP date, in ms; undefined when absent or unreadable. */
export function parseRetryAfter(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}
