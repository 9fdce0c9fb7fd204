#!/bin/bash
cd /tmp/ap-research/app
rm -rf .langgraph_api
export LANGSMITH_TRACING=false LANGCHAIN_TRACING_V2=false LANGGRAPH_CLI_NO_ANALYTICS=1
setsid ../venv/bin/langgraph dev --port 8123 --host 127.0.0.1 --no-browser --no-reload $EXTRA > /tmp/ap-research/server.log 2>&1 &
echo $! > /tmp/ap-research/server.pid
for i in $(seq 60); do curl -sf -XPOST 127.0.0.1:8123/assistants/search -H 'content-type: application/json' -d '{"limit":1}' >/dev/null && echo up after $i s && exit 0; sleep 1; done
echo failed; exit 1
