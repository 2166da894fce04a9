#!/usr/bin/python3
"""Capture real SDP offers from headless Chromium (loopback only).

Serves capture.html on 127.0.0.1, starts Chromium (flags from
shared/design/interop.md) on it, and saves every offer the page POSTs to
OUTDIR/<name>.sdp. With --answer-cmd, each offer is piped to that command and
its stdout is handed back to the page as the SDP answer; the page applies it
with setRemoteDescription and reports the outcome, which is written to
OUTDIR/accepted-chromium.txt.

  tools/capture-offers/capture_chromium.py --out tests/data/sdp \
      --answer-cmd build/sdp-answer-tool
(see tools/capture-offers/README.md for the answer tool)
"""
import argparse
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
         "--allow-loopback-in-peer-connection",
         "--disable-features=WebRtcHideLocalIpsWithMdns"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--answer-cmd", default=None)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--timeout", type=float, default=90)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    done = threading.Event()
    results = {}

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def reply(self, code, body, ctype="text/plain"):
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path.startswith("/capture.html") or self.path == "/":
                with open(os.path.join(HERE, "capture.html")) as f:
                    return self.reply(200, f.read(), "text/html")
            self.reply(404, "")

        def do_POST(self):
            u = urllib.parse.urlparse(self.path)
            q = urllib.parse.parse_qs(u.query)
            name = q.get("name", ["x"])[0]
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n).decode()
            if u.path == "/offer":
                # The browser's SDP uses CRLF; keep it byte for byte.
                with open(os.path.join(args.out, name + ".sdp"), "w", newline="") as f:
                    f.write(body)
                answer = ""
                if args.answer_cmd:
                    p = subprocess.run([args.answer_cmd], input=body.encode(),
                                       capture_output=True)
                    if p.returncode == 0:
                        answer = p.stdout.decode()
                    else:
                        results[name] = "answer-cmd failed: " + p.stderr.decode().strip()
                print("offer", name, len(body), "bytes", file=sys.stderr)
                return self.reply(200, answer)
            if u.path == "/result":
                results.setdefault(name, body) if body == "no-answer" else results.__setitem__(name, body)
                print("result", name, body, file=sys.stderr)
                return self.reply(200, "")
            if u.path == "/done":
                print("done", body, file=sys.stderr)
                done.set()
                return self.reply(200, "")
            self.reply(404, "")

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    port = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    prof = tempfile.mkdtemp(prefix="capture-chromium-")
    cmd = [args.chromium] + FLAGS + ["--user-data-dir=" + prof,
                                     "--remote-debugging-port=0",
                                     "http://127.0.0.1:%d/capture.html" % port]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    ok = done.wait(args.timeout)
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    srv.shutdown()
    shutil.rmtree(prof, ignore_errors=True)
    if args.answer_cmd:
        with open(os.path.join(args.out, "accepted-chromium.txt"), "w") as f:
            f.write("# setRemoteDescription(answer) outcome per captured Chromium offer\n")
            ver = subprocess.run([args.chromium, "--version"], capture_output=True).stdout
            f.write("# " + ver.decode().strip() + "\n")
            for k in sorted(results):
                f.write("%s: %s\n" % (k, results[k]))
    for k in sorted(results):
        print(k, results[k])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
