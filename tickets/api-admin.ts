// Admin-managed resources (SPEC §4): /api/templates, /api/teams, /api/routing-rules,
// /api/categories, and PATCH /api/agents/:id. Everyone signed in may read them (the
// inbox needs templates, teams and categories to offer); only admins write.

import express, { type Request, type Router } from 'express';
import { newToken } from '../gateway/ids.js';
import type { Authenticator } from './auth.js';
import { hashToken, requireAdmin } from './auth.js';
import { getCategories, putCategories, validateCategories } from './categories.js';
import type { TicketContext } from './context.js';
import { badRequest, conflict, notFound } from './errors.js';
import { Effects } from './events.js';
import { getRoutingRules, putRoutingRules, validateRoutingRules } from './routing.js';
import { listTeams, putTeams, validateTeams } from './teams.js';
import { getTemplates, putTemplates, validateTemplates } from './templates.js';
import { parseJson } from './views.js';

export interface AdminApiDeps {
  ctx: TicketContext;
  auth: Authenticator;
  afterCommit: (fx: Effects) => void | Promise<void>;
}

export function agentView(u: any, teamIds: string[]) {
  return {
    id: u.id, name: u.name, email: u.email, role: u.role, permissions: parseJson<string[]>(u.permissions, []),
    presence: u.presence, capacity: Number(u.capacity), teamIds,
  };
}

export function createAdminApi(d: AdminApiDeps): Router {
  const { ctx, auth } = d;
  const { sql, clock } = ctx;
  const r = express.Router();

  // ---- templates ----------------------------------------------------------------------
  r.get('/templates', async (_req, res) => {
    res.json(await getTemplates(sql));
  });
  r.put('/templates', async (req, res) => {
    requireAdmin(req);
    const list = validateTemplates(req.body);
    await putTemplates(sql, list, clock.now());
    res.json(await getTemplates(sql));
  });

  // ---- categories -----------------------------------------------------------------------
  r.get('/categories', async (_req, res) => {
    res.json(await getCategories(sql));
  });
  r.put('/categories', async (req, res) => {
    requireAdmin(req);
    const list = validateCategories(req.body);
    await sql.tx(async (tx) => {
      // A rule naming a category that no longer exists would silently never match.
      const rules = await getRoutingRules(tx);
      const orphan = rules.flatMap((rule) => [rule.if.category ?? []].flat()).find((c) => !list.includes(c));
      if (orphan) throw conflict(`category ${orphan} is used by a routing rule: change the rules first`, 'category_in_use');
      await putCategories(tx, list, clock.now());
    });
    res.json(await getCategories(sql));
  });

  // ---- teams and routing rules -----------------------------------------------------------
  r.get('/teams', async (_req, res) => {
    res.json(await listTeams(sql));
  });
  r.put('/teams', async (req, res) => {
    requireAdmin(req);
    const list = validateTeams(req.body);
    let teams;
    try {
      teams = await sql.tx((tx) => putTeams(tx, list, clock.now()));
    } catch (err) {
      if (sql.isUniqueViolation(err)) throw conflict('two teams would have the same name', 'duplicate_team');
      throw err;
    }
    await offerQueue();
    res.json(teams);
  });

  r.get('/routing-rules', async (_req, res) => {
    res.json(await getRoutingRules(sql));
  });
  r.put('/routing-rules', async (req, res) => {
    requireAdmin(req);
    await sql.tx(async (tx) => putRoutingRules(tx, await validateRoutingRules(tx, req.body), clock.now()));
    res.json(await getRoutingRules(sql));
  });

  /** New members or capacity may let waiting tickets through: offer the queue again. */
  async function offerQueue(): Promise<void> {
    const fx = new Effects();
    const pending = await sql.query<{ id: string }>("SELECT id FROM tickets WHERE status = 'pending' ORDER BY createdAt LIMIT 100");
    fx.routing.push(...pending.map((p) => p.id));
    await d.afterCommit(fx);
  }

  // ---- agents ---------------------------------------------------------------------------
  r.patch('/agents/:id', async (req, res) => {
    requireAdmin(req);
    const b = req.body;
    if (!b || typeof b !== 'object' || Array.isArray(b)) throw badRequest('the request body must be a JSON object');
    const known = ['name', 'email', 'role', 'permissions', 'teamIds', 'capacity', 'rotateToken'];
    const unknown = Object.keys(b).filter((k) => !known.includes(k));
    if (unknown.length) throw badRequest(`unknown field(s): ${unknown.join(', ')} (allowed: ${known.join(', ')})`);
    const set: Record<string, unknown> = {};
    if (b.name !== undefined) {
      if (typeof b.name !== 'string' || !b.name.trim() || b.name.length > 255) throw badRequest('name must be a non-empty string');
      set.name = b.name.trim();
    }
    if (b.email !== undefined) {
      if (b.email !== null && (typeof b.email !== 'string' || !/^[^\s@]+@[^\s@]+$/.test(b.email))) throw badRequest('email must be an email address or null');
      set.email = b.email === null ? null : b.email.toLowerCase();
    }
    if (b.role !== undefined) {
      if (!['admin', 'agent'].includes(b.role)) throw badRequest('role must be admin or agent');
      set.role = b.role;
    }
    if (b.permissions !== undefined) {
      if (!Array.isArray(b.permissions) || b.permissions.some((p: unknown) => p !== 'notes')) throw badRequest('permissions may only contain "notes"');
      set.permissions = JSON.stringify([...new Set(b.permissions)]);
    }
    if (b.capacity !== undefined) {
      if (!Number.isInteger(b.capacity) || b.capacity < 0 || b.capacity > 1000) throw badRequest('capacity must be an integer from 0 to 1000');
      set.capacity = b.capacity;
    }
    if (b.teamIds !== undefined && (!Array.isArray(b.teamIds) || b.teamIds.some((x: unknown) => typeof x !== 'string'))) throw badRequest('teamIds must be a list of team ids');
    if (b.rotateToken !== undefined && typeof b.rotateToken !== 'boolean') throw badRequest('rotateToken must be true or false');
    const token = b.rotateToken ? newToken() : null;
    if (token) set.tokenHash = hashToken(token);

    const now = clock.now();
    let reoffer = false;
    try {
      reoffer = await sql.tx(async (tx) => {
        const [u] = await tx.query('SELECT * FROM users WHERE id = ?', [String(req.params.id)]);
        if (!u) throw notFound(`agent ${String(req.params.id)}`);
        if (set.role === 'agent' && u.role === 'admin') {
          const [{ n }] = await tx.query<{ n: number }>("SELECT COUNT(*) AS n FROM users WHERE role = 'admin'");
          if (Number(n) <= 1) throw conflict('this is the only admin: make someone else admin first', 'last_admin');
        }
        const keys = Object.keys(set);
        if (keys.length) {
          await tx.execute(`UPDATE users SET ${keys.map((k) => `${k} = ?`).join(', ')}, updatedAt = ? WHERE id = ?`, [...keys.map((k) => set[k] as any), now, u.id]);
        }
        if (b.teamIds !== undefined) {
          const teamIds = [...new Set(b.teamIds as string[])];
          if (teamIds.length) {
            const found = await tx.query<{ id: string }>(`SELECT id FROM teams WHERE id IN (${teamIds.map(() => '?').join(', ')})`, teamIds);
            const missing = teamIds.filter((t) => !found.some((f) => f.id === t));
            if (missing.length) throw badRequest(`unknown team(s) ${missing.join(', ')}`, 'unknown_team');
          }
          await tx.execute('DELETE FROM team_members WHERE userId = ?', [u.id]);
          for (const t of teamIds) await tx.execute('INSERT INTO team_members (teamId, userId) VALUES (?, ?)', [t, u.id]);
        }
        return (set.capacity !== undefined && Number(set.capacity) > Number(u.capacity)) || b.teamIds !== undefined;
      });
    } catch (err) {
      if (sql.isUniqueViolation(err)) throw conflict('an agent with this email already exists', 'duplicate_agent');
      throw err;
    }
    // Role, permissions or token changed: cached sessions must not outlive them.
    auth.invalidate();
    if (reoffer) await offerQueue();
    res.json(await agentResponse(req, token));
  });

  async function agentResponse(req: Request, token: string | null) {
    const [u] = await sql.query('SELECT * FROM users WHERE id = ?', [String(req.params.id)]);
    const members = await sql.query<{ teamId: string }>('SELECT teamId FROM team_members WHERE userId = ?', [String(req.params.id)]);
    return { ...agentView(u, members.map((m) => m.teamId)), ...(token ? { token } : {}) };
  }

  return r;
}
