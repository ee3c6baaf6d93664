import { useEffect, useState, useSyncExternalStore } from 'react';

/** The current time, refreshed every ``intervalMs`` (wait times tick with it). */
export function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

export type ThemeChoice = 'system' | 'light' | 'dark';
const THEME_KEY = 'ofca.theme';

export function applyTheme(choice: ThemeChoice): void {
  const root = document.documentElement;
  if (choice === 'system') root.removeAttribute('data-theme');
  else root.setAttribute('data-theme', choice);
}

export function loadTheme(): ThemeChoice {
  const stored = localStorage.getItem(THEME_KEY);
  return stored === 'light' || stored === 'dark' ? stored : 'system';
}

export function useTheme(): [ThemeChoice, (choice: ThemeChoice) => void] {
  const [theme, setTheme] = useState<ThemeChoice>(loadTheme);
  useEffect(() => {
    applyTheme(theme);
    if (theme === 'system') localStorage.removeItem(THEME_KEY);
    else localStorage.setItem(THEME_KEY, theme);
  }, [theme]);
  return [theme, setTheme];
}

/** The location hash as a route: "#/insights?x=1" -> {view: "insights", params}. */
export const VIEWS = ['inbox', 'insights', 'revenue', 'fans', 'chatters'] as const;
export type View = (typeof VIEWS)[number];

export interface Route {
  view: View;
  params: URLSearchParams;
}

function parseHash(): Route {
  const hash = window.location.hash.replace(/^#\/?/, '');
  const [path = '', query = ''] = hash.split('?');
  const view = (VIEWS as readonly string[]).includes(path) ? (path as View) : 'inbox';
  return { view, params: new URLSearchParams(query) };
}

export function useHashRoute(): [Route, (view: Route['view'], params?: Record<string, string>) => void] {
  const [route, setRoute] = useState<Route>(parseHash);
  useEffect(() => {
    const onChange = () => setRoute(parseHash());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  const navigate = (view: Route['view'], params: Record<string, string> = {}) => {
    const query = new URLSearchParams(params).toString();
    window.location.hash = `#/${view}${query ? `?${query}` : ''}`;
  };
  return [route, navigate];
}

// One shared 1 s ticker: each wait badge re-renders itself, not the whole inbox.
const tickListeners = new Set<() => void>();
let tickNow = Date.now();
let tickTimer: ReturnType<typeof setInterval> | null = null;

function subscribeTick(listener: () => void): () => void {
  tickListeners.add(listener);
  if (!tickTimer) {
    tickNow = Date.now();
    tickTimer = setInterval(() => {
      tickNow = Date.now();
      for (const notify of tickListeners) notify();
    }, 1000);
  }
  return () => {
    tickListeners.delete(listener);
    if (!tickListeners.size && tickTimer) {
      clearInterval(tickTimer);
      tickTimer = null;
    }
  };
}

/** The current time, updated every second by a ticker shared by all callers. */
export function useTick(): number {
  return useSyncExternalStore(subscribeTick, () => tickNow);
}
