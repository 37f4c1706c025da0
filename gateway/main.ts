// Runs the gateway as a process: `npm start`.
import { loadConfig } from './config.js';
import { createGateway } from './server.js';

const config = loadConfig();
const gw = await createGateway(config);
const port = await gw.listen();
gw.log.info({ port, database: config.databaseUrl.replace(/\/\/[^@]*@/, '//***@'), coordination: gw.coord.kind }, 'gateway listening');
if (gw.generatedAdminToken) {
  // Printed once: only its hash is stored.
  console.log(`\n  First admin token (shown once, keep it): ${gw.generatedAdminToken}\n`);
}
console.log(`  Inbox:     http://localhost:${port}/`);
if (gw.simulator) console.log(`  Simulator: http://localhost:${port}/simulator`);
console.log(`  WhatsApp webhook: POST http://<your-host>:${port}/webhooks/whatsapp  (verify token: WHATSAPP_VERIFY_TOKEN)`);
console.log(`  Instagram webhook: POST http://<your-host>:${port}/webhooks/instagram (verify token: INSTAGRAM_VERIFY_TOKEN)\n`);

let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, async () => {
    if (stopping) process.exit(1);
    stopping = true;
    gw.log.info({ signal: sig }, 'shutting down: finishing in-flight work');
    try {
      await gw.stop();
      process.exit(0);
    } catch (err) {
      gw.log.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  });
}
