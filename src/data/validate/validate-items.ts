import { LoupeError } from '../../errors/loupe-error.js';
import { numberValues } from '../columns.js';
import { splitCode, splitOfCode } from '../splits/split-codes.js';
import { validateColumns, type ValidateOptions } from './validate-columns.js';
import type { ImageInspection, ValidatedItem, ValidationItem } from './validation-item.js';
import type { ValidationPolicyInput } from './validation-policy.js';
import { sourceOf, type ValidationReport } from './validation-report.js';

export type { ValidateOptions, ValidationProgress } from './validate-columns.js';

export interface ValidationResult<T extends ValidationItem> {
  /** The items that go into the version, in input order, with their (possibly moved) split. */
  kept: ValidatedItem<T>[];
  report: ValidationReport;
}

/** validateColumns for items in memory, each an object with its image as a file or bytes. */
export async function validateItems<T extends ValidationItem>(
  items: readonly T[],
  policyInput: ValidationPolicyInput = {},
  options: ValidateOptions = {},
): Promise<ValidationResult<T>> {
  for (const item of items) {
    if (item.file === undefined && item.bytes === undefined && !options.locate) {
      throw new LoupeError('INVALID_ARGUMENT', `item ${item.id} has neither a file nor bytes to validate`);
    }
  }
  const images = numberValues(items.map((i) => i.hash));
  const labels = numberValues(items.map((i) => i.label));
  const firstOf = new Map<string, T>();
  for (const item of items) if (!firstOf.has(item.hash)) firstOf.set(item.hash, item);
  const inspections: ImageInspection[] = [];
  const verdicts = await validateColumns(
    {
      image: images.index,
      label: labels.index,
      labels: labels.distinct,
      split: Uint8Array.from(items, (i) => splitCode(i.split)),
      fixed: Uint8Array.from(items, (i) => (i.fixedSplit ? 1 : 0)),
      images: (async function* () {
        for (const [hash, item] of firstOf) {
          const src =
            item.bytes !== undefined ? { bytes: item.bytes } : { file: item.file ?? options.locate!(hash) };
          yield { hash, src };
        }
      })(),
      name: async (shown) => shown.map((i) => ({ id: items[i]!.id, source: sourceOf(items[i]!) })),
      onInspected: (image, inspection) => (inspections[image] = inspection),
    },
    policyInput,
    options,
  );
  const kept: ValidatedItem<T>[] = [];
  items.forEach((item, i) => {
    if (verdicts.skippedBy[i]) return;
    const split = splitOfCode(verdicts.split[i]!);
    const root = verdicts.duplicateOf[i]!;
    kept.push({
      ...item,
      ...(split ? { split } : {}),
      image: inspections[images.index[i]!]!,
      ...(split !== item.split && item.split ? { movedFrom: item.split } : {}),
      ...(root >= 0 ? { duplicateGroup: `dup:${items[root]!.hash.slice(0, 16)}` } : {}),
    });
  });
  return { kept, report: verdicts.report };
}
