import { Worker } from 'node:worker_threads';

/**
 * A worker thread running the module `name` that sits beside the caller (`callerUrl` is the
 * caller's import.meta.url). Compiled, that module is the .js beside it. Run from TypeScript
 * sources (tests, `tsx`), a worker does not inherit the parent's loader hooks, so it registers
 * tsx's itself before importing the .ts.
 */
export function spawnModuleWorker(callerUrl: string, name: string): Worker {
  if (callerUrl.endsWith('.js')) return new Worker(new URL(`./${name}.js`, callerUrl));
  const entry = new URL(`./${name}.ts`, callerUrl).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  return new Worker(
    `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`,
    { eval: true },
  );
}
