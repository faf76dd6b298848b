import { parentPort } from 'node:worker_threads';
import { isLoupeError } from '../../errors/loupe-error.js';
import { openWorkspace, type Workspace } from '../../workspace/workspace.js';
import { runDriftCheck } from './drift-check.js';
import type { DriftCheckRequest, DriftWorkerSetup, FromDriftWorker } from './drift-worker-protocol.js';

/**
 * The thread `loupe serve` runs drift checks in. A check reads the database, may run the model
 * over a thousand held-out images for a new version's reference, and spends a fraction of a
 * second in pure JavaScript statistics: all of it here, so none of it holds up a request. The
 * worker has its own database connection and writes each check's row itself.
 */
let setup: DriftWorkerSetup | undefined;
let ws: Promise<Workspace> | undefined;
const post = (m: FromDriftWorker) => parentPort!.postMessage(m);

// Requests run one at a time, in order: checks are minutes apart, and two at once would only
// compete for the same cores.
let queue = Promise.resolve();
parentPort!.on(
  'message',
  (m: DriftCheckRequest | ({ type: 'setup' } & DriftWorkerSetup) | { type: 'close' }) => {
    if (m.type === 'setup') {
      setup = { root: m.root, profile: m.profile };
      return;
    }
    if (m.type === 'close') {
      queue = queue.then(async () => {
        await (await ws?.catch(() => undefined))?.close();
        parentPort!.close();
      });
      return;
    }
    queue = queue.then(async () => {
      try {
        ws ??= openWorkspace({
          workspace: setup!.root,
          ...(setup!.profile ? { profile: setup!.profile } : {}),
        }).catch((e: unknown) => {
          ws = undefined; // tried again on the next check
          throw e;
        });
        const { check } = await runDriftCheck(await ws, {
          model: m.model,
          config: m.config,
          source: 'schedule',
        });
        post({ type: 'done', id: m.id, check });
      } catch (e) {
        post({
          type: 'failed',
          id: m.id,
          error: { code: isLoupeError(e) ? e.code : 'INTERNAL', message: (e as Error).message },
        });
      }
    });
  },
);
