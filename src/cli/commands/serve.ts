import type { Command } from 'commander';
import { LoupeError } from '../../errors/loupe-error.js';
import { createServer } from '../../serve/server.js';
import { withWorkspace } from '../workspace-options.js';

interface ServeFlags {
  host?: string;
  port?: string;
  model?: string;
  threads?: string;
  logLevel: string;
}

/** Resolves when the process is asked to stop (Ctrl-C, or SIGTERM from a supervisor). */
const stopRequested = () =>
  new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description(
      'Serve the registered models over HTTP: prediction, health, Prometheus metrics and OpenAPI docs',
    )
    .option('--host <host>', 'address to listen on (default: serve.host, 127.0.0.1)')
    .option('--port <port>', 'port (default: serve.port, 8080; 0 picks a free one)')
    .option('--model <name>', 'the model POST /predict answers with (default: the only registered one)')
    .option('--threads <n>', 'ONNX Runtime threads per loaded model (default: one per core)')
    .option('--log-level <level>', 'JSON log level: trace, debug, info, warn, error', 'info')
    .addHelpText(
      'after',
      `
Examples:
  loupe serve                                   # http://127.0.0.1:8080, docs at /docs
  loupe serve --host 0.0.0.0 --port 9000 --model fashion
  curl -F file=@shoe.jpg http://127.0.0.1:8080/v1/models/fashion/predict
  curl -H 'content-type: application/json' -d '{"url":"https://example.org/a.jpg"}' http://127.0.0.1:8080/predict`,
    )
    .action(async (flags: ServeFlags, command: Command) => {
      await withWorkspace(command, async (ws) => {
        const c = ws.config.serve;
        const port = flags.port === undefined ? c.port : Number(flags.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535)
          throw new LoupeError('INVALID_ARGUMENT', `--port takes 0–65535, got "${flags.port}"`);
        const threads = flags.threads === undefined ? undefined : Number(flags.threads);
        if (threads !== undefined && !(Number.isInteger(threads) && threads > 0))
          throw new LoupeError(
            'INVALID_ARGUMENT',
            `--threads takes a positive whole number, got "${flags.threads}"`,
          );
        const server = await createServer(ws, {
          config: c,
          logger: { level: flags.logLevel },
          ...(flags.model ? { defaultModel: flags.model } : {}),
          ...(threads ? { threads } : {}),
        });
        const stop = stopRequested();
        try {
          const address = await server.app.listen({ host: flags.host ?? c.host, port });
          const loaded = server.host.status().loaded.map((m) => m.version);
          console.error(
            `loupe: serving ${loaded.length ? loaded.join(', ') : 'no model yet (register one; it is picked up without a restart)'} at ${address}` +
              ` — web app ${address}/, API docs ${address}/docs, metrics ${address}/metrics`,
          );
          const signal = await stop;
          console.error(`loupe: ${signal}: finishing requests in flight, then stopping`);
        } finally {
          await server.close();
        }
      });
    });
}
