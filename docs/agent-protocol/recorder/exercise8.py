import asyncio, json, httpx
from langgraph_sdk import get_client
P = "http://127.0.0.1:8124"
ctl = httpx.Client(base_url=P)
def label(n): ctl.post("/__label", json={"label": n, "client": "python-sdk-async"})
async def main():
    c = get_client(url=P)
    label("assistants.update metadata merge check")
    a = await c.assistants.create("counter", metadata={"a": 1, "b": 2}, context={"x": 1, "y": 2}, name="m")
    u = await c.assistants.update(a["assistant_id"], metadata={"b": 3, "c": 4})
    print("metadata after update:", u["metadata"], "context:", u["context"], "name:", u["name"], "version:", u["version"])
    u2 = await c.assistants.update(a["assistant_id"], context={"y": 5})
    print("after context update:", u2["metadata"], u2["context"], u2["config"], u2["version"])
    label("threads.update metadata null value")
    t = await c.threads.create(metadata={"a": 1})
    t2 = await c.threads.update(t["thread_id"], metadata={"a": None, "b": 2})
    print("thread meta:", t2["metadata"])
    label("runs.stream default on_disconnect (break early)")
    n = 0
    async for p in c.runs.stream(t["thread_id"], "slow", input={"count": 0}, stream_mode="custom"):
        n += 1
        if n >= 3: break
    await asyncio.sleep(3.0)
    runs = await c.runs.list(t["thread_id"])
    print("after early break, default on_disconnect:", [r["status"] for r in runs], (await c.threads.get(t["thread_id"]))["status"])
asyncio.run(main())
