import asyncio, json, uuid
import httpx
from langgraph.pregel.remote import RemoteGraph
from langgraph.types import Command

P = "http://127.0.0.1:8124"
ctl = httpx.Client(base_url=P)


def label(name, client="remotegraph"):
    ctl.post("/__label", json={"label": name, "client": client})


def show(name, f):
    label(name)
    try:
        r = f()
        print(f"[{name}] OK", repr(r)[:600])
        return r
    except Exception as e:
        print(f"[{name}] EXC {type(e).__name__}: {str(e)[:300]}")


g = RemoteGraph("chat", url=P)
tid = str(uuid.uuid4())
cfg = {"configurable": {"thread_id": tid}}
show("remote.get_graph", lambda: g.get_graph().to_json())
show("remote.get_graph xray", lambda: g.get_graph(xray=True).to_json())
show("remote.invoke stateless", lambda: g.invoke({"messages": [{"role": "user", "content": "hi"}]}))
show("remote.invoke thread (auto-create)", lambda: g.invoke({"messages": [{"role": "user", "content": "hi"}]}, cfg))
show("remote.stream default", lambda: list(g.stream({"messages": [{"role": "user", "content": "again"}]}, cfg)))
show("remote.stream messages", lambda: list(g.stream({"messages": [{"role": "user", "content": "m"}]}, cfg, stream_mode="messages")))
show("remote.stream list modes", lambda: list(g.stream({"messages": [{"role": "user", "content": "m2"}]}, cfg, stream_mode=["values", "updates", "custom"])))
show("remote.get_state", lambda: g.get_state(cfg))
show("remote.get_state_history", lambda: list(g.get_state_history(cfg, limit=3)))
show("remote.update_state", lambda: g.update_state(cfg, {"messages": [{"role": "user", "content": "injected"}]}, as_node="model"))
show("remote.get_state after update", lambda: g.get_state(cfg))

h = RemoteGraph("hitl", url=P)
hcfg = {"configurable": {"thread_id": str(uuid.uuid4())}}
show("remote hitl invoke interrupt", lambda: h.invoke({"question": "q"}, hcfg))
show("remote hitl get_state", lambda: h.get_state(hcfg))
show("remote hitl resume", lambda: h.invoke(Command(resume="yes"), hcfg))
n = RemoteGraph("nested", url=P)
show("remote nested stream subgraphs", lambda: list(n.stream({"count": 1}, {"configurable": {"thread_id": str(uuid.uuid4())}}, subgraphs=True, stream_mode=["updates", "custom"])))
cnt = RemoteGraph("counter", url=P)
show("remote counter error", lambda: cnt.invoke({"count": -1}))


async def amain():
    label("remote.ainvoke")
    print(await cnt.ainvoke({"count": 1}))
    label("remote.astream custom")
    print([c async for c in cnt.astream({"count": 1}, stream_mode="custom")])
    label("remote.aget_state")
    print(await g.aget_state(cfg))

asyncio.run(amain())
