// Every flow version a conversation may be on, kept outside the process: after a
// restart (or on another process) a conversation pinned to an older version of a
// flow file finds that version's source here, instead of silently jumping to the
// current file. The registry saves each version the first time it loads it.

import type { Sql } from '../gateway/db/sql.js';

export interface StoredFlowVersion {
  name: string;
  hash: string;
  /** The file it came from (for messages); the source is what counts. */
  file: string;
  source: string;
}

export interface FlowVersionStore {
  all(): Promise<StoredFlowVersion[]>;
  /** Idempotent: saving a version twice keeps the first. */
  save(v: StoredFlowVersion, now: number): Promise<void>;
}

/** The `flow_versions` table (migration 0002). */
export class SqlFlowVersionStore implements FlowVersionStore {
  constructor(private readonly sql: Sql) {}

  async all(): Promise<StoredFlowVersion[]> {
    const rows = await this.sql.query('SELECT name, hash, source FROM flow_versions ORDER BY createdAt');
    return rows.map((r: any) => ({ name: String(r.name), hash: String(r.hash), file: `${r.name}.yaml`, source: String(r.source) }));
  }

  async save(v: StoredFlowVersion, now: number): Promise<void> {
    const id = `${v.name}@${v.hash}`;
    const exists = await this.sql.query('SELECT id FROM flow_versions WHERE id = ?', [id]);
    if (exists.length) return;
    try {
      await this.sql.execute('INSERT INTO flow_versions (id, name, hash, source, createdAt) VALUES (?, ?, ?, ?, ?)', [id, v.name, v.hash, v.source, now]);
    } catch (err) {
      // another process saved the same version at the same moment: the content is identical
      const again = await this.sql.query('SELECT id FROM flow_versions WHERE id = ?', [id]);
      if (!again.length) throw err;
    }
  }
}

export class MemoryFlowVersionStore implements FlowVersionStore {
  readonly versions = new Map<string, StoredFlowVersion>();
  async all() {
    return [...this.versions.values()];
  }
  async save(v: StoredFlowVersion) {
    const id = `${v.name}@${v.hash}`;
    if (!this.versions.has(id)) this.versions.set(id, v);
  }
}
