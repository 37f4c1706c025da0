import type { MigrationInterface, QueryRunner } from 'typeorm';
import { searchIndexDropStatements, searchIndexStatements } from '../search-index.js';

/** Trigram full-text index of ticket subjects and contact names for the list's q (SQLite only; see search-index.ts). */
export class SearchIndex1779580800000 implements MigrationInterface {
  name = 'SearchIndex1779580800000';

  async up(qr: QueryRunner): Promise<void> {
    if (qr.connection.options.type === 'mysql') return;
    for (const s of searchIndexStatements()) await qr.query(s);
  }

  async down(qr: QueryRunner): Promise<void> {
    if (qr.connection.options.type === 'mysql') return;
    for (const s of searchIndexDropStatements()) await qr.query(s);
  }
}
