import type { LabelProbability } from '../../inference/top-k.js';
import type { Problem } from '../../serve/problem.js';
import type { OrganisedImage } from './organiser-store.js';

/**
 * What the organiser's API answers. The web client and the tests import these types, so the
 * server's answer and what its readers expect are one definition.
 */

/** An organised image as the client sees it. */
export interface OrganisedImageView {
  id: number;
  name: string;
  label: string;
  folder: string;
  file: string;
  predicted: string;
  probability: number;
  top_k: LabelProbability[];
  corrected: boolean;
  /** `model@version`, the version that classified it. */
  model: string;
  input_hash: string;
  bytes: number;
  owner_id: number;
  created_at: string;
  updated_at: string;
  /** Where to fetch its preview. */
  thumbnail: string;
}

export function imageView(image: OrganisedImage): OrganisedImageView {
  return {
    id: image.id,
    name: image.originalName,
    label: image.label,
    folder: image.classFolder,
    file: image.storedName,
    predicted: image.predicted,
    probability: image.probability,
    top_k: image.topK,
    corrected: image.corrected,
    model: `${image.model}@${image.version}`,
    input_hash: image.blobHash,
    bytes: image.bytes,
    owner_id: image.ownerId,
    created_at: image.createdAt,
    updated_at: image.updatedAt,
    thumbnail: `/api/organiser/images/${image.id}/thumbnail`,
  };
}

/** GET /api/organiser/classes: the labels a correction may choose, and the images per label. */
export interface OrganiserClasses {
  /** The model that sorts uploads; null when there is none to choose (none registered, or several and none set). */
  model: string | null;
  labels: string[];
  total: number;
  classes: { label: string; folder: string; count: number }[];
}

/** One file of POST /api/organiser/images: the image it made (or already was), or why it was refused. */
export type UploadResult =
  | { name: string; duplicate: boolean; image: OrganisedImageView }
  | { name: string; error: Pick<Problem, 'status' | 'code' | 'title' | 'detail'> };
