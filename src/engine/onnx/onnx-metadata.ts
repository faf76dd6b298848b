/**
 * Reads ModelProto.metadata_props (field 14: repeated {key = 1, value = 2}) straight from the
 * protobuf wire format. Decoding the whole ModelProto would copy every initializer just to reach
 * a few strings, which matters for the 100 MB encoders users bring from elsewhere.
 *
 * Returns undefined when the bytes do not parse as protobuf, so callers can tell "no metadata"
 * from "not a model".
 */
export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> | undefined {
  const entries: [string, string][] = [];
  const ok = scan(bytes, 0, bytes.length, (field, start, end) => {
    if (field !== 14) return true;
    let key = '';
    let value = '';
    const inner = scan(bytes, start, end, (f, s, e) => {
      if (f === 1) key = utf8(bytes, s, e);
      if (f === 2) value = utf8(bytes, s, e);
      return true;
    });
    if (inner) entries.push([key, value]);
    return inner;
  });
  return ok ? Object.fromEntries(entries) : undefined;
}

const decoder = new TextDecoder();
const utf8 = (b: Uint8Array, s: number, e: number) => decoder.decode(b.subarray(s, e));

/** Walks one message's fields, handing length-delimited ones to `visit`; false on malformed input. */
function scan(
  b: Uint8Array,
  pos: number,
  end: number,
  visit: (field: number, start: number, end: number) => boolean,
): boolean {
  const varint = (): number | undefined => {
    let result = 0;
    for (let shift = 0; shift < 70 && pos < end; shift += 7) {
      const byte = b[pos++]!;
      result += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return result;
    }
    return undefined;
  };
  while (pos < end) {
    const tag = varint();
    if (tag === undefined) return false;
    const field = Math.floor(tag / 8);
    if (field === 0) return false;
    switch (tag % 8) {
      case 0:
        if (varint() === undefined) return false;
        break;
      case 1:
        pos += 8;
        break;
      case 5:
        pos += 4;
        break;
      case 2: {
        const len = varint();
        if (len === undefined || pos + len > end) return false;
        if (!visit(field, pos, pos + len)) return false;
        pos += len;
        break;
      }
      default:
        // Groups (3, 4) are long deprecated and ONNX never used them.
        return false;
    }
  }
  return pos === end;
}
