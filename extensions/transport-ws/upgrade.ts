// The door of the socket: only WebSocket upgrades, past the daemon's one access check (Origin, Host, token:
// extensions/auth-apikey/access.ts, as on every HTTP route).
// Browsers cannot put headers on a WebSocket, so the token may also come as `?token=` or as a
// `bearer.<token>` entry of Sec-WebSocket-Protocol (the token must then be a valid protocol token: no
// spaces, commas or slashes; use `?token=` otherwise).
import { BEARER_PROTOCOL_PREFIX } from "../../src/contract/ui.ts";
import { type AccessPolicy, checkToken, guardRequest } from "../auth-apikey/access.ts";

export interface DoorOptions extends AccessPolicy {
  /** Seconds without a pong to a ping before Deno closes the socket (0: never). */
  idleTimeoutSec: number;
}

/** Answers the upgrade (handing the socket to `accept`) or refuses it with a JSON error. */
export function upgrade(request: Request, opts: DoorOptions, accept: (socket: WebSocket) => void): Response {
  if ((request.headers.get("upgrade") ?? "").toLowerCase() !== "websocket") {
    return refuse(
      426,
      "upgrade_required",
      "this endpoint speaks WebSocket only: connect with a WebSocket client",
      { upgrade: "websocket" },
    );
  }
  const refused = guardRequest(request.headers, opts);
  if (refused) return refuse(refused.status, refused.code, refused.error);
  const offered = (request.headers.get("sec-websocket-protocol") ?? "").split(",").map((p) => p.trim())
    .filter(Boolean);
  const unauthorized = checkToken(
    request.headers,
    opts,
    "pass DISPATCH_TOKEN as ?token=, as a `bearer.<token>` WebSocket protocol, or as Authorization: Bearer",
    [
      new URL(request.url).searchParams.get("token"),
      ...offered.filter((p) => p.startsWith(BEARER_PROTOCOL_PREFIX)).map((p) =>
        p.slice(BEARER_PROTOCOL_PREFIX.length)
      ),
    ],
  );
  if (unauthorized) return refuse(unauthorized.status, unauthorized.code, unauthorized.error);
  // A browser that offered protocols fails the connection unless one is selected: prefer a real one.
  const protocol = offered.find((p) => !p.startsWith(BEARER_PROTOCOL_PREFIX)) ?? offered[0];
  let socket: WebSocket, response: Response;
  try {
    ({ socket, response } = Deno.upgradeWebSocket(request, {
      ...(protocol ? { protocol } : {}),
      idleTimeout: opts.idleTimeoutSec,
    }));
  } catch (error) {
    return refuse(400, "bad_upgrade", `not a valid WebSocket upgrade: ${(error as Error).message}`);
  }
  accept(socket);
  return response;
}

function refuse(status: number, code: string, error: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ error, code }), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}
