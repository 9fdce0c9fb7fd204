// Running the runnable: /stream_events (a tree of runs via parent_ids), falling back to
// /stream_log (a flat list of runs) and then /invoke when those routes are disabled.

import { ApiError } from "./api.js";

// Wire types of messages and message chunks (AIMessageChunk, HumanMessageChunk, ...).
const MESSAGE_TYPES = /^(ai|human|system|tool|function|chat)$|MessageChunk$/;

/** Add a streamed chunk to what came before, as LangChain adds chunks. */
export function addChunk(previous, chunk) {
  if (previous === undefined || previous === null) return structuredClone(chunk);
  if (typeof previous === "string" && typeof chunk === "string") return previous + chunk;
  if (Array.isArray(previous) && Array.isArray(chunk)) return [...previous, ...chunk];
  if (isPlainObject(previous) && isPlainObject(chunk)) {
    return isMessage(previous) ? addMessage(previous, chunk) : addObjects(previous, chunk);
  }
  return structuredClone(chunk);
}

function addMessage(previous, chunk) {
  const merged = { ...previous, ...chunk, id: previous.id ?? chunk.id };
  merged.content = addChunk(previous.content, chunk.content ?? "");
  return merged;
}

function addObjects(previous, chunk) {
  const merged = { ...previous };
  for (const [key, value] of Object.entries(chunk))
    merged[key] = key in previous ? addChunk(previous[key], value) : value;
  return merged;
}

function isPlainObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

export function isMessage(value) {
  return isPlainObject(value) && "content" in value && MESSAGE_TYPES.test(String(value.type ?? ""));
}

/** One run of the tree: a chain, model, retriever, tool, parser, prompt... */
class RunNode {
  constructor(id, name, kind, parent) {
    Object.assign(this, {
      id,
      name,
      kind,
      parent,
      children: [],
      status: "running",
      start: performance.now(),
    });
  }

  finish(status, output) {
    this.status = status;
    if (output !== undefined) this.output = output;
    this.duration = performance.now() - this.start;
  }
}

/** What a run produced so far: {output, root, error, runId}; onUpdate after each event. */
export class RunState {
  constructor(onUpdate) {
    this.onUpdate = onUpdate;
    this.nodes = new Map();
    this.root = null;
    this.output = undefined;
    this.error = null;
    this.runId = null;
  }

  /** Apply one /stream_events event. */
  event(event) {
    const [, kind, phase] = /^on_(.+)_(start|stream|end)$/.exec(event.event) ?? [
      null,
      "custom",
      "event",
    ];
    let node = this.nodes.get(event.run_id);
    if (!node) {
      const parentId = event.parent_ids?.at(-1);
      node = new RunNode(event.run_id, event.name, kind, this.nodes.get(parentId) ?? null);
      this.nodes.set(event.run_id, node);
      if (node.parent) node.parent.children.push(node);
      else if (!this.root) [this.root, this.runId] = [node, event.run_id];
    }
    const data = event.data ?? {};
    if (phase === "start") node.input = data.input;
    if (phase === "stream") node.streamed = addChunk(node.streamed, data.chunk);
    if (phase === "end") {
      if (node.input === undefined && data.input !== undefined) node.input = data.input;
      node.finish("done", data.output);
    }
    if (phase === "event") node.output = data;
    if (node === this.root) {
      if (phase === "stream") this.output = node.streamed;
      if (phase === "end" && data.output !== undefined) this.output = data.output;
    }
    this.onUpdate(this);
  }

  /** Apply one /stream_log patch: the whole state is rebuilt from the folded log. */
  patch(log) {
    this.runId = log.id ?? this.runId;
    if (!this.root) this.root = new RunNode(log.id, "Run", "chain", null);
    this.root.children = Object.entries(log.logs ?? {}).map(([key, entry]) => {
      const node = new RunNode(entry.id, entry.name ?? key, entry.type ?? "run", this.root);
      node.streamed = (entry.streamed_output ?? []).reduce(addChunk, undefined);
      node.status = entry.end_time ? "done" : "running";
      node.output = entry.final_output ?? undefined;
      node.input = entry.inputs ?? undefined;
      node.duration =
        entry.end_time && entry.start_time
          ? Date.parse(entry.end_time) - Date.parse(entry.start_time)
          : undefined;
      return node;
    });
    const streamed = (log.streamed_output ?? []).reduce(addChunk, undefined);
    this.output = log.final_output ?? streamed;
    this.root.streamed = streamed;
    this.root.output = log.final_output ?? undefined;
    this.onUpdate(this);
  }

  fail(message) {
    this.error = message;
    for (const node of this.nodes.values()) if (node.status === "running") node.finish("error");
    if (this.root?.status === "running") this.root.finish("error");
    this.onUpdate(this);
  }

  done() {
    if (this.root?.status === "running" && !this.error) this.root.finish("done", this.root.output);
    this.onUpdate(this);
  }
}

/** Which endpoint to use, remembered once one is found missing. */
const ROUTES = ["stream_events", "stream_log", "invoke"];
let available = [...ROUTES];

/** Run with streaming and intermediate steps; resolves when the run is over. */
export async function run(api, input, config, state, signal) {
  for (const route of [...available]) {
    try {
      await runWith(route, api, { input, config }, state, signal);
      return route;
    } catch (err) {
      // 404/405: this endpoint is disabled on the server; try the next one.
      if (
        err instanceof ApiError &&
        (err.status === 404 || err.status === 405) &&
        available.length > 1
      ) {
        available = available.filter((name) => name !== route);
        continue;
      }
      throw err;
    }
  }
  throw new ApiError(404, "None of stream_events, stream_log or invoke is enabled for this route.");
}

async function runWith(route, api, body, state, signal) {
  if (route === "invoke") {
    const answer = await api.json("invoke", { method: "POST", body, signal });
    state.runId = answer.metadata?.run_id ?? null;
    state.root = new RunNode(state.runId, "Run", "chain", null);
    state.output = answer.output;
    state.root.finish("done", answer.output);
    state.onUpdate(state);
    return;
  }
  const log = {};
  for await (const { event, data } of api.events(route, body, signal)) {
    if (event === "end") break;
    if (event === "error") {
      const error = safeJson(data);
      state.fail(
        `The run failed while streaming (${error?.status_code ?? "error"}): ${error?.message ?? data}`,
      );
      return;
    }
    if (event !== "data") continue;
    const payload = safeJson(data);
    if (route === "stream_events") state.event(payload);
    else {
      applyPatch(log, payload.ops ?? []);
      state.patch(log);
    }
  }
  state.done();
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Apply JSON Patch operations (add, replace, remove) in place; "" is the whole document. */
export function applyPatch(document, ops) {
  for (const op of ops) {
    const parts = op.path
      .split("/")
      .slice(1)
      .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
    if (parts.length === 0) {
      for (const key of Object.keys(document)) delete document[key];
      Object.assign(document, structuredClone(op.value));
      continue;
    }
    const last = parts.pop();
    let parent = document;
    for (const part of parts) parent = parent[part];
    const value = structuredClone(op.value);
    if (Array.isArray(parent)) {
      const index = last === "-" ? parent.length : Number(last);
      if (op.op === "add") parent.splice(index, 0, value);
      else if (op.op === "replace") parent[index] = value;
      else if (op.op === "remove") parent.splice(index, 1);
    } else if (op.op === "remove") delete parent[last];
    else parent[last] = value;
  }
  return document;
}
