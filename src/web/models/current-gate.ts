import path from 'node:path';
import { loadConfig } from '../../config/load-config.js';
import type { GateConfig } from '../../registry/gate/gate-policy.js';
import { runGate, type GateResult } from '../../registry/gate/run-gate.js';
import { getVersion } from '../../registry/registry-store.js';
import { CONFIG_FILE, type Workspace } from '../../workspace/workspace.js';

/**
 * The gate policy as loupe.yaml says now, read afresh as every `loupe gate` and `loupe promote`
 * does: a policy tightened while the server runs applies to the next promotion from the page too.
 */
export async function currentGatePolicy(ws: Workspace): Promise<GateConfig> {
  const { config } = await loadConfig(path.join(ws.root, CONFIG_FILE), {
    ...(ws.profile ? { profile: ws.profile } : {}),
  });
  return config.gate;
}

/** Each rule's verdict for a version under the current policy, against the alias it would take. */
export async function gateVerdicts(
  ws: Workspace,
  ref: { model: string; version: number },
  o: { alias?: string; signal?: AbortSignal } = {},
): Promise<GateResult> {
  const policy = await currentGatePolicy(ws);
  const version = await getVersion(ws.db, ref);
  return runGate(ws, version, { ...policy, ...(o.alias ? { against: o.alias } : {}) }, o);
}
