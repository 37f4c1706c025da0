import { TableColumn, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';
import { columnType, schemaStep2 } from '../tables.js';
import { createTable } from './build.js';

export class SlaCsatAttachments1779321600000 implements MigrationInterface {
  name = 'SlaCsatAttachments1779321600000';

  async up(qr: QueryRunner): Promise<void> {
    const mysql = qr.connection.options.type === 'mysql';
    for (const [table, cols] of Object.entries(schemaStep2.addColumns)) {
      await qr.addColumns(
        table,
        cols.map((col) => new TableColumn({
          name: col.name,
          ...columnType[col.kind],
          ...(mysql && col.kind !== 'int' && col.kind !== 'bigint' ? { charset: 'utf8mb4', collation: 'utf8mb4_bin' } : {}),
          isNullable: !!col.nullable,
          default: col.default,
        })),
      );
    }
    for (const def of schemaStep2.tables) await createTable(qr, def);
    for (const [table, list] of Object.entries(schemaStep2.indices)) {
      for (const ix of list) await qr.createIndex(table, new TableIndex({ name: ix.name, columnNames: ix.columns, isUnique: !!ix.unique }));
    }
  }

  async down(qr: QueryRunner): Promise<void> {
    for (const [table, list] of Object.entries(schemaStep2.indices)) for (const ix of list) await qr.dropIndex(table, ix.name);
    for (const def of [...schemaStep2.tables].reverse()) await qr.dropTable(def.name, true);
    for (const [table, cols] of Object.entries(schemaStep2.addColumns)) for (const col of cols) await qr.dropColumn(table, col.name);
  }
}
