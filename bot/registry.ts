// Flow registry: loads flows/ (validated by flows/loader.ts), compiles the runtime
// indexes once per flow version, keeps every version seen by content hash (so a
// conversation stays on the version it started with), reloads on change (watch),
// and refuses an invalid file while the running version stays.

import { existsSync, watch, type FSWatcher } from 'node:fs';
import { basename } from 'node:path';
import { listFlowFiles, loadFlowFile, formatProblem, parseFlow, type LoadedFlow } from '../flows/loader.js';
import type { StoredFlowVersion } from './flow-versions.js';
import type { ChoiceDef, FaqEntry, FlowDef, FlowNode, FlowProblem, FlowSummary, QuestionNode } from '../flows/types.js';
import { buildOptionIndex, PhraseMatcher, type OptionIndex } from './match.js';

export interface CompiledFlow {
  name: string;
  hash: string;
  file: string;
  def: FlowDef;
  nodes: Map<string, FlowNode>;
  options: Map<string, OptionIndex<ChoiceDef>>;
  regex: Map<string, RegExp>;
  faq?: PhraseMatcher<FaqEntry>;
  loadedAt: number;
}

export type Shortcut = { flow: string; faq?: FaqEntry };

export type Logger = (level: string, msg: string, obj?: object) => void;

export function compileFlow(lf: LoadedFlow, now = Date.now()): CompiledFlow {
  const def = lf.def;
  const nodes = new Map(def.nodes.map((n) => [n.id, n]));
  const options = new Map<string, OptionIndex<ChoiceDef>>();
  const regex = new Map<string, RegExp>();
  for (const n of def.nodes) {
    if (n.type !== 'question') continue;
    const q = n as QuestionNode;
    if (q.choices) options.set(q.id, buildOptionIndex(q.choices));
    if (q.input?.pattern) regex.set(q.id, new RegExp(q.input.pattern, q.input.flags));
  }
  const faq = def.faq
    ? new PhraseMatcher(def.faq.entries.flatMap((e) => [e.question, ...(e.alternatives ?? [])].map((p) => ({ phrase: p, value: e }))))
    : undefined;
  return { name: def.flow, hash: lf.hash, file: lf.file, def, nodes, options, regex, faq, loadedAt: now };
}

export class FlowRegistry {
  private current = new Map<string, CompiledFlow>();
  private versions = new Map<string, CompiledFlow>();
  private shortcuts = new PhraseMatcher<Shortcut>([]);
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  lastProblems: FlowProblem[] = [];

  constructor(
    readonly dir: string,
    private log: Logger,
    /** Told about every version the first time it is loaded (to keep it beyond this process). */
    private onVersion?: (v: StoredFlowVersion) => void,
  ) {}

  /**
   * Makes earlier versions (from the version store) available to the conversations
   * pinned to them, without making any of them current. A stored source that no
   * longer parses (schema changed since) is skipped: its conversations fall back
   * to the current version, as before.
   */
  restore(versions: StoredFlowVersion[]): void {
    for (const v of versions) {
      const key = `${v.name}@${v.hash}`;
      if (this.versions.has(key)) continue;
      const res = parseFlow(v.source, v.file);
      if (!res.flow || res.flow.hash !== v.hash) {
        this.log('warn', `stored flow version ${key} no longer loads; its conversations continue on the current version`);
        continue;
      }
      this.versions.set(key, compileFlow(res.flow));
    }
  }

  /** (Re)loads every file. Invalid files are reported and their previous version stays. */
  reload(): FlowProblem[] {
    if (!existsSync(this.dir)) throw new Error(`flows directory not found: ${this.dir}`);
    const problems: FlowProblem[] = [];
    const seen = new Set<string>();
    for (const file of listFlowFiles(this.dir)) {
      const res = loadFlowFile(file);
      problems.push(...res.problems);
      const name = basename(file).replace(/\.ya?ml$/i, '');
      seen.add(name);
      const errors = res.problems.filter((p) => p.severity === 'error');
      if (!res.flow || errors.length) {
        const kept = this.current.get(name);
        for (const p of errors) this.log('error', `flow refused: ${formatProblem(p)}${kept ? ` (keeping version ${kept.hash})` : ''}`, { file, line: p.line });
        continue;
      }
      const prev = this.current.get(name);
      if (prev?.hash === res.flow.hash) continue;
      const key = `${name}@${res.flow.hash}`;
      const known = this.versions.get(key);
      const compiled = known ?? compileFlow(res.flow);
      this.versions.set(key, compiled);
      if (!known) this.onVersion?.({ name, hash: res.flow.hash, file, source: res.flow.source });
      this.current.set(name, compiled);
      this.log('info', `flow ${prev ? 'reloaded' : 'loaded'}: ${name} (${res.flow.hash})`, { file });
    }
    for (const name of [...this.current.keys()]) {
      if (!seen.has(name)) {
        this.current.delete(name);
        this.log('warn', `flow removed: ${name} (conversations on it keep their version)`);
      }
    }
    this.rebuildShortcuts();
    this.lastProblems = problems;
    return problems;
  }

  private rebuildShortcuts(): void {
    const entries: { phrase: string; value: Shortcut }[] = [];
    for (const f of this.current.values()) {
      for (const t of f.def.triggers ?? []) entries.push({ phrase: t, value: { flow: f.name } });
      for (const e of f.def.faq?.entries ?? []) {
        for (const p of [e.question, ...(e.alternatives ?? [])]) entries.push({ phrase: p, value: { flow: f.name, faq: e } });
      }
    }
    this.shortcuts = new PhraseMatcher(entries);
  }

  matchShortcut(text: string): Shortcut | undefined {
    return this.shortcuts.match(text, 'strict')?.value;
  }

  get(name: string): CompiledFlow | undefined {
    return this.current.get(name);
  }

  /** The version a conversation started with; falls back to the current one (e.g. after a restart). */
  version(name: string, hash: string): CompiledFlow | undefined {
    return this.versions.get(`${name}@${hash}`) ?? this.current.get(name);
  }

  summaries(): FlowSummary[] {
    return [...this.current.values()].map((f) => ({
      name: f.name,
      file: f.file,
      hash: f.hash,
      description: f.def.description,
      nodes: f.def.nodes.length,
      triggers: f.def.triggers ?? [],
      loadedAt: f.loadedAt,
    }));
  }

  watch(): void {
    if (this.watcher) return;
    this.watcher = watch(this.dir, { persistent: false }, (_ev, file) => {
      if (file && !/\.ya?ml$/i.test(String(file))) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        try {
          this.reload();
        } catch (e) {
          this.log('error', `flow reload failed: ${(e as Error).message}`);
        }
      }, 100);
      this.timer.unref?.();
    });
    this.watcher.on('error', (e) => this.log('error', `flow watcher: ${e.message}`));
  }

  close(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
  }
}
