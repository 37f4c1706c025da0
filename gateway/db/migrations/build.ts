import { Table, TableIndex, type QueryRunner } from 'typeorm';
import { ddlType, type TableDef } from '../tables.js';

/** Creates a table from its description, portable across SQLite and MySQL. */
export async function createTable(qr: QueryRunner, def: TableDef): Promise<void> {
  const mysql = qr.connection.options.type === 'mysql';
  await qr.createTable(
    new Table({
      name: def.name,
      columns: def.columns.map((col) => ({
        name: col.name,
        ...ddlType(col.kind, mysql),
        // MySQL: text columns that may hold emoji and any script need utf8mb4.
        ...(mysql && col.kind !== 'int' && col.kind !== 'bigint' ? { charset: 'utf8mb4', collation: 'utf8mb4_bin' } : {}),
        isNullable: !!col.nullable,
        isPrimary: def.primary.includes(col.name),
        default: col.default,
      })),
    }),
    true,
  );
  for (const ix of def.indices ?? []) {
    await qr.createIndex(def.name, new TableIndex({ name: ix.name, columnNames: ix.columns, isUnique: !!ix.unique }));
  }
}
