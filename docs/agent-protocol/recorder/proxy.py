"""Tiny logging reverse proxy: 127.0.0.1:8124 -> 127.0.0.1:8123. Records every exchange to JSONL."""
import json, os, time, itertools, asyncio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse, JSONResponse
from starlette.routing import Route

UP = os.environ.get("UPSTREAM", "http://127.0.0.1:8123")
OUT = os.environ.get("REC_OUT", "/tmp/ap-research/recordings.jsonl")
LABEL = {"label": "unlabelled", "client": "python-sdk"}
SEQ = itertools.count(1)
client = httpx.AsyncClient(base_url=UP, timeout=None)
REQ_KEEP = {"content-type", "accept", "last-event-id", "cache-control", "user-agent", "x-api-key", "authorization"}
RESP_DROP = {"date", "server", "transfer-encoding", "connection", "content-length"}


def _parse(b: bytes, ctype: str):
    if not b:
        return None
    try:
        return json.loads(b)
    except Exception:
        return b.decode("utf-8", "replace")


def write(rec):
    with open(OUT, "a") as f:
        f.write(json.dumps(rec, default=str) + "\n")


async def ctl(request: Request):
    LABEL.update(await request.json())
    return JSONResponse(LABEL)


async def proxy(request: Request):
    body = await request.body()
    seq = next(SEQ)
    t0 = time.perf_counter()
    rec = {
        "seq": seq, "label": LABEL["label"], "client": LABEL.get("client"),
        "method": request.method, "path": request.url.path,
        "query": request.url.query or None,
        "req_headers": {k: v for k, v in request.headers.items() if k.lower() in REQ_KEEP},
        "req_body": _parse(body, request.headers.get("content-type", "")),
    }
    fwd_headers = {k: v for k, v in request.headers.items() if k.lower() not in {"host", "content-length"}}
    upreq = client.build_request(request.method, request.url.path, params=request.url.query,
                                 headers=fwd_headers, content=body)
    try:
        up = await client.send(upreq, stream=True)
    except httpx.TransportError:
        # upstream dropped a keep-alive connection (e.g. after one of its own 500s): retry once
        rec["proxy_retry"] = True
        upreq = client.build_request(request.method, request.url.path, params=request.url.query,
                                     headers=fwd_headers, content=body)
        up = await client.send(upreq, stream=True)
    rec["status"] = up.status_code
    rec["t_headers_ms"] = round((time.perf_counter() - t0) * 1000, 2)
    rec["resp_headers"] = {k: v for k, v in up.headers.items() if k.lower() not in RESP_DROP}
    out_headers = {}
    for k, v in up.headers.items():
        if k.lower() in RESP_DROP or k.lower() == "content-encoding":
            continue
        if k.lower() in ("location", "content-location") and v.startswith(UP):
            v = v[len(UP):]
        out_headers[k] = v
    ctype = up.headers.get("content-type", "")
    if "text/event-stream" in ctype:
        chunks = []

        async def gen():
            first = None
            try:
                async for chunk in up.aiter_raw():
                    now = round((time.perf_counter() - t0) * 1000, 2)
                    if first is None:
                        first = now
                    chunks.append([now, chunk.decode("utf-8", "replace")])
                    yield chunk
            finally:
                await up.aclose()
                rec["t_first_chunk_ms"] = first
                rec["t_end_ms"] = round((time.perf_counter() - t0) * 1000, 2)
                raw = "".join(c for _, c in chunks)
                rec["sse_raw"] = raw
                rec["sse_chunk_times_ms"] = [c[0] for c in chunks]
                rec["sse_events"] = parse_sse(raw)
                write(rec)

        return StreamingResponse(gen(), status_code=up.status_code, headers=out_headers)
    data = await up.aread()
    await up.aclose()
    rec["t_end_ms"] = round((time.perf_counter() - t0) * 1000, 2)
    rec["resp_body"] = _parse(data, ctype)
    write(rec)
    return Response(data, status_code=up.status_code, headers=out_headers)


def parse_sse(raw: str):
    evs = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        ev = {}
        datas = []
        for line in block.split("\n"):
            if line.startswith(":"):
                ev.setdefault("comments", []).append(line)
                continue
            k, _, v = line.partition(":")
            v = v[1:] if v.startswith(" ") else v
            if k == "data":
                datas.append(v)
            else:
                ev[k] = v
        if datas:
            d = "\n".join(datas)
            try:
                ev["data"] = json.loads(d)
            except Exception:
                ev["data"] = d
        evs.append(ev)
    return evs


app = Starlette(routes=[
    Route("/__label", ctl, methods=["POST"]),
    Route("/{path:path}", proxy, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]),
])
