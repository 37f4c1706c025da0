// GET/PUT /api/triggers (SPEC §4): any agent may read the list; only admins replace it.

import express, { type Router } from 'express';
import { requireAdmin, type Authenticator } from './auth.js';
import type { Triggers } from './triggers.js';

export function createTriggerRoutes(triggers: Triggers, auth: Authenticator): Router {
  const r = express.Router();
  r.get('/triggers', auth.middleware(), async (_req, res) => {
    res.json(await triggers.list());
  });
  r.put('/triggers', auth.middleware(), async (req, res) => {
    requireAdmin(req);
    res.json(await triggers.put(req.body));
  });
  return r;
}
