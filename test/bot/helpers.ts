// Test helpers for the bot: a small Sql implementation over better-sqlite3 (and
// mysql2 when TEST_MYSQL_URL is set), channel capabilities and a conversation driver.

import Database from 'better-sqlite3';
import { fileURLToPath } from 'node:url';
import type { Channel } from '../../adapters/types.js';
import type { Sql, Param } from '../../gateway/db/sql.js';
import type { Bot } from '../../bot/index.js';
import type { BotTurnResult } from '../../bot/port.js';
import { CHANNEL_CAPABILITIES } from '../../flows/testing.js';

export const SHIPPED_FLOWS = fileURLToPath(new URL('../../flows/', import.meta.url));
export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

export function createBotStateTable(table: string): string {
  return `CREATE TABLE ${table} (id VARCHAR(190) PRIMARY KEY, version INT NOT NULL, data TEXT NOT NULL, updatedAt BIGINT NOT NULL)`;
}

function sqliteParam(p: Param): unknown {
  if (p === undefined) return null;
  if (typeof p === 'boolean') return p ? 1 : 0;
  return p;
}

/** Test-only Sql over an in-memory better-sqlite3 database. */
export function sqliteSql(db = new Database(':memory:')): Sql & { db: Database.Database } {
  const sql: Sql & { db: Database.Database } = {
    db,
    dialect: 'sqlite',
    async query<T>(text: string, params: Param[] = []) {
      return db.prepare(text).all(...params.map(sqliteParam)) as T[];
    },
    async execute(text: string, params: Param[] = []) {
      return { affected: db.prepare(text).run(...params.map(sqliteParam)).changes };
    },
    async defer(text: string, params?: Param[]) {
      await sql.execute(text, params);
    },
    async tx<T>(fn: (s: Sql) => Promise<T>): Promise<T> {
      db.exec('BEGIN');
      try {
        const r = await fn(sql);
        db.exec('COMMIT');
        return r;
      } catch (e) {
        db.exec('ROLLBACK');
        throw e;
      }
    },
    insertIgnore: () => 'INSERT OR IGNORE',
    isUniqueViolation: (e: unknown) => /SQLITE_CONSTRAINT_(PRIMARYKEY|UNIQUE)/.test(String((e as { code?: string })?.code)),
  };
  return sql;
}

/** Test-only Sql over a mysql2 pool (TEST_MYSQL_URL). */
export async function mysqlSql(url: string): Promise<Sql & { close(): Promise<void> }> {
  const mysql = await import('mysql2/promise');
  const pool = mysql.createPool({ uri: url, connectionLimit: 10 });
  const sql: Sql & { close(): Promise<void> } = {
    dialect: 'mysql',
    async query<T>(text: string, params: Param[] = []) {
      const [rows] = await pool.query(text, params);
      return rows as T[];
    },
    async execute(text: string, params: Param[] = []) {
      const [r] = await pool.query(text, params);
      return { affected: (r as { affectedRows: number }).affectedRows };
    },
    async defer(text: string, params?: Param[]) {
      await sql.execute(text, params);
    },
    async tx<T>(fn: (s: Sql) => Promise<T>): Promise<T> {
      return fn(sql); // not needed by the bot store
    },
    insertIgnore: () => 'INSERT IGNORE',
    isUniqueViolation: (e: unknown) => (e as { code?: string })?.code === 'ER_DUP_ENTRY',
    close: () => pool.end(),
  };
  return sql;
}

let seq = 0;

/** Drives one conversation: say(), tap(), start(), with fresh turn ids. */
export class Convo {
  readonly key: string;
  last?: BotTurnResult;
  private n = 0;
  private readonly id = ++seq;
  constructor(
    readonly bot: Bot,
    readonly channel: Channel = 'whatsapp',
    readonly opts: { fallbackLimit?: number; name?: string; key?: string } = {},
  ) {
    this.key = opts.key ?? `conv-${process.pid}-${++seq}`;
  }

  input(message?: { text: string; choiceId?: string }, startFlow?: string, turnId?: string) {
    return {
      turnId: turnId ?? `${this.key}:${this.id}:${this.n++}`,
      conversationKey: this.key,
      ticketId: `T-${this.key}`,
      channel: this.channel,
      capabilities: CHANNEL_CAPABILITIES[this.channel],
      message,
      startFlow,
      contact: { name: this.opts.name ?? null },
      settings: { fallbackLimit: this.opts.fallbackLimit ?? 2 },
      now: Date.now(),
    };
  }

  async say(text: string, turnId?: string): Promise<BotTurnResult> {
    this.last = await this.bot.turn(this.input({ text }, undefined, turnId));
    return this.last;
  }

  /** Taps an option (by title) of the last menu this conversation received. */
  async tap(title: string): Promise<BotTurnResult> {
    const choice = [...(this.last?.replies ?? [])].reverse().find((r) => r.kind === 'choice');
    const o = choice?.kind === 'choice' ? choice.options.find((x) => x.title === title) : undefined;
    if (!o) throw new Error(`no option "${title}" in the last menu`);
    return this.tapId(o.id, o.title);
  }

  async tapId(id: string, title = ''): Promise<BotTurnResult> {
    this.last = await this.bot.turn(this.input({ text: title, choiceId: id }));
    return this.last;
  }

  async start(flow: string): Promise<BotTurnResult> {
    this.last = await this.bot.turn(this.input(undefined, flow));
    return this.last;
  }
}

export function texts(r: BotTurnResult): string[] {
  return r.replies.map((c) => (c.kind === 'text' || c.kind === 'choice' ? c.text : ''));
}

export function escalation(r: BotTurnResult) {
  return r.signals.find((s) => s.kind === 'escalate');
}
