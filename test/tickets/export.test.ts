// GET /api/tickets/export (SPEC §3.9): CSV and JSON, the list's filters and date range,
// every field with comments, status history and SLA data, batches that cross keyset
// boundaries (ties on createdAt included), spreadsheet formula injection neutralised.
// SQLite always; MySQL + Redis when configured.

import http from 'node:http';
import { expect } from 'chai';
import { parse } from 'csv-parse/sync';
import { newTicketId } from '../../gateway/ids.js';
import { neutralise } from '../../tickets/export.js';
import type { TicketRow } from '../../tickets/model.js';
import { insertTicket } from '../../tickets/store.js';
import { backendLabel, backends, rand, suiteGateway, waitFor, type TestGateway } from '../helpers/gateway-harness.js';

type Row = Record<string, string>;

describe('export: formula neutralisation', () => {
  it('prefixes an apostrophe to cells starting with = + - @ tab or CR, and only those', () => {
    for (const s of ['=1+1', '+33 1 23', '-2', '@SUM(A1)', '\tx', '\rx', '=HYPERLINK("http://x","y")']) expect(neutralise(s)).to.equal(`'${s}`);
    for (const s of ['', 'plain', ' =x', "'=x", '2026-01-01', 'a=b']) expect(neutralise(s)).to.equal(s);
  });
});

for (const backend of backends()) {
  describe(`ticket export (${backendLabel(backend)})`, function () {
    this.timeout(60_000);
    let t: TestGateway;
    const tag = rand(4);
    suiteGateway({ backend, bot: null }, (g) => (t = g));

    async function get(query: string, token = t.adminToken): Promise<{ status: number; headers: Headers; text: string }> {
      const res = await fetch(`${t.url}/api/tickets/export?${query}`, { headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, headers: res.headers, text: await res.text() };
    }
    const csv = async (query: string): Promise<Row[]> => {
      const res = await get(`format=csv&${query}`);
      expect(res.status, res.text.slice(0, 200)).to.equal(200);
      return parse(res.text, { columns: true, bom: true }) as Row[];
    };
    const json = async (query: string): Promise<any[]> => {
      const res = await get(`format=json&${query}`);
      expect(res.status, res.text.slice(0, 200)).to.equal(200);
      return JSON.parse(res.text);
    };

    /** Writes tickets straight into the database (fast, and with chosen createdAt values). */
    async function seed(n: number, over: (i: number) => Partial<TicketRow>): Promise<string[]> {
      const ids: string[] = [];
      await t.gw.db.sql.tx(async (tx) => {
        for (let i = 0; i < n; i++) {
          const at = Date.UTC(2025, 0, 1);
          const row: TicketRow = {
            id: newTicketId(), conversationId: null, contactId: null, channel: 'internal', account: null,
            subject: `Seeded ${i}`, description: null, type: 'agent', status: 'pending', priority: 'medium', category: null,
            tags: '[]', assigneeId: null, lastAssigneeId: null, teamId: null, createdBy: 'agent', createdById: null, linkedTicketId: null,
            openKey: null, handoffAt: null, handoffCause: null, botFlow: null, createdAt: at, updatedAt: at, firstResponseAt: null,
            resolvedAt: null, closedAt: null, lastCustomerMessageAt: null, lastAgentMessageAt: null, statusChangedAt: at,
            slaFirstResponseDueAt: null, slaResolutionDueAt: null, slaBreachedAt: null, csatScore: null, csatComment: null, version: 0,
            ...over(i),
          };
          await insertTicket(tx, row);
          ids.push(row.id);
        }
      });
      return ids;
    }

    it('neutralises a formula subject: =HYPERLINK(...) comes back as text', async () => {
      const subject = '=HYPERLINK("http://x","y")';
      const res = await t.api('POST', '/api/tickets', { subject, description: `@SUM(1) ${tag}`, tags: ['-x', 'ok'] });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      const id = res.body.id;
      expect((await t.api('POST', `/api/tickets/${id}/comments`, { body: '=1+1 in a comment' })).status).to.equal(201);
      const file = await get(`format=csv&q=${id}`);
      expect(file.status).to.equal(200);
      expect(file.headers.get('content-type')).to.match(/^text\/csv/);
      expect(file.headers.get('content-disposition')).to.match(/^attachment; filename="tickets-\d{4}-\d{2}-\d{2}\.csv"$/);
      const rows = parse(file.text, { columns: true, bom: true }) as Row[];
      expect(rows).to.have.length(1);
      expect(rows[0].id).to.equal(id);
      expect(rows[0].subject).to.equal(`'${subject}`);
      expect(rows[0].description).to.equal(`'@SUM(1) ${tag}`);
      expect(rows[0].tags).to.equal(`'-x, ok`);
      // Multi-line cells start with a date, so a formula in a comment can't run either.
      expect(rows[0].comments).to.match(/^\d{4}-\d{2}-\d{2}T.* — Admin: =1\+1 in a comment$/);
      // Every cell of the file: none starts with a formula character.
      for (const r of rows) for (const v of Object.values(r)) expect(v, v).not.to.match(/^[=+\-@\t\r]/);
      // JSON keeps the data as it is.
      const [j] = await json(`q=${id}`);
      expect(j.subject).to.equal(subject);
    });

    it('neutralises tab and CR at the start of a cell too (stored directly)', async () => {
      const [id] = await seed(1, () => ({ subject: `\tTabbed ${tag}`, description: '\rreturn', category: '+cat' }));
      const [row] = await csv(`q=${id}`);
      expect(row.subject).to.equal(`'\tTabbed ${tag}`);
      expect(row.description).to.equal("'\rreturn");
      expect(row.category).to.equal("'+cat");
    });

    it('exports every field, status history and SLA data; JSON mirrors the ticket view', async () => {
      expect((await t.api('PUT', '/api/settings', { sla: { high: { firstResponse: '1h', resolution: '8h' } } })).status).to.equal(200);
      const agent = await t.api('POST', '/api/agents', { name: `Exporter ${tag}`, email: `exp-${tag}@example.com` });
      // Only an online agent can be assigned.
      expect((await t.api('PUT', '/api/agents/me/presence', { presence: 'online' }, agent.body.token)).status).to.equal(200);
      const tk = (await t.api('POST', '/api/tickets', { subject: `Fields ${tag}`, description: 'line one\nline two', priority: 'high', tags: ['vip', 'b2b'] })).body;
      // Routing may offer a pending ticket to the agent who just came online at the same
      // time: a PATCH racing it gets 409 concurrent_update and is retried.
      const patched = await waitFor(async () => {
        const r = await t.api('PATCH', `/api/tickets/${tk.id}`, { assigneeId: agent.body.id });
        return r.status === 409 && r.body.error.code === 'concurrent_update' ? null : r;
      }, 5000, 'the PATCH');
      expect(patched.status, JSON.stringify(patched.body)).to.equal(200);
      const [row] = await csv(`q=${tk.id}`);
      expect(row).to.include({ id: tk.id, subject: `Fields ${tag}`, description: 'line one\nline two', channel: 'internal', type: 'agent', priority: 'high', tags: 'vip, b2b', created_by: 'agent' });
      expect(row.status).to.equal('active');
      expect(row.assignee_id).to.equal(agent.body.id);
      expect(row.assignee_name).to.equal(`Exporter ${tag}`);
      expect(row.created_at).to.equal(tk.createdAt);
      expect(row.sla_state).to.be.oneOf(['green', 'yellow']);
      expect(row.sla_resolution_due_at).to.equal(new Date(Date.parse(tk.createdAt) + 8 * 3600_000).toISOString());
      expect(row).to.have.property('sla_first_response_due_at');
      expect(row).to.have.property('sla_breached_at', '');
      const history = row.status_history.split('\n');
      expect(history[0]).to.match(/ — Admin: \(new\) → pending/);
      expect(history[history.length - 1]).to.match(/pending → active/);
      for (const col of ['contact_name', 'contact_whatsapp', 'team_name', 'resolved_at', 'closed_at', 'first_response_at', 'csat_score', 'linked_ticket_id', 'comments']) {
        expect(row, col).to.have.property(col);
      }

      const [j] = await json(`q=${tk.id}`);
      const view = (await t.api('GET', `/api/tickets/${tk.id}`)).body;
      for (const k of ['id', 'subject', 'status', 'priority', 'tags', 'assignee', 'team', 'contact', 'createdAt', 'sla', 'linkedTicketId']) expect(j[k], k).to.deep.equal(view[k]);
      expect(j.statusHistory.map((s: any) => [s.from, s.to])).to.deep.equal([[null, 'pending'], ['pending', 'active']]);
      expect(j.comments).to.deep.equal([]);
      expect(j.notes).to.deep.equal([]); // the admin may read notes
    });

    it('streams every ticket exactly once across batches, ties on createdAt included (CSV and JSON)', async () => {
      const label = `Batch ${rand(4)}`;
      // 1,234 tickets: 700 share one createdAt (a tie spanning a batch boundary), the rest spread out.
      const ids = await seed(1234, (i) => ({ subject: `${label} ${i}`, createdAt: Date.UTC(2024, 5, 1) + (i < 700 ? 0 : i * 1000) }));
      const rows = await csv(`q=${encodeURIComponent(label)}`);
      expect(rows).to.have.length(1234);
      expect(new Set(rows.map((r) => r.id))).to.deep.equal(new Set(ids));
      const created = rows.map((r) => r.created_at);
      expect(created).to.deep.equal([...created].sort());
      const items = await json(`q=${encodeURIComponent(label)}`);
      expect(items.map((x) => x.id)).to.deep.equal(rows.map((r) => r.id));
    });

    it('applies the list filters and the date range', async () => {
      const label = `Filter ${rand(4)}`;
      const base = Date.UTC(2023, 2, 1);
      await seed(8, (i) => ({
        subject: `${label} ${i}`,
        status: (['pending', 'active', 'closed', 'resolved'] as const)[i % 4],
        priority: i < 4 ? 'low' : 'urgent',
        channel: i % 2 ? 'email' : 'internal',
        category: i === 7 ? 'billing' : null,
        createdAt: base + i * 86_400_000,
      }));
      const subjects = async (q: string) => (await csv(`q=${encodeURIComponent(label)}&${q}`)).map((r) => Number(r.subject.split(' ').pop())).sort((a, b) => a - b);
      expect(await subjects('')).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7]);
      expect(await subjects('status=pending,closed')).to.deep.equal([0, 2, 4, 6]);
      expect(await subjects('priority=urgent&channel=email')).to.deep.equal([5, 7]);
      expect(await subjects('category=billing')).to.deep.equal([7]);
      const from = new Date(base + 2 * 86_400_000).toISOString();
      const to = new Date(base + 5 * 86_400_000).toISOString();
      expect(await subjects(`from=${from}&to=${to}`)).to.deep.equal([2, 3, 4]);
      expect((await json(`q=${encodeURIComponent(label)}&from=${from}&to=${to}&status=resolved`)).map((x) => x.subject)).to.deep.equal([`${label} 3`]);
      expect(await subjects('sla=none')).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7]);
      expect(await subjects('sla=red')).to.deep.equal([]);
    });

    it('JSON export of nothing is an empty array; a JSON file is named .json', async () => {
      const res = await get(`format=json&q=nothing-${rand(6)}`);
      expect(res.status).to.equal(200);
      expect(JSON.parse(res.text)).to.deep.equal([]);
      expect(res.headers.get('content-type')).to.match(/^application\/json/);
      expect(res.headers.get('content-disposition')).to.match(/filename="tickets-\d{4}-\d{2}-\d{2}\.json"/);
      const empty = await get(`format=csv&q=nothing-${rand(6)}`);
      expect(parse(empty.text, { bom: true })).to.have.length(1); // the header row
    });

    it('refuses bad parameters with 400 and a JSON error; needs a token (header or ?token=)', async () => {
      for (const q of ['format=xlsx', 'format=csv&from=yesterday', 'format=json&sla=purple']) {
        const res = await get(q);
        expect(res.status, q).to.equal(400);
        expect(JSON.parse(res.text).error.code).to.equal('bad_request');
      }
      const anon = await fetch(`${t.url}/api/tickets/export?format=csv`);
      expect(anon.status).to.equal(401);
      const viaQuery = await fetch(`${t.url}/api/tickets/export?format=json&q=nothing&token=${t.adminToken}`);
      expect(viaQuery.status).to.equal(200);
      expect(await viaQuery.json()).to.deep.equal([]);
    });

    it('stops when the client goes away mid-stream (a later export still works)', async () => {
      // node:http so the socket really closes at once (an aborted fetch may linger).
      const { port } = new URL(t.url);
      await new Promise<void>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/api/tickets/export?format=json', headers: { authorization: `Bearer ${t.adminToken}` } }, (res) => {
          expect(res.statusCode).to.equal(200);
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', (err) => (err.message.includes('socket hang up') || (err as any).code === 'ECONNRESET' ? resolve() : reject(err)));
      });
      const again = await get('format=csv&q=nothing');
      expect(again.status).to.equal(200);
    });
  });
}
