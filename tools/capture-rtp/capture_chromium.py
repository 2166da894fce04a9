#!/usr/bin/python3
"""Capture real VP8 and H.264 RTP packets sent by headless Chromium, loopback only,
for tests/unit/test_codec.c.

Run with /usr/bin/python3:  capture_chromium.py --out tests/data/rtp

Serves capture_chromium.html on 127.0.0.1 and starts Chromium (the flags of
tools/capture-offers) on it. For each codec and size the page sends a canvas of that
size (captureStream, contentHint "detail", degradationPreference
"maintain-resolution") on a sendonly transceiver forced to the codec; the answer comes
from an aiortc peer in this process, whose DTLS transport is tapped after SRTP
(RTCDtlsTransport._handle_rtp_data): the packets Chromium sent, sorted by sequence number,
media payload type only, padding-only packets left out.

Kept as in capture_aiortc.py (the first frame, a keyframe, then whole delta frames, at
most MAX_PACKETS packets): OUT/chromium-<codec>-<w>x<h>-<n>.rtp. The section of OUT/README.md
after its "<!-- chromium -->" line is rewritten with the Chromium version and a table.
"""
import argparse
import asyncio
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import capture_aiortc as ca  # noqa: E402  (also points aioice at 127.0.0.1)

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.rtcdtlstransport import RTCDtlsTransport  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
         "--allow-loopback-in-peer-connection",
         "--disable-features=WebRtcHideLocalIpsWithMdns"]
MARKER = "<!-- chromium -->"

_orig_handle_rtp = RTCDtlsTransport._handle_rtp_data


async def _tapped_handle_rtp(self, data, arrival_time_ms):
    tap = getattr(self, "_capture_tap", None)
    if tap is not None:
        tap.append(bytes(data))
    return await _orig_handle_rtp(self, data, arrival_time_ms)


RTCDtlsTransport._handle_rtp_data = _tapped_handle_rtp


class Case:
    def __init__(self, codec, w, h):
        self.codec, self.w, self.h = codec, w, h
        self.name = "chromium-%s-%dx%d" % (codec, w, h)
        self.pc = self.tap = self.pt = None
        self.result = None
        self.packets = None


async def answer(case, offer):
    pc = case.pc = RTCPeerConnection(RTCConfiguration())

    @pc.on("track")
    def on_track(track):
        async def drain():
            try:
                while True:
                    await track.recv()
            except Exception:
                pass
        asyncio.ensure_future(drain())

    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    tr = pc.getTransceivers()[0]
    case.tap = tr.receiver.transport._capture_tap = []
    for line in pc.localDescription.sdp.splitlines():  # the codec aiortc accepted
        if line.startswith("a=rtpmap:") and "/" in line and \
                line.split()[1].split("/")[0].lower() == case.codec:
            case.pt = int(line[9:].split()[0])
            break
    return pc.localDescription.sdp


async def wait_packets(case, timeout=15.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while loop.time() < deadline:
            media = []
            for pkt in case.tap or []:
                if len(pkt) < 12 or pkt[1] & 0x7F != case.pt:
                    continue
                if not ca.rtp_split(pkt)[3]:
                    continue  # padding only (bandwidth probes)
                media.append(pkt)
            media.sort(key=lambda p: ca.rtp_split(p)[1])  # arrival order may differ
            try:
                chosen = ca.select(case.codec, media)
            except RuntimeError as e:
                case.result = str(e)
                return
            if chosen:
                case.packets = chosen
                case.result = "ok %d packets" % len(chosen)
                return
            await asyncio.sleep(0.05)
        case.result = "timeout: %d packets" % len(case.tap or [])
    finally:
        if case.pc:
            await case.pc.close()


def write_readme(out, cases, version):
    path = os.path.join(out, "README.md")
    text = open(path).read() if os.path.exists(path) else ""
    text = text.split(MARKER)[0].rstrip("\n") + "\n\n" + MARKER + "\n"
    text += ("## Chromium\n\nSent by %s (headless, canvas.captureStream of the same "
             "picture; tools/capture-rtp/capture_chromium.py), received by aiortc and "
             "copied after SRTP: `chromium-<codec>-<w>x<h>-<n>.rtp`, sorted by sequence "
             "number, at most %d packets a case. The canvas is a still gradient with the "
             "moving noise block; encodings[0].maxBitrate 300 kbps, so that whole delta "
             "frames fit. Header extensions are the ones aiortc's answer kept (mid, "
             "abs-send-time). Chromium's VP8: X=1 I=1 (15-bit PictureID), no L/T/K "
             "(one stream); its H.264 (packetization-mode 1): SPS and PPS alone in one "
             "STAP-A, then the IDR in FU-A fragments; a frame's packets are cut to "
             "about the same size.\n\n" % (version, ca.MAX_PACKETS))
    text += "| file | bytes | seq | timestamp | M | payload |\n|---|---|---|---|---|---|\n"
    for c in cases:
        if not c.packets:
            text += "| %s | | | | | not captured: %s |\n" % (c.name, c.result)
            continue
        describe = ca.vp8_describe if c.codec == "vp8" else ca.h264_describe
        first_ts = ca.rtp_split(c.packets[0])[2]
        for n, pkt in enumerate(c.packets):
            m, seq, ts, payload = ca.rtp_split(pkt)
            what = "keyframe" if ts == first_ts else "delta frame"
            text += "| %s-%d.rtp | %d | %d | %d | %s | %s: %s |\n" % (
                c.name, n, len(pkt), seq, ts, "M" if m else "", what, describe(payload)[0])
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    cases = [Case(codec, w, h) for codec in ("vp8", "h264") for w, h in ca.SIZES]
    by_name = {c.name: c for c in cases}
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    done = threading.Event()

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
            if self.path.startswith("/capture_chromium.html"):
                with open(os.path.join(HERE, "capture_chromium.html")) as f:
                    return self.reply(200, f.read(), "text/html")
            if self.path == "/cases":
                return self.reply(200, json.dumps(
                    [{"name": c.name, "codec": c.codec, "w": c.w, "h": c.h} for c in cases]))
            self.reply(404, "")

        def do_POST(self):
            u = urllib.parse.urlparse(self.path)
            case = by_name.get(urllib.parse.parse_qs(u.query).get("name", [""])[0])
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            if u.path == "/offer" and case:
                sdp = asyncio.run_coroutine_threadsafe(answer(case, body), loop).result(20)
                return self.reply(200, sdp)
            if u.path == "/wait" and case:
                asyncio.run_coroutine_threadsafe(wait_packets(case), loop).result(30)
                print(case.name, case.result, file=sys.stderr)
                return self.reply(200, "")
            if u.path == "/result" and case:
                case.result = body
                print(case.name, body, file=sys.stderr)
                return self.reply(200, "")
            if u.path == "/done":
                done.set()
                return self.reply(200, "")
            self.reply(404, "")

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    prof = tempfile.mkdtemp(prefix="capture-rtp-chromium-")
    cmd = [args.chromium] + FLAGS + [
        "--user-data-dir=" + prof, "--remote-debugging-port=0",
        "http://127.0.0.1:%d/capture_chromium.html" % srv.server_address[1]]
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

    for old in os.listdir(args.out):
        if old.startswith("chromium-") and old.endswith(".rtp"):
            os.remove(os.path.join(args.out, old))
    total = 0
    for c in cases:
        for n, pkt in enumerate(c.packets or []):
            with open(os.path.join(args.out, "%s-%d.rtp" % (c.name, n)), "wb") as f:
                f.write(pkt)
            total += len(pkt)
    version = subprocess.run([args.chromium, "--version"], capture_output=True,
                             text=True).stdout.strip().split(" built")[0]
    write_readme(args.out, cases, version)
    for c in cases:
        print(c.name, c.result)
    print("%d bytes" % total, file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
