// The production client factory: whatsapp-web.js on Debian's Chromium (CHROMIUM_PATH).
// One process: LocalAuth keeps the session in a folder under ./data. Several processes:
// RemoteAuth with the session in SQL (session-store.ts), so whichever process holds the
// `whatsapp-web` lease can restore it.

import path from 'node:path';
import wwebjs from 'whatsapp-web.js';
import type { WebClient, WebClientFactory } from './client.js';
import type { SqlSessionStore } from './session-store.js';

const { Client, LocalAuth, RemoteAuth, MessageMedia } = wwebjs as unknown as typeof import('whatsapp-web.js');

export interface RealClientOptions {
  chromiumPath: string;
  /** Folder for the session (LocalAuth) or RemoteAuth's working copy. */
  dataDir: string;
  /** Set when several processes share the session (RemoteAuth). */
  remoteStore?: SqlSessionStore;
  clientId?: string;
}

export function realClientFactory(o: RealClientOptions): WebClientFactory {
  const dataPath = path.resolve(o.dataDir);
  return {
    create(): WebClient {
      const authStrategy = o.remoteStore
        ? new RemoteAuth({ store: o.remoteStore, dataPath, clientId: o.clientId ?? 'gateway', backupSyncIntervalMs: 5 * 60_000 })
        : new LocalAuth({ dataPath, clientId: o.clientId ?? 'gateway' });
      return new Client({
        authStrategy,
        puppeteer: {
          executablePath: o.chromiumPath,
          headless: true,
          // Containers usually run as root without a user namespace sandbox.
          args: ['--no-sandbox', '--disable-setuid-sandbox', '--disable-dev-shm-usage'],
        },
      }) as unknown as WebClient;
    },
    async mediaFromFile(file, mimeType, filename) {
      const media = MessageMedia.fromFilePath(file);
      media.mimetype = mimeType;
      if (filename) media.filename = filename;
      return media;
    },
  };
}
