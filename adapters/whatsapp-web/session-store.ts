// A RemoteAuth store (whatsapp-web.js) in the `channel_state` table, for gateways with
// several processes: whichever process holds the `whatsapp-web` lease restores the
// session from SQL instead of a local folder only it could see. The zip is kept as
// base64 chunks (MySQL TEXT holds 64 KB; a session is a few MB), written in one transaction.

import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Sql } from '../../gateway/db/sql.js';

const CHUNK = 48_000; // base64 characters per row: under TEXT's 65,535 bytes

export class SqlSessionStore {
  constructor(
    private readonly sql: Sql,
    /** RemoteAuth's dataPath: where it writes `<session>.zip` before calling save(). */
    private readonly dataPath: string,
    private readonly now: () => number = Date.now,
  ) {}

  private prefix(session: string): string {
    return `whatsapp-web:session:${session}:`;
  }

  async sessionExists({ session }: { session: string }): Promise<boolean> {
    const rows = await this.sql.query('SELECT id FROM channel_state WHERE id = ?', [`${this.prefix(session)}00000`]);
    return rows.length > 0;
  }

  /** RemoteAuth calls this after compressing the session to `<dataPath>/<session>.zip`. */
  async save({ session }: { session: string }): Promise<void> {
    const data = await readFile(path.join(this.dataPath, `${session}.zip`));
    await this.put(session, data);
  }

  async put(session: string, data: Buffer): Promise<void> {
    const b64 = data.toString('base64');
    const now = this.now();
    await this.sql.tx(async (tx) => {
      await tx.execute('DELETE FROM channel_state WHERE id LIKE ?', [`${this.prefix(session)}%`]);
      for (let i = 0, n = 0; i < b64.length || n === 0; i += CHUNK, n++) {
        await tx.execute('INSERT INTO channel_state (id, value, updatedAt) VALUES (?, ?, ?)', [
          `${this.prefix(session)}${String(n).padStart(5, '0')}`, b64.slice(i, i + CHUNK), now,
        ]);
      }
    });
  }

  async get(session: string): Promise<Buffer | null> {
    const rows = await this.sql.query<{ value: string }>('SELECT value FROM channel_state WHERE id LIKE ? ORDER BY id', [`${this.prefix(session)}%`]);
    return rows.length ? Buffer.from(rows.map((r) => r.value).join(''), 'base64') : null;
  }

  /** Writes the stored zip where RemoteAuth unpacks it from. */
  async extract({ session, path: target }: { session: string; path: string }): Promise<void> {
    const data = await this.get(session);
    if (data) await writeFile(target, data);
  }

  async delete({ session }: { session: string }): Promise<void> {
    await this.sql.execute('DELETE FROM channel_state WHERE id LIKE ?', [`${this.prefix(session)}%`]);
  }
}
