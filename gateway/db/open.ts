// Opens the database named by DATABASE_URL through TypeORM (connection, entities,
// migrations) and returns the thin Sql layer the rest of the gateway uses.

import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import path from 'node:path';
import { DataSource } from 'typeorm';
import type BetterSqlite3 from 'better-sqlite3';
import type { Pool as CallbackPool, PoolConnection as CallbackConnection } from 'mysql2';
import { entities } from './entities.js';
import { migrations } from './migrations/index.js';
import type { Dialect, Param, Sql } from './sql.js';
import { MAIN_AUTOCHECKPOINT_PAGES, startCheckpointer } from './wal-checkpointer.js';

export interface Database {
  readonly dialect: Dialect;
  readonly dataSource: DataSource;
  readonly sql: Sql;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export function parseDatabaseUrl(url: string): { dialect: Dialect; file?: string; url?: string } {
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (!file) throw new Error('DATABASE_URL sqlite: needs a path, e.g. sqlite:./data/gateway.db');
    return { dialect: 'sqlite', file };
  }
  if (url.startsWith('mysql://') || url.startsWith('mariadb://')) return { dialect: 'mysql', url: url.replace(/^mariadb:/, 'mysql:') };
  throw new Error(`DATABASE_URL must start with sqlite: or mysql:// (got ${url.split(':')[0]}:)`);
}

export async function openDatabase(databaseUrl: string, opts: { migrate?: boolean; warn?: (msg: string) => void } = {}): Promise<Database> {
  const parsed = parseDatabaseUrl(databaseUrl);
  let ds: DataSource;
  if (parsed.dialect === 'sqlite') {
    const file = parsed.file!;
    if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    ds = new DataSource({
      type: 'better-sqlite3',
      database: file,
      entities,
      migrations,
      migrationsRun: false,
      enableWAL: file !== ':memory:',
      prepareDatabase: (db: BetterSqlite3.Database) => {
        // WAL + NORMAL: durable across a process crash (what a webhook ack promises);
        // only an OS crash can lose the last commits. busy_timeout for a second process.
        db.pragma('synchronous = NORMAL');
        db.pragma('busy_timeout = 5000');
        // 64 MB of page cache instead of better-sqlite3's 16 MB: the tickets table and its
        // eleven indexes outgrow 16 MB within minutes of traffic, and inserts then read
        // index pages back through the OS (~5% of a message's CPU in the bench).
        db.pragma('cache_size = -65536');
        // Checkpoints run on a worker thread (wal-checkpointer.ts); this is only the safety net.
        if (file !== ':memory:') db.pragma(`wal_autocheckpoint = ${MAIN_AUTOCHECKPOINT_PAGES}`);
      },
    });
  } else {
    ds = new DataSource({
      type: 'mysql',
      url: parsed.url,
      entities,
      migrations,
      charset: 'utf8mb4_bin',
      supportBigNumbers: true,
      bigNumberStrings: false,
      poolSize: 20,
      // multipleStatements: a transaction's held writes go in one query (Sql.defer, mysqlSql
      // below). Every statement is parameterised; nothing is ever built from input.
      extra: { connectionLimit: 20, enableKeepAlive: true, multipleStatements: true },
    });
  }
  await ds.initialize();
  if (opts.migrate !== false) await migrate(ds, parsed.dialect);
  const checkpointer = parsed.dialect === 'sqlite' && parsed.file !== ':memory:'
    ? startCheckpointer(path.resolve(parsed.file!), (message) => (opts.warn ?? console.error)(`SQLite checkpointer: ${message}`))
    : null;
  const sql = parsed.dialect === 'sqlite'
    ? sqliteSql((ds.driver as any).databaseConnection as BetterSqlite3.Database)
    : mysqlSql((ds.driver as any).pool as CallbackPool);
  return {
    dialect: parsed.dialect,
    dataSource: ds,
    sql,
    async ping() {
      await sql.query('SELECT 1 AS ok');
    },
    async close() {
      await checkpointer?.stop();
      if (ds.isInitialized) await ds.destroy();
    },
  };
}

/**
 * Runs pending migrations. On MySQL several processes may start at once: a named
 * server lock makes them take turns (the second finds nothing left to run).
 */
async function migrate(ds: DataSource, dialect: Dialect): Promise<void> {
  if (dialect !== 'mysql') {
    await ds.runMigrations({ transaction: 'each' });
    return;
  }
  const qr = ds.createQueryRunner();
  try {
    const [row] = await qr.query("SELECT GET_LOCK('chatgate_migrations', 120) AS got");
    if (Number(row?.got) !== 1) throw new Error('could not take the migration lock within 120 s');
    try {
      await ds.runMigrations({ transaction: 'each' });
    } finally {
      await qr.query("SELECT RELEASE_LOCK('chatgate_migrations')");
    }
  } finally {
    await qr.release();
  }
}

function norm(params: Param[] | undefined): unknown[] {
  if (!params) return [];
  return params.map((p) => (p === undefined ? null : typeof p === 'boolean' ? (p ? 1 : 0) : p));
}

interface Unit {
  fn: () => Promise<unknown>;
  /** One statement: SQLite undoes a failing statement by itself, no savepoint needed. */
  single: boolean;
  resolve: (v: unknown) => void;
  reject: (err: unknown) => void;
}

const MAX_GROUP = 256;

/**
 * SQLite has one writer, and one connection, so write transactions take turns (FIFO).
 * Group commit: the turns waiting while one runs join its transaction, each inside its
 * own SAVEPOINT (a failing one is rolled back alone and rejected at once), and one
 * COMMIT ends the group. Every caller is resolved only after that COMMIT, so "resolved"
 * still means "durable" (a webhook is acknowledged only then). When nobody waits the
 * group is a single transaction, committed at once; under load one commit (and the
 * WAL pages it writes) serves many turns: commits were most of a message's CPU.
 */
class GroupCommit {
  private readonly queue: Unit[] = [];
  private running = false;

  /** Transaction control as prepared statements: db.exec parses its SQL on every call (several per message). */
  private readonly ctl: Record<'begin' | 'savepoint' | 'release' | 'rollbackTo' | 'commit', BetterSqlite3.Statement>;

  constructor(private readonly db: BetterSqlite3.Database) {
    this.ctl = {
      begin: db.prepare('BEGIN IMMEDIATE'),
      savepoint: db.prepare('SAVEPOINT unit'),
      release: db.prepare('RELEASE unit'),
      rollbackTo: db.prepare('ROLLBACK TO unit'),
      commit: db.prepare('COMMIT'),
    };
  }

  run<T>(fn: () => Promise<T>, single = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, single, resolve: resolve as (v: unknown) => void, reject });
      if (!this.running) void this.loop();
    });
  }

  private async loop(): Promise<void> {
    this.running = true;
    const db = this.db;
    const ctl = this.ctl;
    try {
      while (this.queue.length) {
        try {
          ctl.begin.run();
        } catch (err) {
          this.queue.shift()!.reject(err); // e.g. SQLITE_BUSY: another process kept the lock
          continue;
        }
        const done: { u: Unit; value: unknown }[] = [];
        let yielded = false;
        while (done.length < MAX_GROUP) {
          const u = this.queue.shift();
          if (!u) {
            // Let the I/O that arrived meanwhile (webhooks, replies) join this group once.
            if (yielded) break;
            yielded = true;
            await new Promise((r) => setImmediate(r));
            continue;
          }
          yielded = false;
          if (!u.single) ctl.savepoint.run();
          try {
            const value = await u.fn();
            if (!u.single) ctl.release.run();
            done.push({ u, value });
          } catch (err) {
            if (db.inTransaction && !u.single) {
              ctl.rollbackTo.run();
              ctl.release.run();
            }
            u.reject(err);
            if (!db.inTransaction) {
              // SQLite gave the whole transaction up (disk full, I/O error): the turns
              // before this one are lost too; their callers retry.
              for (const d of done.splice(0)) d.u.reject(err);
              break;
            }
          }
        }
        if (!db.inTransaction) continue;
        try {
          ctl.commit.run();
        } catch (err) {
          if (db.inTransaction) db.exec('ROLLBACK');
          for (const d of done) d.u.reject(err);
          continue;
        }
        for (const d of done) d.u.resolve(d.value);
      }
    } finally {
      this.running = false;
    }
  }
}

const UNIQUE_SQLITE = new Set(['SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_CONSTRAINT_PRIMARYKEY']);

function sqliteSql(db: BetterSqlite3.Database): Sql {
  const cache = new Map<string, BetterSqlite3.Statement>();
  const stmt = (q: string) => {
    let s = cache.get(q);
    if (!s) {
      s = db.prepare(q);
      if (cache.size > 500) cache.clear();
      cache.set(q, s);
    }
    return s;
  };
  const writes = new GroupCommit(db);
  const inTx = new AsyncLocalStorage<boolean>();
  const base = {
    dialect: 'sqlite' as const,
    insertIgnore: () => 'INSERT OR IGNORE',
    isUniqueViolation: (err: unknown) => UNIQUE_SQLITE.has((err as any)?.code),
  };
  const direct = {
    async query<T>(q: string, params?: Param[]): Promise<T[]> {
      return stmt(q).all(...norm(params)) as T[];
    },
    async execute(q: string, params?: Param[]) {
      return { affected: stmt(q).run(...norm(params)).changes };
    },
  };
  const sql: Sql = {
    ...base,
    query: direct.query,
    async execute(q, params) {
      if (inTx.getStore()) return direct.execute(q, params);
      return writes.run(() => direct.execute(q, params), true);
    },
    // SQLite runs in-process: nothing to gain by holding a statement back.
    async defer(q, params) {
      await sql.execute(q, params);
    },
    async tx(fn) {
      if (inTx.getStore()) return fn(sql);
      return writes.run(() => inTx.run(true, () => fn(sql)));
    },
  };
  return sql;
}

const RETRYABLE_MYSQL = new Set([1213 /* deadlock */, 1205 /* lock wait timeout */]);

/** One statement on a pool or connection. The callback API: mysql2's promise wrapper
 *  captures a stack trace per query (5% of a message's CPU in the bench profile). */
function run(on: CallbackPool | CallbackConnection, q: string, params: unknown[]): Promise<any> {
  return new Promise((resolve, reject) => {
    on.query(q, params, (err: unknown, res: unknown) => (err ? reject(err) : resolve(res)));
  });
}

/**
 * A transaction's connection and the statements it holds back (Sql.defer). Round trips
 * were most of a message's cost on MySQL (a socket write and a wake-up each): held
 * statements go with the next one as a single multi-statement query, and the
 * transaction's own `START TRANSACTION` is held the same way, so a transaction of one
 * read and several writes is two round trips, whatever the number of writes.
 */
interface MysqlTx {
  conn: CallbackConnection;
  /** Held writes, already formatted (client-side escaping, as `query(sql, values)` does). */
  held: string[];
  /** Whether START TRANSACTION has been sent (it goes with the transaction's first statement; a ROLLBACK is then needed). */
  begun: boolean;
  /**
   * Set when a query carrying held statements failed: a held write is lost, so the
   * transaction must not commit, even if the caller caught the error (it came from a
   * statement it did not send itself). Every later statement, and the commit, fail with it.
   */
  failed?: unknown;
}

/** Sends the held statements and then q, in one query; resolves with q's result. */
function runHeld(t: MysqlTx, q: string, params: unknown[]): Promise<any> {
  if (t.failed) return Promise.reject(t.failed);
  if (t.begun && !t.held.length) return run(t.conn, q, params);
  const statements = [...(t.begun ? [] : ['START TRANSACTION']), ...t.held, params.length ? t.conn.format(q, params) : q];
  const carriesWrites = t.held.length > 0;
  t.held = [];
  t.begun = true;
  return new Promise((resolve, reject) => {
    t.conn.query(statements.join(';\n'), (err: unknown, res: any) => {
      if (!err) return resolve(res[res.length - 1]);
      if (carriesWrites) t.failed = err;
      reject(err);
    });
  });
}

function mysqlSql(pool: CallbackPool): Sql {
  const current = new AsyncLocalStorage<MysqlTx>();
  const base = {
    dialect: 'mysql' as const,
    insertIgnore: () => 'INSERT IGNORE',
    isUniqueViolation: (err: unknown) => (err as any)?.errno === 1062 || (err as any)?.code === 'ER_DUP_ENTRY',
  };
  const exec = (q: string, params: unknown[]) => {
    const t = current.getStore();
    return t ? runHeld(t, q, params) : run(pool, q, params);
  };
  const connection = () => new Promise<CallbackConnection>((resolve, reject) => pool.getConnection((err, conn) => (err ? reject(err) : resolve(conn))));
  const sql: Sql = {
    ...base,
    async query<T>(q: string, params?: Param[]) {
      return (await exec(q, norm(params))) as T[];
    },
    async execute(q, params) {
      const res = await exec(q, norm(params));
      return { affected: res?.affectedRows ?? 0 };
    },
    async defer(q, params) {
      const t = current.getStore();
      if (!t) {
        await run(pool, q, norm(params));
        return;
      }
      const p = norm(params);
      t.held.push(p.length ? t.conn.format(q, p) : q);
    },
    async tx(fn) {
      if (current.getStore()) return fn(sql);
      for (let attempt = 1; ; attempt++) {
        const conn = await connection();
        const t: MysqlTx = { conn, held: [], begun: false };
        try {
          const r = await current.run(t, () => fn(sql));
          // Nothing was run: nothing to commit.
          if (t.begun || t.held.length) await runHeld(t, 'COMMIT', []);
          return r;
        } catch (err) {
          if (t.begun) await run(conn, 'ROLLBACK', []).catch(() => undefined);
          if (attempt < 4 && RETRYABLE_MYSQL.has((err as any)?.errno)) continue;
          throw err;
        } finally {
          conn.release();
        }
      }
    },
  };
  return sql;
}
