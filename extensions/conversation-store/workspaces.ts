// Workspaces: named groups of conversations. `default` always exists; a workspace a conversation names is
// created on first use; deleting one moves its conversations to `default`, closed.
import type { Clock, SqlDatabase } from "../../src/kernel/mod.ts";
import { WORKSPACE_ID } from "../../src/contract/http.ts";
import { ConflictError, DEFAULT_WORKSPACE, type Workspace, type WorkspacePatch } from "./api.ts";
import { toWorkspace } from "./rows.ts";
import { checkWorkspace, checkWorkspacePatch, workspaceNotFound } from "./validation.ts";

/** A workspace with its derived activity (its conversations' newest) and conversation count. */
const VIEW = `SELECT w.id AS id, w.title AS title, w.default_cwd AS default_cwd, w.created_at AS created_at,
      MAX(w.last_activity_at, COALESCE(MAX(c.last_activity_at), 0)) AS last_activity_at,
      COUNT(c.id) AS conversation_count
    FROM workspaces w LEFT JOIN conversations c ON c.workspace_id = w.id`;

export const WORKSPACE_SQL = {
  ensure: `INSERT INTO workspaces (id, title, default_cwd, created_at, last_activity_at)
    VALUES (?1, ?1, NULL, ?2, ?2) ON CONFLICT (id) DO NOTHING`,
  insert: `INSERT INTO workspaces (id, title, default_cwd, created_at, last_activity_at)
    VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
  update: `UPDATE workspaces SET title = ?, default_cwd = ? WHERE id = ?`,
  get: `${VIEW} WHERE w.id = ? GROUP BY w.id`,
  list: `${VIEW} GROUP BY w.id ORDER BY last_activity_at DESC, w.created_at DESC, w.id`,
  conversations: `SELECT id, status FROM conversations WHERE workspace_id = ? ORDER BY id`,
  evacuate: `UPDATE conversations SET workspace_id = ?, status = 'closed' WHERE workspace_id = ?`,
  delete: `DELETE FROM workspaces WHERE id = ?`,
} as const;

export class Workspaces {
  constructor(private readonly db: SqlDatabase, private readonly clock: Clock) {}

  /** Inside a transaction: makes sure the workspace a conversation names exists. */
  ensure(id: string, now: number): void {
    this.db.prepare(WORKSPACE_SQL.ensure).run(id, now);
  }

  get(id: string): Workspace | undefined {
    if (typeof id !== "string" || !WORKSPACE_ID.test(id)) return undefined;
    const row = this.db.prepare(WORKSPACE_SQL.get).get(id);
    return row ? toWorkspace(row) : undefined;
  }

  list(): Workspace[] {
    return this.db.prepare(WORKSPACE_SQL.list).all().map(toWorkspace);
  }

  put(id: string, patch: WorkspacePatch = {}): { workspace: Workspace; created: boolean } {
    const wid = checkWorkspace(id);
    const p = checkWorkspacePatch(patch);
    return this.db.transaction(() => {
      const existing = this.get(wid);
      if (existing) return { workspace: this.#update(existing, p), created: false };
      const now = this.clock.now();
      this.db.prepare(WORKSPACE_SQL.insert).run(wid, p.title ?? wid, p.defaultCwd ?? null, now, now);
      return { workspace: this.get(wid)!, created: true };
    });
  }

  update(id: string, patch: WorkspacePatch): Workspace {
    const wid = checkWorkspace(id);
    const p = checkWorkspacePatch(patch);
    return this.db.transaction(() => {
      const existing = this.get(wid);
      if (!existing) throw workspaceNotFound(wid);
      return this.#update(existing, p);
    });
  }

  delete(id: string): { moved: string[]; closed: string[] } {
    const wid = checkWorkspace(id);
    if (wid === DEFAULT_WORKSPACE) {
      throw new ConflictError(`the "${DEFAULT_WORKSPACE}" workspace cannot be deleted`);
    }
    return this.db.transaction(() => {
      if (!this.get(wid)) throw workspaceNotFound(wid);
      const rows = this.db.prepare(WORKSPACE_SQL.conversations).all(wid);
      this.db.prepare(WORKSPACE_SQL.evacuate).run(DEFAULT_WORKSPACE, wid);
      this.db.prepare(WORKSPACE_SQL.delete).run(wid);
      return {
        moved: rows.map((r) => String(r.id)),
        closed: rows.filter((r) => r.status !== "closed").map((r) => String(r.id)),
      };
    });
  }

  #update(existing: Workspace, patch: WorkspacePatch): Workspace {
    const title = patch.title ?? existing.title;
    const defaultCwd = patch.defaultCwd === undefined ? existing.defaultCwd : patch.defaultCwd;
    this.db.prepare(WORKSPACE_SQL.update).run(title, defaultCwd, existing.id);
    return { ...existing, title, defaultCwd };
  }
}
