// Designer-facing views of the running bot: which flow versions are loaded, the
// problems of the last (re)load, and the inputs the bot did not understand (per flow
// and node, most frequent first) so designers can improve their flows.

import express, { type Router } from 'express';
import type { BotPort } from '../../bot/port.js';
import { requireAdmin } from '../../tickets/auth.js';
import { ApiError } from '../../tickets/errors.js';

/** Mounted at /api/flows behind the agent authentication. */
export function createFlowRoutes(bot: BotPort | null): Router {
  const r = express.Router();
  const designer = () => {
    if (!bot?.flows || !bot.problems || !bot.misunderstood || !bot.reload) throw new ApiError(404, 'not_found', 'no flow bot runs on this gateway');
    return bot as Required<BotPort>;
  };

  r.get('/', (_req, res) => {
    const b = designer();
    res.json({ flows: b.flows(), problems: b.problems() });
  });

  r.get('/misunderstood', async (req, res) => {
    const b = designer();
    const flow = typeof req.query.flow === 'string' ? req.query.flow : undefined;
    const limit = Math.min(Math.max(Number(req.query.limit) || 100, 1), 1000);
    const items = (await b.misunderstood()).filter((m) => !flow || m.flow === flow).slice(0, limit);
    res.json({ items });
  });

  // Development convenience and for deployments without file watching: reload now.
  r.post('/reload', (req, res) => {
    requireAdmin(req);
    const problems = designer().reload();
    const errors = problems.filter((p) => p.severity === 'error');
    res.status(errors.length ? 422 : 200).json({ flows: designer().flows(), problems, ...(errors.length ? { error: { code: 'invalid_flow', message: `${errors.length} problem(s); the running versions stay` } } : {}) });
  });
  return r;
}
