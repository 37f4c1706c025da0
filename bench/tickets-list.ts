// Benchmark (not a test): the ticket list at a million tickets on SQLite.
// Seeds a fresh database file with bench/seed.ts, then runs each list query shape many
// times through the same code GET /api/tickets runs (listTickets + ticketViews: SQL, the
// page's contacts/agents/teams, SLA views) and prints p50 / p95 / max per shape.
//
//   npx tsx bench/tickets-list.ts                    # 1,000,000 tickets in /tmp/bench-tickets.db
//   npx tsx bench/tickets-list.ts --n 200000 --runs 50
//   npx tsx bench/tickets-list.ts --reuse            # keep an already seeded file
//   DATABASE_URL=mysql://root@127.0.0.1:3306/bench npx tsx bench/tickets-list.ts --n 100000

import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { openDatabase } from '../gateway/db/open.js';
import { listTickets, type ListQuery } from '../tickets/list.js';
import { DEFAULT_SETTINGS } from '../tickets/settings.js';
import { ticketViews } from '../tickets/views.js';
import { seedTickets } from './seed.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] && !process.argv[i + 1].startsWith('--') ? process.argv[i + 1] : fallback;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

const n = Number(arg('n', '1000000'));
const runs = Number(arg('runs', '100'));
const file = arg('file', '/tmp/bench-tickets.db');
const url = process.env.DATABASE_URL ?? `sqlite:${file}`;
const NOW = Date.parse('2026-11-01T12:00:00Z');
const settings = DEFAULT_SETTINGS;

async function main() {
  const sqlite = url.startsWith('sqlite:');
  if (sqlite && !flag('reuse')) for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
  const db = await openDatabase(url);
  const { sql } = db;
  const [{ c: existing }] = await sql.query<{ c: number }>('SELECT COUNT(*) AS c FROM tickets');
  if (Number(existing) === 0) {
    // Seeding only: a benchmark file need not survive a power cut.
    const raw = sqlite ? ((db.dataSource.driver as any).databaseConnection as { pragma(s: string): unknown }) : null;
    raw?.pragma('synchronous = OFF');
    const started = performance.now();
    let last = started;
    const res = await seedTickets(sql, n, {
      now: NOW,
      progress: (done) => {
        const t = performance.now();
        if (t - last > 5000 || done === n) {
          process.stdout.write(`  seeded ${done.toLocaleString('en')} tickets (${Math.round(done / ((t - started) / 1000)).toLocaleString('en')}/s)\n`);
          last = t;
        }
      },
    });
    raw?.pragma('synchronous = NORMAL');
    console.log(`seeded ${res.tickets.toLocaleString('en')} tickets, ${res.contacts.toLocaleString('en')} contacts, ${res.timeline.toLocaleString('en')} timeline rows in ${(res.ms / 1000).toFixed(1)} s`);
  } else {
    console.log(`reusing ${Number(existing).toLocaleString('en')} tickets in ${url}`);
  }
  if (sqlite) {
    const size = fs.statSync(file).size + (fs.existsSync(`${file}-wal`) ? fs.statSync(`${file}-wal`).size : 0);
    console.log(`database file: ${(size / 1e6).toFixed(0)} MB`);
  }

  const agents = (await sql.query<{ id: string }>("SELECT id FROM users WHERE id LIKE 'seedagent%' ORDER BY id")).map((r) => r.id);
  const teams = (await sql.query<{ id: string }>("SELECT id FROM teams WHERE id LIKE 'seedteam%' ORDER BY id")).map((r) => r.id);
  const sample = await sql.query<{ id: string }>('SELECT id FROM tickets ORDER BY createdAt DESC LIMIT 200');
  const idents = await sql.query<{ value: string }>("SELECT value FROM contact_identities WHERE channel = 'whatsapp' LIMIT 200");
  const names = await sql.query<{ name: string }>('SELECT name FROM contacts LIMIT 200');
  const rnd = <T>(xs: T[]) => xs[Math.floor(Math.random() * xs.length)];
  const day = 86_400_000;
  const iso = (t: number) => new Date(t).toISOString();

  // Query shapes an inbox and a team lead use. `page` > 1: follow nextCursor that many times first (not timed).
  const shapes: { name: string; q: () => ListQuery; page?: number; search?: boolean }[] = [
    { name: 'newest first (default)', q: () => ({}) },
    { name: 'newest first, page 5 by cursor', q: () => ({}), page: 5 },
    { name: 'status=pending,active', q: () => ({ status: 'pending,active' }) },
    { name: 'queue: status=pending sort=createdAt', q: () => ({ status: 'pending', sort: 'createdAt' }) },
    { name: 'assignee=<agent> status=active,idle', q: () => ({ assignee: rnd(agents), status: 'active,idle' }) },
    { name: 'assignee=none status=pending', q: () => ({ assignee: 'none', status: 'pending' }) },
    { name: 'team=<team> status=pending,active', q: () => ({ team: rnd(teams), status: 'pending,active' }) },
    { name: 'channel=whatsapp priority=urgent', q: () => ({ channel: 'whatsapp', priority: 'urgent' }) },
    { name: 'category=billing from=90d ago', q: () => ({ category: 'billing', from: iso(NOW - 90 * day) }) },
    { name: 'from/to one week', q: () => ({ from: iso(NOW - 120 * day), to: iso(NOW - 113 * day) }) },
    { name: 'sla=red', q: () => ({ sla: 'red' }) },
    { name: 'sla=yellow,red status=open', q: () => ({ sla: 'yellow,red', status: 'pending,active,idle,on_hold,proactive' }) },
    { name: 'sla=yellow,red sort=sla', q: () => ({ sla: 'yellow,red', sort: 'sla' }) },
    { name: 'sort=sla', q: () => ({ sort: 'sla' }) },
    { name: 'sort=-sla page 3', q: () => ({ sort: '-sla' }), page: 3 },
    { name: 'sort=priority', q: () => ({ sort: 'priority' }) },
    { name: 'sort=-priority status=pending', q: () => ({ sort: '-priority', status: 'pending' }) },
    { name: 'sort=status', q: () => ({ sort: 'status' }) },
    { name: 'sort=subject', q: () => ({ sort: 'subject' }) },
    { name: 'sort=assignee page 3', q: () => ({ sort: 'assignee' }), page: 3 },
    { name: 'sort=-updatedAt', q: () => ({ sort: '-updatedAt' }) },
    { name: 'q=<ticket id>', q: () => ({ q: rnd(sample).id }), search: true },
    { name: 'q=<phone number>', q: () => ({ q: `+${rnd(idents).value}` }), search: true },
    { name: 'q=<contact name> (substring)', q: () => ({ q: rnd(names).name }), search: true },
    { name: 'q=<subject words> (substring)', q: () => ({ q: rnd(['not delivered', 'refund', 'password', 'invoice']) }), search: true },
  ];

  const rows: { name: string; p50: number; p95: number; max: number; items: number; search: boolean }[] = [];
  const all: number[] = [];
  for (const shape of shapes) {
    const times: number[] = [];
    let items = 0;
    for (let i = 0; i < runs + 3; i++) {
      let q = shape.q();
      for (let p = 1; p < (shape.page ?? 1); p++) {
        const { nextCursor } = await listTickets(sql, q, agents[0], settings, NOW);
        if (!nextCursor) break;
        q = { ...q, cursor: nextCursor };
      }
      const t0 = performance.now();
      const page = await listTickets(sql, q, agents[0], settings, NOW);
      await ticketViews(sql, page.rows, settings, NOW);
      const ms = performance.now() - t0;
      if (i >= 3) {
        times.push(ms); // the first runs warm the cache and the statement cache
        items = page.rows.length;
      }
    }
    times.sort((a, b) => a - b);
    const pct = (p: number) => times[Math.min(times.length - 1, Math.ceil(p * times.length) - 1)];
    rows.push({ name: shape.name, p50: pct(0.5), p95: pct(0.95), max: times[times.length - 1], items, search: !!shape.search });
    if (!shape.search) all.push(...times);
    process.stdout.write('.');
  }
  process.stdout.write('\n');
  all.sort((a, b) => a - b);
  const w = Math.max(...rows.map((r) => r.name.length));
  console.log(`\n${'query'.padEnd(w)}   p50 ms   p95 ms   max ms  rows`);
  for (const r of rows) console.log(`${r.name.padEnd(w)} ${r.p50.toFixed(1).padStart(8)} ${r.p95.toFixed(1).padStart(8)} ${r.max.toFixed(1).padStart(8)}  ${String(r.items).padStart(4)}`);
  const filterP95 = all[Math.ceil(0.95 * all.length) - 1];
  console.log(`\nfilters and sorts (${all.length} queries, ${runs} per shape): p95 ${filterP95.toFixed(1)} ms (target < 50 ms) ${filterP95 < 50 ? 'OK' : 'MISSED'}`);
  const worst = rows.filter((r) => !r.search).sort((a, b) => b.p95 - a.p95)[0];
  console.log(`slowest filter/sort shape: ${worst.name} p95 ${worst.p95.toFixed(1)} ms`);
  await db.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
