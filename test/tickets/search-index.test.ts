// The search index on SQLite gets new rows in batches (indexNewRows, the scheduler's fast
// tick) instead of a per-INSERT trigger; a row not indexed yet is matched by LIKE above the
// watermark, so `q` finds a ticket at once. Updates and deletes keep the index in step
// (FTS5's integrity-check compares it with the tables), and migration 0007 converts a
// database indexed by 0005's triggers.

import { expect } from 'chai';
import { ManualClock } from '../../gateway/clock.js';
import { openDatabase, type Database } from '../../gateway/db/open.js';
import { indexNewRows, searchIndexReady } from '../../gateway/db/search-index.js';
import type { Sql } from '../../gateway/db/sql.js';
import { newId, newTicketId } from '../../gateway/ids.js';
import type { TicketRow } from '../../tickets/model.js';
import { listTickets, searchCandidates, whereOf } from '../../tickets/list.js';
import { DEFAULT_SETTINGS } from '../../tickets/settings.js';
import { insertTicket, updateTicket } from '../../tickets/store.js';
import { rand, sqliteDatabase, startGateway, type TestDatabase, type TestGateway } from '../helpers/gateway-harness.js';

const NOW = Date.parse('2026-02-01T12:00:00Z');

function ticket(subject: string, contactId: string | null = null): TicketRow {
  return {
    id: newTicketId(), conversationId: null, contactId, channel: 'internal', account: null, subject, description: null,
    type: 'agent', status: 'pending', priority: 'medium', category: null, tags: '[]', assigneeId: null, lastAssigneeId: null, teamId: null,
    createdBy: 'agent', createdById: null, linkedTicketId: null, openKey: null, handoffAt: null, handoffCause: null, botFlow: null,
    createdAt: NOW, updatedAt: NOW, firstResponseAt: null, resolvedAt: null, closedAt: null, lastCustomerMessageAt: null, lastAgentMessageAt: null,
    statusChangedAt: NOW, slaFirstResponseDueAt: null, slaResolutionDueAt: null, slaBreachedAt: null, csatScore: null, csatComment: null, version: 0,
  } as TicketRow;
}

const watermark = async (sql: Sql, fts = 'ticket_subject_fts') =>
  Number((await sql.query<{ indexed: number }>('SELECT indexed FROM search_index_state WHERE name = ?', [fts]))[0]?.indexed);
const rowidOf = async (sql: Sql, id: string, table = 'tickets') => Number((await sql.query<{ r: number }>(`SELECT rowid AS r FROM ${table} WHERE id = ?`, [id]))[0].r);
/** Rowids the trigram index itself holds for a term (not the LIKE over new rows). */
const inIndex = async (sql: Sql, term: string, fts = 'ticket_subject_fts', column = 'subject') =>
  (await sql.query<{ rowid: number }>(`SELECT rowid FROM ${fts} WHERE ${column} LIKE ?`, [`%${term}%`])).map((r) => Number(r.rowid));
/** FTS5 compares the index with the table's rows (all indexed): throws when they differ (a 'delete' of a row never indexed corrupts it). */
const intact = async (sql: Sql) => {
  for (const fts of ['ticket_subject_fts', 'contact_name_fts']) await sql.execute(`INSERT INTO ${fts}(${fts}, rank) VALUES ('integrity-check', 1)`);
};
const found = (sql: Sql, term: string) => searchCandidates(sql, { q: term });

describe('search index: batched indexing (SQLite)', () => {
  let db: Database;
  let sql: Sql;
  beforeEach(async () => {
    db = await openDatabase('sqlite::memory:');
    sql = db.sql;
    expect(await searchIndexReady(sql)).to.equal(true);
  });
  afterEach(async () => {
    await db.close();
  });

  it('finds a ticket created a moment ago before the indexer ran, and through the index after', async () => {
    const row = ticket('Parcel qz7 lost in transit');
    await insertTicket(sql, row);
    expect(await inIndex(sql, 'qz7 lost'), 'no per-insert trigger').to.deep.equal([]);
    expect(await found(sql, 'qz7 lost')).to.deep.equal([row.id]);
    const page = await listTickets(sql, { q: 'QZ7 LOST' }, 'agent', DEFAULT_SETTINGS, NOW);
    expect(page.rows.map((r) => r.id)).to.deep.equal([row.id]);

    expect(await indexNewRows(sql)).to.equal(1);
    const rowid = await rowidOf(sql, row.id);
    expect(await watermark(sql)).to.equal(rowid);
    expect(await inIndex(sql, 'qz7 lost')).to.deep.equal([rowid]);
    expect(await found(sql, 'qz7 lost'), 'now above nothing: found through the index').to.deep.equal([row.id]);
    expect(await indexNewRows(sql), 'nothing left').to.equal(0);
    await intact(sql);
  });

  it('indexes in bounded batches, each moving the watermark', async () => {
    const rows = Array.from({ length: 5 }, (_, i) => ticket(`Batch kx${i} item`));
    for (const r of rows) await insertTicket(sql, r);
    expect(await indexNewRows(sql, { batch: 2, max: 3 })).to.equal(3);
    expect(await watermark(sql)).to.equal(await rowidOf(sql, rows[2].id));
    expect(await inIndex(sql, 'item')).to.have.length(3);
    // All five are found meanwhile: three through the index, two above the watermark.
    expect(new Set(await found(sql, 'item'))).to.deep.equal(new Set(rows.map((r) => r.id)));
    expect(await indexNewRows(sql, { batch: 2 })).to.equal(2);
    expect(await inIndex(sql, 'item')).to.have.length(5);
    await intact(sql);
  });

  for (const when of ['before', 'after'] as const) {
    it(`a subject changed ${when} indexing is found by its new subject, not its old one`, async () => {
      const row = ticket('Refund wq4 pending');
      await insertTicket(sql, row);
      if (when === 'after') await indexNewRows(sql);
      expect(await updateTicket(sql, row.id, { subject: 'Voucher jh8 issued' })).to.equal(true);
      expect(await found(sql, 'wq4 pending')).to.deep.equal([]);
      expect(await found(sql, 'jh8 issued')).to.deep.equal([row.id]);
      await indexNewRows(sql);
      expect(await found(sql, 'wq4 pending')).to.deep.equal([]);
      expect(await found(sql, 'jh8 issued')).to.deep.equal([row.id]);
      expect(await inIndex(sql, 'jh8 issued')).to.deep.equal([await rowidOf(sql, row.id)]);
      await intact(sql);
    });
  }

  it('a deleted ticket leaves the index intact, indexed or not; a new ticket taking the rowid of a deleted one is still indexed', async () => {
    const [a, b, c] = [ticket('Delete pv1 me'), ticket('Delete pv2 me'), ticket('Delete pv3 me')];
    for (const r of [a, b]) await insertTicket(sql, r);
    await indexNewRows(sql);
    await insertTicket(sql, c);
    const rowidB = await rowidOf(sql, b.id);
    expect(await watermark(sql)).to.equal(rowidB);
    await sql.execute('DELETE FROM tickets WHERE id = ?', [c.id]); // never indexed: no FTS 'delete'
    await intact(sql);
    await sql.execute('DELETE FROM tickets WHERE id = ?', [b.id]); // the row at the watermark
    await intact(sql);
    expect(await watermark(sql), 'lowered to the row below').to.equal(await rowidOf(sql, a.id));
    expect(await found(sql, 'pv2')).to.deep.equal([]);
    // SQLite gives the next row the highest rowid plus one: b's old rowid again.
    const d = ticket('Reused vr9 rowid');
    await insertTicket(sql, d);
    expect(await rowidOf(sql, d.id)).to.equal(rowidB);
    expect(await found(sql, 'vr9 rowid')).to.deep.equal([d.id]);
    await indexNewRows(sql);
    expect(await inIndex(sql, 'vr9 rowid')).to.deep.equal([rowidB]);
    expect(await found(sql, 'delete')).to.deep.equal([a.id]);
    await intact(sql);
  });

  it('contact names: a new contact is found at once, by the list and by the common-term path, and indexed later', async () => {
    const contactId = newId();
    await sql.execute('INSERT INTO contacts (id, name, createdAt, updatedAt) VALUES (?, ?, ?, ?)', [contactId, 'Ysolde Brankovic', NOW, NOW]);
    const row = ticket('Hello', contactId);
    await insertTicket(sql, row);
    expect(await inIndex(sql, 'brankov', 'contact_name_fts', 'name')).to.deep.equal([]);
    expect(await found(sql, 'brankov')).to.deep.equal([row.id]);
    // The WHERE used when a term matches too many rows for the candidates (names from the index plus new rows).
    const scan = async () => {
      const { where, params } = whereOf({ q: 'brankov' }, 'agent', undefined, { searchIds: null, fts: true });
      return (await sql.query<{ id: string }>(`SELECT t.id FROM tickets t WHERE ${where.join(' AND ')}`, params as any[])).map((r) => r.id);
    };
    expect(await scan()).to.deep.equal([row.id]);
    await indexNewRows(sql);
    expect(await watermark(sql, 'contact_name_fts')).to.equal(await rowidOf(sql, contactId, 'contacts'));
    expect(await inIndex(sql, 'brankov', 'contact_name_fts', 'name')).to.have.length(1);
    expect(await found(sql, 'brankov')).to.deep.equal([row.id]);
    expect(await scan()).to.deep.equal([row.id]);
    await sql.execute('UPDATE contacts SET name = ? WHERE id = ?', ['Ysolde Marchetti', contactId]);
    expect(await found(sql, 'brankov')).to.deep.equal([]);
    expect(await found(sql, 'marchett')).to.deep.equal([row.id]);
    await intact(sql);
  });
});

describe('search index: migration 0007 on a database indexed per insert (SQLite)', function () {
  this.timeout(30_000);
  let tdb: TestDatabase;
  beforeEach(() => {
    tdb = sqliteDatabase();
  });
  afterEach(async () => {
    await tdb.drop();
  });

  /** A database as 0006 left it (0007 undone), with tickets and contacts its triggers indexed. */
  async function before0007(opts: { dropTriggers?: boolean } = {}) {
    const old = await openDatabase(tdb.url);
    await old.dataSource.undoLastMigration({ transaction: 'each' });
    const triggers = (await old.sql.query<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%search%' ORDER BY name")).map((r) => r.name);
    expect(triggers).to.deep.equal(['contacts_search_ad', 'contacts_search_ai', 'contacts_search_au', 'tickets_search_ad', 'tickets_search_ai', 'tickets_search_au']);
    if (opts.dropTriggers) for (const n of triggers.filter((x) => x.startsWith('tickets'))) await old.sql.execute(`DROP TRIGGER ${n}`);
    const contactId = newId();
    await old.sql.execute('INSERT INTO contacts (id, name, createdAt, updatedAt) VALUES (?, ?, ?, ?)', [contactId, 'Oswin Tallgrass', NOW, NOW]);
    const rows = [ticket('Old mb5 ticket', contactId), ticket('Old mb6 ticket')];
    for (const r of rows) await insertTicket(old.sql, r);
    await old.close();
    return { rows, contactId };
  }

  it('starts the watermarks at the highest rowids (the rows are indexed) and finds old and new tickets', async () => {
    const { rows, contactId } = await before0007();
    const db = await openDatabase(tdb.url); // runs 0007
    try {
      const sql = db.sql;
      const left = await sql.query("SELECT name FROM sqlite_master WHERE name LIKE '%search_ai'");
      expect(left, 'per-insert triggers gone').to.deep.equal([]);
      expect(await watermark(sql)).to.equal(await rowidOf(sql, rows[1].id));
      expect(await watermark(sql, 'contact_name_fts')).to.equal(await rowidOf(sql, contactId, 'contacts'));
      expect(await inIndex(sql, 'old mb')).to.have.length(2);
      await intact(sql);
      expect(await found(sql, 'mb5 ticket')).to.deep.equal([rows[0].id]);
      expect(await found(sql, 'tallgrass')).to.deep.equal([rows[0].id]);
      const fresh = ticket('New mb7 ticket');
      await insertTicket(sql, fresh);
      expect(await found(sql, 'mb7 ticket')).to.deep.equal([fresh.id]);
      expect(await indexNewRows(sql)).to.equal(1);
      await updateTicket(sql, rows[1].id, { subject: 'Renamed mb8' });
      expect(await found(sql, 'mb6')).to.deep.equal([]);
      expect(await found(sql, 'mb8')).to.deep.equal([rows[1].id]);
      await intact(sql);
    } finally {
      await db.close();
    }
  });

  it('rebuilds the index when 0005 triggers were missing (rows inserted meanwhile were never indexed)', async () => {
    const { rows } = await before0007({ dropTriggers: true });
    const db = await openDatabase(tdb.url);
    try {
      const sql = db.sql;
      expect(await inIndex(sql, 'old mb')).to.have.length(2);
      expect(await watermark(sql)).to.equal(await rowidOf(sql, rows[1].id));
      await intact(sql);
    } finally {
      await db.close();
    }
  });
});

describe('search index: the gateway indexes on its tick (SQLite)', function () {
  this.timeout(60_000);
  let t: TestGateway;
  before(async () => {
    t = await startGateway({ backend: 'sqlite', bot: null, clock: new ManualClock(NOW) });
  });
  after(async () => {
    await t?.stop();
  });

  it('GET /api/tickets?q= finds a new ticket at once; the tick indexes it', async () => {
    const sql = t.gw.db.sql;
    const tag = `zx${rand(5)}`;
    const row = ticket(`Tick ${tag} ticket`);
    await insertTicket(sql, row);
    const search = async () => (await t.api('GET', `/api/tickets?q=${tag}`)).body.items.map((x: any) => x.id);
    expect(await search()).to.deep.equal([row.id]);
    await t.gw.tick();
    expect(await watermark(sql)).to.be.at.least(await rowidOf(sql, row.id));
    expect(await inIndex(sql, tag)).to.have.length(1);
    expect(await search()).to.deep.equal([row.id]);
  });
});
