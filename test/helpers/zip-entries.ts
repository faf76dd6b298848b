import assert from 'node:assert/strict';
import { inflateRawSync } from 'node:zlib';

export interface ZipEntry {
  /** The name exactly as stored (UTF-8 when the entry says so, else read as Latin-1). */
  name: string;
  utf8: boolean;
  data: Buffer;
}

/**
 * The entries of a zip file, read from its central directory (APPNOTE 6.3.10, sections 4.3.7,
 * 4.3.12 and 4.3.16). Written for the tests so they need neither the `unzip` command (not on
 * every machine) nor a zip library (none is a dependency), and because a test of safe names must
 * see each name as stored, before any extractor cleans it up.
 */
export function zipEntries(zip: Buffer): ZipEntry[] {
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(eocd >= 0, 'the zip has an end of central directory record');
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    assert.equal(zip.readUInt32LE(at), 0x02014b50, `central directory entry ${i}`);
    const flags = zip.readUInt16LE(at + 8);
    const method = zip.readUInt16LE(at + 10);
    const compressed = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const local = zip.readUInt32LE(at + 42);
    const utf8 = (flags & 0x800) !== 0;
    const name = zip.subarray(at + 46, at + 46 + nameLength).toString(utf8 ? 'utf8' : 'latin1');
    assert.equal(zip.readUInt32LE(local), 0x04034b50, `local header of ${name}`);
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const raw = zip.subarray(start, start + compressed);
    assert.ok(method === 0 || method === 8, `${name}: stored or deflated, not method ${method}`);
    entries.push({ name, utf8, data: method === 0 ? Buffer.from(raw) : inflateRawSync(raw) });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}
