import asyncio, json, time, statistics, sys
import httpx
from langgraph_sdk import get_client
P = "http://127.0.0.1:8124"
ctl = httpx.Client(base_url=P)
tag = sys.argv[1]
def label(n): ctl.post("/__label", json={"label": n, "client": "python-sdk-async"})
async def main():
    c = get_client(url=P)
    label(f"concurrency two threads [{tag}]")
    ta = await c.threads.create(); tb = await c.threads.create()
    t0 = time.perf_counter()
    ra = await c.runs.create(ta["thread_id"], "slow", input={"count": 0})
    rb = await c.runs.create(tb["thread_id"], "slow", input={"count": 0})
    await asyncio.sleep(1.5)
    sa = (await c.runs.get(ta["thread_id"], ra["run_id"]))["status"]
    sb = (await c.runs.get(tb["thread_id"], rb["run_id"]))["status"]
    await c.runs.join(ta["thread_id"], ra["run_id"]); a = time.perf_counter() - t0
    await c.runs.join(tb["thread_id"], rb["run_id"]); b = time.perf_counter() - t0
    print(tag, f"status@1.5s a={sa} b={sb}; a done {a:.2f}s b done {b:.2f}s")
    label(f"timing runs.stream counter [{tag}]")
    fe = []
    for i in range(10):
        t = await c.threads.create(); t0 = time.perf_counter(); f = None
        async for p in c.runs.stream(t["thread_id"], "counter", input={"count": 1}):
            if f is None: f = time.perf_counter() - t0
        fe.append(f)
    print(tag, "median first event", statistics.median(fe))
asyncio.run(main())
