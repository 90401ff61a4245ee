// Errors a caller can act on. Transports map `kind` to their own status codes (HTTP: 400/404/409).
export type ErrorKind = "invalid" | "not_found" | "conflict" | "unavailable";

export class DispatchError extends Error {
  constructor(readonly kind: ErrorKind, readonly code: string, message: string) {
    super(message);
    this.name = "DispatchError";
  }
}

export const invalid = (code: string, message: string) => new DispatchError("invalid", code, message);
export const notFound = (code: string, message: string) => new DispatchError("not_found", code, message);
export const conflict = (code: string, message: string) => new DispatchError("conflict", code, message);
