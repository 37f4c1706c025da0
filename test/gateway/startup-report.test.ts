// The startup report and GET /api/channels' rows: which channels are configured, which
// settings are missing (by env var name), and the webhook URLs for Meta's dashboard.

import { expect } from 'chai';
import { loadConfig } from '../../gateway/config.js';
import { channelReports, logStartupReport } from '../../gateway/startup-report.js';
import type { Logger } from '../../gateway/log.js';

function capture(): { log: Logger; lines: { msg: string; obj: any }[] } {
  const lines: { msg: string; obj: any }[] = [];
  const log = { info: (obj: any, msg: string) => lines.push({ obj, msg }), warn: (obj: any, msg: string) => lines.push({ obj, msg }) } as unknown as Logger;
  return { log, lines };
}

describe('startup report', () => {
  it('names the missing env vars of each channel and the local webhook URLs when nothing is configured', () => {
    const { log, lines } = capture();
    const reports = logStartupReport(log, loadConfig({ PORT: '3000' }), 3000);
    expect(reports.map((r) => [r.transport, r.configured, r.missing])).to.deep.equal([
      ['whatsapp-cloud', false, ['WHATSAPP_ACCESS_TOKEN', 'WHATSAPP_PHONE_NUMBER_ID', 'WHATSAPP_VERIFY_TOKEN']],
      ['instagram', false, ['INSTAGRAM_ACCESS_TOKEN', 'INSTAGRAM_ACCOUNT_ID', 'INSTAGRAM_VERIFY_TOKEN']],
      ['whatsapp-web', false, ['WHATSAPP_WEB']],
      ['email', false, ['IMAP_URL', 'SMTP_URL', 'SUPPORT_EMAIL']],
    ]);
    const text = lines.map((l) => l.msg).join('\n');
    expect(text).to.include('channel whatsapp-cloud: not configured, missing WHATSAPP_ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID, WHATSAPP_VERIFY_TOKEN; webhook URL for Meta\'s dashboard: http://localhost:3000/webhooks/whatsapp');
    expect(text).to.include('http://localhost:3000/webhooks/instagram');
    expect(text).to.include('WHATSAPP_WEB=1');
    expect(text).to.include('PUBLIC_URL is not set');
  });

  it('reports configured channels with their account and the PUBLIC_URL webhook URLs; an unsigned setup is flagged', () => {
    const { log, lines } = capture();
    const config = loadConfig({
      PUBLIC_URL: 'https://chat.example.com/', WHATSAPP_ACCESS_TOKEN: 't', WHATSAPP_PHONE_NUMBER_ID: '1065', WHATSAPP_VERIFY_TOKEN: 'v',
      INSTAGRAM_ACCESS_TOKEN: 'i', INSTAGRAM_ACCOUNT_ID: '1784', INSTAGRAM_VERIFY_TOKEN: 'w',
    });
    const reports = logStartupReport(log, config, 8080);
    const wa = reports.find((r) => r.transport === 'whatsapp-cloud')!;
    expect(wa).to.deep.include({ configured: true, account: '1065', missing: [], recommended: ['META_APP_SECRET'], webhookUrl: 'https://chat.example.com/webhooks/whatsapp', status: 'configured' });
    expect(reports.find((r) => r.transport === 'instagram')!.webhookUrl).to.equal('https://chat.example.com/webhooks/instagram');
    const line = lines.find((l) => l.msg.startsWith('channel whatsapp-cloud'))!.msg;
    expect(line).to.equal("channel whatsapp-cloud: configured (account 1065); webhook URL for Meta's dashboard: https://chat.example.com/webhooks/whatsapp; also set META_APP_SECRET so webhooks are signature-checked");
    expect(lines.some((l) => l.msg.includes('PUBLIC_URL is not set'))).to.equal(false);
  });

  it('whatsapp-web: a missing browser is named (CHROMIUM_PATH); the QR only while the state is qr', () => {
    const config = loadConfig({ WHATSAPP_WEB: '1', CHROMIUM_PATH: '/no/such/chromium' });
    const waiting = channelReports(config, 3000, { state: 'qr', qr: '2@abc', attempt: 0 }).find((r) => r.transport === 'whatsapp-web')!;
    expect(waiting).to.deep.include({ configured: false, missing: ['CHROMIUM_PATH'], status: 'qr', qr: '2@abc', account: 'whatsapp-web' });
    const ready = channelReports(config, 3000, { state: 'ready', qr: null, attempt: 0 }).find((r) => r.transport === 'whatsapp-web')!;
    expect(ready).to.deep.include({ status: 'ready', qr: null });
  });
});
