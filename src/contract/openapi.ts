// The OpenAPI 3.1 document of a route table: every route's zod schemas through `z.toJSONSchema` (JSON Schema
// 2020-12, which OpenAPI 3.1 uses as is). The server serves the document of the routes it actually answers.
import { z } from "zod";
import { ErrorBodySchema } from "./http.ts";
import { PATH_PARAM, type RouteDef } from "./route.ts";

export interface OpenApiInfo {
  title: string;
  version: string;
  description?: string;
}

type Json = Record<string, unknown>;

const ERROR_REF = { $ref: "#/components/schemas/Error" };

/** Why a status applies to every route that can produce it (routes add their own in `errors`). */
const COMMON = {
  400: "invalid path, query or body (the message says which field and why)",
  401: "missing or wrong bearer token (when the daemon has DISPATCH_TOKEN set)",
  404: "no such route",
  405: "the path exists with other methods (see the Allow header)",
  413: "body over the size limit",
} as const;

// deno-lint-ignore no-explicit-any
export function openApiDocument(routes: readonly RouteDef<any, any, any, any>[], info: OpenApiInfo): Json {
  const paths: Record<string, Record<string, Json>> = {};
  const seen = new Set<string>();
  for (const def of routes) {
    const key = `${def.method} ${def.path}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const path = def.path.replace(PATH_PARAM, "{$1}");
    (paths[path] ??= {})[def.method.toLowerCase()] = operation(def);
  }
  return {
    openapi: "3.1.0",
    info,
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    paths,
    components: {
      schemas: { Error: jsonSchema(ErrorBodySchema, "output") },
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          description:
            "The daemon's DISPATCH_TOKEN; required on every route but the public ones when it is set",
        },
      },
    },
    security: [{ bearer: [] }],
  };
}

// deno-lint-ignore no-explicit-any
function operation(def: RouteDef<any, any, any, any>): Json {
  const parameters = [...parametersOf(def.params, "path"), ...parametersOf(def.query, "query")];
  const responses: Record<string, Json> = { "200": success(def) };
  const error = (status: number, description: string) => {
    responses[String(status)] = { description, content: { "application/json": { schema: ERROR_REF } } };
  };
  if (def.params || def.query || def.body) error(400, COMMON[400]);
  if (!def.public) error(401, COMMON[401]);
  error(404, COMMON[404]);
  error(405, COMMON[405]);
  if (def.body) error(413, COMMON[413]);
  for (const [status, why] of Object.entries(def.errors ?? {})) {
    const common = COMMON[Number(status) as keyof typeof COMMON];
    error(Number(status), common && common !== why ? `${why}; or ${common}` : why);
  }
  return {
    operationId: operationId(def.method, def.path),
    summary: def.summary,
    ...(parameters.length ? { parameters } : {}),
    ...(def.body
      ? {
        requestBody: {
          required: true,
          content: { "application/json": { schema: jsonSchema(def.body, "input") } },
        },
      }
      : {}),
    responses,
    ...(def.public ? { security: [] } : {}),
  };
}

// deno-lint-ignore no-explicit-any
function success(def: RouteDef<any, any, any, any>): Json {
  const schema = jsonSchema(def.response, "output");
  if (def.stream === "ndjson") {
    return {
      description: "a stream of JSON objects, one per line, each matching the schema",
      headers: {
        "X-Conversation-Id": { description: "the conversation's id", schema: { type: "string" } },
      },
      content: { "application/x-ndjson": { schema } },
    };
  }
  return { description: "OK", content: { "application/json": { schema } } };
}

function parametersOf(schema: z.ZodType | undefined, where: "path" | "query"): Json[] {
  if (!schema) return [];
  const json = jsonSchema(schema, "input");
  const properties = (json.properties ?? {}) as Record<string, Json>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => ({
    name,
    in: where,
    required: where === "path" || required.has(name),
    ...(typeof property.description === "string" ? { description: property.description } : {}),
    schema: property,
  }));
}

/** A route's schema as JSON Schema: what clients send (`input`, before transforms) or receive (`output`). */
export function jsonSchema(schema: z.ZodType, io: "input" | "output"): Json {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as Json;
  return rest;
}

/** `PUT /conversations/:id/reasoning-effort` → `putConversationsIdReasoningEffort`. */
export function operationId(method: string, path: string): string {
  const words = path.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return method.toLowerCase() + words.map((w) => w[0].toUpperCase() + w.slice(1)).join("");
}
