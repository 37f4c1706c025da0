#!/usr/bin/env -S npx tsx
// Designer CLI for flows:  npx tsx flows/cli.ts <command>   (npm run flows -- <command>)
//
//   lint [files...]                     schema, dangling targets, unreachable nodes, duplicate ids,
//                                       choice labels too long for WhatsApp / Instagram
//   chat [flow] [--channel whatsapp|instagram|email] [--order-api URL]
//                                       talk to the bot in the terminal (memory storage)
//   graph <flow>                        Mermaid diagram of a flow
//   test [files...]                     run scripted conversations (default flows/tests/*.yaml)
//
// Options: --dir DIR (flows directory; default FLOWS_DIR or the folder of this file).

import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { fileURLToPath } from 'node:url';
import type { Channel, OutboundContent } from '../adapters/types.js';
import { crossCheck, formatProblem, listFlowFiles, loadFlowFile, nodeTargets, type LoadedFlow } from './loader.js';
import { CHANNEL_CAPABILITIES, describeContent, runTestFile } from './testing.js';
import type { FlowDef, FlowProblem } from './types.js';

const HERE = dirname(fileURLToPath(import.meta.url));

function parseArgs(argv: string[]): { cmd: string; pos: string[]; opt: Record<string, string> } {
  const pos: string[] = [];
  const opt: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const [k, v] = a.slice(2).split('=');
      opt[k] = v ?? (argv[i + 1] && !argv[i + 1].startsWith('--') ? argv[++i] : 'true');
    } else pos.push(a);
  }
  return { cmd: pos.shift() ?? 'help', pos, opt };
}

function flowsDir(opt: Record<string, string>): string {
  return resolve(opt.dir ?? process.env.FLOWS_DIR ?? HERE);
}

// ---------------------------------------------------------------- lint

export function lint(files: string[]): { problems: FlowProblem[]; flows: LoadedFlow[] } {
  const problems: FlowProblem[] = [];
  const flows: LoadedFlow[] = [];
  for (const f of files) {
    const r = loadFlowFile(f);
    problems.push(...r.problems);
    if (r.flow && !r.problems.some((p) => p.severity === 'error')) flows.push(r.flow);
  }
  problems.push(...crossCheck(flows));
  return { problems, flows };
}

function cmdLint(pos: string[], opt: Record<string, string>): number {
  const dir = flowsDir(opt);
  const files = pos.length ? pos.map((p) => resolve(p)) : listFlowFiles(dir);
  // cross-flow references need every flow: lint the given files against the whole folder
  const all = pos.length ? [...new Set([...files, ...listFlowFiles(dir)])] : files;
  const { problems } = lint(all);
  const shown = problems.filter((p) => files.includes(p.file) || !pos.length);
  for (const p of shown) console.log(formatProblem(p));
  const errors = shown.filter((p) => p.severity === 'error').length;
  const warnings = shown.length - errors;
  console.log(`${files.length} file(s): ${errors} error(s), ${warnings} warning(s)`);
  return errors || (opt.strict && warnings) ? 1 : 0;
}

// ---------------------------------------------------------------- graph

function esc(s: string): string {
  return s.replace(/"/g, '#quot;').replace(/\n/g, ' ').slice(0, 60);
}

export function mermaid(def: FlowDef): string {
  const lines = ['flowchart TD', `  __start((start)) --> ${def.start}`];
  const specials = new Set<string>();
  const ref = (t: string) => {
    if (!t.startsWith('@')) return t;
    const id = `__${t.slice(1)}`;
    specials.add(t);
    return id;
  };
  for (const n of def.nodes) {
    switch (n.type) {
      case 'message':
        lines.push(`  ${n.id}["💬 ${esc(n.text)}"]`);
        break;
      case 'question':
        lines.push(`  ${n.id}[/"❓ ${esc(n.text)}"/]`);
        break;
      case 'condition':
        lines.push(`  ${n.id}{"${n.id}"}`);
        break;
      case 'set':
        lines.push(`  ${n.id}["set ${esc(Object.keys(n.set).join(', '))}"]`);
        break;
      case 'http':
        lines.push(`  ${n.id}[("${n.method ?? 'GET'} ${esc(n.url)}")]`);
        break;
      case 'jump':
        lines.push(`  ${n.id}>"jump ${n.flow ?? ''}${n.node ? '/' + n.node : ''}"]`);
        break;
      case 'call':
        lines.push(`  ${n.id}[["call ${n.flow}${n.node ? '/' + n.node : ''}"]]`);
        break;
      case 'end':
        lines.push(`  ${n.id}(["end${n.escalate ? ' → agent' : ''}${n.resolved ? ' ✓' : ''}"])`);
        break;
    }
  }
  for (const n of def.nodes) {
    const edge = (t: string, label?: string) => lines.push(`  ${n.id} -->${label ? `|"${esc(label)}"|` : ''} ${ref(t)}`);
    if (n.type === 'question') {
      n.choices?.forEach((c) => edge(c.next, c.title));
      if (n.next) edge(n.next, n.input ? n.input.type : undefined);
      if (n.retry?.failure) edge(n.retry.failure, 'retries exhausted');
    } else if (n.type === 'condition') {
      n.branches.forEach((b, i) => edge(b.next, `branch ${i + 1}`));
      edge(n.else, 'else');
    } else if (n.type === 'http') {
      for (const [code, t] of Object.entries(n.on ?? {})) edge(t, code);
      edge(n.success, 'success');
      if (n.failure) edge(n.failure, 'failure');
    } else {
      for (const { target } of nodeTargets(n)) edge(target);
    }
  }
  for (const s of specials) lines.push(`  __${s.slice(1)}((${s}))`);
  return lines.join('\n');
}

function cmdGraph(pos: string[], opt: Record<string, string>): number {
  const name = pos[0];
  if (!name) {
    console.error('usage: graph <flow>');
    return 2;
  }
  const file = existsSync(name) ? name : join(flowsDir(opt), `${name}.yaml`);
  const r = loadFlowFile(file);
  if (!r.flow) {
    for (const p of r.problems) console.error(formatProblem(p));
    return 1;
  }
  console.log(mermaid(r.flow.def));
  return 0;
}

// ---------------------------------------------------------------- test

async function cmdTest(pos: string[], opt: Record<string, string>): Promise<number> {
  const dir = flowsDir(opt);
  const files = pos.length
    ? pos
    : readdirSync(join(dir, 'tests'))
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()
        .map((f) => join(dir, 'tests', f));
  let failed = 0;
  let total = 0;
  for (const f of files) {
    for (const r of await runTestFile(f, dir)) {
      total++;
      console.log(`${r.ok ? '✓' : '✗'} ${f} › ${r.name}`);
      if (!r.ok) {
        failed++;
        for (const x of r.failures) console.log(`    ${x}`);
        console.log('    transcript:\n' + r.transcript.map((t) => `      ${t}`).join('\n'));
      }
    }
  }
  console.log(`${total - failed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

// ---------------------------------------------------------------- chat

function show(c: OutboundContent, channel: Channel): string {
  if (c.kind !== 'choice') return describeContent(c);
  const caps = CHANNEL_CAPABILITIES[channel];
  const fits = (max: number, titleMax: number) => c.options.length <= max && c.options.every((o) => [...o.title].length <= titleMax);
  if (fits(caps.buttons.max, caps.buttons.titleMax)) return `${c.text}\n${c.options.map((o) => `  [ ${o.title} ]`).join('\n')}`;
  if (fits(caps.list.max, caps.list.titleMax)) return `${c.text}\n  ≡ ${c.buttonLabel ?? 'Options'}:\n${c.options.map((o) => `    • ${o.title}${o.description ? ` — ${o.description}` : ''}`).join('\n')}`;
  if (fits(caps.quickReplies.max, caps.quickReplies.titleMax)) return `${c.text}\n  ${c.options.map((o) => `( ${o.title} )`).join(' ')}`;
  return `${c.text}\n${c.options.map((o, i) => `  ${i + 1}. ${o.title}`).join('\n')}`;
}

async function cmdChat(pos: string[], opt: Record<string, string>): Promise<number> {
  const { createBot } = await import('../bot/index.js');
  const channel = (opt.channel ?? 'whatsapp') as Channel;
  if (!CHANNEL_CAPABILITIES[channel]) {
    console.error('--channel must be whatsapp, instagram or email');
    return 2;
  }
  const bot = await createBot({
    flowsDir: flowsDir(opt),
    storage: { kind: 'memory' },
    orderApiUrl: opt['order-api'] ?? process.env.ORDER_API_URL,
    watch: true,
    log: (level, msg) => level !== 'debug' && level !== 'info' && console.error(`  [${level}] ${msg}`),
  });
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  let key = `chat-${Date.now()}`;
  let n = 0;
  let menu: Extract<OutboundContent, { kind: 'choice' }> | undefined;
  const turn = async (message?: { text: string; choiceId?: string }, startFlow?: string) => {
    const res = await bot.turn({
      turnId: String(n++), conversationKey: key, ticketId: 'CHAT', channel, capabilities: CHANNEL_CAPABILITIES[channel],
      message, startFlow, contact: { name: opt.name ?? null }, settings: { fallbackLimit: Number(opt.fallback ?? 2) }, now: Date.now(),
    });
    for (const r of res.replies) {
      console.log(`\x1b[36mbot>\x1b[0m ${show(r, channel).replace(/\n/g, '\n     ')}`);
      if (r.kind === 'choice') menu = r;
    }
    for (const s of res.signals) console.log(`\x1b[33m  ⚑ ${JSON.stringify(s)}\x1b[0m`);
    if (res.at) console.log(`\x1b[2m  at ${res.at.flow}/${res.at.node}\x1b[0m`);
  };
  console.log(`Chatting on ${channel} (flows: ${bot.flows().map((f) => f.name).join(', ')}). Commands: /vars /restart /quit. Tap an option with !N.`);
  if (pos[0]) await turn(undefined, pos[0]);
  const prompt = () => process.stdout.write('\x1b[32myou>\x1b[0m ');
  prompt();
  for await (const line of rl) {
    if (!process.stdin.isTTY) console.log(line);
    if (line === '/quit' || line === '/exit') break;
    if (line === '/vars') {
      console.log(JSON.stringify(await bot.inspect(key), null, 2));
      prompt();
      continue;
    }
    if (line === '/restart') {
      key = `chat-${Date.now()}`;
      menu = undefined;
      if (pos[0]) await turn(undefined, pos[0]);
      prompt();
      continue;
    }
    const tap = /^!(\d+)$/.exec(line.trim());
    if (tap && menu?.options[Number(tap[1]) - 1]) {
      const o = menu.options[Number(tap[1]) - 1];
      await turn({ text: o.title, choiceId: o.id });
    } else await turn({ text: line });
    prompt();
  }
  rl.close();
  await bot.close();
  return 0;
}

// ---------------------------------------------------------------- main

const HELP = `usage: flows <command>
  lint [files...] [--strict]      validate flows (schema, links, reachability, channel label limits)
  chat [flow] [--channel whatsapp|instagram|email] [--order-api URL] [--name NAME]
  graph <flow>                    print a Mermaid diagram
  test [files...]                 run conversation tests (default: flows/tests/*.yaml)
options: --dir DIR   flows directory (default FLOWS_DIR or ${HERE})`;

export async function main(argv: string[]): Promise<number> {
  const { cmd, pos, opt } = parseArgs(argv);
  switch (cmd) {
    case 'lint':
      return cmdLint(pos, opt);
    case 'graph':
      return cmdGraph(pos, opt);
    case 'test':
      return cmdTest(pos, opt);
    case 'chat':
      return cmdChat(pos, opt);
    default:
      console.log(HELP);
      return cmd === 'help' || cmd === '--help' ? 0 : 2;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
