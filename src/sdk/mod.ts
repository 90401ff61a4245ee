// The extension author's kit, in one import. Sandbox workers preload this graph (src/sandbox/worker_bootstrap.ts),
// so a sandboxed extension may import it (or any module below) without read access to src/.
export * from "./roots.ts";
export * from "./tool.ts";
export * from "./workspace.ts";
export * from "./workspace_tool.ts";
export * from "./text.ts";
export * from "./fs.ts";
export * from "./glob.ts";
export * from "./walk.ts";
export * from "./service.ts";
export * from "./keys.ts";
