import asyncio, json
import httpx
from langgraph_sdk import get_client
P = "http://127.0.0.1:8124"
ctl = httpx.Client(base_url=P)
def label(n): ctl.post("/__label", json={"label": n, "client": "python-sdk-async"})
async def collect(name, agen):
    label(name); out = []
    async for p in agen: out.append(p)
    print(f"[{name}]", [p.event for p in out])
async def main():
    c = get_client(url=P)
    for mode in ["messages", "messages-tuple", ["values", "messages-tuple"], "updates"]:
        t = await c.threads.create()
        await collect(f"tools graph mode={mode}", c.runs.stream(t["thread_id"], "tools", input={"messages": [{"role": "user", "content": "hi"}]}, stream_mode=mode))
    label("tools get_state"); print((await c.threads.get_state(t["thread_id"]))["values"]["messages"][1:3])
    for mode in ["values", "custom", "messages-tuple", "debug", "tasks", "checkpoints"]:
        t = await c.threads.create()
        await collect(f"hitl interrupt mode={mode}", c.runs.stream(t["thread_id"], "hitl", input={"question": "q"}, stream_mode=mode))
    t = await c.threads.create()
    await collect("counter interrupt_before mode=updates", c.runs.stream(t["thread_id"], "counter", input={"count": 1}, interrupt_before=["inc"], stream_mode="updates"))
    label("interrupt_before runs.wait"); t = await c.threads.create()
    print(await c.runs.wait(t["thread_id"], "counter", input={"count": 1}, interrupt_before=["inc"]))
    await collect("stateless nested subgraphs messages-tuple", c.runs.stream(None, "nested", input={"count": 1}, stream_mode="updates", stream_subgraphs=True))
    # interrupt inside subgraph? (hitl used as node not available) - skip
    # concurrent runs on same thread via stream: second stream waits (enqueue)
asyncio.run(main())
