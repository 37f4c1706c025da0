// Runs the gateway as a real process (`node --import tsx gateway/main.ts`) for
// end-to-end tests: waits for /healthz, keeps its output for failure messages, and
// kills it (SIGKILL or SIGTERM) on request. Every started process is tracked so an
// after() hook can always kill what is left.

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Database } from '../../gateway/db/open.js';
import {
  baseEnv, dropRedisPrefix, mysqlDatabase, newRedisPrefix, rand, sqliteDatabase, startGraphStub, type Backend, type GraphStub, type TestDatabase,
} from './gateway-harness.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface GatewayProcess {
  child: ChildProcess;
  url: string;
  port: number;
  output(): string;
  /** Kills with SIGKILL (a crash) and waits for the exit. */
  crash(): Promise<void>;
  /** SIGTERM (graceful shutdown) and waits for the exit; SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<number | null>;
}

const running = new Set<ChildProcess>();

/** Kills every process still running (for after() hooks). */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((c) => killAndWait(c, 'SIGKILL')));
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

async function killAndWait(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  const done = exited(child);
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  const code = await done;
  running.delete(child);
  return code;
}

export async function startGatewayProcess(env: Record<string, string>, timeoutMs = 30_000): Promise<GatewayProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway process did not start within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const check = () => {
      const m = /Inbox:\s+http:\/\/localhost:(\d+)\//.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`gateway process exited early (${code ?? sig}):\n${out}`));
    });
  });
  const url = `http://127.0.0.1:${port}`;
  // Ready when /healthz says so (database and Redis answer).
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.status === 200) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) {
      await killAndWait(child, 'SIGKILL');
      throw new Error(`gateway process never became healthy:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    url,
    port,
    output: () => out,
    crash: async () => {
      await killAndWait(child, 'SIGKILL');
    },
    async stop(graceMs = 10_000) {
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await killAndWait(child, 'SIGTERM');
      clearTimeout(timer);
      return code;
    },
  };
}

// ---- suites of gateway processes ---------------------------------------------------------

/** What a suite of gateway processes shares: a Graph stub, a fresh database (+ Redis prefix on MySQL) and the env pointing at them. */
export interface ProcessSuite {
  graph: GraphStub;
  db: TestDatabase;
  redisPrefix?: string;
  env: Record<string, string>;
}

/**
 * Registers before/after hooks in the calling describe(): sets up a ProcessSuite for
 * `backend` and hands it over through `ready`; afterwards kills every gateway process
 * left, runs `close` (the suite's own connections, proxies...), closes the stub and
 * drops the database and Redis keys.
 */
export function processSuite(backend: Backend, ready: (s: ProcessSuite) => void, close?: () => Promise<unknown> | undefined): void {
  let s: Partial<ProcessSuite> = {};
  before(async () => {
    const graph = await startGraphStub();
    const db = backend === 'mysql' ? await mysqlDatabase() : sqliteDatabase();
    const redisPrefix = backend === 'mysql' ? newRedisPrefix() : undefined;
    const env = baseEnv({ databaseUrl: db.url, graphUrl: graph.url, redisPrefix, adminToken: `admin-${rand(12)}` });
    s = { graph, db, redisPrefix, env };
    ready(s as ProcessSuite);
  });
  after(async () => {
    await killAll();
    await close?.()?.catch(() => undefined);
    await s.graph?.close();
    await s.db?.drop().catch(() => undefined);
    if (s.redisPrefix) await dropRedisPrefix(s.redisPrefix).catch(() => undefined);
  });
}

/** The `n` column of a COUNT(*) AS n query. */
export async function count(db: Database, q: string, params: unknown[] = []): Promise<number> {
  return Number((await db.sql.query(q, params as any[]))[0].n);
}
