// The tool's schema, shared by the manifest (which declares it) and the module (which registers it).
import { z } from "zod";

export const helloInput = z.object({
  name: z.string().min(1).max(100).describe("Who to greet"),
});
