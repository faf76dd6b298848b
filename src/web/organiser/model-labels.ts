import { LoupeError } from '../../errors/loupe-error.js';
import { listVersions } from '../../registry/registry-store.js';
import type { Database } from '../../store/database.js';

/**
 * Every class any version of a model has had, the newest version's first: what a person may label
 * an image with. A correction to a class the model has never had could not be learnt from.
 */
export async function knownLabels(db: Database, model: string): Promise<string[]> {
  const labels = new Set<string>();
  for (const v of await listVersions(db, model)) for (const c of v.classes) labels.add(c);
  return [...labels];
}

/** Refuses a label none of the models' versions has, naming what is allowed. */
export async function checkLabel(db: Database, models: Iterable<string>, label: string): Promise<void> {
  for (const model of new Set(models)) {
    const labels = await knownLabels(db, model);
    if (labels.includes(label)) continue;
    const shown = labels.slice(0, 20).map((l) => JSON.stringify(l));
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `${JSON.stringify(label)} is not a class of model ${model}; its classes are ${shown.join(', ')}${labels.length > 20 ? ` and ${labels.length - 20} more` : ''}`,
    );
  }
}
