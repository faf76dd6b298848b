import { crc32, deflateSync } from 'node:zlib';

/**
 * Writes PNGs of every colour type and bit depth, with or without tRNS and other ancillary
 * chunks, so tests can feed decoders files no image library would choose to produce (sharp
 * writes only 8-bit grey, RGB, RGBA and palette). Rows are stored unfiltered.
 */
export interface PngSpec {
  width: number;
  height: number;
  /** 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA. */
  colorType: 0 | 2 | 3 | 4 | 6;
  bitDepth: 1 | 2 | 4 | 8 | 16;
  /** Samples row by row, each at most 2^bitDepth - 1 (palette: indices). */
  samples: ArrayLike<number>;
  /** RGB triples (colour type 3). */
  palette?: ArrayLike<number>;
  /** The tRNS chunk's payload: palette alphas, or the transparent grey / RGB sample(s). */
  transparency?: ArrayLike<number>;
  /** Extra chunks written before IDAT, e.g. sRGB, gAMA, iCCP, eXIf, acTL. */
  extra?: { type: string; data: Uint8Array }[];
}

const CHANNELS = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as const;

export function pngChunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

export function encodePng(s: PngSpec): Buffer {
  const perRow = s.width * CHANNELS[s.colorType];
  const rowBytes = Math.ceil((perRow * s.bitDepth) / 8);
  const raw = Buffer.alloc((rowBytes + 1) * s.height);
  for (let y = 0; y < s.height; y++) {
    const row = raw.subarray(y * (rowBytes + 1) + 1, (y + 1) * (rowBytes + 1));
    for (let i = 0; i < perRow; i++) {
      const v = s.samples[y * perRow + i]!;
      if (s.bitDepth === 16) row.writeUInt16BE(v, i * 2);
      else if (s.bitDepth === 8) row[i] = v;
      else {
        const bit = i * s.bitDepth;
        row[bit >> 3]! |= v << (8 - s.bitDepth - (bit & 7));
      }
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(s.width, 0);
  ihdr.writeUInt32BE(s.height, 4);
  ihdr[8] = s.bitDepth;
  ihdr[9] = s.colorType;
  const u16 = (values: ArrayLike<number>) => {
    const b = Buffer.alloc(values.length * 2);
    Array.from(values).forEach((v, i) => b.writeUInt16BE(v, i * 2));
    return b;
  };
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    ...(s.extra ?? []).map((c) => pngChunk(c.type, c.data)),
    ...(s.palette ? [pngChunk('PLTE', Uint8Array.from(s.palette))] : []),
    ...(s.transparency
      ? [pngChunk('tRNS', s.colorType === 3 ? Uint8Array.from(s.transparency) : u16(s.transparency))]
      : []),
    pngChunk('IDAT', deflateSync(raw)),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}
