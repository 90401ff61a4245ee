// Who may talk to the daemon, for every listener (the HTTP port, the WebSocket on it and on SURFACE_WS_PORT):
// the Origin guard (which web pages), the Host guard (DNS rebinding) and the bearer token. One module, so a
// rule cannot hold on one door and not on another.

export interface AccessPolicy {
  /** DISPATCH_TOKEN: when set, a request must carry it. */
  token?: string;
  /** DISPATCH_ALLOWED_ORIGINS: exact origins, `loopback` (any loopback origin), or `*`. */
  allowedOrigins: string[];
  /** Host header names served; undefined accepts any (a non-loopback bind, where the token guards). */
  allowedHosts?: string[];
}

/** Why a request is refused: the HTTP status and the `{error, code}` body. */
export interface Refusal {
  status: 401 | 403;
  code: string;
  error: string;
}

/**
 * The browser-facing guards: a request from a web page whose origin is not allowed, or naming a Host that is
 * not served, is refused. Requests without an Origin header do not come from a page (CLIs, scripts).
 */
export function guardRequest(headers: Headers, policy: AccessPolicy): Refusal | undefined {
  const origin = headers.get("origin");
  if (origin !== null && !originAllowed(origin, policy.allowedOrigins)) {
    return {
      status: 403,
      code: "origin_not_allowed",
      error: `requests from the web origin ${
        origin.slice(0, 100)
      } are not allowed (see DISPATCH_ALLOWED_ORIGINS)`,
    };
  }
  if (policy.allowedHosts && !hostAllowed(headers.get("host") ?? undefined, policy.allowedHosts)) {
    return {
      status: 403,
      code: "host_not_allowed",
      error: "this Host name is not served (see DISPATCH_ALLOWED_HOSTS)",
    };
  }
  return undefined;
}

/**
 * The token check: passes when no token is configured or one of `candidates` is it. The Authorization header
 * is always a candidate (`Bearer`, any case, as RFC 7235 says the scheme is); a transport adds its own (the
 * WebSocket's `?token=` and protocol entry).
 */
export function checkToken(
  headers: Headers,
  policy: AccessPolicy,
  hint: string,
  candidates: (string | null | undefined)[] = [],
): Refusal | undefined {
  if (!policy.token) return undefined;
  const all = [bearerToken(headers.get("authorization")), ...candidates];
  if (all.some((c) => typeof c === "string" && c !== "" && timingSafeEqual(c, policy.token!))) {
    return undefined;
  }
  return { status: 401, code: "unauthorized", error: `missing or wrong token: ${hint}` };
}

/** The token of an `Authorization: Bearer <token>` header (scheme in any case), or undefined. */
export function bearerToken(header: string | null | undefined): string | undefined {
  return /^Bearer +(\S+) *$/i.exec(header ?? "")?.[1];
}

/** Exact origins; `loopback` in the list allows any loopback origin, `*` allows any. */
export function originAllowed(origin: string, allowed: string[]): boolean {
  if (!origin) return false;
  if (allowed.includes("*") || allowed.includes(origin)) return true;
  if (!allowed.includes("loopback")) return false;
  try {
    return ["localhost", "127.0.0.1", "[::1]"].includes(new URL(origin).hostname);
  } catch {
    return false;
  }
}

/** The Host header's name (port dropped) is one of `allowed`; a missing header is an HTTP/1.0 client: allowed. */
export function hostAllowed(host: string | undefined, allowed: string[]): boolean {
  if (!host) return true;
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.replace(/:\d+$/, "");
  return allowed.includes(name.toLowerCase());
}

export function timingSafeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < y.length; i++) diff |= (x[i] ?? 0) ^ y[i];
  return diff === 0;
}
