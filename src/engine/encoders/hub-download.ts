import { mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { DownloadFailure } from '../../data/download/failure.js';
import { isLoupeError, LoupeError } from '../../errors/loupe-error.js';
import { withFileLock } from './file-lock.js';
import { HUB_HTTP_DEFAULTS, HubClient, hubEndpoint } from './hub-client.js';
import {
  checkRepoPath,
  checkRevision,
  exists,
  HubRepoCache,
  isCommitSha,
  type HubFile,
} from './hub-cache.js';
import { transferFile, type HttpSettings } from './hub-transfer.js';

export interface HubDownloadProgress {
  /** Path of the file in the repository. */
  file: string;
  /** Bytes on disk so far, a resumed download's earlier bytes included. */
  bytes: number;
  total?: number;
}

export interface HubDownloadOptions extends Partial<Omit<HttpSettings, 'signal'>> {
  /** Root of Loupe's cache; files go under `<cacheDir>/hub/`. */
  cacheDir: string;
  /** Default: HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  onDownload?: (p: HubDownloadProgress) => void;
  signal?: AbortSignal;
}

export interface HubSnapshot {
  repo: string;
  revision: string;
  /** The commit the revision resolved to. */
  sha: string;
  /** Each requested path: its file on disk, or undefined for an optional file the repo lacks. */
  files: Map<string, string | undefined>;
}

/**
 * Makes `files` of `repo` at `revision` available on disk and returns where. Whatever the cache
 * already holds for the revision is used without asking the hub: a branch or tag is resolved once
 * (refs/<revision>) and then means that commit, which keeps features reproducible and lets Loupe
 * work offline. Throws NOT_FOUND for a missing repo, revision or required file, NOT_FOUND with
 * HF_TOKEN advice for 401/403, CORRUPT_FILE when a file fails its announced hash, and NETWORK when
 * the hub cannot be reached and the cache cannot stand in.
 */
export async function downloadHubFiles(
  repo: string,
  revision: string,
  files: HubFile[],
  o: HubDownloadOptions,
): Promise<HubSnapshot> {
  const cache = new HubRepoCache(o.cacheDir, repo);
  checkRevision(revision);
  for (const f of files) checkRepoPath(f.path);
  const pinned = isCommitSha(revision) ? revision : await cache.readRef(revision);
  const cached = pinned && (await cache.lookup(pinned, files));
  if (pinned && cached) return { repo, revision, sha: pinned, files: cached };

  const hub = new HubClient(hubEndpoint(o.endpoint), repo, {
    retries: o.retries ?? HUB_HTTP_DEFAULTS.retries,
    retryBaseMs: o.retryBaseMs ?? HUB_HTTP_DEFAULTS.retryBaseMs,
    timeoutMs: o.timeoutMs ?? HUB_HTTP_DEFAULTS.timeoutMs,
    maxRetryAfterMs: o.maxRetryAfterMs ?? HUB_HTTP_DEFAULTS.maxRetryAfterMs,
    maxRedirects: o.maxRedirects ?? HUB_HTTP_DEFAULTS.maxRedirects,
    signal: o.signal,
  });
  try {
    const info = await hub.revisionInfo(revision);
    const siblings = info.siblings && new Set(info.siblings.map((s) => s.rfilename));
    const found = new Map<string, string | undefined>();
    for (const f of files) {
      if (siblings && !siblings.has(f.path)) {
        if (!f.optional) throw missingFile(repo, revision, info.sha, f.path, siblings);
        await cache.markAbsent(info.sha, f.path);
        found.set(f.path, undefined);
        continue;
      }
      const file = cache.file(info.sha, f.path);
      const got = await fetchFile(hub, info.sha, f, file, o);
      if (got === undefined) await cache.markAbsent(info.sha, f.path);
      found.set(f.path, got);
    }
    if (revision !== info.sha) await cache.writeRef(revision, info.sha);
    return { repo, revision, sha: info.sha, files: found };
  } catch (e) {
    if (!(e instanceof DownloadFailure)) throw e;
    throw new LoupeError(
      'NETWORK',
      `cannot download ${repo}@${revision} from ${hub.endpoint}: ${e.message}; ` +
        `the cache (${cache.dir}) holds no complete copy of it to use offline ` +
        '(bytes received so far are kept, and the next attempt resumes them)',
      { repo, revision, endpoint: hub.endpoint, failure: e.kind },
      { cause: e },
    );
  }
}

/** One file into the cache, unless another process is fetching it: then wait and use theirs. */
async function fetchFile(
  hub: HubClient,
  sha: string,
  f: HubFile,
  file: string,
  o: HubDownloadOptions,
): Promise<string | undefined> {
  if (await exists(file)) return file;
  await mkdir(path.dirname(file), { recursive: true });
  return withFileLock(
    `${file}.lock`,
    async () => {
      if (await exists(file)) return file;
      const partial = `${file}.incomplete`;
      try {
        await transferFile(hub.fileUrl(sha, f.path), partial, {
          ...hub.settings,
          headers: (url) => hub.headers(url),
          refusal: (url, res) => hub.refusal(url, res, `${hub.repo} has no file ${f.path} at ${sha}`),
          onBytes: (bytes, total) =>
            o.onDownload?.({ file: f.path, bytes, ...(total === undefined ? {} : { total }) }),
        });
      } catch (e) {
        // Without a file listing from the hub, a 404 is how an optional file turns out absent.
        if (f.optional && isLoupeError(e, 'NOT_FOUND') && e.details?.status === 404) return undefined;
        throw e;
      }
      await rename(partial, file);
      return file;
    },
    o.signal,
  );
}

function missingFile(
  repo: string,
  revision: string,
  sha: string,
  file: string,
  siblings: Set<string>,
): LoupeError {
  const onnx = [...siblings].filter((s) => s.endsWith('.onnx'));
  const hint = onnx.length ? `; its ONNX files: ${onnx.join(', ')}` : '; it has no ONNX files';
  return new LoupeError('NOT_FOUND', `${repo} has no file ${file} at ${revision} (${sha})${hint}`, {
    repo,
    revision,
    file,
  });
}
