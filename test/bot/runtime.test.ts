import { expect } from 'chai';
import nock from 'nock';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBot, type Bot } from '../../bot/index.js';
import { MemoryBotStore } from '../../bot/storage.js';
import { Convo, FIXTURES, SHIPPED_FLOWS, escalation, texts } from './helpers.js';

const quiet = () => {};
const MENU = ['FAQ', 'Order status', 'Talk to an agent'];

describe('bot runtime (memory storage, shipped flows)', () => {
  let bot: Bot;
  before(async () => {
    bot = await createBot({ flowsDir: SHIPPED_FLOWS, storage: { kind: 'memory' }, orderApiUrl: 'http://orders.example/api/', log: quiet });
  });
  after(() => bot.close());

  it('answers "hi" with the welcome menu as a choice with three options, on every channel', async () => {
    for (const channel of ['whatsapp', 'instagram', 'email'] as const) {
      const r = await new Convo(bot, channel, { name: 'Ana' }).say('hi');
      expect(r.replies).to.have.length(1);
      const c = r.replies[0];
      expect(c.kind).to.equal('choice');
      if (c.kind !== 'choice') return;
      expect(c.text).to.match(/^Hi Ana!/);
      expect(c.options.map((o) => o.title)).to.deep.equal(MENU);
      expect(new Set(c.options.map((o) => o.id)).size).to.equal(3);
      expect(r.signals).to.deep.equal([]);
      expect(r.at).to.deep.equal({ flow: 'welcome', node: 'menu' });
    }
  });

  it('never writes first: no message and no startFlow gives no replies', async () => {
    const c = new Convo(bot);
    const r = await bot.turn(c.input(undefined));
    expect(r).to.deep.include({ replies: [], signals: [] });
    expect((await c.say('   ')).replies).to.deep.equal([]);
  });

  it('accepts a menu answer as choice id, typed number, title or a typo of the title', async () => {
    for (const answer of ['#id', '2', 'order status', 'Ordr stauts']) {
      const c = new Convo(bot);
      await c.say('hi');
      const r = answer === '#id' ? await c.tap('Order status') : await c.say(answer);
      expect(texts(r).join(' '), answer).to.match(/order number/);
      expect(r.at).to.deep.equal({ flow: 'order-status', node: 'ask_number' });
    }
  });

  describe('talk to an agent', () => {
    // every question node of every shipped flow, and how to get there
    const paths: Record<string, (c: Convo) => Promise<unknown>> = {
      'welcome/menu': (c) => c.say('hi'),
      'faq/ask': async (c) => (await c.say('hi'), c.tap('FAQ')),
      'faq/helped': (c) => c.say('opening hours'),
      'order-status/ask_number': (c) => c.say('where is my order'),
      'feedback/rating': (c) => c.start('feedback'),
      'feedback/ask_comment': async (c) => (await c.start('feedback'), c.say('4')),
    };

    it('covers every question node of the shipped flows', () => {
      for (const f of ['welcome', 'faq', 'order-status', 'feedback']) {
        const src = readFileSync(join(SHIPPED_FLOWS, `${f}.yaml`), 'utf8');
        const ids = [...src.matchAll(/- id: (\S+)\n\s+type: question/g)].map((m) => `${f}/${m[1]}`);
        for (const id of ids) expect(paths, id).to.have.property(id);
      }
    });

    for (const [node, goThere] of Object.entries(paths)) {
      for (const how of ['typed', 'old menu button'] as const) {
        it(`from ${node} (${how}) escalates with cause customer_request, then stays silent`, async () => {
          const c = new Convo(bot);
          await goThere(c);
          expect(c.last!.at).to.deep.equal({ flow: node.split('/')[0], node: node.split('/')[1] });
          const r = how === 'typed' ? await c.say('I want to talk to a person') : await c.tapId('welcome:menu:agent', 'Talk to an agent');
          expect(escalation(r)).to.deep.include({ kind: 'escalate', cause: 'customer_request' });
          expect(texts(r).join(' ')).to.match(/connecting you/);
          // afterwards the bot stays silent on this conversation until the gateway restarts it (startFlow / end)
          const after = await c.say('hello? anyone?');
          expect(after.replies).to.deep.equal([]);
          expect(after.signals).to.deep.equal([]);
        });
      }
    }

    it('recognises the usual phrasings', async () => {
      for (const t of ['agent', 'human', 'talk to a person', 'speak to someone', 'Talk to an agent', 'can I talk to a human please', 'real person']) {
        const c = new Convo(bot);
        await c.say('hi');
        expect(escalation(await c.say(t)), t).to.deep.include({ cause: 'customer_request' });
      }
    });

    it('as the first message hands off at once', async () => {
      const r = await new Convo(bot).say('agent');
      expect(escalation(r)).to.deep.include({ cause: 'customer_request' });
    });

    it('a free-text feedback comment that mentions an agent is a comment, not a handoff', async () => {
      const c = new Convo(bot);
      await c.start('feedback');
      await c.say('5');
      const r = await c.say('the agent was very helpful');
      expect(escalation(r)).to.equal(undefined);
      expect(r.signals).to.deep.equal([{ kind: 'rating', score: 5, comment: 'the agent was very helpful' }]);
    });

    it('after a handoff, startFlow (handback with a flow) resumes the bot; end() starts a new episode', async () => {
      const c = new Convo(bot);
      await c.say('human');
      expect((await c.say('hi')).replies).to.deep.equal([]);
      const r = await c.start('feedback');
      expect(texts(r)[0]).to.match(/rate/);
      await c.say('human');
      await bot.end(c.key);
      const again = await c.say('hi');
      expect(again.replies[0]).to.deep.include({ kind: 'choice' });
    });
  });

  describe('fallback', () => {
    it('one input not understood re-asks, it does not escalate', async () => {
      const c = new Convo(bot);
      await c.say('hi');
      const r = await c.say('blorp');
      expect(escalation(r)).to.equal(undefined);
      expect(r.replies).to.have.length(1);
      expect(r.replies[0]).to.deep.include({ kind: 'choice' });
      expect(texts(r)[0]).to.match(/didn't get that/);
    });

    it('two inputs not understood in a row escalate with cause fallback', async () => {
      const c = new Convo(bot);
      await c.say('hi');
      await c.say('blorp');
      const r = await c.say('flurb');
      expect(escalation(r)).to.deep.include({ kind: 'escalate', cause: 'fallback' });
      expect(texts(r).join(' ')).to.match(/connecting you/);
    });

    it('counts consecutive misses across nodes only until something is understood', async () => {
      const c = new Convo(bot);
      await c.say('hi');
      await c.say('blorp');
      await c.say('1'); // understood: FAQ
      expect(escalation(await c.say('xyzzy qwerty'))).to.equal(undefined);
      expect(escalation(await c.say('plugh plover'))).to.deep.include({ cause: 'fallback' });
    });

    it('honours settings.fallbackLimit', async () => {
      const c = new Convo(bot, 'whatsapp', { fallbackLimit: 1 });
      await c.say('hi');
      expect(escalation(await c.say('blorp'))).to.deep.include({ cause: 'fallback' });
    });

    it('keeps a misunderstood log per flow and node', async () => {
      const c = new Convo(bot);
      await c.say('hi');
      await c.say('what about llamas');
      await new Promise((r) => setImmediate(r));
      const log = await bot.misunderstood();
      expect(log.find((e) => e.text === 'what about llamas')).to.deep.include({ flow: 'welcome', node: 'menu', count: 1 });
    });
  });

  describe('order status (nock)', () => {
    afterEach(() => nock.cleanAll());

    it('answers a known order with its status from the order API', async () => {
      const api = nock('http://orders.example').get('/api/orders/A1234').reply(200, { id: 'A1234', status: 'out for delivery' });
      const c = new Convo(bot);
      await c.say('hi');
      await c.tap('Order status');
      const r = await c.say('a1234');
      expect(texts(r)).to.deep.equal(['Order A1234 is out for delivery.']);
      expect(r.signals).to.deep.equal([{ kind: 'resolved' }]);
      expect(api.isDone()).to.equal(true);
    });

    it('escalates an unknown order (404) with cause flow_end', async () => {
      const api = nock('http://orders.example').get('/api/orders/ZZ999').reply(404, { error: 'not found' });
      const c = new Convo(bot);
      await c.say('where is my order?');
      const r = await c.say('ZZ999');
      expect(escalation(r)).to.deep.include({ kind: 'escalate', cause: 'flow_end', reason: 'Order ZZ999 not found' });
      expect(texts(r).join(' ')).to.match(/couldn't find order ZZ999/);
      expect(api.isDone()).to.equal(true);
    });

    it('escalates when the order API fails or is unreachable', async () => {
      nock('http://orders.example').get('/api/orders/B11').reply(503, 'down');
      nock('http://orders.example').get('/api/orders/B12').replyWithError('connect ECONNREFUSED');
      for (const [n, status] of [['B11', 503], ['B12', 0]] as const) {
        const c = new Convo(bot);
        await c.say('order status');
        const r = await c.say(n);
        expect(escalation(r)).to.deep.include({ kind: 'escalate', cause: 'flow_end', reason: `Order lookup failed for ${n} (HTTP ${status})` });
        expect(texts(r).join(' ')).to.match(/can't reach our order system/);
      }
    });

    it('url-encodes variables in URLs', async () => {
      const api = nock('http://orders.example').get('/api/orders/A-12').reply(200, { status: 'packed' });
      const c = new Convo(bot);
      await c.say('order status');
      expect(texts(await c.say('a-12'))).to.deep.equal(['Order A-12 is packed.']);
      expect(api.isDone()).to.equal(true);
    });
  });

  it('re-running the same turnId returns the same result without advancing', async () => {
    const c = new Convo(bot);
    await c.say('hi');
    const first = await c.say('blorp', 'same-turn');
    const again = await c.say('blorp', 'same-turn');
    expect(again).to.deep.equal(first);
    // the miss was counted once: one more miss is the second one, which escalates
    const third = await c.say('blorp');
    expect(escalation(third)).to.deep.include({ cause: 'fallback' });
    const st = await bot.inspect(c.key);
    expect(st?.handedOff).to.equal(true);
  });

  it('handles a tap on an option of an old menu', async () => {
    const c = new Convo(bot);
    const menu = await c.say('hi');
    await c.tap('Order status');
    // the welcome menu's FAQ button is tapped while the order number is asked
    const faqId = menu.replies[0].kind === 'choice' ? menu.replies[0].options[0].id : '';
    const r = await c.tapId(faqId, 'FAQ');
    expect(escalation(r)).to.equal(undefined);
    expect(texts(r)[0]).to.match(/earlier menu.*order number/);
    expect(r.at).to.deep.equal({ flow: 'order-status', node: 'ask_number' });
    // it is not a misunderstanding: the next miss alone does not escalate
    expect(escalation(await c.say('?'))).to.equal(undefined);

    // after a conversation ended, a tap on its old menu acts on it
    const d = new Convo(bot);
    const m = await d.say('opening hours');
    const yes = m.replies.find((x) => x.kind === 'choice');
    await d.tap('Yes, thanks');
    expect(yes).to.not.equal(undefined);
    const r2 = await d.tapId(faqId, 'FAQ');
    expect(texts(r2)[0]).to.match(/What's your question/);
    // unknown / garbage ids are read as text
    const e = new Convo(bot);
    const r3 = await e.tapId('no-such-id', 'Order status');
    expect(texts(r3)[0]).to.match(/order number/);
  });

  it('feedback flow emits a rating signal', async () => {
    const c = new Convo(bot, 'instagram');
    const r = await c.start('feedback');
    expect(r.replies[0]).to.deep.include({ kind: 'choice' });
    await c.say('3');
    const done = await c.tap('No comment');
    expect(done.signals).to.deep.equal([{ kind: 'rating', score: 3 }]);
  });

  it('a turn costs well under a millisecond of CPU on memory storage', async () => {
    const convs = Array.from({ length: 100 }, () => new Convo(bot));
    for (const c of convs) await c.say('hi'); // warm up
    const start = process.cpuUsage();
    let turns = 0;
    for (let round = 0; round < 5; round++) {
      for (const c of convs) {
        await c.say('1');
        await c.say('opening hours');
        await c.say('yes');
        await c.say('hi');
        turns += 4;
      }
    }
    const used = process.cpuUsage(start);
    const perTurnMs = (used.user + used.system) / 1000 / turns;
    console.log(`      ${turns} turns, ${perTurnMs.toFixed(3)} ms CPU per turn`);
    expect(perTurnMs).to.be.below(1);
  });
});

describe('bot runtime: errors, sub-flows, versions, broken files', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'flows-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a failing turn (HTTP failure without a failure exit) escalates with bot_error and a polite message', async () => {
    cpSync(join(FIXTURES, 'broken'), dir, { recursive: true });
    const errors: string[] = [];
    const bot = await createBot({
      flowsDir: dir,
      storage: { kind: 'memory' },
      log: (level, msg) => level === 'error' && errors.push(msg),
      fetch: (async () => {
        throw new TypeError('fetch failed');
      }) as typeof fetch,
    });
    const c = new Convo(bot);
    await c.say('hi');
    const r = await c.tap('Call the API');
    expect(escalation(r)).to.deep.include({ kind: 'escalate', cause: 'bot_error' });
    expect(texts(r)).to.deep.equal(['Oops, our side broke. An agent will take over.']);
    expect(errors.join('\n')).to.match(/fetch failed/);
    expect((await c.say('hello')).replies).to.deep.equal([]);

    // an endless jump loop is a bot error too, not a hang
    const d = new Convo(bot);
    await d.say('hi');
    expect(escalation(await d.tap('Loop'))).to.deep.include({ cause: 'bot_error' });
    await bot.close();
  });

  it('calls a sub-flow and returns to the caller; retry limit with failure exit; conditions and set', async () => {
    cpSync(join(FIXTURES, 'broken'), dir, { recursive: true });
    const bot = await createBot({ flowsDir: dir, storage: { kind: 'memory' }, log: quiet });
    const c = new Convo(bot);
    await c.say('hi');
    expect(texts(await c.tap('Sub-flow'))).to.deep.equal(['What is your email?']);
    expect(texts(await c.say('Ana@Example.com'))).to.deep.equal(['back in welcome, helper said ana@example.com', 'Pick one']);
    expect((await bot.inspect(c.key))?.vars).to.deep.include({ answer: 'ana@example.com', vip: true });

    const d = new Convo(bot);
    await d.say('hi');
    await d.say('3');
    // the helper question has its own retry limit (3) and failure exit: the global fallback does not apply
    expect(escalation(await d.say('nope'))).to.equal(undefined);
    expect(texts(d.last!)).to.deep.equal(['That is not an email address.']);
    expect(escalation(await d.say('still no'))).to.equal(undefined);
    expect(texts(await d.say('no'))).to.deep.equal(['Never mind.', 'back in welcome, helper said ', 'Pick one']);
    await bot.close();
  });

  it('a conversation keeps the flow version it started with when the file changes', async () => {
    cpSync(SHIPPED_FLOWS, dir, { recursive: true });
    nock('http://orders.example').get('/orders/A12').times(2).reply(200, { status: 'shipped' });
    const bot = await createBot({ flowsDir: dir, storage: { kind: 'memory' }, orderApiUrl: 'http://orders.example', log: quiet });
    const old = new Convo(bot);
    await old.say('order status');
    const file = join(dir, 'order-status.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('text: "Order {{orderNumber}} is {{order.body.status}}."', 'text: "Your order {{orderNumber}}: {{order.body.status}}!"'));
    expect(bot.reload().filter((p) => p.severity === 'error')).to.deep.equal([]);
    const fresh = new Convo(bot);
    await fresh.say('order status');
    expect(texts(await old.say('A12'))).to.deep.equal(['Order A12 is shipped.']);
    expect(texts(await fresh.say('A12'))).to.deep.equal(['Your order A12: shipped!']);
    nock.cleanAll();
    await bot.close();
  });

  it('a broken flow file is refused with file, line and problem; the running version stays', async () => {
    cpSync(SHIPPED_FLOWS, dir, { recursive: true });
    const bot = await createBot({ flowsDir: dir, storage: { kind: 'memory' }, log: quiet });
    const faq = join(dir, 'faq.yaml');
    const good = readFileSync(faq, 'utf8');

    // YAML syntax error
    writeFileSync(faq, good.replace('  answerNode: answer', '  answerNode: [answer'));
    let problems = bot.reload().filter((p) => p.severity === 'error');
    expect(problems).to.have.length.greaterThan(0);
    expect(problems[0].file).to.equal(faq);
    expect(problems[0].line).to.be.a('number');
    expect((await new Convo(bot).say('opening hours')).replies[0]).to.deep.include({ kind: 'text' });

    // schema error (unknown node type) on a known line
    const lines = good.split('\n');
    const typeLine = lines.findIndex((l) => l.includes('type: message')) + 1;
    writeFileSync(faq, good.replace('type: message', 'type: mesage'));
    problems = bot.reload().filter((p) => p.severity === 'error');
    expect(problems.map((p) => p.line)).to.include(typeLine);
    expect(problems[0].message).to.match(/type/);

    // dangling target
    writeFileSync(faq, good.replace('next: escalate', 'next: escalat'));
    problems = bot.reload().filter((p) => p.severity === 'error');
    expect(problems[0].message).to.match(/target "escalat" does not exist/);

    // the running faq flow still answers
    const c = new Convo(bot);
    expect(texts(await c.say('opening hours'))[0]).to.match(/Monday/);
    expect(escalation(await c.say('no'))).to.deep.include({ cause: 'flow_end' });
    await bot.close();
  });

  it('starts even when a file is broken at startup; the other flows work', async () => {
    cpSync(SHIPPED_FLOWS, dir, { recursive: true });
    writeFileSync(join(dir, 'faq.yaml'), 'flow: faq\nnodes: [\n');
    const bot = await createBot({ flowsDir: dir, storage: { kind: 'memory' }, log: quiet });
    expect(bot.problems().some((p) => p.file.endsWith('faq.yaml') && p.severity === 'error')).to.equal(true);
    expect(bot.flows().map((f) => f.name).sort()).to.deep.equal(['feedback', 'order-status', 'welcome']);
    const c = new Convo(bot);
    await c.say('hi');
    // the menu's FAQ option jumps to a flow that is not loaded: bot error, handed off politely
    const r = await c.say('1');
    expect(escalation(r)).to.deep.include({ cause: 'bot_error' });
    await bot.close();
  });

  it('shares state between two bot instances through one store', async () => {
    const store = new MemoryBotStore();
    const a = await createBot({ flowsDir: SHIPPED_FLOWS, storage: { kind: 'custom', store }, log: quiet });
    const b = await createBot({ flowsDir: SHIPPED_FLOWS, storage: { kind: 'custom', store }, log: quiet });
    const ca = new Convo(a, 'whatsapp', { key: 'shared' });
    const cb = new Convo(b, 'whatsapp', { key: 'shared' });
    await ca.say('hi');
    expect(texts(await cb.say('1'))[0]).to.match(/What's your question/);
  });
});
