// Conversation state storage with a real optimistic-concurrency check.
//
// All three stores implement botbuilder's `Storage` interface (read/write/delete of
// StoreItems with an `eTag`), but unlike botbuilder's own stores they honour the eTag:
//   eTag '*' (or absent)  -> unconditional write (botbuilder's BotState.saveChanges does this)
//   eTag '0'              -> create only: fails when the item already exists
//   eTag 'N' (N >= 1)     -> write only if the stored version is still N
// A failed check throws StateConflictError; the runtime retries the turn from fresh state.
// The eTag of a read item is its version as a string. Versions start at 1.

import type { Storage, StoreItems } from 'botbuilder';
import type { createClient } from 'redis';
import type { Sql } from '../gateway/db/sql.js';

export class StateConflictError extends Error {
  constructor(readonly key: string, readonly expected: string) {
    super(`bot state version conflict on ${key} (expected eTag ${expected})`);
    this.name = 'StateConflictError';
  }
}

export interface MisunderstoodEntry {
  flow: string;
  node: string;
  text: string;
  count: number;
  lastAt: number;
}

/** The stores the runtime needs: botbuilder Storage + the misunderstood log. */
export interface BotStore extends Storage {
  logMisunderstood(flow: string, node: string, text: string, now: number): Promise<void>;
  listMisunderstood(): Promise<MisunderstoodEntry[]>;
  close(): Promise<void>;
}

const NEW = '0';

function splitItem(item: any): { etag: string; data: string } {
  const { eTag, ...rest } = item ?? {};
  return { etag: eTag === undefined || eTag === null ? '*' : String(eTag), data: JSON.stringify(rest) };
}

function muKey(flow: string, node: string, text: string): string {
  return `${flow}\u0001${node}\u0001${text}`;
}

/** Normalises the text kept in the misunderstood log (bounded length, trimmed). */
function muText(text: string): string {
  return text.trim().replace(/\s+/g, ' ').slice(0, 200);
}

// ---------------------------------------------------------------- memory

export class MemoryBotStore implements BotStore {
  private items = new Map<string, { version: number; data: string }>();
  private mu = new Map<string, MisunderstoodEntry>();

  async read(keys: string[]): Promise<StoreItems> {
    const out: StoreItems = {};
    for (const k of keys) {
      const it = this.items.get(k);
      if (it) out[k] = { ...JSON.parse(it.data), eTag: String(it.version) };
    }
    return out;
  }

  async write(changes: StoreItems): Promise<void> {
    // check all first, then apply: a multi-key write is all-or-nothing
    const entries = Object.entries(changes).map(([k, v]) => [k, splitItem(v)] as const);
    for (const [k, { etag }] of entries) {
      const cur = this.items.get(k);
      if (etag === '*') continue;
      if (etag === NEW ? cur !== undefined : cur?.version !== Number(etag)) throw new StateConflictError(k, etag);
    }
    for (const [k, { data }] of entries) {
      const cur = this.items.get(k);
      this.items.set(k, { version: (cur?.version ?? 0) + 1, data });
    }
  }

  async delete(keys: string[]): Promise<void> {
    for (const k of keys) this.items.delete(k);
  }

  async logMisunderstood(flow: string, node: string, text: string, now: number): Promise<void> {
    const t = muText(text);
    const k = muKey(flow, node, t);
    const e = this.mu.get(k);
    if (e) {
      e.count++;
      e.lastAt = now;
    } else this.mu.set(k, { flow, node, text: t, count: 1, lastAt: now });
  }

  async listMisunderstood(): Promise<MisunderstoodEntry[]> {
    return sortMu([...this.mu.values()].map((e) => ({ ...e })));
  }

  async close(): Promise<void> {}
}

function sortMu(list: MisunderstoodEntry[]): MisunderstoodEntry[] {
  return list.sort((a, b) => b.count - a.count || b.lastAt - a.lastAt);
}

// ---------------------------------------------------------------- redis

type RedisClient = ReturnType<typeof createClient>;

// KEYS[1] = state key; ARGV[1] = expected eTag ('*', '0', 'N'); ARGV[2] = data; ARGV[3] = ttl seconds (0 = none)
const CAS_SCRIPT = `
local cur = redis.call('HGET', KEYS[1], 'v')
local expected = ARGV[1]
if expected ~= '*' then
  if expected == '0' then
    if cur then return -1 end
  elseif cur ~= expected then
    return -1
  end
end
local nv = (tonumber(cur) or 0) + 1
redis.call('HSET', KEYS[1], 'v', nv, 'd', ARGV[2])
local ttl = tonumber(ARGV[3])
if ttl and ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
return nv
`;

export class RedisBotStore implements BotStore {
  private sha: string | undefined;
  constructor(
    private client: RedisClient,
    private prefix = 'bot:',
    private ttlSeconds = 60 * 24 * 3600,
    private ownsClient = false,
  ) {}

  static async connect(url: string, prefix?: string): Promise<RedisBotStore> {
    const { createClient } = await import('redis');
    const client = createClient({ url });
    client.on('error', () => {});
    await client.connect();
    return new RedisBotStore(client, prefix ?? 'bot:', undefined, true);
  }

  async read(keys: string[]): Promise<StoreItems> {
    const out: StoreItems = {};
    const rows = await Promise.all(keys.map((k) => this.client.hmGet(this.prefix + 's:' + k, ['v', 'd'])));
    keys.forEach((k, i) => {
      const [v, d] = rows[i] as (string | null)[];
      if (v != null && d != null) out[k] = { ...JSON.parse(d), eTag: v };
    });
    return out;
  }

  private async cas(key: string, etag: string, data: string): Promise<number> {
    const args = { keys: [this.prefix + 's:' + key], arguments: [etag, data, String(this.ttlSeconds)] };
    if (!this.sha) this.sha = await this.client.scriptLoad(CAS_SCRIPT);
    try {
      return Number(await this.client.evalSha(this.sha, args));
    } catch (err) {
      if (!/NOSCRIPT/.test(String((err as Error)?.message))) throw err;
      return Number(await this.client.eval(CAS_SCRIPT, args));
    }
  }

  async write(changes: StoreItems): Promise<void> {
    // the runtime writes one key per turn; each key is checked and written atomically by the script
    for (const [k, v] of Object.entries(changes)) {
      const { etag, data } = splitItem(v);
      if ((await this.cas(k, etag, data)) < 0) throw new StateConflictError(k, etag);
    }
  }

  async delete(keys: string[]): Promise<void> {
    if (keys.length) await this.client.del(keys.map((k) => this.prefix + 's:' + k));
  }

  async logMisunderstood(flow: string, node: string, text: string, now: number): Promise<void> {
    const f = muKey(flow, node, muText(text));
    await this.client.multi().hIncrBy(this.prefix + 'mu:count', f, 1).hSet(this.prefix + 'mu:last', f, String(now)).exec();
  }

  async listMisunderstood(): Promise<MisunderstoodEntry[]> {
    const [counts, last] = await Promise.all([
      this.client.hGetAll(this.prefix + 'mu:count'),
      this.client.hGetAll(this.prefix + 'mu:last'),
    ]);
    return sortMu(
      Object.entries(counts as Record<string, string>).map(([f, c]) => {
        const [flow, node, text] = f.split('\u0001');
        return { flow, node, text, count: Number(c), lastAt: Number((last as Record<string, string>)[f] ?? 0) };
      }),
    );
  }

  async close(): Promise<void> {
    if (this.ownsClient) await this.client.close();
  }
}

// ---------------------------------------------------------------- sql

/**
 * State rows in `bot_state(id VARCHAR(190) PRIMARY KEY, version INT NOT NULL, data TEXT NOT NULL, updatedAt BIGINT NOT NULL)`.
 * The misunderstood log lives in the same table (ids `mu:<hash>`, version = count) so it needs no migration of its own.
 */
export class SqlBotStore implements BotStore {
  constructor(
    private sql: Sql,
    private table = 'bot_state',
    private now: () => number = Date.now,
  ) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(table)) throw new Error(`invalid bot state table name: ${table}`);
  }

  async read(keys: string[]): Promise<StoreItems> {
    const out: StoreItems = {};
    if (!keys.length) return out;
    const rows = await this.sql.query<{ id: string; version: number; data: string }>(
      `SELECT id, version, data FROM ${this.table} WHERE id IN (${keys.map(() => '?').join(',')})`,
      keys,
    );
    for (const r of rows) out[r.id] = { ...JSON.parse(r.data), eTag: String(r.version) };
    return out;
  }

  private async insert(id: string, data: string): Promise<boolean> {
    try {
      await this.sql.execute(`INSERT INTO ${this.table} (id, version, data, updatedAt) VALUES (?, 1, ?, ?)`, [id, data, this.now()]);
      return true;
    } catch (err) {
      if (this.sql.isUniqueViolation(err)) return false;
      throw err;
    }
  }

  async write(changes: StoreItems): Promise<void> {
    for (const [k, v] of Object.entries(changes)) {
      const { etag, data } = splitItem(v);
      if (etag === NEW) {
        if (!(await this.insert(k, data))) throw new StateConflictError(k, etag);
      } else if (etag === '*') {
        for (;;) {
          const r = await this.sql.execute(`UPDATE ${this.table} SET version = version + 1, data = ?, updatedAt = ? WHERE id = ?`, [data, this.now(), k]);
          if (r.affected > 0 || (await this.insert(k, data))) break;
        }
      } else {
        const r = await this.sql.execute(
          `UPDATE ${this.table} SET version = version + 1, data = ?, updatedAt = ? WHERE id = ? AND version = ?`,
          [data, this.now(), k, Number(etag)],
        );
        if (r.affected === 0) throw new StateConflictError(k, etag);
      }
    }
  }

  async delete(keys: string[]): Promise<void> {
    if (keys.length) await this.sql.execute(`DELETE FROM ${this.table} WHERE id IN (${keys.map(() => '?').join(',')})`, keys);
  }

  async logMisunderstood(flow: string, node: string, text: string, now: number): Promise<void> {
    const t = muText(text);
    const { createHash } = await import('node:crypto');
    const id = 'mu:' + createHash('sha1').update(muKey(flow, node, t)).digest('hex');
    const data = JSON.stringify({ flow, node, text: t });
    const r = await this.sql.execute(`UPDATE ${this.table} SET version = version + 1, updatedAt = ? WHERE id = ?`, [now, id]);
    if (r.affected > 0) return;
    try {
      await this.sql.execute(`INSERT INTO ${this.table} (id, version, data, updatedAt) VALUES (?, 1, ?, ?)`, [id, data, now]);
    } catch (err) {
      if (!this.sql.isUniqueViolation(err)) throw err;
      await this.sql.execute(`UPDATE ${this.table} SET version = version + 1, updatedAt = ? WHERE id = ?`, [now, id]);
    }
  }

  async listMisunderstood(): Promise<MisunderstoodEntry[]> {
    const rows = await this.sql.query<{ version: number; data: string; updatedAt: number | string }>(
      `SELECT version, data, updatedAt FROM ${this.table} WHERE id LIKE 'mu:%' ORDER BY version DESC LIMIT 1000`,
    );
    return sortMu(rows.map((r) => ({ ...JSON.parse(r.data), count: Number(r.version), lastAt: Number(r.updatedAt) })));
  }

  async close(): Promise<void> {}
}
