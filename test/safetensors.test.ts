import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { isLoupeError, type ErrorCode } from '../src/errors/loupe-error.js';
import {
  parseSafetensors,
  readSafetensors,
  serializeSafetensors,
  writeSafetensors,
} from '../src/engine/safetensors.js';
import type { TensorMap } from '../src/engine/tensor.js';

/**
 * No reputable safetensors reader exists on npm, so files are cross-checked from Python: always
 * with a dozen-line independent numpy reader and writer (Debian's python3-numpy, installed by
 * make setup), and with the official `safetensors` package when setup could install it into
 * .cache/python (it needs a reachable Python package index, which not every machine has).
 */

const PYTHON = '/usr/bin/python3';
const HERE = path.dirname(fileURLToPath(import.meta.url));
const PY_ENV = { ...process.env, PYTHONPATH: path.join(HERE, '../.cache/python') };
const run = (cmd: string, args: string[]) => promisify(execFile)(cmd, args, { env: PY_ENV });
const probe = (code: string) => spawnSync(PYTHON, ['-c', code], { env: PY_ENV }).status === 0;
const haveOfficial = probe('import safetensors.numpy');
const skipNumpy = false;
const skipOfficial = haveOfficial
  ? false
  : 'the official Python safetensors package could not be installed here';
const MODULE = path.join(HERE, '../src/engine/safetensors.ts');

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'loupe-safetensors-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
const file = (name = 'w') => path.join(dir, `${name}-${counter++}.safetensors`);

function sample(): TensorMap {
  return new Map([
    [
      'layer2.weight',
      { shape: [2, 3, 1, 2], data: Float32Array.from({ length: 12 }, (_, i) => (i - 5.5) / 3) },
    ],
    ['layer10.bias', { shape: [3], data: new Float32Array([-0, Infinity, -Infinity]) }],
    ['bn.running_var', { shape: [4], data: new Float32Array([1e-38, 3.4e38, Math.PI, NaN]) }],
    ['scalar', { shape: [], data: new Float32Array([42.5]) }],
    ['empty', { shape: [0, 3], data: new Float32Array(0) }],
    ['ünïcode.weight', { shape: [1], data: new Float32Array([7]) }],
  ]);
}
const META = { labels: '["cat","dog"]', note: 'quotes " and \\ and \n' };

function assertSameTensors(a: TensorMap, b: TensorMap): void {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [name, t] of a) {
    const u = b.get(name)!;
    assert.deepEqual(u.shape, t.shape, name);
    assert.ok(u.data instanceof Float32Array, name);
    // Compare bits so NaN, -0 and the infinities count.
    assert.deepEqual(
      new Uint32Array(u.data.buffer, u.data.byteOffset, u.data.length),
      new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length),
      name,
    );
  }
}

/** Builds a safetensors file by hand, for hostile cases and for dtypes we never write. */
function craft(header: unknown, body: Uint8Array = new Uint8Array(0), headerLength?: bigint): Buffer {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(headerLength ?? BigInt(json.length));
  return Buffer.concat([prefix, json, body]);
}

describe('round trip', () => {
  test('tensors and metadata come back bit for bit', async () => {
    const f = file();
    await writeSafetensors(f, sample(), META);
    const back = await readSafetensors(f);
    assertSameTensors(back.tensors, sample());
    assert.deepEqual(back.metadata, META);
    assertSameTensors(parseSafetensors(await readFile(f)).tensors, sample());
  });

  test('without metadata, and with an empty map', async () => {
    const back = parseSafetensors(serializeSafetensors(new Map()));
    assert.equal(back.tensors.size, 0);
    assert.deepEqual(back.metadata, {});
    const bytes = serializeSafetensors(sample());
    assert.ok(!bytes.includes('__metadata__'));
  });

  test('the layout is the reference writer’s: padded header, tensors sorted by name, packed', () => {
    const bytes = serializeSafetensors(sample(), META);
    const n = Number(bytes.readBigUInt64LE(0));
    assert.equal(n % 8, 0);
    const header = bytes.subarray(8, 8 + n).toString('utf8');
    assert.match(header, /^\{"__metadata__":\{[^]*\} *$/);
    const parsed = JSON.parse(header) as Record<string, { data_offsets: [number, number] }>;
    const names = Object.keys(parsed).slice(1);
    assert.deepEqual(names, [
      'bn.running_var',
      'empty',
      'layer10.bias',
      'layer2.weight',
      'scalar',
      'ünïcode.weight',
    ]);
    let at = 0;
    for (const name of names) {
      assert.equal(parsed[name]!.data_offsets[0], at);
      at = parsed[name]!.data_offsets[1];
    }
    assert.equal(bytes.length, 8 + n + at);
  });

  test('the writer refuses what safetensors cannot hold', () => {
    const bad = (name: string, t: { shape: number[]; data: Float32Array }, code: ErrorCode) =>
      assert.throws(
        () => serializeSafetensors(new Map([[name, t]])),
        (e) => isLoupeError(e, code),
      );
    bad('w', { shape: [3], data: new Float32Array(2) }, 'SHAPE_MISMATCH');
    bad('w', { shape: [2], data: new Float64Array(2) as unknown as Float32Array }, 'DTYPE_MISMATCH');
    bad('w', { shape: [-1], data: new Float32Array(0) }, 'INVALID_ARGUMENT');
    bad('__metadata__', { shape: [1], data: new Float32Array(1) }, 'INVALID_ARGUMENT');
    assert.throws(
      () => serializeSafetensors(new Map(), { n: 3 as unknown as string }),
      (e) => isLoupeError(e, 'INVALID_ARGUMENT'),
    );
  });

  test('F16, BF16 and F64 tensors are widened to float32', () => {
    const values = [1, -2.5, 0.1, 65504, 6.103515625e-5, 5.960464477539063e-8, -0];
    const f16 = new Uint16Array([0x3c00, 0xc100, 0x2e66, 0x7bff, 0x0400, 0x0001, 0x8000]);
    const bf16 = new Uint16Array(values.map((v) => new Uint32Array(new Float32Array([v]).buffer)[0]! >>> 16));
    const f64 = new Float64Array([0.1, -1e300, 1e-300, 3]);
    const body = Buffer.concat([Buffer.from(f16.buffer), Buffer.from(bf16.buffer), Buffer.from(f64.buffer)]);
    const h16 = f16.byteLength;
    const bytes = craft(
      {
        half: { dtype: 'F16', shape: [7], data_offsets: [0, h16] },
        brain: { dtype: 'BF16', shape: [7], data_offsets: [h16, 2 * h16] },
        double: { dtype: 'F64', shape: [2, 2], data_offsets: [2 * h16, 2 * h16 + 32] },
      },
      body,
    );
    const { tensors } = parseSafetensors(bytes);
    assert.deepEqual(
      [...tensors.get('half')!.data],
      [1, -2.5, 0.0999755859375, 65504, 6.103515625e-5, 5.960464477539063e-8, -0],
    );
    const truncated = values.map(
      (v) =>
        new Float32Array(
          new Uint32Array([(new Uint32Array(new Float32Array([v]).buffer)[0]! >>> 16) << 16]).buffer,
        )[0],
    );
    assert.deepEqual([...tensors.get('brain')!.data], truncated);
    assert.deepEqual([...tensors.get('double')!.data], [Math.fround(0.1), -Infinity, 0, 3]);
    assert.deepEqual(tensors.get('double')!.shape, [2, 2]);
  });
});

describe('atomic writes', () => {
  test('overwrite leaves no temporary file behind', async () => {
    const sub = await mkdtemp(path.join(dir, 'atomic-'));
    const f = path.join(sub, 'model.safetensors');
    await writeSafetensors(f, sample());
    await writeSafetensors(f, new Map([['only', { shape: [1], data: new Float32Array([1]) }]]));
    assert.deepEqual(await readdir(sub), ['model.safetensors']);
    assert.deepEqual([...(await readSafetensors(f)).tensors.keys()], ['only']);
  });

  test('a failed write keeps the previous file', async () => {
    const f = file();
    await writeSafetensors(f, sample(), META);
    await assert.rejects(writeSafetensors(f, new Map([['w', { shape: [9], data: new Float32Array(1) }]])));
    await assert.rejects(writeSafetensors(path.join(dir, 'no-such-dir', 'x.safetensors'), sample()), {
      code: 'ENOENT',
    });
    assertSameTensors((await readSafetensors(f)).tensors, sample());
  });

  test('killing the writer mid-write never leaves a torn file', async () => {
    const sub = await mkdtemp(path.join(dir, 'kill-'));
    const f = path.join(sub, 'big.safetensors');
    await writeSafetensors(f, sample());
    // The child rewrites a 24 MB file in a loop until it is killed with SIGKILL.
    const script = `
      const { writeSafetensors } = await import(${JSON.stringify(MODULE)});
      const big = new Map([['w', { shape: [6 << 20], data: new Float32Array(6 << 20).fill(1) }]]);
      console.log('ready');
      for (;;) await writeSafetensors(${JSON.stringify(f)}, big);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, 150));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const { tensors } = await readSafetensors(f);
    assert.ok(tensors.has('w') || tensors.has('layer2.weight'));
  });
});

describe('hostile files are refused with CORRUPT_FILE naming the file', () => {
  const valid = () =>
    serializeSafetensors(
      new Map([
        ['a', { shape: [2], data: new Float32Array([1, 2]) }],
        ['b', { shape: [1], data: new Float32Array([3]) }],
      ]),
    );
  const body = new Uint8Array(12);
  const cases: [string, Uint8Array, RegExp][] = [
    ['an empty file', new Uint8Array(0), /shorter than the 8-byte header length/],
    ['a file shorter than the length prefix', new Uint8Array(5), /shorter than the 8-byte header length/],
    [
      'a header longer than the file',
      craft({}, new Uint8Array(0), 1000n),
      /claims 1000 bytes but only 2 follow/,
    ],
    ['an absurd header length', craft({}, new Uint8Array(0), 2n ** 63n), /more than the 100000000 allowed/],
    ['invalid JSON', craft('{"a": {"dtype": "F32",'), /not valid UTF-8 JSON/],
    [
      'invalid UTF-8',
      craft(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('latin1')),
      /not valid UTF-8 JSON|not a JSON object/,
    ],
    ['a JSON array', craft([1, 2]), /not a JSON object/],
    ['a non-object entry', craft({ a: 3 }), /"a" is not described by an object/],
    [
      'an unknown dtype',
      craft({ a: { dtype: 'F33', shape: [1], data_offsets: [0, 4] } }, body.subarray(0, 4)),
      /unknown dtype "F33"/,
    ],
    ['a missing dtype', craft({ a: { shape: [1], data_offsets: [0, 4] } }, body.subarray(0, 4)), /no dtype/],
    [
      'a string in the shape',
      craft({ a: { dtype: 'F32', shape: ['3'], data_offsets: [0, 12] } }, body),
      /invalid shape \["3"\]/,
    ],
    [
      'a fractional shape',
      craft({ a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, body.subarray(0, 4)),
      /invalid shape/,
    ],
    [
      'a negative shape',
      craft({ a: { dtype: 'F32', shape: [-3], data_offsets: [0, 12] } }, body),
      /invalid shape/,
    ],
    [
      'a shape that overflows',
      craft({ a: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 12] } }, body),
      /spans 12 bytes/,
    ],
    [
      'offsets out of range',
      craft({ a: { dtype: 'F32', shape: [3], data_offsets: [4, 16] } }, body),
      /ends at byte 16 of a 12-byte data area/,
    ],
    [
      'reversed offsets',
      craft({ a: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, body),
      /invalid data_offsets/,
    ],
    [
      'non-numeric offsets',
      craft({ a: { dtype: 'F32', shape: [1], data_offsets: ['0', '4'] } }, body),
      /invalid data_offsets/,
    ],
    [
      'a size that does not match the shape',
      craft({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 12] } }, body),
      /spans 12 bytes but F32 \[2\] needs 8/,
    ],
    [
      'overlapping tensors',
      craft(
        {
          a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
          b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
        },
        body,
      ),
      /overlaps/,
    ],
    [
      'a gap before a tensor',
      craft({ a: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, body),
      /gap of 4 bytes/,
    ],
    [
      'bytes after the last tensor',
      craft({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, body),
      /4 bytes follow the last tensor/,
    ],
    ['a truncated file', valid().subarray(0, valid().length - 3), /ends at byte 12 of a 9-byte data area/],
    ['a truncated header', valid().subarray(0, 20), /claims \d+ bytes but only 12 follow/],
    ['non-string metadata', craft({ __metadata__: { n: 1 } }), /__metadata__ "n" is not a string/],
    ['metadata that is not a map', craft({ __metadata__: 'x' }), /__metadata__ is not an object/],
  ];
  for (const [what, bytes, message] of cases) {
    test(what, async () => {
      const f = file('hostile');
      await writeFile(f, bytes);
      await assert.rejects(readSafetensors(f), (e) => {
        assert.ok(isLoupeError(e, 'CORRUPT_FILE'), `expected CORRUPT_FILE, got ${String(e)}`);
        assert.ok(e.message.includes(f), `the message names the file: ${e.message}`);
        assert.match(e.message, message);
        return true;
      });
      assert.throws(
        () => parseSafetensors(bytes, 'upload.safetensors'),
        (e) => isLoupeError(e, 'CORRUPT_FILE') && e.message.startsWith('upload.safetensors'),
      );
    });
  }

  test('a valid but non-float dtype is a DTYPE_MISMATCH', () => {
    const bytes = craft({ a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8));
    assert.throws(
      () => parseSafetensors(bytes),
      (e) => isLoupeError(e, 'DTYPE_MISMATCH') && /I64/.test(e.message),
    );
  });

  test('"__proto__" keys stay plain data', () => {
    const bytes = craft(
      '{"__metadata__":{"__proto__":"x"},"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
      new Uint8Array(4),
    );
    const { tensors, metadata } = parseSafetensors(bytes);
    assert.deepEqual([...tensors.keys()], ['__proto__']);
    assert.equal(Object.getOwnPropertyDescriptor(metadata, '__proto__')?.value, 'x');
    assert.equal(Object.getPrototypeOf(metadata), Object.prototype);
    const again = parseSafetensors(serializeSafetensors(tensors));
    assert.deepEqual([...again.tensors.keys()], ['__proto__']);
  });

  test('a missing file is NOT_FOUND', async () => {
    await assert.rejects(readSafetensors(path.join(dir, 'nope.safetensors')), (e) =>
      isLoupeError(e, 'NOT_FOUND'),
    );
  });
});

const NUMPY_READER = `
import json, struct, sys
import numpy as np
raw = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
header = json.loads(raw[8:8 + n])
meta = header.pop('__metadata__', None)
out = {}
for name, info in header.items():
    begin, end = info['data_offsets']
    a = np.frombuffer(raw[8 + n + begin:8 + n + end], dtype='<f4').reshape(info['shape'])
    out[name] = {'dtype': info['dtype'], 'shape': list(a.shape), 'bits': a.reshape(-1).view('<u4').tolist()}
print(json.dumps({'metadata': meta, 'tensors': out, 'n': n}))
`;

const NUMPY_WRITER = `
import json, struct, sys
import numpy as np
x = np.arange(-6, 6, dtype=np.float64).reshape(3, 4) / 7
parts = {'half': x.astype('<f2'), 'double': x.astype('<f8'),
         'brain': (x.astype('<f4').view('<u4') >> 16).astype('<u2')}
dtypes = {'half': 'F16', 'double': 'F64', 'brain': 'BF16'}
header, body = {'__metadata__': {'source': 'numpy'}}, b''
for name, a in parts.items():
    header[name] = {'dtype': dtypes[name], 'shape': list(a.shape), 'data_offsets': [len(body), len(body) + a.nbytes]}
    body += a.tobytes()
h = json.dumps(header).encode()
open(sys.argv[1], 'wb').write(struct.pack('<Q', len(h)) + h + body)
`;

const OFFICIAL = `
import json, sys
import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file
tensors = load_file(sys.argv[1])
with safe_open(sys.argv[1], framework='np') as f:
    meta = f.metadata()
save_file(tensors, sys.argv[2], metadata=json.loads(sys.argv[3]))
print(json.dumps({'metadata': meta, 'tensors': {k: {'shape': list(v.shape), 'bits': v.reshape(-1).view('<u4').tolist()} for k, v in tensors.items()}}))
`;

function fromBits(result: { tensors: Record<string, { shape: number[]; bits: number[] }> }): TensorMap {
  return new Map(
    Object.entries(result.tensors).map(([k, v]) => [
      k,
      { shape: v.shape, data: new Float32Array(Uint32Array.from(v.bits).buffer) },
    ]),
  );
}

describe('readable by other implementations', () => {
  test('an independent numpy reader sees the same tensors and metadata', { skip: skipNumpy }, async () => {
    const f = file();
    await writeSafetensors(f, sample(), META);
    const { stdout } = await run(PYTHON, ['-c', NUMPY_READER, f]);
    const result = JSON.parse(stdout) as {
      metadata: Record<string, string>;
      n: number;
      tensors: Record<string, { dtype: string; shape: number[]; bits: number[] }>;
    };
    assert.deepEqual(result.metadata, META);
    assert.equal(result.n % 8, 0);
    assert.ok(Object.values(result.tensors).every((t) => t.dtype === 'F32'));
    assertSameTensors(fromBits(result), sample());
  });

  test('we read F16, BF16 and F64 written by numpy', { skip: skipNumpy }, async () => {
    const f = file('numpy');
    await run(PYTHON, ['-c', NUMPY_WRITER, f]);
    const { tensors, metadata } = await readSafetensors(f);
    assert.deepEqual(metadata, { source: 'numpy' });
    for (let i = 0; i < 12; i++) {
      const x = (i - 6) / 7;
      assert.equal(tensors.get('double')!.data[i], Math.fround(x));
      assert.ok(Math.abs(tensors.get('half')!.data[i]! - x) <= 2 ** -11 * Math.abs(x) + 1e-7);
      assert.ok(Math.abs(tensors.get('brain')!.data[i]! - x) <= 2 ** -7 * Math.abs(x));
    }
    assert.deepEqual(tensors.get('half')!.shape, [3, 4]);
  });

  test(
    'the official safetensors library reads our file and writes the same bytes',
    { skip: skipOfficial },
    async () => {
      const f = file();
      const theirs = file('official');
      // One metadata entry: the reference keeps metadata in a hash map, so several keys come out in any order.
      const meta = { labels: '["cat","dog"]' };
      await writeSafetensors(f, sample(), meta);
      const { stdout } = await run(PYTHON, ['-c', OFFICIAL, f, theirs, JSON.stringify(meta)]);
      const result = JSON.parse(stdout) as {
        metadata: Record<string, string>;
        tensors: Record<string, { shape: number[]; bits: number[] }>;
      };
      assert.deepEqual(result.metadata, meta);
      assertSameTensors(fromBits(result), sample());
      assert.deepEqual(await readFile(theirs), await readFile(f));
    },
  );
});
