import { Client } from "@langchain/langgraph-sdk";
const P = "http://127.0.0.1:8124";
async function label(l) { await fetch(P + "/__label", { method: "POST", body: JSON.stringify({ label: l, client: "js-sdk" }), headers: { "content-type": "application/json" } }); }
async function attempt(name, fn) {
  await label(name);
  try { const r = await fn(); console.log(`[${name}] OK`, JSON.stringify(r)?.slice(0, 300)); return r; }
  catch (e) { console.log(`[${name}] EXC`, e?.status, String(e?.message).slice(0, 300)); return e; }
}
async function collect(name, it) {
  await label(name);
  const ev = [];
  try { for await (const p of it) ev.push(p.event); console.log(`[${name}] events`, JSON.stringify(ev)); }
  catch (e) { console.log(`[${name}] EXC`, String(e).slice(0, 300)); }
}
const c = new Client({ apiUrl: P });
const as = await attempt("js assistants.search", () => c.assistants.search({ limit: 10 }));
await attempt("js assistants.search graphId", () => c.assistants.search({ graphId: "chat" }));
const aid = as.find((a) => a.graph_id === "chat").assistant_id;
await attempt("js assistants.get", () => c.assistants.get(aid));
await attempt("js assistants.getGraph xray", () => c.assistants.getGraph(aid, { xray: true }));
await attempt("js assistants.getSchemas", () => c.assistants.getSchemas(aid));
await attempt("js assistants.getSubgraphs", () => c.assistants.getSubgraphs(aid));
const t = await attempt("js threads.create", () => c.threads.create({ metadata: { js: true } }));
await attempt("js threads.get", () => c.threads.get(t.thread_id));
await attempt("js threads.search", () => c.threads.search({ metadata: { js: true }, limit: 5 }));
await collect("js runs.stream values+messages-tuple+updates", c.runs.stream(t.thread_id, "chat", { input: { messages: [{ role: "user", content: "hi" }] }, streamMode: ["values", "messages-tuple", "updates"] }));
await collect("js runs.stream default", c.runs.stream(t.thread_id, "chat", { input: { messages: [{ role: "user", content: "again" }] } }));
await collect("js runs.stream messages", c.runs.stream(t.thread_id, "chat", { input: { messages: [{ role: "user", content: "m" }] }, streamMode: "messages" }));
await collect("js runs.stream stateless", c.runs.stream(null, "counter", { input: { count: 1 }, streamMode: ["values", "custom"] }));
await collect("js runs.stream subgraphs", c.runs.stream(null, "nested", { input: { count: 1 }, streamMode: ["updates"], streamSubgraphs: true }));
await attempt("js runs.wait", () => c.runs.wait(null, "counter", { input: { count: 1 } }));
const r = await attempt("js runs.create", () => c.runs.create(t.thread_id, "chat", { input: { messages: [{ role: "user", content: "bg" }] } }));
await attempt("js runs.join", () => c.runs.join(t.thread_id, r.run_id));
await collect("js runs.joinStream after", c.runs.joinStream(t.thread_id, r.run_id));
await attempt("js runs.list", () => c.runs.list(t.thread_id, { limit: 2 }));
await attempt("js runs.get", () => c.runs.get(t.thread_id, r.run_id));
await attempt("js threads.getState", () => c.threads.getState(t.thread_id));
await attempt("js threads.getHistory", () => c.threads.getHistory(t.thread_id, { limit: 2 }));
await attempt("js threads.updateState", () => c.threads.updateState(t.thread_id, { values: { messages: [{ role: "user", content: "x" }] }, asNode: "model" }));
const h = await c.threads.create();
await collect("js hitl stream", c.runs.stream(h.thread_id, "hitl", { input: { question: "q" }, streamMode: ["values", "updates"] }));
await collect("js hitl resume", c.runs.stream(h.thread_id, "hitl", { command: { resume: "yes" }, streamMode: ["values", "updates"] }));
await collect("js error stream", c.runs.stream(null, "counter", { input: { count: -1 } }));
await attempt("js threads.get unknown", () => c.threads.get("00000000-0000-0000-0000-000000000000"));
await attempt("js store.putItem", () => c.store.putItem(["js", "ns"], "k", { v: 1 }));
await attempt("js store.getItem", () => c.store.getItem(["js", "ns"], "k"));
await attempt("js store.getItem missing", () => c.store.getItem(["js", "ns"], "nope"));
await attempt("js store.searchItems", () => c.store.searchItems(["js"], { limit: 5 }));
await attempt("js store.listNamespaces", () => c.store.listNamespaces({ prefix: ["js"] }));
await attempt("js store.deleteItem", () => c.store.deleteItem(["js", "ns"], "k"));
await attempt("js threads.delete", () => c.threads.delete(t.thread_id));
