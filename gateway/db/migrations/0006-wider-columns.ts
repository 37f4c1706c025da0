import type { MigrationInterface, QueryRunner } from 'typeorm';
import { ddlType, schemaStep6, tablesBeforeStep6, type ColumnDef, type TableDef } from '../tables.js';

/**
 * MEDIUMTEXT for JSON / free-text columns and a 64-character attachments.sha256 (see
 * schemaStep6 in tables.ts). MySQL only: SQLite TEXT is unbounded and VARCHAR lengths are
 * not enforced there. Plain `ALTER TABLE ... MODIFY` rather than TypeORM's changeColumn,
 * which drops and re-adds a column whose type changes (losing its data).
 */
export class WiderColumns1779667200000 implements MigrationInterface {
  name = 'WiderColumns1779667200000';

  async up(qr: QueryRunner): Promise<void> {
    if (qr.connection.options.type !== 'mysql') return;
    for (const [table, kinds] of Object.entries(schemaStep6.changeKinds)) {
      await qr.query(modify(table, Object.entries(kinds).map(([name, kind]) => ({ ...column(table, name), kind }))));
    }
  }

  async down(qr: QueryRunner): Promise<void> {
    if (qr.connection.options.type !== 'mysql') return;
    for (const [table, kinds] of Object.entries(schemaStep6.changeKinds)) {
      await qr.query(modify(table, Object.keys(kinds).map((name) => column(table, name))));
    }
  }
}

function column(table: string, name: string): ColumnDef {
  const def: TableDef | undefined = tablesBeforeStep6.find((t) => t.name === table);
  const col = def?.columns.find((c) => c.name === name);
  if (!col) throw new Error(`migration 0006: no column ${table}.${name}`);
  return col;
}

function modify(table: string, cols: ColumnDef[]): string {
  const parts = cols.map((col) => {
    const t = ddlType(col.kind, true);
    return `MODIFY \`${col.name}\` ${t.type.toUpperCase()}${t.length ? `(${t.length})` : ''} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin ${col.nullable ? 'NULL' : 'NOT NULL'}`;
  });
  return `ALTER TABLE \`${table}\` ${parts.join(', ')}`;
}
