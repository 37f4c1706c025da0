// GET /api/tickets: every filter of SPEC §4 (status, type, channel, priority, category,
// assignee=me|none|<id>, team, from/to, q over id / subject / contact name / identity),
// their validation, and cursor pagination that stays stable for every sort while other
// tickets are created and changed between pages.

import { expect } from 'chai';
import { ManualClock } from '../../gateway/clock.js';
import { newId, newTicketId } from '../../gateway/ids.js';
import type { TicketRow } from '../../tickets/model.js';
import { DEFAULT_SETTINGS } from '../../tickets/settings.js';
import { withNewTicketSla } from '../../tickets/sla.js';
import { insertTicket } from '../../tickets/store.js';
import { searchCandidates } from '../../tickets/list.js';
import { openDatabase } from '../../gateway/db/open.js';
import { ensureSearchIndex, searchIndexReady } from '../../gateway/db/search-index.js';
import { backends, rand, startGateway, type TestGateway } from '../helpers/gateway-harness.js';

const at = (s: string) => Date.parse(s);
const NOW = at('2026-02-01T12:00:00Z');

for (const backend of backends()) {
  describe(`ticket list filters and pagination (${backend === 'sqlite' ? 'SQLite' : 'MySQL + Redis'})`, function () {
    this.timeout(60_000);
    let t: TestGateway;
    let me: string;
    let other: string;
    const tag = rand(4);
    const digits = String(Math.floor(Math.random() * 1e6)).padStart(6, '0');
    const r: Record<string, TicketRow> = {};

    const insert = async (o: Partial<TicketRow>) => {
      const createdAt = o.createdAt ?? NOW - 3_600_000;
      const row: TicketRow = {
        id: newTicketId(), conversationId: null, contactId: null, channel: 'internal', account: null, subject: `Lst ${tag}`, description: null,
        type: 'agent', status: 'pending', priority: 'medium', category: null, tags: '[]', assigneeId: null, lastAssigneeId: null, teamId: null,
        createdBy: 'agent', createdById: null, linkedTicketId: null, openKey: null, handoffAt: null, handoffCause: null, botFlow: null,
        createdAt, updatedAt: o.updatedAt ?? createdAt, firstResponseAt: null, resolvedAt: null, closedAt: null, lastCustomerMessageAt: null, lastAgentMessageAt: null,
        statusChangedAt: createdAt, slaFirstResponseDueAt: null, slaResolutionDueAt: null, slaBreachedAt: null, csatScore: null, csatComment: null, version: 0,
        ...o,
      };
      await insertTicket(t.gw.db.sql, withNewTicketSla(row, DEFAULT_SETTINGS, NOW));
      return row;
    };
    const contact = async (name: string, channel: string, value: string) => {
      const id = newId();
      await t.gw.db.sql.execute('INSERT INTO contacts (id, name, createdAt, updatedAt) VALUES (?, ?, ?, ?)', [id, name, NOW, NOW]);
      await t.gw.db.sql.execute('INSERT INTO contact_identities (id, contactId, channel, value, createdAt) VALUES (?, ?, ?, ?, ?)', [newId(), id, channel, value, NOW]);
      return id;
    };
    const ids = async (query: string) => {
      const res = await t.api('GET', `/api/tickets?limit=200&${query}`);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      return (res.body.items as any[]).map((x) => x.id);
    };
    const same = async (query: string, expected: TicketRow[]) => {
      expect(new Set(await ids(query)), query).to.deep.equal(new Set(expected.map((x) => x.id)));
    };

    before(async () => {
      t = await startGateway({ backend, bot: null, clock: new ManualClock(NOW) });
      const agents = (await t.api('GET', '/api/agents')).body as any[];
      me = agents.find((a) => a.role === 'admin').id;
      other = (await t.api('POST', '/api/agents', { name: `Other ${tag}`, email: `other-${tag}@example.com` })).body.id;
      const zora = await contact(`Zora Quill${tag}`, 'whatsapp', `4915550${digits}`);
      const bob = await contact('Bob', 'email', `bob.${tag}@example.org`);
      r.a = await insert({ createdAt: at('2026-01-10T09:00:00Z'), assigneeId: me, teamId: `t1${tag}`, category: 'billing', status: 'active', priority: 'high', channel: 'whatsapp', contactId: zora });
      r.b = await insert({ createdAt: at('2026-01-11T09:00:00Z'), status: 'pending', priority: 'low', channel: 'email', contactId: bob, subject: `Lst ${tag} refund 100%_done` });
      r.c = await insert({ createdAt: at('2026-01-12T09:00:00Z'), assigneeId: other, teamId: `t2${tag}`, category: 'shipping', status: 'idle', priority: 'urgent', channel: 'instagram' });
      r.d = await insert({ createdAt: at('2026-01-13T09:00:00Z'), teamId: `t1${tag}`, status: 'closed', closedAt: at('2026-01-13T10:00:00Z') });
      r.e = await insert({ createdAt: at('2026-01-14T09:00:00Z'), assigneeId: me, type: 'bot', status: 'active', channel: 'whatsapp', contactId: zora, category: 'billing' });
    });
    after(async () => {
      await t?.stop();
    });

    it('filters by assignee=me, none, an id, and combinations', async () => {
      const q = `q=${encodeURIComponent(`Lst ${tag}`)}`;
      await same(`${q}&assignee=me`, [r.a, r.e]);
      await same(`${q}&assignee=none`, [r.b, r.d]);
      await same(`${q}&assignee=${other}`, [r.c]);
      await same(`${q}&assignee=me,none`, [r.a, r.b, r.d, r.e]);
      await same(`${q}&assignee=me&type=agent`, [r.a]);
    });

    it('filters by team (incl. none), category (incl. none), status, type, channel and priority lists', async () => {
      const q = `q=${encodeURIComponent(`Lst ${tag}`)}`;
      await same(`${q}&team=t1${tag}`, [r.a, r.d]);
      await same(`${q}&team=t1${tag},t2${tag}`, [r.a, r.c, r.d]);
      await same(`${q}&team=none`, [r.b, r.e]);
      await same(`${q}&category=billing`, [r.a, r.e]);
      await same(`${q}&category=none`, [r.b, r.d]);
      await same(`${q}&status=active,idle`, [r.a, r.c, r.e]);
      await same(`${q}&type=bot`, [r.e]);
      await same(`${q}&channel=whatsapp,instagram`, [r.a, r.c, r.e]);
      await same(`${q}&priority=high,urgent&status=idle`, [r.c]);
    });

    it('filters by creation date with from (inclusive) and to (exclusive)', async () => {
      const q = `q=${encodeURIComponent(`Lst ${tag}`)}`;
      await same(`${q}&from=2026-01-11&to=2026-01-13`, [r.b, r.c]);
      await same(`${q}&from=2026-01-13T09:00:00Z`, [r.d, r.e]);
      await same(`${q}&to=2026-01-10T09:00:00Z`, []);
    });

    it('searches q over id, subject, contact name and identity (phone with or without +, email in any case)', async () => {
      await same(`q=${r.c.id.toLowerCase()}`, [r.c]);
      await same(`q=${encodeURIComponent(`zora quill${tag}`)}`, [r.a, r.e]);
      await same(`q=${encodeURIComponent(`+4915550${digits}`)}`, [r.a, r.e]);
      await same(`q=4915550${digits}`, [r.a, r.e]);
      await same(`q=${encodeURIComponent(`BOB.${tag}@`)}`, [r.b]);
      // LIKE wildcards are matched literally.
      await same(`q=${encodeURIComponent(`${tag} refund 100%_`)}`, [r.b]);
      await same(`q=${encodeURIComponent(`${tag} refund 1000`)}`, []);
    });

    it('lists a common term (more matches than the index shortcut collects) completely, subjects and names', async () => {
      const word = `Common${tag}`;
      await t.gw.db.sql.tx(async (tx) => {
        for (let i = 0; i < 2010; i++) {
          const createdAt = NOW - 1000 * i;
          await insertTicket(tx, { ...r.d, id: newTicketId(), subject: `${word} question ${i}`, createdAt, updatedAt: createdAt, statusChangedAt: createdAt, teamId: null });
        }
      });
      const person = await contact(`${word} Person`, 'email', `person-${tag}@example.org`);
      const byName = await insert({ subject: 'Unrelated', contactId: person, channel: 'email', createdAt: NOW - 5_000_000 });
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await t.api('GET', `/api/tickets?q=${word.toLowerCase()}&limit=200${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.status).to.equal(200);
        seen.push(...res.body.items.map((x: any) => x.id));
        cursor = res.body.nextCursor;
      } while (cursor);
      expect(seen).to.have.length(2011);
      expect(new Set(seen).size).to.equal(2011);
      expect(seen[seen.length - 1]).to.equal(byName.id);
    });

    it('finds a ticket by its new subject after an edit, not by the old one', async () => {
      const x = await insert({ subject: `Xyzzy${tag} plugh` });
      await same(`q=${encodeURIComponent(`xyzzy${tag}`)}`, [x]);
      expect((await t.api('PATCH', `/api/tickets/${x.id}`, { subject: `Frobnicate${tag} now` })).status).to.equal(200);
      await same(`q=${encodeURIComponent(`xyzzy${tag}`)}`, []);
      await same(`q=${encodeURIComponent(`obnicate${tag} n`)}`, [x]);
    });

    it('refuses bad filter values with 400 naming what is allowed', async () => {
      for (const [query, text] of [
        ['status=open', 'status must be'], ['priority=asap', 'priority must be'], ['channel=sms', 'channel must be'], ['type=human', 'type must be'],
        ['from=yesterday', 'from must be'], ['from=2026-02-01&to=2026-01-01', 'to must not be before from'], ['sla=amber', 'sla must be'],
        ['sort=colour', 'sort must be'], ['limit=500', 'limit must be'],
      ]) {
        const res = await t.api('GET', `/api/tickets?${query}`);
        expect(res.status, query).to.equal(400);
        expect(res.body.error.message, query).to.contain(text);
      }
      const page = await t.api('GET', `/api/tickets?q=${encodeURIComponent(`Lst ${tag}`)}&sort=priority&limit=1`);
      const wrong = await t.api('GET', `/api/tickets?sort=subject&cursor=${page.body.nextCursor}`);
      expect(wrong.status).to.equal(400);
      expect(wrong.body.error.message).to.contain('sort=priority');
    });

    describe('cursor pagination while tickets change', () => {
      const sorts = ['createdAt', '-createdAt', 'priority', '-priority', 'status', '-status', 'assignee', '-assignee', 'subject', '-subject', 'sla', '-sla'];
      const variants = [...sorts.map((sort) => ({ sort, extra: '' })), ...['-createdAt', 'priority', '-subject', 'sla'].map((sort) => ({ sort, extra: '&status=pending,active,idle,resolved' }))];
      for (const { sort, extra } of variants) {
        it(`sort=${sort}${extra}: every ticket once, in order, with tickets created and changed between pages`, async () => {
          const s = `Pg ${tag} ${rand(4)}`;
          const statuses = ['pending', 'active', 'idle', 'closed', 'resolved', 'on_hold'] as const;
          const priorities = ['low', 'medium', 'high', 'urgent'] as const;
          const originals: TicketRow[] = [];
          for (let i = 0; i < 13; i++) {
            const status = statuses[i % statuses.length];
            originals.push(await insert({
              subject: `${s} ${String.fromCharCode(65 + ((i * 5) % 13))}`,
              // Ties on purpose: several tickets share a createdAt, a priority, an assignee.
              createdAt: NOW - 3_600_000 * (1 + (i % 5)),
              status, priority: priorities[i % 4],
              assigneeId: status === 'pending' || status === 'on_hold' ? null : i % 3 ? me : other,
              closedAt: status === 'closed' ? NOW - 60_000 : null, resolvedAt: status === 'resolved' ? NOW - 60_000 : null,
            }));
          }
          const q = `q=${encodeURIComponent(s)}&sort=${sort}${extra}`;
          const full = await ids(q);
          expect(full).to.have.length(extra ? 9 : 13);
          const seen: string[] = [];
          let cursor: string | null = null;
          let page = 0;
          do {
            const res = await t.api('GET', `/api/tickets?${q}&limit=4${cursor ? `&cursor=${cursor}` : ''}`);
            expect(res.status, JSON.stringify(res.body)).to.equal(200);
            seen.push(...res.body.items.map((x: any) => x.id));
            cursor = res.body.nextCursor;
            if (page++ === 0) {
              // Between pages: new matching tickets, and edits to tickets not yet seen (not their sort key).
              for (let k = 0; k < 3; k++) await insert({ subject: `${s} new ${k}`, createdAt: NOW - 1_800_000 * k, priority: priorities[k] });
              for (const x of originals.filter((o) => !seen.includes(o.id)).slice(0, 4)) {
                const res2 = await t.api('PATCH', `/api/tickets/${x.id}`, { tags: ['touched'], description: 'edited between pages' });
                expect(res2.status, JSON.stringify(res2.body)).to.equal(200);
              }
            }
          } while (cursor && page < 20);
          const originalsSeen = seen.filter((id) => full.includes(id));
          expect(new Set(seen).size, 'no duplicates').to.equal(seen.length);
          expect(originalsSeen, 'every original once, in the original order').to.deep.equal(full);
        });
      }

      it('sort=updatedAt pages without duplicates or gaps', async () => {
        const q = `q=${encodeURIComponent(`Pg ${tag}`)}&sort=-updatedAt`;
        const pages = async (size: number) => {
          const seen: string[] = [];
          let cursor: string | null = null;
          do {
            const res = await t.api('GET', `/api/tickets?${q}&limit=${size}${cursor ? `&cursor=${cursor}` : ''}`);
            expect(res.status).to.equal(200);
            seen.push(...res.body.items.map((x: any) => x.id));
            cursor = res.body.nextCursor;
          } while (cursor);
          return seen;
        };
        const full = await pages(200);
        expect(full.length).to.be.greaterThan(200);
        expect(await pages(7)).to.deep.equal(full);
      });
    });
  });
}

describe('search index (SQLite)', () => {
  it('is repaired when its triggers are gone (a table rebuild drops them) and then finds new tickets', async () => {
    const db = await openDatabase('sqlite::memory:');
    try {
      const sql = db.sql;
      for (const n of ['tickets_search_ad', 'tickets_search_au']) await sql.execute(`DROP TRIGGER ${n}`);
      const row = {
        id: newTicketId(), conversationId: null, contactId: null, channel: 'internal', account: null, subject: 'Lost invoice 4711', description: null,
        type: 'agent', status: 'pending', priority: 'medium', category: null, tags: '[]', assigneeId: null, lastAssigneeId: null, teamId: null,
        createdBy: 'agent', createdById: null, linkedTicketId: null, openKey: null, handoffAt: null, handoffCause: null, botFlow: null,
        createdAt: NOW, updatedAt: NOW, firstResponseAt: null, resolvedAt: null, closedAt: null, lastCustomerMessageAt: null, lastAgentMessageAt: null,
        statusChangedAt: NOW, slaFirstResponseDueAt: null, slaResolutionDueAt: null, slaBreachedAt: null, csatScore: null, csatComment: null, version: 0,
      } as TicketRow;
      await insertTicket(sql, row);
      expect(await searchIndexReady(sql)).to.equal(false);
      expect(await searchCandidates(sql, { q: 'invoice 47' })).to.deep.equal([row.id]); // by LIKE meanwhile
      expect(await ensureSearchIndex(sql)).to.equal(true);
      expect(await searchIndexReady(sql)).to.equal(true);
      const [hit] = await sql.query("SELECT rowid FROM ticket_subject_fts WHERE subject LIKE '%invoice 47%'");
      expect(hit, 'the rebuilt index holds the ticket inserted while its triggers were gone').to.not.equal(undefined);
      expect(await searchCandidates(sql, { q: 'invoice 47' })).to.deep.equal([row.id]);
      expect(await ensureSearchIndex(sql)).to.equal(false);
    } finally {
      await db.close();
    }
  });
});
