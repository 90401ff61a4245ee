// The transport contract in one import: every HTTP route with its zod schemas, the WebSocket protocol, the
// AgentEvent wire vocabulary, and the OpenAPI generator. No I/O: any client (CLI, web, scripts) can import it.
export * from "../kernel/wire.ts";
export * from "./events.ts";
export * from "./route.ts";
export * from "./http.ts";
export * from "./session_routes.ts";
export * from "./ui.ts";
export * from "./openapi.ts";
