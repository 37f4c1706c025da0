import { expect } from 'chai';
import nock from 'nock';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBot, MemoryFlowVersionStore, SqlFlowVersionStore } from '../../bot/index.js';
import { MemoryBotStore } from '../../bot/storage.js';
import { Convo, SHIPPED_FLOWS, texts } from './helpers.js';
import { sqliteSql } from './helpers.js';

const quiet = () => undefined;
const ORDER_LINE = 'text: "Order {{orderNumber}} is {{order.body.status}}."';
const NEW_ORDER_LINE = 'text: "Your order {{orderNumber}}: {{order.body.status}}!"';

describe('flow versions beyond one process, and hot reload', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flows-'));
    cpSync(SHIPPED_FLOWS, dir, { recursive: true });
  });
  afterEach(() => {
    nock.cleanAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a conversation keeps its flow version across a restart after the file changed (SQL version store)', async () => {
    const sql = sqliteSql();
    await sql.execute('CREATE TABLE flow_versions (id VARCHAR(190) PRIMARY KEY, name VARCHAR(190) NOT NULL, hash VARCHAR(24) NOT NULL, source TEXT NOT NULL, createdAt BIGINT NOT NULL)');
    const state = new MemoryBotStore();
    nock('http://orders.example').get('/orders/A12').times(2).reply(200, { status: 'shipped' });
    const opts = { storage: { kind: 'custom' as const, store: state }, orderApiUrl: 'http://orders.example', log: quiet, versions: new SqlFlowVersionStore(sql) };

    const first = await createBot({ flowsDir: dir, ...opts });
    await new Convo(first, 'whatsapp', { key: 'old' }).say('order status'); // now waiting for the order number
    await first.close();
    // the stored versions reach the table asynchronously (fire and forget from the registry)
    for (let i = 0; i < 50 && !(await sql.query('SELECT id FROM flow_versions WHERE name = ?', ['order-status'])).length; i++) await new Promise((r) => setImmediate(r));
    expect((await sql.query('SELECT id FROM flow_versions')).length).to.equal(4);

    // the designer edits the file while the gateway is down; it starts again
    const file = join(dir, 'order-status.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace(ORDER_LINE, NEW_ORDER_LINE));
    const second = await createBot({ flowsDir: dir, ...opts });
    expect(texts(await new Convo(second, 'whatsapp', { key: 'old' }).say('A12'))).to.deep.equal(['Order A12 is shipped.']);
    const fresh = new Convo(second, 'whatsapp', { key: 'fresh' });
    await fresh.say('order status');
    expect(texts(await fresh.say('A12'))).to.deep.equal(['Your order A12: shipped!']);
    await second.close();
  });

  it('without a version store a restarted bot falls back to the current file (what the store prevents)', async () => {
    const state = new MemoryBotStore();
    nock('http://orders.example').get('/orders/A12').reply(200, { status: 'shipped' });
    const opts = { storage: { kind: 'custom' as const, store: state }, orderApiUrl: 'http://orders.example', log: quiet };
    const first = await createBot({ flowsDir: dir, ...opts });
    await new Convo(first, 'whatsapp', { key: 'old' }).say('order status');
    await first.close();
    const file = join(dir, 'order-status.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace(ORDER_LINE, NEW_ORDER_LINE));
    const second = await createBot({ flowsDir: dir, ...opts });
    expect(texts(await new Convo(second, 'whatsapp', { key: 'old' }).say('A12'))).to.deep.equal(['Your order A12: shipped!']);
    await second.close();
  });

  it('reloads a changed file without a restart (watch), and keeps the running version when the edit is invalid', async () => {
    const versions = new MemoryFlowVersionStore();
    const bot = await createBot({ flowsDir: dir, storage: { kind: 'memory' }, log: quiet, watch: true, versions });
    const faq = join(dir, 'faq.yaml');
    const good = readFileSync(faq, 'utf8');
    const before = bot.flows().find((f) => f.name === 'faq')!.hash;

    writeFileSync(faq, good.replace(/Monday/g, 'Mondays'));
    const reloaded = await waitUntil(() => bot.flows().find((f) => f.name === 'faq')!.hash !== before);
    expect(reloaded).to.equal(true);
    expect(texts(await new Convo(bot).say('opening hours'))[0]).to.match(/Mondays/);
    expect([...versions.versions.keys()].filter((k) => k.startsWith('faq@'))).to.have.length(2);

    const current = bot.flows().find((f) => f.name === 'faq')!.hash;
    writeFileSync(faq, 'flow: faq\nnodes: [\n');
    await waitUntil(() => bot.problems().some((p) => p.file === faq && p.severity === 'error'));
    expect(bot.flows().find((f) => f.name === 'faq')!.hash).to.equal(current);
    expect(texts(await new Convo(bot).say('opening hours'))[0]).to.match(/Mondays/);
    await bot.close();
  });
});

/** Waits for the file watcher (an OS event, not a timer of ours) to have acted. */
async function waitUntil(cond: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}
