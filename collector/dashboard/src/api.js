// The collector's read API, with the read token from sessionStorage. Every request has a deadline.

const kTimeoutMs = 30000;
const kTokenKey = 'tk-read-token';

export const session = {
  token: () => sessionStorage.getItem(kTokenKey) || '',
  setToken: (token) => sessionStorage.setItem(kTokenKey, token.trim()),
  signOut: () => sessionStorage.removeItem(kTokenKey),
};

/** A failed request, with words for a person. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function explain(status, text) {
  if (status === 401) return 'This read token is unknown or revoked. Ask for a new one (tk-collector tokens create --tool TOOL).';
  if (status === 403) return 'This read token cannot read this tool.';
  if (status === 404) return 'This collector does not offer that yet.';
  if (status === 503) return 'The collector’s database is busy or unavailable; try again in a moment.';
  return text.trim() || `The collector answered ${status}.`;
}

/** GET `path` with the token; the response, or ApiError. */
export async function get(path) {
  let response;
  try {
    response = await fetch(path, {
      headers: { Authorization: 'Bearer ' + session.token() },
      signal: AbortSignal.timeout(kTimeoutMs),
      cache: 'no-store',
    });
  } catch (error) {
    throw new ApiError(0, error.name === 'TimeoutError' ? 'The collector did not answer within 30 s.' : 'The collector cannot be reached.');
  }
  if (!response.ok) throw new ApiError(response.status, explain(response.status, await response.text()));
  return response;
}

export async function getJson(path) {
  return (await get(path)).json();
}

/** The query string of an object; arrays repeat their key. */
export function queryString(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    for (const item of Array.isArray(value) ? value : [value]) search.append(key, item);
  }
  return search.toString();
}
