import type { MigrationInterface, QueryRunner } from 'typeorm';
import { initialTables } from '../tables.js';
import { createTable } from './build.js';

export class Initial1763683200000 implements MigrationInterface {
  name = 'Initial1763683200000';

  async up(qr: QueryRunner): Promise<void> {
    for (const def of initialTables) await createTable(qr, def);
  }

  async down(qr: QueryRunner): Promise<void> {
    for (const def of [...initialTables].reverse()) await qr.dropTable(def.name, true);
  }
}
