// The IMAP watcher against a real Dovecot (installed and started by test/helpers/dovecot.ts).
import { expect } from 'chai';
import { createServer, connect, type Server, type Socket } from 'node:net';
import Database from 'better-sqlite3';
import { ImapWatcher, parseImapUrl, type ImapCheckpoint, type ImapWatcherOptions } from '../../adapters/email/imap-watcher.js';
import { MemoryCheckpointStore, SqlCheckpointStore, type CheckpointStore } from '../../adapters/email/checkpoint.js';
import type { InboundMessage, InboundSink, WebhookBatch } from '../../adapters/types.js';
import type { Sql, Param } from '../../gateway/db/sql.js';
import { startDovecot, type Dovecot } from '../helpers/dovecot.js';

const SUPPORT = 'support@example.com';

/** Minimal Sql over better-sqlite3 (the gateway's own implementation is not needed here). */
function sqliteSql(db: Database.Database): Sql {
  const norm = (params: Param[] = []) => params.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p === undefined ? null : p));
  const sql: Sql = {
    dialect: 'sqlite',
    async query<T>(q: string, params?: Param[]) {
      return db.prepare(q).all(...norm(params)) as T[];
    },
    async execute(q: string, params?: Param[]) {
      return { affected: db.prepare(q).run(...norm(params)).changes };
    },
    async defer(text: string, params?: Param[]) {
      await sql.execute(text, params);
    },
    async tx(fn) {
      return fn(sql);
    },
    insertIgnore: () => 'INSERT OR IGNORE',
    isUniqueViolation: (err) => String((err as Error)?.message).includes('UNIQUE'),
  };
  return sql;
}

/** Records accepted messages; lets a test wait for the n-th one; can be told to fail. */
class RecordingSink implements InboundSink {
  messages: InboundMessage[] = [];
  calls = 0;
  failNext = 0;
  private waiters: { n: number; resolve: () => void }[] = [];
  async accept(batch: Partial<WebhookBatch>): Promise<void> {
    this.calls++;
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('database unavailable');
    }
    this.messages.push(...(batch.messages ?? []));
    this.waiters = this.waiters.filter((w) => (this.messages.length >= w.n ? (w.resolve(), false) : true));
  }
  /** Resolves once `n` messages in total have been accepted. */
  waitFor(n: number): Promise<void> {
    if (this.messages.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
  ids(): string[] {
    return this.messages.map((m) => m.externalId);
  }
}

function rawMail(id: string, text = `Hello from ${id}`): string {
  return [
    `From: Customer ${id} <${id}@example.org>`,
    `To: ${SUPPORT}`,
    `Subject: Question ${id}`,
    `Message-ID: <${id}@example.org>`,
    'Date: Tue, 03 Apr 2012 16:19:00 +0000',
    'Content-Type: text/plain; charset=utf-8',
    '',
    text,
    '',
  ].join('\r\n');
}

/** Resolves once the watcher's checkpoint has reached `uid` (it moves right after accept resolved). */
function checkpointReaches(w: ImapWatcher, store: CheckpointStore<ImapCheckpoint>, uid: number): Promise<void> {
  return new Promise((resolve) => {
    const check = async () => {
      if (((await store.get(w.checkpointKey))?.lastUid ?? 0) >= uid) {
        w.off('delivered', check);
        resolve();
      }
    };
    w.on('delivered', check);
    void check();
  });
}

const once = <T = unknown>(w: ImapWatcher, event: string) => new Promise<T>((resolve) => w.once(event, resolve));

describe('email IMAP watcher (real Dovecot)', function () {
  this.timeout(20_000);
  let dovecot: Dovecot;
  const watchers: ImapWatcher[] = [];

  function watcher(opts: Partial<ImapWatcherOptions> & Pick<ImapWatcherOptions, 'sink' | 'checkpoints'>): ImapWatcher {
    const w = new ImapWatcher({
      imapUrl: dovecot.url(),
      account: SUPPORT,
      idleStartDelayMs: 100,
      backoff: { initialMs: 50, maxMs: 500 },
      ...opts,
    });
    watchers.push(w);
    return w;
  }

  before(async function () {
    this.timeout(600_000); // may apt-get install dovecot-imapd
    dovecot = await startDovecot();
  });
  afterEach(async () => {
    await Promise.all(watchers.splice(0).map((w) => w.stop()));
  });
  after(async () => {
    await dovecot?.stop();
  });

  it('parses IMAP_URL', () => {
    expect(parseImapUrl('imaps://me%40x.org:p%3Ass@mail.x.org/Support%20Box')).to.deep.equal({
      secure: true,
      host: 'mail.x.org',
      port: 993,
      user: 'me@x.org',
      pass: 'p:ss',
      mailbox: 'Support Box',
    });
    expect(parseImapUrl('imap://u:p@127.0.0.1:1143')).to.include({ secure: false, port: 1143, mailbox: 'INBOX' });
    expect(() => parseImapUrl('http://x')).to.throw(/imap/);
  });

  it('delivers a mail appended to the inbox within seconds (IDLE), checkpointed in channel_state; restart neither re-delivers nor misses', async () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE channel_state (id VARCHAR(190) PRIMARY KEY, value TEXT NOT NULL, updatedAt BIGINT NOT NULL)');
    const checkpoints = new SqlCheckpointStore<ImapCheckpoint>(sqliteSql(db));
    const sink = new RecordingSink();
    // IDLE restart far away: only the server's push while idling can bring the mail in.
    let w = watcher({ sink, checkpoints, idleRestartMs: 10 * 60_000 });
    const synced = once(w, 'synced');
    await w.start();
    await synced;
    expect(sink.messages).to.have.length(0);

    const [uid] = await dovecot.append('INBOX', rawMail('idle-1', 'Where is my parcel?'));
    const started = Date.now();
    await sink.waitFor(1);
    expect(Date.now() - started).to.be.below(5000);
    expect(sink.messages[0]).to.include({ channel: 'email', account: SUPPORT, from: 'idle-1@example.org', externalId: '<idle-1@example.org>', text: 'Where is my parcel?' });
    expect(sink.messages[0].email?.subject).to.equal('Question idle-1');
    await checkpointReaches(w, checkpoints, uid);

    const row = db.prepare('SELECT value, updatedAt FROM channel_state WHERE id = ?').get(w.checkpointKey) as { value: string; updatedAt: number };
    expect(JSON.parse(row.value)).to.include({ lastUid: uid });
    expect(row.updatedAt).to.be.a('number');

    // Restart (a new watcher, as a new process would): nothing delivered twice.
    await w.stop();
    await dovecot.append('INBOX', rawMail('while-down-1'), rawMail('while-down-2'));
    w = watcher({ sink, checkpoints });
    await w.start();
    await sink.waitFor(3);
    await once(w, 'synced');
    expect(sink.ids()).to.deep.equal(['<idle-1@example.org>', '<while-down-1@example.org>', '<while-down-2@example.org>']);

    // And a third start with nothing new delivers nothing.
    await w.stop();
    w = watcher({ sink, checkpoints });
    const synced3 = once<{ lastUid: number }>(w, 'synced');
    await w.start();
    expect((await synced3).lastUid).to.equal(uid + 2);
    expect(sink.messages).to.have.length(3);
  });

  it('moves the checkpoint only after accept resolved: a failing sink gets the mail again after the reconnect', async () => {
    const c = await dovecot.client();
    await c.mailboxCreate('Retry');
    await c.logout();
    const checkpoints = new MemoryCheckpointStore<ImapCheckpoint>();
    const sink = new RecordingSink();
    sink.failNext = 2;
    const w = watcher({ sink, checkpoints, imapUrl: dovecot.url('Retry') });
    const retries: unknown[] = [];
    w.on('retry', (r) => retries.push(r));
    await dovecot.append('Retry', rawMail('retry-1'), rawMail('retry-2'));
    await w.start();
    await sink.waitFor(2);
    expect(sink.calls).to.equal(4); // 2 failures, then both mails
    expect(retries.length).to.be.at.least(2);
    expect(sink.ids()).to.deep.equal(['<retry-1@example.org>', '<retry-2@example.org>']);
    await checkpointReaches(w, checkpoints, 2);
    expect((await checkpoints.get(w.checkpointKey))?.lastUid).to.equal(2);
  });

  it('UIDVALIDITY change (mailbox recreated): re-scans from the start under the new UIDVALIDITY', async () => {
    const c = await dovecot.client();
    await c.mailboxCreate('Recreated');
    await c.logout();
    const checkpoints = new MemoryCheckpointStore<ImapCheckpoint>();
    const sink = new RecordingSink();
    let w = watcher({ sink, checkpoints, imapUrl: dovecot.url('Recreated') });
    await dovecot.append('Recreated', rawMail('uv-1'), rawMail('uv-2'));
    await w.start();
    await sink.waitFor(2);
    await w.stop();
    const before = (await checkpoints.get(w.checkpointKey))!;
    expect(before.lastUid).to.equal(2);

    const c2 = await dovecot.client();
    await c2.mailboxDelete('Recreated');
    await c2.mailboxCreate('Recreated');
    await c2.logout();
    await dovecot.append('Recreated', rawMail('uv-3'));

    w = watcher({ sink, checkpoints, imapUrl: dovecot.url('Recreated') });
    const changed = once<{ from: string; to: string }>(w, 'uidValidityChanged');
    await w.start();
    const ev = await changed;
    expect(ev.from).to.equal(before.uidValidity);
    expect(ev.to).to.not.equal(before.uidValidity);
    await sink.waitFor(3);
    // UID 1 of the new mailbox is below the old lastUid (2): without the re-scan it would be lost.
    expect(sink.ids()).to.deep.equal(['<uv-1@example.org>', '<uv-2@example.org>', '<uv-3@example.org>']);
    await checkpointReaches(w, checkpoints, 1);
    expect(await checkpoints.get(w.checkpointKey)).to.deep.equal({ uidValidity: ev.to, lastUid: 1 });
  });

  it('reconnects with a new client after the connection drops, and catches up', async () => {
    // A TCP proxy in front of Dovecot lets the test cut the connection.
    const sockets = new Set<Socket>();
    const proxy: Server = createServer((client) => {
      const upstream = connect(dovecot.port, '127.0.0.1');
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const drop = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const proxyPort = (proxy.address() as { port: number }).port;
    try {
      const c = await dovecot.client();
      await c.mailboxCreate('Dropped');
      await c.logout();
      const sink = new RecordingSink();
      const w = watcher({
        sink,
        checkpoints: new MemoryCheckpointStore<ImapCheckpoint>(),
        imapUrl: `imap://support:secret@127.0.0.1:${proxyPort}/Dropped`,
      });
      let connects = 0;
      w.on('connected', () => connects++);
      const synced = once(w, 'synced');
      await w.start();
      await synced;

      const disconnected = once(w, 'disconnected');
      for (const s of sockets) s.destroy();
      await disconnected;
      await dovecot.append('Dropped', rawMail('after-drop'));
      await sink.waitFor(1);
      expect(connects).to.equal(2);
      expect(sink.ids()).to.deep.equal(['<after-drop@example.org>']);
    } finally {
      await Promise.all(watchers.splice(0).map((w) => w.stop()));
      for (const s of sockets) s.destroy();
      await new Promise((r) => proxy.close(r));
    }
  });

  it("initialSync 'new' skips what is already in the mailbox on the very first start", async () => {
    const c = await dovecot.client();
    await c.mailboxCreate('Fresh');
    await c.logout();
    await dovecot.append('Fresh', rawMail('old-1'));
    const sink = new RecordingSink();
    const checkpoints: CheckpointStore<ImapCheckpoint> = new MemoryCheckpointStore<ImapCheckpoint>();
    const w = watcher({ sink, checkpoints, imapUrl: dovecot.url('Fresh'), initialSync: 'new' });
    const synced = once(w, 'synced');
    await w.start();
    await synced;
    await dovecot.append('Fresh', rawMail('new-1'));
    await sink.waitFor(1);
    expect(sink.ids()).to.deep.equal(['<new-1@example.org>']);
  });
});

describe('email IMAP watcher on a server without IDLE (NOOP polling)', function () {
  this.timeout(20_000);
  let dovecot: Dovecot;
  before(async function () {
    this.timeout(600_000);
    // The capability list without IDLE: clients must poll.
    dovecot = await startDovecot({ extraConfig: 'imap_capability = IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE' });
  });
  after(async () => {
    await dovecot?.stop();
  });

  it('still picks up new mail by polling', async () => {
    const probe = await dovecot.client();
    expect(probe.capabilities.has('IDLE')).to.equal(false);
    await probe.logout();
    const sink = new RecordingSink();
    const w = new ImapWatcher({
      imapUrl: dovecot.url(),
      account: SUPPORT,
      sink,
      checkpoints: new MemoryCheckpointStore<ImapCheckpoint>(),
      idleStartDelayMs: 50,
      idleRestartMs: 200, // the poll interval (imapflow: min(maxIdleTime, 2 min))
    });
    try {
      const synced = once(w, 'synced');
      await w.start();
      await synced;
      await dovecot.append('INBOX', rawMail('polled-1'));
      await sink.waitFor(1);
      expect(sink.ids()).to.deep.equal(['<polled-1@example.org>']);
    } finally {
      await w.stop();
    }
  });
});
