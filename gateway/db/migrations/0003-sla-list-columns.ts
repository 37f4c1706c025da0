import { TableColumn, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';
import { columnType, schemaStep3 } from '../tables.js';

/** SLA sort/warning columns and list indexes (see schemaStep3 in tables.ts). */
export class SlaListColumns1779408000000 implements MigrationInterface {
  name = 'SlaListColumns1779408000000';

  async up(qr: QueryRunner): Promise<void> {
    for (const [table, cols] of Object.entries(schemaStep3.addColumns)) {
      await qr.addColumns(table, cols.map((col) => new TableColumn({ name: col.name, ...columnType[col.kind], isNullable: !!col.nullable, default: col.default })));
    }
    for (const [table, list] of Object.entries(schemaStep3.indices)) {
      for (const ix of list) await qr.createIndex(table, new TableIndex({ name: ix.name, columnNames: ix.columns, isUnique: !!ix.unique }));
    }
  }

  async down(qr: QueryRunner): Promise<void> {
    for (const [table, list] of Object.entries(schemaStep3.indices)) for (const ix of list) await qr.dropIndex(table, ix.name);
    for (const [table, cols] of Object.entries(schemaStep3.addColumns)) for (const col of cols) await qr.dropColumn(table, col.name);
  }
}
