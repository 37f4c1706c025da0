// Starts a whole gateway for integration tests: in-process (createGateway) on a fresh
// SQLite file, or on a fresh MySQL database + Redis prefix when TEST_MYSQL_URL and
// TEST_REDIS_URL are set. Also: a local Graph API stub that records what the gateway
// sends, Meta-shaped WhatsApp webhook bodies, signed posts, and a condition poller.

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import mysql from 'mysql2/promise';
import { createClient } from 'redis';
import { signMetaBody } from '../../adapters/meta/signature.js';
import type { BotPort } from '../../bot/port.js';
import type { Clock } from '../../gateway/clock.js';
import { loadConfig } from '../../gateway/config.js';
import { createLogger } from '../../gateway/log.js';
import { createGateway, type Gateway, type GatewayOverrides } from '../../gateway/server.js';

export type Backend = 'sqlite' | 'mysql';

export const APP_SECRET = 'test-app-secret';
export const VERIFY_TOKEN = 'test-verify-token';
export const PHONE_NUMBER_ID = '106540352242922';
export const WA_ACCESS_TOKEN = 'test-wa-access-token';

/** The backends to register suites for: SQLite always; MySQL + Redis only when both are configured. */
export function backends(): Backend[] {
  return process.env.TEST_MYSQL_URL && process.env.TEST_REDIS_URL ? ['sqlite', 'mysql'] : ['sqlite'];
}

export const rand = (n = 6) => randomBytes(n).toString('hex');

// ---- condition poller -------------------------------------------------------------

export async function waitFor<T>(cond: () => T | Promise<T>, timeoutMs = 5000, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? ` (last error: ${(lastErr as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

// ---- Graph API stub -----------------------------------------------------------------

export interface GraphSend {
  path: string;
  auth: string | undefined;
  body: any;
}

export interface GraphStub {
  url: string;
  sends: GraphSend[];
  /** Sends to WhatsApp recipient `to` (messages only, not read receipts). */
  to(to: string): GraphSend[];
  close(): Promise<void>;
}

export async function startGraphStub(): Promise<GraphStub> {
  const sends: GraphSend[] = [];
  let n = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let body: any = null;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = Buffer.concat(chunks).toString('utf8');
      }
      sends.push({ path: req.url ?? '', auth: req.headers.authorization, body });
      res.writeHead(200, { 'content-type': 'application/json' });
      if (body?.status === 'read') res.end(JSON.stringify({ success: true }));
      else res.end(JSON.stringify({ messaging_product: 'whatsapp', contacts: [{ input: body?.to, wa_id: body?.to }], messages: [{ id: `wamid.out-${++n}-${rand(4)}` }] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    sends,
    to: (to) => sends.filter((s) => s.body?.to === to && s.body?.status !== 'read'),
    async close() {
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---- databases ---------------------------------------------------------------------------

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

export function sqliteDatabase(): TestDatabase {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatgate-test-'));
  return {
    url: `sqlite:${path.join(dir, 'gateway.db')}`,
    async drop() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function mysqlDatabase(): Promise<TestDatabase> {
  const base = process.env.TEST_MYSQL_URL;
  if (!base) throw new Error('TEST_MYSQL_URL is not set');
  const name = `chatgate_t_${rand(5)}`;
  const root = await mysql.createConnection(base);
  await root.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  await root.end();
  const u = new URL(base);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const c = await mysql.createConnection(base);
      await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await c.end();
    },
  };
}

export function newRedisPrefix(): string {
  return `t${rand(5)}:`;
}

/** Deletes every Redis key under `prefix`. */
export async function dropRedisPrefix(prefix: string): Promise<void> {
  const url = process.env.TEST_REDIS_URL;
  if (!url) return;
  const c = createClient({ url });
  await c.connect();
  try {
    const keys: string[] = [];
    for await (const batch of c.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) keys.push(...(Array.isArray(batch) ? batch : [batch]));
    for (let i = 0; i < keys.length; i += 500) await c.del(keys.slice(i, i + 500));
  } finally {
    await c.quit();
  }
}

/** The environment a gateway needs for `backend` (shared by the in-process harness and spawned processes). */
export function baseEnv(opts: { databaseUrl: string; graphUrl: string; redisPrefix?: string; adminToken: string }): Record<string, string> {
  return {
    NODE_ENV: 'test',
    PORT: '0',
    DATABASE_URL: opts.databaseUrl,
    ADMIN_TOKEN: opts.adminToken,
    META_APP_SECRET: APP_SECRET,
    WHATSAPP_VERIFY_TOKEN: VERIFY_TOKEN,
    WHATSAPP_PHONE_NUMBER_ID: PHONE_NUMBER_ID,
    WHATSAPP_ACCESS_TOKEN: WA_ACCESS_TOKEN,
    GRAPH_API_URL: opts.graphUrl,
    GRAPH_API_VERSION: 'v23.0',
    ...(opts.redisPrefix && process.env.TEST_REDIS_URL ? { REDIS_URL: process.env.TEST_REDIS_URL, REDIS_PREFIX: opts.redisPrefix } : {}),
  };
}

// ---- the in-process gateway ------------------------------------------------------------

export interface StartOptions {
  backend: Backend;
  env?: Record<string, string>;
  clock?: Clock;
  bot?: BotPort | null;
  /** Further createGateway overrides. */
  overrides?: GatewayOverrides;
}

export interface TestGateway {
  gw: Gateway;
  url: string;
  adminToken: string;
  graph: GraphStub;
  backend: Backend;
  /** GET/POST/PATCH/PUT on the gateway with the admin token (or `token`). */
  api(method: string, p: string, body?: unknown, token?: string | null): Promise<{ status: number; body: any }>;
  /** Posts a webhook body, signed with the app secret unless `sign` is false or a header is given. */
  webhook(body: unknown | string, opts?: { sign?: boolean; signature?: string; channel?: 'whatsapp' | 'instagram' }): Promise<{ status: number; body: any }>;
  /** Runs a SELECT on the gateway's database. */
  query<T = any>(sql: string, params?: unknown[]): Promise<T[]>;
  stop(): Promise<void>;
}

export async function startGateway(opts: StartOptions): Promise<TestGateway> {
  const graph = await startGraphStub();
  const base = await launchGateway({
    backend: opts.backend,
    graph,
    env: opts.env,
    overrides: {
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.bot !== undefined ? { bot: opts.bot } : {}),
      ...(opts.overrides ?? {}),
    },
  });
  return {
    ...base, graph, backend: opts.backend,
    webhook: (body, o = {}) => postWebhook(base.url, body, o),
  };
}

/** How suites name a backend in their titles. */
export const backendLabel = (backend: Backend) => (backend === 'sqlite' ? 'SQLite + in-process' : 'MySQL + Redis');

/**
 * Registers before/after hooks in the calling describe(): one gateway for the whole suite,
 * handed over through `ready` once started, stopped at the end.
 */
export function suiteGateway(opts: StartOptions, ready: (t: TestGateway) => void): void {
  let t: TestGateway | undefined;
  before(async () => {
    t = await startGateway(opts);
    ready(t);
  });
  after(async () => {
    await t?.stop();
  });
}

/** What every in-process test gateway offers, whatever its Graph API stand-in. */
export interface LaunchedGateway {
  gw: Gateway;
  url: string;
  adminToken: string;
  api(method: string, p: string, body?: unknown, token?: string | null): Promise<{ status: number; body: any }>;
  query<T = any>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Stops the gateway, then closes the Graph stand-in and drops the database and Redis keys. */
  stop(): Promise<void>;
}

/**
 * A gateway on a fresh database (SQLite file, or a MySQL database + Redis prefix) with a new
 * admin token, listening on an ephemeral port; shared by startGateway and the channel harness.
 * `graph` is closed with the gateway (also when it fails to start).
 */
export async function launchGateway(opts: {
  backend: Backend;
  graph: { url: string; close(): Promise<void> };
  env?: Record<string, string>;
  overrides?: GatewayOverrides;
}): Promise<LaunchedGateway> {
  const { graph } = opts;
  const db = opts.backend === 'mysql' ? await mysqlDatabase() : sqliteDatabase();
  const redisPrefix = opts.backend === 'mysql' ? newRedisPrefix() : undefined;
  const adminToken = `admin-${rand(12)}`;
  const env = { ...baseEnv({ databaseUrl: db.url, graphUrl: graph.url, redisPrefix, adminToken }), ...(opts.env ?? {}) };
  let gw: Gateway;
  try {
    gw = await createGateway(loadConfig(env), { log: createLogger(process.env.LOG_LEVEL ?? 'silent'), ...(opts.overrides ?? {}) });
  } catch (err) {
    await graph.close();
    await db.drop();
    throw err;
  }
  const port = await gw.listen(0);
  const url = `http://127.0.0.1:${port}`;
  let stopped = false;
  return {
    gw, url, adminToken,
    api: (method, p, body, token) => request(url, method, p, body, token === undefined ? adminToken : token),
    query: (q, params = []) => gw.db.sql.query(q, params as any[]) as any,
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await gw.stop();
      } finally {
        await graph.close();
        await db.drop().catch(() => undefined);
        if (redisPrefix) await dropRedisPrefix(redisPrefix).catch(() => undefined);
      }
    },
  };
}

// ---- HTTP helpers ---------------------------------------------------------------------------

export async function request(base: string, method: string, p: string, body?: unknown, token?: string | null): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + p, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed };
}

export async function postWebhook(base: string, body: unknown | string, o: { sign?: boolean; signature?: string; channel?: 'whatsapp' | 'instagram' } = {}): Promise<{ status: number; body: any }> {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (o.signature !== undefined) headers['x-hub-signature-256'] = o.signature;
  else if (o.sign !== false) headers['x-hub-signature-256'] = signMetaBody(Buffer.from(raw, 'utf8'), APP_SECRET);
  const res = await fetch(`${base}/webhooks/${o.channel ?? 'whatsapp'}`, { method: 'POST', headers, body: raw });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed };
}

// ---- Meta-shaped WhatsApp webhook bodies -------------------------------------------------

export interface WaText {
  from: string;
  id: string;
  text: string;
  /** Seconds since the epoch (Meta sends a string of seconds). */
  timestamp?: number;
  name?: string;
}

/** One WhatsApp Cloud message object, as in a real webhook. */
export function waMessage(m: WaText): Record<string, unknown> {
  return { from: m.from, id: m.id, timestamp: String(m.timestamp ?? Math.floor(Date.now() / 1000)), text: { body: m.text }, type: 'text' };
}

/** A change value with these message objects (all from one contact or several). */
export function waChange(messages: Record<string, unknown>[], contacts: { wa_id: string; name?: string }[] = []): Record<string, unknown> {
  return {
    value: {
      messaging_product: 'whatsapp',
      metadata: { display_phone_number: '+1 555 010 0000', phone_number_id: PHONE_NUMBER_ID },
      contacts: contacts.map((c) => ({ profile: { name: c.name ?? `Customer ${c.wa_id}` }, wa_id: c.wa_id })),
      messages,
    },
    field: 'messages',
  };
}

export function waEnvelope(changes: Record<string, unknown>[][]): Record<string, unknown> {
  return { object: 'whatsapp_business_account', entry: changes.map((ch) => ({ id: '8856996819413533', changes: ch })) };
}

/** The webhook Meta sends for one text message. */
export function waTextBody(m: WaText): Record<string, unknown> {
  return waEnvelope([[waChange([waMessage(m)], [{ wa_id: m.from, name: m.name }])]]);
}

/** A status-only notification (delivery receipt). */
export function waStatusBody(id: string, recipient: string, status = 'delivered'): Record<string, unknown> {
  return waEnvelope([[{
    value: {
      messaging_product: 'whatsapp',
      metadata: { display_phone_number: '+1 555 010 0000', phone_number_id: PHONE_NUMBER_ID },
      statuses: [{ id, status, timestamp: String(Math.floor(Date.now() / 1000)), recipient_id: recipient, conversation: { id: 'c1', origin: { type: 'service' } }, pricing: { billable: true, pricing_model: 'CBP', category: 'service' } }],
    },
    field: 'messages',
  }]]);
}

/** A new unique WhatsApp number. */
export function newPhone(): string {
  return `2507${Math.floor(10_000_000 + Math.random() * 89_999_999)}`;
}

export const newWamid = () => `wamid.HBgM${rand(10).toUpperCase()}`;

// ---- database views used by several suites ---------------------------------------------

export async function ticketsOf(t: TestGateway, phone: string): Promise<any[]> {
  return t.query(
    "SELECT t.* FROM tickets t JOIN contact_identities i ON i.contactId = t.contactId WHERE t.channel = 'whatsapp' AND i.value = ? ORDER BY t.createdAt, t.id",
    [phone],
  );
}

export async function inboundMessagesOf(t: TestGateway, ticketId: string): Promise<any[]> {
  return t.query("SELECT * FROM messages WHERE ticketId = ? AND direction = 'in' ORDER BY createdAt, id", [ticketId]);
}
