// The event log on Redis: a stream trimmed with MAXLEN ~ (bounded memory) plus a pub/sub
// channel for live delivery. Appending and publishing happen in one Lua script, so every
// process sees live entries in the same order as their stream ids (a reader that
// replays "after id X" and then goes live never misses or reorders an entry).

import { compareLogIds, DEFAULT_EVENT_LOG_LEN, MAX_SEQ, type EventLog, type LogEntry, type ReadResult } from './event-log.js';

/** KEYS[1] stream; ARGV[1] maxlen, ARGV[2] channel, ARGV[3..] payloads. Returns the ids. */
export const LOG_APPEND = {
  src: `local ids = {}
local msg = {}
for i = 3, #ARGV do
  local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'p', ARGV[i])
  ids[#ids + 1] = id
  msg[#msg + 1] = {id, ARGV[i]}
end
redis.call('PUBLISH', ARGV[2], cjson.encode(msg))
return ids`,
  sha: undefined as string | undefined,
};

/** What the log needs from the Redis coordinator (its connections stay private there). */
export interface RedisLogPort {
  streamKey: string;
  channel: string;
  /** Runs a script (EVALSHA with EVAL fallback). */
  run(script: { src: string; sha?: string }, keys: string[], args: string[]): Promise<unknown>;
  /** A raw command on the command connection. */
  command(args: string[]): Promise<unknown>;
  /** Subscribes to the live channel through the coordinator's shared subscriber. */
  subscribe(handler: (message: string) => void): Promise<() => Promise<void>>;
}

type RawEntry = [string, string[]];

function entryOf(raw: RawEntry): LogEntry {
  const fields = raw[1];
  const i = fields.indexOf('p');
  return { id: String(raw[0]), payload: i >= 0 ? String(fields[i + 1]) : '' };
}

export class RedisEventLog implements EventLog {
  private readonly maxLen: number;

  constructor(private readonly port: RedisLogPort, maxLen = DEFAULT_EVENT_LOG_LEN) {
    this.maxLen = Math.max(1, maxLen);
  }

  async append(payloads: string[]): Promise<string[]> {
    if (!payloads.length) return [];
    const ids = (await this.port.run(LOG_APPEND, [this.port.streamKey], [String(this.maxLen), this.port.channel, ...payloads])) as string[];
    return ids.map(String);
  }

  /** XINFO STREAM as a map (null when the stream doesn't exist yet). */
  private async info(): Promise<Map<string, unknown> | null> {
    let flat: unknown[];
    try {
      flat = (await this.port.command(['XINFO', 'STREAM', this.port.streamKey])) as unknown[];
    } catch (err) {
      if (/no such key/i.test((err as Error).message)) return null;
      throw err;
    }
    const m = new Map<string, unknown>();
    for (let i = 0; i + 1 < flat.length; i += 2) m.set(String(flat[i]), flat[i + 1]);
    return m;
  }

  async head(): Promise<string> {
    const info = await this.info();
    if (info) return String(info.get('last-generated-id'));
    // No stream yet: an id just below Redis's clock, which every later XADD id exceeds.
    const [sec, usec] = (await this.port.command(['TIME'])) as string[];
    return `${Number(sec) * 1000 + Math.floor(Number(usec) / 1000) - 1}-${MAX_SEQ}`;
  }

  async readAfter(afterId: string, limit: number): Promise<ReadResult> {
    const [info, after] = await Promise.all([
      this.info(),
      // '(' makes the start exclusive (Redis >= 6.2).
      this.port.command(['XRANGE', this.port.streamKey, `(${afterId}`, '+', 'COUNT', String(Math.max(1, limit))]) as Promise<RawEntry[]>,
    ]);
    let gap = false;
    if (info) {
      // Trimming happened when more entries were added than are kept (Redis 7 reports
      // entries-added; older versions: assume it once the stream is full). Then a reader
      // older than the oldest kept entry may have missed some (off by one at worst: a
      // reader whose id is the very last trimmed entry reloads although it missed nothing).
      const added = info.get('entries-added');
      const length = Number(info.get('length'));
      const trimmed = added !== undefined ? Number(added) > length : length >= this.maxLen;
      const first = info.get('first-entry') as RawEntry | null;
      gap = trimmed && !!first && compareLogIds(String(first[0]), afterId) > 0;
    }
    return { entries: after.map(entryOf), gap };
  }

  async subscribe(handler: (entries: LogEntry[]) => void): Promise<() => Promise<void>> {
    return this.port.subscribe((message) => {
      const batch = JSON.parse(message) as [string, string][];
      handler(batch.map(([id, payload]) => ({ id, payload })));
    });
  }
}
