// Full-text (trigram) index for the ticket list's `q` on SQLite: ticket subjects and
// contact names, so a substring search finds its few matches from an index instead of
// reading a million tickets. FTS5 external-content tables keyed by the rowid, kept in
// step by triggers. MySQL has none of this: there `q` uses LIKE (see tickets/list.ts).
//
// Triggers belong to their table: a later migration that makes TypeORM rebuild `tickets`
// or `contacts` (SQLite ALTER TABLE emulation) drops them and may renumber rowids, so
// `ensureSearchIndex` checks they exist and, when not, recreates them and rebuilds the
// index (the scheduler runs it; until then the list falls back to LIKE).

import type { Sql } from './sql.js';

const INDEXES = [
  { fts: 'ticket_subject_fts', table: 'tickets', column: 'subject' },
  { fts: 'contact_name_fts', table: 'contacts', column: 'name' },
] as const;

const triggerNames = (table: string) => [`${table}_search_ai`, `${table}_search_ad`, `${table}_search_au`];

function ddl(): { tables: string[]; triggers: string[] } {
  const tables: string[] = [];
  const triggers: string[] = [];
  for (const { fts, table, column } of INDEXES) {
    tables.push(`CREATE VIRTUAL TABLE IF NOT EXISTS ${fts} USING fts5(${column}, content='${table}', content_rowid='rowid', tokenize='trigram')`);
    const [ai, ad, au] = triggerNames(table);
    triggers.push(
      `CREATE TRIGGER IF NOT EXISTS ${ai} AFTER INSERT ON ${table} BEGIN INSERT INTO ${fts}(rowid, ${column}) VALUES (new.rowid, new.${column}); END`,
      `CREATE TRIGGER IF NOT EXISTS ${ad} AFTER DELETE ON ${table} BEGIN INSERT INTO ${fts}(${fts}, rowid, ${column}) VALUES ('delete', old.rowid, old.${column}); END`,
      `CREATE TRIGGER IF NOT EXISTS ${au} AFTER UPDATE OF ${column} ON ${table} BEGIN INSERT INTO ${fts}(${fts}, rowid, ${column}) VALUES ('delete', old.rowid, old.${column}); INSERT INTO ${fts}(rowid, ${column}) VALUES (new.rowid, new.${column}); END`,
    );
  }
  return { tables, triggers };
}

/** Statements creating the index and its triggers and filling it (SQLite). */
export function searchIndexStatements(): string[] {
  const { tables, triggers } = ddl();
  return [...tables, ...triggers, ...INDEXES.map(({ fts }) => `INSERT INTO ${fts}(${fts}) VALUES ('rebuild')`)];
}

export function searchIndexDropStatements(): string[] {
  return [...INDEXES.flatMap(({ table }) => triggerNames(table).map((n) => `DROP TRIGGER IF EXISTS ${n}`)), ...INDEXES.map(({ fts }) => `DROP TABLE IF EXISTS ${fts}`)];
}

const ready = new WeakMap<Sql, boolean>();

/** Whether the trigram index exists with all its triggers (cached per connection once true). */
export async function searchIndexReady(sql: Sql): Promise<boolean> {
  if (sql.dialect !== 'sqlite') return false;
  if (ready.get(sql)) return true;
  const names = [...INDEXES.map((i) => i.fts), ...INDEXES.flatMap((i) => triggerNames(i.table))];
  const rows = await sql.query<{ name: string }>(`SELECT name FROM sqlite_master WHERE name IN (${names.map(() => '?').join(', ')})`, names);
  const ok = rows.length === names.length;
  if (ok) ready.set(sql, true);
  return ok;
}

/** Recreates missing triggers and rebuilds the index when something was missing (SQLite; no-op elsewhere). */
export async function ensureSearchIndex(sql: Sql): Promise<boolean> {
  if (sql.dialect !== 'sqlite' || (await searchIndexReady(sql))) return false;
  await sql.tx(async (tx) => {
    for (const s of searchIndexStatements()) await tx.execute(s);
  });
  ready.set(sql, true);
  return true;
}
