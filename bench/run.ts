// `npm run bench`: the gateway as real processes under load, against a bare Express
// baseline. See docs/scaling.md for what the figures mean.
//
// Per configuration: a fresh database, the gateway process(es), a Graph API stand-in
// (its own process) and a load generator (its own process) sending signed WhatsApp
// webhooks, each from a new contact ("hi" -> the welcome menu). Phases:
//   warm-up   --warmup (6000) messages, not measured: V8 keeps optimising the hot path for
//             thousands of turns (its compiler threads count as the process's CPU), and
//             caches and pools fill. With 300, the burst measured that too: 30-40% more CPU
//             per message than the steady state a gateway spends its life in.
//   burst     --messages (3000) with --concurrency (64) in flight: end-to-end msgs/s
//             (first webhook sent -> last bot reply received by the stand-in) and the
//             webhook ack p99 under that saturating load
//   paced     --rate (500) msgs/s for --seconds (5): bot-reply p50/p99 (webhook sent ->
//             reply received) at a rate the process sustains
// and once per run the bare Express app receiving the same webhooks (req/s).
// Prints per configuration:
//   bench <config>: <N> msgs/s end-to-end, ack p99 <ms> ms, reply p50 <ms> ms p99 <ms> ms, bare express <N> req/s, ratio <r>
// (ratio = gateway end-to-end msgs/s / bare express req/s).
//
// Sustained mode: `npm run bench -- --sustained 500 --duration 60` runs the paced phase
// for the duration and prints latency and RSS per 5 s window.
// Options: --config sqlite,mysql,mysql-2proc   --warmup 6000   --profile (node --cpu-prof, into $TMPDIR/chatgate-profiles/)
// BENCH_KEEP=1 keeps each configuration's directory (database file, gateway logs).
// Env: BENCH_MYSQL_URL (default mysql://root@127.0.0.1:3306/test), BENCH_REDIS_URL (default redis://127.0.0.1:6379).

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import { createClient } from 'redis';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SECRET = 'bench-app-secret';
const PHONE_NUMBER_ID = '106540352242922';
const MYSQL_URL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PROFILE_DIR = path.join(os.tmpdir(), 'chatgate-profiles');

const { values: args } = parseArgs({
  options: {
    config: { type: 'string', default: '' },
    messages: { type: 'string', default: '3000' },
    warmup: { type: 'string', default: '6000' },
    concurrency: { type: 'string', default: '64' },
    rate: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '5' },
    sustained: { type: 'string' },
    duration: { type: 'string', default: '60' },
    profile: { type: 'boolean', default: false },
  },
});

type ConfigName = 'sqlite' | 'mysql' | 'mysql-2proc';
const sustained = args.sustained ? Number(args.sustained) : 0;
const configs = (args.config ? args.config.split(',') : sustained ? ['sqlite', 'mysql'] : ['sqlite', 'mysql', 'mysql-2proc']) as ConfigName[];
const N = Number(args.messages);
const WARMUP = Number(args.warmup);
const C = Number(args.concurrency);
const RATE = sustained || Number(args.rate);
const SECONDS = sustained ? Number(args.duration) : Number(args.seconds);

// ---- processes ------------------------------------------------------------------------

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

function exited(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((r) => c.once('exit', () => r()));
}

async function stopChild(c: ChildProcess, graceMs = 15_000): Promise<void> {
  const timer = setTimeout(() => c.kill('SIGKILL'), graceMs);
  c.kill('SIGTERM');
  await exited(c);
  clearTimeout(timer);
  children.delete(c);
}

/** Starts `node --import tsx <file>` and waits for its `{"port":N}` line. */
async function startHelper(file: string, env: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /\{"port":(\d+)\}/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`${file} exited early (${code})`)));
  });
  return { child, url: `http://127.0.0.1:${port}` };
}

interface GatewayProc { child: ChildProcess; url: string; logFile: string }

/** A gateway process as deployed (NODE_ENV=production, default log level), its output in a file. */
async function startGateway(env: Record<string, string>, name: string, dir: string): Promise<GatewayProc> {
  const logFile = path.join(dir, `${name}.log`);
  const fd = fs.openSync(logFile, 'w');
  // As `npm start` runs it (package.json): a 32 MB young generation instead of 16 MB
  // halves the scavenges a message's short-lived objects cost (~10% of its CPU).
  const nodeArgs = ['--max-semi-space-size=32', '--import', 'tsx', ...(args.profile ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : []), 'gateway/main.ts'];
  const child = spawn(process.execPath, nodeArgs, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  children.add(child);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited early:\n${fs.readFileSync(logFile, 'utf8')}`);
    const m = /Inbox:\s+http:\/\/localhost:(\d+)\//.exec(fs.readFileSync(logFile, 'utf8'));
    if (m) {
      const url = `http://127.0.0.1:${m[1]}`;
      const res = await fetch(`${url}/healthz`).catch(() => null);
      if (res?.status === 200) return { child, url, logFile };
    }
    if (Date.now() > deadline) throw new Error(`gateway did not start:\n${fs.readFileSync(logFile, 'utf8')}`);
    await sleep(50);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds (user + system) a process has used so far. */
function cpuS(pid: number | undefined): number {
  const [user, sys] = cpuSplitS(pid);
  return user + sys;
}

/** CPU seconds a process has used so far: [user, system] (system includes the loopback network work of its sends). */
function cpuSplitS(pid: number | undefined): [number, number] {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return [Number(f[11]) / 100, Number(f[12]) / 100];
  } catch {
    return [0, 0];
  }
}

/** Pids of the local database and Redis servers, when they run on this machine (their CPU is part of a message's cost). */
function serverPids(): Record<'mariadb' | 'redis', number[]> {
  const found = { mariadb: [] as number[], redis: [] as number[] };
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const comm = fs.readFileSync(`/proc/${d}/comm`, 'utf8').trim();
      if (comm === 'mariadbd' || comm === 'mysqld') found.mariadb.push(Number(d));
      else if (comm === 'redis-server') found.redis.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return found;
}

/** Busy CPU seconds of the whole machine so far (all cores, everything but idle and iowait). */
function machineBusyS(): number {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - f[3]! - f[4]!) / 100;
}

/**
 * Where a message's CPU goes over the burst: the gateway process(es) (user / system),
 * MariaDB and Redis (MySQL configurations, when they run here), and the whole machine
 * (the load generator and the Graph stand-in included). N cores give N x 1000 ms of CPU
 * a second: (cores x 1000) / (whole machine ms per message) is this machine's ceiling
 * for the configuration, whatever the gateway does.
 */
function cpuMeter(config: ConfigName, gatewayPids: number[]): () => string {
  const servers = config === 'sqlite' ? { mariadb: [], redis: [] } : serverPids();
  const sum = (pids: number[]): [number, number] => pids.map(cpuSplitS).reduce(([u, s], [u2, s2]) => [u + u2, s + s2], [0, 0]);
  const g0 = sum(gatewayPids), m0 = sum(servers.mariadb), r0 = sum(servers.redis), all0 = machineBusyS();
  return () => {
    const g = sum(gatewayPids), m = sum(servers.mariadb), r = sum(servers.redis), all = machineBusyS();
    const per = (x: number) => ((x * 1000) / N).toFixed(2);
    const used = (a: [number, number], b: [number, number]) => per(a[0] + a[1] - b[0] - b[1]);
    const db = servers.mariadb.length ? `, mariadb ${used(m, m0)}` : '';
    const rd = servers.redis.length ? `, redis ${used(r, r0)}` : '';
    const cores = os.cpus().length;
    const ceiling = Math.round((cores * 1000) / ((1000 * (all - all0)) / N));
    return `CPU ms/msg: gateway ${used(g, g0)} (user ${per(g[0] - g0[0])}, system ${per(g[1] - g0[1])})${db}${rd}, whole machine ${per(all - all0)} of ${cores} cores (ceiling ~${ceiling} msgs/s at this cost)`;
  };
}

function rssMb(pid: number | undefined): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

// ---- load ---------------------------------------------------------------------------------

interface LoadResult { startedAt: number; endedAt: number; records: [string, number, number, number][] }

let contactSeq = 0;
const runBase = 10_000_000_000 + Math.floor(Math.random() * 80) * 1_000_000_000;

async function load(targets: string[], shape: { mode: 'burst'; count: number; concurrency: number } | { mode: 'rate'; rate: number; durationS: number }): Promise<LoadResult> {
  const contactBase = runBase + ++contactSeq * 10_000_000;
  const opts = { targets, secret: SECRET, phoneNumberId: PHONE_NUMBER_ID, contactBase, ...shape };
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/load-generator.ts', JSON.stringify(opts)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  await exited(child);
  children.delete(child);
  return JSON.parse(out);
}

async function standinStats(url: string): Promise<{ replies: number; first: Record<string, number> }> {
  return (await fetch(`${url}/_stats`)).json() as any;
}

async function waitReplies(url: string, n: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { replies } = (await (await fetch(`${url}/_count`)).json()) as { replies: number };
    if (replies >= n) return;
    if (Date.now() > deadline) throw new Error(`only ${replies} of ${n} bot replies arrived within ${timeoutMs / 1000} s`);
    await sleep(50);
  }
}

function pct(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

function replyLatencies(r: LoadResult, first: Record<string, number>): number[] {
  const out: number[] = [];
  for (const [from, sentAt] of r.records) if (first[from] !== undefined) out.push(first[from]! - sentAt);
  return out;
}

function checkAcks(r: LoadResult, what: string): void {
  const bad = r.records.filter((x) => x[3] !== 200);
  if (bad.length) throw new Error(`${what}: ${bad.length} of ${r.records.length} webhooks not acknowledged with 200 (statuses ${[...new Set(bad.map((b) => b[3]))].join(', ')})`);
}

// ---- configurations -------------------------------------------------------------------------

interface Deployment { urls: string[]; pids: (number | undefined)[]; stop(): Promise<void> }

async function deploy(config: ConfigName, graphUrl: string, dir: string): Promise<Deployment> {
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    PORT: '0',
    ADMIN_TOKEN: `bench-admin-${randomBytes(8).toString('hex')}`,
    META_APP_SECRET: SECRET,
    WHATSAPP_VERIFY_TOKEN: 'bench-verify',
    WHATSAPP_PHONE_NUMBER_ID: PHONE_NUMBER_ID,
    WHATSAPP_ACCESS_TOKEN: 'bench-token',
    GRAPH_API_URL: graphUrl,
  };
  const cleanups: (() => Promise<void>)[] = [];
  if (config === 'sqlite') {
    env.DATABASE_URL = `sqlite:${path.join(dir, 'gateway.db')}`;
  } else {
    const name = `chatgate_bench_${randomBytes(4).toString('hex')}`;
    const root = await mysql.createConnection(MYSQL_URL);
    await root.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
    await root.end();
    const u = new URL(MYSQL_URL);
    u.pathname = `/${name}`;
    env.DATABASE_URL = u.toString();
    env.REDIS_URL = REDIS_URL;
    env.REDIS_PREFIX = `bench${randomBytes(4).toString('hex')}:`;
    cleanups.push(async () => {
      const c = await mysql.createConnection(MYSQL_URL);
      await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await c.end();
      const r = createClient({ url: REDIS_URL });
      await r.connect();
      const keys: string[] = [];
      for await (const batch of r.scanIterator({ MATCH: `${env.REDIS_PREFIX}*`, COUNT: 1000 })) keys.push(...(Array.isArray(batch) ? batch : [batch]));
      for (let i = 0; i < keys.length; i += 1000) await r.del(keys.slice(i, i + 1000));
      await r.quit();
    });
  }
  const count = config === 'mysql-2proc' ? 2 : 1;
  const procs: GatewayProc[] = [];
  // One after the other: the first runs the migrations.
  for (let i = 0; i < count; i++) procs.push(await startGateway({ ...env, INSTANCE_ID: `bench-${i}` }, `${config}-${i}`, dir));
  return {
    urls: procs.map((p) => p.url),
    pids: procs.map((p) => p.child.pid),
    async stop() {
      await Promise.all(procs.map((p) => stopChild(p.child)));
      for (const c of cleanups) await c().catch((err) => console.error(`cleanup failed: ${err.message}`));
    },
  };
}

async function bareExpress(): Promise<number> {
  const bare = await startHelper('bench/bare-express.ts', { META_APP_SECRET: SECRET });
  try {
    await load([bare.url], { mode: 'burst', count: 2000, concurrency: C }); // warm-up
    const count = Math.max(N * 2, 10_000);
    const r = await load([bare.url], { mode: 'burst', count, concurrency: C });
    checkAcks(r, 'bare express');
    return count / ((r.endedAt - r.startedAt) / 1000);
  } finally {
    await stopChild(bare.child);
  }
}

async function reset(graphUrl: string): Promise<void> {
  await fetch(`${graphUrl}/_reset`, { method: 'POST' });
}

async function warmUp(d: Deployment, graphUrl: string): Promise<void> {
  const r = await load(d.urls, { mode: 'burst', count: WARMUP, concurrency: 32 });
  checkAcks(r, 'warm-up');
  await waitReplies(graphUrl, WARMUP, 120_000);
  await reset(graphUrl);
}

/** A deployment of `config` with its Graph stand-in, warmed up, for `fn`; torn down afterwards (BENCH_KEEP keeps the folder). */
async function withDeployment(config: ConfigName, fn: (d: Deployment, graph: { url: string }) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `chatgate-bench-${config}-`));
  const graph = await startHelper('bench/graph-standin.ts');
  let d: Deployment | null = null;
  try {
    d = await deploy(config, graph.url, dir);
    await warmUp(d, graph.url);
    await fn(d, graph);
  } finally {
    await d?.stop();
    await stopChild(graph.child);
    if (!process.env.BENCH_KEEP) fs.rmSync(dir, { recursive: true, force: true }); else console.log(dir);
  }
}

async function benchConfig(config: ConfigName, bareRps: number): Promise<void> {
  await withDeployment(config, async (d, graph) => {
    // Burst: throughput and ack latency under saturation.
    const cpu0 = d.pids.map(cpuS);
    const meter = cpuMeter(config, d.pids as number[]);
    const burst = await load(d.urls, { mode: 'burst', count: N, concurrency: C });
    checkAcks(burst, 'burst');
    await waitReplies(graph.url, N, 180_000);
    // CPU per message: the figure that does not depend on what else runs on the machine.
    const cpuMs = (d.pids.map(cpuS).reduce((a, b) => a + b, 0) - cpu0.reduce((a, b) => a + b, 0)) * 1000 / N;
    const cpuLine = meter();
    const bs = await standinStats(graph.url);
    const lastReply = Math.max(...burst.records.map(([from]) => bs.first[from] ?? 0));
    const e2e = N / ((lastReply - burst.startedAt) / 1000);
    const ackP99 = pct(burst.records.map((x) => x[2]), 99);
    const rssAfterBurst = d.pids.map(rssMb);
    await reset(graph.url);

    // Paced: bot-reply latency at a rate the process sustains.
    const paced = await pacedRun(d, graph.url, config);
    const line = `bench ${config}: ${Math.round(e2e)} msgs/s end-to-end, ack p99 ${ms(ackP99)} ms, reply p50 ${ms(pct(paced.lat, 50))} ms p99 ${ms(pct(paced.lat, 99))} ms, bare express ${Math.round(bareRps)} req/s, ratio ${(e2e / bareRps).toFixed(2)}`;
    console.log(`  ${config}: burst ${N} msgs (${C} in flight) acked in ${((burst.endedAt - burst.startedAt) / 1000).toFixed(1)} s, ack p50 ${ms(pct(burst.records.map((x) => x[2]), 50))} ms, gateway CPU ${cpuMs.toFixed(2)} ms/msg; paced ${RATE}/s x ${SECONDS} s answered at ${Math.round(paced.achieved)}/s${paced.achieved < RATE * 0.95 ? ' (over capacity: reply latency is queueing)' : ''}; RSS MB ${rssAfterBurst.join('+')} after burst, ${paced.rssEnd.join('+')} at end`);
    console.log(`  ${config}: ${cpuLine}`);
    console.log(line);
  });
}

/** The fixed-rate phase; in sustained mode it also prints latency and RSS per 5 s window. */
async function pacedRun(d: Deployment, graphUrl: string, config: string): Promise<{ lat: number[]; rssEnd: number[]; achieved: number }> {
  const samples: { at: number; rss: number[] }[] = [];
  const sampler = setInterval(() => samples.push({ at: Date.now(), rss: d.pids.map(rssMb) }), 1000);
  const startRss = d.pids.map(rssMb);
  const r = await load(d.urls, { mode: 'rate', rate: RATE, durationS: SECONDS });
  clearInterval(sampler);
  checkAcks(r, 'paced');
  await waitReplies(graphUrl, r.records.length, 120_000);
  const st = await standinStats(graphUrl);
  await reset(graphUrl);
  const lat = replyLatencies(r, st.first);
  const rssEnd = d.pids.map(rssMb);
  // Replies per second while paced: below the rate means the process was over capacity
  // and the reply latencies are queueing time.
  const lastReply = Math.max(...r.records.map(([f]) => st.first[f] ?? 0));
  const achieved = r.records.length / ((lastReply - r.startedAt) / 1000);
  if (sustained) {
    console.log(`  ${config} sustained ${RATE} msgs/s for ${SECONDS} s (RSS MB at start ${startRss.join('+')}):`);
    console.log('    window    sent  ack p99   reply p50   reply p99   RSS MB');
    const W = 5000;
    for (let w = 0; w * W < SECONDS * 1000; w++) {
      const from = r.startedAt + w * W;
      const recs = r.records.filter((x) => x[1] >= from && x[1] < from + W);
      const wl = recs.filter(([f]) => st.first[f] !== undefined).map(([f, s]) => st.first[f]! - s);
      const rs = samples.filter((s) => s.at <= from + W).at(-1)?.rss ?? startRss;
      console.log(`    ${String(w * 5).padStart(3)}-${String(w * 5 + 5).padEnd(3)} s ${String(recs.length).padStart(6)} ${ms(pct(recs.map((x) => x[2]), 99)).padStart(6)} ms ${ms(pct(wl, 50)).padStart(7)} ms ${ms(pct(wl, 99)).padStart(8)} ms ${rs.join('+').padStart(8)}`);
    }
    const tail = samples.filter((s) => s.at >= r.startedAt + 10_000).map((s) => s.rss.reduce((a, b) => a + b, 0));
    console.log(`  ${config} sustained: answered at ${Math.round(achieved)} msgs/s, reply p50 ${ms(pct(lat, 50))} ms p99 ${ms(pct(lat, 99))} ms, ack p99 ${ms(pct(r.records.map((x) => x[2]), 99))} ms; RSS after 10 s min ${Math.min(...tail)} MB max ${Math.max(...tail)} MB, end ${rssEnd.join('+')} MB`);
  }
  return { lat, rssEnd, achieved };
}

async function sustainedConfig(config: ConfigName): Promise<void> {
  await withDeployment(config, async (d, graph) => void (await pacedRun(d, graph.url, config)));
}

const cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model;
console.log(`load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} (other work on the machine skews msgs/s; CPU ms/msg does not)`);
console.log(`machine: ${cpu}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GB RAM, node ${process.version}`);
const started = Date.now();
try {
  if (sustained) {
    for (const c of configs) await sustainedConfig(c);
  } else {
    const bare = await bareExpress();
    console.log(`  bare express: ${Math.round(bare)} req/s (express.raw + HMAC check + 200, ${C} in flight)`);
    for (const c of configs) await benchConfig(c, bare);
  }
} catch (err) {
  console.error(`bench failed: ${(err as Error).stack ?? err}`);
  process.exitCode = 1;
}
console.log(`(${Math.round((Date.now() - started) / 1000)} s)`);
process.exit();
