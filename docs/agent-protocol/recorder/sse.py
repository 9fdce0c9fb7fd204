import json, sys
lab = sys.argv[1]; n = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
for l in open("/tmp/ap-research/recordings.jsonl"):
    r = json.loads(l)
    if r["label"] == lab and "sse_raw" in r:
        print(r["method"], r["path"], r.get("query"), r["req_headers"].get("last-event-id"), json.dumps(r["req_body"]))
        for e in r["sse_events"]:
            print(json.dumps(e)[:n])
