import type { Command } from 'commander';
import { openWorkspace, type Workspace } from '../workspace/workspace.js';

/** Opens the workspace named by the global --workspace/--profile options, runs fn, closes it. */
export async function withWorkspace<T>(command: Command, fn: (ws: Workspace) => Promise<T>): Promise<T> {
  const { workspace, profile } = command.optsWithGlobals<{ workspace?: string; profile?: string }>();
  const ws = await openWorkspace({ workspace, profile });
  try {
    return await fn(ws);
  } finally {
    await ws.close();
  }
}
