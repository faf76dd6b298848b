import { LoupeError } from '../../errors/loupe-error.js';
import { parseModelRef } from '../../registry/model-ref.js';
import { getVersion, type ModelVersion } from '../../registry/registry-store.js';
import type { Database } from '../../store/database.js';

/** Each registered model's champion (else latest version) that classifies audio, by name. */
export async function audioModels(db: Database): Promise<ModelVersion[]> {
  const names = await db.selectFrom('registered_models').select('name').orderBy('name').execute();
  const out: ModelVersion[] = [];
  for (const { name } of names) {
    const v = await getVersion(db, { model: name });
    if (v.inputs.kind === 'audio') out.push(v);
  }
  return out;
}

/**
 * The version that pre-labels an upload: the one `requested` names (`name` for its champion,
 * else its latest version; `name@3`; `name:alias`), which must classify audio; without a request,
 * the only audio model there is.
 */
export async function chooseAudioModel(db: Database, requested: string | undefined): Promise<ModelVersion> {
  if (requested) {
    const v = await getVersion(db, parseModelRef(requested));
    if (v.inputs.kind !== 'audio')
      throw new LoupeError(
        'INVALID_ARGUMENT',
        `${v.ref} classifies images; the audio annotator needs a model trained on recordings (loupe train with mode: audio)`,
      );
    return v;
  }
  const models = await audioModels(db);
  if (models.length === 1) return models[0]!;
  throw new LoupeError(
    'INVALID_ARGUMENT',
    models.length
      ? `several audio models are registered (${models.map((m) => m.model).join(', ')}); choose one with model=NAME`
      : 'no audio model is registered: train one on recordings (loupe train with mode: audio) and register it',
  );
}
