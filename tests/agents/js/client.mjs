// Drive @langchain/langgraph-sdk's Client against an Agent Protocol server.
//
// Usage: node client.mjs BASE_URL < operations.json
//
// operations.json is a JSON list of operations, run one after the other:
//   {"id": "thread", "call": "threads.create", "args": [{"metadata": {...}}]}
// "call" names a method of the SDK's Client ("runs.stream", "assistants.getGraph",
// ...), called with "args"; or "http", whose args are [method, path], for a plain
// request to the server (what a test app serves besides the protocol).
// Any value {"$ref": "<id>.<path>"} in "args" is replaced by that part of the
// value of the earlier operation <id>, e.g. {"$ref": "thread.thread_id"} or
// {"$ref": "events.0.data.run_id"}.
// A method returning an async iterator (runs.stream, runs.joinStream) is read to
// its end; its value is the list of its parts, each {event, data, id}. With
//   "during": {"event": "custom", "op": {...another operation...}}
// that operation runs (awaited, the stream waiting) when the first part of that
// event arrives; its result comes in the output before the stream's.
// With "onRunCreated": true the call's last argument (its payload) gets an
// onRunCreated callback; the result's "runCreated" lists what it was called with.
//
// Prints one JSON list with a result per operation, in the order they finished:
//   {"id", "ok": true, "value"} or {"id", "ok": false, "error", "status", "body", "value"}
// where "status" and "body" are the HTTP status and (JSON) body of a failed request
// (the SDK's HTTPError; null for other errors), and "value" of a failed stream what
// arrived before it failed.

import { Client } from "@langchain/langgraph-sdk";
import { readOperations } from "../../operations.mjs";

// Per request; a hung request fails well within the test's limit on this process.
const TIMEOUT_MS = 30_000;

function lookup(values, reference) {
  const [id, ...path] = reference.split(".");
  if (!(id in values)) throw new Error(`no earlier value ${id} (for ${reference})`);
  let value = values[id];
  for (const key of path) {
    if (value == null || !(key in Object(value))) {
      throw new Error(`${reference}: no ${key} in ${JSON.stringify(value)}`);
    }
    value = value[key];
  }
  return value;
}

function resolve(value, values) {
  if (Array.isArray(value)) return value.map((item) => resolve(item, values));
  if (value !== null && typeof value === "object") {
    if (typeof value.$ref === "string" && Object.keys(value).length === 1) {
      return lookup(values, value.$ref);
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, values)]));
  }
  return value;
}

function parsed(text) {
  if (typeof text !== "string") return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

class Runner {
  constructor(baseUrl) {
    this.baseUrl = baseUrl;
    this.client = new Client({ apiUrl: baseUrl, apiKey: null, timeoutMs: TIMEOUT_MS });
    this.values = {};
    this.results = [];
  }

  async http(method, path) {
    const signal = AbortSignal.timeout(TIMEOUT_MS);
    const response = await fetch(this.baseUrl + path, { method, signal });
    const text = await response.text();
    if (!response.ok) {
      const error = new Error(`HTTP ${response.status}: ${text}`);
      Object.assign(error, { status: response.status, text });
      throw error;
    }
    return text ? JSON.parse(text) : null;
  }

  call(spec, args) {
    if (spec.call === "http") return this.http(...args);
    const path = spec.call.split(".");
    const name = path.pop();
    const owner = path.reduce((object, key) => object[key], this.client);
    if (typeof owner?.[name] !== "function") throw new Error(`no method ${spec.call}`);
    return owner[name](...args);
  }

  async read(spec, iterator, parts) {
    let pending = spec.during;
    for await (const { event, data, id } of iterator) {
      parts.push(id === undefined ? { event, data } : { event, data, id });
      if (pending && event === pending.event) {
        const { op } = pending;
        pending = undefined;
        await this.run(op);
      }
    }
    return parts;
  }

  async run(spec) {
    const parts = [];
    const result = { id: spec.id };
    try {
      const args = resolve(spec.args ?? [], this.values);
      if (spec.onRunCreated) {
        // The SDK calls it with the run's ids, read from the Content-Location header.
        const payload = args[args.length - 1];
        if (payload === null || typeof payload !== "object") {
          throw new Error("onRunCreated: the call's last argument must be its payload");
        }
        result.runCreated = [];
        payload.onRunCreated = (created) => result.runCreated.push(created);
      }
      const returned = this.call(spec, args);
      const isStream = returned != null && typeof returned[Symbol.asyncIterator] === "function";
      result.value = isStream ? await this.read(spec, returned, parts) : await returned;
      result.ok = true;
      this.values[spec.id] = result.value;
    } catch (error) {
      result.ok = false;
      result.error = String(error?.message ?? error);
      result.status = typeof error?.status === "number" ? error.status : null;
      result.body = parsed(error?.text);
      result.value = parts;
    }
    if (result.value === undefined) result.value = null; // 202/204: no body
    this.results.push(result);
  }
}

async function main() {
  const [baseUrl, operations] = await readOperations();
  const runner = new Runner(baseUrl);
  for (const spec of operations) await runner.run(spec);
  process.stdout.write(JSON.stringify(runner.results) + "\n");
}

await main();
