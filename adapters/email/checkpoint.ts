// Where a watcher remembers how far it got. The IMAP watcher stores
// `{uidValidity, lastUid}` under `imap:<user>@<host>:<port>/<mailbox>`.

import type { Sql } from '../../gateway/db/sql.js';

/** A small key/value store for transport state; values are JSON-serialisable. */
export interface CheckpointStore<T = unknown> {
  get(key: string): Promise<T | undefined>;
  set(key: string, value: T): Promise<void>;
}

export class MemoryCheckpointStore<T = unknown> implements CheckpointStore<T> {
  private readonly values = new Map<string, string>();
  async get(key: string): Promise<T | undefined> {
    const v = this.values.get(key);
    return v === undefined ? undefined : (JSON.parse(v) as T);
  }
  async set(key: string, value: T): Promise<void> {
    this.values.set(key, JSON.stringify(value)); // copy, like a database would
  }
}

/**
 * Table `channel_state(id VARCHAR(190) PRIMARY KEY, value TEXT NOT NULL, updatedAt BIGINT NOT NULL)`
 * (created by the gateway's migration). One upsert per `set`.
 */
export class SqlCheckpointStore<T = unknown> implements CheckpointStore<T> {
  constructor(
    private readonly sql: Sql,
    private readonly table = 'channel_state',
    private readonly now: () => number = Date.now,
  ) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(table)) throw new Error(`invalid table name ${table}`);
  }

  async get(key: string): Promise<T | undefined> {
    const rows = await this.sql.query<{ value: string }>(`SELECT value FROM ${this.table} WHERE id = ?`, [key]);
    return rows.length ? (JSON.parse(rows[0].value) as T) : undefined;
  }

  async set(key: string, value: T): Promise<void> {
    const json = JSON.stringify(value);
    const upsert =
      this.sql.dialect === 'mysql'
        ? `INSERT INTO ${this.table} (id, value, updatedAt) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE value = VALUES(value), updatedAt = VALUES(updatedAt)`
        : `INSERT INTO ${this.table} (id, value, updatedAt) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET value = excluded.value, updatedAt = excluded.updatedAt`;
    await this.sql.execute(upsert, [key, json, this.now()]);
  }
}
