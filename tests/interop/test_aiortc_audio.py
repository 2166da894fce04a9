#!/usr/bin/python3
"""Interop: the audio mixer (issue 9) with three aiortc (Debian python3-aiortc) peers.

The worker runs with the mixer on (its default). Three attendees of one meeting each send a
sine tone of its own frequency (48 kHz s16 mono, 20 ms frames, paced in real time) on a
sendrecv audio transceiver and open a data channel. What is checked:

  test_three_tones
      - every peer gets an audio track (the mix the answer declared) and decodes it;
      - after a few seconds, in the last 1.5 s of what each peer heard (Goertzel at the
        three frequencies, relative to the total power), the two other tones are present
        and its own is absent (at least 20 dB below the weaker of the others);
      - then one peer sends digital silence: within a few seconds the other two no
        longer hear its tone (20 dB below the remaining one) and still hear each other;
      - GetAttendeeStats "Audio" counts the incoming packets and the mix sent;
      - sfu:audio signals arrive on the peers' data channels as data-message envelopes
        ({"topic":"sfu:audio","data":"<json>",...}, docs/data-messages.md).

Failures print each peer's measured tone powers, its stats and the worker log; offers
and answers are saved under $SFU_INTEROP_ARTIFACTS.

Run: /usr/bin/python3 test_aiortc_audio.py <sfu-worker>   (exit 77 = aiortc missing)
"""

import asyncio
import fractions
import json
import math
import os
import time
import unittest

import harness
from harness import Worker

CONNECT_TIMEOUT = 10.0
SETTLE_S = 4.0          # connected -> measure (jitter buffers filled, talkers chosen)
WINDOW_S = 1.5          # analysed tail of what a peer heard
SILENCE_S = 3.0         # one peer silent -> measure again
FREQS = (500.0, 800.0, 1300.0)
ABSENT_DB = 20.0        # own (or silenced) tone at least this far below the others
RATE = 48000

try:
    import aioice.ice
    import numpy as np
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
    from av import AudioFrame
except ImportError as e:  # checked in __main__: skip, not fail
    np = None
    _import_error = e
    MediaStreamTrack = object
else:
    # aioice leaves 127.0.0.1 out of its host candidates (interop.md).
    aioice.ice.get_host_addresses = lambda use_ipv4=True, use_ipv6=False: ["127.0.0.1"]


class ToneTrack(MediaStreamTrack):
    """A sine tone at `freq`, 20 ms frames of 48 kHz s16 mono, paced in real time;
    `silent = True` switches to digital silence (all-zero samples)."""

    kind = "audio"
    SAMPLES = 960

    def __init__(self, freq):
        super().__init__()
        self.freq, self.silent = freq, False
        self._start, self._pts = None, 0

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += self.SAMPLES
            await asyncio.sleep(max(0, self._start + self._pts / RATE - time.monotonic()))
        frame = AudioFrame(format="s16", layout="mono", samples=self.SAMPLES)
        if self.silent:
            data = bytes(self.SAMPLES * 2)
        else:
            n = np.arange(self._pts, self._pts + self.SAMPLES)
            data = (6000 * np.sin(2 * np.pi * self.freq * n / RATE)).astype("<i2").tobytes()
        frame.planes[0].update(data)
        frame.pts, frame.sample_rate = self._pts, RATE
        frame.time_base = fractions.Fraction(1, RATE)
        return frame


def goertzel_db(x, freqs):
    """Power at each frequency relative to the signal's total power, in dB (a tone
    alone reads about -3 dB; absent, far below)."""
    n = len(x)
    mean_power = float(np.sum(x * x)) / max(n, 1) + 1e-12
    out = []
    t = np.arange(n)
    win = np.hanning(n)
    xw = x * win
    for f in freqs:
        c = np.exp(-2j * np.pi * f * t / RATE)
        # a tone of amplitude A: |X| = A/2 * sum(w), its mean power A^2/2
        p = 2 * abs(np.sum(xw * c)) ** 2 / float(np.sum(win)) ** 2
        out.append(10 * math.log10(p / mean_power + 1e-12))
    return out


class Peer:
    def __init__(self, test, meeting, freq, tag):
        self.t, self.w, self.m, self.tag = test, test.w, meeting, tag
        self.a = self.w.create_attendee(meeting["MeetingId"])
        self.aid = self.a["AttendeeId"]
        self.freq = freq
        self.pc = RTCPeerConnection(RTCConfiguration())
        self.track = ToneTrack(freq)
        self.pc.addTransceiver(self.track, direction="sendrecv")
        self.dc = self.pc.createDataChannel("chat")
        self.messages = []
        self.dc.on("message", self.messages.append)
        self.chunks = []  # (arrival monotonic, mono float samples)
        self.last_db = {}
        self.tracks = []
        self._consumers = []
        self.pc.on("track", self._on_track)

    def _on_track(self, track):
        self.tracks.append(track)
        if track.kind == "audio":
            self._consumers.append(asyncio.ensure_future(self._consume(track)))

    async def _consume(self, track):
        while True:
            try:
                f = await track.recv()
            except MediaStreamError:
                return
            a = f.to_ndarray().astype(np.float32).reshape(-1)
            ch = len(f.layout.channels)
            if ch > 1:  # packed s16: interleaved
                a = a.reshape(-1, ch).mean(axis=1)
            self.chunks.append((time.monotonic(), a / 32768.0))

    def heard(self, seconds=WINDOW_S):
        """The last `seconds` of decoded audio (mono floats)."""
        need = int(seconds * RATE)
        out, have = [], 0
        for _, a in reversed(self.chunks):
            out.append(a)
            have += len(a)
            if have >= need:
                break
        return np.concatenate(list(reversed(out)))[-need:] if out else np.zeros(0)

    async def join(self):
        await self.pc.setLocalDescription(await self.pc.createOffer())
        offer = self.pc.localDescription.sdp
        rep = await asyncio.to_thread(self.w.request, {
            "op": "Subscribe", "MeetingId": self.m["MeetingId"], "AttendeeId": self.aid,
            "JoinToken": self.a["JoinToken"], "SdpOffer": offer}, 10.0)
        harness.save_artifact(self.tag + "-offer.sdp", offer)
        harness.save_artifact(self.tag + "-reply.json", rep)
        self.t.assertIs(rep.get("ok"), True, "%s: Subscribe: %s" % (self.tag, json.dumps(rep)))
        await self.pc.setRemoteDescription(
            RTCSessionDescription(sdp=rep["SdpAnswer"], type="answer"))
        ev = await asyncio.to_thread(self.w.wait_event, "chime:AttendeeJoined", self.aid,
                                     CONNECT_TIMEOUT)
        self.t.assertIsNotNone(ev, "%s: not joined within %.0fs" % (self.tag, CONNECT_TIMEOUT))

    def stats(self):
        return self.w.attendee_stats(self.m["MeetingId"], self.aid)

    async def close(self):
        for c in self._consumers:
            c.cancel()
        await self.pc.close()


class AiortcAudioTest(unittest.TestCase):
    def setUp(self):
        self.w = Worker().start()
        self.ok = False
        self.peers = []

    def tearDown(self):
        alive = self.w.alive()
        rc = self.w.stop()
        self.w.cleanup(keep_log_as=None if self.ok and alive
                       else "aiortc-audio-%s-worker.log" % self._testMethodName)
        self.assertTrue(alive and rc == 0, "worker exited with %s (log in %s)"
                        % (rc, harness.ARTIFACTS))

    def report(self):
        out = []
        for p in self.peers:
            x = p.heard()
            try:
                st = p.stats()
            except AssertionError as e:
                st = str(e)
            out.append("%s (%s, %.0f Hz): tracks %s, %d chunks, rms %.4f, tones dB %s, "
                       "%d data messages; stats %s" % (
                           p.tag, p.aid[:8], p.freq, [t.kind for t in p.tracks],
                           len(p.chunks), float(np.sqrt(np.mean(x * x))) if len(x) else 0,
                           ["%.1f" % v for v in goertzel_db(x, FREQS)] if len(x) else [],
                           len(p.messages), json.dumps(st.get("Audio") if isinstance(st, dict)
                                                       else st)))
        out.append("worker log (tail):\n%s" % self.w.log_text(3000))
        return "\n".join(out)

    def hears(self, p, present, absent):
        """None if, in the last WINDOW_S p decoded, every `present` tone is there and
        every `absent` one ABSENT_DB below the weakest of them; else what is wrong."""
        x = p.heard()
        if len(x) < int(WINDOW_S * RATE * 0.9):
            return "too little audio decoded (%d samples)" % len(x)
        db = dict(zip(FREQS, goertzel_db(x, FREQS)))
        p.last_db = db
        weakest = min(db[f] for f in present)
        if weakest <= -15.0:
            return "a tone it should hear is missing: %s" % db
        for f in absent:
            if db[f] >= weakest - ABSENT_DB:
                return "hears %.0f Hz: %s" % (f, db)
        return None

    async def wait_hears(self, p, present, absent, what, timeout):
        """Polls hears() for up to `timeout` s: on a loaded machine aiortc's receive
        side can run seconds behind the worker (its decoded-frame queue is unbounded),
        so the window may still hold audio from before a change."""
        deadline = time.monotonic() + timeout
        while True:
            why = self.hears(p, present, absent)
            if why is None:
                print("%s: %s: %s" % (p.tag, what, ", ".join(
                    "%.0f Hz %.1f dB" % kv for kv in sorted(p.last_db.items()))))
                return
            if time.monotonic() >= deadline:
                self.fail("%s: %s: %s\n%s" % (p.tag, what, why, self.report()))
            await asyncio.sleep(0.25)

    def test_three_tones(self):
        async def scenario():
            m = self.w.create_meeting()
            for i, f in enumerate(FREQS):
                self.peers.append(Peer(self, m, f, "tone%d" % i))
            for p in self.peers:
                await p.join()
            await asyncio.sleep(SETTLE_S)
            for p in self.peers:
                self.assertEqual([t.kind for t in p.tracks], ["audio"], self.report())
                others = [f for f in FREQS if f != p.freq]
                await self.wait_hears(p, others, [p.freq], "all three talking", 8.0)
            # Figures: packets in, mix out.
            for p in self.peers:
                st = await asyncio.to_thread(p.stats)
                au = st.get("Audio") or {}
                self.assertGreater((au.get("Incoming") or {}).get("Packets", 0), 100,
                                   json.dumps(st))
                self.assertGreater((au.get("Mix") or {}).get("PacketsSent", 0), 100,
                                   json.dumps(st))
            # One peer goes silent: the others stop hearing it.
            quiet = self.peers[2]
            quiet.track.silent = True
            await asyncio.sleep(SILENCE_S)
            for p in self.peers[:2]:
                other = [f for f in FREQS if f not in (p.freq, quiet.freq)]
                await self.wait_hears(p, other, [p.freq, quiet.freq], "tone2 silent", 10.0)
            # sfu:audio signals on the data channel.
            for p in self.peers:
                envs = []
                for msg in p.messages:
                    try:
                        envs.append(json.loads(msg))
                    except (TypeError, ValueError):
                        pass
                sig = [e for e in envs if isinstance(e, dict) and e.get("topic") == "sfu:audio"]
                self.assertTrue(sig, "%s: no sfu:audio message (%d messages)\n%s"
                                % (p.tag, len(p.messages), self.report()))
                self.assertIsInstance(sig[0].get("data"), str, sig[0])
                json.loads(sig[0]["data"])  # the document is JSON
                self.assertEqual(sig[0].get("senderAttendeeId"), "sfu", sig[0])

        async def guarded():
            try:
                await scenario()
            finally:
                for p in self.peers:
                    await p.close()

        asyncio.run(asyncio.wait_for(guarded(), 75))
        self.ok = True


if __name__ == "__main__":
    harness.parse_args()
    if np is None:
        harness.skip("aiortc/numpy not importable: %s" % _import_error)
    unittest.main(verbosity=2)
