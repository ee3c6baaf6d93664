// REST calls to ofca: bearer auth, JSON bodies, and ofca's error envelope
// ({detail, status_code, timestamp}) turned into readable ApiErrors.

export class ApiError extends Error {
  readonly status: number;
  readonly detail: string;
  /** A 422's problems by field name ({"password": "must be at least 10 characters"}). */
  readonly fields: Readonly<Record<string, string>>;

  constructor(status: number, detail: string, fields: Record<string, string> = {}) {
    super(detail);
    this.name = 'ApiError';
    this.status = status;
    this.detail = detail;
    this.fields = fields;
  }
}

/** The fields of ofca's validation errors ({errors: [{key, message}]}). */
export function fieldErrors(body: unknown): Record<string, string> {
  const fields: Record<string, string> = {};
  if (!body || typeof body !== 'object') return fields;
  const list = (body as { errors?: unknown; extra?: unknown }).errors ?? (body as { extra?: unknown }).extra;
  if (!Array.isArray(list)) return fields;
  for (const item of list) {
    if (item && typeof item === 'object' && 'key' in item && 'message' in item) {
      const message = String(item.message)
        .replace(/^Expected `str` of length >= (\d+)$/, 'must be at least $1 characters')
        .replace(/`/g, '');
      fields[String(item.key)] = message;
    }
  }
  return fields;
}

export interface RequestOptions {
  token?: string | null;
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  body?: unknown;
  query?: Record<string, string | number | null | undefined>;
  signal?: AbortSignal;
}

function describe(status: number, body: unknown): string {
  if (body && typeof body === 'object' && 'detail' in body) {
    const detail = (body as { detail: unknown }).detail;
    let text = typeof detail === 'string' ? detail : JSON.stringify(detail);
    const fields = Object.entries(fieldErrors(body));
    // The server's detail already names the fields ("Invalid password: ..."); older ones did not.
    if (fields.length && !fields.every(([key]) => text.includes(key))) {
      text += `: ${fields.map(([key, message]) => `${key} ${message}`).join('; ')}`;
    }
    return text;
  }
  if (status === 0) return 'Cannot reach the server.';
  if (status === 429) return 'Too many requests; try again in a moment.';
  return `The server answered ${status}.`;
}

export function createApi(baseUrl: string) {
  async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const url = new URL(baseUrl + path, window.location.origin);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== null && value !== undefined && value !== '') url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (options.token) headers.Authorization = `Bearer ${options.token}`;
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(url, {
        method: options.method ?? 'GET',
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        credentials: 'same-origin',
        signal: options.signal,
      });
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      throw new ApiError(0, describe(0, null));
    }
    const text = await response.text();
    let body: unknown = null;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = null;
      }
    }
    if (!response.ok) throw new ApiError(response.status, describe(response.status, body), fieldErrors(body));
    return body as T;
  }
  /** A file answer (an export): its bytes and the name the server suggests. */
  async function file(path: string, options: RequestOptions = {}): Promise<{ blob: Blob; filename: string | null }> {
    const url = new URL(baseUrl + path, window.location.origin);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== null && value !== undefined && value !== '') url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = {};
    if (options.token) headers.Authorization = `Bearer ${options.token}`;
    let response: Response;
    try {
      response = await fetch(url, { headers, credentials: 'same-origin', signal: options.signal });
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      throw new ApiError(0, describe(0, null));
    }
    if (!response.ok) {
      let body: unknown = null;
      try {
        body = JSON.parse(await response.text());
      } catch {
        body = null;
      }
      throw new ApiError(response.status, describe(response.status, body), fieldErrors(body));
    }
    const disposition = response.headers.get('Content-Disposition') ?? '';
    const filename = /filename="?([^";]+)"?/i.exec(disposition)?.[1] ?? null;
    return { blob: await response.blob(), filename };
  }
  return { request, file };
}

export type Api = ReturnType<typeof createApi>;
