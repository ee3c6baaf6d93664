import { useState, type FormEvent } from 'react';
import { keyLogin, login, signup, type Session } from '../api/auth';
import { ApiError, type Api } from '../api/client';

/** The server's rule (ofca.domain.passwords.MIN_PASSWORD_LENGTH; tests/web checks they agree). */
export const MIN_PASSWORD_LENGTH = 10;
import { Icon } from './common';

type Mode = 'login' | 'signup' | 'key';

export function Login({ api, onSession, notice }: { api: Api; onSession: (session: Session) => void; notice?: string | null }) {
  const [mode, setMode] = useState<Mode>('login');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [name, setName] = useState('');
  const [accountName, setAccountName] = useState('');
  const [key, setKey] = useState('');
  const [accountId, setAccountId] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [fields, setFields] = useState<Record<string, string>>({});
  const passwordShort = mode === 'signup' && password.length > 0 && password.length < MIN_PASSWORD_LENGTH;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (mode === 'signup' && password.length < MIN_PASSWORD_LENGTH) {
      setFields({ password: `must be at least ${MIN_PASSWORD_LENGTH} characters` });
      return;
    }
    setBusy(true);
    setError(null);
    setFields({});
    try {
      const session =
        mode === 'login'
          ? await login(api, email.trim(), password)
          : mode === 'signup'
            ? await signup(api, {
                email: email.trim(),
                password,
                ...(name.trim() ? { name: name.trim() } : {}),
                ...(accountName.trim() ? { account_name: accountName.trim() } : {}),
              })
            : await keyLogin(api, key.trim(), accountId.trim());
      onSession(session);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
      if (err instanceof ApiError) setFields({ ...err.fields });
    } finally {
      setBusy(false);
    }
  };

  const tabs: { id: Mode; label: string }[] = [
    { id: 'login', label: 'Sign in' },
    { id: 'signup', label: 'Sign up' },
    { id: 'key', label: 'API key' },
  ];

  return (
    <main className="login-page">
      <div className="login-card">
        <div className="brand brand-large">
          <span className="brand-mark" aria-hidden="true">
            o
          </span>
          <span>
            ofca <span className="brand-sub">Bridge</span>
          </span>
        </div>
        <p className="login-lead">Every fan conversation, live: who is waiting, what they talk about, how they feel.</p>
        <div className="tabs" role="tablist" aria-label="Sign-in method">
          {tabs.map((tab) => (
            <button
              key={tab.id}
              type="button"
              role="tab"
              id={`tab-${tab.id}`}
              aria-selected={mode === tab.id}
              aria-controls="login-panel"
              className={mode === tab.id ? 'active' : ''}
              onClick={() => {
                setMode(tab.id);
                setError(null);
              }}
            >
              {tab.label}
            </button>
          ))}
        </div>
        <form id="login-panel" role="tabpanel" aria-labelledby={`tab-${mode}`} className="login-form" onSubmit={submit}>
          {notice ? (
            <div className="notice" role="status">
              {notice}
            </div>
          ) : null}
          {mode === 'signup' ? (
            <>
              <label className="field">
                <span>Your name</span>
                <input autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} />
              </label>
              <label className="field">
                <span>
                  Creator account <span className="muted">(optional: creates it, owned by you)</span>
                </span>
                <input
                  autoComplete="organization"
                  placeholder="e.g. Luna Rose"
                  value={accountName}
                  onChange={(e) => setAccountName(e.target.value)}
                />
              </label>
            </>
          ) : null}
          {mode !== 'key' ? (
            <>
              <label className="field">
                <span>Email</span>
                <input
                  type="email"
                  autoComplete="email"
                  required
                  value={email}
                  aria-invalid={fields.email ? true : undefined}
                  aria-describedby={fields.email ? 'email-error' : undefined}
                  onChange={(e) => setEmail(e.target.value)}
                />
                {fields.email ? (
                  <span className="field-error" id="email-error">
                    E-mail {fields.email}
                  </span>
                ) : null}
              </label>
              <label className="field">
                <span>Password</span>
                <input
                  type="password"
                  autoComplete={mode === 'signup' ? 'new-password' : 'current-password'}
                  required
                  minLength={mode === 'signup' ? MIN_PASSWORD_LENGTH : undefined}
                  value={password}
                  aria-invalid={fields.password || passwordShort ? true : undefined}
                  aria-describedby={mode === 'signup' ? 'password-rule' : undefined}
                  onChange={(e) => {
                    setPassword(e.target.value);
                    if (fields.password) setFields(({ password: _, ...rest }) => rest);
                  }}
                />
                {mode === 'signup' ? (
                  <span className={fields.password || passwordShort ? 'field-error' : 'field-hint muted'} id="password-rule">
                    {fields.password
                      ? `Password ${fields.password}`
                      : `At least ${MIN_PASSWORD_LENGTH} characters${passwordShort ? ` (${MIN_PASSWORD_LENGTH - password.length} more)` : ''}`}
                  </span>
                ) : null}
              </label>
            </>
          ) : (
            <>
              <label className="field">
                <span>Dashboard or owner key</span>
                <input
                  type="password"
                  autoComplete="off"
                  spellCheck={false}
                  required
                  value={key}
                  placeholder="ofca_…"
                  onChange={(e) => setKey(e.target.value)}
                />
              </label>
              <label className="field">
                <span>
                  Account id <span className="muted">(if the server cannot tell from the key)</span>
                </span>
                <input autoComplete="off" spellCheck={false} value={accountId} onChange={(e) => setAccountId(e.target.value)} />
              </label>
              <p className="field-hint muted">
                <Icon name="key" size={14} /> Create one with <code>ofca keys create --account ID --role dashboard</code>.
                The key stays in this browser only.
              </p>
            </>
          )}
          {error ? (
            <div className="notice notice-error" role="alert">
              {error}
            </div>
          ) : null}
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Please wait…' : mode === 'signup' ? 'Create account' : mode === 'key' ? 'Open dashboard' : 'Sign in'}
          </button>
        </form>
      </div>
    </main>
  );
}
