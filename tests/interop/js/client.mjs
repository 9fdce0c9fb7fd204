// Drive @langchain/core's RemoteRunnable against a LangServe-compatible server.
//
// Usage: node client.mjs BASE_URL < operations.json
//
// operations.json is a JSON list of operations:
//   {"id": "joke-invoke", "path": "/joke", "op": "invoke", "input": {...},
//    "config": {...}, "messages": false}
// op is one of invoke, batch (takes "inputs"), stream, streamLog, streamEvents.
// "config" is passed as the call options (e.g. {"configurable": {...}}).
// With "messages": true the input is a list of [role, content] pairs, sent as
// LangChain messages.
//
// Prints one JSON list with a result per operation, in order:
//   {"id", "ok": true, "value"} or {"id", "ok": false, "error", "value"}
// where "value" (for a failed stream: what arrived before the error) is made
// plain JSON: documents become {page_content, metadata}, messages {type, content},
// prompt values {messages}.

import { RemoteRunnable } from "@langchain/core/runnables/remote";
import { Document } from "@langchain/core/documents";
import {
  AIMessage,
  HumanMessage,
  SystemMessage,
  isBaseMessage,
} from "@langchain/core/messages";
import { BasePromptValue } from "@langchain/core/prompt_values";
import { RunLog, RunLogPatch } from "@langchain/core/tracers/log_stream";
import { readOperations } from "../../operations.mjs";

// Per request. RemoteRunnable's default is 60 s; a shorter one makes a hung request
// fail well within the test's own 60 s limit on this process, with a message.
const TIMEOUT_MS = 30_000;
const MESSAGE_CLASSES = { human: HumanMessage, ai: AIMessage, system: SystemMessage };

function plain(value) {
  if (Array.isArray(value)) return value.map(plain);
  if (isBaseMessage(value)) return { type: value._getType(), content: value.content };
  if (value instanceof BasePromptValue) return { messages: plain(value.toChatMessages()) };
  if (value instanceof Document) {
    return { page_content: value.pageContent, metadata: plain(value.metadata) };
  }
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

function toMessages(pairs) {
  return pairs.map(([role, content]) => new MESSAGE_CLASSES[role]({ content }));
}

async function run(baseUrl, spec) {
  const remote = new RemoteRunnable({
    url: baseUrl + spec.path,
    options: { timeout: TIMEOUT_MS },
  });
  const input = spec.messages ? toMessages(spec.input) : spec.input;
  const options = spec.config ?? {};
  const partial = [];
  try {
    switch (spec.op) {
      case "invoke":
        return { value: await remote.invoke(input, options) };
      case "batch": {
        const inputs = spec.messages ? spec.inputs.map(toMessages) : spec.inputs;
        return { value: await remote.batch(inputs, options) };
      }
      case "stream":
        for await (const chunk of await remote.stream(input, options)) partial.push(chunk);
        return { value: partial };
      case "streamLog": {
        // The client goes on mutating the objects of a patch it has yielded (it
        // folds them into its own RunLog), so copy each patch as it arrives.
        for await (const patch of remote.streamLog(input, options)) {
          partial.push(new RunLogPatch({ ops: plain(patch.ops) }));
        }
        const empty = new RunLog({ ops: [], state: {} });
        const log = partial.reduce((acc, patch) => acc.concat(patch), empty);
        const { final_output, streamed_output } = log.state;
        return { value: { final_output, streamed_output } };
      }
      case "streamEvents":
        for await (const { event, name, data } of remote.streamEvents(input, {
          ...options,
          version: "v2",
        })) {
          partial.push({ event, name, data });
        }
        return { value: partial };
      default:
        throw new Error(`unknown op ${spec.op}`);
    }
  } catch (error) {
    return { error: String(error?.message ?? error), value: partial };
  }
}

async function main() {
  const [baseUrl, operations] = await readOperations();
  const results = [];
  for (const spec of operations) {
    const { value, error } = await run(baseUrl, spec);
    const result = { id: spec.id, ok: error === undefined, value: plain(value) };
    if (error !== undefined) result.error = error;
    results.push(result);
  }
  process.stdout.write(JSON.stringify(results) + "\n");
}

await main();
