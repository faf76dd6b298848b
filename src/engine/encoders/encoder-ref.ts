import path from 'node:path';
import { LoupeError } from '../../errors/loupe-error.js';

/** What an encoder reference names; see openFeatureExtractor for the forms. */
export type EncoderRef =
  | { kind: 'builtin'; name: string }
  | { kind: 'onnx'; file: string }
  | { kind: 'hf'; repo: string; revision: string; file: string };

const HUB_DEFAULT_REVISION = 'main';
/** Where transformers.js-style repos (Xenova/…, onnx-community/…) keep the full-precision model. */
const HUB_DEFAULT_FILE = 'onnx/model.onnx';

export const HF_REF_FORM = 'hf:owner/name[@revision][:path/in/repo.onnx]';

export function parseEncoderRef(ref: string): EncoderRef {
  if (ref.startsWith('hf:')) {
    // A git revision cannot contain ':', so the first one ends the revision.
    const [head = '', ...rest] = ref.slice(3).split(':');
    const file = rest.length ? rest.join(':') : HUB_DEFAULT_FILE;
    const at = head.indexOf('@');
    const repo = at < 0 ? head : head.slice(0, at);
    const revision = at < 0 ? HUB_DEFAULT_REVISION : head.slice(at + 1);
    if (!repo || !revision || !file)
      throw new LoupeError('INVALID_ARGUMENT', `"${ref}" is not a hub reference; expected ${HF_REF_FORM}`);
    if (!/\.onnx$/i.test(file))
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `"${ref}" must name an .onnx file in the repository (${HF_REF_FORM})`,
      );
    return { kind: 'hf', repo, revision, file };
  }
  if (/\.onnx$/i.test(ref)) return { kind: 'onnx', file: path.resolve(ref) };
  return { kind: 'builtin', name: ref };
}
