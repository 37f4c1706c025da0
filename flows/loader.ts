// Flow file loading and validation: YAML parse (with line numbers), JSON Schema
// (flow.schema.json, ajv) and graph checks (dangling targets, duplicate ids,
// unreachable nodes, invalid regexes, choice labels too long for a channel).

import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import AjvModule from 'ajv';
import { LineCounter, parseDocument, isMap, isPair, isScalar, type Document } from 'yaml';
import type { FlowDef, FlowNode, FlowProblem, Target } from './types.js';

export const SCHEMA_PATH = fileURLToPath(new URL('./flow.schema.json', import.meta.url));
const schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8'));

const Ajv = (AjvModule as any).default ?? AjvModule;
const ajv = new Ajv({ allErrors: true, discriminator: true, strict: false });
const validateSchema = ajv.compile(schema);

/** Channel limits checked by lint (WhatsApp reply buttons / list rows, Instagram quick replies). */
export const LABEL_LIMITS = { whatsappButton: 20, whatsappList: 24, instagramQuickReply: 20, whatsappButtons: 3, instagramQuickReplies: 13 } as const;

export const SPECIAL_TARGETS = new Set(['@agent', '@menu', '@end']);

export interface LoadedFlow {
  def: FlowDef;
  file: string;
  source: string;
  hash: string;
}

export interface LoadResult {
  flow?: LoadedFlow;
  problems: FlowProblem[];
}

export function hashSource(source: string): string {
  return createHash('sha256').update(source).digest('hex').slice(0, 16);
}

type Path = (string | number)[];

function pointerToPath(p: string): Path {
  if (!p) return [];
  return p
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** Line/column of the YAML node at path (or its closest existing ancestor); key=true points at a map key. */
function locate(doc: Document, lc: LineCounter, path: Path, key?: string): { line?: number; column?: number } {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as any;
    if (!node) continue;
    let range = node.range as number[] | undefined;
    if (key !== undefined && n === path.length && isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
      if (pair && (pair.key as any).range) range = (pair.key as any).range;
    }
    if (range) {
      const pos = lc.linePos(range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return {};
}

function schemaMessage(e: any): { message: string; key?: string } {
  const where = e.instancePath ? e.instancePath.replace(/^\//, '').replace(/\//g, '.') : '(top level)';
  switch (e.keyword) {
    case 'additionalProperties':
      return { message: `${where}: unknown property "${e.params.additionalProperty}"`, key: e.params.additionalProperty };
    case 'required':
      return { message: `${where}: missing required property "${e.params.missingProperty}"` };
    case 'enum':
      return { message: `${where}: must be one of ${e.params.allowedValues.map((v: unknown) => JSON.stringify(v)).join(', ')}` };
    case 'discriminator':
      return { message: `${where}: node "type" must be one of message, question, condition, set, http, jump, call, end`, key: e.params?.tag ?? 'type' };
    default:
      return { message: `${where}: ${e.message}` };
  }
}

export function nodeTargets(n: FlowNode): { field: Path; target: Target }[] {
  const out: { field: Path; target: Target }[] = [];
  const add = (field: Path, t: Target | undefined) => t !== undefined && out.push({ field, target: t });
  switch (n.type) {
    case 'message':
    case 'set':
    case 'call':
      add(['next'], n.next);
      break;
    case 'question':
      add(['next'], n.next);
      n.choices?.forEach((c, i) => add(['choices', i, 'next'], c.next));
      add(['retry', 'failure'], n.retry?.failure);
      break;
    case 'condition':
      n.branches.forEach((b, i) => add(['branches', i, 'next'], b.next));
      add(['else'], n.else);
      break;
    case 'http':
      add(['success'], n.success);
      add(['failure'], n.failure);
      for (const [k, t] of Object.entries(n.on ?? {})) add(['on', k], t);
      break;
    case 'jump':
      if (!n.flow) add(['node'], n.node);
      break;
  }
  return out;
}

/** Parses and validates one flow file's text. `file` is used in messages. */
export function parseFlow(source: string, file: string): LoadResult {
  const problems: FlowProblem[] = [];
  const lc = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lc, prettyErrors: true, uniqueKeys: true });
  const err = (message: string, path: Path = [], key?: string, severity: 'error' | 'warning' = 'error') =>
    problems.push({ file, ...locate(doc, lc, path, key), message, severity });

  if (doc.errors.length) {
    for (const e of doc.errors) {
      const pos = e.linePos?.[0];
      problems.push({ file, line: pos?.line, column: pos?.col, message: e.message.split('\n')[0], severity: 'error' });
    }
    return { problems };
  }
  const data = doc.toJS();
  if (!validateSchema(data)) {
    // the discriminator reports the real branch errors; drop the generic oneOf noise
    const errors = (validateSchema.errors ?? []).filter((e: any) => e.keyword !== 'oneOf' || (validateSchema.errors ?? []).length === 1);
    const seen = new Set<string>();
    for (const e of errors) {
      const { message, key } = schemaMessage(e);
      if (seen.has(message)) continue;
      seen.add(message);
      err(message, pointerToPath(e.instancePath), key);
    }
    return { problems };
  }
  const def = data as FlowDef;
  const expected = basename(file).replace(/\.(ya?ml|json)$/i, '');
  if (file && expected !== basename(file) && def.flow !== expected) err(`flow name "${def.flow}" must match the file name "${expected}"`, ['flow']);

  // graph checks
  const ids = new Map<string, number>();
  def.nodes.forEach((n, i) => {
    if (ids.has(n.id)) err(`duplicate node id "${n.id}" (first defined as node #${ids.get(n.id)! + 1})`, ['nodes', i, 'id']);
    else ids.set(n.id, i);
  });
  if (!ids.has(def.start)) err(`start node "${def.start}" does not exist`, ['start']);
  if (def.faq && !ids.has(def.faq.answerNode)) err(`faq.answerNode "${def.faq.answerNode}" does not exist`, ['faq', 'answerNode']);
  def.nodes.forEach((n, i) => {
    for (const { field, target } of nodeTargets(n)) {
      if (!SPECIAL_TARGETS.has(target) && !ids.has(target)) err(`node "${n.id}": target "${target}" does not exist`, ['nodes', i, ...field]);
    }
    if (n.type === 'question') {
      if (n.input && n.input.type !== 'faq' && !n.next && !n.choices) err(`node "${n.id}": typed input needs "next"`, ['nodes', i]);
      if (n.input?.type === 'faq' && !def.faq) err(`node "${n.id}": input type faq needs a "faq" block in the flow`, ['nodes', i, 'input']);
      if (n.input?.pattern) {
        try {
          new RegExp(n.input.pattern, n.input.flags);
        } catch (e) {
          err(`node "${n.id}": invalid regex: ${(e as Error).message}`, ['nodes', i, 'input', 'pattern']);
        }
      }
      const cids = new Set<string>();
      n.choices?.forEach((c, ci) => {
        if (cids.has(c.id)) err(`node "${n.id}": duplicate choice id "${c.id}"`, ['nodes', i, 'choices', ci, 'id']);
        cids.add(c.id);
      });
    }
    if (n.type === 'jump' && !n.flow && n.node && !ids.has(n.node)) err(`node "${n.id}": jump target "${n.node}" does not exist`, ['nodes', i, 'node']);
  });
  if (problems.some((p) => p.severity === 'error')) return { problems };

  // reachability (warnings)
  const reach = new Set<string>();
  const stack = [def.start, ...(def.faq ? [def.faq.answerNode] : [])];
  const byId = new Map(def.nodes.map((n) => [n.id, n]));
  while (stack.length) {
    const id = stack.pop()!;
    if (reach.has(id) || !byId.has(id)) continue;
    reach.add(id);
    const n = byId.get(id)!;
    for (const { target } of nodeTargets(n)) stack.push(target);
    if (n.type === 'jump' && !n.flow && n.node) stack.push(n.node);
  }
  def.nodes.forEach((n, i) => {
    if (!reach.has(n.id)) err(`node "${n.id}" is unreachable from start "${def.start}"`, ['nodes', i, 'id'], undefined, 'warning');
  });
  return { flow: { def, file, source, hash: hashSource(source) }, problems };
}

export function loadFlowFile(path: string): LoadResult {
  let source: string;
  try {
    source = readFileSync(path, 'utf8');
  } catch (e) {
    return { problems: [{ file: path, message: `cannot read: ${(e as Error).message}`, severity: 'error' }] };
  }
  return parseFlow(source, path);
}

export function listFlowFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/i.test(f) && !f.startsWith('.'))
    .sort()
    .map((f) => join(dir, f));
}

/** Lint-only checks over a set of valid flows: cross-flow references and channel label limits. */
export function crossCheck(flows: LoadedFlow[]): FlowProblem[] {
  const problems: FlowProblem[] = [];
  const names = new Set(flows.map((f) => f.def.flow));
  for (const f of flows) {
    const lc = new LineCounter();
    const doc = parseDocument(f.source, { lineCounter: lc });
    const warn = (message: string, path: Path, severity: 'error' | 'warning' = 'warning') =>
      problems.push({ file: f.file, ...locate(doc, lc, path), message, severity });
    f.def.nodes.forEach((n, i) => {
      if ((n.type === 'jump' || n.type === 'call') && n.flow) {
        if (!names.has(n.flow)) warn(`node "${n.id}": flow "${n.flow}" does not exist`, ['nodes', i, 'flow'], 'error');
        else if (n.node) {
          const other = flows.find((o) => o.def.flow === n.flow)!;
          if (!other.def.nodes.some((o) => o.id === n.node)) warn(`node "${n.id}": node "${n.node}" does not exist in flow "${n.flow}"`, ['nodes', i, 'node'], 'error');
        }
      }
      if (n.type === 'question' && n.choices) {
        const count = n.choices.length;
        n.choices.forEach((c, ci) => {
          const len = [...c.title].length;
          const where = ['nodes', i, 'choices', ci, 'title'];
          if (count <= LABEL_LIMITS.whatsappButtons && len > LABEL_LIMITS.whatsappButton)
            warn(`node "${n.id}": choice "${c.title}" is ${len} chars; WhatsApp reply buttons show at most ${LABEL_LIMITS.whatsappButton}`, where);
          else if (len > LABEL_LIMITS.whatsappList)
            warn(`node "${n.id}": choice "${c.title}" is ${len} chars; WhatsApp list rows show at most ${LABEL_LIMITS.whatsappList}`, where);
          if (len > LABEL_LIMITS.instagramQuickReply)
            warn(`node "${n.id}": choice "${c.title}" is ${len} chars; Instagram quick replies show at most ${LABEL_LIMITS.instagramQuickReply}`, where);
        });
      }
    });
    if (f.def.flow !== 'welcome' && !names.has('welcome')) warn('no "welcome" flow: the default answer to a first message is missing', [], 'error');
  }
  return problems;
}

export function formatProblem(p: FlowProblem): string {
  const loc = p.line ? `${p.file}:${p.line}${p.column ? ':' + p.column : ''}` : p.file;
  return `${loc}: ${p.severity}: ${p.message}`;
}
