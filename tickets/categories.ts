// Categories (SPEC §3.1, §4 /api/categories): a managed taxonomy. Tickets may only
// carry a category from this list (or none), so reports and filters stay clean.
// A small default list ships so the product works before an admin edits it.

import type { Sql } from '../gateway/db/sql.js';
import { getCollection, putCollection } from './collections.js';
import { badRequest } from './errors.js';

export const DEFAULT_CATEGORIES = ['general', 'billing', 'shipping', 'returns', 'technical'];

export const getCategories = (sql: Sql) => getCollection<string[]>(sql, 'categories', DEFAULT_CATEGORIES);

export function validateCategories(v: unknown): string[] {
  if (!Array.isArray(v) || v.some((c) => typeof c !== 'string' || !c.trim() || c.length > 100)) {
    throw badRequest('categories must be a JSON array of non-empty strings (≤ 100 characters)', 'invalid_category');
  }
  if (v.length > 500) throw badRequest('at most 500 categories', 'invalid_category');
  const list = v.map((c: string) => c.trim());
  const dup = list.find((c, i) => list.indexOf(c) !== i);
  if (dup) throw badRequest(`category ${dup} is listed twice`, 'invalid_category');
  return list;
}

export const putCategories = (sql: Sql, list: string[], now: number) => putCollection(sql, 'categories', list, now);

/** 400 unknown_category unless `category` is null/undefined or in the taxonomy. Returns it (null for none). */
export async function requireCategory(sql: Sql, category: unknown): Promise<string | null> {
  if (category === undefined || category === null) return null;
  if (typeof category !== 'string') throw badRequest('category must be a string or null', 'unknown_category');
  const list = await getCategories(sql);
  if (!list.includes(category)) throw badRequest(`unknown category ${category}; known: ${list.join(', ') || '(none)'}`, 'unknown_category');
  return category;
}
