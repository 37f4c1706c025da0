// A small server-sent events client for tests: parses the stream like a browser's
// EventSource (id / event / data fields, blank line dispatch, lastEventId updated by
// an id line even without data) and lets a test wait for events.

import { waitFor } from './gateway-harness.js';

export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
  json: any;
}

export interface SseStream {
  status: number;
  events: SseEvent[];
  /** True once the server ended the stream. */
  ended: boolean;
  /** EventSource's lastEventId: what a browser would send as Last-Event-ID. */
  lastEventId: string | null;
  /** Resolves with lastEventId once the stream has given one (the gateway sends it on connect). */
  ready(): Promise<string>;
  /** Events of `type` received so far. */
  of(type: string): SseEvent[];
  /** Waits for an event matching `pred` (polling the received list). */
  waitFor(pred: (e: SseEvent) => boolean, what?: string, timeoutMs?: number): Promise<SseEvent>;
  close(): void;
}

export async function openStream(base: string, opts: { token?: string; query?: string; lastEventId?: string } = {}): Promise<SseStream> {
  const ac = new AbortController();
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.lastEventId) headers['last-event-id'] = opts.lastEventId;
  const res = await fetch(`${base}/api/events${opts.query ? `?${opts.query}` : ''}`, { headers, signal: ac.signal });
  const s: SseStream = {
    status: res.status,
    ended: false,
    events: [],
    lastEventId: opts.lastEventId ?? null,
    of: (type) => s.events.filter((e) => e.event === type),
    ready: () => waitFor(() => s.lastEventId, 5000, 'the stream to give its resume id'),
    waitFor: (pred, what = 'an event', timeoutMs = 5000) => waitFor(() => s.events.find(pred), timeoutMs, what),
    close: () => ac.abort(),
  };
  if (res.status !== 200 || !res.body) {
    await res.text().catch(() => undefined);
    return s;
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  let idBuf: string | null = s.lastEventId;
  let event = '';
  let data: string[] = [];
  const line = (l: string) => {
    if (l === '') {
      s.lastEventId = idBuf;
      if (data.length) {
        const text = data.join('\n');
        let json: any = null;
        try {
          json = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        s.events.push({ id: idBuf, event: event || 'message', data: text, json });
      }
      event = '';
      data = [];
      return;
    }
    if (l.startsWith(':')) return;
    const i = l.indexOf(':');
    const field = i < 0 ? l : l.slice(0, i);
    const value = i < 0 ? '' : l.slice(i + 1).replace(/^ /, '');
    if (field === 'id') idBuf = value;
    else if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  };
  void (async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          s.ended = true;
          break;
        }
        buf += decoder.decode(value, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          line(buf.slice(0, nl).replace(/\r$/, ''));
          buf = buf.slice(nl + 1);
        }
      }
    } catch {
      /* aborted */
    }
  })();
  return s;
}
