// Migration 0006: JSON / free-text columns hold more than MySQL TEXT's 64 KB (MEDIUMTEXT),
// attachments.sha256 holds a hex digest, and rows written before the migration survive it.
// MySQL only (SQLite TEXT is unbounded and the migration is a no-op there).

import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { openDatabase, type Database } from '../../gateway/db/open.js';
import { schemaStep6 } from '../../gateway/db/tables.js';
import { mysqlDatabase, rand, type TestDatabase } from '../helpers/gateway-harness.js';

if (process.env.TEST_MYSQL_URL) {
  describe('wide columns (MySQL, migration 0006)', function () {
    this.timeout(60_000);
    let tdb: TestDatabase;
    let db: Database;

    before(async () => {
      tdb = await mysqlDatabase();
      db = await openDatabase(tdb.url);
    });
    after(async () => {
      await db?.close();
      await tdb?.drop();
    });

    /** ~100 KB of text with multi-byte characters (utf8mb4: emoji take 4 bytes). */
    const bigText = () => `${'Zeile mit Umlauten äöü und 🙂 '.repeat(3_400)}${rand(8)}`;

    it('every widened column is MEDIUMTEXT and attachments.sha256 is VARCHAR(64)', async () => {
      const cols = await db.sql.query<{ t: string; c: string; type: string }>(
        'SELECT TABLE_NAME AS t, COLUMN_NAME AS c, COLUMN_TYPE AS type FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()',
      );
      const typeOf = (t: string, c: string) => cols.find((r) => r.t === t && r.c === c)?.type;
      for (const [table, kinds] of Object.entries(schemaStep6.changeKinds)) {
        for (const [col, kind] of Object.entries(kinds)) {
          expect(typeOf(table, col), `${table}.${col}`).to.equal(kind === 'long' ? 'mediumtext' : 'varchar(64)');
        }
      }
    });

    it('a 100 KB message text and payload round-trip intact; an attachment row keeps its sha256', async () => {
      const text = bigText();
      expect(Buffer.byteLength(text)).to.be.greaterThan(100_000);
      const payload = JSON.stringify({ text, note: 'more than 64 KB of JSON' });
      const id = `m${rand(6)}`;
      await db.sql.execute(
        'INSERT INTO messages (id, ticketId, channel, direction, author, kind, text, payload, createdAt, updatedAt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [id, 'T1', 'email', 'in', 'customer', 'text', text, payload, 1, 1],
      );
      const [row] = await db.sql.query<{ text: string; payload: string }>('SELECT text, payload FROM messages WHERE id = ?', [id]);
      expect(row!.text).to.equal(text);
      expect(row!.payload).to.equal(payload);

      const digest = createHash('sha256').update(text).digest('hex');
      await db.sql.execute(
        'INSERT INTO attachments (id, messageId, ticketId, filename, contentType, size, storageKey, sha256, createdAt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [`a${rand(6)}`, id, 'T1', 'big.txt', 'text/plain', text.length, `upload/${digest}`, digest, 1],
      );
      const [att] = await db.sql.query<{ sha256: string }>('SELECT sha256 FROM attachments WHERE messageId = ?', [id]);
      expect(att!.sha256).to.equal(digest);
    });

    it('down and up again keep the rows that fit (the migration modifies columns in place, never drops them)', async () => {
      const id = `m${rand(6)}`;
      await db.sql.execute(
        'INSERT INTO messages (id, ticketId, channel, direction, author, kind, text, payload, createdAt, updatedAt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [id, 'T2', 'whatsapp', 'in', 'customer', 'text', 'hello 🙂', '{"a":1}', 1, 1],
      );
      // Only the small row may stay for the narrower columns.
      await db.sql.execute('DELETE FROM messages WHERE ticketId = ?', ['T1']);
      await db.sql.execute('DELETE FROM attachments WHERE ticketId = ?', ['T1']);
      // Later migrations are undone first, then 0006 itself.
      const last = async () => (await db.sql.query<{ name: string }>('SELECT name FROM migrations ORDER BY timestamp DESC LIMIT 1'))[0]?.name;
      while ((await last()) !== 'WiderColumns1779667200000') await db.dataSource.undoLastMigration({ transaction: 'each' });
      await db.dataSource.undoLastMigration({ transaction: 'each' });
      const [narrow] = await db.sql.query<{ type: string }>("SELECT COLUMN_TYPE AS type FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'messages' AND COLUMN_NAME = 'text'");
      expect(narrow!.type).to.equal('text');
      await db.dataSource.runMigrations({ transaction: 'each' });
      const [row] = await db.sql.query<{ text: string; payload: string }>('SELECT text, payload FROM messages WHERE id = ?', [id]);
      expect(row).to.deep.equal({ text: 'hello 🙂', payload: '{"a":1}' });
    });
  });
}
