// Sql.defer (gateway/db/sql.ts): writes held inside a transaction go with its next
// statement or its COMMIT. What must hold on both dialects: held writes are part of the
// transaction (committed with it, rolled back with it), they run in order before the
// next statement sees the data, and a held write that fails fails the transaction even
// when the caller catches the error of the statement that carried it.

import { expect } from 'chai';
import { openDatabase, type Database } from '../../gateway/db/open.js';
import type { Param } from '../../gateway/db/sql.js';
import { backends, mysqlDatabase, rand, sqliteDatabase, type TestDatabase } from '../helpers/gateway-harness.js';

for (const backend of backends()) {
  describe(`Sql.defer (${backend})`, function () {
    this.timeout(30_000);
    let tdb: TestDatabase;
    let db: Database;

    before(async () => {
      tdb = backend === 'mysql' ? await mysqlDatabase() : sqliteDatabase();
      db = await openDatabase(tdb.url);
    });
    after(async () => {
      await db?.close();
      await tdb?.drop();
    });

    const now = Date.now();
    const contact = (id: string): [string, Param[]] => ['INSERT INTO contacts (id, name, createdAt, updatedAt) VALUES (?, ?, ?, ?)', [id, `name ${id}`, now, now]];
    const names = async (ids: string[]) =>
      (await db.sql.query<{ id: string }>(`SELECT id FROM contacts WHERE id IN (${ids.map(() => '?').join(', ')}) ORDER BY id`, ids)).map((r) => r.id);

    it('held writes are committed with the transaction and seen, in order, by its next statement', async () => {
      const [a, b] = [`a${rand(4)}`, `b${rand(4)}`];
      const seen = await db.sql.tx(async (tx) => {
        await tx.defer(...contact(a));
        await tx.defer('UPDATE contacts SET name = ? WHERE id = ?', ['renamed', a]);
        await tx.defer(...contact(b));
        return tx.query<{ name: string }>('SELECT name FROM contacts WHERE id = ?', [a]);
      });
      expect(seen.map((r) => r.name)).to.deep.equal(['renamed']);
      expect(await names([a, b])).to.deep.equal([a, b]);
    });

    it('writes held until the COMMIT are committed by it (a transaction of held writes only)', async () => {
      const ids = [`c${rand(4)}`, `d${rand(4)}`];
      await db.sql.tx(async (tx) => {
        for (const id of ids) await tx.defer(...contact(id));
      });
      expect(await names(ids)).to.deep.equal(ids);
    });

    it('held writes are rolled back with the transaction when it throws', async () => {
      const id = `e${rand(4)}`;
      const err = await db.sql.tx(async (tx) => {
        await tx.defer(...contact(id));
        await tx.query('SELECT 1 AS one');
        throw new Error('changed my mind');
      }).catch((e: Error) => e);
      expect(err).to.be.instanceOf(Error);
      expect(await names([id])).to.deep.equal([]);
    });

    it('a failing held write fails the transaction, even when the caller catches the statement that carried it', async () => {
      const taken = `f${rand(4)}`;
      await db.sql.execute(...contact(taken));
      const fresh = `g${rand(4)}`;
      const err = await db.sql.tx(async (tx) => {
        await tx.defer(...contact(fresh));
        await tx.defer(...contact(taken)); // duplicate primary key
        // A caller that treats its own statement's failure as harmless must not commit the lost write.
        await tx.query('SELECT 1 AS one').catch(() => undefined);
        await tx.defer('UPDATE contacts SET name = ? WHERE id = ?', ['after the failure', fresh]);
      }).catch((e: unknown) => e);
      expect(db.sql.isUniqueViolation(err)).to.equal(true);
      expect(await names([fresh])).to.deep.equal([]);
    });

    it('outside a transaction a deferred write runs before it resolves', async () => {
      const id = `h${rand(4)}`;
      await db.sql.defer(...contact(id));
      expect(await names([id])).to.deep.equal([id]);
    });
  });
}
