import { expect } from 'chai';
import { CachedCollection, putCollection } from '../../tickets/collections.js';
import { sqliteSql } from '../bot/helpers.js';
import type { Sql } from '../../gateway/db/sql.js';

function countingSql() {
  const inner = sqliteSql();
  inner.db.exec('CREATE TABLE settings (name VARCHAR(190) PRIMARY KEY, value TEXT NOT NULL, updatedAt BIGINT NOT NULL)');
  let selects = 0;
  const sql: Sql = {
    ...inner,
    async query(text: string, params?: any[]) {
      if (/^SELECT/i.test(text)) selects++;
      return inner.query(text, params);
    },
  } as Sql;
  return { sql, selects: () => selects };
}

describe('CachedCollection (hot-path reads of admin lists)', () => {
  it('concurrent callers share one read when the cache is cold or expired', async () => {
    const { sql, selects } = countingSql();
    await putCollection(sql, 'triggers', [{ name: 'a' }], 0);
    let now = 1000;
    const c = new CachedCollection<{ name: string }[]>(sql, 'triggers', [], 1000, () => now);
    const before = selects();
    const results = await Promise.all(Array.from({ length: 50 }, () => c.get()));
    expect(selects() - before).to.equal(1);
    expect(results.every((r) => r[0].name === 'a')).to.equal(true);
    await c.get();
    expect(selects() - before).to.equal(1); // fresh: served from the cache
    now += 1000;
    await Promise.all([c.get(), c.get(), c.get()]);
    expect(selects() - before).to.equal(2); // expired: one read again
  });

  it('a write during a read is not hidden by that stale read', async () => {
    const { sql } = countingSql();
    await putCollection(sql, 'triggers', [{ name: 'old' }], 0);
    // hold the first SELECT's answer until the write and invalidate() have happened
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let first = true;
    const gated: Sql = {
      ...sql,
      async query(text: string, params?: any[]) {
        const rows = await sql.query(text, params);
        if (first && /^SELECT/i.test(text)) {
          first = false;
          await gate;
        }
        return rows;
      },
    } as Sql;
    const c = new CachedCollection<{ name: string }[]>(gated, 'triggers', [], 60_000);
    const reading = c.get();
    await putCollection(sql, 'triggers', [{ name: 'new' }], 1);
    c.invalidate();
    release();
    expect((await reading)[0].name).to.equal('old'); // the read in flight answers what it read
    expect((await c.get())[0].name).to.equal('new'); // but it was not kept
  });
});
