// GET /api/channels (admins): each channel's configuration state, what is missing,
// the webhook URL for Meta's dashboard, and the whatsapp-web login QR while it waits.

import express, { type Router } from 'express';
import type { WhatsAppWebAdapter } from '../adapters/whatsapp-web/index.js';
import { whatsAppWebStatus } from '../gateway/channels.js';
import type { Config } from '../gateway/config.js';
import type { Sql } from '../gateway/db/sql.js';
import { channelReports } from '../gateway/startup-report.js';
import { requireAdmin, type Authenticator } from './auth.js';

export interface ChannelsApiDeps {
  config: Config;
  sql: Sql;
  auth: Authenticator;
  whatsappWeb: WhatsAppWebAdapter | null;
  /** The port the gateway listens on (for webhook URLs when PUBLIC_URL is unset). */
  port: () => number;
}

export function createChannelsApi(d: ChannelsApiDeps): Router {
  const r = express.Router();
  r.get('/channels', d.auth.middleware(), async (req, res) => {
    requireAdmin(req);
    const web = d.whatsappWeb ? await whatsAppWebStatus(d.whatsappWeb, d.sql) : null;
    res.json(channelReports(d.config, d.port(), web));
  });
  return r;
}
