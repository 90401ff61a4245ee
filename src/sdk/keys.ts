// Service keys that sandboxed extensions may import: this module is in the graph every sandbox Worker preloads
// (src/sdk/mod.ts), so importing it needs no read access outside the extension's folder. The services' types
// are imported as types only (erased at run time). The composition root (or the operator's grant for an
// external extension) decides which of these services a sandbox may reach.
import { defineKey, type Key } from "../kernel/bus.ts";
import type { SurfaceRegistry } from "../../extensions/surface-registry/api.ts";

export type { SurfaceRegistry };

/** The surface registry (surface-registry): contribute, update and withdraw UI surfaces. */
export const SurfaceRegistryKey: Key<SurfaceRegistry> = defineKey<SurfaceRegistry>("surface-registry");
