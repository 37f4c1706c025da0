// A tiny Graph API client on global fetch: bearer token, JSON in and out, errors classified.
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

  async function json(res: Response): Promise<unknown> {
    const text = await res.text();
    if (!text) return {};
    try { return JSON.parse(text); } catch { return {}; }
  }

  return {
    async post(path, body) {
      const res = await call(`${base}/${path}`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return json(res);
    },
    async postForm(path, form) {
      return json(await call(`${base}/${path}`, { method: 'POST', headers: auth, body: form }));
    },
    async get(path) {
      return json(await call(`${base}/${path}`, { method: 'GET', headers: auth }));
    },
    async download(url) {
      const res = await call(url, { method: 'GET', headers: auth });
      return { data: Buffer.from(await res.arrayBuffer()), contentType: res.headers.get('content-type') ?? undefined };
    },
  };
}
