// SQLite WAL checkpoints on a worker thread, off the event loop.
//
// In WAL mode every commit appends pages to the -wal file, and a checkpoint copies them
// back into the database file. SQLite's automatic checkpoint runs inside the COMMIT that
// crosses the threshold, on the connection that committed: here, the gateway's only
// connection, on the main thread, while webhooks wait. Measured with the gateway's
// tables, checkpoints were more than half of the write cost (a ticket and a message
// in groups of ten: 120 us with automatic checkpoints, 55 us without). So the main
// connection's automatic checkpoint is pushed far out (a safety net, should this
// thread ever stall), and a second connection on a worker thread runs a PASSIVE
// checkpoint every few milliseconds: on the other core, never blocking a writer or a
// reader (a frame still needed by a reader is simply left for the next pass).
// Durability is unchanged: a commit is durable once its frames are in the WAL
// (synchronous = NORMAL), whoever copies them back later.

import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';

/** Pages after which the main connection checkpoints by itself (~80 MB of WAL): only if the worker cannot keep up. */
export const MAIN_AUTOCHECKPOINT_PAGES = 20_000;
const INTERVAL_MS = 250;

// CommonJS run by the worker (eval): better-sqlite3 is a native addon, loaded by path.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 0');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
let failures = 0;
const timer = setInterval(() => {
  try {
    checkpoint.run();
    failures = 0;
  } catch (err) {
    // SQLITE_BUSY and the like: the next pass tries again; report only a lasting problem.
    if (++failures === 100) parentPort.postMessage({ error: String(err && err.message || err) });
  }
}, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  try { checkpoint.run(); } catch {}
  db.close();
  parentPort.close(); // nothing left to wait for: the thread ends
});
`;

export interface Checkpointer {
  stop(): Promise<void>;
}

/** Starts checkpointing `file` on a worker thread. `onError` hears of a checkpointer that keeps failing or died. */
export function startCheckpointer(file: string, onError: (message: string) => void = () => {}): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver, intervalMs: INTERVAL_MS } });
  // Never keeps the process alive on its own; stop() ends it cleanly.
  worker.unref();
  worker.on('message', (m: { error?: string }) => {
    if (m?.error) onError(m.error);
  });
  worker.on('error', (err) => onError(err.message));
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  let stopping: Promise<void> | null = null;
  return {
    stop() {
      stopping ??= (async () => {
        worker.postMessage('stop'); // harmless if the thread is already gone
        // A worker stuck in a long checkpoint is not waited for past this.
        const cut = setTimeout(() => void worker.terminate(), 2000);
        await exited;
        clearTimeout(cut);
      })();
      return stopping;
    },
  };
}
