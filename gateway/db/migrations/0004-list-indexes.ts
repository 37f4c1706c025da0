import { TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';
import { schemaStep4 } from '../tables.js';

/** List indexes for a million tickets (see schemaStep4 in tables.ts). */
export class ListIndexes1779494400000 implements MigrationInterface {
  name = 'ListIndexes1779494400000';

  async up(qr: QueryRunner): Promise<void> {
    for (const [table, names] of Object.entries(schemaStep4.dropIndices)) for (const name of names) await qr.dropIndex(table, name);
    for (const [table, list] of Object.entries(schemaStep4.indices)) {
      for (const ix of list) await qr.createIndex(table, new TableIndex({ name: ix.name, columnNames: ix.columns, isUnique: !!ix.unique }));
    }
  }

  async down(qr: QueryRunner): Promise<void> {
    for (const [table, list] of Object.entries(schemaStep4.indices)) for (const ix of list) await qr.dropIndex(table, ix.name);
    await qr.createIndex('tickets', new TableIndex({ name: 'ix_ticket_subject', columnNames: ['subject'] }));
  }
}
