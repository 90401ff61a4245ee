// What transport-http offers other extensions: adding routes (with their contract) and starting the server.
import type { Context } from "hono";
import { defineKey } from "../../src/kernel/mod.ts";
import type { BodyOf, ParamsOf, QueryOf, ResponseOf, RouteDef } from "../../src/contract/route.ts";

export interface RouteInput<D> {
  params: ParamsOf<D>;
  query: QueryOf<D>;
  body: BodyOf<D>;
  /** The raw request, for headers and the client's disconnect signal. */
  request: Request;
  context: Context;
}

/** A handler answers the route's response shape, or a full Response (streams, upgrades). */
export type RouteHandler<D> = (
  input: RouteInput<D>,
) => Promise<ResponseOf<D> | Response> | ResponseOf<D> | Response;

export interface HttpServer {
  // deno-lint-ignore no-explicit-any
  route<D extends RouteDef<any, any, any, any>>(def: D, handler: RouteHandler<D>): void;
  /** Every route served, for the OpenAPI document. */
  // deno-lint-ignore no-explicit-any
  routes(): RouteDef<any, any, any, any>[];
  /** Starts listening once every extension has added its routes. */
  listen(): Promise<{ hostname: string; port: number }>;
}

export const HttpServerKey = defineKey<HttpServer>("transport-http");
