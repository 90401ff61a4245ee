// conversation-store: conversations, their chunk history, turn metrics and event logs on the `conversations`
// database of the storage service. On activation it migrates the schema and closes every turn the previous run
// left running (crash, SIGKILL) as interrupted, so no conversation stays stuck `active`.
import { type ExtensionContext, type ExtensionModule, StorageKey } from "../../src/kernel/mod.ts";
import { ConversationStoreKey } from "./api.ts";
import { openConversationStore } from "./store.ts";

export * from "./api.ts";
export { manifest } from "./manifest.ts";
export { openConversationStore, SqliteConversationStore, STREAMING_ACTIVITY_RESOLUTION_MS } from "./store.ts";
export {
  INTERRUPTED_CODE,
  INTERRUPTED_MESSAGE,
  INTERRUPTED_TOOL_CONTENT,
  reconcile,
  type ReconcileState,
  type Repairs,
  type RunningTurnState,
  type TurnRepair,
  turnStatusForDone,
} from "./reconcile.ts";
export { migrate, SCHEMA_VERSION, SchemaTooNewError } from "./schema.ts";

/** The database (file `conversations.sqlite` under the data directory) this extension owns. */
export const DATABASE_NAME = "conversations";

/** Migrates, repairs what the previous run left unfinished, and provides ConversationStoreKey. */
export function activate(ctx: ExtensionContext): void {
  const db = ctx.services.require(StorageKey).openDatabase(DATABASE_NAME);
  const { store, repairs } = openConversationStore(db, { clock: ctx.clock });
  if (repairs.turns.length > 0 || repairs.idle.length > 0) {
    ctx.log.warn("closed turns the previous run left unfinished", {
      turns: repairs.turns.map((t) => ({
        conversationId: t.conversationId,
        turnId: t.turnId,
        status: t.status,
      })),
      idled: repairs.idle.length,
    });
  }
  ctx.services.provide(ConversationStoreKey, store);
  // The database is closed by storage-sqlite when it deactivates (after this extension).
}

export const conversationStore: ExtensionModule = { activate };

export default conversationStore;
