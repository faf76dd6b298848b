import { api, upload } from '../../api';

/**
 * What the server's /api/organiser routes answer: its own types (src/web/organiser/organiser-view.ts),
 * imported for type-checking only, so no server code reaches the bundle.
 */
import type {
  OrganisedImageView,
  OrganiserClasses,
  UploadResult,
} from '../../../../src/web/organiser/organiser-view.js';

export type { OrganisedImageView, OrganiserClasses, UploadResult };

export const PAGE_SIZE = 100;

export const fetchClasses = (signal?: AbortSignal) =>
  api<OrganiserClasses>('/api/organiser/classes', signal ? { signal } : {});

export const fetchImages = (label: string | null, offset: number, signal?: AbortSignal) =>
  api<{ total: number; items: OrganisedImageView[] }>(
    `/api/organiser/images?limit=${PAGE_SIZE}&offset=${offset}${label === null ? '' : `&label=${encodeURIComponent(label)}`}`,
    signal ? { signal } : {},
  );

export const uploadImages = (files: File[], onProgress: (fraction: number) => void) => {
  const form = new FormData();
  for (const f of files) form.append('file', f, f.name);
  return upload<{ results: UploadResult[] }>('/api/organiser/images', form, onProgress);
};

export const relabel = (ids: number[], label: string) =>
  api<{ images: OrganisedImageView[] }>('/api/organiser/relabel', { json: { ids, label } });

export const deleteImages = (ids: number[]) =>
  api<{ deleted: number }>('/api/organiser/delete', { json: { ids } });

export const downloadUrl = (label: string | null) =>
  `/api/organiser/download${label === null ? '' : `?label=${encodeURIComponent(label)}`}`;
