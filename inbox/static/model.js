// The ticket vocabulary of SPEC §3 as the inbox shows it, and a copy of the status
// machine's agent/admin moves (tickets/statuses.ts) to offer only allowed actions; the
// API still decides, and its 409 names the allowed moves if this copy is ever stale.

export const STATUSES = ['pending', 'active', 'proactive', 'on_hold', 'idle', 'resolved', 'closed'];
export const OPEN_STATUSES = STATUSES.filter((s) => s !== 'closed');
export const PRIORITIES = ['low', 'medium', 'high', 'urgent'];
export const CHANNELS = ['whatsapp', 'instagram', 'email', 'internal'];
export const SLA_STATES = ['green', 'yellow', 'red', 'met', 'none'];

export const LABEL = {
  pending: 'Pending', active: 'Active', proactive: 'Proactive', on_hold: 'On hold', idle: 'Idle', resolved: 'Resolved', closed: 'Closed',
  low: 'Low', medium: 'Medium', high: 'High', urgent: 'Urgent',
  whatsapp: 'WhatsApp', instagram: 'Instagram', email: 'Email', internal: 'Internal',
  bot: 'Bot', agent: 'Agent',
  green: 'On track', yellow: 'At risk', red: 'Breached', met: 'Met', none: 'No SLA',
};
export const label = (v) => LABEL[v] ?? v ?? '—';

/** [from, to, who] for moves requested through PATCH status (who: agent = agents and admins). */
const MOVES = [
  ['pending', 'active', 'agent'],
  ['active', 'on_hold', 'agent'],
  ['active', 'resolved', 'agent'],
  ['active', 'closed', 'agent'],
  ['on_hold', 'active', 'admin'],
  ['idle', 'on_hold', 'agent'],
  ['idle', 'closed', 'agent'],
  ['resolved', 'closed', 'agent'],
];

export function allowedMoves(status, role) {
  return MOVES.filter(([from, , who]) => from === status && (who === 'agent' || role === 'admin')).map(([, to]) => to);
}

/** Verb for the button that moves a ticket to `to`. */
export const MOVE_LABEL = { active: 'Assign & activate', on_hold: 'Put on hold', resolved: 'Resolve', closed: 'Close' };

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

/** "3h 12m", "2d 4h", "45s". */
export function humanDuration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m`;
  return `${s}s`;
}

export function timeAgo(iso, now = Date.now()) {
  if (!iso) return '—';
  const ms = now - Date.parse(iso);
  if (ms < 60_000) return 'just now';
  return `${humanDuration(ms).split(' ')[0]} ago`;
}

export function dateTime(iso) {
  if (!iso) return '—';
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function contactLine(t) {
  const c = t.contact;
  if (!c) return t.channel === 'internal' ? 'Internal task' : '—';
  const ids = c.identities ?? {};
  const id = ids[t.channel] ?? Object.values(ids)[0] ?? '';
  return [c.name, id && id !== c.name ? id : null].filter(Boolean).join(' · ');
}

/** Parameters {{1}}, {{2}}... a template body expects. */
export function templateParamCount(body) {
  let n = 0;
  for (const m of String(body ?? '').matchAll(/\{\{(\d+)\}\}/g)) n = Math.max(n, Number(m[1]));
  return n;
}

export function fillTemplate(body, params) {
  return String(body ?? '').replace(/\{\{(\d+)\}\}/g, (_, n) => params[Number(n) - 1] || `{{${n}}}`);
}

/**
 * The reply window of a ticket (SPEC §3.7). The API's `window` (computed with the
 * gateway's clock) wins; without it, the same rules from lastCustomerMessageAt.
 */
export function replyWindow(t, now = Date.now()) {
  if (t.channel === 'internal') return { mode: 'internal' };
  if (t.status === 'closed') return { mode: 'ticket_closed' };
  const w = t.window;
  if (w) {
    // Flags are the gateway's verdict when the ticket was loaded; the dates let the
    // composer follow the clock while the page stays open.
    if (w.templateRequired) return { mode: 'template', since: w.freeFormUntil ? Date.parse(w.freeFormUntil) : null };
    if (w.closed) return { mode: 'closed', since: w.humanAgentUntil ? Date.parse(w.humanAgentUntil) : null };
    const free = w.freeFormUntil ? Date.parse(w.freeFormUntil) : null;
    const human = w.humanAgentUntil ? Date.parse(w.humanAgentUntil) : null;
    if (free === null && human === null) return { mode: 'free', until: null };
    if (free !== null && now <= free) return { mode: 'free', until: free };
    if (human !== null && now <= human) return { mode: 'human_agent', until: human };
    return t.channel === 'whatsapp' ? { mode: 'template', since: free } : { mode: 'closed', since: human ?? free };
  }
  if (t.channel === 'email') return { mode: 'free', until: null };
  const last = t.lastCustomerMessageAt ? Date.parse(t.lastCustomerMessageAt) : null;
  const freeUntil = last === null ? null : last + DAY;
  if (freeUntil !== null && now <= freeUntil) return { mode: 'free', until: freeUntil };
  if (t.channel === 'whatsapp') return { mode: 'template', since: freeUntil };
  const humanUntil = last === null ? null : last + 7 * DAY;
  if (humanUntil !== null && now <= humanUntil) return { mode: 'human_agent', until: humanUntil };
  return { mode: 'closed', since: humanUntil };
}
