// Agents and admins: bearer tokens (stored as SHA-256 hashes, shown once), roles and
// permissions. The first admin comes from ADMIN_TOKEN or a generated token printed once.

import { createHash } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Sql } from '../gateway/db/sql.js';
import { newId, newToken } from '../gateway/ids.js';
import { ApiError } from './errors.js';
import type { Actor, UserRow } from './model.js';
import { userFromRow } from './store.js';

export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

export interface AuthedUser extends UserRow {
  perms: Set<string>;
}

export function actorOf(u: AuthedUser): Actor {
  return { kind: 'agent', id: u.id, name: u.name, role: u.role };
}

export function canReadNotes(u: AuthedUser): boolean {
  return u.role === 'admin' || u.perms.has('notes');
}

/** Ensures a first admin exists. Returns the token when one was generated (to print once). */
export async function ensureFirstAdmin(sql: Sql, adminToken: string | undefined, now: number): Promise<{ generated?: string }> {
  if (adminToken) {
    const hash = hashToken(adminToken);
    const existing = await sql.query('SELECT id FROM users WHERE tokenHash = ?', [hash]);
    if (!existing.length) {
      await sql.execute(
        `${sql.insertIgnore()} INTO users (id, name, email, role, permissions, tokenHash, presence, capacity, lastSeenAt, createdAt, updatedAt) VALUES (?, 'Admin', NULL, 'admin', '["notes"]', ?, 'offline', 5, NULL, ?, ?)`,
        [newId(now), hash, now, now],
      );
    }
    return {};
  }
  const admins = await sql.query("SELECT id FROM users WHERE role = 'admin' LIMIT 1");
  if (admins.length) return {};
  const token = newToken();
  await sql.execute(
    `INSERT INTO users (id, name, email, role, permissions, tokenHash, presence, capacity, lastSeenAt, createdAt, updatedAt) VALUES (?, 'Admin', NULL, 'admin', '["notes"]', ?, 'offline', 5, NULL, ?, ?)`,
    [newId(now), hashToken(token), now, now],
  );
  return { generated: token };
}

/** A small cache so each API call doesn't cost a user lookup; presence changes invalidate it. */
export class Authenticator {
  private readonly cache = new Map<string, { at: number; user: AuthedUser | null }>();
  /** Called for every authenticated request (presence: tickets/presence.ts). */
  onSeen: ((userId: string, req: Request, res: Response) => void) | null = null;

  constructor(private readonly sql: Sql, private readonly ttlMs = 2000) {}

  async byToken(token: string): Promise<AuthedUser | null> {
    const hash = hashToken(token);
    const hit = this.cache.get(hash);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.user;
    const rows = await this.sql.query('SELECT * FROM users WHERE tokenHash = ?', [hash]);
    const user = rows[0] ? toAuthed(userFromRow(rows[0])) : null;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(hash, { at: Date.now(), user });
    return user;
  }

  invalidate(): void {
    this.cache.clear();
  }

  middleware() {
    return async (req: Request, res: Response, next: NextFunction) => {
      try {
        const header = req.headers.authorization ?? '';
        const m = /^Bearer\s+(\S+)$/i.exec(header);
        // EventSource (and a download link) cannot set headers: ?access_token= or ?token= too.
        const q = req.query.access_token ?? req.query.token;
        const token = m?.[1] ?? (typeof q === 'string' ? q : undefined);
        if (!token) throw new ApiError(401, 'unauthorized', 'missing bearer token (Authorization: Bearer <token>)');
        const user = await this.byToken(token);
        if (!user) throw new ApiError(401, 'unauthorized', 'invalid token');
        (req as any).user = user;
        this.onSeen?.(user.id, req, res);
        next();
      } catch (err) {
        next(err);
      }
    };
  }
}

export function toAuthed(u: UserRow): AuthedUser {
  let perms: string[] = [];
  try {
    perms = JSON.parse(u.permissions);
  } catch {
    /* stored value is always JSON; treat garbage as no permissions */
  }
  return Object.assign(u, { perms: new Set(perms) });
}

export function userOf(req: Request): AuthedUser {
  return (req as any).user as AuthedUser;
}

export function requireAdmin(req: Request): AuthedUser {
  const u = userOf(req);
  if (u.role !== 'admin') throw new ApiError(403, 'forbidden', 'admins only');
  return u;
}
