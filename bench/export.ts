// Export benchmark (not a test): GET /api/tickets/export of a million tickets from a
// seeded SQLite file, through the real gateway over HTTP, measuring tickets/s and the
// gateway process's peak RSS. Targets (issue 7): >= 20,000 tickets/s, < 300 MB RSS.
//
//   npx tsx bench/export.ts                   # 1,000,000 tickets, CSV then JSON
//   BENCH_TICKETS=200000 npx tsx bench/export.ts
//   BENCH_DB=/tmp/x.db BENCH_FORMATS=csv npx tsx bench/export.ts
//   BENCH_NODE_FLAGS='' npx tsx bench/export.ts   # the gateway with V8's default heap sizing
//
// The database is seeded once (bench/seed.ts: status history on every ticket, a comment
// on every 10th, a note on every 25th) and reused while it holds the wanted count. The
// gateway runs in a child process, so its RSS is the export's alone; this process
// downloads the stream and counts the rows.

import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TICKETS = Number(process.env.BENCH_TICKETS ?? 1_000_000);
const DB = process.env.BENCH_DB ?? path.join(os.tmpdir(), `chatgate-export-bench-${TICKETS}.db`);
const FORMATS = (process.env.BENCH_FORMATS ?? 'csv,json').split(',').map((s) => s.trim()).filter(Boolean);
const ADMIN_TOKEN = 'bench-export-admin-token';
// V8 grows its heap lazily (several times the live size) before collecting: the gateway
// is measured with a capped old space, as a memory-bounded deployment would run it, and
// a larger young generation (fewer short-lived rows promoted: less GC work per ticket).
// BENCH_NODE_FLAGS='' measures V8's defaults instead.
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '--max-old-space-size=160 --max-semi-space-size=32').split(' ').filter(Boolean);
const SELF = fileURLToPath(import.meta.url);

interface ChildReport {
  /** CPU time the gateway process has used so far (user + system), ms. */
  cpuMs: number;
  maxRssMb: number;
  rssMb: number;
  heapUsedMb: number;
}

// ---- child: the gateway ------------------------------------------------------------------

async function child(): Promise<void> {
  const { loadConfig } = await import('../gateway/config.js');
  const { createGateway } = await import('../gateway/server.js');
  const { createLogger } = await import('../gateway/log.js');
  const gw = await createGateway(
    loadConfig({ NODE_ENV: 'production', DATABASE_URL: `sqlite:${DB}`, ADMIN_TOKEN, PORT: '0' }),
    { log: createLogger('warn'), bot: null },
  );
  const port = await gw.listen(0);
  // The baseline after start, so the report can tell the export's share.
  (globalThis as any).gc?.();
  const baseline = process.memoryUsage().rss;
  const baselineHeap = process.memoryUsage().heapUsed;
  process.on('message', (m: any) => {
    if (m === 'report') {
      // heapUsed after a full GC: what the export left behind (should be ~0).
      (globalThis as any).gc?.();
      const mem = process.memoryUsage();
      const cpu = process.cpuUsage();
      process.send!({ cpuMs: (cpu.user + cpu.system) / 1000, maxRssMb: process.resourceUsage().maxRSS / 1024, rssMb: mem.rss / 2 ** 20, heapUsedMb: mem.heapUsed / 2 ** 20 } satisfies ChildReport);
    } else if (m === 'stop') {
      void gw.stop().then(() => process.exit(0));
    }
  });
  process.send!({ port, baselineMb: baseline / 2 ** 20, baselineHeapMb: baselineHeap / 2 ** 20 });
}

// ---- parent: seed, download, measure ---------------------------------------------------------

async function ensureSeeded(): Promise<void> {
  const { openDatabase } = await import('../gateway/db/open.js');
  const { seedTickets } = await import('./seed.js');
  const db = await openDatabase(`sqlite:${DB}`);
  try {
    const [{ n }] = await db.sql.query<{ n: number }>('SELECT COUNT(*) AS n FROM tickets');
    if (Number(n) === TICKETS) {
      console.log(`using ${DB} (${TICKETS.toLocaleString('en')} tickets)`);
      return;
    }
    if (Number(n) > 0) throw new Error(`${DB} holds ${n} tickets, not ${TICKETS}: delete it or set BENCH_DB`);
    console.log(`seeding ${TICKETS.toLocaleString('en')} tickets into ${DB} ...`);
    const r = await seedTickets(db.sql, TICKETS, {
      progress: (done) => {
        if (done % 100_000 === 0) process.stdout.write(`  ${done.toLocaleString('en')}\n`);
      },
    });
    console.log(`seeded in ${(r.ms / 1000).toFixed(1)} s (${r.timeline.toLocaleString('en')} timeline rows)`);
  } finally {
    await db.close();
  }
}

function ask<T>(cp: ChildProcess, msg: string): Promise<T> {
  return new Promise((resolve) => {
    cp.once('message', (m) => resolve(m as T));
    cp.send(msg);
  });
}

async function download(port: number, format: string): Promise<{ rows: number; bytes: number; ms: number; firstByteMs: number }> {
  const started = performance.now();
  const res = await fetch(`http://127.0.0.1:${port}/api/tickets/export?format=${format}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (res.status !== 200) throw new Error(`export answered ${res.status}: ${await res.text()}`);
  let firstByteMs = 0;
  let bytes = 0;
  let rows = 0;
  let prev = 0;
  // CSV rows end with CRLF (line breaks inside cells are bare LF); JSON has one record per
  // line. Counted on the bytes (these ASCII bytes never occur inside a UTF-8 sequence).
  const [a, b] = format === 'csv' ? [13, 10] : [10, 123];
  for await (const chunk of res.body as any as AsyncIterable<Uint8Array>) {
    if (!firstByteMs) firstByteMs = performance.now() - started;
    bytes += chunk.byteLength;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (c === b && prev === a) rows++;
      prev = c;
    }
  }
  if (format === 'csv') rows -= 1; // the header
  return { rows, bytes, ms: performance.now() - started, firstByteMs };
}

async function parent(): Promise<void> {
  await ensureSeeded();
  const cp = fork(SELF, ['--child'], { execArgv: ['--import', 'tsx', '--expose-gc', ...NODE_FLAGS], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = await new Promise<{ port: number; baselineMb: number; baselineHeapMb: number }>((resolve, reject) => {
    cp.once('message', (m) => resolve(m as any));
    cp.once('exit', (code) => reject(new Error(`gateway exited with ${code}`)));
  });
  // Other work on the machine slows the wall clock; the gateway's CPU time does not depend on it.
  console.log(`gateway up (pid ${cp.pid}), RSS after start ${ready.baselineMb.toFixed(0)} MB (heap ${ready.baselineHeapMb.toFixed(0)} MB); Node ${process.version}, ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, load average ${os.loadavg()[0].toFixed(1)}, node flags: ${NODE_FLAGS.join(' ') || '(V8 defaults)'}`);
  const results: Record<string, unknown>[] = [];
  try {
    for (const format of FORMATS) {
      const before = await ask<ChildReport>(cp, 'report');
      const r = await download(ready.port, format);
      const mem = await ask<ChildReport>(cp, 'report');
      const perSec = r.rows / (r.ms / 1000);
      const cpuSec = (mem.cpuMs - before.cpuMs) / 1000;
      const line = {
        format,
        tickets: r.rows,
        seconds: +(r.ms / 1000).toFixed(1),
        ticketsPerSec: Math.round(perSec),
        gatewayCpuSec: +cpuSec.toFixed(1),
        ticketsPerCpuSec: Math.round(r.rows / cpuSec),
        mb: +(r.bytes / 2 ** 20).toFixed(0),
        firstByteMs: Math.round(r.firstByteMs),
        peakRssMb: Math.round(mem.maxRssMb),
        rssAfterMb: Math.round(mem.rssMb),
      };
      results.push(line);
      const ok = perSec >= 20_000 && mem.maxRssMb < 300 && r.rows === TICKETS;
      console.log(
        `${format.toUpperCase()}: ${r.rows.toLocaleString('en')} tickets in ${line.seconds} s = ${line.ticketsPerSec.toLocaleString('en')} tickets/s, ` +
          `${line.mb} MB, first byte after ${line.firstByteMs} ms; gateway CPU ${line.gatewayCpuSec} s (${line.ticketsPerCpuSec.toLocaleString('en')} tickets per CPU-second), ` +
          `peak RSS ${line.peakRssMb} MB (heap used after ${Math.round(mem.heapUsedMb)} MB) ${ok ? '(targets met)' : '(TARGET MISSED)'}`,
      );
    }
  } finally {
    await new Promise<void>((resolve) => {
      cp.once('exit', () => resolve());
      cp.send('stop');
    });
  }
  console.log(JSON.stringify({ tickets: TICKETS, nodeFlags: NODE_FLAGS, loadAverage: os.loadavg()[0], results }));
}

if (process.argv.includes('--child')) await child();
else await parent();
