import { safeName } from '../../data/versions/export-version.js';
import { sha256 } from '../../store/blob-store.js';

/**
 * Characters safeName lets through that still do harm in a name people see or unpack: DEL and
 * the C1 controls (terminals act on them), and the bidirectional overrides and isolates that make
 * "gpj.exe" display as "exe.jpg".
 */
const INVISIBLE_CONTROLS = /[\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** One path segment from any text: no separators, no dot-names, no control characters. */
export function safeSegment(text: string): string {
  return safeName(text.replace(INVISIBLE_CONTROLS, '_'));
}

/**
 * The folder a class's images live in: the label itself when it is already a safe name, else its
 * safe form plus a short hash of the label, so two labels that sanitise alike ("a/b" and "a_b")
 * never share a folder.
 */
export function classFolder(label: string): string {
  const safe = safeSegment(label);
  return safe === label
    ? safe
    : `${safe.slice(0, 100)}-${sha256(new TextEncoder().encode(label)).slice(0, 8)}`;
}

/** The name as uploaded, without any folders a browser or a hostile client put in front of it. */
export function baseName(original: string): string {
  return original.split(/[/\\]/).pop() ?? '';
}

/** The stem of an uploaded file's name; the extension comes from the bytes, not the name. */
function stem(original: string): string {
  const base = baseName(original);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

/**
 * The file's name in its class folder: the uploaded name's stem made safe, then the start of the
 * content hash (unique, because the same bytes are organised once), then the extension of the
 * format the bytes are. It never changes when the file moves between folders.
 */
export function storedName(original: string, hash: string, ext: string): string {
  return `${safeSegment(stem(original)).slice(0, 80)}-${hash.slice(0, 12)}.${ext}`;
}

/** The name a file gets in a download: the uploaded name made safe, with its real extension. */
export function downloadName(original: string, ext: string): string {
  return `${safeSegment(stem(original)).slice(0, 100)}.${ext}`;
}

/**
 * `name`, or `name (2)`, `name (3)`… (before the extension of a file name), whichever is not taken
 * yet, compared without case so unpacking on a case-insensitive filesystem (Windows, macOS) loses
 * nothing. Records the name it returns.
 */
export function uniqueName(taken: Set<string>, name: string, o: { isFile: boolean }): string {
  const dot = o.isFile ? name.lastIndexOf('.') : -1;
  const [base, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  let candidate = name;
  for (let n = 2; taken.has(candidate.toLowerCase()); n++) candidate = `${base} (${n})${ext}`;
  taken.add(candidate.toLowerCase());
  return candidate;
}
