"""aiortc audio peers for the interop tests of the audio mixer (issue 9): a sine-tone
sender, a Goertzel tone meter, and one meeting attendee on an aiortc PeerConnection
(audio sendrecv or recvonly, a data channel, everything it hears kept as mono floats).
Used by test_aiortc_audio.py and test_chromium_audio.py.

AVAILABLE is False when aiortc or numpy cannot be imported (IMPORT_ERROR says why): the
tests then exit 77 (skip), not fail.
"""

import asyncio
import fractions
import json
import math
import time

import harness

RATE = 48000
CONNECT_TIMEOUT = 10.0

try:
    import aioice.ice
    import numpy as np
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
    from av import AudioFrame
except ImportError as e:  # the tests check AVAILABLE: skip, not fail
    AVAILABLE, IMPORT_ERROR = False, e
    np = None
    MediaStreamTrack = object
else:
    AVAILABLE, IMPORT_ERROR = True, None
    # aioice leaves 127.0.0.1 out of its host candidates (interop.md).
    aioice.ice.get_host_addresses = lambda use_ipv4=True, use_ipv6=False: ["127.0.0.1"]


class ToneTrack(MediaStreamTrack):
    """A sine tone at `freq` of amplitude `amp` (s16 units), 20 ms frames of 48 kHz s16
    mono, paced in real time; `silent = True` switches to digital silence (all-zero
    samples). `frames` counts the frames handed out."""

    kind = "audio"
    SAMPLES = 960

    def __init__(self, freq, amp=6000):
        super().__init__()
        self.freq, self.amp, self.silent = freq, amp, False
        self._start, self._pts = None, 0
        self.frames = 0

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
            data = (self.amp * np.sin(2 * np.pi * self.freq * n / RATE)).astype("<i2").tobytes()
        frame.planes[0].update(data)
        frame.pts, frame.sample_rate = self._pts, RATE
        frame.time_base = fractions.Fraction(1, RATE)
        self.frames += 1
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


def audio_signals(messages):
    """The sfu:audio envelopes among data-channel messages (strings), parsed
    (docs/data-messages.md); non-JSON or other topics are skipped."""
    out = []
    for msg in messages:
        try:
            e = json.loads(msg)
        except (TypeError, ValueError):
            continue
        if isinstance(e, dict) and e.get("topic") == "sfu:audio":
            out.append(e)
    return out


class Peer:
    """One attendee of `meeting` on an aiortc PeerConnection: an audio transceiver
    (`direction`; a ToneTrack at `freq` / `amp` unless recvonly) and a data channel.
    `attendee`: an attendee already created (a content share, say); else a new one."""

    def __init__(self, test, meeting, freq, tag, amp=6000, attendee=None,
                 direction="sendrecv"):
        self.t, self.w, self.m, self.tag = test, test.w, meeting, tag
        self.a = attendee or self.w.create_attendee(meeting["MeetingId"])
        self.aid = self.a["AttendeeId"]
        self.freq = freq
        self.pc = RTCPeerConnection(RTCConfiguration())
        self.track = None
        if direction == "recvonly":
            self.pc.addTransceiver("audio", direction="recvonly")
        else:
            self.track = ToneTrack(freq, amp)
            self.pc.addTransceiver(self.track, direction=direction)
        self.dc = self.pc.createDataChannel("chat")
        self.messages = []  # data-channel messages, in order
        self.message_times = []  # and when each arrived (time.monotonic())
        self.dc.on("message", self._on_message)
        self.chunks = []  # (arrival monotonic, mono float samples)
        self.last_db = {}
        self.tracks = []
        self._consumers = []
        self.pc.on("track", self._on_track)

    def _on_message(self, msg):
        self.messages.append(msg)
        self.message_times.append(time.monotonic())

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

    def heard(self, seconds, since=None):
        """The last `seconds` of decoded audio (mono floats); with `since` (a
        time.monotonic() value), only what arrived from then on."""
        need = int(seconds * RATE)
        out, have = [], 0
        for t, a in reversed(self.chunks):
            if since is not None and t < since:
                break
            out.append(a)
            have += len(a)
            if have >= need:
                break
        return np.concatenate(list(reversed(out)))[-need:] if out else np.zeros(0)

    def signals(self):
        return audio_signals(self.messages)

    def signal_docs(self, since=0.0):
        """[(arrival, document)] of the sfu:audio messages that arrived after `since`."""
        out = []
        for t, msg in zip(list(self.message_times), list(self.messages)):
            if t < since:
                continue
            for e in audio_signals([msg]):
                try:
                    out.append((t, json.loads(e.get("data"))))
                except (TypeError, ValueError):
                    pass
        return out

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
        # a content share reports chime:AttendeeContentJoined instead (issue 7)
        joined = ("chime:AttendeeContentJoined" if self.aid.endswith("#content")
                  else "chime:AttendeeJoined")
        ev = await asyncio.to_thread(self.w.wait_event, joined, self.aid, CONNECT_TIMEOUT)
        self.t.assertIsNotNone(ev, "%s: not joined within %.0fs" % (self.tag, CONNECT_TIMEOUT))

    def stats(self):
        return self.w.attendee_stats(self.m["MeetingId"], self.aid)

    async def close(self):
        for c in self._consumers:
            c.cancel()
        await self.pc.close()
