import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { LoupeError } from '../errors/loupe-error.js';

/** Where `vite build --config web/vite.config.ts` writes the app: web/dist of the checkout, two up from here. */
export const DEFAULT_WEB_DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web/dist');

const BUILD_COMMAND = 'npx vite build --config web/vite.config.ts';
/** Paths the single-page app never owns: unknown ones there stay 404 problems. */
const API_PREFIXES = ['/api/', '/v1/'];
/** Vite names built assets by content hash, so a cached copy can never be stale. */
const HASHED = `public, max-age=31536000, immutable`;

/**
 * The pages' Content-Security-Policy. script-src 'self': only the app's own built files run, with
 * no inline script and no eval, so an injected string can never become code (charts evaluate
 * their Vega expressions with vega-interpreter instead of compiling them: chartInterpreter).
 * frame-ancestors: no other site may frame the app (clickjacking).
 */
const PAGE_CSP = "script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'";

/**
 * Headers on every page of the app: PAGE_CSP, X-Frame-Options for browsers without
 * frame-ancestors, and Referrer-Policy because invitation links carry a code in the URL, which
 * must not leak to other sites.
 */
function pageHeaders(reply: FastifyReply): FastifyReply {
  return reply.headers({
    'cache-control': 'no-cache',
    'content-security-policy': PAGE_CSP,
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'same-origin',
  });
}

const notBuiltPage = (dist: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Loupe: web app not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; line-height: 1.5">
<h1>The Loupe web app is not built</h1>
<p>The server is running (the REST API answers under <code>/v1/</code>, docs at <a href="/docs">/docs</a>),
but it found no built app at <code>${dist}</code>.</p>
<p>In the Loupe checkout, run <code>make setup</code> (or <code>${BUILD_COMMAND}</code>), then restart
<code>loupe serve</code> and reload this page.</p>
</body></html>`;

/**
 * Serves the built single-page app from `dist`: its files as they are (hashed assets cached for a
 * year, the rest revalidated), and index.html for `/` and for any other page load (a GET accepting
 * text/html) that is not an API path or a file, so the app's own router handles deep links.
 * Without a build, pages say how to make one. Files are listed at start-up: rebuild, then restart
 * the server.
 */
export async function registerSpa(app: FastifyInstance, dist: string): Promise<void> {
  const built = existsSync(path.join(dist, 'index.html'));
  if (built)
    await app.register(fastifyStatic, {
      root: dist,
      wildcard: false,
      index: false,
      cacheControl: false,
      setHeaders: (reply, file) => {
        const inAssets = path.relative(dist, file).startsWith(`assets${path.sep}`);
        void reply.header('cache-control', inAssets ? HASHED : 'no-cache');
        void reply.header('x-content-type-options', 'nosniff');
      },
    });
  app.get('/*', { schema: { hide: true } }, async (request, reply) => {
    const url = request.url.split('?')[0]!;
    // Deep links are page loads (browsers ask for text/html); an API client's typo (`*/*`, JSON)
    // still hears 404 rather than getting a page back.
    const page = url === '/' || (request.headers.accept ?? '').includes('text/html');
    if (!page || API_PREFIXES.some((p) => url.startsWith(p)) || path.posix.extname(url))
      throw new LoupeError('NOT_FOUND', `no route GET ${url}`);
    if (!built) return pageHeaders(reply).code(503).type('text/html; charset=utf-8').send(notBuiltPage(dist));
    return pageHeaders(reply).sendFile('index.html');
  });
}
