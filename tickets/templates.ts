// WhatsApp message templates (SPEC §4.1 /api/templates): the admin mirrors what Meta
// approved. Only an `approved` template with that name and language may be sent, and
// its params must fill exactly the body's {{n}} placeholders, so what we store as the
// message text is what the customer reads.

import AjvModule from 'ajv';
import type { Sql } from '../gateway/db/sql.js';
import type { OutboundContent } from '../adapters/types.js';
import { getCollection, putCollection } from './collections.js';
import { badRequest, unprocessable } from './errors.js';

const Ajv = (AjvModule as any).default ?? AjvModule;
const ajv = new Ajv({ allErrors: true, strict: false });

export type TemplateStatus = 'approved' | 'pending' | 'rejected';

export interface Template {
  name: string;
  language: string;
  category: string;
  status: TemplateStatus;
  body: string;
}

const SCHEMA = {
  type: 'array',
  maxItems: 1000,
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'language', 'category', 'status', 'body'],
    properties: {
      // Meta's rules: lowercase letters, digits and underscores.
      name: { type: 'string', pattern: '^[a-z0-9_]{1,512}$' },
      // en, en_US, pt_BR, zh_Hant_HK ...
      language: { type: 'string', pattern: '^[a-z]{2,3}(_[A-Za-z]{2,4}){0,2}$' },
      category: { type: 'string', enum: ['MARKETING', 'UTILITY', 'AUTHENTICATION', 'marketing', 'utility', 'authentication'] },
      status: { type: 'string', enum: ['approved', 'pending', 'rejected'] },
      body: { type: 'string', minLength: 1, maxLength: 1024 },
    },
  },
};

const validateSchema = ajv.compile(SCHEMA);

/** The distinct {{n}} numbers of a body, sorted. */
export function placeholders(body: string): number[] {
  return [...new Set([...body.matchAll(/\{\{(\d+)\}\}/g)].map((m) => Number(m[1])))].sort((a, b) => a - b);
}

/** Validates a PUT /api/templates body; returns the list to store (400 on anything wrong). */
export function validateTemplates(v: unknown): Template[] {
  if (!validateSchema(v)) {
    const e = validateSchema.errors?.[0];
    throw badRequest(`templates${e?.instancePath ?? ''} ${e?.message ?? 'is invalid'}`.trim(), 'invalid_template');
  }
  const list = (v as Template[]).map((t) => ({ ...t, category: t.category.toUpperCase() }));
  const seen = new Set<string>();
  for (const t of list) {
    const key = `${t.name}|${t.language}`;
    if (seen.has(key)) throw badRequest(`template ${t.name} (${t.language}) is listed twice`, 'invalid_template');
    seen.add(key);
    if (/\{\{(?!\d+\}\})/.test(t.body)) throw badRequest(`template ${t.name}: parameters are written {{1}}, {{2}}, ...`, 'invalid_template');
    // Meta numbers parameters 1..n without gaps.
    const nums = placeholders(t.body);
    if (nums.some((n, i) => n !== i + 1)) {
      throw badRequest(`template ${t.name}: parameters must be numbered {{1}}, {{2}}, ... without gaps`, 'invalid_template');
    }
  }
  return list;
}

export const getTemplates = (sql: Sql) => getCollection<Template[]>(sql, 'templates', []);
export const putTemplates = (sql: Sql, list: Template[], now: number) => putCollection(sql, 'templates', list, now);

/**
 * The template content ready to send: checked against the approved list, params
 * counted, `body` attached (the outbox fills it, so the stored message text is what the customer sees).
 * 422 template_not_approved when unknown or not approved; 400 when params don't fit.
 */
export async function approvedTemplate(sql: Sql, c: Extract<OutboundContent, { kind: 'template' }>): Promise<Extract<OutboundContent, { kind: 'template' }>> {
  const list = await getTemplates(sql);
  const t = list.find((x) => x.name === c.name && x.language === c.language);
  if (!t || t.status !== 'approved') {
    const why = !t ? 'is not in /api/templates' : `is ${t.status}`;
    throw unprocessable('template_not_approved', `template ${c.name} (${c.language}) ${why}: only approved templates can be sent`);
  }
  const expected = placeholders(t.body).length;
  if (c.params.length !== expected) {
    throw badRequest(`template ${c.name} takes ${expected} parameter(s), ${c.params.length} given`, 'template_params');
  }
  // The raw body travels with the content; contentText (outbox.ts) fills it for the stored text.
  return { ...c, body: t.body };
}
