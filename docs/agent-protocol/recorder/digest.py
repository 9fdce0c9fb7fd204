import json, sys
def trim(o, n=1200):
    s = json.dumps(o, default=str)
    return s if len(s) <= n else s[:n] + "...<%d chars>" % len(s)
labels = sys.argv[1:] 
for l in open("/tmp/ap-research/recordings.jsonl"):
    r = json.loads(l)
    if labels and not any(x in r["label"] for x in labels):
        continue
    if r["path"] == "/__label": continue
    print(f"### [{r['seq']}] {r['label']} ({r['client']}) {r['method']} {r['path']}{'?' + r['query'] if r['query'] else ''} -> {r['status']}")
    if r.get("req_body") is not None: print("  REQ", trim(r["req_body"], 600))
    h = {k: v for k, v in r["resp_headers"].items() if k not in ("vary",)}
    print("  HDR", h)
    if "sse_raw" in r:
        print("  SSE first=%sms end=%sms" % (r.get("t_first_chunk_ms"), r.get("t_end_ms")))
        for e in r["sse_events"]:
            print("   ", trim(e, 700))
    else:
        print("  RESP", trim(r.get("resp_body")))
