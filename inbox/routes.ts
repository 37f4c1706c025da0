// The inbox has no build step: the browser loads Preact, its hooks and htm (and, on
// one settings page, a QR code generator) as ES modules straight from node_modules (an
// import map in index.html names them), so only these exact files are exposed, never
// the folder.

import express, { type Router } from 'express';
import { createRequire } from 'node:module';
import { stat } from 'node:fs/promises';
import path from 'node:path';

const require = createRequire(import.meta.url);

const VENDOR: Record<string, string> = {
  'preact.mjs': require.resolve('preact'),
  'hooks.mjs': require.resolve('preact/hooks'),
  // htm's "require" condition points at its CommonJS build; the ES module sits beside it.
  'htm.mjs': path.join(path.dirname(require.resolve('htm')), 'htm.mjs'),
  // Loaded only by the channels settings page, to draw the whatsapp-web login QR.
  'qrcode.mjs': path.join(path.dirname(require.resolve('qrcode-generator')), 'qrcode.mjs'),
};

export function vendorRoutes(): Router {
  const r = express.Router();
  r.get('/vendor/:file', (req, res, next) => {
    const file = VENDOR[req.params.file];
    if (!file) return next();
    // The URL carries no version, so an upgraded package must not be served from a stale
    // cache: revalidated by ETag (a 304 costs one round trip). The app turns Express's own
    // ETags off (API responses), which sendFile follows, so this one is set here.
    stat(file).then((st) => {
      res.type('text/javascript').setHeader('Cache-Control', 'no-cache');
      res.setHeader('ETag', `W/"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`);
      res.sendFile(file, { cacheControl: false });
    }, next);
  });
  return r;
}
