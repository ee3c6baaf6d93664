// REST calls to ofca: bearer auth, JSON bodies, and ofca's error envelope
// ({detail, status_code, timestamp}) turned into readable ApiErrors.

export class ApiError extends Error {
  readonly status: number;
  readonly detail: string;

  constructor(status: number, detail: string) {
    super(detail);
    this.name = 'ApiError';
    this.status = status;
    this.detail = detail;
  }
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
    const extra = (body as { extra?: unknown }).extra;
    let text = typeof detail === 'string' ? detail : JSON.stringify(detail);
    if (Array.isArray(extra) && extra.length) {
      const fields = extra
        .map((item) => (item && typeof item === 'object' && 'message' in item ? String(item.message) : ''))
        .filter(Boolean);
      if (fields.length) text += `: ${fields.join('; ')}`;
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
    if (!response.ok) throw new ApiError(response.status, describe(response.status, body));
    return body as T;
  }
  return { request };
}

export type Api = ReturnType<typeof createApi>;
