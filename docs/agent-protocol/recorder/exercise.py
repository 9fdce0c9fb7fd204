import asyncio, json, time, uuid, statistics, traceback, sys
import httpx
from langgraph_sdk import get_client

P = "http://127.0.0.1:8124"
NOTES = []
ctl = httpx.Client(base_url=P)


def label(name, client="python-sdk-async"):
    ctl.post("/__label", json={"label": name, "client": client})


def note(*a):
    s = " ".join(str(x) for x in a)
    print(s[:400])
    NOTES.append(s)


async def attempt(name, coro):
    label(name)
    try:
        r = await coro
        note(f"[{name}] OK", json.dumps(r, default=str)[:300])
        return r
    except Exception as e:
        note(f"[{name}] EXC {type(e).__name__}: {str(e)[:300]}")
        return e


async def collect(name, agen, limit=None):
    label(name)
    out = []
    try:
        async for p in agen:
            out.append(p)
            if limit and len(out) >= limit:
                break
        note(f"[{name}] events:", [getattr(p, 'event', None) for p in out][:40])
    except Exception as e:
        note(f"[{name}] EXC {type(e).__name__}: {str(e)[:300]}")
    return out


async def main():
    c = get_client(url=P)
    # ---------------- assistants
    lst = await attempt("assistants.search limit10", c.assistants.search(limit=10))
    ids = {a["graph_id"]: a["assistant_id"] for a in lst}
    await attempt("assistants.search graph_id", c.assistants.search(graph_id="chat"))
    await attempt("assistants.search metadata+offset+sort", c.assistants.search(metadata={"created_by": "system"}, limit=2, offset=1, sort_by="name", sort_order="asc"))
    await attempt("assistants.search object format", c.assistants.search(limit=2, response_format="object"))
    await attempt("assistants.search select", c.assistants.search(limit=2, select=["assistant_id", "name"]))
    await attempt("assistants.count", c.assistants.count())
    await attempt("assistants.count graph_id", c.assistants.count(graph_id="chat"))
    await attempt("assistants.get by graph id", c.assistants.get("chat"))
    await attempt("assistants.get by uuid", c.assistants.get(ids["chat"]))
    await attempt("assistants.get unknown uuid", c.assistants.get(str(uuid.uuid4())))
    await attempt("assistants.get_graph uuid", c.assistants.get_graph(ids["chat"]))
    await attempt("assistants.get_graph graph id", c.assistants.get_graph("chat"))
    await attempt("assistants.get_graph nested xray=True", c.assistants.get_graph(ids["nested"], xray=True))
    await attempt("assistants.get_graph nested xray=1", c.assistants.get_graph(ids["nested"], xray=1))
    await attempt("assistants.get_graph nested no xray", c.assistants.get_graph(ids["nested"]))
    await attempt("assistants.get_graph unknown", c.assistants.get_graph(str(uuid.uuid4())))
    await attempt("assistants.get_schemas uuid chat", c.assistants.get_schemas(ids["chat"]))
    await attempt("assistants.get_schemas uuid counter", c.assistants.get_schemas(ids["counter"]))
    await attempt("assistants.get_schemas graph id", c.assistants.get_schemas("chat"))
    await attempt("assistants.get_subgraphs nested", c.assistants.get_subgraphs(ids["nested"]))
    await attempt("assistants.get_subgraphs nested recurse", c.assistants.get_subgraphs(ids["nested"], recurse=True))
    await attempt("assistants.get_subgraphs nested namespace", c.assistants.get_subgraphs(ids["nested"], namespace="child"))
    await attempt("assistants.get_subgraphs chat", c.assistants.get_subgraphs(ids["chat"]))
    await attempt("assistants.create configurable+context", c.assistants.create("counter", config={"configurable": {"x": 1}}, metadata={"team": "a"}, name="my-counter", context={"k": "v"}, description="desc"))
    a = await attempt("assistants.create", c.assistants.create("counter", config={"tags": ["t1"], "recursion_limit": 10}, metadata={"team": "a"}, name="my-counter", context={"k": "v"}, description="desc"))
    await attempt("assistants.create configurable only", c.assistants.create("counter", config={"configurable": {"x": 1}}, name="cfg-only"))
    fixed_aid = str(uuid.uuid4())
    await attempt("assistants.create fixed id", c.assistants.create("counter", assistant_id=fixed_aid, name="fixed"))
    await attempt("assistants.create fixed id if_exists raise", c.assistants.create("counter", assistant_id=fixed_aid, if_exists="raise"))
    await attempt("assistants.create fixed id if_exists do_nothing", c.assistants.create("counter", assistant_id=fixed_aid, if_exists="do_nothing", name="other"))
    await attempt("assistants.create unknown graph", c.assistants.create("nope"))
    aid = a["assistant_id"]
    await attempt("assistants.update", c.assistants.update(aid, metadata={"team": "b"}, context={"k": "v2"}, name="renamed"))
    await attempt("assistants.get after update", c.assistants.get(aid))
    await attempt("assistants.get_versions", c.assistants.get_versions(aid))
    await attempt("assistants.get_versions metadata limit", c.assistants.get_versions(aid, metadata={"team": "a"}, limit=5))
    await attempt("assistants.set_latest", c.assistants.set_latest(aid, 1))
    await attempt("assistants.update unknown", c.assistants.update(str(uuid.uuid4()), metadata={"a": 1}))
    await attempt("assistants.delete", c.assistants.delete(fixed_aid))
    await attempt("assistants.delete unknown", c.assistants.delete(fixed_aid))
    await attempt("assistants.search after create", c.assistants.search(limit=10, metadata={"team": "a"}))

    # ---------------- threads
    t0 = await attempt("threads.create empty", c.threads.create())
    t1 = await attempt("threads.create metadata", c.threads.create(metadata={"user": "alice", "n": 1}))
    tid_fixed = str(uuid.uuid4())
    await attempt("threads.create thread_id", c.threads.create(thread_id=tid_fixed, metadata={"user": "bob"}))
    await attempt("threads.create thread_id if_exists raise", c.threads.create(thread_id=tid_fixed, if_exists="raise"))
    await attempt("threads.create thread_id if_exists do_nothing", c.threads.create(thread_id=tid_fixed, if_exists="do_nothing", metadata={"user": "carol"}))
    await attempt("threads.create graph_id", c.threads.create(graph_id="counter"))
    await attempt("threads.create supersteps", c.threads.create(graph_id="counter", supersteps=[{"updates": [{"values": {"count": 5}, "as_node": "__input__"}]}, {"updates": [{"values": {"count": 6}, "as_node": "inc"}]}]))
    await attempt("threads.get", c.threads.get(t1["thread_id"]))
    await attempt("threads.get unknown", c.threads.get(str(uuid.uuid4())))
    await attempt("threads.search metadata", c.threads.search(metadata={"user": "alice"}))
    await attempt("threads.search status idle", c.threads.search(status="idle", limit=2))
    await attempt("threads.search limit offset", c.threads.search(limit=2, offset=1))
    await attempt("threads.search sort asc", c.threads.search(sort_by="created_at", sort_order="asc", limit=3))
    await attempt("threads.search select", c.threads.search(limit=2, select=["thread_id", "status"]))
    await attempt("threads.search ids", c.threads.search(ids=[t1["thread_id"], tid_fixed]))
    await attempt("threads.update", c.threads.update(t1["thread_id"], metadata={"n": 2, "extra": True}))
    await attempt("threads.update unknown", c.threads.update(str(uuid.uuid4()), metadata={"n": 2}))
    await attempt("threads.count", c.threads.count())
    await attempt("threads.count metadata", c.threads.count(metadata={"user": "alice"}))
    await attempt("threads.count status", c.threads.count(status="idle"))
    await attempt("threads.get_state empty thread", c.threads.get_state(t0["thread_id"]))
    await attempt("threads.get_history empty thread", c.threads.get_history(t0["thread_id"]))

    # ---------------- runs basic (counter)
    tc = await attempt("threads.create for counter", c.threads.create(metadata={"purpose": "counter"}))
    tcid = tc["thread_id"]
    meta_holder = {}
    run = await attempt("runs.create background", c.runs.create(tcid, "counter", input={"count": 1}, metadata={"m": 1}, on_run_created=lambda m: meta_holder.update(m)))
    note("on_run_created:", meta_holder)
    await attempt("threads.get while run pending", c.threads.get(tcid))
    await attempt("runs.get right after create", c.runs.get(tcid, run["run_id"]))
    await attempt("runs.join", c.runs.join(tcid, run["run_id"]))
    await attempt("runs.get after join", c.runs.get(tcid, run["run_id"]))
    await attempt("threads.get after run", c.threads.get(tcid))
    await attempt("runs.wait thread", c.runs.wait(tcid, "counter", input={"count": 10}))
    await attempt("runs.wait stateless", c.runs.wait(None, "counter", input={"count": 3}))
    await attempt("runs.wait by uuid", c.runs.wait(tcid, ids["counter"], input={"count": 20}))
    await attempt("runs.wait custom assistant", c.runs.wait(tcid, aid, input={"count": 30}))
    await attempt("runs.list", c.runs.list(tcid))
    await attempt("runs.list limit offset status", c.runs.list(tcid, limit=2, offset=1, status="success"))
    await attempt("runs.list select", c.runs.list(tcid, select=["run_id", "status"]))
    await attempt("threads.get_state after runs", c.threads.get_state(tcid))
    hist = await attempt("threads.get_history", c.threads.get_history(tcid, limit=4))
    await attempt("threads.get_history before", c.threads.get_history(tcid, limit=2, before=hist[1]["checkpoint"]))
    await attempt("threads.get_history metadata filter", c.threads.get_history(tcid, limit=5, metadata={"source": "input"}))
    await attempt("threads.get_state checkpoint_id", c.threads.get_state(tcid, checkpoint_id=hist[2]["checkpoint"]["checkpoint_id"]))
    await attempt("threads.get_state checkpoint dict", c.threads.get_state(tcid, checkpoint=hist[2]["checkpoint"]))
    await attempt("threads.update_state", c.threads.update_state(tcid, {"count": 1000}))
    await attempt("threads.update_state as_node", c.threads.update_state(tcid, {"count": 2000}, as_node="inc"))
    await attempt("threads.update_state bad as_node", c.threads.update_state(tcid, {"count": 2000}, as_node="nope"))
    await attempt("threads.get_state after update_state", c.threads.get_state(tcid))
    await attempt("threads.get_history after update_state", c.threads.get_history(tcid, limit=3))
    await attempt("threads.copy", c.threads.copy(tcid))
    await attempt("threads.get_state unknown", c.threads.get_state(str(uuid.uuid4())))
    await attempt("threads.update_state unknown", c.threads.update_state(str(uuid.uuid4()), {"count": 1}))
    await attempt("threads.get_history unknown", c.threads.get_history(str(uuid.uuid4())))

    # ---------------- streaming modes on chat
    for mode in ["values", "updates", "messages-tuple", "messages", "events", "debug", "custom", "tasks", "checkpoints"]:
        t = await c.threads.create()
        await collect(f"runs.stream chat mode={mode}", c.runs.stream(t["thread_id"], "chat", input={"messages": [{"role": "user", "content": "hi"}]}, stream_mode=mode))
    for mode in ["values", "updates", "custom", "debug", "tasks", "checkpoints", "events", "messages-tuple"]:
        t = await c.threads.create()
        await collect(f"runs.stream counter mode={mode}", c.runs.stream(t["thread_id"], "counter", input={"count": 1}, stream_mode=mode))
    t = await c.threads.create()
    await collect("runs.stream chat modes list", c.runs.stream(t["thread_id"], "chat", input={"messages": [{"role": "user", "content": "hi"}]}, stream_mode=["values", "updates", "messages-tuple", "custom"]))
    await collect("runs.stream chat default mode 2nd turn", c.runs.stream(t["thread_id"], "chat", input={"messages": [{"role": "user", "content": "again"}]}))
    await collect("runs.stream stateless", c.runs.stream(None, "counter", input={"count": 1}, stream_mode=["values", "updates"]))
    await collect("runs.stream stateless chat messages-tuple", c.runs.stream(None, "chat", input={"messages": [{"role": "user", "content": "hi"}]}, stream_mode="messages-tuple"))
    for modes in (["updates"], ["values", "updates", "custom", "debug", "tasks", "checkpoints", "messages-tuple"], ["events"]):
        t = await c.threads.create()
        await collect(f"runs.stream nested subgraphs modes={'+'.join(modes)}", c.runs.stream(t["thread_id"], "nested", input={"count": 1}, stream_mode=modes, stream_subgraphs=True))
    t = await c.threads.create()
    await collect("runs.stream nested no subgraphs", c.runs.stream(t["thread_id"], "nested", input={"count": 1}, stream_mode=["updates", "custom"]))
    await attempt("threads.get_state nested subgraphs=True", c.threads.get_state(t["thread_id"], subgraphs=True))
    await attempt("threads.get_history nested", c.threads.get_history(t["thread_id"]))
    t = await c.threads.create()
    await collect("runs.stream v2 version", c.runs.stream(t["thread_id"], "counter", input={"count": 1}, stream_mode=["values", "custom"], version="v2"))
    t = await c.threads.create()
    await collect("runs.stream interrupt_before", c.runs.stream(t["thread_id"], "counter", input={"count": 1}, interrupt_before=["inc"]))
    await attempt("threads.get interrupt_before", c.threads.get(t["thread_id"]))
    await attempt("threads.get_state interrupt_before", c.threads.get_state(t["thread_id"]))
    await collect("runs.stream continue None input", c.runs.stream(t["thread_id"], "counter", input=None))
    t = await c.threads.create()
    await collect("runs.stream interrupt_after", c.runs.stream(t["thread_id"], "counter", input={"count": 1}, interrupt_after=["inc"], stream_mode=["values", "updates"]))

    # ---------------- hitl
    th = await c.threads.create()
    thid = th["thread_id"]
    await collect("hitl stream until interrupt", c.runs.stream(thid, "hitl", input={"question": "q"}, stream_mode=["values", "updates"]))
    await attempt("hitl threads.get interrupted", c.threads.get(thid))
    await attempt("hitl get_state interrupted", c.threads.get_state(thid))
    await collect("hitl resume stream", c.runs.stream(thid, "hitl", command={"resume": "yes"}, stream_mode=["values", "updates"]))
    await attempt("hitl threads.get after resume", c.threads.get(thid))
    await attempt("hitl get_state after resume", c.threads.get_state(thid))
    th2 = await c.threads.create()
    await attempt("hitl runs.wait interrupt", c.runs.wait(th2["thread_id"], "hitl", input={"question": "q"}))
    await attempt("hitl runs.wait resume", c.runs.wait(th2["thread_id"], "hitl", command={"resume": {"ok": True}}))
    th3 = await c.threads.create()
    await attempt("hitl runs.create interrupt", c.runs.create(th3["thread_id"], "hitl", input={"question": "q"}))
    await asyncio.sleep(2.0)
    runs3 = await attempt("hitl runs.list after interrupt", c.runs.list(th3["thread_id"]))
    await attempt("hitl join after interrupt", c.runs.join(th3["thread_id"], runs3[0]["run_id"]))
    await attempt("hitl update_state goto", c.runs.wait(th3["thread_id"], "hitl", command={"update": {"answer": "via-update"}, "goto": "after"}))
    th4 = await c.threads.create()
    await attempt("hitl stateless wait", c.runs.wait(None, "hitl", input={"question": "q"}))
    await attempt("hitl resume on thread without interrupt", c.runs.wait(th4["thread_id"], "hitl", command={"resume": "x"}))

    # ---------------- errors inside runs
    te = await c.threads.create()
    await collect("error run stream", c.runs.stream(te["thread_id"], "counter", input={"count": -1}, stream_mode=["values", "updates"]))
    await attempt("error thread get", c.threads.get(te["thread_id"]))
    await attempt("error runs.list", c.runs.list(te["thread_id"]))
    await attempt("error runs.wait", c.runs.wait(te["thread_id"], "counter", input={"count": -1}, raise_error=False))
    await attempt("error runs.wait stateless", c.runs.wait(None, "counter", input={"count": -1}, raise_error=False))
    te2 = await c.threads.create()
    r = await attempt("error runs.create", c.runs.create(te2["thread_id"], "counter", input={"count": -1}))
    await attempt("error runs.join", c.runs.join(te2["thread_id"], r["run_id"]))
    await attempt("error runs.get", c.runs.get(te2["thread_id"], r["run_id"]))
    await attempt("error get_state", c.threads.get_state(te2["thread_id"]))

    # ---------------- 404 / 422
    fake = str(uuid.uuid4())
    await attempt("runs.create unknown thread", c.runs.create(fake, "counter", input={"count": 1}))
    await attempt("runs.wait unknown thread", c.runs.wait(fake, "counter", input={"count": 1}))
    await collect("runs.stream unknown thread", c.runs.stream(fake, "counter", input={"count": 1}))
    await attempt("runs.create unknown assistant", c.runs.create(tcid, "nope", input={"count": 1}))
    await attempt("runs.create unknown assistant uuid", c.runs.create(tcid, str(uuid.uuid4()), input={"count": 1}))
    await collect("runs.stream unknown assistant", c.runs.stream(tcid, "nope", input={"count": 1}))
    await attempt("runs.wait stateless unknown assistant", c.runs.wait(None, "nope", input={"count": 1}))
    await attempt("runs.get unknown run", c.runs.get(tcid, fake))
    await attempt("runs.join unknown run", c.runs.join(tcid, fake))
    await attempt("runs.cancel unknown run", c.runs.cancel(tcid, fake))
    await attempt("runs.delete unknown run", c.runs.delete(tcid, fake))
    await attempt("runs.list unknown thread", c.runs.list(fake))
    await attempt("runs.create invalid stream_mode", c.runs.create(tcid, "counter", input={"count": 1}, stream_mode="bogus"))
    await attempt("runs.create invalid multitask", c.runs.create(tcid, "counter", input={"count": 1}, multitask_strategy="bogus"))
    await attempt("runs.wait invalid input type (str)", c.runs.wait(tcid, "counter", input="notadict"))
    await attempt("runs.wait input wrong key", c.runs.wait(tcid, "counter", input={"bogus": 1}))
    await attempt("threads.create invalid thread_id", c.threads.create(thread_id="not-a-uuid"))
    await attempt("threads.get invalid thread_id", c.threads.get("not-a-uuid"))
    await attempt("threads.search invalid status", c.threads.search(status="bogus"))
    await attempt("runs.create checkpoint_id unknown", c.runs.wait(tcid, "counter", input={"count": 1}, checkpoint_id=str(uuid.uuid4())))

    # ---------------- multitask / cancel
    ts = await c.threads.create()
    tsid = ts["thread_id"]
    r1 = await attempt("slow runs.create", c.runs.create(tsid, "slow", input={"count": 0}))
    await asyncio.sleep(1.5)
    await attempt("slow runs.get while running", c.runs.get(tsid, r1["run_id"]))
    await attempt("slow threads.get while running", c.threads.get(tsid))
    await attempt("slow get_state while running", c.threads.get_state(tsid))
    await attempt("slow threads.search busy", c.threads.search(status="busy"))
    await attempt("multitask reject", c.runs.create(tsid, "slow", input={"count": 0}, multitask_strategy="reject"))
    await attempt("multitask reject wait", c.runs.wait(tsid, "slow", input={"count": 0}, multitask_strategy="reject"))
    await collect("multitask reject stream", c.runs.stream(tsid, "slow", input={"count": 0}, multitask_strategy="reject"))
    r2 = await attempt("multitask enqueue (default)", c.runs.create(tsid, "slow", input={"count": 50}))
    await attempt("runs.list pending+running", c.runs.list(tsid))
    await attempt("runs.list status=pending", c.runs.list(tsid, status="pending"))
    await attempt("runs.cancel interrupt wait", c.runs.cancel(tsid, r1["run_id"], wait=True))
    await attempt("runs.get after cancel interrupt", c.runs.get(tsid, r1["run_id"]))
    await attempt("threads.get after cancel (r2 likely running)", c.threads.get(tsid))
    await attempt("runs.join enqueued", c.runs.join(tsid, r2["run_id"]))
    await attempt("runs.list after all", c.runs.list(tsid))
    # cancel interrupt, thread status
    ts2 = await c.threads.create()
    r = await c.runs.create(ts2["thread_id"], "slow", input={"count": 0})
    await asyncio.sleep(1.5)
    await attempt("runs.cancel interrupt nowait", c.runs.cancel(ts2["thread_id"], r["run_id"]))
    await asyncio.sleep(1.0)
    await attempt("runs.get after cancel interrupt nowait", c.runs.get(ts2["thread_id"], r["run_id"]))
    await attempt("threads.get after cancel interrupt", c.threads.get(ts2["thread_id"]))
    await attempt("get_state after cancel interrupt", c.threads.get_state(ts2["thread_id"]))
    await attempt("runs.join after cancel", c.runs.join(ts2["thread_id"], r["run_id"]))
    await attempt("runs.cancel finished run", c.runs.cancel(ts2["thread_id"], r["run_id"]))
    # rollback
    ts3 = await c.threads.create()
    await c.runs.wait(ts3["thread_id"], "counter", input={"count": 7})
    r = await c.runs.create(ts3["thread_id"], "slow", input={"count": 0})
    await asyncio.sleep(1.5)
    await attempt("runs.cancel rollback wait", c.runs.cancel(ts3["thread_id"], r["run_id"], wait=True, action="rollback"))
    await attempt("runs.get after rollback", c.runs.get(ts3["thread_id"], r["run_id"]))
    await attempt("runs.list after rollback", c.runs.list(ts3["thread_id"]))
    await attempt("threads.get after rollback", c.threads.get(ts3["thread_id"]))
    await attempt("get_state after rollback", c.threads.get_state(ts3["thread_id"]))
    await attempt("history after rollback", c.threads.get_history(ts3["thread_id"]))
    # multitask interrupt / rollback strategies
    ts4 = await c.threads.create()
    ra = await c.runs.create(ts4["thread_id"], "slow", input={"count": 0})
    await asyncio.sleep(1.5)
    rb = await attempt("multitask interrupt", c.runs.create(ts4["thread_id"], "counter", input={"count": 1}, multitask_strategy="interrupt"))
    await attempt("multitask interrupt join", c.runs.join(ts4["thread_id"], rb["run_id"]))
    await attempt("multitask interrupt list", c.runs.list(ts4["thread_id"]))
    ts5 = await c.threads.create()
    ra = await c.runs.create(ts5["thread_id"], "slow", input={"count": 0})
    await asyncio.sleep(1.5)
    rb = await attempt("multitask rollback", c.runs.create(ts5["thread_id"], "counter", input={"count": 1}, multitask_strategy="rollback"))
    await attempt("multitask rollback join", c.runs.join(ts5["thread_id"], rb["run_id"]))
    await attempt("multitask rollback list", c.runs.list(ts5["thread_id"]))
    # cancel via stream disconnect
    ts6 = await c.threads.create()
    await collect("stream on_disconnect=cancel then break", c.runs.stream(ts6["thread_id"], "slow", input={"count": 0}, stream_mode="custom", on_disconnect="cancel"), limit=3)
    await asyncio.sleep(1.0)
    await attempt("runs.list after disconnect cancel", c.runs.list(ts6["thread_id"]))
    await attempt("threads.get after disconnect cancel", c.threads.get(ts6["thread_id"]))
    # runs.delete
    await attempt("runs.delete", c.runs.delete(tcid, run["run_id"]))
    await attempt("runs.get after delete", c.runs.get(tcid, run["run_id"]))
    # delete running run?
    ts7 = await c.threads.create()
    r = await c.runs.create(ts7["thread_id"], "slow", input={"count": 0})
    await asyncio.sleep(1.5)
    await attempt("runs.delete running run", c.runs.delete(ts7["thread_id"], r["run_id"]))
    await attempt("runs.cancel after delete", c.runs.cancel(ts7["thread_id"], r["run_id"], wait=True))
    await asyncio.sleep(2.5)
    # cancel_many
    await attempt("runs.cancel_many", c.runs.cancel_many(thread_id=ts7["thread_id"], status="all"))

    # ---------------- resumable streams
    tr = await c.threads.create()
    trid = tr["thread_id"]
    rr = await attempt("resumable runs.create", c.runs.create(trid, "slow", input={"count": 0}, stream_mode=["values", "custom", "updates"], stream_resumable=True))
    parts = await collect("resumable join_stream first 3", c.runs.join_stream(trid, rr["run_id"]), limit=3)
    note("ids:", [p.id for p in parts])
    last = parts[-1].id if parts else None
    await collect("resumable join_stream Last-Event-ID", c.runs.join_stream(trid, rr["run_id"], last_event_id=last))
    await collect("resumable join_stream after finish Last-Event-ID=first", c.runs.join_stream(trid, rr["run_id"], last_event_id=parts[0].id if parts else None))
    await collect("resumable join_stream after finish no id", c.runs.join_stream(trid, rr["run_id"]))
    await collect("resumable join_stream Last-Event-ID=-1", c.runs.join_stream(trid, rr["run_id"], last_event_id="-1"))
    await collect("resumable join_stream after finish stream_mode=custom", c.runs.join_stream(trid, rr["run_id"], last_event_id="-1", stream_mode="custom"))
    rn = await c.runs.create(trid, "slow", input={"count": 0}, stream_mode=["values", "custom"])
    await collect("non-resumable join_stream live", c.runs.join_stream(trid, rn["run_id"]))
    await collect("non-resumable join_stream after finish", c.runs.join_stream(trid, rn["run_id"]))
    await collect("non-resumable join_stream after finish Last-Event-ID=-1", c.runs.join_stream(trid, rn["run_id"], last_event_id="-1"))
    await collect("runs.stream resumable", c.runs.stream(trid, "counter", input={"count": 1}, stream_mode=["values", "custom"], stream_resumable=True))
    rn2 = await c.runs.create(trid, "counter", input={"count": 1})
    await collect("join_stream bg default modes live", c.runs.join_stream(trid, rn2["run_id"]))
    await collect("threads.join_stream (thread stream) after", c.threads.join_stream(trid, last_event_id="-1"), limit=5)

    # ---------------- threads delete / prune
    await attempt("threads.delete", c.threads.delete(t0["thread_id"]))
    await attempt("threads.get after delete", c.threads.get(t0["thread_id"]))
    await attempt("threads.delete unknown", c.threads.delete(t0["thread_id"]))
    await attempt("threads.search status interrupted", c.threads.search(status="interrupted"))
    await attempt("threads.search status error", c.threads.search(status="error", limit=2))
    await attempt("threads.search values", c.threads.search(values={"count": 2}))
    await attempt("threads.search metadata graph_id", c.threads.search(metadata={"graph_id": "hitl"}, limit=2))
    await attempt("threads.search sort_by updated_at desc", c.threads.search(sort_by="updated_at", sort_order="desc", limit=2))
    await attempt("threads.search extract", c.threads.search(limit=2, extract={"cnt": "values.count"}))

    # ---------------- store
    await attempt("store.put_item", c.store.put_item(["users", "alice"], "prefs", {"theme": "dark", "n": 1}))
    await attempt("store.put_item 2", c.store.put_item(["users", "bob"], "prefs", {"theme": "light", "n": 2}))
    await attempt("store.put_item index False", c.store.put_item(["docs"], "d1", {"text": "hello"}, index=False))
    await attempt("store.put_item ttl", c.store.put_item(["docs"], "d2", {"text": "bye"}, ttl=5))
    await attempt("store.get_item", c.store.get_item(["users", "alice"], "prefs"))
    await attempt("store.get_item refresh_ttl", c.store.get_item(["docs"], "d2", refresh_ttl=True))
    await attempt("store.get_item missing", c.store.get_item(["users", "alice"], "nope"))
    await attempt("store.search_items prefix", c.store.search_items(["users"]))
    await attempt("store.search_items filter", c.store.search_items(["users"], filter={"theme": "dark"}))
    await attempt("store.search_items limit offset", c.store.search_items(["users"], limit=1, offset=1))
    await attempt("store.search_items query", c.store.search_items(["docs"], query="hello"))
    await attempt("store.search_items empty prefix", c.store.search_items([]))
    await attempt("store.list_namespaces", c.store.list_namespaces())
    await attempt("store.list_namespaces prefix maxdepth", c.store.list_namespaces(prefix=["users"], max_depth=1))
    await attempt("store.list_namespaces suffix", c.store.list_namespaces(suffix=["alice"]))
    await attempt("store.delete_item", c.store.delete_item(["users", "bob"], "prefs"))
    await attempt("store.get_item after delete", c.store.get_item(["users", "bob"], "prefs"))
    await attempt("store.delete_item missing", c.store.delete_item(["users", "bob"], "prefs"))
    await attempt("store.put_item empty namespace", c.store.put_item([], "k", {"a": 1}))
    await attempt("store.get_item empty namespace", c.store.get_item([], "k"))
    await attempt("store.put_item dot in label", c.store.put_item(["a.b"], "k", {"a": 1}))

    # ---------------- copy/delete final
    await attempt("threads.copy unknown", c.threads.copy(fake))

    # ---------------- assistants delete default?
    await attempt("assistants.delete custom", c.assistants.delete(aid))

    json.dump(NOTES, open("/tmp/ap-research/notes_exercise.json", "w"), indent=1)


asyncio.run(main())
