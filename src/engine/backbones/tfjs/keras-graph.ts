import { LoupeError } from '../../../errors/loupe-error.js';
import type { KerasLayer } from './layers-bundle.js';

/**
 * Read access to a Keras functional topology for converters that expect a known architecture:
 * every lookup checks the layer's class and wiring, so an unexpected model fails at the first
 * layer that differs, named, instead of producing a network that silently computes something else.
 */
export class KerasGraph {
  private readonly byName = new Map<string, KerasLayer>();

  constructor(
    layers: KerasLayer[],
    private readonly source: string,
  ) {
    for (const l of layers) this.byName.set(l.name, l);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The layer `name`, whatever its class. */
  layer(name: string): KerasLayer {
    const l = this.byName.get(name);
    if (!l) this.fail(`expected a layer named ${name}`);
    return l;
  }

  fail(message: string): never {
    throw new LoupeError('CORRUPT_FILE', `${this.source}: ${message}`, { file: this.source });
  }

  /** Names of the layers feeding `layer` (its first call site). */
  inbound(layer: KerasLayer): string[] {
    const node = layer.inbound_nodes[0];
    if (node === undefined) return [];
    if (!Array.isArray(node)) this.fail(`layer ${layer.name} has malformed inbound_nodes`);
    return node.map((edge) => {
      if (!Array.isArray(edge) || typeof edge[0] !== 'string')
        this.fail(`layer ${layer.name} has malformed inbound_nodes`);
      return edge[0];
    });
  }

  /** The layer `name`, checked to be a `className` fed by exactly `from` (in order). */
  get(name: string, className: string, from?: string[]): KerasLayer {
    const l = this.byName.get(name);
    if (!l) this.fail(`expected a layer named ${name} (${className})`);
    if (l.class_name !== className) this.fail(`layer ${name} is a ${l.class_name}, expected ${className}`);
    if (from) {
      const got = this.inbound(l);
      if (got.join(',') !== from.join(','))
        this.fail(`layer ${name} is fed by [${got.join(', ')}], expected [${from.join(', ')}]`);
    }
    return l;
  }

  /** A config field, checked against a predicate; `what` describes the expectation for the error. */
  config<T>(layer: KerasLayer, key: string, ok: (v: unknown) => v is T, what: string): T {
    const v = layer.config[key];
    if (!ok(v)) this.fail(`layer ${layer.name} has ${key} = ${JSON.stringify(v)}, expected ${what}`);
    return v;
  }
}

export const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
export const isPositiveInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;
export const isIntPair = (v: unknown): v is [number, number] =>
  Array.isArray(v) && v.length === 2 && v.every(isPositiveInt);
export const isOneOf =
  <T extends string | number | boolean>(...values: T[]) =>
  (v: unknown): v is T =>
    values.includes(v as T);
