import { fsError } from '../errors/fs-error.js';
import { open, type FileHandle } from 'node:fs/promises';
import { writeFileAtomic } from '../store/atomic-write.js';
import { readAt } from '../util/read-at.js';
import { LoupeError } from '../errors/loupe-error.js';
import { numel, type Tensor, type TensorMap } from './tensor.js';

/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON ({name: {dtype, shape, data_offsets: [begin, end]}} plus an
 * optional "__metadata__" string map), then the tensor bytes, little-endian, with offsets
 * relative to the end of the header. We write exactly what the reference writer writes (header
 * padded with spaces to a multiple of 8, tensors sorted by name and packed back to back) so
 * files are byte-identical, and read as strictly as the reference reader does.
 */

const METADATA_KEY = '__metadata__';
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** The reference implementation's limit; a larger header is an attack, not a model. */
const MAX_HEADER_BYTES = 100_000_000;

/** Bytes per element of each dtype we can convert to float32. */
const READABLE = { F32: 4, F64: 8, F16: 2, BF16: 2 } as const;
type ReadableDtype = keyof typeof READABLE;
/** Valid safetensors dtypes that hold no real numbers we could train with. */
const UNSUPPORTED = new Set([
  'BOOL',
  'U8',
  'I8',
  'U16',
  'I16',
  'U32',
  'I32',
  'U64',
  'I64',
  'F8_E5M2',
  'F8_E4M3',
  'F8_E8M0',
  'F4',
  'F6_E2M3',
  'F6_E3M2',
  'C64',
]);

export interface SafetensorsFile {
  tensors: TensorMap;
  metadata: Record<string, string>;
}

/** Serialises float32 tensors and an optional string map to safetensors bytes. */
export function serializeSafetensors(tensors: TensorMap, metadata?: Record<string, string>): Buffer {
  // The reference writer orders tensors by dtype alignment, then by name as bytes; with one dtype that is byte order.
  const names = [...tensors.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  // Entries are joined by hand: an object would reorder integer-like names and swallow "__proto__".
  const entries: string[] = [];
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string')
        throw new LoupeError('INVALID_ARGUMENT', `safetensors metadata "${k}" must be a string`);
    }
    entries.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  }
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    if (name === METADATA_KEY || name === '')
      throw new LoupeError('INVALID_ARGUMENT', `"${name}" cannot be a tensor name in safetensors`);
    checkTensor(name, t);
    const end = offset + t.data.byteLength;
    entries.push(
      `${JSON.stringify(name)}:${JSON.stringify({ dtype: 'F32', shape: t.shape, data_offsets: [offset, end] })}`,
    );
    offset = end;
  }
  const json = Buffer.from(`{${entries.join(',')}}`, 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const out = Buffer.alloc(8 + padded + offset, 0x20);
  out.writeBigUInt64LE(BigInt(padded), 0);
  json.copy(out, 8);
  let at = 8 + padded;
  for (const name of names) {
    const { data } = tensors.get(name)!;
    out.set(littleEndianBytes(data), at);
    at += data.byteLength;
  }
  return out;
}

/** Writes a safetensors file atomically: readers see the old file or the whole new one, never a torn one. */
export async function writeSafetensors(
  file: string,
  tensors: TensorMap,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(file, serializeSafetensors(tensors, metadata));
}

/** Reads a safetensors file, converting F16, BF16 and F64 tensors to float32. */
export async function readSafetensors(file: string): Promise<SafetensorsFile> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    throw fsError(e, file, { what: 'weights file' });
  }
  try {
    const { size } = await fh.stat();
    const prefix = await readAt(fh, 0, Math.min(size, 8));
    const headerLength = checkHeaderLength(prefix, size, file);
    const header = parseHeader(await readAt(fh, 8, headerLength), file);
    const dataStart = 8 + headerLength;
    checkLayout(header.entries, size - dataStart, file);
    const body = await readAt(fh, dataStart, size - dataStart);
    if (body.length !== size - dataStart) throw corrupt(file, 'the file shrank while it was being read');
    return { tensors: decodeTensors(header.entries, body), metadata: header.metadata };
  } finally {
    await fh.close();
  }
}

/** Parses safetensors bytes already in memory (a blob from the store, an upload); `source` names it in errors. */
export function parseSafetensors(bytes: Uint8Array, source = 'safetensors data'): SafetensorsFile {
  const headerLength = checkHeaderLength(bytes.subarray(0, 8), bytes.length, source);
  const header = parseHeader(bytes.subarray(8, 8 + headerLength), source);
  const body = bytes.subarray(8 + headerLength);
  checkLayout(header.entries, body.length, source);
  return { tensors: decodeTensors(header.entries, body), metadata: header.metadata };
}

interface Entry {
  name: string;
  dtype: ReadableDtype;
  shape: number[];
  begin: number;
  end: number;
}

function corrupt(source: string, message: string): LoupeError {
  return new LoupeError('CORRUPT_FILE', `${source} is not a valid safetensors file: ${message}`, {
    file: source,
  });
}

function checkTensor(name: string, t: Tensor): void {
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new LoupeError('INVALID_ARGUMENT', `"${name}" has an invalid shape ${JSON.stringify(t.shape)}`);
  }
  if (!(t.data instanceof Float32Array))
    throw new LoupeError('DTYPE_MISMATCH', `"${name}" must be a Float32Array`);
  if (t.data.length !== numel(t.shape)) {
    throw new LoupeError(
      'SHAPE_MISMATCH',
      `"${name}" holds ${t.data.length} values but its shape [${t.shape.join(', ')}] needs ${numel(t.shape)}`,
    );
  }
}

function checkHeaderLength(prefix: Uint8Array, size: number, source: string): number {
  if (prefix.length < 8)
    throw corrupt(source, `it is ${size} bytes long, shorter than the 8-byte header length`);
  const n = Buffer.from(prefix.buffer, prefix.byteOffset, 8).readBigUInt64LE(0);
  if (n > BigInt(MAX_HEADER_BYTES))
    throw corrupt(source, `the header claims ${n} bytes, more than the ${MAX_HEADER_BYTES} allowed`);
  if (n > BigInt(size - 8))
    throw corrupt(source, `the header claims ${n} bytes but only ${size - 8} follow (truncated?)`);
  return Number(n);
}

function parseHeader(
  bytes: Uint8Array,
  source: string,
): { entries: Entry[]; metadata: Record<string, string> } {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw corrupt(source, `the header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw corrupt(source, 'the header is not a JSON object');
  const entries: Entry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, info] of Object.entries(json as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (typeof info !== 'object' || info === null || Array.isArray(info))
        throw corrupt(source, '__metadata__ is not an object');
      for (const [k, v] of Object.entries(info)) {
        if (typeof v !== 'string') throw corrupt(source, `__metadata__ "${k}" is not a string`);
      }
      // fromEntries defines properties, so a hostile "__proto__" key stays a plain key.
      metadata = Object.fromEntries(Object.entries(info as Record<string, string>));
      continue;
    }
    entries.push(parseEntry(name, info, source));
  }
  return { entries, metadata };
}

function parseEntry(name: string, info: unknown, source: string): Entry {
  if (typeof info !== 'object' || info === null || Array.isArray(info))
    throw corrupt(source, `tensor "${name}" is not described by an object`);
  const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
  if (typeof dtype !== 'string') throw corrupt(source, `tensor "${name}" has no dtype`);
  if (!(dtype in READABLE)) {
    if (UNSUPPORTED.has(dtype)) {
      throw new LoupeError(
        'DTYPE_MISMATCH',
        `${source}: tensor "${name}" is ${dtype}; Loupe reads only F32, F16, BF16 and F64 weights`,
        { file: source },
      );
    }
    throw corrupt(source, `tensor "${name}" has the unknown dtype ${JSON.stringify(dtype)}`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw corrupt(source, `tensor "${name}" has the invalid shape ${JSON.stringify(shape)}`);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    throw corrupt(source, `tensor "${name}" has the invalid data_offsets ${JSON.stringify(offsets)}`);
  }
  const d = dtype as ReadableDtype;
  const [begin, end] = offsets as [number, number];
  const bytes = numel(shape) * READABLE[d];
  if (!Number.isSafeInteger(bytes) || end - begin !== bytes) {
    throw corrupt(
      source,
      `tensor "${name}" spans ${end - begin} bytes but ${d} [${shape.join(', ')}] needs ${bytes}`,
    );
  }
  return { name, dtype: d, shape: shape as number[], begin, end };
}

/** Like the reference reader: tensors must tile the data area exactly, no gaps, no overlaps, nothing after. */
function checkLayout(entries: Entry[], dataBytes: number, source: string): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const e of sorted) {
    if (e.end > dataBytes)
      throw corrupt(
        source,
        `tensor "${e.name}" ends at byte ${e.end} of a ${dataBytes}-byte data area (truncated?)`,
      );
    if (e.begin < at) throw corrupt(source, `tensor "${e.name}" overlaps the tensor before it`);
    if (e.begin > at)
      throw corrupt(source, `there is a gap of ${e.begin - at} bytes before tensor "${e.name}"`);
    at = e.end;
  }
  if (at !== dataBytes) throw corrupt(source, `${dataBytes - at} bytes follow the last tensor`);
}

function decodeTensors(entries: Entry[], body: Uint8Array): TensorMap {
  const out: TensorMap = new Map();
  for (const e of entries)
    out.set(e.name, { shape: e.shape, data: toFloat32(e.dtype, body.subarray(e.begin, e.end)) });
  return out;
}

function toFloat32(dtype: ReadableDtype, bytes: Uint8Array): Float32Array {
  const n = bytes.length / READABLE[dtype];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  switch (dtype) {
    case 'F32':
      if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes);
      else for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
      break;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      break;
    case 'BF16': {
      // bfloat16 is the top half of a float32, so widening is a shift.
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = view.getUint16(i * 2, true) << 16;
      break;
    }
  }
  return out;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function littleEndianBytes(data: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const bytes = new Uint8Array(data.byteLength);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i]!, true);
  return bytes;
}
