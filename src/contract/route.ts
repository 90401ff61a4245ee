// A route is data: method, path, and the zod schemas of what goes in and out. The server validates with it,
// the CLI parses with it, and the OpenAPI document is generated from it, so the three cannot drift.
import type { z } from "zod";

export type Method = "GET" | "POST" | "PUT" | "DELETE";

export interface RouteDef<
  P extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType = z.ZodType,
  R extends z.ZodType = z.ZodType,
> {
  method: Method;
  /** Hono-style path, `:name` for parameters. */
  path: string;
  summary: string;
  params?: P;
  query?: Q;
  body?: B;
  /** The JSON answer; for streaming routes, the schema of one NDJSON line. */
  response: R;
  /** `ndjson` routes stream one `response` per line. */
  stream?: "ndjson";
  /** Status codes (besides 200) this route answers, with why; 400/401/413 apply to all. */
  errors?: Record<number, string>;
  /** Served without a token even when DISPATCH_TOKEN is set. */
  public?: boolean;
}

export const route = <P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType, R extends z.ZodType>(
  def: RouteDef<P, Q, B, R>,
): RouteDef<P, Q, B, R> => def;

export type ParamsOf<D> = D extends RouteDef<infer P, z.ZodType, z.ZodType, z.ZodType> ? z.infer<P> : never;
export type QueryOf<D> = D extends RouteDef<z.ZodType, infer Q, z.ZodType, z.ZodType> ? z.infer<Q> : never;
export type BodyOf<D> = D extends RouteDef<z.ZodType, z.ZodType, infer B, z.ZodType> ? z.infer<B> : never;
export type ResponseOf<D> = D extends RouteDef<z.ZodType, z.ZodType, z.ZodType, infer R> ? z.infer<R> : never;

/** A path parameter in a route's path, `:name`; the name is group 1. */
export const PATH_PARAM = /:([A-Za-z_][A-Za-z0-9_]*)/g;

/** `/conversations/:id/status` with `{id: "c1"}` → `/conversations/c1/status`. */
export function fillPath(path: string, params: Record<string, string> = {}): string {
  return path.replace(PATH_PARAM, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`missing path parameter ${name}`);
    return encodeURIComponent(value);
  });
}
