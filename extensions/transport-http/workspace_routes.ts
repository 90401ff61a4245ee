// The workspace routes: list, create/update, read, rename, default cwd, delete.
import { conflict, invalid, notFound } from "../../src/kernel/mod.ts";
import { routes, webClientRoutes } from "../../src/contract/http.ts";
import { DEFAULT_WORKSPACE, type Workspace } from "../conversation-store/api.ts";
import { ConversationStatusChanged } from "../session-orchestrator/api.ts";
import type { RouteDeps } from "./conversation_routes.ts";

/** A workspace as the wire shows it: the reference's `defaultComputerId` is always null (tools run locally). */
export const workspaceView = (w: Workspace) => ({ ...w, defaultComputerId: null });

export function mountWorkspaceRoutes({ server, store, orchestrator, events, checkDir }: RouteDeps): void {
  const known = (id: string): Workspace => {
    const w = store.getWorkspace(id);
    if (!w) throw notFound("unknown_workspace", `no workspace ${id}`);
    return w;
  };
  const checkDefaultCwd = async (cwd: string | null | undefined) => {
    if (typeof cwd === "string") await checkDir(cwd);
  };

  server.route(routes.listWorkspaces, () => ({ workspaces: store.listWorkspaces().map(workspaceView) }));

  server.route(routes.getWorkspace, ({ params }) => workspaceView(known(params.id)));

  server.route(routes.putWorkspace, async ({ params, body }) => {
    await checkDefaultCwd(body.defaultCwd);
    return workspaceView(
      store.putWorkspace(params.id, {
        ...(body.title !== undefined ? { title: body.title } : {}),
        ...(body.defaultCwd !== undefined ? { defaultCwd: body.defaultCwd } : {}),
      }).workspace,
    );
  });

  server.route(routes.setWorkspaceTitle, ({ params, body }) => {
    known(params.id);
    return workspaceView(store.updateWorkspace(params.id, { title: body.title }));
  });

  server.route(routes.setWorkspaceDefaultCwd, async ({ params, body }) => {
    known(params.id);
    await checkDefaultCwd(body.defaultCwd);
    return workspaceView(store.updateWorkspace(params.id, { defaultCwd: body.defaultCwd }));
  });

  server.route(webClientRoutes.setWorkspaceDefaultComputer, ({ params, body }) => {
    const w = known(params.id);
    if (body.computerId !== null) throw noComputer(body.computerId);
    return workspaceView(w);
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

/** Dispatch runs tools on this machine only: a named computer is refused, in words a person can act on. */
export const noComputer = (computerId: string) =>
  invalid(
    "unknown_computer",
    `unknown computer ${
      JSON.stringify(computerId.slice(0, 100))
    }: Dispatch runs tools on this machine only (send computerId null)`,
  );
