/**
 * The Prometheus scrape endpoint: node:http, GET on one path, 404 elsewhere. Bind it to loopback or a
 * management address (policy.metrics.address); it carries no authentication of its own.
 */
import { createServer } from 'node:http';
import type { Metrics } from './metrics.ts';

export interface MetricsServerOptions {
  readonly address: string;
  /** 0 picks a free port (tests); the bound port is returned. */
  readonly port: number;
  readonly path: string;
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

const REQUEST_TIMEOUT_MS = 10_000;
const HEADERS_TIMEOUT_MS = 5_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** Scrapers are few; a cap keeps a misbehaving client from holding many sockets. */
const MAX_CONNECTIONS = 32;

export function startMetricsServer(metrics: Metrics, opts: MetricsServerOptions): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (path !== opts.path) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    if (req.method !== 'GET') {
      res.writeHead(405, { 'content-type': 'text/plain; charset=utf-8', allow: 'GET' }).end('method not allowed\n');
      return;
    }
    metrics.scrape().then(
      (body) => {
        res.writeHead(200, { 'content-type': metrics.contentType }).end(body);
      },
      () => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('scrape failed\n');
      },
    );
  });
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.maxConnections = MAX_CONNECTIONS;

  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once('error', onError);
    server.listen({ host: opts.address, port: opts.port }, () => {
      server.off('error', onError);
      // After start, a server error (rare: EMFILE on accept) must not crash the daemon.
      server.on('error', () => {});
      const addr = server.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : opts.port;
      resolve({
        port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
