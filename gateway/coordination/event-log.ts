// A bounded, shared, ordered log of events with live fan-out: what the event stream
// (GET /api/events) needs for `Last-Event-ID` resume that works whichever process a
// client reconnects to. Two implementations behind one interface: an in-memory ring
// buffer (one process, shared through a MemoryHub in tests) and a Redis stream
// (event-log-redis.ts) trimmed with MAXLEN.
//
// Entry ids have the Redis stream shape `<ms>-<seq>` in both implementations, so they
// compare the same way everywhere and a client never has to know which one it talks to.

export interface LogEntry {
  id: string;
  payload: string;
}

export interface EventLogOptions {
  /** How many entries are kept (older ones are dropped); default 10 000. */
  maxLen?: number;
}

export interface ReadResult {
  /** Entries after the given id, oldest first. */
  entries: LogEntry[];
  /**
   * True when entries after the given id may have been dropped already (the client was
   * away longer than the log reaches back, or the id comes from an older log): the
   * reader should reload its state instead of trusting the replay to be complete.
   */
  gap: boolean;
}

export interface EventLog {
  /**
   * Appends payloads in order and delivers them to every subscriber in every process,
   * in id order. Resolves with their ids.
   */
  append(payloads: string[]): Promise<string[]>;
  /**
   * The id a new reader resumes from: the newest entry's id, or (empty log) an id below
   * any entry appended later. Sent to clients on connect so they can resume even before
   * their first event.
   */
  head(): Promise<string>;
  /** Up to `limit` entries with an id greater than `afterId`. */
  readAfter(afterId: string, limit: number): Promise<ReadResult>;
  /** Live entries from now on (batches in append order). Returns an unsubscribe function. */
  subscribe(handler: (entries: LogEntry[]) => void): Promise<() => Promise<void>>;
}

export const DEFAULT_EVENT_LOG_LEN = 10_000;

/** Largest sequence part used for synthetic ids ("just before the next millisecond"). */
export const MAX_SEQ = '9999999999999999';

const ID = /^(\d{1,16})-(\d{1,16})$/;

/** True for an id of the `<ms>-<seq>` shape. */
export function isLogId(s: unknown): s is string {
  return typeof s === 'string' && ID.test(s);
}

/** Orders two log ids (-1, 0, 1). Both must satisfy isLogId. */
export function compareLogIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt);
  const [bm, bs] = b.split('-').map(BigInt);
  if (am !== bm) return am < bm ? -1 : 1;
  if (as !== bs) return as < bs ? -1 : 1;
  return 0;
}

/**
 * The in-memory log: a ring buffer plus local subscribers. Several MemoryCoordinators
 * sharing a MemoryHub share one instance per name (like processes sharing Redis).
 */
export class MemoryEventLog implements EventLog {
  private readonly buf: (LogEntry | undefined)[];
  private start = 0;
  private count = 0;
  private lastMs = 0;
  private lastSeq = -1;
  /** Ids at or below this are older than the log (a previous process run, or dropped). */
  private floor: string;
  private readonly handlers = new Set<(entries: LogEntry[]) => void>();

  constructor(readonly maxLen = DEFAULT_EVENT_LOG_LEN, private readonly now: () => number = Date.now) {
    this.buf = new Array(Math.max(1, maxLen));
    // Anything a client may hold from before this log existed is "older than the log".
    this.floor = `${Math.max(0, this.now() - 1)}-${MAX_SEQ}`;
  }

  private nextId(): string {
    const ms = Math.max(this.now(), this.lastMs);
    this.lastSeq = ms === this.lastMs ? this.lastSeq + 1 : 0;
    this.lastMs = ms;
    return `${ms}-${this.lastSeq}`;
  }

  async append(payloads: string[]): Promise<string[]> {
    const entries = payloads.map((payload) => ({ id: this.nextId(), payload }));
    for (const e of entries) {
      const cap = this.buf.length;
      if (this.count === cap) {
        this.floor = this.buf[this.start]!.id;
        this.buf[this.start] = e;
        this.start = (this.start + 1) % cap;
      } else {
        this.buf[(this.start + this.count) % cap] = e;
        this.count++;
      }
    }
    // Delivered asynchronously (as Redis pub/sub would), in append order.
    if (entries.length) {
      for (const h of [...this.handlers]) {
        queueMicrotask(() => {
          if (this.handlers.has(h)) h(entries);
        });
      }
    }
    return entries.map((e) => e.id);
  }

  async head(): Promise<string> {
    return this.count ? this.buf[(this.start + this.count - 1) % this.buf.length]!.id : this.floor;
  }

  async readAfter(afterId: string, limit: number): Promise<ReadResult> {
    const gap = compareLogIds(afterId, this.floor) < 0;
    const entries: LogEntry[] = [];
    const cap = this.buf.length;
    // Binary search for the first entry after afterId (ids are increasing).
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareLogIds(this.buf[(this.start + mid) % cap]!.id, afterId) <= 0) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.count && entries.length < limit; i++) entries.push(this.buf[(this.start + i) % cap]!);
    return { entries, gap };
  }

  async subscribe(handler: (entries: LogEntry[]) => void): Promise<() => Promise<void>> {
    const wrapped = (entries: LogEntry[]) => handler(entries);
    this.handlers.add(wrapped);
    return async () => {
      this.handlers.delete(wrapped);
    };
  }
}
