// What each channel needs and whether it has it: logged once at start (with the webhook
// URLs to paste into Meta's dashboard) and served by GET /api/channels for the inbox
// settings page. One table of requirements, read from the same Config the adapters use.

import fs from 'node:fs';
import type { Channel } from '../adapters/types.js';
import type { WebStatus } from '../adapters/whatsapp-web/index.js';
import type { Config } from './config.js';
import type { Logger } from './log.js';

export interface ChannelReport {
  channel: Channel;
  /** Which integration: Meta's Cloud API, Instagram messaging, whatsapp-web.js, IMAP/SMTP. */
  transport: 'whatsapp-cloud' | 'instagram' | 'whatsapp-web' | 'email';
  /** The business account conversations are filed under (null until configured). */
  account: string | null;
  configured: boolean;
  /** Environment variables still to set (or, for CHROMIUM_PATH, pointing at nothing). */
  missing: string[];
  /** Settings that work without but should be set (signature checks...). */
  recommended: string[];
  /** Where the platform must send notifications (Meta's dashboard → Webhooks), null when none. */
  webhookUrl: string | null;
  /** not_configured | configured | the whatsapp-web session state (standby, starting, qr, ready, reconnecting). */
  status: string;
  /** whatsapp-web only: the raw login QR string while waiting for the phone to scan it. */
  qr: string | null;
}

export function baseUrl(config: Config, port: number): string {
  return config.publicUrl ?? `http://localhost:${port}`;
}

const unset = (pairs: [string, unknown][]) => pairs.filter(([, v]) => !v).map(([k]) => k);

export function channelReports(config: Config, port: number, whatsappWeb?: WebStatus | null): ChannelReport[] {
  const base = baseUrl(config, port);
  const meta = config.metaAppSecret ? [] : ['META_APP_SECRET'];
  const wa = unset([['WHATSAPP_ACCESS_TOKEN', config.whatsapp.accessToken], ['WHATSAPP_PHONE_NUMBER_ID', config.whatsapp.phoneNumberId], ['WHATSAPP_VERIFY_TOKEN', config.whatsapp.verifyToken]]);
  const ig = unset([['INSTAGRAM_ACCESS_TOKEN', config.instagram.accessToken], ['INSTAGRAM_ACCOUNT_ID', config.instagram.accountId], ['INSTAGRAM_VERIFY_TOKEN', config.instagram.verifyToken]]);
  const mail = unset([['IMAP_URL', config.email.imapUrl], ['SMTP_URL', config.email.smtpUrl], ['SUPPORT_EMAIL', config.email.supportEmail]]);
  const web = config.whatsappWeb ? (fs.existsSync(config.chromiumPath) ? [] : ['CHROMIUM_PATH']) : ['WHATSAPP_WEB'];
  const simple = (missing: string[]) => (missing.length ? 'not_configured' : 'configured');
  return [
    {
      channel: 'whatsapp', transport: 'whatsapp-cloud', account: config.whatsapp.phoneNumberId ?? null,
      configured: wa.length === 0, missing: wa, recommended: meta, webhookUrl: `${base}/webhooks/whatsapp`, status: simple(wa), qr: null,
    },
    {
      channel: 'instagram', transport: 'instagram', account: config.instagram.accountId ?? null,
      configured: ig.length === 0, missing: ig, recommended: meta, webhookUrl: `${base}/webhooks/instagram`, status: simple(ig), qr: null,
    },
    {
      channel: 'whatsapp', transport: 'whatsapp-web', account: config.whatsappWeb ? 'whatsapp-web' : null,
      configured: config.whatsappWeb && web.length === 0, missing: web, recommended: [], webhookUrl: null,
      status: config.whatsappWeb ? (whatsappWeb?.state ?? 'starting') : 'not_configured',
      qr: whatsappWeb?.state === 'qr' ? whatsappWeb.qr : null,
    },
    {
      channel: 'email', transport: 'email', account: config.email.supportEmail ?? null,
      configured: mail.length === 0, missing: mail, recommended: [], webhookUrl: null, status: simple(mail), qr: null,
    },
  ];
}

/** Logs one line per channel: configured or what is missing, and the webhook URL for Meta. */
export function logStartupReport(log: Logger, config: Config, port: number): ChannelReport[] {
  const reports = channelReports(config, port, null);
  for (const r of reports) {
    const name = r.transport;
    const where = r.webhookUrl ? `; webhook URL for Meta's dashboard: ${r.webhookUrl}` : '';
    if (r.configured) {
      log.info({ channel: r.channel, transport: name, account: r.account, webhookUrl: r.webhookUrl, recommended: r.recommended }, `channel ${name}: configured (account ${r.account})${where}${r.recommended.length ? `; also set ${r.recommended.join(', ')} so webhooks are signature-checked` : ''}`);
    } else if (name === 'whatsapp-web' && !config.whatsappWeb) {
      log.info({ channel: r.channel, transport: name }, 'channel whatsapp-web: off (set WHATSAPP_WEB=1 to log in with a phone by QR code)');
    } else {
      log.info({ channel: r.channel, transport: name, missing: r.missing, webhookUrl: r.webhookUrl }, `channel ${name}: not configured, missing ${r.missing.join(', ')}${where}`);
    }
  }
  if (!config.publicUrl) log.info({}, `PUBLIC_URL is not set: webhook URLs above use ${baseUrl(config, port)}; Meta needs a public https URL (set PUBLIC_URL)`);
  return reports;
}
