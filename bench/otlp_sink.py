#!/usr/bin/env python3
"""A do-nothing OTLP/HTTP collector for benchmarks: answers every POST with 200 `{}` and counts
the bytes it got (printed on SIGTERM/SIGINT). Usage: python3 bench/otlp_sink.py PORT"""
import http.server
import signal
import sys

received = {"posts": 0, "bytes": 0}


class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("content-length") or 0)
        self.rfile.read(n)
        received["posts"] += 1
        received["bytes"] += n
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def stop(*_):
    print(f"posts={received['posts']} bytes={received['bytes']}", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
