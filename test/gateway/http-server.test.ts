// The HTTP server's edges: inbox files are revalidated (no-cache + ETag) so an upgrade
// never leaves a browser on stale JS, and stop() completes even when a client holds a
// request open.

import { expect } from 'chai';
import net from 'node:net';
import { startGateway, type TestGateway } from '../helpers/gateway-harness.js';

describe('HTTP server: static caching and shutdown', function () {
  this.timeout(20_000);
  let t: TestGateway;
  before(async () => {
    t = await startGateway({ backend: 'sqlite', overrides: { shutdownGraceMs: 50 } });
  });
  after(async () => t?.stop());

  for (const p of ['/', '/app.js', '/vendor/preact.mjs']) {
    it(`${p} is served with Cache-Control: no-cache and an ETag; a matching If-None-Match gets 304`, async () => {
      const first = await fetch(`${t.url}${p}`);
      expect(first.status).to.equal(200);
      expect(first.headers.get('cache-control')).to.equal('no-cache');
      const etag = first.headers.get('etag');
      expect(etag).to.be.a('string').and.not.equal('');
      await first.arrayBuffer();
      // fetch adds `Cache-Control: no-cache` to a conditional request unless one is given (which
      // disables 304s); max-age=0 is what a browser's reload sends.
      const again = await fetch(`${t.url}${p}`, { headers: { 'if-none-match': etag!, 'cache-control': 'max-age=0' } });
      expect(again.status).to.equal(304);
    });
  }

  it('stop() completes while a client keeps a request open (its body never finishes)', async () => {
    const own = await startGateway({ backend: 'sqlite', overrides: { shutdownGraceMs: 20 } });
    const port = new URL(own.url).port;
    const sock = net.connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
    // Headers parsed, body promised but never sent: the request stays in flight, so server.close() alone would wait for it.
    sock.write('POST /webhooks/whatsapp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a":');
    sock.on('error', () => undefined);
    const closedByServer = new Promise<void>((resolve) => sock.once('close', () => resolve()));
    await new Promise((r) => setImmediate(r));
    await own.stop();
    await closedByServer;
  });
});
