import type { Split } from '../versions/manifest.js';
import type { ValidationItem } from './validation-item.js';
import {
  CHECK_NAMES,
  type CheckName,
  type PolicyAction,
  type ValidationPolicy,
} from './validation-policy.js';

/** Another copy of an example's image (for duplicate checks). */
export interface RelatedItem {
  id: string;
  source: string;
  label: string;
  split?: Split;
  /** Hamming distance between the perceptual hashes, for near duplicates. */
  distance?: number;
}

export interface ValidationExample {
  /** Absent for checks about a whole class. */
  id?: string;
  source?: string;
  label: string;
  split?: Split;
  message: string;
  related?: RelatedItem[];
}

export interface CheckSummary {
  action: PolicyAction;
  /** Items the check flagged; for classMinimum, classes. */
  found: number;
  /** For duplicate checks: the number of groups of copies. */
  groups?: number;
  skipped: number;
  moved: number;
  examples: ValidationExample[];
}

export interface ClassSummary {
  items: number;
  kept: number;
  skipped: number;
  moved: number;
  normalised: number;
  /** Items of this class each check flagged (checks that flagged none are left out). */
  checks: Partial<Record<CheckName, number>>;
}

export interface NearDuplicateSummary {
  enabled: boolean;
  maxDistance: number;
  /** Distinct images compared by perceptual hash. */
  compared: number;
  /** Usable items (not distinct images) smaller than minSide, left out of the comparison. */
  tooSmallToCompare: number;
  pairs: number;
  groups: number;
  largestGroup: number;
  /** Groups above maxGroupSize: reported, not acted on. */
  oversizedGroups: number;
  seconds: number;
}

/**
 * Everything validation found and did, as plain JSON data (it is stored with the dataset
 * version and printed by renderValidationTable).
 */
export interface ValidationReport {
  items: number;
  kept: number;
  skipped: number;
  /** Kept items the decoder will convert (CMYK, 16-bit, alpha, …). */
  normalised: number;
  /** Kept items whose split changed (leakage). */
  moved: number;
  checks: Record<CheckName, CheckSummary>;
  classes: Record<string, ClassSummary>;
  nearDuplicates: NearDuplicateSummary;
  /** Checks set to `fail` that found something. */
  failed: CheckName[];
  seconds: { inspect: number; duplicates: number; total: number };
}

export function sourceOf(item: ValidationItem): string {
  return item.source ?? item.file ?? item.id;
}

/** Another copy of an example's image, by its index among the items being validated. */
export interface RelatedRef {
  item: number;
  split?: Split;
  distance?: number;
}

/** What the report shows of an item it names. */
export interface ItemName {
  id: string;
  source: string;
}

/**
 * Collects counts and examples while the checks run. Items are referred to by index; the few
 * that examples name get their id and source at the end (`nameExamples`), so the checks need
 * nothing of an item but its label.
 */
export class ReportBuilder {
  readonly checks: Record<CheckName, CheckSummary>;
  readonly classes: Record<string, ClassSummary> = {};
  readonly #labelOf: (index: number) => string;
  readonly #examples: number;
  /** Examples and related items waiting for their item's id and source. */
  readonly #unnamed: { item: number; into: { id?: string; source?: string } }[] = [];

  constructor(count: number, labelOf: (index: number) => string, policy: ValidationPolicy) {
    this.#labelOf = labelOf;
    this.#examples = policy.examples;
    this.checks = Object.fromEntries(
      CHECK_NAMES.map((c) => [c, { action: policy.checks[c], found: 0, skipped: 0, moved: 0, examples: [] }]),
    ) as unknown as Record<CheckName, CheckSummary>;
    for (let i = 0; i < count; i++) this.classOf(labelOf(i)).items++;
  }

  classOf(label: string): ClassSummary {
    return (this.classes[label] ??= { items: 0, kept: 0, skipped: 0, moved: 0, normalised: 0, checks: {} });
  }

  /**
   * Records that `check` found item `index`; `split` is its split at that moment. For a group
   * of copies only one member is worth an example (`example: false` for the others), naming
   * the rest in `related`.
   */
  flag(
    check: CheckName,
    index: number,
    message: string,
    split?: Split,
    related?: RelatedRef[],
    example = true,
  ): void {
    const label = this.#labelOf(index);
    const summary = this.checks[check];
    summary.found++;
    const counts = this.classOf(label).checks;
    counts[check] = (counts[check] ?? 0) + 1;
    if (example && summary.examples.length < this.#examples) {
      const shown: ValidationExample = {
        id: '',
        source: '',
        label,
        ...(split ? { split } : {}),
        message,
        ...(related?.length ? { related: related.map((r) => this.#related(r)) } : {}),
      };
      this.#toName(index, shown);
      summary.examples.push(shown);
    }
  }

  /** Records a finding about a whole class. */
  flagClass(check: CheckName, label: string, message: string): void {
    const summary = this.checks[check];
    summary.found++;
    const counts = this.classOf(label).checks;
    counts[check] = (counts[check] ?? 0) + 1;
    if (summary.examples.length < this.#examples) summary.examples.push({ label, message });
  }

  group(check: CheckName): void {
    const summary = this.checks[check];
    summary.groups = (summary.groups ?? 0) + 1;
  }

  skipped(check: CheckName, index: number): void {
    this.checks[check].skipped++;
    this.classOf(this.#labelOf(index)).skipped++;
  }

  moved(check: CheckName): void {
    this.checks[check].moved++;
  }

  /** Checks set to fail that found something. */
  failed(): CheckName[] {
    return CHECK_NAMES.filter((c) => this.checks[c].action === 'fail' && this.checks[c].found > 0);
  }

  /** Gives the items the examples show their ids and sources. */
  async nameExamples(name: (items: readonly number[]) => Promise<ItemName[]>): Promise<void> {
    const names = await name(this.#unnamed.map((u) => u.item));
    this.#unnamed.forEach((u, n) => Object.assign(u.into, names[n]));
    this.#unnamed.length = 0;
  }

  /** `into` holds placeholders for the id and source (so its keys keep their order) until nameExamples. */
  #toName(item: number, into: { id?: string; source?: string }): void {
    this.#unnamed.push({ item, into });
  }

  #related(r: RelatedRef): RelatedItem {
    const related: RelatedItem = {
      id: '',
      source: '',
      label: this.#labelOf(r.item),
      ...(r.split ? { split: r.split } : {}),
      ...(r.distance !== undefined ? { distance: r.distance } : {}),
    };
    this.#toName(r.item, related);
    return related;
  }
}
