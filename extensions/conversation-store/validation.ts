// Arguments from outside the store, checked at its door; the errors it throws for what does not exist.
import { WORKSPACE_ID } from "../../src/contract/http.ts";
import {
  type ConversationStatus,
  ConversationStatuses,
  InvalidInputError,
  NotFoundError,
  type WorkspacePatch,
} from "./api.ts";

const MAX_ID_LENGTH = 256;
const MAX_TITLE_LENGTH = 1000;
const MAX_WORKSPACE_TITLE_LENGTH = 200;
const MAX_PATH_LENGTH = 4096;

export const notFound = (id: string) =>
  new NotFoundError(`conversation ${JSON.stringify(id)} does not exist`);
export const workspaceNotFound = (id: string) =>
  new NotFoundError(`workspace ${JSON.stringify(id)} does not exist`);
export const turnNotFound = (cid: string, turnId: string) =>
  new NotFoundError(
    `turn ${JSON.stringify(turnId)} of conversation ${
      JSON.stringify(cid)
    } does not exist (call beginTurn first)`,
  );

export function checkId(id: unknown, what: string): string {
  // deno-lint-ignore no-control-regex
  if (typeof id !== "string" || id.length === 0 || id.length > MAX_ID_LENGTH || /[\x00-\x1f\x7f]/.test(id)) {
    throw new InvalidInputError(`${what} must be 1 to ${MAX_ID_LENGTH} printable characters`);
  }
  return id;
}

export function checkTitle(title: unknown): string {
  if (typeof title !== "string" || title.length > MAX_TITLE_LENGTH) {
    throw new InvalidInputError(`title must be a string of at most ${MAX_TITLE_LENGTH} characters`);
  }
  return title;
}

export function checkWorkspace(id: unknown): string {
  if (typeof id !== "string" || !WORKSPACE_ID.test(id)) {
    throw new InvalidInputError(
      `workspace id ${JSON.stringify(id)} is not a slug (lower-case letters, digits and inner dashes, 1-40)`,
    );
  }
  return id;
}

export function checkWorkspacePatch(patch: unknown): WorkspacePatch {
  if (typeof patch !== "object" || patch === null) throw new InvalidInputError("patch must be an object");
  const { title, defaultCwd, ...rest } = patch as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length) throw new InvalidInputError(`cannot update workspace field "${unknown[0]}"`);
  if (
    title !== undefined &&
    (typeof title !== "string" || title.trim() === "" || title.length > MAX_WORKSPACE_TITLE_LENGTH)
  ) {
    throw new InvalidInputError(
      `workspace title must be a non-empty string of at most ${MAX_WORKSPACE_TITLE_LENGTH} characters`,
    );
  }
  if (defaultCwd !== undefined) {
    checkNullableString(defaultCwd, "defaultCwd");
    if (typeof defaultCwd === "string" && (defaultCwd === "" || defaultCwd.length > MAX_PATH_LENGTH)) {
      throw new InvalidInputError(`defaultCwd must be 1 to ${MAX_PATH_LENGTH} characters, or null`);
    }
  }
  return {
    ...(title !== undefined ? { title: title as string } : {}),
    ...(defaultCwd !== undefined ? { defaultCwd: defaultCwd as string | null } : {}),
  };
}

export function checkStatus(status: unknown): ConversationStatus {
  if (!ConversationStatuses.includes(status as ConversationStatus)) {
    throw new InvalidInputError(
      `status must be one of ${ConversationStatuses.join(", ")}, not ${JSON.stringify(status)}`,
    );
  }
  return status as ConversationStatus;
}

export function checkNullableString(value: unknown, what: string): string | null {
  if (value !== null && typeof value !== "string") {
    throw new InvalidInputError(`${what} must be a string or null`);
  }
  return value;
}

export function checkCount(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidInputError(`${what} must be a non-negative integer, not ${JSON.stringify(value)}`);
  }
  return value;
}

export function checkTime(value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new InvalidInputError(`lastActivityAt must be a non-negative number of milliseconds`);
  }
  return value;
}
