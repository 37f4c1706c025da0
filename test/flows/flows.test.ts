import { expect } from 'chai';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main, lint, mermaid } from '../../flows/cli.js';
import { listFlowFiles, loadFlowFile, parseFlow } from '../../flows/loader.js';
import { runTestFile } from '../../flows/testing.js';

const FLOWS = fileURLToPath(new URL('../../flows/', import.meta.url));
const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

describe('flow conversation tests (flows/tests/*.yaml)', () => {
  const files = readdirSync(join(FLOWS, 'tests')).filter((f) => f.endsWith('.yaml')).sort();

  it('exist for every shipped flow', () => {
    for (const f of listFlowFiles(FLOWS)) {
      const name = f.split('/').pop()!.replace('.yaml', '');
      expect(files, name).to.include(`${name}.test.yaml`);
    }
  });

  for (const f of files) {
    describe(f, () => {
      // one mocha test per conversation, registered after the file ran
      it('all conversations pass', async () => {
        const results = await runTestFile(join(FLOWS, 'tests', f), FLOWS);
        expect(results.length).to.be.greaterThan(0);
        const failed = results.filter((r) => !r.ok);
        const report = failed.map((r) => `${r.name}:\n  ${r.failures.join('\n  ')}\n  ${r.transcript.join('\n  ')}`).join('\n');
        expect(failed, report).to.deep.equal([]);
      });
    });
  }

  it('the runner reports failing expectations', async () => {
    const [r] = await runTestFile(join(FIXTURES, 'failing.test.yaml'), FLOWS);
    expect(r.ok).to.equal(false);
    expect(r.failures).to.have.length(4);
    expect(r.failures.join('\n')).to.match(/expected a reply matching "this text is never sent"/).and.match(/expected handoff with cause fallback/);
  });
});

describe('flow files, schema and lint', () => {
  it('every shipped flow is valid and lint-clean, with the schema header', () => {
    const files = listFlowFiles(FLOWS);
    expect(files.map((f) => f.split('/').pop())).to.include.members(['welcome.yaml', 'faq.yaml', 'order-status.yaml', 'feedback.yaml']);
    const { problems } = lint(files);
    expect(problems).to.deep.equal([]);
    for (const f of files) expect(readFileSync(f, 'utf8')).to.match(/^# yaml-language-server: \$schema=\.\/flow\.schema\.json/);
  });

  it('welcome offers FAQ, Order status and Talk to an agent', () => {
    const welcome = loadFlowFile(join(FLOWS, 'welcome.yaml')).flow!.def;
    const menu = welcome.nodes.find((n) => n.id === welcome.start);
    expect(menu?.type).to.equal('question');
    if (menu?.type === 'question') expect(menu.choices!.map((c) => c.title)).to.deep.equal(['FAQ', 'Order status', 'Talk to an agent']);
    expect(welcome.messages?.handoff).to.be.a('string');
  });

  const base = `flow: x\nstart: a\nnodes:\n  - id: a\n    type: message\n    text: hello\n    next: b\n  - id: b\n    type: end\n`;

  it('reports YAML syntax errors with file and line', () => {
    const { problems, flow } = parseFlow('flow: x\nstart: a\nnodes:\n  - id: a\n    type: [message\n', 'x.yaml');
    expect(flow).to.equal(undefined);
    expect(problems[0]).to.include({ file: 'x.yaml', severity: 'error' });
    expect(problems[0].line).to.be.a('number');
  });

  it('reports schema errors at the offending line', () => {
    const { problems } = parseFlow(base.replace('    text: hello\n', '    text: hello\n    colour: red\n'), 'x.yaml');
    expect(problems).to.have.length(1);
    expect(problems[0]).to.include({ line: 7, message: 'nodes.0: unknown property "colour"' });
    const missing = parseFlow(base.replace('    text: hello\n', ''), 'x.yaml').problems;
    expect(missing[0].message).to.equal('nodes.0: missing required property "text"');
    expect(missing[0].line).to.equal(4);
    const badType = parseFlow(base.replace('type: end', 'type: stop'), 'x.yaml').problems;
    expect(badType[0]).to.include({ line: 9 });
    expect(badType[0].message).to.match(/node "type" must be one of/);
  });

  it('reports dangling targets, duplicate ids, bad regexes and start', () => {
    const dangling = parseFlow(base.replace('next: b', 'next: c'), 'x.yaml').problems;
    expect(dangling).to.deep.include({ file: 'x.yaml', line: 7, column: 11, message: 'node "a": target "c" does not exist', severity: 'error' });
    const dup = parseFlow(base.replace('  - id: b', '  - id: a'), 'x.yaml').problems;
    expect(dup.map((p) => p.message)).to.include('duplicate node id "a" (first defined as node #1)');
    const re = parseFlow(base.replace('    type: message\n    text: hello\n', '    type: question\n    text: hello\n    input: { type: regex, pattern: "([a-z" }\n'), 'x.yaml').problems;
    expect(re[0].message).to.match(/invalid regex/);
    expect(parseFlow(base.replace('start: a', 'start: z'), 'x.yaml').problems[0].message).to.equal('start node "z" does not exist');
  });

  it('warns about unreachable nodes and labels too long for WhatsApp buttons / lists / Instagram quick replies', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lint-'));
    try {
      writeFileSync(join(dir, 'welcome.yaml'), `flow: welcome
start: q
nodes:
  - id: q
    type: question
    text: Pick
    choices:
      - { id: a, title: This title is way too long, next: done }
      - { id: b, title: Short, next: done }
  - id: done
    type: end
  - id: orphan
    type: end
  - id: go
    type: jump
    flow: nowhere
`);
      const { problems } = lint(listFlowFiles(dir));
      const msgs = problems.map((p) => `${p.severity} ${p.line}: ${p.message}`);
      expect(msgs).to.include('warning 12: node "orphan" is unreachable from start "q"');
      expect(msgs.some((m) => /warning 8: .*26 chars; WhatsApp reply buttons show at most 20/.test(m))).to.equal(true);
      expect(msgs.some((m) => /warning 8: .*Instagram quick replies show at most 20/.test(m))).to.equal(true);
      expect(msgs).to.include('error 16: node "go": flow "nowhere" does not exist');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('graph prints a Mermaid flowchart with every node and edge label', () => {
    const def = loadFlowFile(join(FLOWS, 'order-status.yaml')).flow!.def;
    const g = mermaid(def);
    expect(g.split('\n')[0]).to.equal('flowchart TD');
    for (const n of def.nodes) expect(g).to.contain(`  ${n.id}`);
    expect(g).to.contain('lookup -->|"404"| not_found');
    expect(g).to.contain('lookup -->|"failure"| api_failed');
  });

  it('the CLI exits non-zero on lint errors and failing conversation tests, zero otherwise', async () => {
    const log = console.log;
    const out: string[] = [];
    console.log = (...a: unknown[]) => out.push(a.join(' '));
    try {
      expect(await main(['lint', '--dir', FLOWS])).to.equal(0);
      expect(await main(['test', '--dir', FLOWS, join(FLOWS, 'tests', 'feedback.test.yaml')])).to.equal(0);
      expect(await main(['test', '--dir', FLOWS, join(FIXTURES, 'failing.test.yaml')])).to.equal(1);
      const dir = mkdtempSync(join(tmpdir(), 'lint-'));
      writeFileSync(join(dir, 'welcome.yaml'), 'flow: welcome\nstart: a\nnodes: []\n');
      expect(await main(['lint', '--dir', dir])).to.equal(1);
      rmSync(dir, { recursive: true, force: true });
      expect(await main(['graph', 'welcome', '--dir', FLOWS])).to.equal(0);
    } finally {
      console.log = log;
    }
    expect(out.join('\n')).to.match(/0 error\(s\)/).and.match(/1 failed/).and.match(/flowchart TD/);
  });
});
