/**
 * The web app's calls to its server's JSON API under /api/. Every state-changing request carries
 * the session's CSRF token (the server refuses it otherwise); failures become ApiError with the
 * server's problem+json explanation, ready to show to the person.
 */

let csrfToken = '';

/** Dispatched on window when a call answers 401. */
export const SESSION_ENDED = 'loupe:session-ended';

/** Set by the session provider whenever the server hands out a token. */
export function setCsrfToken(token: string): void {
  csrfToken = token;
}

export class ApiError extends Error {
  constructor(
    /** The server's explanation (problem+json `detail`), fit to show. */
    readonly detail: string,
    readonly status: number,
    readonly title: string,
    /** The problem's stable code (UNAUTHORIZED, FORBIDDEN, RATE_LIMITED...), when the server sent one. */
    readonly code?: string,
  ) {
    super(detail);
    this.name = 'ApiError';
  }
}

export interface ApiInit {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  json?: unknown;
  signal?: AbortSignal;
}

async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const p = JSON.parse(text) as { detail?: string; title?: string; code?: string };
    if (p.detail) return new ApiError(p.detail, res.status, p.title ?? res.statusText, p.code);
  } catch {
    // Not problem+json (a proxy's error page, say): fall through to the status line.
  }
  return new ApiError(
    `the server answered ${res.status} ${res.statusText}`.trim(),
    res.status,
    res.statusText,
  );
}

/** A JSON call; resolves to the parsed body (undefined for 204), throws ApiError otherwise. */
export async function api<T>(path: string, init: ApiInit = {}): Promise<T> {
  const method = init.method ?? (init.json === undefined ? 'GET' : 'POST');
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') headers['x-csrf-token'] = csrfToken;
  if (init.json !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
      ...(init.signal ? { signal: init.signal } : {}),
    });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError('cannot reach the Loupe server: check that it is running', 0, 'Network error');
  }
  if (!res.ok) {
    // The session ended (expired, logged out elsewhere, disabled): the session provider asks
    // the server again, and pages that need a sign-in send the person to the sign-in page.
    if (res.status === 401 && path !== '/api/session') window.dispatchEvent(new Event(SESSION_ENDED));
    throw await errorOf(res);
  }
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

/**
 * Uploads a form with progress (fetch cannot report upload progress; XMLHttpRequest can).
 * `onProgress` receives the fraction of bytes sent, 0..1.
 */
export function upload<T>(path: string, form: FormData, onProgress: (fraction: number) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.setRequestHeader('x-csrf-token', csrfToken);
    xhr.setRequestHeader('accept', 'application/json');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onerror = () =>
      reject(new ApiError('cannot reach the Loupe server: check that it is running', 0, 'Network error'));
    xhr.onload = () => {
      const res = new Response(xhr.status === 204 ? null : xhr.responseText, {
        status: xhr.status,
        statusText: xhr.statusText,
      });
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve(xhr.status === 204 ? (undefined as T) : (JSON.parse(xhr.responseText) as T));
      } else {
        if (xhr.status === 401) window.dispatchEvent(new Event(SESSION_ENDED));
        void errorOf(res).then(reject);
      }
    };
    xhr.send(form);
  });
}
