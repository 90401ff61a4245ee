// The workspace routes: list, create/update, read, rename, default cwd, delete.
import { conflict, notFound } from "../../src/kernel/mod.ts";
import { routes } from "../../src/contract/http.ts";
import { DEFAULT_WORKSPACE, type Workspace } from "../conversation-store/api.ts";
import { ConversationStatusChanged } from "../session-orchestrator/api.ts";
import type { RouteDeps } from "./conversation_routes.ts";

export function mountWorkspaceRoutes({ server, store, orchestrator, events, checkDir }: RouteDeps): void {
  const known = (id: string): Workspace => {
    const w = store.getWorkspace(id);
    if (!w) throw notFound("unknown_workspace", `no workspace ${id}`);
    return w;
  };
  const checkDefaultCwd = async (cwd: string | null | undefined) => {
    if (typeof cwd === "string") await checkDir(cwd);
  };

  server.route(routes.listWorkspaces, () => ({ workspaces: store.listWorkspaces() }));

  server.route(routes.getWorkspace, ({ params }) => known(params.id));

  server.route(routes.putWorkspace, async ({ params, body }) => {
    await checkDefaultCwd(body.defaultCwd);
    return store.putWorkspace(params.id, {
      ...(body.title !== undefined ? { title: body.title } : {}),
      ...(body.defaultCwd !== undefined ? { defaultCwd: body.defaultCwd } : {}),
    }).workspace;
  });

  server.route(routes.setWorkspaceTitle, ({ params, body }) => {
    known(params.id);
    return store.updateWorkspace(params.id, { title: body.title });
  });

  server.route(routes.setWorkspaceDefaultCwd, async ({ params, body }) => {
    known(params.id);
    await checkDefaultCwd(body.defaultCwd);
    return store.updateWorkspace(params.id, { defaultCwd: body.defaultCwd });
  });

  server.route(routes.deleteWorkspace, async ({ params }) => {
    known(params.id);
    if (params.id === DEFAULT_WORKSPACE) {
      throw conflict("default_workspace", `the "${DEFAULT_WORKSPACE}" workspace cannot be deleted`);
    }
    // Abort what runs in it first: a closed conversation runs nothing.
    const members = store.list({ workspaceId: params.id, status: ["active", "idle"] });
    await Promise.all(members.map((c) => orchestrator.stop(c.id)));
    const { closed } = store.deleteWorkspace(params.id);
    for (const id of closed) {
      events.emit(ConversationStatusChanged, {
        conversationId: id,
        status: "closed",
        workspaceId: DEFAULT_WORKSPACE,
      });
    }
    return { workspaceId: params.id, closedCount: closed.length };
  });
}
