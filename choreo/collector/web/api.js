// The collector's JSON API: GET with the bearer token, and one token prompt shared by every
// request answered 401 meanwhile. The token is kept in sessionStorage: this tab only.

import { byId } from './dom.js';

const TOKEN_KEY = 'choreo.collector.token';

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let tokenPrompt = null;
let tokenDeclined = false; // the user cancelled the prompt: do not ask again until they say so

/** Ask for a token at the next 401 again, after the user cancelled the prompt. */
export function allowTokenPrompt() {
  tokenDeclined = false;
}

/** GET a JSON resource (a path relative to the page). Resolves to {data, text, etag}, or to
 * {notModified: true} when `etag` still matches. Throws ApiError for an error answer. */
export async function api(path, { etag = null } = {}) {
  for (;;) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (etag) headers['If-None-Match'] = etag;
    const response = await fetch(path, { headers, cache: 'no-store' });
    if (response.status === 401) {
      // Another request may already have been answered with a new token: just retry then.
      if (sessionStorage.getItem(TOKEN_KEY) !== token) continue;
      if (tokenDeclined || !(await askForToken(Boolean(token)))) {
        throw new ApiError(401, 'the collector needs a token');
      }
      continue;
    }
    if (response.status === 304) return { notModified: true };
    const text = await response.text();
    if (!response.ok) throw new ApiError(response.status, errorMessage(text) || response.statusText);
    return { data: JSON.parse(text), text, etag: response.headers.get('ETag') };
  }
}

/** The message of an error answer: the collector sends {"error": "..."}. */
function errorMessage(text) {
  try {
    const body = JSON.parse(text);
    const message = body.error ?? body.detail;
    return typeof message === 'string' ? message : JSON.stringify(message);
  } catch {
    return text.slice(0, 200);
  }
}

/** Show the token dialog; resolves to whether a token was given. */
function askForToken(rejected) {
  if (tokenPrompt) return tokenPrompt;
  tokenPrompt = new Promise((resolve) => {
    const dialog = byId('token-dialog');
    const input = byId('token-input');
    byId('token-reason').textContent = rejected
      ? 'The collector refused that token; enter another.'
      : "Enter the collector's API token.";
    input.value = '';
    const onClose = () => {
      dialog.removeEventListener('close', onClose);
      tokenPrompt = null;
      const token = input.value.trim();
      const given = dialog.returnValue === 'ok' && token !== '';
      if (given) sessionStorage.setItem(TOKEN_KEY, token);
      tokenDeclined = !given;
      resolve(given);
    };
    dialog.addEventListener('close', onClose);
    byId('token-cancel').onclick = () => dialog.close('cancel');
    dialog.returnValue = '';
    dialog.showModal();
    input.focus();
  });
  return tokenPrompt;
}
