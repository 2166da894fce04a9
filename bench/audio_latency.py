#!/usr/bin/python3
"""Mouth-to-ear latency of the audio mixer (issue 9) through the real worker on loopback.

One process, one clock (time.monotonic), two aiortc peers in one meeting of a worker
started with SFU_AUDIO_MIXER=1:

  talker    sendonly: digital silence with a 1 kHz tone burst (BURST_MS) every PERIOD_S,
            each burst starting on a 20 ms frame boundary, paced in real time. "Mouth" is
            the moment its track hands aiortc the frame where a burst starts (aiortc
            encodes and sends it in the same step, well under 1 ms later).
  listener  recvonly: gets the mix (which is the talker alone). Two "ears":
            - packet ear: every RTP packet of the mix as aiortc's receiver is handed it
              (RTCRtpReceiver._handle_rtp_packet wrapped, after SRTP): the first packet
              of a burst is the first large one after a quiet spell (the mixer sends DTX
              while the mix is silent: 1..3-byte packets every 400 ms);
            - decoded ear: the decoded frame in which the burst's onset (first sample
              over a threshold) appears, as the listener's track.recv() returns it,
              plus the onset's offset inside that frame (a player that starts the frame
              on arrival plays the onset then).

Printed per burst and summarised (median, min, max):
  worker+network  packet ear - mouth: aiortc's send path, loopback UDP, the worker
                  (SRTP, jitter buffer, mixer tick, encode), loopback UDP. Loopback costs
                  microseconds, so this is the worker's contribution to a few ms.
  end to end      decoded ear - mouth: the above plus aiortc's receive side (its audio
                  jitter buffer releases a frame only when 4 later ones have arrived:
                  JitterBuffer(capacity=16, prefetch=4), i.e. about 80 ms, then decode).
  worker figures  the talker's incoming stream per GetAttendeeStats "Audio"."Incoming":
                  TargetDelayMs (the jitter buffer's target) and BufferMs (its level),
                  sampled every second; + one 20 ms mixer frame is what issue 9 says the
                  worker holds at most.

Run:  /usr/bin/python3 bench/audio_latency.py build/src/sfu-worker [--bursts N] [--runs K]
Needs Debian python3-aiortc and numpy (like tests/interop/test_aiortc_audio.py).
"""

import argparse
import asyncio
import fractions
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "interop"))
import harness  # noqa: E402
from harness import Worker  # noqa: E402

import aioice.ice  # noqa: E402
import numpy as np  # noqa: E402
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack  # noqa: E402
from aiortc.rtcdtlstransport import RTCDtlsTransport  # noqa: E402
from aiortc.rtcrtpreceiver import RTCRtpReceiver  # noqa: E402
from av import AudioFrame  # noqa: E402

# aioice leaves 127.0.0.1 out of its host candidates (docs/interop.md).
aioice.ice.get_host_addresses = lambda use_ipv4=True, use_ipv6=False: ["127.0.0.1"]

RATE = 48000
FRAME = 960            # 20 ms
PERIOD_S = 1.0         # one burst a second
BURST_MS = 100
WARMUP_S = 3.0         # connected -> first burst (jitter buffer settled, DTX engaged)
BIG_PAYLOAD = 20       # bytes: a mix packet carrying sound (DTX/silence is 1..3 bytes)
QUIET_S = 0.3          # a burst's first packet follows at least this long without sound
ONSET = 0.02           # decoded sample magnitude (full scale 1) that counts as sound


class BurstTrack(MediaStreamTrack):
    """Silence with a tone burst every PERIOD_S once `armed`; records when each burst's
    first frame is handed over (the mouth)."""

    kind = "audio"

    def __init__(self):
        super().__init__()
        self._start, self._pts = None, 0
        self.armed_at_pts = None
        self.mouths = []  # monotonic time of each burst's first frame

    def arm(self):
        # next frame boundary that is a whole number of frames away
        self.armed_at_pts = self._pts + FRAME

    async def recv(self):
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += FRAME
            await asyncio.sleep(max(0, self._start + self._pts / RATE - time.monotonic()))
        data = bytes(FRAME * 2)
        if self.armed_at_pts is not None and self._pts >= self.armed_at_pts:
            rel = self._pts - self.armed_at_pts
            period = int(PERIOD_S * RATE)
            phase = rel % period
            if phase < BURST_MS * RATE // 1000:
                if phase == 0:
                    self.mouths.append(time.monotonic())
                n = np.arange(phase, phase + FRAME)
                data = (12000 * np.sin(2 * np.pi * 1000.0 * n / RATE)).astype("<i2").tobytes()
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(data)
        frame.pts, frame.sample_rate = self._pts, RATE
        frame.time_base = fractions.Fraction(1, RATE)
        return frame


# Packet ear: wrap the receiver's RTP entry point (both peers live in this process; only
# the listener receives audio, the talker is sendonly).
_packets = []  # (monotonic, seq, payload length)
_orig_handle = RTCRtpReceiver._handle_rtp_packet


async def _handle_rtp_packet(self, packet, arrival_time_ms):
    _packets.append((time.monotonic(), packet.sequence_number, len(packet.payload)))
    return await _orig_handle(self, packet, arrival_time_ms)


RTCRtpReceiver._handle_rtp_packet = _handle_rtp_packet

# Send side: when each RTP packet goes to SRTP and the socket (only the talker sends
# RTP). aiortc encodes in a thread pool, so this is after the mouth by the encode and
# a hop back to the event loop.
_sent = []  # monotonic
_orig_send = RTCDtlsTransport._send_rtp


async def _send_rtp(self, data):
    _sent.append(time.monotonic())
    return await _orig_send(self, data)


RTCDtlsTransport._send_rtp = _send_rtp


async def join(w, m, pc, tag):
    a = w.create_attendee(m["MeetingId"])
    await pc.setLocalDescription(await pc.createOffer())
    rep = await asyncio.to_thread(w.request, {
        "op": "Subscribe", "MeetingId": m["MeetingId"], "AttendeeId": a["AttendeeId"],
        "JoinToken": a["JoinToken"], "SdpOffer": pc.localDescription.sdp}, 10.0)
    if not rep.get("ok"):
        raise SystemExit("%s: Subscribe failed: %s" % (tag, json.dumps(rep)))
    await pc.setRemoteDescription(RTCSessionDescription(sdp=rep["SdpAnswer"], type="answer"))
    ev = await asyncio.to_thread(w.wait_event, "chime:AttendeeJoined", a["AttendeeId"], 10.0)
    if ev is None:
        raise SystemExit("%s: not joined" % tag)
    return a


async def talker_main(control, meeting_id, attendee_id, token, bursts):
    """The talker, in its own process (so the listener's decoding, in this same
    interpreter, does not jitter its pacing): subscribes, waits WARMUP_S, sends `bursts`
    bursts, prints {"mouths": [...], "sent": [...]} (CLOCK_MONOTONIC, shared by all
    processes of the machine) and exits."""
    import nnclient
    pc = RTCPeerConnection(RTCConfiguration())
    track = BurstTrack()
    pc.addTransceiver(track, direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())

    def subscribe():
        with nnclient.Req(control) as r:
            return r.request({"op": "Subscribe", "MeetingId": meeting_id,
                              "AttendeeId": attendee_id, "JoinToken": token,
                              "SdpOffer": pc.localDescription.sdp}, timeout=10.0)
    rep = await asyncio.to_thread(subscribe)
    if not rep.get("ok"):
        raise SystemExit("talker: Subscribe failed: %s" % json.dumps(rep))
    await pc.setRemoteDescription(RTCSessionDescription(sdp=rep["SdpAnswer"], type="answer"))
    await asyncio.sleep(WARMUP_S)
    track.arm()
    await asyncio.sleep(bursts * PERIOD_S + 0.3)
    # What the worker's report blocks about our stream told aiortc (RFC 3550 §6.4.1).
    remote = {}
    for st in (await pc.getStats()).values():
        if st.type == "remote-inbound-rtp":
            remote = {"packetsLost": st.packetsLost, "fractionLost": st.fractionLost,
                      "roundTripTime": st.roundTripTime}
    await pc.close()
    print(json.dumps({"mouths": track.mouths[:bursts], "sent": _sent, "remote": remote}),
          flush=True)


def packet_onsets(packets, t0):
    """Times of the first sound-carrying packet after each quiet spell, from t0 on."""
    out, last_big = [], None
    for t, _seq, n in packets:
        if t < t0 or n < BIG_PAYLOAD:
            continue
        if last_big is None or t - last_big >= QUIET_S:
            out.append(t)
        last_big = t
    return out


def match(mouths, ears, lo=0.0, hi=0.8):
    """Each mouth with the first ear in [mouth + lo, mouth + hi), or None."""
    out = []
    for m in mouths:
        e = next((x for x in ears if m + lo <= x < m + hi), None)
        out.append(None if e is None else e - m)
    return out


async def one_run(worker_path, bursts):
    w = Worker().start()
    listener = RTCPeerConnection(RTCConfiguration())
    listener.addTransceiver("audio", direction="recvonly")
    child = None
    decoded = []  # (arrival monotonic + onset offset) of frames with an onset
    consumers = []
    state = {"loud": False}

    async def consume(tr):
        while True:
            try:
                f = await tr.recv()
            except MediaStreamError:
                return
            t = time.monotonic()
            a = f.to_ndarray().astype(np.float32).reshape(-1)
            ch = len(f.layout.channels)
            if ch > 1:
                a = a.reshape(-1, ch).mean(axis=1)
            a /= 32768.0
            idx = np.flatnonzero(np.abs(a) > ONSET)
            if len(idx) and not state["loud"]:
                decoded.append(t + idx[0] / RATE)
            state["loud"] = bool(len(idx))  # silence frame between: next onset counts

    listener.on("track", lambda tr: consumers.append(asyncio.ensure_future(consume(tr)))
                if tr.kind == "audio" else None)
    try:
        m = w.create_meeting()
        await join(w, m, listener, "listener")
        ta = w.create_attendee(m["MeetingId"])
        t0 = time.monotonic()
        child = await asyncio.create_subprocess_exec(
            sys.executable, os.path.abspath(__file__), "--talker", w.control, m["MeetingId"],
            ta["AttendeeId"], ta["JoinToken"], str(bursts), stdout=asyncio.subprocess.PIPE)
        out_task = asyncio.ensure_future(child.stdout.read())
        figures = []
        while not out_task.done():
            await asyncio.wait([out_task], timeout=1.0)
            st = await asyncio.to_thread(w.attendee_stats, m["MeetingId"], ta["AttendeeId"])
            inc = ((st.get("Audio") or {}).get("Incoming") or {})
            if "TargetDelayMs" in inc and time.monotonic() > t0 + WARMUP_S:
                figures.append((inc["TargetDelayMs"], inc["BufferMs"], inc.get("JitterMs", 0)))
        await child.wait()
        got = json.loads(out_task.result().decode().strip().splitlines()[-1])
        await asyncio.sleep(0.5)
        mouths = got["mouths"]
        sends = [next((x for x in got["sent"] if x >= m), None) for m in mouths]
        enc = [None if x is None else x - m for x, m in zip(sends, mouths)]
        net = match(mouths, packet_onsets(_packets, t0))
        e2e = match(mouths, decoded)
        wk = [None if n is None or e is None else n - e for n, e in zip(net, enc)]
        if got.get("remote"):
            print("  talker's remote-inbound-rtp (from the worker's report blocks): %s"
                  % json.dumps(got["remote"]))
        return mouths, enc, wk, net, e2e, figures
    finally:
        for c in consumers:
            c.cancel()
        if child and child.returncode is None:
            child.kill()
            await child.wait()
        await listener.close()
        alive = w.alive()
        w.stop()
        w.cleanup(keep_log_as=None if alive else "audio-latency-worker.log")
        _packets.clear()
        _sent.clear()


def ms(xs):
    v = [x * 1000 for x in xs if x is not None]
    if not v:
        return "no data"
    return "median %.1f ms, min %.1f, max %.1f (n=%d)" % (statistics.median(v), min(v), max(v), len(v))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--talker":
        sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
        control, mid, aid, tok, n = sys.argv[2:7]
        asyncio.run(talker_main(control, mid, aid, tok, int(n)))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("worker")
    ap.add_argument("--bursts", type=int, default=15)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    harness.WORKER = os.path.abspath(args.worker)
    os.environ["SFU_AUDIO_MIXER"] = "1"
    all_enc, all_wk, all_net, all_e2e, all_fig = [], [], [], [], []

    def f(x):
        return "%6.1f ms" % (x * 1000) if x is not None else "  missed"

    for r in range(args.runs):
        mouths, enc, wk, net, e2e, figures = asyncio.run(one_run(args.worker, args.bursts))
        print("run %d: %d bursts sent" % (r + 1, len(mouths)))
        for i in range(len(mouths)):
            print("  burst %2d: mouth->sent %s  sent->mix packet %s  mouth->mix packet %s"
                  "  mouth->decoded %s" % (i, f(enc[i]), f(wk[i]), f(net[i]), f(e2e[i])))
        print("  mouth->sent (aiortc encode):        " + ms(enc))
        print("  sent->mix packet (worker+loopback): " + ms(wk))
        print("  mouth->mix packet:                  " + ms(net))
        print("  mouth->decoded (end to end):        " + ms(e2e))
        if figures:
            print("  talker's jitter buffer (GetAttendeeStats): TargetDelayMs %s, BufferMs %s,"
                  " JitterMs %s" % ("%.0f..%.0f" % (min(f[0] for f in figures), max(f[0] for f in figures)),
                                    "%.0f..%.0f" % (min(f[1] for f in figures), max(f[1] for f in figures)),
                                    "%.1f..%.1f" % (min(f[2] for f in figures), max(f[2] for f in figures))))
        all_enc += enc
        all_wk += wk
        all_net += net
        all_e2e += e2e
        all_fig += figures
    if args.runs > 1:
        print("all runs: mouth->sent (aiortc encode)        " + ms(all_enc))
        print("all runs: sent->mix packet (worker+loopback) " + ms(all_wk))
        print("all runs: mouth->mix packet                  " + ms(all_net))
        print("all runs: mouth->decoded (end to end)        " + ms(all_e2e))
    if all_fig:
        tgt = statistics.median(f[0] for f in all_fig)
        print("worker's own figure: jitter buffer target %.0f ms + one 20 ms mixer frame = %.0f ms"
              % (tgt, tgt + 20))


if __name__ == "__main__":
    main()
