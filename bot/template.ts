// {{variable}} templates: `{{path.to.value}}` with optional filters
// `{{name | upper}}`, `{{name | default:"friend"}}`, `{{name | prefix:" "}}`.
// Filters: upper, lower, trim, default:x, prefix:x, suffix:x, strip:chars, json.
// Templates are compiled once and cached.

type Part = string | { path: string[]; filters: { name: string; arg?: string }[] };
type Compiled = Part[];

const cache = new Map<string, Compiled>();

function parseFilters(src: string): { name: string; arg?: string }[] {
  const out: { name: string; arg?: string }[] = [];
  const re = /\|\s*([a-zA-Z]+)\s*(?::\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^|\s]+))?\s*/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(src))) {
    let arg = m[2];
    if (arg && /^["']/.test(arg)) arg = arg.slice(1, -1).replace(/\\(.)/g, '$1');
    out.push({ name: m[1], arg });
  }
  return out;
}

function compile(tpl: string): Compiled {
  let c = cache.get(tpl);
  if (c) return c;
  c = [];
  const re = /\{\{\s*([A-Za-z_][\w.]*)\s*((?:\|[^}]*)?)\}\}/g;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(tpl))) {
    if (m.index > last) c.push(tpl.slice(last, m.index));
    c.push({ path: m[1].split('.'), filters: parseFilters(m[2] ?? '') });
    last = m.index + m[0].length;
  }
  if (last < tpl.length) c.push(tpl.slice(last));
  if (cache.size > 5000) cache.clear();
  cache.set(tpl, c);
  return c;
}

export function lookup(ctx: Record<string, unknown>, path: string[] | string): unknown {
  const parts = typeof path === 'string' ? path.split('.') : path;
  let v: any = ctx;
  for (const p of parts) {
    if (v == null || typeof v !== 'object') return undefined;
    v = v[p];
  }
  return v;
}

function str(v: unknown): string {
  if (v == null) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function applyFilter(v: unknown, f: { name: string; arg?: string }): unknown {
  const s = str(v);
  switch (f.name) {
    case 'upper':
      return s.toUpperCase();
    case 'lower':
      return s.toLowerCase();
    case 'trim':
      return s.trim();
    case 'default':
      return s === '' ? (f.arg ?? '') : v;
    case 'prefix':
      return s === '' ? '' : (f.arg ?? '') + s;
    case 'suffix':
      return s === '' ? '' : s + (f.arg ?? '');
    case 'strip': {
      const chars = f.arg ?? '';
      return [...s].filter((ch) => !chars.includes(ch)).join('');
    }
    case 'json':
      return JSON.stringify(v ?? null);
    default:
      return v;
  }
}

/**
 * Renders a template. `encode` is applied to every substituted value (e.g. encodeURIComponent
 * for URLs); values under `config.` are trusted and never encoded.
 */
export function render(tpl: string, ctx: Record<string, unknown>, encode?: (s: string) => string): string {
  if (!tpl.includes('{{')) return tpl;
  let out = '';
  for (const p of compile(tpl)) {
    if (typeof p === 'string') {
      out += p;
      continue;
    }
    let v = lookup(ctx, p.path);
    for (const f of p.filters) v = applyFilter(v, f);
    const s = str(v);
    out += encode && p.path[0] !== 'config' ? encode(s) : s;
  }
  return out;
}

/** A template that is exactly one `{{expr}}` keeps the value's type (numbers, objects); otherwise a string. */
export function renderValue(v: unknown, ctx: Record<string, unknown>): unknown {
  if (typeof v === 'string') {
    const c = compile(v);
    if (c.length === 1 && typeof c[0] !== 'string' && c[0].filters.length === 0) return lookup(ctx, c[0].path);
    return render(v, ctx);
  }
  if (Array.isArray(v)) return v.map((x) => renderValue(x, ctx));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, renderValue(x, ctx)]));
  return v;
}
