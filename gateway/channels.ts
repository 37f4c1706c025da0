// Which transport sends for a (channel, account): the configured platform adapters,
// plus the simulator's (account "simulator") outside production.

import type { Channel, ChannelAdapter, InboundSink } from '../adapters/types.js';
import path from 'node:path';
import { SqlCheckpointStore } from '../adapters/email/checkpoint.js';
import { SqlSessionStore, WhatsAppWebAdapter, type Timers, type WebClientFactory, type WebStatus } from '../adapters/whatsapp-web/index.js';
import type { Config } from './config.js';
import type { Coordinator } from './coordination/types.js';
import type { Sql } from './db/sql.js';
import type { Logger } from './log.js';

export class ChannelRegistry {
  private readonly byKey = new Map<string, ChannelAdapter>();
  private readonly byChannel = new Map<Channel, ChannelAdapter>();

  register(adapter: ChannelAdapter, account: string): void {
    this.byKey.set(`${adapter.channel}|${account}`, adapter);
    if (account !== SIMULATOR_ACCOUNT && !this.byChannel.has(adapter.channel)) this.byChannel.set(adapter.channel, adapter);
  }

  /** The adapter for exactly this account, else the channel's configured one (a renamed account keeps working). */
  get(channel: Channel, account: string): ChannelAdapter | undefined {
    return this.byKey.get(`${channel}|${account}`) ?? (account === SIMULATOR_ACCOUNT ? undefined : this.byChannel.get(channel));
  }

  list(): { channel: Channel; account: string; adapter: ChannelAdapter }[] {
    return [...this.byKey.entries()].map(([key, adapter]) => {
      const [channel, account] = key.split('|') as [Channel, string];
      return { channel, account, adapter };
    });
  }
}

export const SIMULATOR_ACCOUNT = 'simulator';

// ---- whatsapp-web.js (WHATSAPP_WEB=1) ---------------------------------------------------

export const WHATSAPP_WEB_ACCOUNT = 'whatsapp-web';
/** channel_state row with the session holder's status, so every process can show the QR. */
export const WHATSAPP_WEB_STATUS_KEY = 'whatsapp-web:status';

export interface WhatsAppWebDeps {
  sql: Sql;
  coord: Coordinator;
  log: Logger;
  sink: InboundSink;
  /** Tests: a fake client factory (default: whatsapp-web.js on CHROMIUM_PATH). */
  factory?: WebClientFactory;
  timers?: Timers;
  printQr?: (qr: string) => void;
}

/** Builds the whatsapp-web transport; its client starts when start() wins the `whatsapp-web` lease. */
export async function createWhatsAppWebTransport(config: Config, d: WhatsAppWebDeps): Promise<WhatsAppWebAdapter> {
  const dataDir = path.resolve(config.whatsappWebDir);
  let factory = d.factory;
  if (!factory) {
    // Loaded only when used: whatsapp-web.js pulls in puppeteer.
    const { realClientFactory } = await import('../adapters/whatsapp-web/real-client.js');
    factory = realClientFactory({
      chromiumPath: config.chromiumPath,
      dataDir,
      // Several processes (Redis): the session lives in SQL so any lease holder can restore it.
      ...(config.redisUrl ? { remoteStore: new SqlSessionStore(d.sql, dataDir) } : {}),
    });
  }
  const statusStore = new SqlCheckpointStore<WebStatus & { updatedAt: number }>(d.sql);
  const adapter: WhatsAppWebAdapter = new WhatsAppWebAdapter({
    account: WHATSAPP_WEB_ACCOUNT,
    factory,
    sink: d.sink,
    coord: d.coord,
    log: (level, msg, obj) => d.log[level](obj ?? {}, msg),
    ...(d.timers ? { timers: d.timers } : {}),
    ...(d.printQr ? { printQr: d.printQr } : {}),
    onStatus: (s) => {
      // Only the holder's view is shared; a standby process has nothing to tell.
      if (s.state === 'standby') return;
      void statusStore.set(WHATSAPP_WEB_STATUS_KEY, { ...s, updatedAt: Date.now() }).catch((err) => d.log.warn({ err }, 'whatsapp-web status not saved'));
    },
  });
  return adapter;
}

/** The session holder's status as this process knows it (its own, or the holder's saved one). */
export async function whatsAppWebStatus(adapter: WhatsAppWebAdapter, sql: Sql): Promise<WebStatus> {
  const own = adapter.status();
  if (own.state !== 'standby') return own;
  const saved = await new SqlCheckpointStore<WebStatus>(sql).get(WHATSAPP_WEB_STATUS_KEY).catch(() => undefined);
  return saved ? { ...saved, state: saved.state === 'stopped' ? 'standby' : saved.state } : own;
}
