import { fsError } from '../../../errors/fs-error.js';
import { readFile } from 'node:fs/promises';
import { LoupeError } from '../../../errors/loupe-error.js';
import { JsLiteralError, parseJsLiteral, type JsValue } from './js-literal.js';

/*
 * nsfwjs ships its models as browserify UMD bundles whose single module is
 * `function(e,a,n){a.exports=<literal>}`. We read that literal with a data-only parser instead
 * of require() or a vm context: node's vm is explicitly not a security boundary, requiring the
 * file would run whatever a tampered package put there, and a parser also turns a truncated or
 * edited file into a precise error. The price is that a future bundler layout needs a new
 * pattern here, which fails loudly rather than silently.
 */
const MODULE_HEAD = /\{1:\[function\(([\w$]+),([\w$]+),([\w$]+)\)\{/;
const SINGLE_MODULE_TAIL =
  /^\s*;?\s*\}\s*,\s*\{\s*\}\s*\]\s*\}\s*,\s*\{\s*\}\s*,\s*\[\s*1\s*\]\s*\)\s*\(\s*1\s*\)\s*\}\s*\)\s*;?\s*$/;

/** Reads the value a single-module browserify bundle exports, without executing the bundle. */
export async function readBundleExport(file: string): Promise<JsValue> {
  let src: string;
  try {
    src = await readFile(file, 'utf8');
  } catch (e) {
    throw fsError(e, file, {
      what: 'model file',
      otherwise: (err) =>
        new LoupeError(
          'CORRUPT_FILE',
          `cannot read model file ${file}: ${err.message}`,
          { file },
          { cause: err },
        ),
    });
  }
  const corrupt: (why: string, cause?: unknown) => never = (why, cause) => {
    throw new LoupeError(
      'CORRUPT_FILE',
      `${file} is not the expected tfjs model bundle: ${why}`,
      { file },
      cause ? { cause } : undefined,
    );
  };
  const head = MODULE_HEAD.exec(src);
  if (!head) corrupt('no browserify module 1 found');
  const exportsAt = head.index + head[0].length;
  const assign = `${head[2]}.exports=`;
  if (!src.startsWith(assign, exportsAt)) corrupt(`module 1 does not start with "${assign}"`);
  let parsed: { value: JsValue; end: number };
  try {
    parsed = parseJsLiteral(src, exportsAt + assign.length);
  } catch (e) {
    if (e instanceof JsLiteralError) corrupt(`its exported literal is malformed (${e.message})`, e);
    throw e;
  }
  if (!SINGLE_MODULE_TAIL.test(src.slice(parsed.end)))
    corrupt('unexpected code after the exported literal (truncated, or more than one module)');
  return parsed.value;
}
