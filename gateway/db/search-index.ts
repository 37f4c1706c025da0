// Full-text (trigram) index for the ticket list's `q` on SQLite: ticket subjects and
// contact names, so a substring search finds its few matches from an index instead of
// reading a million tickets. FTS5 external-content tables keyed by the rowid. MySQL has
// none of this: there `q` uses LIKE (see tickets/list.ts).
//
// New rows are indexed in batches, not by an AFTER INSERT trigger: an FTS5 insert costs
// more than the ticket INSERT itself (0.1-0.3 ms, measured), a batch of a thousand about
// 9 us a row. `search_index_state` keeps, per index, a watermark: the highest
// rowid indexed. `indexNewRows` (the scheduler's fast tick) appends the rows above it and
// moves it in the same transaction; until then a search matches those rows with LIKE
// (`containingSql`), so results stay exact. New rows always land above the watermark
// (the rowid of a new row is the table's highest plus one, and the watermark is always 0
// or the rowid of an existing row: the delete trigger lowers it when that row goes).
// Triggers still keep indexed rows (at or below the watermark) in step on UPDATE and
// DELETE; rows above it are not in the index and must not be 'delete'd from it (FTS5
// would corrupt its index), so the triggers skip them. SQLite has one writer: the
// indexer and the triggers never interleave.
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

type Searchable = (typeof INDEXES)[number]['table'];

const STATE = 'search_index_state';

const triggerNames = (table: string) => [`${table}_search_ad`, `${table}_search_au`];
/** The per-INSERT trigger of migration 0005, replaced by the indexer (migration 0007). */
export const insertTriggerName = (table: string) => `${table}_search_ai`;

/** The watermark of an index, as an SQL scalar. */
const watermark = (fts: string) => `(SELECT indexed FROM ${STATE} WHERE name = '${fts}')`;

function ddl(): { tables: string[]; triggers: string[] } {
  const tables: string[] = [`CREATE TABLE IF NOT EXISTS ${STATE} (name VARCHAR(64) PRIMARY KEY NOT NULL, indexed INTEGER NOT NULL)`];
  const triggers: string[] = [];
  for (const { fts, table, column } of INDEXES) {
    tables.push(`CREATE VIRTUAL TABLE IF NOT EXISTS ${fts} USING fts5(${column}, content='${table}', content_rowid='rowid', tokenize='trigram')`);
    const [ad, au] = triggerNames(table);
    const indexed = (row: 'old' | 'new') => `${row}.rowid <= ${watermark(fts)}`;
    // Replaced, not kept (IF NOT EXISTS would keep 0005's unguarded versions).
    triggers.push(`DROP TRIGGER IF EXISTS ${insertTriggerName(table)}`, `DROP TRIGGER IF EXISTS ${ad}`, `DROP TRIGGER IF EXISTS ${au}`);
    triggers.push(
      // Deleting the row at the watermark lowers it to the next row down, so the rowid a new
      // row gets (highest plus one) is never one the indexer would skip.
      `CREATE TRIGGER ${ad} AFTER DELETE ON ${table} WHEN ${indexed('old')} BEGIN` +
        ` INSERT INTO ${fts}(${fts}, rowid, ${column}) VALUES ('delete', old.rowid, old.${column});` +
        ` UPDATE ${STATE} SET indexed = COALESCE((SELECT MAX(rowid) FROM ${table} WHERE rowid < old.rowid), 0) WHERE name = '${fts}' AND indexed = old.rowid; END`,
      `CREATE TRIGGER ${au} AFTER UPDATE OF ${column} ON ${table} WHEN ${indexed('old')} BEGIN` +
        ` INSERT INTO ${fts}(${fts}, rowid, ${column}) VALUES ('delete', old.rowid, old.${column});` +
        ` INSERT INTO ${fts}(rowid, ${column}) VALUES (new.rowid, new.${column}); END`,
    );
  }
  return { tables, triggers };
}

const watermarkAtEnd = () => INDEXES.map(({ fts, table }) => `INSERT OR REPLACE INTO ${STATE} (name, indexed) SELECT '${fts}', COALESCE(MAX(rowid), 0) FROM ${table}`);

/**
 * Statements creating the index, its triggers and watermarks (SQLite). With `rebuild`
 * (default) the index is filled from the tables; without, the caller knows it already
 * holds every row (0005's per-insert trigger kept it) and only the watermarks are set.
 */
export function searchIndexStatements(opts: { rebuild?: boolean } = {}): string[] {
  const { tables, triggers } = ddl();
  const fill = opts.rebuild === false ? [] : INDEXES.map(({ fts }) => `INSERT INTO ${fts}(${fts}) VALUES ('rebuild')`);
  return [...tables, ...triggers, ...fill, ...watermarkAtEnd()];
}

export function searchIndexDropStatements(): string[] {
  return [
    ...INDEXES.flatMap(({ table }) => [insertTriggerName(table), ...triggerNames(table)].map((n) => `DROP TRIGGER IF EXISTS ${n}`)),
    ...INDEXES.map(({ fts }) => `DROP TABLE IF EXISTS ${fts}`),
    `DROP TABLE IF EXISTS ${STATE}`,
  ];
}

const ready = new WeakMap<Sql, boolean>();

/** Whether the trigram index exists with its triggers and watermarks (cached per connection once true). */
export async function searchIndexReady(sql: Sql): Promise<boolean> {
  if (sql.dialect !== 'sqlite') return false;
  if (ready.get(sql)) return true;
  const names = [STATE, ...INDEXES.map((i) => i.fts), ...INDEXES.flatMap((i) => triggerNames(i.table))];
  const rows = await sql.query<{ name: string }>(`SELECT name FROM sqlite_master WHERE name IN (${names.map(() => '?').join(', ')})`, names);
  let ok = rows.length === names.length;
  if (ok) {
    const [{ n }] = await sql.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${STATE} WHERE name IN (${INDEXES.map((i) => `'${i.fts}'`).join(', ')})`);
    ok = Number(n) === INDEXES.length;
  }
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

/**
 * SELECT of the ids of `table`'s rows whose subject / name matches a LIKE pattern of 3+
 * characters without wildcards of its own (two parameters: the pattern, twice): the
 * indexed rows through the trigram index, the rows added since the indexer's last run by
 * LIKE over the rowid range above the watermark (a few seconds' worth).
 */
export function containingSql(table: Searchable): string {
  const { fts, column } = INDEXES.find((i) => i.table === table)!;
  return `SELECT x.id FROM ${fts} f JOIN ${table} x ON x.rowid = f.rowid WHERE f.${column} LIKE ?` +
    ` UNION ALL SELECT id FROM ${table} WHERE rowid > ${watermark(fts)} AND ${column} LIKE ?`;
}

/**
 * Appends the rows above each watermark to the index, `batch` rows per transaction (the
 * watermark moves in the same one), at most `max` rows per index per call. Returns how
 * many rows it indexed. A no-op until the index is ready (and on MySQL).
 */
export async function indexNewRows(sql: Sql, opts: { batch?: number; max?: number } = {}): Promise<number> {
  if (!(await searchIndexReady(sql))) return 0;
  // 250 rows hold the event loop ~3 ms (SQLite is synchronous); 1000 held it long enough to
  // show in the reply p99 at 500 msgs/s. Per row it costs ~10% more than 1000 would.
  const batch = opts.batch ?? 250;
  const max = opts.max ?? 20_000;
  let total = 0;
  for (const { fts, table, column } of INDEXES) {
    for (let done = 0; done < max; ) {
      const n = await sql.tx(async (tx) => {
        // Read inside the transaction: a trigger may have lowered the watermark meanwhile.
        const [{ lo }] = await tx.query<{ lo: number }>(`SELECT indexed AS lo FROM ${STATE} WHERE name = ?`, [fts]);
        const [{ hi, n }] = await tx.query<{ hi: number | null; n: number }>(
          `SELECT MAX(rowid) AS hi, COUNT(*) AS n FROM (SELECT rowid FROM ${table} WHERE rowid > ? ORDER BY rowid LIMIT ${Math.min(batch, max - done)})`,
          [lo],
        );
        if (hi === null) return 0;
        await tx.execute(`INSERT INTO ${fts}(rowid, ${column}) SELECT rowid, ${column} FROM ${table} WHERE rowid > ? AND rowid <= ?`, [lo, hi]);
        await tx.execute(`UPDATE ${STATE} SET indexed = ? WHERE name = ?`, [hi, fts]);
        return Number(n);
      });
      if (!n) break;
      done += n;
      total += n;
    }
  }
  return total;
}
