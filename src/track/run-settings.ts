import type { Run } from './run-store.js';

/** Nested settings as dotted keys, so two configs line up row by row. */
export function flattenSettings(
  value: unknown,
  prefix = '',
  out: Record<string, string> = {},
): Record<string, string> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flattenSettings(v, prefix ? `${prefix}.${k}` : k, out);
  } else out[prefix] = typeof value === 'string' ? value : JSON.stringify(value);
  return out;
}

/** What a run was trained from, as one flat record: its configuration and its inputs. */
export const runSettings = (r: Run): Record<string, string> =>
  flattenSettings({
    mode: r.mode,
    dataset_version: r.dataset_version,
    backbone: r.backbone,
    seed: r.seed,
    git_commit: r.git_commit,
    config: r.config,
  });
