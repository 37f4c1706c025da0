import type { MigrationInterface, QueryRunner } from 'typeorm';
import { insertTriggerName, searchIndexStatements } from '../search-index.js';

const TABLES = [
  { fts: 'ticket_subject_fts', table: 'tickets', column: 'subject' },
  { fts: 'contact_name_fts', table: 'contacts', column: 'name' },
];

/**
 * The search index (0005) gets its new rows from a batch indexer and a watermark instead of
 * a per-INSERT trigger (see search-index.ts). SQLite only. The rows there are already
 * indexed when 0005's triggers are all in place, so the watermarks start at the tables'
 * highest rowids; when some are missing (a table rebuild dropped them) the index is rebuilt.
 * A database created after this change got the new form from 0005 already: nothing to do.
 */
export class BatchedSearchIndex1779753600000 implements MigrationInterface {
  name = 'BatchedSearchIndex1779753600000';

  async up(qr: QueryRunner): Promise<void> {
    if (qr.connection.options.type === 'mysql') return;
    if (await exists(qr, ['search_index_state'])) return;
    const v1 = TABLES.flatMap(({ table }) => [insertTriggerName(table), `${table}_search_ad`, `${table}_search_au`]);
    const inStep = await exists(qr, [...TABLES.map((t) => t.fts), ...v1]);
    for (const s of searchIndexStatements({ rebuild: !inStep })) await qr.query(s);
  }

  /** Back to 0005's form: index the rows still above the watermarks, then per-row triggers again. */
  async down(qr: QueryRunner): Promise<void> {
    if (qr.connection.options.type === 'mysql') return;
    for (const { fts, table, column } of TABLES) {
      await qr.query(`INSERT INTO ${fts}(rowid, ${column}) SELECT rowid, ${column} FROM ${table} WHERE rowid > (SELECT indexed FROM search_index_state WHERE name = '${fts}')`);
      await qr.query(`DROP TRIGGER IF EXISTS ${table}_search_ad`);
      await qr.query(`DROP TRIGGER IF EXISTS ${table}_search_au`);
      await qr.query(`CREATE TRIGGER ${insertTriggerName(table)} AFTER INSERT ON ${table} BEGIN INSERT INTO ${fts}(rowid, ${column}) VALUES (new.rowid, new.${column}); END`);
      await qr.query(`CREATE TRIGGER ${table}_search_ad AFTER DELETE ON ${table} BEGIN INSERT INTO ${fts}(${fts}, rowid, ${column}) VALUES ('delete', old.rowid, old.${column}); END`);
      await qr.query(
        `CREATE TRIGGER ${table}_search_au AFTER UPDATE OF ${column} ON ${table} BEGIN INSERT INTO ${fts}(${fts}, rowid, ${column}) VALUES ('delete', old.rowid, old.${column}); INSERT INTO ${fts}(rowid, ${column}) VALUES (new.rowid, new.${column}); END`,
      );
    }
    await qr.query('DROP TABLE search_index_state');
  }
}

async function exists(qr: QueryRunner, names: string[]): Promise<boolean> {
  const rows: unknown[] = await qr.query(`SELECT name FROM sqlite_master WHERE name IN (${names.map(() => '?').join(', ')})`, names);
  return rows.length === names.length;
}
