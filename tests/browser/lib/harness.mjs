// Shared bits of the browser tests: Chromium launch flags, a static file server, small helpers.
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** Base flags of /work/shared/notes/browser-client.md §2, plus loopback ICE and a 30 fps fake camera. */
export const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream=fps=30',
  '--allow-loopback-in-peer-connection',
];

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.md': 'text/markdown; charset=utf-8',
  '.wasm': 'application/wasm',
  '.ts': 'text/plain; charset=utf-8',
};

/**
 * A static server on 127.0.0.1 (ephemeral port). `mounts` maps a URL prefix ('/web/') to a
 * directory; `pages` maps exact paths to [mime, body] served from memory, or to a handler
 * `(method, body) => [status, mime, body]`.
 */
export function staticServer(mounts, pages = {}) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const p = decodeURIComponent(url.pathname);
    if (typeof pages[p] === 'function') {
      // A handler: (method, request body) -> [status, mime, body] (or a promise of it).
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', async () => {
        let out;
        try {
          out = await pages[p](req.method, Buffer.concat(chunks).toString('utf8'));
        } catch (e) {
          out = [500, 'text/plain', String(e)];
        }
        const [status, mime, body] = out;
        res.writeHead(status, { 'content-type': mime, 'cache-control': 'no-store' });
        res.end(body);
      });
      return;
    }
    if (pages[p]) {
      const [mime, body] = pages[p];
      res.writeHead(200, { 'content-type': mime, 'cache-control': 'no-store' });
      res.end(body);
      return;
    }
    for (const [prefix, dir] of Object.entries(mounts)) {
      if (!p.startsWith(prefix)) continue;
      const file = path.resolve(dir, p.slice(prefix.length));
      if (!file.startsWith(path.resolve(dir) + path.sep)) break;
      fs.readFile(file, (err, data) => {
        if (err) {
          res.writeHead(404);
          res.end('not found');
          return;
        }
        res.writeHead(200, { 'content-type': MIME[path.extname(file)] || 'application/octet-stream', 'cache-control': 'no-store' });
        res.end(data);
      });
      return;
    }
    res.writeHead(404);
    res.end('not found');
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({ server, base: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

/** A Chromium with a fresh profile directory; close() also removes the directory. */
export async function launch(extraArgs = []) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'telesfu-chromium-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...FLAGS, ...extraArgs],
    viewport: { width: 1280, height: 800 },
  });
  const close = async () => {
    await ctx.close().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { ctx, close };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
