// The example extension's manifest: data only (the daemon reads it in a confined process before anything runs).
import { type ManifestInput, toolSpec } from "@dispatch/kernel";
import { helloInput } from "./tool_spec.ts";

export const manifest: ManifestInput = {
  abi: 1,
  id: "hello",
  version: "0.1.0",
  description: "hello: greets someone by name, and counts the greetings on a surface",
  // Exactly what the sandbox gets. This one needs nothing: no file, no network, no environment.
  permissions: {},
  // Declared up front, the tool is offered before the extension runs: its sandbox starts on the first call.
  tools: [{ ...toolSpec({ name: "hello", description: "Greets someone by name", inputSchema: helloInput }) }],
};
