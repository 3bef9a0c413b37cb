#!/usr/bin/env python3
# Load for bench/callgrind.sh: exactly N POSTs over C keep-alive connections, one thread each.
# Usage: callgrind_load.py HOST PORT PATH MODEL KEY N C
import http.client, sys, threading
host, port, path, model, key, n, c = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]), int(sys.argv[7])
body = '{"model":"%s","max_tokens":64,"stream":false,"messages":[{"role":"user","content":"Say hello."}]}' % model
bad = [0]
def run(k):
    conn = http.client.HTTPConnection(host, port, timeout=120)
    for _ in range(k):
        conn.request("POST", path, body, {"content-type": "application/json", "authorization": "Bearer " + key})
        r = conn.getresponse(); r.read()
        if r.status != 200: bad[0] += 1
    conn.close()
ts = [threading.Thread(target=run, args=(n // c,)) for _ in range(c)]
[t.start() for t in ts]; [t.join() for t in ts]
print("requests=%d non2xx=%d" % (n // c * c, bad[0]))
