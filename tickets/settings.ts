// Settings (SPEC §4 /api/settings): defaults, validation, merge. Stored one row per key.

import type { Sql } from '../gateway/db/sql.js';
import { badRequest } from './errors.js';
import { parseDuration } from './durations.js';
import { validateBusinessHours } from './business-hours.js';
import { PRIORITIES, type Priority } from './model.js';
import { CHANNELS, type Channel } from '../adapters/types.js';

export interface SlaTarget {
  firstResponse: string;
  resolution: string;
}

export interface Settings {
  sla: Partial<Record<Priority, SlaTarget>>;
  slaWarningPercent: number;
  autoCloseAfter: string;
  idleAfter: string;
  idleCloseAfter: string;
  onHoldReturnAfter: string;
  fallbackLimit: number;
  botChannels: Channel[];
  outOfOfficeMessage: string;
  businessHours: unknown;
  [key: string]: unknown;
}

export const DEFAULT_SETTINGS: Settings = {
  sla: {
    urgent: { firstResponse: '15m', resolution: '4h' },
    high: { firstResponse: '1h', resolution: '8h' },
    medium: { firstResponse: '4h', resolution: '1d' },
    low: { firstResponse: '8h', resolution: '3d' },
  },
  slaWarningPercent: 75,
  autoCloseAfter: '4d',
  idleAfter: '1d',
  idleCloseAfter: '3d',
  onHoldReturnAfter: '1d',
  fallbackLimit: 2,
  botChannels: ['whatsapp', 'instagram'],
  outOfOfficeMessage: 'Our team is offline right now. We have your message and will answer as soon as someone is back.',
  businessHours: null,
};

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function duration(key: string, v: unknown, min = 0, max = Infinity): string {
  if (typeof v !== 'string') throw badRequest(`${key} must be a duration string like "4h"`, 'invalid_setting');
  let ms: number;
  try {
    ms = parseDuration(v);
  } catch (e) {
    throw badRequest(`${key}: ${(e as Error).message}`, 'invalid_setting');
  }
  if (ms < min || ms > max) throw badRequest(`${key} must be between ${min / HOUR}h and ${max / DAY}d`, 'invalid_setting');
  return v;
}

/** Validates one key; returns the value to store. Unknown keys are refused so typos don't pass silently. */
export const VALIDATORS: Record<string, (v: unknown) => unknown> = {
  sla(v) {
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw badRequest('sla must be an object keyed by priority', 'invalid_setting');
    const out: Record<string, SlaTarget> = {};
    for (const [p, t] of Object.entries(v as Record<string, any>)) {
      if (!PRIORITIES.includes(p as Priority)) throw badRequest(`sla: unknown priority ${p}`, 'invalid_setting');
      if (t === null) continue;
      out[p] = { firstResponse: duration(`sla.${p}.firstResponse`, t?.firstResponse), resolution: duration(`sla.${p}.resolution`, t?.resolution) };
    }
    return out;
  },
  slaWarningPercent(v) {
    if (typeof v !== 'number' || !(v > 0 && v < 100)) throw badRequest('slaWarningPercent must be a number between 1 and 99', 'invalid_setting');
    return v;
  },
  autoCloseAfter: (v) => duration('autoCloseAfter', v, HOUR, 28 * DAY),
  idleAfter: (v) => duration('idleAfter', v, 1000),
  idleCloseAfter: (v) => duration('idleCloseAfter', v, 1000),
  onHoldReturnAfter: (v) => duration('onHoldReturnAfter', v, 1000),
  fallbackLimit(v) {
    if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > 10) throw badRequest('fallbackLimit must be an integer from 1 to 10', 'invalid_setting');
    return v;
  },
  botChannels(v) {
    if (!Array.isArray(v) || v.some((c) => !CHANNELS.includes(c))) throw badRequest(`botChannels must be a list of ${CHANNELS.join(', ')}`, 'invalid_setting');
    return [...new Set(v)];
  },
  outOfOfficeMessage(v) {
    if (typeof v !== 'string' || v.length > 2000) throw badRequest('outOfOfficeMessage must be a string (≤ 2000 characters)', 'invalid_setting');
    return v;
  },
  businessHours: (v) => validateBusinessHours(v),
};

/** Other modules (routing, templates, triggers...) register the keys they own. */
export function registerSetting(key: string, validate: (v: unknown) => unknown, defaultValue: unknown): void {
  VALIDATORS[key] = validate;
  DEFAULT_SETTINGS[key] = defaultValue;
}

export class SettingsStore {
  private cache: { at: number; value: Settings } | null = null;

  constructor(private readonly sql: Sql, private readonly ttlMs = 1000) {}

  async get(): Promise<Settings> {
    const now = Date.now();
    if (this.cache && now - this.cache.at < this.ttlMs) return this.cache.value;
    // collection:* rows (templates, categories, routing rules...) have their own routes.
    const rows = await this.sql.query<{ name: string; value: string }>("SELECT name, value FROM settings WHERE name NOT LIKE 'collection:%'");
    const value: Settings = structuredClone(DEFAULT_SETTINGS);
    for (const r of rows) value[r.name] = JSON.parse(r.value);
    this.cache = { at: now, value };
    return value;
  }

  /** Merges the given keys (all validated first: nothing is written when one is bad). */
  async put(patch: unknown): Promise<Settings> {
    if (!patch || typeof patch !== 'object' || Array.isArray(patch)) throw badRequest('settings must be a JSON object');
    const entries = Object.entries(patch as Record<string, unknown>).map(([k, v]) => {
      // Own keys only: "toString" or "valueOf" must not reach Object.prototype's methods.
      const validate = Object.hasOwn(VALIDATORS, k) ? VALIDATORS[k] : undefined;
      if (!validate) throw badRequest(`unknown setting ${k}`, 'invalid_setting');
      return [k, validate(v)] as const;
    });
    const now = Date.now();
    await this.sql.tx(async (tx) => {
      for (const [k, v] of entries) {
        const json = JSON.stringify(v);
        const { affected } = await tx.execute('UPDATE settings SET value = ?, updatedAt = ? WHERE name = ?', [json, now, k]);
        if (!affected) await tx.execute('INSERT INTO settings (name, value, updatedAt) VALUES (?, ?, ?)', [k, json, now]);
      }
    });
    this.cache = null;
    return this.get();
  }

  invalidate(): void {
    this.cache = null;
  }
}

export function durationMs(settings: Settings, key: 'autoCloseAfter' | 'idleAfter' | 'idleCloseAfter' | 'onHoldReturnAfter'): number {
  return parseDuration(settings[key]);
}
