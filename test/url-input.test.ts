import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { isLoupeError, type ErrorCode, type LoupeError } from '../src/errors/loupe-error.js';
import { classifyIp, formatIp, parseIp, type AddressKind } from '../src/serve/url-address.js';
import { DEFAULT_URL_POLICY, fetchImageUrl, type UrlPolicy } from '../src/serve/url-input.js';
import { compileUrlPolicy, type Resolver } from '../src/serve/url-policy.js';

const DOG = '/usr/share/darknet/data/dog.jpg';

/** The real photo when Debian's darknet package is there, else a JPEG made by sharp. */
async function photo(): Promise<Buffer> {
  if (existsSync(DOG)) return readFile(DOG);
  return sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 40, g: 120, b: 200 } } })
    .jpeg()
    .toBuffer();
}

type Handler = (req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams) => void;

interface TestServer {
  base: string;
  port: number;
  /** Every TCP connection accepted, whether or not a request followed. */
  connections: number;
  paths: string[];
  hosts: string[];
  close(): Promise<void>;
}

async function startServer(host: string, handler: Handler): Promise<TestServer> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    s.paths.push(url.pathname);
    s.hosts.push(req.headers.host ?? '');
    handler(req, res, url.pathname, url.searchParams);
  });
  server.on('connection', () => s.connections++);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  const s: TestServer = {
    base: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    connections: 0,
    paths: [],
    hosts: [],
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
  return s;
}

async function expectError(p: Promise<unknown>, code: ErrorCode, message: RegExp): Promise<LoupeError> {
  let caught: unknown;
  await assert.rejects(p, (e: unknown) => {
    caught = e;
    return true;
  });
  assert.ok(isLoupeError(caught), `expected a LoupeError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.match(caught.message, message);
  return caught;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const policy = (p: Partial<UrlPolicy> = {}): UrlPolicy => ({ ...DEFAULT_URL_POLICY, timeoutMs: 5000, ...p });
const LOCAL = policy({ allow: ['127.0.0.1/32'] });

describe('address classification', () => {
  const cases: Array<[string, AddressKind | undefined]> = [
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.0.1', 'private'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['169.254.169.254', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    // IPv6 forms that reach an IPv4 address are judged by it.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:a9fe:a9fe', 'metadata'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['2002:a00:1::', 'private'],
    ['::7f00:1', 'reserved'],
    // Neighbours of the ranges, and ordinary public addresses.
    ['172.32.0.1', undefined],
    ['100.128.0.1', undefined],
    ['11.0.0.1', undefined],
    ['8.8.8.8', undefined],
    ['64:ff9b::808:808', undefined],
    ['2606:4700:4700::1111', undefined],
  ];
  for (const [address, kind] of cases) {
    test(`${address} is ${kind ?? 'public'}`, () => {
      const bytes = parseIp(address);
      assert.ok(bytes, `parses ${address}`);
      assert.equal(classifyIp(bytes), kind);
    });
  }

  test('parseIp and formatIp agree with the canonical forms', () => {
    assert.equal(formatIp(parseIp('::ffff:127.0.0.1')!), '::ffff:7f00:1');
    assert.equal(formatIp(parseIp('0:0:0:0:0:0:0:1')!), '::1');
    assert.equal(formatIp(parseIp('[fe80::1%eth0]')!), 'fe80::1');
    assert.equal(formatIp(parseIp('2001:db8:0:0:1:0:0:1')!), '2001:db8::1:0:0:1');
    assert.equal(parseIp('example.com'), undefined);
    assert.equal(parseIp('0x7f.1'), undefined);
  });
});

describe('url policy', () => {
  test('allow entries: CIDRs (also matching IPv4-mapped IPv6) and exact hostnames', () => {
    const guard = compileUrlPolicy(policy({ allow: ['10.0.0.0/8', 'Images.Internal', 'fd00::/8'] }));
    assert.equal(guard.check('10.9.8.7', '10.9.8.7'), undefined);
    assert.equal(guard.check('::ffff:a09:807', '::ffff:a09:807'), undefined);
    assert.equal(guard.check('fd00::5', 'fd00::5'), undefined);
    assert.equal(guard.check('images.internal.', '192.168.1.1'), undefined);
    assert.equal(guard.check('other.internal', '192.168.1.1')?.kind, 'private');
    assert.equal(guard.check('11.0.0.1', '11.0.0.1'), undefined);
  });

  test('allowPrivate opens non-public addresses except cloud metadata, which needs an allow entry', () => {
    const open = compileUrlPolicy(policy({ allowPrivate: true }));
    assert.equal(open.check('10.0.0.1', '10.0.0.1'), undefined);
    assert.equal(open.check('localhost', '127.0.0.1'), undefined);
    assert.equal(open.check('169.254.169.254', '169.254.169.254')?.kind, 'metadata');
    const explicit = compileUrlPolicy(policy({ allow: ['169.254.169.254'] }));
    assert.equal(explicit.check('169.254.169.254', '169.254.169.254'), undefined);
  });

  test('bad settings are INVALID_CONFIG naming the setting', () => {
    for (const allow of [['http://images.internal'], ['10.0.0.0/33'], ['*.internal'], [''], ['a b']]) {
      assert.throws(
        () => compileUrlPolicy(policy({ allow })),
        (e: unknown) => isLoupeError(e, 'INVALID_CONFIG') && /serve\.url\.allow/.test(e.message),
      );
    }
    for (const bad of [{ maxBytes: 0 }, { timeoutMs: -1 }, { maxRedirects: 1.5 }]) {
      assert.throws(
        () => compileUrlPolicy(policy(bad)),
        (e: unknown) => isLoupeError(e, 'INVALID_CONFIG'),
      );
    }
  });
});

describe('fetchImageUrl', () => {
  let dog: Buffer;
  /** Serves every route the positive and upstream-failure tests need; allowlisted as 127.0.0.1/32. */
  let web: TestServer;
  /** Must never see a connection: every SSRF test aims at it. Serves the dog, so a leak would "work". */
  let sentinel: TestServer;
  let sentinel2: TestServer;
  let sentinel6: TestServer | undefined;
  let endlessBytes = 0;
  const timers = new Set<NodeJS.Timeout>();

  before(async () => {
    dog = await photo();
    const serveDog: Handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': dog.length });
      res.end(dog);
    };
    web = await startServer('127.0.0.1', (_req, res, p, q) => {
      const hop = /^\/hop\/(\d+)$/.exec(p);
      if (p === '/dog.jpg') return serveDog(_req, res, p, q);
      if (p === '/chunked-dog') {
        res.writeHead(200, { 'content-type': 'image/jpeg' });
        res.write(dog.subarray(0, 1000));
        return res.end(dog.subarray(1000));
      }
      if (p === '/redirect') {
        res.writeHead(302, { location: q.get('to')! });
        return res.end();
      }
      if (hop) {
        const n = Number(hop[1]);
        res.writeHead(301, { location: n > 0 ? `/hop/${n - 1}` : '/dog.jpg' });
        return res.end();
      }
      if (p === '/to-credentials') {
        res.writeHead(302, { location: `http://user:s3cret@127.0.0.1:${web.port}/dog.jpg` });
        return res.end();
      }
      if (p === '/loop') {
        res.writeHead(307, { location: '/loop' });
        return res.end();
      }
      if (p === '/endless') {
        // No Content-Length and no end: only the fetcher's own count can stop it.
        res.writeHead(200, { 'content-type': 'image/jpeg' });
        res.write(dog.subarray(0, 4096));
        const chunk = Buffer.alloc(64 * 1024);
        const pump = () => {
          while (!res.destroyed && res.write(chunk)) endlessBytes += chunk.length;
          if (!res.destroyed) res.once('drain', pump);
        };
        return pump();
      }
      if (p === '/hang') return; // never answers
      if (p === '/trickle') {
        res.writeHead(200, { 'content-type': 'image/jpeg' });
        res.write(dog.subarray(0, 300));
        let at = 300;
        const timer = setInterval(() => res.write(dog.subarray(at, ++at)), 20);
        timers.add(timer);
        return void res.on('close', () => clearInterval(timer));
      }
      const status = /^\/status\/(\d+)$/.exec(p);
      if (status) {
        res.writeHead(Number(status[1]), { 'content-type': 'text/html' });
        return res.end('<html><body>nope</body></html>');
      }
      if (p === '/html') {
        res.writeHead(200, { 'content-type': 'image/jpeg' });
        return res.end('<!DOCTYPE html><html><head><title>Login</title></head><body>Sign in</body></html>');
      }
      if (p === '/svg') {
        res.writeHead(200, { 'content-type': 'image/svg+xml' });
        return res.end(
          '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">' +
            '<rect width="10" height="10"/></svg>',
        );
      }
      res.writeHead(404);
      res.end();
    });
    sentinel = await startServer('127.0.0.1', serveDog);
    sentinel2 = await startServer('127.0.0.2', serveDog);
    sentinel6 = await startServer('::1', serveDog).catch(() => undefined);
  });

  after(async () => {
    for (const t of timers) clearInterval(t);
    await Promise.all([web, sentinel, sentinel2, sentinel6].map((s) => s?.close()));
  });

  const untouched = () => {
    assert.equal(sentinel.connections, 0, 'the 127.0.0.1 sentinel was connected to');
    assert.equal(sentinel2.connections, 0, 'the 127.0.0.2 sentinel was connected to');
    assert.equal(sentinel6?.connections ?? 0, 0, 'the ::1 sentinel was connected to');
  };

  test('fetches a real JPEG from an allowlisted address', async () => {
    const got = await fetchImageUrl(`${web.base}/dog.jpg`, LOCAL);
    assert.deepEqual(Buffer.from(got.bytes), dog);
    assert.equal(got.contentType, 'image/jpeg');
    assert.equal(got.declaredContentType, 'image/jpeg');
    assert.equal(got.finalUrl, `${web.base}/dog.jpg`);
    assert.ok(web.hosts.includes(`127.0.0.1:${web.port}`), 'the Host header names the URL host');
  });

  test('reads a body without Content-Length and follows redirects within the limit', async () => {
    const chunked = await fetchImageUrl(`${web.base}/chunked-dog`, LOCAL);
    assert.deepEqual(Buffer.from(chunked.bytes), dog);
    const redirected = await fetchImageUrl(
      `${web.base}/hop/3`,
      policy({ allow: ['127.0.0.1/32'], maxRedirects: 4 }),
    );
    assert.deepEqual(Buffer.from(redirected.bytes), dog);
    assert.equal(redirected.finalUrl, `${web.base}/dog.jpg`);
  });

  test('allowPrivate reaches loopback without allow entries', async () => {
    const got = await fetchImageUrl(`${web.base}/dog.jpg`, policy({ allowPrivate: true }));
    assert.equal(got.bytes.length, dog.length);
  });

  test('loopback, private, link-local, metadata and other non-public literals are refused unconnected', async () => {
    const cases: Array<[string, string]> = [
      [`${sentinel.base}/dog.jpg`, '127.0.0.1 is a loopback address'],
      [`${sentinel2.base}/dog.jpg`, '127.0.0.2 is a loopback address'],
      // Linux connects 0.0.0.0 to the local host: this would reach the sentinel.
      [`http://0.0.0.0:${sentinel.port}/dog.jpg`, '0.0.0.0 is an unspecified'],
      ['http://10.0.0.1/x.jpg', '10.0.0.1 is a private-network address'],
      ['http://172.16.5.4/x.jpg', '172.16.5.4 is a private-network address'],
      ['http://192.168.1.1/x.jpg', '192.168.1.1 is a private-network address'],
      ['http://169.254.169.254/latest/meta-data/', '169.254.169.254 is a cloud metadata address'],
      ['http://169.254.10.10/x.jpg', '169.254.10.10 is a link-local address'],
      ['http://100.64.0.1/x.jpg', '100.64.0.1 is a carrier-grade NAT'],
      ['http://224.0.0.1/x.jpg', '224.0.0.1 is a multicast address'],
      ['http://255.255.255.255/x.jpg', '255.255.255.255 is the broadcast address'],
      ['http://[fe80::1]/x.jpg', 'fe80::1 is a link-local address'],
      ['http://[fc00::1]/x.jpg', 'fc00::1 is a private-network address'],
      ['http://[fd00:ec2::254]/latest/meta-data/', 'fd00:ec2::254 is a cloud metadata address'],
      [`http://[::]:${sentinel.port}/dog.jpg`, ':: is an unspecified'],
    ];
    for (const [url, why] of cases) {
      const started = performance.now();
      const e = await expectError(
        fetchImageUrl(url, policy({ timeoutMs: 3000 })),
        'INVALID_ARGUMENT',
        /^refusing to fetch http:\/\/\S+: .* \(allow it with serve\.url\.allow\)$/,
      );
      assert.ok(e.message.includes(why), `${url}: ${e.message}`);
      assert.equal(e.httpStatus, 400);
      assert.ok(performance.now() - started < 1000, `${url} was refused without waiting on the network`);
    }
    untouched();
  });

  test('decimal, octal, hex and short IPv4 forms are refused as the address they denote', async () => {
    const port = sentinel.port;
    for (const host of [
      '2130706433',
      '0x7f.1',
      '0177.0.0.1',
      '0x7f000001',
      '127.1',
      '017700000001',
      '127.0.0.1.',
    ]) {
      await expectError(
        fetchImageUrl(`http://${host}:${port}/dog.jpg`, policy()),
        'INVALID_ARGUMENT',
        /127\.0\.0\.1 is a loopback address/,
      );
    }
    untouched();
  });

  test('IPv6 loopback and IPv4-mapped loopback literals are refused', async () => {
    const port = sentinel.port;
    const cases: Array<[string, RegExp]> = [
      [`http://[::1]:${sentinel6?.port ?? port}/dog.jpg`, /::1 is a loopback address/],
      [`http://[0:0:0:0:0:0:0:1]:${port}/dog.jpg`, /::1 is a loopback address/],
      [`http://[::ffff:127.0.0.1]:${port}/dog.jpg`, /::ffff:7f00:1 \(127\.0\.0\.1\) is a loopback address/],
      [`http://[::ffff:7f00:1]:${port}/dog.jpg`, /is a loopback address/],
      [`http://[::ffff:169.254.169.254]/`, /\(169\.254\.169\.254\) is a cloud metadata address/],
    ];
    for (const [url, why] of cases) await expectError(fetchImageUrl(url, policy()), 'INVALID_ARGUMENT', why);
    untouched();
  });

  test('a hostname resolving to loopback (localhost) is refused after DNS, unconnected', async () => {
    await expectError(
      fetchImageUrl(`http://localhost:${sentinel.port}/dog.jpg`, policy()),
      'INVALID_ARGUMENT',
      /^refusing to fetch http:\/\/localhost:\d+\/dog\.jpg: localhost resolves to a loopback address \(allow it with serve\.url\.allow\)$/,
    );
    // Allowing 127.0.0.2 does not allow a name whose address is 127.0.0.1.
    await expectError(
      fetchImageUrl(`http://localhost:${sentinel.port}/dog.jpg`, policy({ allow: ['127.0.0.2/32'] })),
      'INVALID_ARGUMENT',
      /localhost resolves to a loopback address/,
    );
    untouched();
  });

  test('an allowlisted hostname is fetched', async () => {
    const got = await fetchImageUrl(`http://localhost:${web.port}/dog.jpg`, policy({ allow: ['localhost'] }));
    assert.equal(got.bytes.length, dog.length);
  });

  test('a redirect from an allowed host to a forbidden address is refused at the hop', async () => {
    const allowLocalhost = policy({ allow: ['localhost'] });
    const target = `${sentinel2.base}/dog.jpg`;
    const start = `http://localhost:${web.port}/redirect?to=${encodeURIComponent(target)}`;
    await expectError(
      fetchImageUrl(start, allowLocalhost),
      'INVALID_ARGUMENT',
      new RegExp(
        `^refusing to fetch ${escapeRegExp(start)} \\(redirected to http://127\\.0\\.0\\.2:\\d+/dog\\.jpg\\): ` +
          `127\\.0\\.0\\.2 is a loopback address`,
      ),
    );
    // The metadata endpoint, by literal and by a name that resolves to it.
    const toMetadata = `${web.base}/redirect?to=${encodeURIComponent('http://169.254.169.254/latest/meta-data/')}`;
    await expectError(fetchImageUrl(toMetadata, LOCAL), 'INVALID_ARGUMENT', /cloud metadata address/);
    const resolve: Resolver = async (host) =>
      host === 'metadata.test'
        ? [{ address: '169.254.169.254', family: 4 }]
        : [{ address: '127.0.0.1', family: 4 }];
    const toName = `${web.base}/redirect?to=${encodeURIComponent('http://metadata.test/latest/')}`;
    await expectError(
      fetchImageUrl(toName, LOCAL, { resolve }),
      'INVALID_ARGUMENT',
      /redirected to http:\/\/metadata\.test\/latest\/\): metadata\.test resolves to a cloud metadata address/,
    );
    untouched();
  });

  test('the address checked is the address connected to, for every answer of the resolver', async () => {
    let calls = 0;
    const resolve: Resolver = async (host) => {
      calls++;
      if (host === 'images.test') return [{ address: '127.0.0.1', family: 4 }];
      if (host === 'mixed.test')
        return [
          { address: '127.0.0.1', family: 4 },
          { address: '10.0.0.7', family: 4 },
        ];
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    };
    const got = await fetchImageUrl(`http://images.test:${web.port}/dog.jpg`, LOCAL, { resolve });
    assert.equal(got.bytes.length, dog.length);
    assert.equal(web.hosts.at(-1), `images.test:${web.port}`);
    assert.equal(calls, 1);
    // One forbidden address among allowed ones refuses the name: no connection to either.
    await expectError(
      fetchImageUrl(`http://mixed.test:${sentinel.port}/dog.jpg`, LOCAL, { resolve }),
      'INVALID_ARGUMENT',
      /mixed\.test resolves to a private-network address/,
    );
    await expectError(
      fetchImageUrl(`http://nowhere.test/x.jpg`, LOCAL, { resolve }),
      'NETWORK',
      /host not found/,
    );
    untouched();
  });

  test('redirect chains longer than maxRedirects, and loops, fail', async () => {
    const e = await expectError(
      fetchImageUrl(`${web.base}/hop/3`, policy({ allow: ['127.0.0.1/32'], maxRedirects: 2 })),
      'NETWORK',
      /more than 2 redirects/,
    );
    assert.equal(e.details?.reason, 'redirect_limit');
    await expectError(fetchImageUrl(`${web.base}/loop`, LOCAL), 'NETWORK', /redirect loop/);
    await expectError(
      fetchImageUrl(`${web.base}/hop/1`, policy({ allow: ['127.0.0.1/32'], maxRedirects: 0 })),
      'NETWORK',
      /more than 0 redirects/,
    );
  });

  test('only http and https, in the URL and in redirects', async () => {
    const urls = [
      'file:///etc/passwd',
      `ftp://127.0.0.1:${sentinel.port}/dog.jpg`,
      'data:image/png;base64,iVBORw0KGgo=',
      `gopher://127.0.0.1:${sentinel.port}/_GET`,
      'javascript:alert(1)',
      `ws://127.0.0.1:${sentinel.port}/`,
      'blob:http://127.0.0.1/uuid',
    ];
    for (const url of urls)
      await expectError(
        fetchImageUrl(url, LOCAL),
        'INVALID_ARGUMENT',
        /^cannot fetch .*: unsupported scheme/,
      );
    await expectError(fetchImageUrl('not a url', LOCAL), 'INVALID_ARGUMENT', /not a valid URL/);
    await expectError(
      fetchImageUrl(`${web.base}/redirect?to=${encodeURIComponent('file:///etc/passwd')}`, LOCAL),
      'INVALID_ARGUMENT',
      /redirect: unsupported scheme file:/,
    );
    untouched();
  });

  test('URLs with credentials are refused, also as redirect targets, and never echoed', async () => {
    const e = await expectError(
      fetchImageUrl(`http://user:s3cret@127.0.0.1:${sentinel.port}/dog.jpg`, LOCAL),
      'INVALID_ARGUMENT',
      /credentials/,
    );
    assert.ok(!`${e.message} ${JSON.stringify(e.details)}`.includes('s3cret'), 'the password is not echoed');
    const seen = web.paths.length;
    const r = await expectError(
      fetchImageUrl(`${web.base}/to-credentials`, LOCAL),
      'INVALID_ARGUMENT',
      /\(redirected to http:\/\/127\.0\.0\.1:\d+\/dog\.jpg\) failed: redirect: URLs with credentials/,
    );
    assert.ok(!r.message.includes('s3cret'), 'the password is not echoed');
    assert.deepEqual(web.paths.slice(seen), ['/to-credentials'], 'the credentialed URL is not requested');
    untouched();
  });

  test('bodies over maxBytes fail: by Content-Length up front, and while streaming without it', async () => {
    const declared = await expectError(
      fetchImageUrl(`${web.base}/dog.jpg`, policy({ allow: ['127.0.0.1/32'], maxBytes: 1000 })),
      'TOO_LARGE',
      new RegExp(`Content-Length ${dog.length} exceeds the 1000-byte limit`),
    );
    assert.equal(declared.httpStatus, 413);
    await expectError(
      fetchImageUrl(`${web.base}/chunked-dog`, policy({ allow: ['127.0.0.1/32'], maxBytes: 50_000 })),
      'TOO_LARGE',
      /the body exceeds the 50000-byte limit/,
    );
    await expectError(
      fetchImageUrl(`${web.base}/endless`, policy({ allow: ['127.0.0.1/32'], maxBytes: 1_000_000 })),
      'TOO_LARGE',
      /the body exceeds the 1000000-byte limit/,
    );
    // The server was cut off near the limit, not drained (socket buffers let it run a little ahead).
    assert.ok(endlessBytes < 20_000_000, `the server wrote ${endlessBytes} bytes`);
  });

  test('timeoutMs bounds the whole fetch: a silent server and a trickling body both time out', async () => {
    for (const p of ['/hang', '/trickle']) {
      const started = performance.now();
      const e = await expectError(
        fetchImageUrl(`${web.base}${p}`, policy({ allow: ['127.0.0.1/32'], timeoutMs: 400 })),
        'NETWORK',
        /failed: timed out after 400 ms$/,
      );
      assert.equal(e.httpStatus, 502);
      const took = performance.now() - started;
      assert.ok(took >= 350 && took < 2000, `${p} took ${took} ms`);
    }
  });

  test('error statuses carry the upstream status: 4xx is the client’s to fix, 5xx a bad gateway', async () => {
    const nf = await expectError(
      fetchImageUrl(`${web.base}/status/404`, LOCAL),
      'INVALID_ARGUMENT',
      /failed: the server answered HTTP 404 Not Found$/,
    );
    assert.equal(nf.details?.upstreamStatus, 404);
    const ise = await expectError(
      fetchImageUrl(`${web.base}/status/500`, LOCAL),
      'NETWORK',
      /HTTP 500 Internal Server Error/,
    );
    assert.equal(ise.details?.upstreamStatus, 500);
    assert.equal(ise.httpStatus, 502);
    const busy = await expectError(fetchImageUrl(`${web.base}/status/429`, LOCAL), 'NETWORK', /HTTP 429/);
    assert.equal(busy.details?.upstreamStatus, 429);
  });

  test('an HTML page (even labelled image/jpeg) and an SVG are not images', async () => {
    await expectError(
      fetchImageUrl(`${web.base}/html`, LOCAL),
      'UNSUPPORTED_MEDIA',
      /not an image: an HTML page \(expected a raster image/,
    );
    const svg = await expectError(
      fetchImageUrl(`${web.base}/svg`, LOCAL),
      'UNSUPPORTED_MEDIA',
      /not an image: XML or markup/,
    );
    assert.equal(svg.httpStatus, 415);
  });

  test('an unreachable allowed address is a NETWORK error', async () => {
    const closed = await startServer('127.0.0.1', () => undefined);
    await closed.close();
    await expectError(
      fetchImageUrl(`${closed.base}/dog.jpg`, LOCAL),
      'NETWORK',
      /failed: connection failed: .*ECONNREFUSED/,
    );
  });

  test('the caller’s signal cancels the fetch', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await expectError(
      fetchImageUrl(`${web.base}/hang`, LOCAL, { signal: controller.signal }),
      'INTERRUPTED',
      /was cancelled/,
    );
  });
});
