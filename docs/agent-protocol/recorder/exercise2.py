import asyncio, json, time, uuid, statistics
import httpx
from langgraph_sdk import get_client, get_sync_client

P = "http://127.0.0.1:8124"
ctl = httpx.Client(base_url=P)
OUT = {}


def label(name, client="python-sdk-async"):
    ctl.post("/__label", json={"label": name, "client": client})


def note(*a):
    print(" ".join(str(x) for x in a)[:500])


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
    # thread-level join stream
    t = await c.threads.create()
    tid = t["thread_id"]
    r = await c.runs.create(tid, "slow", input={"count": 0}, stream_mode=["values", "custom"], stream_resumable=True)
    label("threads.join_stream live")
    try:
        agen = await c.threads.join_stream(tid)
        out = []
        async def rd():
            async for p in agen:
                out.append(p)
                if p.event in ("end",) or len(out) > 30:
                    break
        await asyncio.wait_for(rd(), 6)
    except Exception as e:
        note("threads.join_stream EXC", type(e).__name__, e)
    note("[threads.join_stream live] events", [p.event for p in out])
    await c.runs.join(tid, r["run_id"])
    label("threads.join_stream after finish last_event_id=-1")
    try:
        agen = await c.threads.join_stream(tid, last_event_id="-1")
        out = []
        async def rd2():
            async for p in agen:
                out.append(p)
                if len(out) > 30:
                    break
        await asyncio.wait_for(rd2(), 3)
    except Exception as e:
        note("threads.join_stream2 EXC", type(e).__name__, e)
    note("[threads.join_stream after] events", [p.event for p in out])

    # cancel_many
    t = await c.threads.create()
    r1 = await c.runs.create(t["thread_id"], "slow", input={"count": 0})
    r2 = await c.runs.create(t["thread_id"], "slow", input={"count": 0})
    await asyncio.sleep(1.5)
    await attempt("runs.cancel_many thread+run_ids", c.runs.cancel_many(thread_id=t["thread_id"], run_ids=[r1["run_id"], r2["run_id"]]))
    await asyncio.sleep(0.5)
    await attempt("runs.list after cancel_many", c.runs.list(t["thread_id"]))
    await attempt("threads.get after cancel_many", c.threads.get(t["thread_id"]))
    await attempt("runs.cancel_many status pending", c.runs.cancel_many(status="pending"))

    # get_state while inside node
    t = await c.threads.create()
    await c.runs.wait(t["thread_id"], "counter", input={"count": 5})
    r = await c.runs.create(t["thread_id"], "slow", input={"count": 1})
    await asyncio.sleep(2.0)
    await attempt("get_state while inside slow node", c.threads.get_state(t["thread_id"]))
    await attempt("threads.get while inside slow node", c.threads.get(t["thread_id"]))
    await attempt("runs.get while inside slow node", c.runs.get(t["thread_id"], r["run_id"]))
    await attempt("threads.update_state while busy", c.threads.update_state(t["thread_id"], {"count": 1}))
    await attempt("threads.delete while busy?", c.threads.get(t["thread_id"]))
    await c.runs.join(t["thread_id"], r["run_id"])

    # concurrency on different threads (dev default n_jobs_per_worker=1)
    ta = await c.threads.create(); tb = await c.threads.create()
    label("concurrency two threads")
    t0 = time.perf_counter()
    ra = await c.runs.create(ta["thread_id"], "slow", input={"count": 0})
    rb = await c.runs.create(tb["thread_id"], "slow", input={"count": 0})
    await asyncio.sleep(1.5)
    sa = (await c.runs.get(ta["thread_id"], ra["run_id"]))["status"]
    sb = (await c.runs.get(tb["thread_id"], rb["run_id"]))["status"]
    await c.runs.join(ta["thread_id"], ra["run_id"]); ta_done = time.perf_counter() - t0
    await c.runs.join(tb["thread_id"], rb["run_id"]); tb_done = time.perf_counter() - t0
    note(f"[concurrency] statuses at 1.5s: a={sa} b={sb}; a done {ta_done:.2f}s, b done {tb_done:.2f}s")
    OUT["concurrency"] = dict(a_status_1_5s=sa, b_status_1_5s=sb, a_done=ta_done, b_done=tb_done)

    # timing: first event after runs.stream and after runs.create on counter
    label("timing runs.stream counter")
    firsts, firstvals, totals = [], [], []
    for i in range(10):
        t = await c.threads.create()
        t0 = time.perf_counter(); fe = fv = None
        async for p in c.runs.stream(t["thread_id"], "counter", input={"count": 1}, stream_mode=["values", "custom"]):
            now = time.perf_counter() - t0
            if fe is None: fe = now
            if fv is None and p.event == "values": fv = now
        totals.append(time.perf_counter() - t0); firsts.append(fe); firstvals.append(fv)
    OUT["stream_first_event_s"] = firsts; OUT["stream_first_values_s"] = firstvals; OUT["stream_total_s"] = totals
    label("timing runs.create+join_stream counter")
    creates, joins_first, done = [], [], []
    for i in range(10):
        t = await c.threads.create()
        t0 = time.perf_counter()
        r = await c.runs.create(t["thread_id"], "counter", input={"count": 1})
        creates.append(time.perf_counter() - t0)
        fe = None
        async for p in c.runs.join_stream(t["thread_id"], r["run_id"]):
            if fe is None: fe = time.perf_counter() - t0
        joins_first.append(fe); done.append(time.perf_counter() - t0)
    OUT["create_latency_s"] = creates; OUT["create_to_first_join_event_s"] = joins_first; OUT["create_to_stream_end_s"] = done
    label("timing runs.create then poll status")
    started = []
    for i in range(10):
        t = await c.threads.create()
        t0 = time.perf_counter()
        r = await c.runs.create(t["thread_id"], "counter", input={"count": 1})
        while True:
            s = (await c.runs.get(t["thread_id"], r["run_id"]))["status"]
            if s not in ("pending",):
                break
            await asyncio.sleep(0.02)
        started.append((time.perf_counter() - t0, s))
        await c.runs.join(t["thread_id"], r["run_id"])
    OUT["create_to_status_change_s"] = started
    label("timing stateless runs.stream counter")
    sl = []
    for i in range(10):
        t0 = time.perf_counter(); fe = None
        async for p in c.runs.stream(None, "counter", input={"count": 1}):
            if fe is None: fe = time.perf_counter() - t0
        sl.append(fe)
    OUT["stateless_stream_first_event_s"] = sl
    for k, v in list(OUT.items()):
        if isinstance(v, list) and v and isinstance(v[0], float):
            OUT[k + "_median"] = statistics.median(v)
    print(json.dumps(OUT, indent=1, default=str))
    json.dump(OUT, open("/tmp/ap-research/timing.json", "w"), indent=1, default=str)

    # sync client: same wire?
    label("sync client search+wait", client="python-sdk-sync")
    sc = get_sync_client(url=P)
    sc.assistants.search(limit=10)
    st = sc.threads.create()
    sc.runs.wait(st["thread_id"], "counter", input={"count": 1})
    list(sc.runs.stream(st["thread_id"], "counter", input={"count": 1}, stream_mode="updates"))


asyncio.run(main())
