import json, uuid, time
import httpx

P = "http://127.0.0.1:8124"
c = httpx.Client(base_url=P, timeout=30)


def label(name):
    c.post("/__label", json={"label": name, "client": "raw-httpx"})


def req(name, method, path, **kw):
    label(name)
    r = c.request(method, path, **kw)
    print(f"[{name}] {method} {path} -> {r.status_code} {r.headers.get('content-type')} {r.text[:300]!r}")
    return r


def stream(name, method, path, headers=None, **kw):
    label(name)
    with c.stream(method, path, headers=headers, **kw) as r:
        body = r.read().decode()
    print(f"[{name}] {method} {path} -> {r.status_code} {dict((k,v) for k,v in r.headers.items() if k in ('location','content-location','content-type'))}\n{body[:1500]}")
    return r, body


req("GET /ok", "GET", "/ok")
req("GET /info", "GET", "/info")
req("malformed JSON body", "POST", "/threads", content=b"{not json", headers={"content-type": "application/json"})
req("empty body POST /threads", "POST", "/threads")
req("runs.wait missing assistant_id", "POST", "/runs/wait", json={"input": {"count": 1}})
req("runs.wait extra unknown field", "POST", "/runs/wait", json={"assistant_id": "counter", "input": {"count": 1}, "bogus_field": 1})
req("threads.search wrong type limit", "POST", "/threads/search", json={"limit": "ten"})
req("assistants.search empty body", "POST", "/assistants/search", json={})
req("assistants.search no body", "POST", "/assistants/search")
req("unknown route", "GET", "/nope")
req("wrong method", "PUT", "/threads")
t = req("threads.create", "POST", "/threads", json={}).json()
tid = t["thread_id"]
req("GET /threads/{id}/state/{checkpoint_id} unknown", "GET", f"/threads/{tid}/state/{uuid.uuid4()}")
req("GET history", "GET", f"/threads/{tid}/history?limit=2")
r = req("runs.create resumable", "POST", f"/threads/{tid}/runs", json={"assistant_id": "slow", "input": {"count": 0}, "stream_mode": ["values", "custom"], "stream_resumable": True})
print("headers:", dict(r.headers))
rid = r.json()["run_id"]
resp, body = stream("join stream raw Last-Event-ID header -1", "GET", f"/threads/{tid}/runs/{rid}/stream", headers={"Last-Event-ID": "-1", "Accept": "text/event-stream"})
ids = [l[4:] for l in body.splitlines() if l.startswith("id: ")]
print("ids", ids)
if len(ids) > 3:
    stream("join stream raw Last-Event-ID header 3rd", "GET", f"/threads/{tid}/runs/{rid}/stream", headers={"Last-Event-ID": ids[2]})
stream("join stream raw stream_mode=custom query", "GET", f"/threads/{tid}/runs/{rid}/stream?stream_mode=custom", headers={"Last-Event-ID": "-1"})
stream("join stream raw garbage Last-Event-ID", "GET", f"/threads/{tid}/runs/{rid}/stream", headers={"Last-Event-ID": "garbage"})
stream("join stream unknown run", "GET", f"/threads/{tid}/runs/{uuid.uuid4()}/stream")
stream("stream unknown thread raw", "POST", f"/threads/{uuid.uuid4()}/runs/stream", json={"assistant_id": "counter", "input": {"count": 1}})
stream("stream if_not_exists=create", "POST", f"/threads/{uuid.uuid4()}/runs/stream", json={"assistant_id": "counter", "input": {"count": 1}, "if_not_exists": "create", "stream_mode": ["values"]})
stream("stream error raw", "POST", f"/threads/{tid}/runs/stream", json={"assistant_id": "counter", "input": {"count": -1}, "stream_mode": ["values"]})
stream("stream stateless raw", "POST", "/runs/stream", json={"assistant_id": "counter", "input": {"count": 1}})
stream("stream feedback/after_seconds", "POST", f"/threads/{tid}/runs/stream", json={"assistant_id": "counter", "input": {"count": 1}, "after_seconds": 1, "stream_mode": "values"})
stream("stream messages-tuple with subgraphs on nested", "POST", "/runs/stream", json={"assistant_id": "nested", "input": {"count": 1}, "stream_mode": ["messages-tuple", "updates"], "stream_subgraphs": True})
stream("stream interrupt hitl raw, updates", "POST", f"/threads/{uuid.uuid4()}/runs/stream", json={"assistant_id": "hitl", "input": {"question": "q"}, "if_not_exists": "create", "stream_mode": ["updates", "values", "debug", "tasks", "checkpoints"]})
req("runs.wait headers", "POST", "/runs/wait", json={"assistant_id": "counter", "input": {"count": 1}})
req("runs.wait thread headers", "POST", f"/threads/{tid}/runs/wait", json={"assistant_id": "counter", "input": {"count": 1}})
req("runs.batch", "POST", "/runs/batch", json=[{"assistant_id": "counter", "input": {"count": 1}}, {"assistant_id": "counter", "input": {"count": 2}}])
req("runs.create stateless bg", "POST", "/runs", json={"assistant_id": "counter", "input": {"count": 1}})
req("GET /threads/{id}/runs?limit=2", "GET", f"/threads/{tid}/runs?limit=2")
req("threads.prune", "POST", "/threads/prune", json={"thread_ids": [tid], "strategy": "keep_latest"})
req("store get missing no namespace", "GET", "/store/items?key=x")
req("store PUT bad", "PUT", "/store/items", json={"namespace": ["a"], "value": {"x": 1}})
req("DELETE store bad", "DELETE", "/store/items", json={"namespace": ["a"]})
req("threads.delete", "DELETE", f"/threads/{tid}")
