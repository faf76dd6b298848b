import onnxProto from 'onnx-proto';
import { LoupeError } from '../../errors/loupe-error.js';

const { onnx } = onnxProto;
type NodeProto = onnxProto.onnx.INodeProto;
type AttributeProto = onnxProto.onnx.IAttributeProto;
type TensorProto = onnxProto.onnx.ITensorProto;
type ValueInfoProto = onnxProto.onnx.IValueInfoProto;
export type GraphProto = onnxProto.onnx.IGraphProto;

/** An attribute value; arrays of integers become INTS, so a float list must be marked explicitly. */
export type AttributeValue = number | string | number[] | { floats: number[] } | { float: number };

// Raw data in TensorProto is little-endian by definition; copying a typed array's bytes is only
// correct on a little-endian host, which every platform Node ships prebuilt binaries for is.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function attribute(name: string, value: AttributeValue): AttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: T.INTS, ints: value };
  if (typeof value === 'object' && 'floats' in value) return { name, type: T.FLOATS, floats: value.floats };
  if (typeof value === 'object') return { name, type: T.FLOAT, f: value.float };
  if (!Number.isInteger(value))
    throw new Error(`attribute ${name}: use { float } for the non-integer ${value}`);
  return { name, type: T.INT, i: value };
}

export function bytesOf(data: Float32Array | BigInt64Array): Uint8Array {
  if (!LITTLE_ENDIAN) throw new LoupeError('INVALID_ARGUMENT', 'ONNX export needs a little-endian host');
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Accumulates an ONNX graph: nodes in topological order (callers emit them in execution order),
 * initializers, inputs and outputs. Value names are chosen by the caller so that the graph reads
 * like the spec it came from (a Conv's output is named after the layer's path).
 */
export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly names = new Set<string>();

  /** Claims a value name; a clash means two layers would write the same value. */
  private claim(name: string): string {
    if (this.names.has(name)) throw new Error(`ONNX value name "${name}" is used twice`);
    this.names.add(name);
    return name;
  }

  /** A name not yet used, derived from `base` (for values the caller does not need to predict). */
  fresh(base: string): string {
    if (!this.names.has(base)) return base;
    for (let i = 1; ; i++) if (!this.names.has(`${base}_${i}`)) return `${base}_${i}`;
  }

  node(
    opType: string,
    inputs: string[],
    output: string,
    attributes: Record<string, AttributeValue> = {},
  ): string {
    const out = this.claim(output);
    this.nodes.push({
      opType,
      name: out,
      input: inputs,
      output: [out],
      attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  floatInitializer(name: string, dims: number[], data: Float32Array): string {
    this.initializers.push({
      name: this.claim(name),
      dataType: onnx.TensorProto.DataType.FLOAT,
      dims,
      rawData: bytesOf(data),
    });
    return name;
  }

  int64Initializer(name: string, values: number[]): string {
    const data = BigInt64Array.from(values, (v) => BigInt(v));
    this.initializers.push({
      name: this.claim(name),
      dataType: onnx.TensorProto.DataType.INT64,
      dims: [values.length],
      rawData: bytesOf(data),
    });
    return name;
  }

  /** A float32 scalar (rank 0), as Clip's bounds and Pad's constant value require. */
  scalar(name: string, value: number): string {
    this.initializers.push({
      name: this.claim(name),
      dataType: onnx.TensorProto.DataType.FLOAT,
      dims: [],
      rawData: bytesOf(new Float32Array([value])),
    });
    return name;
  }

  /** A float32 graph input; string dims are symbolic (the batch dimension). */
  input(name: string, dims: (number | string)[]): string {
    this.inputs.push(valueInfo(this.claim(name), dims));
    return name;
  }

  /** Declares an existing value as a graph output. */
  output(name: string, dims: (number | string)[]): void {
    if (!this.names.has(name)) throw new Error(`ONNX output "${name}" is not produced by any node`);
    this.outputs.push(valueInfo(name, dims));
  }

  build(name: string): GraphProto {
    return {
      name,
      node: this.nodes,
      initializer: this.initializers,
      input: this.inputs,
      output: this.outputs,
    };
  }
}

export function valueInfo(name: string, dims: (number | string)[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}
