import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { RequestWorker } from '../src/util/request-worker.js';

/**
 * A real worker thread that answers { id, echo }, exits with code 3 when asked to crash, never
 * answers when asked to hang, and exits on { type: 'close' }.
 */
const SOURCE = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', (m) => {
  if (m.type === 'close') return parentPort.close();
  if (m.crash) process.exit(3);
  if (m.hang) return;
  parentPort.postMessage({ id: m.id, echo: m.value });
});
`;

type Request = { id: number; value?: string; crash?: boolean; hang?: boolean };
type Reply = { id: number; echo?: string; failed?: string };

function echoWorker() {
  let started = 0;
  const thread = new RequestWorker<Request, Reply>(
    () => {
      started++;
      return new Worker(SOURCE, { eval: true });
    },
    (id, message) => ({ id, failed: message }),
    'echo worker',
  );
  return { thread, started: () => started };
}

it('starts the thread on the first request and answers each request by its id', async () => {
  const { thread, started } = echoWorker();
  assert.equal(started(), 0, 'nothing runs before it is needed');
  const replies = await Promise.all(['a', 'b', 'c'].map((value) => thread.ask((id) => ({ id, value }))));
  assert.deepEqual(
    replies.map((r) => r.echo),
    ['a', 'b', 'c'],
  );
  assert.equal(started(), 1);
  await thread.close({ type: 'close' });
});

it('fails the requests a dying thread leaves unanswered, then starts a new one', async () => {
  const { thread, started } = echoWorker();
  const crashed = await thread.ask((id) => ({ id, crash: true }));
  assert.match(crashed.failed ?? '', /the echo worker exited \(code 3\)/);
  const after = await thread.ask((id) => ({ id, value: 'again' }));
  assert.equal(after.echo, 'again');
  assert.equal(started(), 2);
  await thread.close({ type: 'close' });
});

it('close() stops a thread that does not finish within the grace period', async () => {
  const { thread } = echoWorker();
  const hung = thread.ask((id) => ({ id, hang: true }));
  const t0 = Date.now();
  // This "close" message is one the thread ignores: only the grace period's terminate() ends it.
  await thread.close({ hang: true }, 200);
  assert.ok(Date.now() - t0 < 5000, 'terminated after the grace period');
  assert.match((await hung).failed ?? '', /exited/);
});
