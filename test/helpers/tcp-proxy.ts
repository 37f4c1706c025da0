// The one TCP proxy of the tests: cut and restored to simulate a Redis restart or a dropped
// MySQL connection without touching the shared servers. Works for any TCP protocol:
// point the gateway's REDIS_URL / DATABASE_URL at `url` (same scheme, credentials and
// path as the upstream URL; host and port replaced).

import net from 'node:net';

export interface TcpProxy {
  url: string;
  port: number;
  /** Drops every open connection and refuses new ones until restore(). */
  cut(): void;
  restore(): void;
  /** Connections accepted so far (to see that a client reconnected). */
  readonly accepted: number;
  close(): Promise<void>;
}

const DEFAULT_PORTS: Record<string, number> = { 'redis:': 6379, 'rediss:': 6379, 'mysql:': 3306, 'mariadb:': 3306 };

export async function startTcpProxy(upstreamUrl: string): Promise<TcpProxy> {
  const upstream = new URL(upstreamUrl);
  const upstreamPort = Number(upstream.port || DEFAULT_PORTS[upstream.protocol] || 0);
  const sockets = new Set<net.Socket>();
  let refusing = false;
  let accepted = 0;
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const server = net.createServer((client) => {
    track(client);
    if (refusing) {
      client.destroy();
      return;
    }
    accepted++;
    const up = net.connect(upstreamPort, upstream.hostname);
    track(up);
    client.pipe(up);
    up.pipe(client);
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const url = new URL(upstreamUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    port,
    get accepted() {
      return accepted;
    },
    cut() {
      refusing = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      refusing = false;
    },
    async close() {
      refusing = true;
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
