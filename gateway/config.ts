// Every environment variable the gateway reads, in one place (SPEC §5).

import { parseDuration } from '../tickets/durations.js';
import { parseRateLimit, type RateLimit } from './http/rate-limit.js';

export interface Config {
  port: number;
  databaseUrl: string;
  redisUrl?: string;
  /** Prefix of every Redis key (several deployments or test runs may share one Redis). */
  redisPrefix: string;
  adminToken?: string;
  production: boolean;
  metaAppSecret?: string;
  whatsapp: { verifyToken?: string; accessToken?: string; phoneNumberId?: string };
  instagram: { verifyToken?: string; accessToken?: string; accountId?: string };
  graphApiUrl: string;
  graphApiVersion: string;
  whatsappWeb: boolean;
  chromiumPath: string;
  /** WHATSAPP_WEB_DIR: the whatsapp-web.js session folder (LocalAuth; RemoteAuth's working copy). */
  whatsappWebDir: string;
  /** PUBLIC_URL: how Meta and customers reach this gateway (webhook URLs, media links); unset: http://localhost:PORT. */
  publicUrl?: string;
  /** Files the gateway keeps (agent uploads, fetched media): MEDIA_DIR, MEDIA_MAX_BYTES. */
  media: { dir: string; maxBytes: number };
  email: {
    imapUrl?: string;
    smtpUrl?: string;
    supportEmail?: string;
    /** EMAIL_REPLY_TOKENS=1: Reply-To support+<ticket>@domain (mailboxes with sub-addressing only). */
    replyTokens: boolean;
    /** EMAIL_INITIAL_SYNC: first start without a checkpoint imports the mailbox (`all`) or only new mail (`new`, default). */
    initialSync: 'all' | 'new';
  };
  flowsDir: string;
  orderApiUrl?: string;
  schedulerIntervalMs: number;
  /** Largest accepted request body (webhooks and API). */
  bodyLimit: string;
  /** Unique per process; names lease holders in logs. */
  instanceId: string;
  /** API_RATE_LIMIT (default `600/min`, `off` disables): API requests per token, across all processes. */
  apiRateLimit: RateLimit | null;
  /** LEASE_TTL (default `10s`): how long singleton leases (scheduler, IMAP, whatsapp-web) outlive a dead holder. */
  leaseTtlMs: number;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const port = Number(env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number (got ${env.PORT})`);
  return {
    port,
    databaseUrl: env.DATABASE_URL || 'sqlite:./data/gateway.db',
    redisUrl: env.REDIS_URL || undefined,
    redisPrefix: env.REDIS_PREFIX || 'chatgate:',
    adminToken: env.ADMIN_TOKEN || undefined,
    production: env.NODE_ENV === 'production',
    metaAppSecret: env.META_APP_SECRET || undefined,
    whatsapp: {
      verifyToken: env.WHATSAPP_VERIFY_TOKEN || undefined,
      accessToken: env.WHATSAPP_ACCESS_TOKEN || undefined,
      phoneNumberId: env.WHATSAPP_PHONE_NUMBER_ID || undefined,
    },
    instagram: {
      verifyToken: env.INSTAGRAM_VERIFY_TOKEN || undefined,
      accessToken: env.INSTAGRAM_ACCESS_TOKEN || undefined,
      accountId: env.INSTAGRAM_ACCOUNT_ID || undefined,
    },
    graphApiUrl: (env.GRAPH_API_URL || 'https://graph.facebook.com').replace(/\/+$/, ''),
    graphApiVersion: env.GRAPH_API_VERSION || 'v23.0',
    whatsappWeb: env.WHATSAPP_WEB === '1' || env.WHATSAPP_WEB === 'true',
    chromiumPath: env.CHROMIUM_PATH || '/usr/bin/chromium',
    whatsappWebDir: env.WHATSAPP_WEB_DIR || './data/whatsapp-web',
    publicUrl: env.PUBLIC_URL?.replace(/\/+$/, '') || undefined,
    media: { dir: env.MEDIA_DIR || './data/media', maxBytes: Number(env.MEDIA_MAX_BYTES || 16 * 1024 * 1024) },
    email: {
      imapUrl: env.IMAP_URL || undefined,
      smtpUrl: env.SMTP_URL || undefined,
      supportEmail: env.SUPPORT_EMAIL?.trim().toLowerCase() || undefined,
      replyTokens: env.EMAIL_REPLY_TOKENS === '1' || env.EMAIL_REPLY_TOKENS === 'true',
      initialSync: env.EMAIL_INITIAL_SYNC === 'all' ? 'all' : 'new',
    },
    flowsDir: env.FLOWS_DIR || './flows',
    orderApiUrl: env.ORDER_API_URL || undefined,
    schedulerIntervalMs: parseDuration(env.SCHEDULER_INTERVAL || '30s'),
    bodyLimit: env.BODY_LIMIT || '1mb',
    instanceId: env.INSTANCE_ID || `${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    apiRateLimit: parseRateLimit(env.API_RATE_LIMIT ?? '600/min'),
    leaseTtlMs: parseDuration(env.LEASE_TTL || '10s'),
  };
}
