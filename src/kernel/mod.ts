// The kernel's public face: what extensions and the composition root import.
export * from "./contracts.ts";
export * from "./bus.ts";
export * from "./wire.ts";
export * from "./tools.ts";
export * from "./host.ts";
export * from "./run_turn.ts";
export { Channel } from "./channel.ts";
export * from "./errors.ts";
