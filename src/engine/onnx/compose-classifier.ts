import onnxProto from 'onnx-proto';
import { LoupeError } from '../../errors/loupe-error.js';
import { bytesOf, valueInfo } from './graph-builder.js';

const { onnx } = onnxProto;
type ModelProto = onnxProto.onnx.ModelProto;
type GraphProto = onnxProto.onnx.IGraphProto;
type NodeProto = onnxProto.onnx.INodeProto;

/** The outputs every classifier Loupe serves has (embedding when the graph has a final linear layer). */
export const CLASSIFIER_OUTPUTS = { logits: 'logits', probs: 'probs', embedding: 'embedding' } as const;
const RESERVED: readonly string[] = Object.values(CLASSIFIER_OUTPUTS);

/** How an encoder output becomes one vector per image. */
export type FeaturePooling = 'none' | 'tokens' | 'spatial';

export function decodeModel(bytes: Uint8Array, source = 'ONNX model'): ModelProto {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new LoupeError(
      'CORRUPT_FILE',
      `${source} is not an ONNX model: ${(e as Error).message}`,
      undefined,
      {
        cause: e,
      },
    );
  }
}

const encodeModel = (m: ModelProto): Uint8Array => onnx.ModelProto.encode(m).finish();

function opsetOf(m: ModelProto): number {
  const v = m.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx')?.version;
  return Number(v ?? 1);
}

/**
 * Renames values throughout a graph, subgraphs included (an If or Loop body may read values of
 * the enclosing graph by name).
 */
function renameValues(graph: GraphProto, rename: (name: string) => string | undefined): void {
  const map = (n: string) => (n ? (rename(n) ?? n) : n);
  for (const node of graph.node ?? []) {
    node.input = (node.input ?? []).map(map);
    node.output = (node.output ?? []).map(map);
    for (const a of node.attribute ?? []) {
      if (a.g) renameValues(a.g, rename);
      for (const g of a.graphs ?? []) renameValues(g, rename);
    }
  }
  for (const list of [graph.input, graph.output, graph.valueInfo, graph.initializer] as {
    name?: string | null;
  }[][])
    for (const v of list ?? []) if (v.name) v.name = map(v.name);
}

/** Drops nodes, initializers and value infos that no graph output depends on. */
function prune(graph: GraphProto): void {
  const needed = new Set((graph.output ?? []).map((o) => o.name!));
  const nodes = graph.node ?? [];
  const kept: NodeProto[] = [];
  const reads = (node: NodeProto): string[] => [
    ...(node.input ?? []),
    // Subgraphs may read outer values; keep whatever they name.
    ...(node.attribute ?? []).flatMap((a) =>
      [a.g, ...(a.graphs ?? [])].flatMap((g) => (g ? (g.node ?? []).flatMap((n) => n.input ?? []) : [])),
    ),
  ];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i]!;
    if ((node.output ?? []).some((o) => needed.has(o))) {
      kept.push(node);
      for (const input of reads(node)) needed.add(input);
    }
  }
  graph.node = kept.reverse();
  graph.initializer = (graph.initializer ?? []).filter((t) => needed.has(t.name!));
  graph.valueInfo = (graph.valueInfo ?? []).filter((v) => needed.has(v.name!));
}

function allNames(graph: GraphProto): Set<string> {
  const names = new Set<string>();
  for (const n of graph.node ?? []) for (const o of n.output ?? []) names.add(o);
  for (const v of [...(graph.input ?? []), ...(graph.initializer ?? [])]) names.add(v.name!);
  return names;
}

/**
 * Moves an encoder's values off the names a classifier's outputs must have; returns the new
 * names. Each name is chosen once, so every reference to a value follows it to the same place.
 */
function freeReservedNames(graph: GraphProto): Map<string, string> {
  const taken = allNames(graph);
  const renamed = new Map<string, string>();
  for (const name of RESERVED) if (taken.has(name)) renamed.set(name, freshName(`encoder/${name}`, taken));
  renameValues(graph, (n) => renamed.get(n));
  return renamed;
}

/**
 * Gives every named node a name of its own. The nodes added here are named after their outputs,
 * which a graph from elsewhere may already use as node names (its softmax node called "probs"),
 * and ONNX Runtime refuses a graph with two nodes of one name: later duplicates get a suffix.
 */
function uniqueNodeNames(graph: GraphProto): void {
  const taken = new Set((graph.node ?? []).map((n) => n.name).filter((n): n is string => !!n));
  const seen = new Set<string>();
  for (const n of graph.node ?? []) {
    if (!n.name) continue;
    if (seen.has(n.name)) n.name = freshName(n.name, taken);
    seen.add(n.name);
  }
}

function freshName(base: string, taken: Set<string>): string {
  let name = base;
  for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}

function scalarInitializer(name: string, value: number) {
  return {
    name,
    dataType: onnx.TensorProto.DataType.FLOAT,
    dims: [],
    rawData: bytesOf(new Float32Array([value])),
  };
}

function int64Initializer(name: string, values: number[]) {
  return {
    name,
    dataType: onnx.TensorProto.DataType.INT64,
    dims: [values.length],
    rawData: bytesOf(BigInt64Array.from(values, BigInt)),
  };
}

const node = (opType: string, input: string[], output: string, attribute: NodeProto['attribute'] = []) => ({
  opType,
  name: output,
  input,
  output: [output],
  attribute,
});

const intsAttribute = (name: string, ints: number[]) => ({
  name,
  type: onnx.AttributeProto.AttributeType.INTS,
  ints,
});
const intAttribute = (name: string, i: number) => ({ name, type: onnx.AttributeProto.AttributeType.INT, i });

export interface ComposeOptions {
  /** The encoder output holding the features. */
  output: string;
  pooling: FeaturePooling;
}

/**
 * One graph from an image encoder and a head trained on its pooled features (probe mode): the
 * encoder's feature output, averaged over tokens or space when it is not already a vector, feeds
 * the head in place of the head's own input. The head's values move under "head/" so nothing
 * collides; the encoder keeps its names and opset (the head's operators — Flatten, Gemm, Relu —
 * mean the same in every opset from 11 on), so the encoder's nodes run exactly as they did.
 */
export function composeEncoderHead(
  encoderBytes: Uint8Array,
  headBytes: Uint8Array,
  o: ComposeOptions,
): Uint8Array {
  const encoder = decodeModel(encoderBytes, 'the encoder');
  const head = decodeModel(headBytes, 'the head');
  const opset = opsetOf(encoder);
  if (opset < 11)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `the encoder uses ONNX opset ${opset}; composing needs opset 11 or newer`,
    );
  const graph = encoder.graph!;
  if (!(graph.output ?? []).some((out) => out.name === o.output))
    throw new LoupeError('INVALID_ARGUMENT', `the encoder has no output "${o.output}"`);
  const feature = freeReservedNames(graph).get(o.output) ?? o.output;
  const taken = allNames(graph);

  let vector = feature;
  if (o.pooling !== 'none') {
    const axes = o.pooling === 'tokens' ? [1] : [2, 3];
    vector = freshName(`${feature}/pooled`, taken);
    // ReduceMean took its axes as an attribute until opset 18, as an input since.
    if (opset >= 18) {
      const axesName = freshName(`${vector}/axes`, taken);
      graph.initializer!.push(int64Initializer(axesName, axes));
      graph.node!.push(node('ReduceMean', [feature, axesName], vector, [intAttribute('keepdims', 0)]));
    } else {
      graph.node!.push(
        node('ReduceMean', [feature], vector, [intsAttribute('axes', axes), intAttribute('keepdims', 0)]),
      );
    }
  }

  const headGraph = head.graph!;
  const headInput = headGraph.input![0]!.name!;
  const outputs = new Set((headGraph.output ?? []).map((out) => out.name!));
  renameValues(headGraph, (n) => (n === headInput ? vector : outputs.has(n) ? n : `head/${n}`));
  for (const n of headGraph.node ?? []) n.name = n.name ? `head/${n.name}` : n.name;
  graph.node!.push(...(headGraph.node ?? []));
  graph.initializer!.push(...(headGraph.initializer ?? []));
  graph.valueInfo = [...(graph.valueInfo ?? []), ...(headGraph.valueInfo ?? [])];
  graph.output = (headGraph.output ?? []).filter((out) => out.name === CLASSIFIER_OUTPUTS.logits);
  if (!graph.output.length) throw new LoupeError('INVALID_ARGUMENT', 'the head has no "logits" output');
  prune(graph);
  uniqueNodeNames(graph);
  encoder.irVersion = Math.max(Number(encoder.irVersion), Number(head.irVersion));
  encoder.metadataProps = [];
  return encodeModel(encoder);
}

export interface FinalizeOptions {
  /** Softmax temperature; probabilities are softmax(logits / temperature). */
  temperature: number;
  /** Strings for metadata_props (classes, preprocessing, provenance); they replace keys of the same name. */
  metadata: Record<string, string>;
  /**
   * What the classifier's score output holds. A model from elsewhere may end in a softmax: its
   * log is then used as logits, which temperature scaling treats the same way.
   */
  scores?: 'logits' | 'probs';
  /** The score output's name; default "logits", else the only output. */
  scoresOutput?: string;
}

/**
 * Turns a classifier graph into what Loupe serves: `logits`, calibrated `probs` and, when the
 * graph ends in a linear layer, the `embedding` that layer reads (its input, the penultimate
 * features drift detection compares), with the metadata that says how to feed it.
 */
export function finalizeClassifier(bytes: Uint8Array, o: FinalizeOptions): Uint8Array {
  if (!(o.temperature > 0) || !Number.isFinite(o.temperature))
    throw new LoupeError('INVALID_ARGUMENT', `temperature must be a positive number, got ${o.temperature}`);
  const model = decodeModel(bytes);
  const graph = model.graph!;
  const outputs = graph.output ?? [];
  const scoresName =
    o.scoresOutput ??
    (outputs.some((out) => out.name === CLASSIFIER_OUTPUTS.logits)
      ? CLASSIFIER_OUTPUTS.logits
      : outputs.length === 1
        ? outputs[0]!.name!
        : undefined);
  const scores = outputs.find((out) => out.name === scoresName);
  if (!scores)
    throw new LoupeError(
      'INVALID_ARGUMENT',
      `cannot tell which output holds the class scores (outputs: ${outputs.map((out) => out.name).join(', ')}); name it`,
    );
  // Graphs from elsewhere may declare no shape for an output; a declared one must be a matrix.
  const dims = scores.type?.tensorType?.shape?.dim ?? [];
  if (dims.length !== 2 && dims.length !== 0)
    throw new LoupeError('INVALID_ARGUMENT', `the score output "${scoresName}" must be [batch, classes]`);
  const batch = dims[0]?.dimParam || (dims[0]?.dimValue ? Number(dims[0].dimValue) : 'batch');
  const classes = Number(dims[1]?.dimValue ?? 0);

  graph.output = [];
  // Values named like the outputs this adds move aside; logits that already are logits stay.
  const scoresKind = o.scores ?? 'logits';
  const keep = scoresKind === 'logits' ? CLASSIFIER_OUTPUTS.logits : undefined;
  const rename = new Map<string, string>();
  const taken = allNames(graph);
  for (const reserved of RESERVED)
    if (taken.has(reserved) && reserved !== keep) rename.set(reserved, freshName(`model/${reserved}`, taken));
  renameValues(graph, (n) => rename.get(n));
  const scoresValue = rename.get(scoresName!) ?? scoresName!;

  const logits = CLASSIFIER_OUTPUTS.logits;
  if (scoresKind === 'probs') {
    const floor = freshName('probs/floor', taken);
    graph.initializer!.push(scalarInitializer(floor, 1e-12));
    const clamped = freshName('probs/clamped', taken);
    graph.node!.push(node('Max', [scoresValue, floor], clamped));
    graph.node!.push(node('Log', [clamped], logits));
  } else if (scoresValue !== logits) graph.node!.push(node('Identity', [scoresValue], logits));

  const temperature = freshName('calibration/temperature', taken);
  graph.initializer!.push(scalarInitializer(temperature, o.temperature));
  const scaled = freshName('calibration/scaled_logits', taken);
  graph.node!.push(node('Div', [logits, temperature], scaled));
  graph.node!.push(node('Softmax', [scaled], CLASSIFIER_OUTPUTS.probs, [intAttribute('axis', 1)]));
  const classDims = classes > 0 ? [batch, classes] : [batch, 'classes'];
  graph.output.push(valueInfo(logits, classDims), valueInfo(CLASSIFIER_OUTPUTS.probs, classDims));

  const embedding = scoresKind === 'logits' ? embeddingOf(graph, scoresValue) : undefined;
  if (embedding) {
    graph.node!.push(node('Identity', [embedding.value], CLASSIFIER_OUTPUTS.embedding));
    graph.output.push(valueInfo(CLASSIFIER_OUTPUTS.embedding, [batch, embedding.dim]));
  }
  prune(graph);
  uniqueNodeNames(graph);
  const kept = (model.metadataProps ?? []).filter((p) => !Object.hasOwn(o.metadata, p.key!));
  model.metadataProps = [...kept, ...Object.entries(o.metadata).map(([key, value]) => ({ key, value }))];
  return encodeModel(model);
}

/**
 * The input of the linear layer that computes the scores, found by walking back from the
 * score value through Identity: Gemm's first input, or MatMul's when Add applies the bias.
 * Undefined for graphs that end otherwise; they are served without an embedding.
 */
function embeddingOf(graph: GraphProto, scores: string): { value: string; dim: number | string } | undefined {
  const producer = new Map<string, NodeProto>();
  for (const n of graph.node ?? []) for (const out of n.output ?? []) producer.set(out, n);
  const initializer = new Map((graph.initializer ?? []).map((t) => [t.name!, t]));
  let n = producer.get(scores);
  while (n?.opType === 'Identity') n = producer.get(n.input![0]!);
  if (n?.opType === 'Add')
    n = (n.input ?? []).map((i) => producer.get(i)).find((p) => p?.opType === 'MatMul');
  if (n?.opType !== 'Gemm' && n?.opType !== 'MatMul') return undefined;
  const [a, b] = n.input!;
  const weights = initializer.get(b!);
  const transB =
    n.opType === 'Gemm' && (n.attribute ?? []).some((x) => x.name === 'transB' && Number(x.i) === 1);
  const dim = weights?.dims ? Number(weights.dims[transB ? 1 : 0]) : 'features';
  return { value: a!, dim };
}
