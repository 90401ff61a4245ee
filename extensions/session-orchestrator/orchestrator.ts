// One turn end to end: resolve conversation, model and tools; run the kernel's loop; store every event before
// anyone sees it; seal. Turns run detached from whoever asked, so a client that goes away loses nothing.
import type { AgentEvent } from "../../src/contract/events.ts";
import {
  conflict,
  DispatchError,
  type Events,
  type Hooks,
  invalid,
  isVeto,
  type Logger,
  type ModelMessage,
  notFound,
  runTurn,
  type ToolHandle,
  type TurnOutcome,
} from "../../src/kernel/mod.ts";
import type {
  Conversation,
  ConversationStore,
  EventCursor,
  StorageUnavailableError,
} from "../conversation-store/api.ts";
import { type ModelCatalog, type ResolvedModel, UnknownModelError } from "../credential-store/api.ts";
import { chunksToMessages } from "./messages.ts";
import { INTERRUPTED_CODE, INTERRUPTED_MESSAGE } from "../conversation-store/reconcile.ts";
import {
  BeforeTurnHook,
  ConversationOpen,
  ConversationStatusChanged,
  DEFAULT_REASONING_EFFORT,
  type DrainResult,
  type Orchestrator,
  type PrefixOptions,
  type RequestPrefix,
  SessionEvent,
  type SteeringSource,
  type TurnHandle,
  type TurnRequest,
} from "./api.ts";

export interface OrchestratorDeps {
  store: ConversationStore;
  catalog: ModelCatalog;
  tools: () => ToolHandle[];
  hooks: Hooks;
  events: Events;
  log: Logger;
  /** Checks a working directory before a turn uses it; throws DispatchError when unusable. */
  checkCwd?: (cwd: string) => Promise<string>;
  maxSteps?: number;
  newId?: () => string;
}

class Run implements TurnHandle {
  readonly controller = new AbortController();
  /** Set when the store could not commit the turn's events: the turn stops and is closed by repair. */
  failure: StorageUnavailableError | undefined;
  /** Aborted by a shutdown (drain): stored as interrupted, not aborted. */
  interrupted = false;
  settled: Promise<TurnOutcome | undefined>;
  resolveSettled!: (o: TurnOutcome | undefined) => void;

  constructor(
    private readonly store: ConversationStore,
    readonly conversationId: string,
    readonly turnId: string,
    readonly afterEventSeq: number,
  ) {
    this.settled = new Promise((resolve) => this.resolveSettled = resolve);
  }

  follow(): EventCursor {
    return followTurn(this.store, this.conversationId, this.turnId, this.afterEventSeq);
  }
}

/** A turn's events from the feed: its first, then live ones, to its `turn-sealed`. */
export function followTurn(
  store: ConversationStore,
  conversationId: string,
  turnId: string,
  afterEventSeq: number,
): EventCursor {
  return store.follow(conversationId, afterEventSeq, {
    until: (e) => e.event.type === "turn-sealed" && e.event.turnId === turnId,
  });
}

interface TurnOrigin {
  conversationId: string;
  turnId: string;
  afterEventSeq: number;
}

const CACHED_HISTORIES = 64;

export class SessionOrchestrator implements Orchestrator {
  #runs = new Map<string, Run>();
  /** Recent client request ids → their turn, so a retried POST attaches instead of running twice. */
  #byRequest = new Map<string, { conversationId: string; message: string; started: Promise<TurnOrigin> }>();
  /** Turns a failed commit broke that the store could not close yet (conversation → turn). */
  #repairs = new Map<string, { turnId: string; reason: { message: string; code: string } }>();
  /** Conversations whose turn is being set up (between the request and its first event). */
  #reserved = new Set<string>();
  /** Reserved conversations that were stopped before their turn started. */
  #cancelled = new Set<string>();
  /** Model messages of recently used conversations (an LRU), so a turn does not reload its history. */
  #messages = new Map<string, ModelMessage[]>();
  #steering = new Set<SteeringSource>();
  #idle = new Map<string, Set<() => void>>();
  /** Set once `drain` is called: new turns are refused from then on. */
  #draining = false;

  constructor(private readonly deps: OrchestratorDeps) {
    deps.store.onCommit((e) => deps.events.emit(SessionEvent, e));
    deps.store.onCommitFailure((ids, error) => {
      for (const id of ids) {
        const run = this.#runs.get(id);
        if (!run || run.failure) continue;
        run.failure = error;
        run.controller.abort();
      }
    });
  }

  async submit(req: TurnRequest): Promise<TurnHandle> {
    const requestId = req.clientRequestId;
    if (requestId) {
      const known = this.#byRequest.get(requestId);
      if (known) {
        if (req.conversationId && req.conversationId !== known.conversationId) {
          throw conflict(
            "request_id_reused",
            `client request id ${requestId} already started a turn in another conversation`,
          );
        }
        if (req.message !== known.message) {
          throw conflict(
            "request_id_reused",
            `client request id ${requestId} already started a turn with a different message; use a new id`,
          );
        }
        return this.#attach(await known.started);
      }
    }
    if (this.#draining) throw shuttingDown();
    this.#checkStorage();
    const conversationId = req.conversationId ?? this.#newId();
    this.#reserve(conversationId);
    // Recorded before the first await, so a retry racing this one attaches instead of running twice.
    const started = this.#start(conversationId, req).finally(() => {
      this.#reserved.delete(conversationId);
      this.#cancelled.delete(conversationId); // a stop that came too late to matter is not kept for the next turn
    });
    if (requestId) {
      const attached = started.then((run) => this.#origin(run));
      // Only a retry awaits this; without one, a failed start (the caller has it) must not go unhandled.
      attached.catch(() => {});
      this.#byRequest.set(requestId, { conversationId, message: req.message, started: attached });
      started.catch(() => this.#byRequest.delete(requestId));
      if (this.#byRequest.size > 1000) this.#byRequest.delete(this.#byRequest.keys().next().value!);
    }
    return await started;
  }

  /**
   * After a failed commit, new turns wait until the turns it broke are closed in the store (a 503 until then):
   * each submit tries again, so the daemon recovers by itself once the disk has room.
   */
  #checkStorage(): void {
    for (const [conversationId, repair] of this.#repairs) {
      this.deps.store.abandonTurn(conversationId, repair.turnId, repair.reason); // throws while still full
      this.#repairs.delete(conversationId);
      this.#statusChanged(conversationId);
    }
  }

  /** One turn at a time per conversation: a second submit, before or after the first started, is a 409. */
  #reserve(conversationId: string): void {
    if (this.#runs.has(conversationId) || this.#reserved.has(conversationId)) {
      throw conflict(
        "turn_running",
        `a turn is already running in conversation ${conversationId}; stop it or wait`,
      );
    }
    this.#reserved.add(conversationId);
  }

  async #start(conversationId: string, req: TurnRequest, forked = false): Promise<Run> {
    const { store } = this.deps;
    const existing = store.get(conversationId);
    const { resolved, cwd } = await this.#resolve(existing, req);
    const fork = existing && !forked
      ? await this.#beforeTurn(conversationId, resolved.name, req.message)
      : "";
    // A drain that began while this turn was being set up: it does not start (drain waits for running turns only).
    if (this.#draining) throw shuttingDown();
    if (this.#cancelled.delete(conversationId)) {
      throw conflict("stopped", `the turn in conversation ${conversationId} was stopped before it started`);
    }
    if (fork && fork !== conversationId) {
      this.#reserve(fork);
      try {
        return await this.#start(fork, { ...req, conversationId: fork }, true);
      } finally {
        this.#reserved.delete(fork);
        this.#cancelled.delete(fork);
      }
    }

    const conversation = existing ??
      store.create({ id: conversationId, workspaceId: req.workspaceId, title: titleFrom(req.message) });
    const patch = {
      ...(conversation.title === "" ? { title: titleFrom(req.message) } : {}),
      ...(req.model ? { model: resolved.name } : {}),
      ...(req.cwd ? { cwd } : {}),
      ...(req.reasoningEffort ? { reasoningEffort: req.reasoningEffort } : {}),
      ...(req.workspaceId ? { workspaceId: req.workspaceId } : {}),
      ...(conversation.status === "closed" ? { status: "idle" as const } : {}),
    };
    if (Object.keys(patch).length > 0) store.update(conversation.id, patch);

    const turnId = this.#newId();
    const prefix = this.#prefixOf(
      conversationId,
      resolved,
      cwd,
      req.reasoningEffort ?? conversation.reasoningEffort ?? undefined,
    );
    const afterEventSeq = store.beginTurn(conversationId, turnId, resolved.name);
    const run = new Run(store, conversationId, turnId, afterEventSeq);
    this.#runs.set(conversationId, run);
    this.#statusChanged(conversationId);
    store.append({ type: "user-message", conversationId, turnId, text: req.message });

    void this.#drive(run, {
      ...prefix,
      messages: [...prefix.messages, { role: "user", content: req.message }],
    });
    return run;
  }

  /** The conversation the turn runs in, as the `session.before-turn` hooks decide ("" when they keep it). */
  async #beforeTurn(conversationId: string, modelName: string, message: string): Promise<string> {
    if (!this.deps.hooks.has(BeforeTurnHook)) return "";
    const plan = { conversationId, modelName, message, messages: [...this.#history(conversationId)] };
    const out = await this.deps.hooks.run(BeforeTurnHook, plan);
    return isVeto(out) ? "" : out.conversationId;
  }

  async prefix(conversationId: string, options: PrefixOptions = {}): Promise<RequestPrefix> {
    const existing = this.#known(conversationId);
    const { resolved, cwd } = await this.#resolve(existing, options);
    return this.#prefixOf(
      conversationId,
      resolved,
      cwd,
      options.reasoningEffort ?? existing.reasoningEffort ?? undefined,
    );
  }

  /** Model and working directory of a turn: the request's, else the conversation's, else the defaults. */
  async #resolve(
    existing: Conversation | undefined,
    req: PrefixOptions & { workspaceId?: string },
  ): Promise<{ resolved: ResolvedModel; cwd: string | undefined }> {
    const { catalog } = this.deps;
    const modelName = req.model ?? existing?.model ?? catalog.defaultModel();
    if (!modelName) throw invalid("no_model", "no model given and no default model (set DISPATCH_MODEL)");
    let resolved;
    try {
      resolved = await catalog.check(modelName);
    } catch (error) {
      if (error instanceof UnknownModelError) throw invalid("unknown_model", error.message);
      throw error;
    }
    const workspace = this.deps.store.getWorkspace(existing?.workspaceId ?? req.workspaceId ?? "default");
    const cwdWanted = req.cwd ?? existing?.cwd ?? workspace?.defaultCwd ?? undefined;
    const cwd = cwdWanted && this.deps.checkCwd ? await this.deps.checkCwd(cwdWanted) : cwdWanted;
    return { resolved, cwd };
  }

  /**
   * The one place a turn's request is put together: `submit` and `prefix` both build it here. The effort is the
   * request's, else the conversation's, else the default.
   */
  #prefixOf(
    conversationId: string,
    resolved: ResolvedModel,
    cwd: string | undefined,
    reasoningEffort: string | undefined,
  ): RequestPrefix {
    return {
      conversationId,
      provider: resolved.provider,
      modelName: resolved.name,
      model: resolved.model,
      messages: [...this.#history(conversationId)],
      tools: this.deps.tools(),
      reasoningEffort: reasoningEffort ?? DEFAULT_REASONING_EFFORT,
      ...(cwd !== undefined ? { cwd } : {}),
    };
  }

  running(conversationId: string): TurnHandle | undefined {
    return this.#runs.get(conversationId);
  }

  async stop(conversationId: string): Promise<boolean> {
    const run = this.#runs.get(conversationId);
    if (!run) {
      if (!this.#reserved.has(conversationId)) return false;
      this.#cancelled.add(conversationId); // the turn is being set up: it will not start
      return true;
    }
    run.controller.abort();
    await run.settled;
    return true;
  }

  async close(conversationId: string): Promise<{ abortedTurn: boolean }> {
    this.#known(conversationId);
    const abortedTurn = await this.stop(conversationId);
    if (this.#known(conversationId).status !== "closed") {
      this.deps.store.update(conversationId, { status: "closed" });
      this.#statusChanged(conversationId);
    }
    return { abortedTurn };
  }

  open(conversationId: string): { conversationId: string; workspaceId: string } {
    if (this.#known(conversationId).status === "closed") {
      this.deps.store.update(conversationId, { status: "idle" });
      this.#statusChanged(conversationId);
    }
    const { workspaceId } = this.#known(conversationId);
    this.deps.events.emit(ConversationOpen, { conversationId, workspaceId });
    return { conversationId, workspaceId };
  }

  #known(conversationId: string): Conversation {
    const c = this.deps.store.get(conversationId);
    if (!c) throw notFound("unknown_conversation", `no conversation ${conversationId}`);
    return c;
  }

  idle(conversationId: string): Promise<void> {
    if (!this.#runs.has(conversationId)) return Promise.resolve();
    return new Promise((resolve) => {
      let set = this.#idle.get(conversationId);
      if (!set) this.#idle.set(conversationId, set = new Set());
      set.add(resolve);
    });
  }

  addSteeringSource(source: SteeringSource): () => void {
    this.#steering.add(source);
    return () => this.#steering.delete(source);
  }

  /** Aborts every running turn and waits for each to be sealed (graceful shutdown). */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#runs.keys()].map((id) => this.stop(id)));
  }

  async drain(graceMs: number, cutShort?: Promise<unknown>): Promise<DrainResult> {
    this.#draining = true;
    const running = () => [...this.#runs.values()];
    const atStart = running().length;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const why = atStart === 0 ? "finished" : await Promise.race([
      Promise.all(running().map((run) => run.settled)).then(() => "finished" as const),
      new Promise<"grace">((resolve) => timer = setTimeout(() => resolve("grace"), graceMs)),
      ...(cutShort ? [cutShort.then(() => "cut-short" as const, () => "cut-short" as const)] : []),
    ]);
    clearTimeout(timer);
    // Turns set up during the wait (submitted just before the drain) are running now too.
    const left = running();
    for (const run of left) {
      run.interrupted = true;
      run.controller.abort();
    }
    await Promise.all(left.map((run) => run.settled));
    return { ended: why, running: atStart, interrupted: left.length };
  }

  async #drive(
    run: Run,
    call: RequestPrefix,
  ): Promise<void> {
    const { conversationId, turnId } = run;
    const { store } = this.deps;
    let outcome: TurnOutcome | undefined;
    let turn: ReturnType<typeof runTurn> | undefined;
    let unsealed = false;
    try {
      turn = runTurn({
        conversationId,
        turnId,
        provider: call.provider,
        model: call.model,
        messages: call.messages,
        tools: call.tools,
        signal: run.controller.signal,
        maxSteps: this.deps.maxSteps,
        reasoningEffort: call.reasoningEffort,
        cwd: call.cwd,
        hooks: this.deps.hooks,
        drainSteering: () => [...this.#steering].flatMap((source) => source(conversationId)),
      });
      while (!run.failure) {
        const next = await turn.next();
        if (next.done) {
          outcome = next.value;
          break;
        }
        if (run.failure) break;
        if (run.interrupted && next.value.type === "done") {
          store.append({
            type: "error",
            conversationId,
            turnId,
            message: INTERRUPTED_MESSAGE,
            code: INTERRUPTED_CODE,
          });
        }
        store.append(next.value);
      }
      if (!run.failure) store.append({ type: "turn-sealed", conversationId, turnId });
    } catch (error) {
      // runTurn does not throw for model or tool failures; this is a bug. Stop the provider stream and any
      // running tool, then close the turn with the error in its history.
      run.controller.abort();
      this.deps.log.error("turn failed", { conversationId, turnId, error: String(error) });
      const closing: AgentEvent[] = [
        { type: "error", conversationId, turnId, message: String(error), code: "internal" },
        { type: "done", conversationId, turnId, reason: "error" },
        { type: "turn-sealed", conversationId, turnId },
      ];
      // A turn whose seal cannot be queued is closed by repair below: its followers must not wait forever.
      unsealed = !closing.every((e) => this.#safeAppend(run, e));
      outcome = undefined;
    } finally {
      if (run.failure) await turn?.return(undefined as never).catch(() => {});
      await store.flushed(); // the failure listener has run by now if the turn's last commit failed
      if (run.failure) {
        this.#messages.delete(conversationId);
        this.#closeBroken(run, run.failure);
      } else if (unsealed) {
        this.#messages.delete(conversationId);
        this.#abandon(run, { message: "the turn failed and could not be closed normally", code: "internal" });
      } else if (outcome) {
        this.#cacheAfter(conversationId, turnId, call.messages);
      } else {
        this.#messages.delete(conversationId);
      }
      this.#runs.delete(conversationId);
      this.#statusChanged(conversationId);
      run.resolveSettled(run.failure ? undefined : outcome);
      for (const wake of this.#idle.get(conversationId) ?? []) wake();
      this.#idle.delete(conversationId);
    }
  }

  /** A turn whose events could not be stored: closed in the store now, or at the next submit that can. */
  #closeBroken(run: Run, failure: StorageUnavailableError): void {
    const { conversationId, turnId } = run;
    const reason = {
      message: `the turn stopped: its events could not be stored (${failure.message})`,
      code: failure.code,
    };
    this.deps.log.error("turn stopped: storage refused its events", {
      conversationId,
      turnId,
      error: failure.message,
    });
    this.#abandon(run, reason);
  }

  /** Closes a turn in the store from outside its loop (its followers get the closing events); else at the next submit. */
  #abandon(run: Run, reason: { message: string; code: string }): void {
    const { conversationId, turnId } = run;
    try {
      this.deps.store.abandonTurn(conversationId, turnId, reason);
    } catch {
      this.#repairs.set(conversationId, { turnId, reason });
    }
  }

  #origin(run: Run): TurnOrigin {
    return { conversationId: run.conversationId, turnId: run.turnId, afterEventSeq: run.afterEventSeq };
  }

  /** The turn a request id started, from the feed: live if still running, replayed if finished. */
  #attach(known: TurnOrigin): TurnHandle {
    const live = this.#runs.get(known.conversationId);
    if (live?.turnId === known.turnId) return live;
    const { store } = this.deps;
    return {
      ...known,
      settled: Promise.resolve(undefined),
      follow: () => followTurn(store, known.conversationId, known.turnId, known.afterEventSeq),
    };
  }

  #safeAppend(run: Run, event: AgentEvent): boolean {
    if (run.failure) return true;
    try {
      this.deps.store.append(event);
      return true;
    } catch (error) {
      this.deps.log.error("could not store event", { type: event.type, error: String(error) });
      return false;
    }
  }

  #statusChanged(conversationId: string): void {
    const c = this.deps.store.get(conversationId);
    if (c) {
      this.deps.events.emit(ConversationStatusChanged, {
        conversationId,
        status: c.status,
        workspaceId: c.workspaceId,
      });
    }
  }

  /** The one history builder: stored chunks → model messages (cached per conversation, built the same way). */
  #history(conversationId: string): ModelMessage[] {
    const messages = this.#messages.get(conversationId) ??
      chunksToMessages(this.deps.store.allChunks(conversationId));
    this.#cache(conversationId, messages);
    return messages;
  }

  /**
   * After a turn: the history it started from plus its own chunks, through the same builder. Every turn's
   * chunks begin with its user message, which closes the previous turn's last message, so building per turn
   * gives what building the whole history at once would (tests/history_test.ts holds the two to it).
   */
  #cacheAfter(conversationId: string, turnId: string, before: ModelMessage[]): void {
    const history = before.slice(0, -1); // `before` ends with the turn's user message, rebuilt from its chunk
    const turnChunks = this.deps.store.turnChunks(conversationId, turnId);
    this.#cache(conversationId, [...history, ...chunksToMessages(turnChunks)]);
  }

  #cache(conversationId: string, messages: ModelMessage[]): void {
    this.#messages.delete(conversationId); // re-inserted: the newest use is last
    this.#messages.set(conversationId, messages);
    if (this.#messages.size > CACHED_HISTORIES) this.#messages.delete(this.#messages.keys().next().value!);
  }

  #newId(): string {
    return (this.deps.newId ?? (() => crypto.randomUUID()))();
  }
}

/** A conversation's title when none was set: the first line of its first message, spaces collapsed. */
const shuttingDown = () =>
  new DispatchError(
    "unavailable",
    "shutting_down",
    "the daemon is shutting down; send again once it is back",
  );

function titleFrom(message: string): string {
  const line = message.trim().split("\n")[0].replace(/\s+/g, " ").trim();
  return line.length > 60 ? `${line.slice(0, 57)}...` : line;
}
