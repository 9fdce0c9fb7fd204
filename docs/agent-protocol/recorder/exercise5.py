import asyncio, json
import httpx
from langgraph_sdk import get_client
P = "http://127.0.0.1:8124"
ctl = httpx.Client(base_url=P)
def label(n): ctl.post("/__label", json={"label": n, "client": "python-sdk-async"})
async def main():
    c = get_client(url=P)
    t = await c.threads.create()
    tid = t["thread_id"]
    for i in range(3):
        await c.runs.wait(tid, "counter", input={"count": i})
    label("threads.get_history before (retest)")
    h = await c.threads.get_history(tid, limit=10)
    print("history len", len(h), [ (x["metadata"]["source"], x["metadata"]["step"], x["next"]) for x in h])
    try:
        await c.threads.get_history(tid, limit=2, before=h[1]["checkpoint"])
    except Exception as e: print("before EXC", e)
    label("threads.get_history before as config (raw)")
    r = httpx.post(P + f"/threads/{tid}/history", json={"limit": 2, "before": {"configurable": h[1]["checkpoint"]}})
    print("before as config:", r.status_code, len(r.json()) if r.status_code == 200 else r.text[:200])
    label("threads.get_history metadata filter (retest)")
    try:
        r = await c.threads.get_history(tid, limit=5, metadata={"source": "input"})
        print("meta filter", len(r), [x["metadata"]["source"] for x in r])
    except Exception as e: print("meta EXC", e)
    label("threads.get_history GET")
    r = httpx.get(P + f"/threads/{tid}/history", params={"limit": 3})
    print("GET history", r.status_code, len(r.json()))
    label("threads.get_history checkpoint (subgraph ns)")
    try:
        r = await c.threads.get_history(tid, limit=3, checkpoint={"checkpoint_ns": ""})
        print("checkpoint arg", len(r))
    except Exception as e: print("cp EXC", e)
    label("threads.search values (no None-values threads)")
    # fresh: only threads with values? can't; just record
    try:
        print(await c.threads.search(values={"count": 3}))
    except Exception as e: print("values EXC", e)
asyncio.run(main())
