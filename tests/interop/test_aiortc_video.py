#!/usr/bin/python3
"""Interop: the video SFU (issue 7) with aiortc (Debian python3-aiortc 1.4.0) peers.

A publisher sends a synthetic 640x480 video (a moving pattern, 30 frames/s) over one
sendonly transceiver, forced to one codec with setCodecPreferences; a viewer offers a
recvonly video section and names the stream in Subscribe's ReceiveStreamIds. What is
checked (docs/control-api.md: Subscribe, GetStreamIndex, GetAttendeeStats "Video"):

  test_vp8_single_stream / test_h264_single_stream
      The publisher's reply carries a PublishedStreamId; GetStreamIndex shows the stream
      (codec, publisher) with a layer of 640x480 once a keyframe passed; the viewer's
      reply maps its mid to the stream; aiortc's decoder turns what the worker forwards
      into >= 30 av.VideoFrame of 640x480; the worker counts PacketsOut for the viewer
      and layer packets for the publisher; every RTP packet the viewer got came on the
      SSRC and payload type its answer declared.
  test_answer_attaches_the_track
      The answer declares the outgoing SSRC (a=ssrc) and a=msid for the viewer's
      receiving mid, aiortc fires on("track") for it with the msid's track id, the
      worker's figures report the same SSRC; a second receiving section without a
      stream is answered inactive and gets no track.
  test_unknown_stream_is_not_found
      ReceiveStreamIds naming no stream -> NotFound, for a new attendee (no transport
      created, no AttendeeAuthorized) and for a viewer already receiving (its view, SSRC
      and transport are unchanged and frames keep coming).
  test_viewer_without_video_capability / test_capability_withdrawn_stops_video
      Video "None" at CreateAttendee: the receiving section is answered inactive, no
      track, no video packet, ReceiveStreams [] -- while its Opus still reaches the
      worker. Withdrawn live by UpdateAttendeeCapabilities: the forwarding stops.

Failures print what the viewer got (RTP packets per SSRC and payload type, tapped in
aiortc's DTLS transport), the worker's figures for both peers, the index, the events
and the worker log; offers and answers are saved under $SFU_INTEROP_ARTIFACTS.

Run: /usr/bin/python3 test_aiortc_video.py <sfu-worker>   (exit 77 = aiortc missing)
"""

import asyncio
import collections
import fractions
import json
import math
import re
import time
import unittest

import harness

CONNECT_TIMEOUT = 10.0   # answer applied -> chime:AttendeeJoined
INDEX_TIMEOUT = 10.0     # publisher connected -> its 640x480 keyframe in the index
FRAMES_TIMEOUT = 10.0    # viewer connected -> FRAMES_WANTED decoded frames (~1 s)
FRAMES_WANTED = 30
WIDTH, HEIGHT = 640, 480
UNKNOWN_STREAM = 987654
TAP_FIRST = 12           # RTP packets a viewer keeps verbatim (summaries) for a report
NO_VIDEO = {"Audio": "SendReceive", "Video": "None", "Content": "None"}

try:
    import aioice.ice
    import aiortc
    from aiortc import (RTCConfiguration, RTCPeerConnection, RTCRtpSender,
                        RTCSessionDescription)
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack, VideoStreamTrack
    from aiortc.rtcdtlstransport import RTCDtlsTransport
    from av import AudioFrame, VideoFrame
except ImportError as e:  # checked in __main__: skip, not fail
    aiortc = None
    _import_error = e
    MediaStreamTrack = VideoStreamTrack = object
else:
    # aioice leaves 127.0.0.1 out of its host candidates (interop.md).
    aioice.ice.get_host_addresses = lambda use_ipv4=True, use_ipv6=False: ["127.0.0.1"]

    # A tap on every RTP packet a DTLS transport receives (after SRTP, before aiortc
    # routes it to a receiver): what a viewer got, per (SSRC, payload type), whether
    # or not aiortc could route it. RTCP does not pass here.
    _orig_handle_rtp = RTCDtlsTransport._handle_rtp_data

    async def _tapped_handle_rtp(self, data, arrival_time_ms):
        if len(data) >= 12:
            tap = self.__dict__.setdefault("_interop_tap", collections.Counter())
            tap[(int.from_bytes(data[8:12], "big"), data[1] & 0x7F)] += 1
            first = self.__dict__.setdefault("_interop_first", [])
            if len(first) < TAP_FIRST:
                first.append(rtp_summary(data))
        return await _orig_handle_rtp(self, data, arrival_time_ms)

    RTCDtlsTransport._handle_rtp_data = _tapped_handle_rtp


def rtp_summary(data):
    """"seq/timestamp[M] pt ssrc: first payload bytes" of an RTP packet (RFC 3550 §5.1),
    for a failure report: the payload descriptor shows frame starts and keyframes."""
    seq = int.from_bytes(data[2:4], "big")
    ts = int.from_bytes(data[4:8], "big")
    off = 12 + 4 * (data[0] & 0x0F)
    if data[0] & 0x10 and len(data) >= off + 4:
        off += 4 + 4 * int.from_bytes(data[off + 2:off + 4], "big")
    return "%d/%d%s pt%d ssrc%d: %s" % (seq, ts, "M" if data[1] & 0x80 else "",
                                        data[1] & 0x7F, int.from_bytes(data[8:12], "big"),
                                        data[off:off + 8].hex())


def h264_available():
    """aiortc encodes H.264 with PyAV's libx264 (and decodes with its h264)."""
    try:
        import av
        av.codec.Codec("libx264", "w")
        av.codec.Codec("h264", "r")
        return True
    except Exception:
        return False


# ---------------------------------------------------------------------------
# Media sources
# ---------------------------------------------------------------------------
class PatternTrack(VideoStreamTrack):
    """640x480 yuv420p at 30 frames/s (VideoStreamTrack's pacing): a luma gradient
    that slides 8 px a frame and a bright square that moves across it."""

    def __init__(self, width=WIDTH, height=HEIGHT):
        super().__init__()
        self.w, self.h = width, height
        self.row = bytes((x * 3) % 256 for x in range(width))
        self.u = bytes([90]) * (width // 2 * height // 2)
        self.v = bytes([160]) * (width // 2 * height // 2)
        self.frames = 0

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        i, w, h = self.frames, self.w, self.h
        k = (8 * i) % w
        y = bytearray((self.row[k:] + self.row[:k]) * h)
        bx, by = (16 * i) % (w - 64), (6 * i) % (h - 64)
        for r in range(by, by + 64):
            y[r * w + bx:r * w + bx + 64] = b"\xeb" * 64
        frame = VideoFrame(width=w, height=h, format="yuv420p")
        for plane, data in zip(frame.planes, (y, self.u, self.v)):
            assert plane.line_size * plane.height == len(data), "padded plane"
            plane.update(bytes(data))
        frame.pts, frame.time_base = pts, time_base
        self.frames += 1
        return frame


class SineTrack(MediaStreamTrack):
    """A 440 Hz tone, 20 ms frames of 48 kHz s16 mono, paced in real time."""

    kind = "audio"
    RATE, SAMPLES = 48000, 960

    def __init__(self):
        super().__init__()
        self._start, self._pts = None, 0
        one = [int(8000 * math.sin(2 * math.pi * 440 * i / self.RATE))
               for i in range(self.RATE // 440 * 440)]
        self._wave = b"".join(v.to_bytes(2, "little", signed=True) for v in one)

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += self.SAMPLES
            await asyncio.sleep(max(0, self._start + self._pts / self.RATE
                                    - time.monotonic()))
        frame = AudioFrame(format="s16", layout="mono", samples=self.SAMPLES)
        off = (self._pts * 2) % len(self._wave)
        frame.planes[0].update((self._wave[off:] + self._wave)[:self.SAMPLES * 2])
        frame.pts, frame.sample_rate = self._pts, self.RATE
        frame.time_base = fractions.Fraction(1, self.RATE)
        return frame


# ---------------------------------------------------------------------------
# SDP helpers
# ---------------------------------------------------------------------------
def sections(sdp):
    """{mid: [lines]} of the SDP's m-sections; the m= line is first."""
    out, cur = {}, None
    for line in re.split(r"\r?\n", sdp):
        if line.startswith("m="):
            cur = [line]
        elif cur is not None and line.startswith("a=mid:"):
            out[line[6:].strip()] = cur
        if cur is not None and line and not line.startswith("m="):
            cur.append(line)
    return out


def direction(lines):
    for d in ("sendrecv", "sendonly", "recvonly", "inactive"):
        if "a=" + d in lines:
            return d
    return "sendrecv"


def port(lines):
    return int(lines[0].split()[1])


def rtpmap(lines):
    """{pt: "NAME/clock"}"""
    out = {}
    for l in lines:
        mo = re.match(r"a=rtpmap:(\d+) (\S+)", l)
        if mo:
            out[int(mo.group(1))] = mo.group(2)
    return out


def ssrcs(lines):
    """[ssrc] in a=ssrc order, each once."""
    out = []
    for l in lines:
        mo = re.match(r"a=ssrc:(\d+) ", l)
        if mo and int(mo.group(1)) not in out:
            out.append(int(mo.group(1)))
    return out


def msid(lines):
    """(stream, track) of the section's a=msid line, else of an a=ssrc:N msid: line."""
    for l in lines:
        mo = re.match(r"a=msid:(\S+)(?: (\S+))?", l)
        if mo:
            return mo.group(1), mo.group(2)
    for l in lines:
        mo = re.match(r"a=ssrc:\d+ msid:(\S+)(?: (\S+))?", l)
        if mo:
            return mo.group(1), mo.group(2)
    return None


def video_codec_names(sdp):
    names = set()
    for lines in sections(sdp).values():
        if lines[0].startswith("m=video"):
            names.update(v.split("/")[0].upper() for v in rtpmap(lines).values())
    return names


# ---------------------------------------------------------------------------
# Peers
# ---------------------------------------------------------------------------
class Peer:
    """One aiortc peer connection and its attendee, connected through Subscribe."""

    def __init__(self, test, meeting, attendee, tag):
        self.t, self.w = test, test.w
        self.m, self.a, self.tag = meeting, attendee, tag
        self.aid = attendee["AttendeeId"]
        self.pc = RTCPeerConnection(RTCConfiguration())
        self.tracks = []      # on("track"), in order
        self.frames = []      # (width, height) of each decoded video frame
        self.recv_errors = []
        self.reply = self.offer = self.answer = None
        self._consumers = []
        self.pc.on("track", self._on_track)
        test.peers.append(self)

    def _on_track(self, track):
        self.tracks.append(track)
        if track.kind == "video":
            self._consumers.append(asyncio.ensure_future(self._consume(track)))

    async def _consume(self, track):
        while True:
            try:
                f = await track.recv()
            except MediaStreamError:
                return
            except Exception as e:  # a decoder error: keep it for the report
                self.recv_errors.append(repr(e))
                return
            self.frames.append((f.width, f.height))

    async def make_offer(self):
        await self.pc.setLocalDescription(await self.pc.createOffer())
        self.offer = self.pc.localDescription.sdp
        return self.offer

    async def subscribe(self, receive=None, offer=None):
        """Subscribe with this peer's offer; returns the whole reply (ok or not)."""
        req = {"op": "Subscribe", "MeetingId": self.m["MeetingId"],
               "AttendeeId": self.aid, "JoinToken": self.a["JoinToken"],
               "SdpOffer": offer or self.offer}
        if receive is not None:
            req["ReceiveStreamIds"] = receive
        harness.save_artifact(self.tag + "-offer.sdp", req["SdpOffer"])
        rep = await asyncio.to_thread(self.w.request, req, 10.0)
        harness.save_artifact(self.tag + "-reply.json", rep)
        if rep.get("ok"):
            self.reply, self.answer = rep, rep.get("SdpAnswer")
            harness.save_artifact(self.tag + "-answer.sdp", self.answer or "")
        return rep

    async def subscribe_ok(self, receive=None):
        rep = await self.subscribe(receive)
        self.t.assertIs(rep.get("ok"), True, "%s: Subscribe failed: %s"
                        % (self.tag, json.dumps(rep)))
        self.t.assertIsInstance(rep.get("SdpAnswer"), str, json.dumps(rep)[:400])
        return rep

    async def connect(self):
        """Applies the answer and waits for chime:AttendeeJoined."""
        await self.pc.setRemoteDescription(
            RTCSessionDescription(sdp=self.answer, type="answer"))
        joined = await asyncio.to_thread(self.w.wait_event, "chime:AttendeeJoined",
                                         self.aid, CONNECT_TIMEOUT)
        self.t.assertIsNotNone(joined, "%s: no chime:AttendeeJoined within %.0fs; "
                               "events %s; stats %s" % (self.tag, CONNECT_TIMEOUT,
                                                        self.w.events.summary(),
                                                        json.dumps(self.stats_now())))

    def stats_now(self):
        return self.w.attendee_stats(self.m["MeetingId"], self.aid)

    async def stats(self):
        rep = await asyncio.to_thread(self.stats_now)
        self.t.assertIs(rep.get("ok"), True, "GetAttendeeStats: %s" % json.dumps(rep))
        return rep

    def tap(self):
        """Counter {(ssrc, pt): RTP packets} received on this peer's DTLS transports."""
        total = collections.Counter()
        for d in self.pc._RTCPeerConnection__dtlsTransports:
            total.update(getattr(d, "_interop_tap", {}))
        return total

    def tap_text(self):
        tap = self.tap()
        if not tap:
            return "no RTP at all"
        first = []
        for d in self.pc._RTCPeerConnection__dtlsTransports:
            first += getattr(d, "_interop_first", [])
        return "%s; first packets [%s]" % (
            ", ".join("ssrc %d pt %d: %d" % (s, p, n) for (s, p), n in sorted(tap.items())),
            "; ".join(first))

    async def close(self):
        for c in self._consumers:
            c.cancel()
        await self.pc.close()


def video_of(rep):
    v = rep.get("Video")
    return v if isinstance(v, dict) else {}


def layer_packets(rep):
    """Packets of the attendee's first published stream's first layer (0 if none)."""
    pl = video_of(rep).get("Published") or [{}]
    return ((pl[0].get("Layers") or [{}])[0]).get("Packets", 0)


class AiortcVideoTest(harness.WorkerCase):
    LOG_TAG = "aiortc-video"

    # ---- diagnostics -----------------------------------------------------
    def report(self, *peers):
        """Everything needed to tell a router bug from a test bug."""
        out = []
        for p in peers:
            try:
                st = p.stats_now()
            except AssertionError as e:
                st = str(e)
            out.append("%s (%s): tracks %s, decoded %d frames %s%s; RTP received: %s;\n"
                       "  worker stats: %s" % (
                           p.tag, p.aid[:8], [t.kind for t in p.tracks], len(p.frames),
                           sorted(set(p.frames))[:4],
                           (" decoder errors %s" % p.recv_errors[:3]) if p.recv_errors
                           else "", p.tap_text(), json.dumps(st)))
        if peers:
            try:
                out.append("index: %s" % json.dumps(self.index(peers[0].m)))
            except AssertionError as e:
                out.append("index: %s" % e)
        out.append("events: %s" % self.w.events.summary())
        out.append("worker log (tail):\n%s" % self.w.log_text(3000))
        return "\n".join(out)

    # ---- control shortcuts ------------------------------------------------
    def index(self, m):
        rep = self.w.request({"op": "GetStreamIndex", "MeetingId": m["MeetingId"]})
        if rep.get("ok") is not True:
            raise AssertionError("GetStreamIndex: %s" % json.dumps(rep))
        return rep["StreamIndex"]

    def stream_ids(self, m):
        """[(StreamId, publisher)] of the index (its Version also moves with layer
        figures, so it is not what "nothing changed" compares)."""
        return [(s.get("StreamId"), s.get("AttendeeId"))
                for s in self.index(m).get("Streams", [])]

    def index_stream(self, m, sid):
        for s in self.index(m).get("Streams", []):
            if s.get("StreamId") == sid:
                return s
        return None

    async def wait_for(self, pred, timeout, interval=0.2):
        """Polls pred() (run in a thread) until truthy or timeout; returns the last value."""
        deadline = time.monotonic() + timeout
        while True:
            v = await asyncio.to_thread(pred)
            if v or time.monotonic() >= deadline:
                return v
            await asyncio.sleep(interval)

    # ---- building blocks ---------------------------------------------------
    async def publish(self, m, codec, tag="pub"):
        """A connected publisher of PatternTrack in `codec` ("VP8", "H264");
        returns (peer, StreamId)."""
        pub = Peer(self, m, self.w.create_attendee(m["MeetingId"]), tag)
        pub.track = PatternTrack()
        tr = pub.pc.addTransceiver(pub.track, direction="sendonly")
        caps = RTCRtpSender.getCapabilities("video").codecs
        prefs = [c for c in caps if c.mimeType.lower() == "video/" + codec.lower()]
        if codec == "H264":  # one H.264 (packetization-mode=1) entry: the offer's first
            prefs = [c for c in prefs
                     if c.parameters.get("packetization-mode") == "1"][:1]
        self.assertTrue(prefs, "aiortc has no %s: %s" % (codec, [c.mimeType for c in caps]))
        tr.setCodecPreferences(prefs + [c for c in caps if c.mimeType.lower() == "video/rtx"])
        offer = await pub.make_offer()
        self.assertEqual(video_codec_names(offer) - {"RTX"}, {codec.upper()}, offer)
        self.assertIn("a=sendonly", offer)

        rep = await pub.subscribe_ok()
        sid = rep.get("PublishedStreamId")
        self.assertNotIn("PublishRefused", rep, json.dumps(rep))
        self.assertIsInstance(sid, int, "no PublishedStreamId in the publisher's reply: %s"
                              % json.dumps({k: v for k, v in rep.items()
                                            if k != "SdpAnswer"}))
        self.assertGreater(sid, 0)
        self.assertEqual(rep.get("ReceiveStreams"), [], json.dumps(rep))
        listed = [s for s in rep.get("StreamIndex", {}).get("Streams", [])
                  if s.get("StreamId") == sid]
        self.assertEqual(len(listed), 1, "the reply's StreamIndex lacks stream %d: %s"
                         % (sid, json.dumps(rep.get("StreamIndex"))))
        self.assertEqual(listed[0].get("AttendeeId"), pub.aid, listed)
        self.assertEqual(listed[0].get("Kind"), "camera", listed)
        self.assertEqual(listed[0].get("Codec"), codec, listed)
        pub_mid = next(iter(sections(offer)))
        answered = sections(pub.answer).get(pub_mid)
        self.assertIsNotNone(answered, pub.answer)
        self.assertEqual(direction(answered), "recvonly", answered)
        self.assertEqual({v.split("/")[0].upper() for v in rtpmap(answered).values()}
                         - {"RTX"}, {codec.upper()}, answered)
        await pub.connect()
        return pub, sid

    async def wait_for_keyframe_in_index(self, pub, sid):
        """GetStreamIndex shows stream sid with a 640x480 layer (from a keyframe)."""
        def sized():
            s = self.index_stream(pub.m, sid)
            return s if s and any(l.get("Width") == WIDTH and l.get("Height") == HEIGHT
                                  for l in s.get("Layers", [])) else None
        s = await self.wait_for(sized, INDEX_TIMEOUT)
        self.assertIsNotNone(s, "no %dx%d layer in the index within %.0fs (publisher sent "
                             "%d frames)\n%s" % (WIDTH, HEIGHT, INDEX_TIMEOUT,
                                                 pub.track.frames, self.report(pub)))
        return s

    async def view(self, m, sid, n_sections=1, tag="viewer", attendee=None, audio=False):
        """A viewer offering n_sections recvonly video sections (and a sendonly Opus
        one if audio), subscribed to [sid]; not connected yet."""
        v = Peer(self, m, attendee or self.w.create_attendee(m["MeetingId"]), tag)
        if audio:
            v.pc.addTransceiver(SineTrack(), direction="sendonly")
        v.video_mids = []
        for _ in range(n_sections):
            v.pc.addTransceiver("video", direction="recvonly")
        offer = await v.make_offer()
        v.video_mids = [mid for mid, lines in sections(offer).items()
                        if lines[0].startswith("m=video")]
        self.assertEqual(len(v.video_mids), n_sections, offer)
        v.rep = await v.subscribe_ok(receive=[sid])
        return v

    def check_receive_mapping(self, v, sid, pub):
        self.assertEqual(v.rep.get("ReceiveStreams"),
                         [{"Mid": v.video_mids[0], "StreamId": sid, "AttendeeId": pub.aid}],
                         json.dumps({k: x for k, x in v.rep.items() if k != "SdpAnswer"}))
        self.assertNotIn("PublishedStreamId", v.rep)

    def answer_section(self, v, mid):
        lines = sections(v.answer).get(mid)
        self.assertIsNotNone(lines, "no mid %s in the answer:\n%s" % (mid, v.answer))
        return lines

    async def wait_frames(self, v, pub, n=FRAMES_WANTED):
        def enough():
            return sum(1 for f in v.frames if f == (WIDTH, HEIGHT)) >= n
        deadline = time.monotonic() + FRAMES_TIMEOUT
        while not enough() and not v.recv_errors and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        self.assertTrue(enough(), "viewer decoded %d frames of %dx%d (%d in all) within "
                        "%.0fs; want >= %d\n%s" % (
                            sum(1 for f in v.frames if f == (WIDTH, HEIGHT)), WIDTH,
                            HEIGHT, len(v.frames), FRAMES_TIMEOUT, n, self.report(v, pub)))

    # ---- 1, 2: one stream, decoded -----------------------------------------
    def test_vp8_single_stream(self):
        self.run_scenario(self._single_stream("VP8"))

    def test_h264_single_stream(self):
        if not h264_available():
            self.skipTest("PyAV has no libx264 encoder / h264 decoder")
        self.run_scenario(self._single_stream("H264"))

    async def _single_stream(self, codec):
        m = self.w.create_meeting()
        pub, sid = await self.publish(m, codec)
        await self.wait_for_keyframe_in_index(pub, sid)

        # The viewer comes after the publisher's first keyframe, so it can only start on
        # one the worker asks for on its behalf; aiortc sends no PLI when it cannot
        # decode (only on jitter-buffer overflow), so that keyframe must reach it.
        v = await self.view(m, sid)
        self.check_receive_mapping(v, sid, pub)
        lines = self.answer_section(v, v.video_mids[0])
        self.assertEqual(direction(lines), "sendonly", lines)
        names = rtpmap(lines)
        send_pts = [pt for pt, n in names.items() if n.upper().startswith(codec + "/")]
        self.assertTrue(send_pts, "the viewer's answer has no %s: %s" % (codec, lines))
        declared = ssrcs(lines)
        await v.connect()
        await self.wait_frames(v, pub)

        # The worker's figures agree with what the viewer decoded.
        vs = await v.stats()
        rx = video_of(vs).get("Receiving") or []
        msg = self.report(v, pub)
        self.assertEqual(len(rx), 1, msg)
        self.assertEqual(rx[0].get("StreamId"), sid, msg)
        self.assertEqual(rx[0].get("Mid"), v.video_mids[0], msg)
        self.assertGreater(rx[0].get("PacketsOut", 0), 0, msg)
        self.assertGreater(rx[0].get("BytesOut", 0), 0, msg)
        self.assertEqual(video_of(vs).get("Published"), [], msg)
        ps = await pub.stats()
        published = video_of(ps).get("Published") or []
        self.assertEqual(len(published), 1, msg)
        self.assertEqual(published[0].get("StreamId"), sid, msg)
        self.assertEqual(published[0].get("Codec"), codec, msg)
        self.assertGreater(published[0]["Layers"][0].get("Packets", 0), 0, msg)
        self.assertGreaterEqual(published[0]["Layers"][0].get("Keyframes", 0), 1, msg)

        # Every RTP packet the viewer got is on the declared SSRC (its RTX SSRC for
        # retransmissions) with a payload type its answer names for the stream.
        tap = v.tap()
        media = [(s, p) for (s, p) in tap if names.get(p, "").upper().startswith(codec)]
        self.assertTrue(media, msg)
        self.assertEqual({s for s, _ in media}, {rx[0].get("Ssrc")}, msg)
        if declared:
            self.assertEqual(declared[0], rx[0].get("Ssrc"), msg)
        for (s, p) in tap:
            self.assertIn(p, names, "RTP with payload type %d the answer does not "
                          "name\n%s" % (p, msg))
            self.assertIn(s, set(declared) | {rx[0].get("Ssrc")}, msg)

    # ---- 3: the answer attaches the track ----------------------------------
    def test_answer_attaches_the_track(self):
        self.run_scenario(self._attaches())

    async def _attaches(self):
        m = self.w.create_meeting()
        pub, sid = await self.publish(m, "VP8")
        # Two receiving sections, one stream: the first carries it, the second is
        # answered inactive (docs: "a receiving section left without a stream").
        v = await self.view(m, sid, n_sections=2)
        self.check_receive_mapping(v, sid, pub)
        mid0, mid1 = v.video_mids
        lines = self.answer_section(v, mid0)
        self.assertEqual(direction(lines), "sendonly", lines)
        declared = ssrcs(lines)
        self.assertTrue(declared, "no a=ssrc for mid %s in the answer: %s" % (mid0, lines))
        ms = msid(lines)
        self.assertIsNotNone(ms, "no a=msid for mid %s in the answer: %s" % (mid0, lines))
        self.assertTrue(ms[1], "a=msid without a track id: %s" % lines)
        if len(declared) > 1:  # media + RTX, tied by a=ssrc-group:FID
            self.assertIn("a=ssrc-group:FID %d %d" % (declared[0], declared[1]), lines)
        self.assertTrue(any(re.match(r"a=ssrc:%d cname:\S+" % declared[0], l)
                            for l in lines), lines)
        idle = self.answer_section(v, mid1)
        self.assertTrue(direction(idle) == "inactive" or port(idle) == 0,
                        "mid %s (no stream) not answered inactive: %s" % (mid1, idle))
        self.assertFalse(ssrcs(idle), idle)

        await v.connect()
        # aiortc fired on("track") once, for the sendonly section, with the msid's id.
        self.assertEqual([t.kind for t in v.tracks], ["video"], v.tracks)
        tr = [t for t in v.pc.getTransceivers() if t.mid == mid0][0]
        self.assertIs(tr.receiver.track, v.tracks[0])
        self.assertEqual(v.tracks[0].id, ms[1])
        idle_tr = [t for t in v.pc.getTransceivers() if t.mid == mid1][0]
        self.assertIsNone(idle_tr.receiver.track)

        # The worker sends on the SSRC it declared, and the track gets frames.
        def receiving():
            rx = video_of(v.stats_now()).get("Receiving") or []
            return rx if rx and rx[0].get("PacketsOut", 0) > 0 else None
        rx = await self.wait_for(receiving, FRAMES_TIMEOUT)
        msg = self.report(v, pub)
        self.assertTrue(rx, msg)
        self.assertEqual(len(rx), 1, msg)
        self.assertEqual(rx[0].get("Ssrc"), declared[0], msg)
        self.assertEqual(rx[0].get("Mid"), mid0, msg)
        await self.wait_frames(v, pub, n=5)
        self.assertIn(declared[0], {s for s, _ in v.tap()}, self.report(v, pub))

    # ---- 4: negative --------------------------------------------------------
    def test_unknown_stream_is_not_found(self):
        self.run_scenario(self._unknown_stream())

    async def _unknown_stream(self):
        w = self.w
        m = w.create_meeting()
        pub, sid = await self.publish(m, "VP8")
        streams = self.stream_ids(m)
        self.assertEqual(streams, [(sid, pub.aid)])

        # A new attendee: nothing is created.
        lone = Peer(self, m, w.create_attendee(m["MeetingId"]), "lone")
        lone.pc.addTransceiver("video", direction="recvonly")
        await lone.make_offer()
        rep = await lone.subscribe(receive=[UNKNOWN_STREAM])
        self.assertIs(rep.get("ok"), False, json.dumps(rep)[:400])
        self.assertEqual(rep["error"]["code"], "NotFound", rep)
        self.assertIn(str(UNKNOWN_STREAM), rep["error"]["message"], rep)
        self.assertTrue(rep["error"]["message"].startswith("ReceiveStreamIds[0]"), rep)
        st = await lone.stats()
        self.assertIsNone(st.get("Transport"), json.dumps(st))
        self.assertEqual(w.events.matching("chime:AttendeeAuthorized",
                                           attendeeId=lone.aid), [])

        # A viewer already receiving: the failed re-Subscribe changes nothing.
        v = await self.view(m, sid)
        await v.connect()
        await self.wait_frames(v, pub, n=5)
        before = (await v.stats())
        rx0 = video_of(before).get("Receiving") or []
        self.assertEqual(len(rx0), 1, self.report(v, pub))
        rep = await v.subscribe(receive=[sid, UNKNOWN_STREAM])
        self.assertIs(rep.get("ok"), False, json.dumps(rep)[:400])
        self.assertEqual(rep["error"]["code"], "NotFound", rep)
        self.assertTrue(rep["error"]["message"].startswith("ReceiveStreamIds[1]"), rep)
        self.assertEqual(self.stream_ids(m), streams)
        frames = len(v.frames)

        def grew():
            st = v.stats_now()
            rx = video_of(st).get("Receiving") or []
            return st if rx and rx[0].get("PacketsOut", 0) > rx0[0]["PacketsOut"] else None
        after = await self.wait_for(grew, 5.0)
        msg = self.report(v, pub)
        self.assertTrue(after, "PacketsOut stopped after the refused Subscribe\n" + msg)
        rx1 = video_of(after)["Receiving"]
        for k in ("Mid", "StreamId", "Ssrc", "MaxLayer"):
            self.assertEqual(rx1[0].get(k), rx0[0].get(k), k + "\n" + msg)
        self.assertEqual(after["Transport"]["LocalUfrag"], before["Transport"]["LocalUfrag"])
        self.assertEqual(len(w.events.matching("chime:AttendeeAuthorized",
                                               attendeeId=v.aid)), 1)
        self.assertEqual(w.events.matching("chime:AttendeeLeft", attendeeId=v.aid), [])
        await self.wait_for(lambda: len(v.frames) > frames + 5, 5.0)
        self.assertGreater(len(v.frames), frames + 5, msg)

    def test_viewer_without_video_capability(self):
        self.run_scenario(self._no_video_capability())

    async def _no_video_capability(self):
        w = self.w
        m = w.create_meeting()
        pub, sid = await self.publish(m, "VP8")
        await self.wait_for_keyframe_in_index(pub, sid)
        a = w.create_attendee(m["MeetingId"], Capabilities=NO_VIDEO)
        self.assertEqual(a["Capabilities"], NO_VIDEO)
        v = await self.view(m, sid, attendee=a, audio=True, tag="novideo")
        self.assertEqual(v.rep.get("ReceiveStreams"), [], json.dumps(v.rep)[:600])
        (vmid,) = v.video_mids
        amid = [mid for mid in sections(v.offer) if mid not in v.video_mids][0]
        vl = self.answer_section(v, vmid)
        self.assertTrue(direction(vl) == "inactive" or port(vl) == 0,
                        "video section of a Video=None viewer not inactive: %s" % vl)
        self.assertFalse(ssrcs(vl), vl)
        al = self.answer_section(v, amid)
        self.assertEqual(direction(al), "recvonly", al)
        self.assertNotEqual(port(al), 0, al)
        await v.connect()
        self.assertEqual(v.tracks, [])

        # Audio reaches the worker; meanwhile the publisher keeps sending video and
        # none of it comes to this viewer.
        p0 = layer_packets(await pub.stats())

        def audio_and_video_flowed():
            t = v.stats_now().get("Transport") or {}
            return t.get("RtpPackets", 0) > 50 and t.get("Decrypted", 0) > 50 \
                and layer_packets(pub.stats_now()) > p0 + 60
        flowed = await self.wait_for(audio_and_video_flowed, 10.0)
        msg = self.report(v, pub)
        self.assertTrue(flowed, msg)
        st = await v.stats()
        self.assertEqual(st["Transport"].get("DecryptFailures"), 0, msg)
        self.assertEqual(video_of(st).get("Receiving"), [], msg)
        self.assertEqual(v.tap(), collections.Counter(), msg)
        self.assertEqual(v.frames, [], msg)

    def test_capability_withdrawn_stops_video(self):
        self.run_scenario(self._withdrawn())

    async def _withdrawn(self):
        w = self.w
        m = w.create_meeting()
        pub, sid = await self.publish(m, "VP8")
        v = await self.view(m, sid, tag="withdrawn")
        await v.connect()
        await self.wait_frames(v, pub, n=5)
        rep = await asyncio.to_thread(w.request, {
            "op": "UpdateAttendeeCapabilities", "MeetingId": m["MeetingId"],
            "AttendeeId": v.aid, "Capabilities": NO_VIDEO})
        self.assertIs(rep.get("ok"), True, rep)
        # The change runs on the meeting's loop after the reply: let it land, then
        # the viewer's RTP count must stay put while the publisher sends 60+ packets.
        await asyncio.sleep(0.5)
        got = sum(v.tap().values())
        p0 = layer_packets(await pub.stats())

        def published_more():
            return layer_packets(pub.stats_now()) > p0 + 60
        self.assertTrue(await self.wait_for(published_more, 10.0), self.report(v, pub))
        msg = self.report(v, pub)
        self.assertEqual(sum(v.tap().values()), got,
                         "video still forwarded after Video=None\n" + msg)
        self.assertIsNotNone(w.wait_event("chime:AttendeeCapabilitiesUpdated", v.aid, 1.0))


if __name__ == "__main__":
    harness.parse_args()
    if aiortc is None:
        harness.skip("aiortc not installed (%s); tools/install-deps.sh --test"
                     % _import_error)
    unittest.main(verbosity=2)
