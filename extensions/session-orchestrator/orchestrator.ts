// One turn end to end: resolve conversation, model and tools; run the kernel's loop; store every event before
// anyone sees it; seal. Turns run detached from whoever asked, so a client that goes away loses nothing.
import {
  type AgentEvent,
  conflict,
  type Events,
  type Hooks,
  invalid,
  type Logger,
  type ModelMessage,
  notFound,
  runTurn,
  type ToolHandle,
  type TurnOutcome,
} from "../../src/kernel/mod.ts";
import type { Conversation, ConversationStore } from "../conversation-store/api.ts";
import { type ModelCatalog, type ResolvedModel, UnknownModelError } from "../credential-store/api.ts";
import { chunksToMessages } from "./messages.ts";
import {
  ConversationStatusChanged,
  type Orchestrator,
  type PrefixOptions,
  type RequestPrefix,
  type SequencedEvent,
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
  readonly log: SequencedEvent[] = [];
  sealed = false;
  #waiters = new Set<() => void>();
  settled: Promise<TurnOutcome | undefined>;
  resolveSettled!: (o: TurnOutcome | undefined) => void;

  constructor(readonly conversationId: string, readonly turnId: string) {
    this.settled = new Promise((resolve) => this.resolveSettled = resolve);
  }

  get firstSeq(): number {
    return this.log[0]?.seq ?? 0;
  }

  push(e: SequencedEvent): void {
    this.log.push(e);
    if (e.event.type === "turn-sealed") this.sealed = true;
    for (const wake of this.#waiters) wake();
    this.#waiters.clear();
  }

  async *events(): AsyncIterable<SequencedEvent> {
    let i = 0;
    while (true) {
      while (i < this.log.length) yield this.log[i++];
      if (this.sealed) return;
      await new Promise<void>((resolve) => this.#waiters.add(resolve));
    }
  }
}

interface TurnOrigin {
  conversationId: string;
  turnId: string;
  firstSeq: number;
}

const CACHED_HISTORIES = 64;

export class SessionOrchestrator implements Orchestrator {
  #runs = new Map<string, Run>();
  /** Recent client request ids → their turn, so a retried POST attaches instead of running twice. */
  #byRequest = new Map<string, { conversationId: string; started: Promise<TurnOrigin> }>();
  /** Conversations whose turn is being set up (between the request and its first event). */
  #reserved = new Set<string>();
  /** Reserved conversations that were stopped before their turn started. */
  #cancelled = new Set<string>();
  /** Model messages of recently used conversations (an LRU), so a turn does not reload its history. */
  #messages = new Map<string, ModelMessage[]>();
  #steering = new Set<SteeringSource>();
  #idle = new Map<string, Set<() => void>>();

  constructor(private readonly deps: OrchestratorDeps) {}

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
        return this.#attach(await known.started);
      }
    }
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
      this.#byRequest.set(requestId, { conversationId, started: attached });
      started.catch(() => this.#byRequest.delete(requestId));
      if (this.#byRequest.size > 1000) this.#byRequest.delete(this.#byRequest.keys().next().value!);
    }
    return await started;
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

  async #start(conversationId: string, req: TurnRequest): Promise<Run> {
    const { store } = this.deps;
    const existing = store.get(conversationId);
    const { resolved, cwd } = await this.#resolve(existing, req);
    if (this.#cancelled.delete(conversationId)) {
      throw conflict("stopped", `the turn in conversation ${conversationId} was stopped before it started`);
    }

    const conversation = existing ??
      store.create({ id: conversationId, workspaceId: req.workspaceId, title: titleFrom(req.message) });
    store.update(conversation.id, {
      ...(conversation.title === "" ? { title: titleFrom(req.message) } : {}),
      ...(req.model ? { model: resolved.name } : {}),
      ...(req.cwd ? { cwd } : {}),
      ...(req.reasoningEffort ? { reasoningEffort: req.reasoningEffort } : {}),
      ...(req.workspaceId ? { workspaceId: req.workspaceId } : {}),
      ...(conversation.status === "closed" ? { status: "idle" as const } : {}),
    });

    const turnId = this.#newId();
    const run = new Run(conversationId, turnId);
    const prefix = this.#prefixOf(
      conversationId,
      resolved,
      cwd,
      req.reasoningEffort ?? conversation.reasoningEffort ?? undefined,
    );
    store.beginTurn(conversationId, turnId, resolved.name);
    this.#runs.set(conversationId, run);
    try {
      this.#statusChanged(conversationId);
      this.#record(run, { type: "user-message", conversationId, turnId, text: req.message });
    } catch (error) {
      // Storage refused the turn's first event: end it rather than leave the conversation stuck active.
      this.#runs.delete(conversationId);
      run.resolveSettled(undefined);
      try {
        store.endTurn(conversationId, turnId, "error");
      } catch { /* the store is failing; reconcile repairs the turn on the next start */ }
      throw error;
    }

    void this.#drive(run, {
      ...prefix,
      messages: [...prefix.messages, { role: "user", content: req.message }],
    });
    return run;
  }

  async prefix(conversationId: string, options: PrefixOptions = {}): Promise<RequestPrefix> {
    const existing = this.deps.store.get(conversationId);
    if (!existing) throw notFound("unknown_conversation", `no conversation ${conversationId}`);
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
      resolved = catalog.resolve(modelName);
    } catch (error) {
      if (error instanceof UnknownModelError) throw invalid("unknown_model", error.message);
      throw error;
    }
    const workspace = this.deps.store.getWorkspace(existing?.workspaceId ?? req.workspaceId ?? "default");
    const cwdWanted = req.cwd ?? existing?.cwd ?? workspace?.defaultCwd ?? undefined;
    const cwd = cwdWanted && this.deps.checkCwd ? await this.deps.checkCwd(cwdWanted) : cwdWanted;
    return { resolved, cwd };
  }

  /** The one place a turn's request is put together: `submit` and `prefix` both build it here. */
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
      ...(reasoningEffort !== undefined ? { reasoningEffort } : {}),
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

  async #drive(
    run: Run,
    call: RequestPrefix,
  ): Promise<void> {
    const { conversationId, turnId } = run;
    let outcome: TurnOutcome | undefined;
    let turn: ReturnType<typeof runTurn> | undefined;
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
      while (true) {
        const next = await turn.next();
        if (next.done) {
          outcome = next.value;
          break;
        }
        this.#record(run, next.value);
      }
      this.#cache(conversationId, [...call.messages, ...outcome.added]);
    } catch (error) {
      // runTurn does not throw for model or tool failures; this is a bug or a storage failure. Stop the
      // provider stream and any running tool before closing the turn.
      run.controller.abort();
      await turn?.return(undefined as never).catch(() => {});
      this.deps.log.error("turn failed", { conversationId, turnId, error: String(error) });
      this.#messages.delete(conversationId);
      this.#safeRecord(run, {
        type: "error",
        conversationId,
        turnId,
        message: String(error),
        code: "internal",
      });
      this.#safeRecord(run, { type: "done", conversationId, turnId, reason: "error" });
    } finally {
      const status = outcome?.reason === "stop"
        ? "done"
        : outcome?.reason === "aborted"
        ? "aborted"
        : "error";
      try {
        this.deps.store.endTurn(conversationId, turnId, status);
      } catch (error) {
        this.deps.log.error("could not end turn", { conversationId, turnId, error: String(error) });
      }
      this.#safeRecord(run, { type: "turn-sealed", conversationId, turnId });
      if (!run.sealed) run.push({ seq: -1, event: { type: "turn-sealed", conversationId, turnId } });
      this.#runs.delete(conversationId);
      this.#statusChanged(conversationId);
      run.resolveSettled(outcome);
      for (const wake of this.#idle.get(conversationId) ?? []) wake();
      this.#idle.delete(conversationId);
    }
  }

  #origin(run: Run): TurnOrigin {
    return { conversationId: run.conversationId, turnId: run.turnId, firstSeq: run.firstSeq };
  }

  /** The turn a request id started: live if still running, else replayed from the store. */
  #attach(known: TurnOrigin): TurnHandle {
    const live = this.#runs.get(known.conversationId);
    if (live?.turnId === known.turnId) return live;
    const stored = this.deps.store.eventsSince(known.conversationId, known.firstSeq - 1)
      .filter((e) => e.event.type !== "status" && e.event.turnId === known.turnId);
    return {
      conversationId: known.conversationId,
      turnId: known.turnId,
      firstSeq: known.firstSeq,
      settled: Promise.resolve(undefined),
      async *events() {
        yield* stored;
      },
    };
  }

  /** Durable first, then visible: the store assigns the seq, then subscribers and the run's log see it. */
  #record(run: Run, event: AgentEvent): void {
    const seq = this.deps.store.appendEvent(event);
    const sequenced = { seq, event };
    run.push(sequenced);
    this.deps.events.emit(SessionEvent, sequenced);
  }

  #safeRecord(run: Run, event: AgentEvent): void {
    try {
      this.#record(run, event);
    } catch (error) {
      this.deps.log.error("could not store event", { type: event.type, error: String(error) });
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

  #history(conversationId: string): ModelMessage[] {
    const messages = this.#messages.get(conversationId) ??
      chunksToMessages(this.deps.store.allChunks(conversationId));
    this.#cache(conversationId, messages);
    return messages;
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

function titleFrom(message: string): string {
  const line = message.trim().split("\n")[0];
  return line.length > 60 ? `${line.slice(0, 57)}...` : line;
}
