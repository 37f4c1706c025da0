// The versioned state stores (memory, SQLite via the Sql seam, MySQL when
// TEST_MYSQL_URL is set, Redis when TEST_REDIS_URL is set) pass one contract suite,
// and concurrent turns on one conversation through them never lose an update.

import { expect } from 'chai';
import { createBot, type Bot } from '../../bot/index.js';
import { MemoryBotStore, RedisBotStore, SqlBotStore, StateConflictError, type BotStore } from '../../bot/storage.js';
import { Convo, FIXTURES, createBotStateTable, mysqlSql, sqliteSql } from './helpers.js';

interface Backend {
  name: string;
  /** A fresh, empty store; two calls within one test share the same data (two "processes"). */
  open(): Promise<{ make(): Promise<BotStore>; cleanup(): Promise<void> }>;
}

const uniq = () => `${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;

const backends: Backend[] = [
  {
    name: 'memory',
    async open() {
      const store = new MemoryBotStore();
      return { make: async () => store, cleanup: async () => {} };
    },
  },
  {
    name: 'sql (sqlite)',
    async open() {
      const sql = sqliteSql();
      const table = `bot_state_${uniq()}`;
      await sql.execute(createBotStateTable(table));
      return { make: async () => new SqlBotStore(sql, table), cleanup: async () => void sql.db.close() };
    },
  },
];

if (process.env.TEST_MYSQL_URL) {
  const url = process.env.TEST_MYSQL_URL;
  backends.push({
    name: 'sql (mysql)',
    async open() {
      const table = `bot_state_test_${uniq()}`;
      const admin = await mysqlSql(url);
      await admin.execute(createBotStateTable(table));
      const pools: { close(): Promise<void> }[] = [admin];
      return {
        // each "process" gets its own connection pool
        make: async () => {
          const sql = await mysqlSql(url);
          pools.push(sql);
          return new SqlBotStore(sql, table);
        },
        cleanup: async () => {
          await admin.execute(`DROP TABLE IF EXISTS ${table}`);
          for (const p of pools) await p.close();
        },
      };
    },
  });
}

if (process.env.TEST_REDIS_URL) {
  const url = process.env.TEST_REDIS_URL;
  backends.push({
    name: 'redis',
    async open() {
      const prefix = `test:bot:${uniq()}:`;
      const stores: BotStore[] = [];
      return {
        // each "process" gets its own connection
        make: async () => {
          const s = await RedisBotStore.connect(url, prefix);
          stores.push(s);
          return s;
        },
        cleanup: async () => {
          const { createClient } = await import('redis');
          const c = createClient({ url });
          await c.connect();
          for await (const keys of c.scanIterator({ MATCH: `${prefix}*`, COUNT: 100 })) if (keys.length) await c.del(keys);
          await c.close();
          for (const s of stores) await s.close();
        },
      };
    },
  });
}

/** Counts version conflicts so the tests prove the retry path ran. */
function counting(store: BotStore): BotStore & { conflicts: number } {
  const c = {
    conflicts: 0,
    read: (k: string[]) => store.read(k),
    async write(changes: Record<string, unknown>) {
      try {
        await store.write(changes);
      } catch (e) {
        if (e instanceof StateConflictError) c.conflicts++;
        throw e;
      }
    },
    delete: (k: string[]) => store.delete(k),
    logMisunderstood: (f: string, n: string, t: string, now: number) => store.logMisunderstood(f, n, t, now),
    listMisunderstood: () => store.listMisunderstood(),
    close: async () => {},
  };
  return c;
}

for (const backend of backends) {
  describe(`bot state store: ${backend.name}`, () => {
    let env: Awaited<ReturnType<Backend['open']>>;
    beforeEach(async () => {
      env = await backend.open();
    });
    afterEach(() => env.cleanup());

    it('reads nothing for a missing key', async () => {
      const s = await env.make();
      expect(await s.read(['c:none'])).to.deep.equal({});
    });

    it("eTag '0' creates only; a second create conflicts", async () => {
      const s = await env.make();
      await s.write({ 'c:a': { v: 1, eTag: '0' } });
      expect(await s.read(['c:a'])).to.deep.equal({ 'c:a': { v: 1, eTag: '1' } });
      let err: unknown;
      await s.write({ 'c:a': { v: 2, eTag: '0' } }).catch((e) => (err = e));
      expect(err).to.be.instanceOf(StateConflictError);
      expect((await s.read(['c:a']))['c:a'].v).to.equal(1);
    });

    it('writes with the version it read, and refuses a stale version', async () => {
      const s = await env.make();
      const t = await env.make();
      await s.write({ 'c:b': { n: 0, eTag: '0' } });
      const a = (await s.read(['c:b']))['c:b'];
      const b = (await t.read(['c:b']))['c:b'];
      await s.write({ 'c:b': { ...a, n: 1 } });
      let err: unknown;
      await t.write({ 'c:b': { ...b, n: 2 } }).catch((e) => (err = e));
      expect(err).to.be.instanceOf(StateConflictError);
      expect(await t.read(['c:b'])).to.deep.equal({ 'c:b': { n: 1, eTag: '2' } });
    });

    it("eTag '*' (botbuilder's saveChanges) writes unconditionally", async () => {
      const s = await env.make();
      await s.write({ 'c:c': { n: 1, eTag: '*' } });
      await s.write({ 'c:c': { n: 2 } });
      expect(await s.read(['c:c'])).to.deep.equal({ 'c:c': { n: 2, eTag: '2' } });
      await s.delete(['c:c']);
      expect(await s.read(['c:c'])).to.deep.equal({});
    });

    it('counts misunderstood inputs per flow, node and text', async () => {
      const s = await env.make();
      await s.logMisunderstood('welcome', 'menu', 'blorp', 1);
      await s.logMisunderstood('welcome', 'menu', '  blorp ', 2);
      await s.logMisunderstood('faq', 'ask', 'llamas?', 3);
      const list = await s.listMisunderstood();
      expect(list).to.deep.equal([
        { flow: 'welcome', node: 'menu', text: 'blorp', count: 2, lastAt: 2 },
        { flow: 'faq', node: 'ask', text: 'llamas?', count: 1, lastAt: 3 },
      ]);
    });

    it('concurrent turns on one conversation, through two bot instances, never lose an update', async () => {
      const s1 = counting(await env.make());
      const s2 = counting(await env.make());
      const bots: Bot[] = [
        await createBot({ flowsDir: `${FIXTURES}counter`, storage: { kind: 'custom', store: s1 }, log: () => {}, maxAttempts: 30 }),
        await createBot({ flowsDir: `${FIXTURES}counter`, storage: { kind: 'custom', store: s2 }, log: () => {}, maxAttempts: 30 }),
      ];
      const key = `conc-${uniq()}`;
      const convs = bots.map((b) => new Convo(b, 'whatsapp', { key }));
      await convs[0].say('start');
      const N = 12;
      const results = await Promise.all(Array.from({ length: N }, (_, i) => convs[i % 2].say(`m${i}`)));
      for (const r of results) expect(r.replies.map((x) => (x.kind === 'text' ? x.text : ''))).to.deep.equal(['Say something.']);
      const st = await bots[0].inspect(key);
      const history = String(st?.vars.history).split('|').filter(Boolean).sort();
      expect(history).to.deep.equal(Array.from({ length: N }, (_, i) => `m${i}`).sort());
      expect(s1.conflicts + s2.conflicts, 'version conflicts were detected and retried').to.be.greaterThan(0);
      for (const b of bots) await b.close();
    });
  });
}

describe('bot runtime over storage kinds', () => {
  it("createBot({storage: {kind: 'sql'}}) runs turns on the bot_state table", async () => {
    const sql = sqliteSql();
    await sql.execute(createBotStateTable('bot_state'));
    const bot = await createBot({ flowsDir: `${FIXTURES}counter`, storage: { kind: 'sql', sql }, log: () => {} });
    const c = new Convo(bot);
    await c.say('start');
    await c.say('one');
    const rows = await sql.query<{ id: string; version: number }>('SELECT id, version FROM bot_state');
    expect(rows).to.deep.equal([{ id: `c:${c.key}`, version: 2 }]);
    await bot.end(c.key);
    expect(await sql.query('SELECT id FROM bot_state')).to.deep.equal([]);
    await bot.close();
  });

  if (process.env.TEST_REDIS_URL) {
    it("createBot({storage: {kind: 'redis'}}) connects, runs turns and closes", async () => {
      const bot = await createBot({ flowsDir: `${FIXTURES}counter`, storage: { kind: 'redis', url: process.env.TEST_REDIS_URL!, prefix: `test:bot:${uniq()}:` }, log: () => {} });
      const c = new Convo(bot);
      await c.say('start');
      await c.say('x');
      expect((await bot.inspect(c.key))?.vars.history).to.equal('|x');
      await bot.end(c.key);
      await bot.close();
    });
  }
});
