// The composition root: builds every part from the configuration and wires them.
// main.ts runs it as a process; tests build it in-process with overrides.

import express, { type NextFunction, type Request, type Response } from 'express';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { SimulatorAdapter, SimulatorHub, type SimulatorEntry } from '../adapters/simulator/simulator.js';
import { createWhatsAppCloudAdapter, whatsAppCloudCapabilities } from '../adapters/whatsapp-cloud/index.js';
import { createInstagramAdapter, instagramCapabilities } from '../adapters/instagram/index.js';
import type { ChannelAdapter } from '../adapters/types.js';
import { EMAIL_CAPABILITIES } from '../adapters/email/capabilities.js';
import { createBot, SqlFlowVersionStore } from '../bot/index.js';
import type { BotPort } from '../bot/port.js';
import { Authenticator, ensureFirstAdmin } from '../tickets/auth.js';
import { createApi } from '../tickets/api.js';
import { vendorRoutes } from '../inbox/routes.js';
import type { TicketContext } from '../tickets/context.js';
import { ApiError } from '../tickets/errors.js';
import type { Effects } from '../tickets/events.js';
import { offerPending } from '../tickets/routing.js';
import { SettingsStore } from '../tickets/settings.js';
import { createSlaScan } from '../tickets/sla-scan.js';
import { createReportRoutes } from '../tickets/reports.js';
import { Automations } from '../tickets/automations.js';
import { PresenceExpiry, PresenceTracker } from '../tickets/presence.js';
import { Triggers } from '../tickets/triggers.js';
import { createTriggerRoutes } from '../tickets/api-triggers.js';
import { ChannelRegistry, SIMULATOR_ACCOUNT, createWhatsAppWebTransport } from './channels.js';
import type { Timers, WebClientFactory, WhatsAppWebAdapter } from '../adapters/whatsapp-web/index.js';
import { createChannelsApi } from '../tickets/api-channels.js';
import { createMediaRoutes } from './media/routes.js';
import { MediaStore } from './media/store.js';
import { logStartupReport } from './startup-report.js';
import { createEmailChannel, type EmailChannel } from './email-channel.js';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config.js';
import { createCoordinator } from './coordination/index.js';
import type { Coordinator, Lease } from './coordination/types.js';
import { openDatabase, type Database } from './db/open.js';
import { indexNewRows } from './db/search-index.js';
import { EventHub } from './http/events.js';
import { createFlowRoutes } from './http/flows.js';
import { createSimulatorRoutes } from './http/simulator.js';
import { createWebhooks } from './http/webhooks.js';
import { createRateLimit } from './http/rate-limit.js';
import { InboundPipeline } from './inbound.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { Dispatcher } from './outbound/dispatcher.js';
import { Outbox } from './outbound/outbox.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SIMULATOR_TOPIC = 'simulator';


export interface GatewayOverrides {
  clock?: Clock;
  log?: Logger;
  /** A bot to use instead of the flow bot (null: no bot). */
  bot?: BotPort | null;
  coordinator?: Coordinator;
  /** Extra or replacement channel adapters: [adapter, account]. */
  adapters?: [ChannelAdapter, string][];
  /** whatsapp-web.js (WHATSAPP_WEB=1) with a fake client factory / timers (tests). */
  whatsappWeb?: { factory: WebClientFactory; timers?: Timers; printQr?: (qr: string) => void };
  /** How long stop() lets requests in flight finish before closing their connections (default 2 s). */
  shutdownGraceMs?: number;
}

/** Time-based work run by the process holding the scheduler lease (automations, SLA). */
export interface ScheduledJob {
  name: string;
  run(now: number): Promise<void>;
}

export interface Gateway {
  config: Config;
  app: express.Express;
  db: Database;
  coord: Coordinator;
  pipeline: InboundPipeline;
  dispatcher: Dispatcher;
  ctx: TicketContext;
  simulator: SimulatorHub | null;
  metrics: Metrics;
  log: Logger;
  bot: BotPort | null;
  /** The email channel (IMAP_URL, SMTP_URL, SUPPORT_EMAIL), null when not configured. */
  email: EmailChannel | null;
  /** The whatsapp-web.js transport when WHATSAPP_WEB=1. */
  whatsappWeb: WhatsAppWebAdapter | null;
  /** Stored files (agent uploads, fetched media). */
  media: MediaStore;
  /** Set when the first admin's token was generated on this start. */
  generatedAdminToken?: string;
  listen(port?: number): Promise<number>;
  /** Scheduled jobs; features add theirs when the gateway is composed. */
  jobs: ScheduledJob[];
  /** Runs the background work once (recovery, outbox sweep, scheduled jobs): the scheduler's tick. */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

export async function createGateway(config: Config, o: GatewayOverrides = {}): Promise<Gateway> {
  const log = o.log ?? createLogger();
  const clock = o.clock ?? systemClock;
  const metrics = createMetrics();
  const db = await openDatabase(config.databaseUrl, { warn: (msg) => log.warn({}, msg) });
  const coord = o.coordinator ?? (await createCoordinator({ redisUrl: config.redisUrl, prefix: config.redisPrefix, log: (level, msg, obj) => (log as any)[level]?.(obj ?? {}, msg) }));
  const sql = db.sql;
  const settings = new SettingsStore(sql);

  // ---- channels ------------------------------------------------------------------
  const channels = new ChannelRegistry();
  const graph = { graphUrl: config.graphApiUrl, graphVersion: config.graphApiVersion };
  if (config.whatsapp.accessToken && config.whatsapp.phoneNumberId) {
    channels.register(createWhatsAppCloudAdapter({ ...graph, accessToken: config.whatsapp.accessToken, phoneNumberId: config.whatsapp.phoneNumberId }), config.whatsapp.phoneNumberId);
  }
  if (config.instagram.accessToken && config.instagram.accountId) {
    channels.register(createInstagramAdapter({ ...graph, accessToken: config.instagram.accessToken, accountId: config.instagram.accountId }), config.instagram.accountId);
  }
  let simulator: SimulatorHub | null = null;
  const publishSim = async (e: SimulatorEntry) => coord.publish(SIMULATOR_TOPIC, JSON.stringify(e));
  if (!config.production) {
    simulator = new SimulatorHub();
    const caps = { whatsapp: whatsAppCloudCapabilities, instagram: instagramCapabilities, email: EMAIL_CAPABILITIES } as const;
    for (const ch of ['whatsapp', 'instagram', 'email'] as const) channels.register(new SimulatorAdapter(ch, caps[ch], publishSim, () => clock.now()), SIMULATOR_ACCOUNT);
  }
  for (const [adapter, account] of o.adapters ?? []) channels.register(adapter, account);
  // whatsapp-web.js: registered now, its client starts in listen() in the process holding the session lease.
  const whatsappWeb = config.whatsappWeb
    ? await createWhatsAppWebTransport(config, { sql, coord, log, sink: { accept: (b) => pipeline.accept(b) }, ...(o.whatsappWeb ?? {}) })
    : null;
  if (whatsappWeb) channels.register(whatsappWeb, whatsappWeb.account);

  // ---- tickets, events, pipelines ---------------------------------------------------
  const hub = new EventHub(coord, { warn: (obj, msg) => log.warn(obj, msg), sql, clock });
  const outbox = new Outbox(channels, clock, settings);
  const ctx: TicketContext = { sql, clock, settings, outbound: outbox, events: hub, log };
  const dispatcher = new Dispatcher(sql, channels, clock, log, metrics, (events) => hub.publish(events));
  const media = new MediaStore(sql, config.media.dir, config.media.maxBytes);
  dispatcher.mediaPath = async (id) => {
    const a = await media.get(id);
    return a ? media.pathOf(a.storageKey) : null;
  };
  const bot: BotPort | null = o.bot !== undefined
    ? o.bot
    : await createBot({
        flowsDir: path.resolve(config.flowsDir),
        storage: config.redisUrl ? { kind: 'redis', url: config.redisUrl, prefix: `${config.redisPrefix}bot:` } : { kind: 'sql', sql },
        orderApiUrl: config.orderApiUrl,
        versions: new SqlFlowVersionStore(sql),
        watch: !config.production,
        log: (level, msg, obj) => (log as any)[level]?.(obj ?? {}, msg),
      });

  ctx.botEnabled = !!bot;
  const triggers = new Triggers(ctx);

  let pipeline: InboundPipeline;
  /** Resolves once the triggers the change called for have run (the API waits for them; others needn't). */
  const afterCommit = (fx: Effects): Promise<void> => {
    hub.publish(fx.events);
    if (fx.outbox.length) dispatcher.dispatch(fx.outbox);
    for (const s of fx.botStarts) void pipeline.startFlow(s.ticketId, s.flow).catch((err) => log.error({ err, ticket: s.ticketId }, 'starting a flow failed'));
    for (const e of fx.events) {
      // A closed ticket's conversation is over; a handback without a flow starts the bot afresh.
      const closed = e.type === 'ticket.updated' && e.data?.status === 'closed';
      const freshHandback = e.type === 'ticket.updated' && e.data?.cause === 'handback' && !e.data?.flow;
      if (closed || freshHandback) void bot?.end(e.ticketId).catch(() => undefined);
    }
    if (fx.routing.length) void offerPending(ctx, fx.routing, afterCommit).catch((err) => log.error({ err }, 'routing failed'));
    return triggers.afterCommit(fx, afterCommit);
  };
  pipeline = new InboundPipeline({ sql, coord, ctx, bot, log, metrics, afterCommit });
  const email = await createEmailChannel({ config, sql, coord, channels, sink: pipeline, clock, log });

  const auth = new Authenticator(sql);
  const presence = new PresenceTracker(sql, clock, log);
  auth.onSeen = (userId, req, res) => presence.seen(userId, req, res);
  const admin = await ensureFirstAdmin(sql, config.adminToken, clock.now());

  // ---- HTTP -----------------------------------------------------------------------
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.get('/healthz', async (_req, res) => {
    try {
      await Promise.all([db.ping(), coord.ping()]);
      res.json({ status: 'ok' });
    } catch (err) {
      res.status(503).json({ status: 'unavailable', error: { code: 'unavailable', message: (err as Error).message } });
    }
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.use(createWebhooks(config, pipeline, log, metrics));
  app.use('/api', createRateLimit(config.apiRateLimit, coord, log));
  app.use('/api', express.json({ limit: config.bodyLimit }));
  app.use('/api', hub.router(auth));
  app.use('/api/flows', auth.middleware(), createFlowRoutes(bot));
  const mediaRoutes = createMediaRoutes({ ctx, auth, store: media, channels, config, afterCommit });
  app.use('/api', mediaRoutes.api); // multipart replies with files, before the JSON route
  app.use(mediaRoutes.public);
  app.use('/api', createChannelsApi({ config, sql, auth, whatsappWeb, port: () => listeningPort }));
  app.use('/api', createApi({ ctx, auth, afterCommit }));
  app.use('/api', createTriggerRoutes(triggers, auth));
  app.use('/api', createReportRoutes(ctx, auth));
  if (simulator) {
    const sim = simulator;
    await coord.subscribe(SIMULATOR_TOPIC, (msg) => sim.record(JSON.parse(msg)));
    app.use('/simulator/api', createSimulatorRoutes(sim, pipeline, clock, publishSim));
    app.get('/simulator', (_req, res) => res.sendFile(path.join(ROOT, 'inbox', 'simulator.html')));
  }
  app.use(vendorRoutes());
  // Revalidated on every load (ETag, 304): after an upgrade the browser never runs stale JS.
  app.use('/', express.static(path.join(ROOT, 'inbox', 'static'), { index: 'index.html', cacheControl: false, etag: true, setHeaders: (res) => res.setHeader('Cache-Control', 'no-cache') }));
  app.use('/api', (_req, _res, next) => next(new ApiError(404, 'not_found', 'no such route')));
  app.use((err: any, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof ApiError) {
      res.status(err.status).json({ error: { code: err.code, message: err.message, ...(err.details ?? {}) } });
      return;
    }
    if (err?.type === 'entity.parse.failed') {
      // express.json is strict: valid JSON that is a bare string or number is refused too, and says so.
      let bare = false;
      try {
        JSON.parse(String(err.body ?? ''));
        bare = true;
      } catch {}
      res.status(400).json({ error: bare
        ? { code: 'bad_request', message: 'the body must be a JSON object or array' }
        : { code: 'malformed_json', message: 'the body is not valid JSON' } });
      return;
    }
    if (err?.type === 'entity.too.large' || err?.status === 413) {
      res.status(413).json({ error: { code: 'body_too_large', message: `the body is larger than ${config.bodyLimit}` } });
      return;
    }
    if (err?.status >= 400 && err?.status < 500) {
      res.status(err.status).json({ error: { code: 'bad_request', message: err.message } });
      return;
    }
    log.error({ err }, 'request failed');
    res.status(500).json({ error: { code: 'internal', message: 'internal error' } });
  });

  // ---- background work ------------------------------------------------------------
  let server: http.Server | null = null;
  let listeningPort = config.port;
  let timer: NodeJS.Timeout | null = null;
  let unsubscribe: (() => Promise<void>) | null = null;
  let lease: Lease | null = null;
  let leader = false;
  const jobs: ScheduledJob[] = [new Automations(ctx, afterCommit).job(), new PresenceExpiry(ctx, afterCommit, presence).job(), createSlaScan(ctx, afterCommit)];
  jobs.push(...hub.jobs); // outgoing webhook retries (gateway/http/event-webhooks.ts)
  let jobsRunning = false;
  let jobsRanAt = 0;
  /** Recovery and the outbox sweep always; the scheduled jobs unless `jobs` is false (the fast timer between scheduler runs). */
  const tick = async (opts: { jobs?: boolean } = {}) => {
    await pipeline.recover();
    if (!(leader || coord.kind === 'memory')) return;
    await dispatcher.sweep();
    await indexNewRows(db.sql).catch((err) => log.error({ err }, 'search indexing failed')); // every fast tick: few rows for q's LIKE tail
    if (opts.jobs === false || jobsRunning) return;
    jobsRunning = true;
    try {
      for (const job of jobs) {
        // One failing job must not stop the others (or the next tick).
        await job.run(clock.now()).catch((err) => log.error({ err, job: job.name }, 'scheduled job failed'));
      }
    } finally {
      jobsRunning = false;
    }
  };

  const gw: Gateway = {
    config, app, db, coord, pipeline, dispatcher, ctx, simulator, metrics, log, bot, email,
    whatsappWeb, media,
    generatedAdminToken: admin.generated,
    jobs,
    async listen(port = config.port) {
      unsubscribe = await hub.start();
      server = http.createServer(app);
      server.keepAliveTimeout = 65_000;
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(port, resolve);
      });
      lease = coord.lease('scheduler', { ttlMs: config.leaseTtlMs, onAcquired: () => (leader = true), onLost: () => (leader = false) });
      // Work left by a previous run (crash between ack and processing) is picked up now.
      void pipeline.recover(0).catch((err) => log.error({ err }, 'recovery failed'));
      // The outbox sweep and recovery run often; the scheduled jobs every SCHEDULER_INTERVAL.
      const interval = Math.min(config.schedulerIntervalMs, 5000);
      timer = setInterval(() => {
        const due = Date.now() - jobsRanAt >= config.schedulerIntervalMs;
        if (due) jobsRanAt = Date.now();
        void tick({ jobs: due }).catch((err) => log.error({ err }, 'background tick failed'));
      }, interval);
      timer.unref();
      presence.start();
      email?.start(); // the process holding the mailbox lease watches it
      listeningPort = (server.address() as AddressInfo).port;
      logStartupReport(log, config, listeningPort);
      await whatsappWeb?.start();
      return listeningPort;
    },
    tick,
    async stop() {
      if (timer) clearInterval(timer);
      presence.stop();
      hub.closeAll();
      if (server) {
        // close() resolves only when every connection is gone, and a client that stops reading
        // (or never finishes its request body) keeps its socket open: requests in flight get a
        // short grace, then the remaining connections are cut so stop() always completes.
        const s = server;
        const closed = new Promise<void>((resolve) => s.close(() => resolve()));
        s.closeIdleConnections();
        const grace = setTimeout(() => s.closeAllConnections(), o.shutdownGraceMs ?? 2000);
        grace.unref();
        await closed;
        clearTimeout(grace);
      }
      await whatsappWeb?.stop();
      await pipeline.drain();
      await dispatcher.drain();
      await email?.stop(); // after the sends in flight (it closes SMTP); a mail accepted meanwhile is recovered on the next start
      await lease?.release().catch(() => undefined);
      await unsubscribe?.().catch(() => undefined);
      await bot?.close?.();
      if (!o.coordinator) await coord.close();
      await db.close();
    },
  };
  return gw;
}
