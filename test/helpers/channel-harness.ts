// A gateway for the channel suites (throttling, attachments, windows, whatsapp-web): like
// startGateway, but with an injected ManualClock, extra adapters, Instagram configured,
// and a scripted Graph API stub whose answers a test decides request by request.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ChannelAdapter } from '../../adapters/types.js';
import type { BotPort } from '../../bot/port.js';
import type { ManualClock } from '../../gateway/clock.js';
import type { Gateway, GatewayOverrides } from '../../gateway/server.js';
import { launchGateway, postWebhook, rand, type Backend } from './gateway-harness.js';

export const IG_ACCOUNT_ID = '17841400000000001';
export const IG_ACCESS_TOKEN = 'test-ig-access-token';
export const IG_VERIFY_TOKEN = 'test-ig-verify-token';

export interface GraphRequest {
  method: string;
  path: string;
  auth: string | undefined;
  contentType: string | undefined;
  /** Parsed JSON when the body was JSON, else the raw bytes as a latin1 string. */
  body: any;
  raw: Buffer;
}

export type GraphAnswer = { status: number; body?: unknown; headers?: Record<string, string>; raw?: Buffer };

export interface ScriptedGraph {
  url: string;
  requests: GraphRequest[];
  /** Answers the next request matching `match` with `answer` (once), before the default. */
  once(match: (r: GraphRequest) => boolean, answer: GraphAnswer): void;
  /** Message sends (POST /{node}/messages), read receipts excluded. */
  messages(): GraphRequest[];
  close(): Promise<void>;
}

/** A Graph API stand-in: JSON sends get a new message id (WhatsApp or Instagram shape), scripted answers win. */
export async function startScriptedGraph(): Promise<ScriptedGraph> {
  const requests: GraphRequest[] = [];
  const scripted: { match: (r: GraphRequest) => boolean; answer: GraphAnswer }[] = [];
  let n = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      let body: any;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        body = raw.toString('latin1');
      }
      const r: GraphRequest = { method: req.method ?? 'GET', path: req.url ?? '', auth: req.headers.authorization, contentType: req.headers['content-type'], body, raw };
      requests.push(r);
      const i = scripted.findIndex((s) => s.match(r));
      let answer: GraphAnswer;
      if (i >= 0) answer = scripted.splice(i, 1)[0]!.answer;
      else if (r.path.endsWith('/media') && r.method === 'POST') answer = { status: 200, body: { id: `media-${++n}` } };
      else if (body?.messaging_product === 'whatsapp' && body?.status === 'read') answer = { status: 200, body: { success: true } };
      else if (body?.messaging_product === 'whatsapp') answer = { status: 200, body: { messaging_product: 'whatsapp', messages: [{ id: `wamid.out-${++n}-${rand(3)}` }] } };
      else answer = { status: 200, body: { recipient_id: body?.recipient?.id, message_id: `aWdfZAG1fdXNlcl9pZA-out-${++n}-${rand(3)}` } };
      res.writeHead(answer.status, { 'content-type': answer.raw ? 'application/octet-stream' : 'application/json', ...(answer.headers ?? {}) });
      res.end(answer.raw ?? JSON.stringify(answer.body ?? {}));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    once: (match, answer) => void scripted.push({ match, answer }),
    messages: () => requests.filter((r) => r.path.endsWith('/messages') && r.body?.status !== 'read'),
    async close() {
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface ChannelGateway {
  gw: Gateway;
  url: string;
  adminToken: string;
  graph: ScriptedGraph;
  api(method: string, p: string, body?: unknown, token?: string | null): Promise<{ status: number; body: any }>;
  webhook(body: unknown, channel?: 'whatsapp' | 'instagram'): Promise<{ status: number; body: any }>;
  query<T = any>(sql: string, params?: unknown[]): Promise<T[]>;
  stop(): Promise<void>;
}

export async function startChannelGateway(opts: {
  backend: Backend;
  clock?: ManualClock;
  env?: Record<string, string>;
  /** A bot to use; default none. `'flows'`: the real flow bot on ./flows. */
  bot?: BotPort | null | 'flows';
  adapters?: (graphUrl: string) => [ChannelAdapter, string][];
  whatsappWeb?: GatewayOverrides['whatsappWeb'];
}): Promise<ChannelGateway> {
  const graph = await startScriptedGraph();
  const base = await launchGateway({
    backend: opts.backend,
    graph,
    env: {
      INSTAGRAM_ACCESS_TOKEN: IG_ACCESS_TOKEN,
      INSTAGRAM_ACCOUNT_ID: IG_ACCOUNT_ID,
      INSTAGRAM_VERIFY_TOKEN: IG_VERIFY_TOKEN,
      ...(opts.env ?? {}),
    },
    overrides: {
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.bot === 'flows' ? {} : { bot: opts.bot ?? null }),
      ...(opts.adapters ? { adapters: opts.adapters(graph.url) } : {}),
      ...(opts.whatsappWeb ? { whatsappWeb: opts.whatsappWeb } : {}),
    },
  });
  return { ...base, graph, webhook: (body, channel = 'whatsapp') => postWebhook(base.url, body, { channel }) };
}

/** An Instagram DM webhook (Instagram Login shape). `timestamp` in ms. */
export function igMessageBody(m: { from: string; mid: string; text: string; timestamp: number; echo?: boolean; deleted?: boolean }): Record<string, unknown> {
  const ours = m.echo === true;
  return {
    object: 'instagram',
    entry: [{
      id: IG_ACCOUNT_ID,
      time: m.timestamp,
      messaging: [{
        sender: { id: ours ? IG_ACCOUNT_ID : m.from },
        recipient: { id: ours ? m.from : IG_ACCOUNT_ID },
        timestamp: m.timestamp,
        message: { mid: m.mid, ...(m.deleted ? { is_deleted: true } : { text: m.text }), ...(ours ? { is_echo: true } : {}) },
      }],
    }],
  };
}
