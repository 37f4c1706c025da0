// A tiny Graph API client: bearer token, JSON in and out, errors classified.
// JSON calls (every message sent) go through node's http(s) with keep-alive agents:
// undici's fetch cost ~10% of a message's CPU in the bench profile. Multipart uploads
// and media downloads (rare, FormData / binary bodies) stay on fetch.
import http from 'node:http';
import https from 'node:https';
import { classifyGraphError, networkError, parseGraphError, parseRetryAfter } from './errors.js';

export interface GraphConfig {
  /** e.g. https://graph.facebook.com (GRAPH_API_URL). */
  graphUrl: string;
  /** e.g. v23.0 (GRAPH_API_VERSION). */
  graphVersion: string;
  accessToken: string;
}

export interface GraphClient {
  /** POST JSON to /{version}/{path}; resolves the parsed JSON answer, throws SendError. */
  post(path: string, body: unknown): Promise<unknown>;
  /** POST a multipart form to /{version}/{path}. */
  postForm(path: string, form: FormData): Promise<unknown>;
  /** GET /{version}/{path} as JSON. */
  get(path: string): Promise<unknown>;
  /** GET an absolute URL (a media download) with the bearer token; the raw bytes. */
  download(url: string): Promise<{ data: Buffer; contentType?: string }>;
}

/** One keep-alive pool per protocol for the process: connections to the Graph API are reused. */
const agents = {
  'http:': new http.Agent({ keepAlive: true, scheduling: 'lifo' }),
  'https:': new https.Agent({ keepAlive: true, scheduling: 'lifo' }),
};

const REQUEST_IDLE_TIMEOUT_MS = 300_000;

interface Answer { status: number; retryAfter: string | null; text: string }

/** One request with a string body (or none); resolves once the whole answer is read. */
function requestText(url: string, method: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch (err) {
      reject(err);
      return;
    }
    const mod = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : null;
    if (!mod) {
      reject(new Error(`unsupported protocol ${u.protocol}`));
      return;
    }
    const h: Record<string, string | number> = { ...headers };
    if (body !== undefined) h['content-length'] = Buffer.byteLength(body);
    const req = mod.request(u, { method, headers: h, agent: agents[u.protocol as 'http:' | 'https:'] }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const ra = res.headers['retry-after'];
        resolve({ status: res.statusCode ?? 0, retryAfter: Array.isArray(ra) ? ra[0] ?? null : ra ?? null, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    // fetch (undici) gave up on a silent server after 300 s; so does this (a hung send
    // would otherwise hold its conversation's outbox chain forever).
    req.setTimeout(REQUEST_IDLE_TIMEOUT_MS, () => req.destroy(new Error(`no answer from the Graph API within ${REQUEST_IDLE_TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
    req.end(body);
  });
}

export function createGraphClient(config: GraphConfig): GraphClient {
  const base = `${config.graphUrl.replace(/\/+$/, '')}/${config.graphVersion.replace(/^\/+|\/+$/g, '')}`;
  const auth = { authorization: `Bearer ${config.accessToken}` };

  async function call(url: string, init: RequestInit): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(url, init);
    } catch (cause) {
      throw networkError(cause);
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      let body: unknown = text;
      try { body = JSON.parse(text); } catch { /* not JSON: keep the text */ }
      throw classifyGraphError(parseGraphError(res.status, body), parseRetryAfter(res.headers.get('retry-after')));
    }
    return res;
  }

  /** A JSON call on the keep-alive agents: the parsed answer, or a classified SendError. */
  async function callJson(url: string, method: string, headers: Record<string, string>, body?: string): Promise<unknown> {
    let a: Answer;
    try {
      a = await requestText(url, method, headers, body);
    } catch (cause) {
      throw networkError(cause);
    }
    if (a.status < 200 || a.status > 299) {
      let parsed: unknown = a.text;
      try { parsed = JSON.parse(a.text); } catch { /* not JSON: keep the text */ }
      throw classifyGraphError(parseGraphError(a.status, parsed), parseRetryAfter(a.retryAfter));
    }
    if (!a.text) return {};
    try { return JSON.parse(a.text); } catch { return {}; }
  }

  async function json(res: Response): Promise<unknown> {
    const text = await res.text();
    if (!text) return {};
    try { return JSON.parse(text); } catch { return {}; }
  }

  return {
    async post(path, body) {
      return callJson(`${base}/${path}`, 'POST', { ...auth, 'content-type': 'application/json' }, JSON.stringify(body));
    },
    async postForm(path, form) {
      return json(await call(`${base}/${path}`, { method: 'POST', headers: auth, body: form }));
    },
    async get(path) {
      return callJson(`${base}/${path}`, 'GET', auth);
    },
    async download(url) {
      const res = await call(url, { method: 'GET', headers: auth });
      return { data: Buffer.from(await res.arrayBuffer()), contentType: res.headers.get('content-type') ?? undefined };
    },
  };
}
