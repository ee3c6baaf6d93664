// Dashboard sign-in: a human login (POST /auth/login -> {token, user, session_id}, then
// GET /auth/me for the accounts and roles) or a pasted dashboard/owner API key.
import { ApiError, type Api } from './client';

export interface AccountAccess {
  account_id: string;
  role: string;
  name: string | null;
}

export interface UserInfo {
  id: string | null;
  email: string | null;
  name: string | null;
}

export interface Session {
  kind: 'login' | 'key';
  token: string;
  user: UserInfo | null;
  accounts: AccountAccess[];
  sessionId: string | null;
}

const STORAGE_KEY = 'ofca.session.v1';
const ACCOUNT_KEY = 'ofca.account.v1';

function text(value: unknown): string | null {
  return typeof value === 'string' && value ? value : typeof value === 'number' ? String(value) : null;
}

function parseUser(raw: unknown): UserInfo | null {
  if (!raw || typeof raw !== 'object') return null;
  const user = raw as Record<string, unknown>;
  return {
    id: text(user.id ?? user.user_id),
    email: text(user.email),
    name: text(user.name ?? user.display_name),
  };
}

function parseAccounts(raw: unknown): AccountAccess[] {
  if (!Array.isArray(raw)) return [];
  const accounts: AccountAccess[] = [];
  for (const item of raw) {
    if (typeof item === 'string') {
      accounts.push({ account_id: item, role: 'member', name: null });
      continue;
    }
    if (!item || typeof item !== 'object') continue;
    const entry = item as Record<string, unknown>;
    const id = text(entry.account_id ?? entry.id);
    if (!id) continue;
    accounts.push({ account_id: id, role: text(entry.role) ?? 'member', name: text(entry.name) });
  }
  return accounts;
}

interface MeResponse {
  user: UserInfo | null;
  accounts: AccountAccess[];
}

export async function fetchMe(api: Api, token: string): Promise<MeResponse> {
  const body = await api.request<Record<string, unknown>>('/auth/me', { token });
  const user = parseUser(body.user ?? body);
  const accounts = parseAccounts(body.accounts ?? body.memberships);
  // A key bound to one account may answer with just that account.
  const single = text(body.account_id);
  if (!accounts.length && single) {
    accounts.push({ account_id: single, role: text(body.role) ?? 'dashboard', name: null });
  }
  return { user, accounts };
}

interface LoginResponse {
  token: string;
  user?: unknown;
  session_id?: string | null;
}

async function sessionFromLogin(api: Api, body: LoginResponse): Promise<Session> {
  const me = await fetchMe(api, body.token);
  return {
    kind: 'login',
    token: body.token,
    user: me.user ?? parseUser(body.user),
    accounts: me.accounts,
    sessionId: body.session_id ?? null,
  };
}

export async function login(api: Api, email: string, password: string): Promise<Session> {
  const body = await api.request<LoginResponse>('/auth/login', {
    method: 'POST',
    body: { email, password },
  });
  return sessionFromLogin(api, body);
}

export async function signup(
  api: Api,
  fields: { email: string; password: string; name?: string; account_id?: string; account_name?: string },
): Promise<Session> {
  const body = await api.request<LoginResponse>('/auth/signup', { method: 'POST', body: fields });
  return sessionFromLogin(api, body);
}

/** Sign in with an API key; the account comes from /auth/me when the server knows it. */
export async function keyLogin(api: Api, key: string, accountId: string): Promise<Session> {
  let accounts: AccountAccess[] = [];
  let user: UserInfo | null = null;
  try {
    const me = await fetchMe(api, key);
    accounts = me.accounts;
    user = me.user;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      throw new ApiError(error.status, 'This key is invalid, expired or revoked.');
    }
    // /auth/me may not accept keys: fall back to the account typed in.
  }
  if (accountId) {
    const known = accounts.find((a) => a.account_id === accountId);
    accounts = known ? [known] : [{ account_id: accountId, role: 'dashboard', name: null }];
  }
  if (!accounts.length) {
    throw new ApiError(400, 'Enter the account id this key belongs to.');
  }
  return { kind: 'key', token: key, user, accounts, sessionId: null };
}

export async function logout(api: Api, session: Session): Promise<void> {
  if (session.kind !== 'login') return;
  try {
    await api.request('/auth/logout', { method: 'POST', token: session.token });
  } catch {
    // Signing out locally matters most; the server session expires on its own.
  }
}

export function loadSession(): Session | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    if (!raw) return null;
    const session = JSON.parse(raw) as Session;
    return session && typeof session.token === 'string' ? session : null;
  } catch {
    return null;
  }
}

export function saveSession(session: Session | null): void {
  if (session) localStorage.setItem(STORAGE_KEY, JSON.stringify(session));
  else localStorage.removeItem(STORAGE_KEY);
}

export function loadAccountChoice(): string | null {
  return localStorage.getItem(ACCOUNT_KEY);
}

export function saveAccountChoice(accountId: string): void {
  localStorage.setItem(ACCOUNT_KEY, accountId);
}
