// SQLite checkpoints on a worker thread (gateway/db/wal-checkpointer.ts): the writer's own
// automatic checkpoint is off, so rows reach the database file only if the worker copies
// them there. Proof: the database file alone (without its -wal) holds them.

import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { startCheckpointer } from '../../gateway/db/wal-checkpointer.js';
import { waitFor } from '../helpers/gateway-harness.js';

describe('SQLite WAL checkpointer (worker thread)', function () {
  this.timeout(20_000);
  let dir: string;
  let db: Database.Database;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatgate-ckpt-'));
    db = new Database(path.join(dir, 'g.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('wal_autocheckpoint = 0');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
  });
  afterEach(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Rows in a copy of the database file alone: what has been checkpointed. */
  function rowsInMainFile(): number {
    const copy = path.join(dir, `copy-${Math.random().toString(36).slice(2)}.db`);
    fs.copyFileSync(path.join(dir, 'g.db'), copy);
    const c = new Database(copy, { readonly: true });
    try {
      return (c.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n;
    } catch {
      return 0; // the table itself is not checkpointed yet
    } finally {
      c.close();
    }
  }

  function write(n: number): void {
    const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
    db.transaction(() => {
      for (let i = 0; i < n; i++) ins.run(`row ${i} ${'x'.repeat(200)}`);
    })();
  }

  it('copies committed pages into the database file without the writer checkpointing', async () => {
    write(2000);
    expect(rowsInMainFile(), 'nothing checkpoints without the worker').to.equal(0);
    const c = startCheckpointer(path.join(dir, 'g.db'));
    try {
      await waitFor(() => rowsInMainFile() === 2000, 10_000, 'the rows in the database file');
      write(500);
      await waitFor(() => rowsInMainFile() === 2500, 10_000, 'the later rows too');
    } finally {
      await c.stop();
    }
  });

  it('stops: later commits stay in the WAL', async () => {
    const c = startCheckpointer(path.join(dir, 'g.db'));
    write(10);
    await waitFor(() => rowsInMainFile() === 10, 10_000, 'the first rows checkpointed');
    await c.stop();
    await c.stop(); // twice is harmless
    write(10);
    expect(rowsInMainFile()).to.equal(10);
    expect((db.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n).to.equal(20);
  });
});
