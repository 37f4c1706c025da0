// Small admin-managed lists (templates, teams' routing rules, categories, triggers...)
// live as one JSON row each in the `settings` table under `collection:<name>`, so they
// need no schema of their own. Validation belongs to the owner of each collection;
// this helper only reads and writes the row.

import type { Sql } from '../gateway/db/sql.js';

export const COLLECTION_PREFIX = 'collection:';

/** The stored value of collection `name`, or `fallback` when it was never written. */
export async function getCollection<T>(sql: Sql, name: string, fallback: T): Promise<T> {
  const rows = await sql.query<{ value: string }>('SELECT value FROM settings WHERE name = ?', [COLLECTION_PREFIX + name]);
  if (!rows.length) return structuredClone(fallback);
  return JSON.parse(rows[0].value) as T;
}

/** Replaces collection `name` with `value` (upsert; joins the caller's transaction when given one). */
export async function putCollection(sql: Sql, name: string, value: unknown, now: number): Promise<void> {
  const key = COLLECTION_PREFIX + name;
  const json = JSON.stringify(value);
  await sql.tx(async (tx) => {
    const { affected } = await tx.execute('UPDATE settings SET value = ?, updatedAt = ? WHERE name = ?', [json, now, key]);
    if (affected) return;
    try {
      await tx.execute('INSERT INTO settings (name, value, updatedAt) VALUES (?, ?, ?)', [key, json, now]);
    } catch (err) {
      // Another process wrote the first value at the same moment: last writer wins, as with the UPDATE.
      if (!tx.isUniqueViolation(err)) throw err;
      await tx.execute('UPDATE settings SET value = ?, updatedAt = ? WHERE name = ?', [json, now, key]);
    }
  });
}

/**
 * A collection read on the hot path (triggers, webhook targets), cached for `ttlMs`.
 * Concurrent callers share one read when the cache expires, instead of each issuing
 * the same SELECT (under load that was one extra query per message). Another process's
 * PUT is seen within `ttlMs`; this process's own writes call invalidate().
 */
export class CachedCollection<T> {
  private value: { at: number; data: T } | null = null;
  private pending: Promise<T> | null = null;
  private generation = 0;

  constructor(
    private readonly sql: Sql,
    private readonly name: string,
    private readonly fallback: T,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(): Promise<T> {
    if (this.value && this.now() - this.value.at < this.ttlMs) return Promise.resolve(this.value.data);
    if (this.pending) return this.pending;
    const gen = this.generation;
    const read = getCollection<T>(this.sql, this.name, this.fallback).then(
      (data) => {
        // a write while reading makes this read stale: don't keep it
        if (gen === this.generation) this.value = { at: this.now(), data };
        return data;
      },
    ).finally(() => {
      if (this.pending === read) this.pending = null;
    });
    this.pending = read;
    return read;
  }

  invalidate(): void {
    this.generation++;
    this.value = null;
    this.pending = null;
  }
}
