#!/usr/bin/python3
"""Capture real VP8 and H.264 RTP packets from aiortc (Debian python3-aiortc 1.4.0),
loopback only, for tests/unit/test_codec.c.

Run with /usr/bin/python3:  capture_aiortc.py --out tests/data/rtp

Two aiortc peers in this process connect to each other on 127.0.0.1 (no worker): the
first sends a synthetic video (sendonly, codec forced with setCodecPreferences), the
second receives it. Every RTP packet the sender's DTLS transport is given is copied
before SRTP protects it (RTCDtlsTransport._send_rtp is wrapped): the plain packet as
aiortc built it, header extensions (mid, abs-send-time) included.

Per codec and size the first frame (a keyframe: libvpx and libx264 start with one) and
the delta frames after it are kept, whole frames only, at most MAX_PACKETS packets in
all, as OUT/<codec>-<w>x<h>-<n>.rtp (n = 0, 1, ... in sending order). OUT/README.md is
written with the versions used and what each file is.

The picture is a still luma gradient with a 64x64 block of fixed noise that moves
8 px a frame: the noise keeps the keyframe above one packet (aiortc's MTU is 1300
bytes, so an H.264 IDR slice is cut into FU-A fragments at every size) while the
gradient keeps it, and the delta frames, to a few packets even at 1280x720.

H.264 needs PyAV's libx264; without it only VP8 is captured (with a message).
"""
import argparse
import asyncio
import ctypes
import fractions
import os
import sys

import aioice.ice
aioice.ice.get_host_addresses = lambda use_ipv4=True, use_ipv6=False: ["127.0.0.1"]

import av  # noqa: E402
import numpy as np  # noqa: E402
import aiortc  # noqa: E402
from aiortc import (RTCConfiguration, RTCPeerConnection, RTCRtpSender,  # noqa: E402
                    RTCSessionDescription)
from aiortc.mediastreams import VideoStreamTrack  # noqa: E402
from aiortc.rtcdtlstransport import RTCDtlsTransport  # noqa: E402
from aiortc.rtp import is_rtcp  # noqa: E402

SIZES = [(320, 180), (640, 360), (1280, 720), (638, 358)]  # 638x358: not a multiple of 16
MAX_PACKETS = 9       # per case: the keyframe and as many whole delta frames as fit
MAX_DELTA_FRAMES = 2
CAPTURE_TIMEOUT = 15.0

# --- the tap --------------------------------------------------------------------------
_orig_send_rtp = RTCDtlsTransport._send_rtp


async def _tapped_send_rtp(self, data):
    tap = getattr(self, "_capture_tap", None)
    if tap is not None and not is_rtcp(data):
        tap.append(bytes(data))
    return await _orig_send_rtp(self, data)


RTCDtlsTransport._send_rtp = _tapped_send_rtp


# --- the picture ----------------------------------------------------------------------
class PatternTrack(VideoStreamTrack):
    """w x h yuv420p at 30 frames/s: a gradient and a moving 64x64 block of noise."""

    def __init__(self, w, h):
        super().__init__()
        self.w, self.h, self.frames = w, h, 0
        x, y = np.arange(w), np.arange(h)[:, None]
        self.grad = (x * 200 // w + y * 40 // h).astype(np.uint8)
        self.noise = np.random.default_rng(7).integers(16, 235, (64, 64), dtype=np.uint8)
        cw, ch = (w + 1) // 2, (h + 1) // 2
        self.u = np.full((ch, cw), 90, np.uint8)
        self.v = np.full((ch, cw), 160, np.uint8)

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        i, w, h = self.frames, self.w, self.h
        y = self.grad.copy()  # still: only the block moves, so delta frames stay small
        bx, by = (8 * i) % (w - 64), (4 * i) % (h - 64)
        y[by:by + 64, bx:bx + 64] = self.noise
        frame = av.VideoFrame(width=w, height=h, format="yuv420p")
        for plane, data in zip(frame.planes, (y, self.u, self.v)):
            buf = np.zeros((plane.height, plane.line_size), np.uint8)  # rows may be padded
            buf[:, :data.shape[1]] = data
            plane.update(buf.tobytes())
        frame.pts, frame.time_base = pts, time_base
        self.frames += 1
        return frame


# --- RTP and payload reading (what the C parsers are checked against) ------------------
def rtp_split(pkt):
    """(marker, seq, timestamp, payload) of an RTP packet (RFC 3550 §5.1)."""
    off = 12 + 4 * (pkt[0] & 0x0F)
    if pkt[0] & 0x10:
        off += 4 + 4 * int.from_bytes(pkt[off + 2:off + 4], "big")
    end = len(pkt) - (pkt[-1] if pkt[0] & 0x20 else 0)
    return (pkt[1] >> 7, int.from_bytes(pkt[2:4], "big"), int.from_bytes(pkt[4:8], "big"),
            pkt[off:end])


def vp8_describe(p):
    """RFC 7741 §4.2 descriptor and, on a frame start, the §4.3 / RFC 6386 §9.1 header."""
    off, pid = 1, None
    if p[0] & 0x80:
        x = p[1]
        off = 2
        if x & 0x80:
            if p[off] & 0x80:
                pid = int.from_bytes(p[off:off + 2], "big") & 0x7FFF
                off += 2
            else:
                pid = p[off]
                off += 1
        off += (1 if x & 0x40 else 0) + (1 if x & 0x30 else 0)
    s = "S=%d PID=%d picture_id=%s" % ((p[0] >> 4) & 1, p[0] & 7, pid)
    if p[0] & 0x17 == 0x10:
        vp8 = p[off:]
        if vp8[0] & 1 == 0:
            w = int.from_bytes(vp8[6:8], "little") & 0x3FFF
            h = int.from_bytes(vp8[8:10], "little") & 0x3FFF
            return s + ", keyframe header %dx%d" % (w, h), True
        return s + ", delta frame header", False
    return s, None


H264_NAMES = {1: "slice", 5: "IDR", 6: "SEI", 7: "SPS", 8: "PPS", 9: "AUD"}


def h264_describe(p):
    """RFC 6184 packet type and the NAL units that begin in it."""
    t = p[0] & 0x1F
    if t == 24:
        units, off = [], 1
        while off + 2 <= len(p):
            n = int.from_bytes(p[off:off + 2], "big")
            units.append("%s(%d)" % (H264_NAMES.get(p[off + 2] & 0x1F, p[off + 2] & 0x1F), n))
            off += 2 + n
        types = {u.split("(")[0] for u in units}
        return "STAP-A: " + " + ".join(units), "SPS" in types or "IDR" in types
    if t == 28:
        ft = p[1] & 0x1F
        se = ("start" if p[1] & 0x80 else "") + ("end" if p[1] & 0x40 else "") or "middle"
        return "FU-A %s of %s" % (se, H264_NAMES.get(ft, ft)), (ft == 5 if p[1] & 0x80 else None)
    return "single NAL %s (%d bytes)" % (H264_NAMES.get(t, t), len(p)), t in (5, 7)


def frames_of(packets):
    """[[packet, ...], ...]: whole frames (same timestamp, marker on the last)."""
    frames, cur = [], []
    for pkt in packets:
        m, _, ts, _ = rtp_split(pkt)
        if cur and rtp_split(cur[0])[2] != ts:
            return frames  # a frame without its marker: stop there
        cur.append(pkt)
        if m:
            frames.append(cur)
            cur = []
    return frames


def select(codec, packets):
    """The first frame, which must be a keyframe, and the delta frames after it that fit
    in MAX_PACKETS; None while not enough has been sent."""
    frames = frames_of(packets)
    if len(frames) < 1 + MAX_DELTA_FRAMES:
        return None
    describe = vp8_describe if codec == "vp8" else h264_describe
    key = frames[0]
    if not describe(rtp_split(key[0])[3])[1]:
        raise RuntimeError("%s: first frame is not a keyframe" % codec)
    out = list(key)
    for f in frames[1:1 + MAX_DELTA_FRAMES]:
        if any(describe(rtp_split(pkt)[3])[1] for pkt in f):
            break  # a second keyframe (a PLI, a bitrate change): deltas end here
        if len(out) + len(f) > MAX_PACKETS:
            break
        out += f
    return out


# --- one case -------------------------------------------------------------------------
def codec_prefs(codec):
    caps = RTCRtpSender.getCapabilities("video").codecs
    if codec == "vp8":
        want = [c for c in caps if c.mimeType.lower() == "video/vp8"]
    else:
        want = [c for c in caps if c.mimeType.lower() == "video/h264"
                and c.parameters.get("packetization-mode") == "1"][:1]
    return want + [c for c in caps if c.mimeType.lower() == "video/rtx"]


async def capture(codec, w, h):
    send, recv = RTCPeerConnection(RTCConfiguration()), RTCPeerConnection(RTCConfiguration())
    try:
        tr = send.addTransceiver(PatternTrack(w, h), direction="sendonly")
        tr.setCodecPreferences(codec_prefs(codec))
        tap = tr.sender.transport._capture_tap = []

        @recv.on("track")
        def on_track(track):
            async def drain():  # the receiver decodes; keep its queue empty
                try:
                    while True:
                        await track.recv()
                except Exception:
                    pass
            asyncio.ensure_future(drain())

        await send.setLocalDescription(await send.createOffer())
        await recv.setRemoteDescription(send.localDescription)
        await recv.setLocalDescription(await recv.createAnswer())
        await send.setRemoteDescription(
            RTCSessionDescription(sdp=recv.localDescription.sdp, type="answer"))
        deadline = asyncio.get_running_loop().time() + CAPTURE_TIMEOUT
        while True:
            chosen = select(codec, tap)
            if chosen:
                return chosen
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError("%s %dx%d: only %d packets in %.0f s"
                                   % (codec, w, h, len(tap), CAPTURE_TIMEOUT))
            await asyncio.sleep(0.05)
    finally:
        await send.close()
        await recv.close()


# --- versions and the README ----------------------------------------------------------
def libvpx_version():
    try:
        lib = ctypes.CDLL("libvpx.so.7")
    except OSError:
        try:
            lib = ctypes.CDLL("libvpx.so")
        except OSError:
            return "unknown"
    lib.vpx_codec_version_str.restype = ctypes.c_char_p
    return lib.vpx_codec_version_str().decode()


def libx264_version():
    """x264 writes its version into an SEI of its first frame; libavcodec's
    build string is the other place it shows."""
    try:
        ctx = av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height, ctx.pix_fmt = 64, 64, "yuv420p"
        ctx.time_base = fractions.Fraction(1, 30)
        ctx.open()
        f = av.VideoFrame(width=64, height=64, format="yuv420p")
        f.pts = 0
        data = b"".join(bytes(p) for p in ctx.encode(f)) + b"".join(
            bytes(p) for p in ctx.encode(None))
        i = data.find(b"x264 - core ")
        return data[i:data.find(b" - ", i + 12)].decode() if i >= 0 else "unknown"
    except Exception:
        return "unknown"


def h264_available():
    try:
        av.codec.Codec("libx264", "w")
        return True
    except Exception:
        return False


README_HEAD = """# Captured RTP packets (VP8, H.264)

Real RTP packets for tests/unit/test_codec.c (loaded through tests/unit/test_data.h):
from aiortc here, from Chromium in the last section. Byte for byte as aiortc built them
(before SRTP), made on loopback by

    /usr/bin/python3 tools/capture-rtp/capture_aiortc.py --out tests/data/rtp

(see tools/capture-rtp/README.md): two aiortc peers in one process, the sender's
sendonly video forced to one codec with setCodecPreferences, every RTP packet copied in
RTCDtlsTransport._send_rtp. The picture is a still luma gradient with a moving 64x64 block of
noise, 30 frames/s.

Versions: aiortc {aiortc}, libvpx {vpx}, libx264 {x264} (PyAV {av}).

`<codec>-<w>x<h>-<n>.rtp`: packet n (sending order) of the capture of one codec at one
picture size. Each case holds the stream's first frame, a keyframe, then whole delta
frames (at most {maxp} packets in all): packets of one frame share the RTP timestamp and
the last one has the marker bit. Every packet carries the one-byte header extensions mid
(id 1) and abs-send-time (id 2). VP8 uses a 15-bit PictureID (X=1, I=1, M=1), S=1 only on
a frame's first packet, PID always 0. 638x358 is not a multiple of 16: H.264 codes
640x368 and crops (SPS frame_cropping), VP8 stores 638x358 in its frame header.

H.264 packetization (aiortc {aiortc}, packetization-mode 1, MTU 1300): x264's SPS, PPS and
its SEI (the encoder's version and options, ~640 bytes) fit in one packet and go as one
STAP-A; a NAL unit over 1300 bytes goes as FU-A fragments; other units go as single NAL
unit packets, or are aggregated into a STAP-A with the following ones when they fit.
libx264 is run with tune=zerolatency (sliced threads), so a frame may hold several slices.
"""


CHROMIUM_MARKER = "<!-- chromium -->"  # capture_chromium.py's section follows


def write_readme(out, rows):
    path = os.path.join(out, "README.md")
    old = open(path).read() if os.path.exists(path) else ""
    chromium = old[old.index(CHROMIUM_MARKER):] if CHROMIUM_MARKER in old else ""
    with open(path, "w") as f:
        f.write(README_HEAD.format(aiortc=aiortc.__version__, vpx=libvpx_version(),
                                   x264=libx264_version(), av=av.__version__,
                                   maxp=MAX_PACKETS))
        f.write("\n| file | bytes | seq | timestamp | M | payload |\n|---|---|---|---|---|---|\n")
        for row in rows:
            f.write("| %s | %d | %d | %d | %s | %s |\n" % row)
        if chromium:
            f.write("\n" + chromium)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for old in os.listdir(args.out):  # a previous capture may have had more packets
        if old.endswith(".rtp") and old.startswith(("vp8-", "h264-")):
            os.remove(os.path.join(args.out, old))
    codecs = ["vp8"]
    if h264_available():
        codecs.append("h264")
    else:
        print("libx264 not available in PyAV: H.264 not captured", file=sys.stderr)
    rows, total = [], 0
    for codec in codecs:
        describe = vp8_describe if codec == "vp8" else h264_describe
        for w, h in SIZES:
            pkts = await capture(codec, w, h)
            first_ts = rtp_split(pkts[0])[2]
            for n, pkt in enumerate(pkts):
                name = "%s-%dx%d-%d.rtp" % (codec, w, h, n)
                with open(os.path.join(args.out, name), "wb") as f:
                    f.write(pkt)
                m, seq, ts, payload = rtp_split(pkt)
                what = "keyframe" if ts == first_ts else "delta frame"
                rows.append((name, len(pkt), seq, ts, "M" if m else "",
                             "%s: %s" % (what, describe(payload)[0])))
                total += len(pkt)
            print("%s %dx%d: %d packets" % (codec, w, h, len(pkts)), file=sys.stderr)
    write_readme(args.out, rows)
    print("%d files, %d bytes" % (len(rows), total), file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
