// GET /api/reports/summary on a known data set: counts by status/channel/category, bot
// resolved vs handed off and the causes, first-response and resolution median/p90, SLA
// states and met/breached, CSAT; the date range and the list's filters narrow it.

import { expect } from 'chai';
import { ManualClock } from '../../gateway/clock.js';
import { newTicketId } from '../../gateway/ids.js';
import { durationStats } from '../../tickets/reports.js';
import { DEFAULT_SETTINGS } from '../../tickets/settings.js';
import { slaColumns } from '../../tickets/sla.js';
import type { TicketRow } from '../../tickets/model.js';
import { insertTicket } from '../../tickets/store.js';
import { backends, startGateway, type TestGateway } from '../helpers/gateway-harness.js';

const M = 60_000;
const H = 60 * M;
const at = (s: string) => Date.parse(s);
const NOW = at('2026-02-01T00:00:00Z');

function row(o: Partial<TicketRow>): TicketRow {
  const createdAt = o.createdAt ?? at('2026-01-15T10:00:00Z');
  const t: TicketRow = {
    id: newTicketId(), conversationId: null, contactId: null, channel: 'whatsapp', account: null, subject: 'Report ticket', description: null,
    type: 'agent', status: 'closed', priority: 'medium', category: null, tags: '[]', assigneeId: null, lastAssigneeId: null, teamId: null,
    createdBy: 'customer', createdById: null, linkedTicketId: null, openKey: null, handoffAt: null, handoffCause: null, botFlow: null,
    createdAt, updatedAt: createdAt, firstResponseAt: null, resolvedAt: null, closedAt: null, lastCustomerMessageAt: null, lastAgentMessageAt: null,
    statusChangedAt: createdAt, slaFirstResponseDueAt: null, slaResolutionDueAt: null, slaBreachedAt: null, csatScore: null, csatComment: null,
    version: 0, slaPausedMs: 0, slaPausedAt: null, slaNextCheckAt: null, slaFirstResponseBreachedAt: null, slaResolutionBreachedAt: null,
    ...o,
  };
  if (['resolved', 'closed'].includes(t.status)) t.slaPausedAt = t.resolvedAt ?? t.closedAt ?? t.statusChangedAt;
  return Object.assign(t, slaColumns(t, DEFAULT_SETTINGS, NOW));
}

describe('report figures (unit)', () => {
  it('median averages the middle pair; p90 is the nearest rank', () => {
    expect(durationStats([])).to.deep.equal({ count: 0, medianMs: null, p90Ms: null });
    expect(durationStats([5])).to.deep.equal({ count: 1, medianMs: 5, p90Ms: 5 });
    expect(durationStats([1, 2, 3, 4])).to.deep.equal({ count: 4, medianMs: 3, p90Ms: 4 }); // (2+3)/2 rounded
    expect(durationStats(Array.from({ length: 10 }, (_, i) => (i + 1) * 10))).to.deep.equal({ count: 10, medianMs: 55, p90Ms: 90 });
  });
});

for (const backend of backends()) {
  describe(`GET /api/reports/summary (${backend === 'sqlite' ? 'SQLite' : 'MySQL + Redis'})`, function () {
    this.timeout(30_000);
    let t: TestGateway;

    before(async () => {
      t = await startGateway({ backend, bot: null, clock: new ManualClock(NOW) });
      const c = at('2026-01-15T10:00:00Z');
      const rows: TicketRow[] = [
        // Resolved by the bot alone, and a bot conversation still going.
        row({ type: 'bot', status: 'closed', category: 'orders', resolvedAt: c + 5 * M, closedAt: c + 5 * M, statusChangedAt: c + 5 * M }),
        row({ type: 'bot', status: 'closed', resolvedAt: c + 9 * M, closedAt: c + 9 * M, statusChangedAt: c + 9 * M }),
        row({ type: 'bot', status: 'active', createdAt: at('2026-01-31T23:50:00Z') }),
        // Handed off: answered 30 min / 1 h after the handoff, resolved after 2 h / 4 h.
        row({ channel: 'whatsapp', status: 'closed', category: 'billing', handoffAt: c + 10 * M, handoffCause: 'customer_request', firstResponseAt: c + 40 * M, resolvedAt: c + 10 * M + 2 * H, closedAt: c + 3 * H, statusChangedAt: c + 3 * H, csatScore: 5 }),
        row({ channel: 'instagram', status: 'closed', category: 'billing', handoffAt: c + 10 * M, handoffCause: 'fallback', firstResponseAt: c + 70 * M, resolvedAt: c + 10 * M + 4 * H, closedAt: c + 5 * H, statusChangedAt: c + 5 * H, csatScore: 3 }),
        // Email: answered after 2 h, resolved after 30 h (medium resolution is 1 d: breached, recorded).
        row({ channel: 'email', status: 'resolved', firstResponseAt: c + 2 * H, resolvedAt: c + 30 * H, statusChangedAt: c + 30 * H, csatScore: 4, slaResolutionBreachedAt: c + 24 * H, slaBreachedAt: c + 24 * H }),
        // Email, waiting an hour: green (first response 4 h).
        row({ channel: 'email', status: 'pending', createdAt: at('2026-01-31T23:00:00Z') }),
        // Internal high-priority task open for weeks: resolution (8 h) breached, not yet recorded by a scan.
        row({ channel: 'internal', status: 'active', priority: 'high', createdAt: at('2026-01-10T08:00:00Z') }),
        // Outside the range.
        row({ channel: 'email', status: 'closed', createdAt: at('2025-12-15T10:00:00Z'), firstResponseAt: at('2025-12-15T10:01:00Z'), resolvedAt: at('2025-12-15T11:00:00Z'), closedAt: at('2025-12-15T11:00:00Z'), csatScore: 1 }),
      ];
      for (const r of rows) await insertTicket(t.gw.db.sql, r);
    });
    after(async () => {
      await t?.stop();
    });

    it('summarises January on a known data set', async () => {
      const res = await t.api('GET', '/api/reports/summary?from=2026-01-01&to=2026-02-01');
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      const r = res.body;
      expect(r.range).to.deep.equal({ from: '2026-01-01T00:00:00.000Z', to: '2026-02-01T00:00:00.000Z' });
      expect(r.tickets).to.deep.equal({
        total: 8,
        byStatus: { closed: 4, active: 2, resolved: 1, pending: 1 },
        byChannel: { whatsapp: 4, instagram: 1, email: 2, internal: 1 },
        byCategory: { orders: 1, billing: 2, none: 5 },
        byPriority: { medium: 7, high: 1 },
      });
      expect(r.bot).to.deep.equal({
        resolvedByBot: 2, handedOff: 2, inConversation: 1, resolvedByBotShare: 0.5, handedOffShare: 0.5,
        handoffCauses: { customer_request: 1, fallback: 1 },
      });
      expect(r.firstResponse).to.deep.equal({ count: 3, medianMs: H, p90Ms: 2 * H });
      expect(r.resolution).to.deep.equal({ count: 3, medianMs: 4 * H, p90Ms: 30 * H });
      expect(r.sla).to.deep.equal({ met: 2, breached: 2, metShare: 0.5, states: { green: 1, yellow: 0, red: 2, met: 2, none: 3 } });
      expect(r.csat).to.deep.equal({ responses: 3, average: 4, distribution: { 3: 1, 4: 1, 5: 1 } });
    });

    it('narrows with the list filters and widens without a range', async () => {
      const email = (await t.api('GET', '/api/reports/summary?from=2026-01-01&to=2026-02-01&channel=email')).body;
      expect(email.tickets.total).to.equal(2);
      expect(email.csat).to.deep.equal({ responses: 1, average: 4, distribution: { 4: 1 } });
      const all = (await t.api('GET', '/api/reports/summary')).body;
      expect(all.tickets.total).to.equal(9);
      expect(all.csat.responses).to.equal(4);
      expect(all.csat.average).to.equal(3.25);
      expect(all.range).to.deep.equal({ from: null, to: null });
    });

    it('refuses a bad date with 400 and a caller without a token with 401', async () => {
      const bad = await t.api('GET', '/api/reports/summary?from=yesterday');
      expect(bad.status).to.equal(400);
      expect(bad.body.error.message).to.contain('from');
      expect((await t.api('GET', '/api/reports/summary', undefined, null)).status).to.equal(401);
    });
  });
}
