// Ticket references that survive mail clients which drop In-Reply-To / References
// (forwarding, some webmail, "reply" from another device): a body marker in every mail we
// send, and optionally a reply token in the Reply-To address (support+<ref>@domain).
// The gateway honours a reference only for the ticket's own contact, so a guessed or
// copied marker cannot put mail into someone else's ticket.

/** The marker we append to every mail we send (text and HTML): `[#ABC1234]`. */
export function ticketMarker(ref: string): string {
  return `[#${ref}]`;
}

const MARKER_RE = /\[#([0-9A-Z]{4,20})\]/g;

/** Reply address carrying the ticket reference (sub-addressing: support+ABC1234@example.com). */
export function replyTokenAddress(supportEmail: string, ref: string): string {
  const at = supportEmail.lastIndexOf('@');
  return `${supportEmail.slice(0, at)}+${ref.toLowerCase()}${supportEmail.slice(at)}`;
}

/**
 * References found in a mail: tokens in recipient addresses (`support+<ref>@domain` for our
 * support address) first, then body markers, uppercase, without duplicates.
 */
export function findTicketRefs(opts: { supportEmail: string; recipients: string[]; bodies: string[] }): string[] {
  const support = opts.supportEmail.toLowerCase();
  const at = support.lastIndexOf('@');
  const local = support.slice(0, at);
  const domain = support.slice(at + 1);
  const refs: string[] = [];
  for (const addr of opts.recipients) {
    const a = addr.toLowerCase();
    const i = a.lastIndexOf('@');
    if (i < 0 || a.slice(i + 1) !== domain) continue;
    const lp = a.slice(0, i);
    if (!lp.startsWith(`${local}+`)) continue;
    const token = lp.slice(local.length + 1);
    if (/^[0-9a-z]{4,20}$/.test(token)) refs.push(token.toUpperCase());
  }
  for (const body of opts.bodies) for (const m of body.matchAll(MARKER_RE)) refs.push(m[1]);
  return [...new Set(refs)];
}
