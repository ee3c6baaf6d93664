// Runtime configuration injected by ofca into the page (see src/ofca/templates/index.html.j2),
// with fallbacks from the page's own location for `npm run dev`.

export interface RuntimeConfig {
  /** Chrome extension id of the Agent, when the server has one configured. */
  extensionId: string | null;
  /** ws:// or wss:// origin (plus root path) of the ofca server. */
  wsBaseUrl: string;
  /** Prefix of REST calls (the server's root path; '' when served at /). */
  apiBaseUrl: string;
  version: string;
  /** Labels of the built-in topics, by id. */
  topicLabels: Record<string, string>;
  /** The inbox's default triage horizon (OFCA_TRIAGE_HORIZON_HOURS; 0 = none). */
  triageHorizonHours?: number;
  /** The reply SLA (OFCA_REPLY_SLA_SECONDS), until the analytics carry it. */
  replySlaSeconds?: number;
}

function fromLocation(): RuntimeConfig {
  const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
  return {
    extensionId: null,
    wsBaseUrl: `${scheme}://${window.location.host}`,
    apiBaseUrl: '',
    version: 'dev',
    topicLabels: {},
  };
}

export function readRuntimeConfig(): RuntimeConfig {
  const fallback = fromLocation();
  const element = document.getElementById('ofca-config');
  if (!element?.textContent) return fallback;
  try {
    const parsed = JSON.parse(element.textContent) as Partial<RuntimeConfig>;
    return { ...fallback, ...parsed, topicLabels: parsed.topicLabels ?? {} };
  } catch {
    return fallback;
  }
}
