// API client and auth: every request of the viewer goes through `api()`, which turns a 401
// into `AuthRequired` (with the sidecar's auth mode) so callers show the sign-in form.

const HEADERS = { Accept: "application/json", "X-Requested-With": "log-sidecar-viewer" };

export class AuthRequired extends Error {
  constructor(mode) {
    super("authentication required");
    this.mode = mode;
  }
}

export async function api(path, init = {}) {
  const response = await fetch(path, {
    credentials: "same-origin",
    cache: "no-store",
    ...init,
    headers: { ...HEADERS, ...(init.headers || {}) },
  });
  if (response.status === 401) throw new AuthRequired(await authModeOf(response));
  return response;
}

/** GET a JSON body; throws on an HTTP error (AuthRequired on 401). */
export async function getJson(path) {
  const response = await api(path);
  if (!response.ok) throw new Error(`${path.split("?")[0]}: HTTP ${response.status}`);
  return response.json();
}

/** The sidecar's auth mode: from the challenge header, else from the open `api/auth`. */
async function authModeOf(response) {
  let scheme = (response.headers.get("WWW-Authenticate") || "").toLowerCase();
  if (!scheme) scheme = (await authMode()) || "";
  return scheme.startsWith("basic") ? "basic" : "bearer";
}

/** `none`, `bearer` or `basic` as the sidecar reports it (null when it cannot be asked). */
export async function authMode() {
  try {
    const body = await (await fetch("api/auth", { credentials: "same-origin", cache: "no-store" })).json();
    return (body.mode || "").toLowerCase();
  } catch {
    return null;
  }
}

function base64Utf8(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** Trade the secret for the session cookie; the secret is sent once and kept nowhere. */
export function login(mode, user, secret) {
  const header = mode === "basic" ? "Basic " + base64Utf8(`${user}:${secret}`) : "Bearer " + secret;
  return fetch("api/login", {
    method: "POST",
    credentials: "same-origin",
    cache: "no-store",
    headers: { ...HEADERS, Authorization: header },
  });
}

export async function logout() {
  try {
    await fetch("api/logout", { method: "POST", credentials: "same-origin", headers: HEADERS });
  } catch {
    /* signed out locally anyway */
  }
}
