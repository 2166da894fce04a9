#!/usr/bin/python3
"""Interop: aiortc (Debian python3-aiortc 1.4.0) against the real sfu-worker.

An aiortc peer gets its meeting, attendee and answer through the control API, connects
over UDP (ICE, DTLS) within 2 s of applying the answer (chime:AttendeeJoined and
pc.connectionState == "connected"), sends Opus from a sine-tone track and opens a data
channel (it reaches "open": SCTP + DCEP) and sends messages; the worker's figures show
its packets decrypted (no decrypt failure, an SRTP profile) and the data messages
counted (DataChannels, DataMessagesIn). Closing the peer connection (aiortc sends a DTLS close_notify) yields exactly
one departure event: chime:AttendeeLeft.

DTLS fingerprints (RFC 8122 §5): an offer whose only fingerprint is the sha-512 of
aiortc's certificate (191 characters) connects, and so does one with a bogus sha-256
fingerprint listed before the real one (a certificate matching one fingerprint of the
offered set is enough).

Run: /usr/bin/python3 test_aiortc.py <sfu-worker>   (exit 77 = aiortc not installed)
"""

import asyncio
import json
import os
import re
import time
import unittest

import harness
from harness import Worker

# The bar: connected within 2 s of applying the answer. A sanitizer or valgrind
# run may stretch it through the environment.
CONNECT_S = float(os.environ.get("SFU_INTEROP_CONNECT_S", "2.0"))
FIGURES_TIMEOUT = 10.0   # Opus at 50 packets/s: > 50 decrypted after ~1 s
DEPART_TIMEOUT = 10.0    # close -> AttendeeLeft (close_notify is immediate)
DC_TIMEOUT = 10.0        # DTLS up -> SCTP association, DCEP OPEN/ACK, messages counted
DC_MESSAGES = 5

try:
    import aioice.ice
    import aiortc
    from aiortc import (RTCConfiguration, RTCPeerConnection, RTCSessionDescription)
except ImportError as e:  # checked in __main__: skip, not fail
    aiortc = None
    _import_error = e
else:
    # aioice leaves 127.0.0.1 out of its host candidates (interop.md).
    aioice.ice.get_host_addresses = lambda use_ipv4=True, use_ipv6=False: ["127.0.0.1"]


def SineTrack():
    """A 440 Hz tone at -12 dBFS, 20 ms frames of 48 kHz s16 mono, paced in real time
    (audio_peer.ToneTrack; `frames` counts what it handed out)."""
    from audio_peer import ToneTrack
    return ToneTrack(440.0, 8000)


def _connection(pc):
    try:
        return pc.sctp.transport.transport._connection
    except AttributeError:
        return pc.getTransceivers()[0].sender.transport.transport._connection


def selected_pair_local(pc):
    """Local port of the nominated pair (what the worker sees as the client)."""
    pair = _connection(pc)._nominated.get(1)
    return pair.local_candidate.port


def selected_pair(pc):
    """(protocol, remote host, remote port) of aioice's nominated pair, or None."""
    try:
        conn = _connection(pc)
    except (AttributeError, IndexError):
        return None
    pair = getattr(conn, "_nominated", {}).get(1)
    if pair is None:
        return None
    proto = type(pair.protocol).__name__.lower()
    return ("tcp" if "tcp" in proto else "udp", pair.remote_addr[0], pair.remote_addr[1])


def certificate_fingerprint(pc, algorithm):
    """aiortc's DTLS certificate under `algorithm` ("sha-512"), "AB:CD:..." upper case.
    aiortc 1.4.0's RTCCertificate.getFingerprints() lists sha-256 only (later releases
    add sha-384 and sha-512), so the same certificate is hashed with pyOpenSSL then."""
    cert = pc._RTCPeerConnection__certificates[0]
    for f in cert.getFingerprints():
        if f.algorithm.lower() == algorithm:
            return f.value.upper()
    return cert._cert.digest(algorithm.replace("-", "").upper()).decode("ascii")


FP_LINE = re.compile(r"a=fingerprint:sha-256 [0-9A-Fa-f:]+\r\n")
BOGUS_SHA256 = ":".join(["%02X" % (i * 7 % 256) for i in range(32)])


def offer_with_sha512_only(pc, sdp):
    """Every a=fingerprint line replaced by the certificate's sha-512."""
    line = "a=fingerprint:sha-512 %s\r\n" % certificate_fingerprint(pc, "sha-512")
    out, n = FP_LINE.subn(line, sdp)
    assert n >= 1, "no sha-256 fingerprint in aiortc's offer"
    return out


def offer_with_bogus_fingerprint_first(pc, sdp):
    """A bogus sha-256 fingerprint line before every real one."""
    out, n = FP_LINE.subn(lambda mo: "a=fingerprint:sha-256 %s\r\n%s"
                          % (BOGUS_SHA256, mo.group(0)), sdp)
    assert n >= 1, "no sha-256 fingerprint in aiortc's offer"
    return out


class AiortcTest(unittest.TestCase):
    def setUp(self):
        self.w = Worker().start()
        self.ok = False

    def tearDown(self):
        alive = self.w.alive()
        rc = self.w.stop()
        self.w.cleanup(keep_log_as=None if self.ok and alive else "aiortc-worker.log")
        self.assertTrue(alive and rc == 0, "worker exited with %s (log in %s)"
                        % (rc, harness.ARTIFACTS))

    def figures(self, m, a):
        return harness.transport_figures(self.w, m["MeetingId"], a["AttendeeId"])

    def test_connect_send_opus_datachannel_close(self):
        asyncio.run(asyncio.wait_for(self._scenario(), 90))
        self.ok = True

    async def _scenario(self):
        w = self.w
        m, a = w.meeting_and_attendee()
        aid = a["AttendeeId"]
        pc = RTCPeerConnection(RTCConfiguration())
        try:
            await self._run(pc, m, a, aid)
        finally:
            await pc.close()

    async def _run(self, pc, m, a, aid):
        w = self.w
        connected = asyncio.Event()

        @pc.on("connectionstatechange")
        def _state():
            if pc.connectionState == "connected":
                connected.set()

        track = SineTrack()
        pc.addTransceiver(track, direction="sendonly")
        dc = pc.createDataChannel("chat")
        dc_open = asyncio.Event()
        dc.on("open", dc_open.set)

        await pc.setLocalDescription(await pc.createOffer())  # gathers (no trickle)
        offer = pc.localDescription.sdp
        self.assertIn("a=group:BUNDLE 0 1", offer)
        answer = await asyncio.to_thread(w.subscribe, m, a, offer, 10.0, "aiortc")
        self.assertIn("a=ice-lite", answer)
        self.assertIn("a=setup:passive", answer)
        self.assertIn(("udp", "127.0.0.1", w.udp_port, "host", None),
                      harness.candidates(answer))

        # ---- connect within CONNECT_S of applying the answer ----------------
        t0 = time.monotonic()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        joined = await asyncio.to_thread(w.wait_event, "chime:AttendeeJoined", aid,
                                         CONNECT_S)
        try:
            await asyncio.wait_for(connected.wait(),
                                   max(0.01, t0 + CONNECT_S - time.monotonic()))
        except asyncio.TimeoutError:
            pass
        took = time.monotonic() - t0
        print("[%.2fs] answer applied -> joined=%s, aiortc %s" % (
            took, joined is not None, pc.connectionState), flush=True)
        self.assertIsNotNone(joined, "no chime:AttendeeJoined within %.1fs; aiortc state "
                             "ice=%s dtls/conn=%s; events %s; worker figures %s"
                             % (CONNECT_S, pc.iceConnectionState, pc.connectionState,
                                w.events.summary(), self._fig_text(m, a)))
        self.assertEqual(pc.connectionState, "connected",
                         "aiortc not connected %.1fs after the answer" % took)
        self.assertEqual(joined.get("meetingId"), m["MeetingId"], joined)
        self.assertEqual(joined.get("externalUserId"), a["ExternalUserId"], joined)
        self.assertEqual(joined.get("networkType"), "Voip", joined)
        self.assertEqual(selected_pair(pc), ("udp", "127.0.0.1", w.udp_port))

        # ---- Opus reaches the worker and is decrypted ----------------------
        f_join = await asyncio.to_thread(self.figures, m, a)
        f = await self._poll_figures(m, a, lambda f: f["rtp_packets"] > 50
                                     and f["decrypted"] > 50, FIGURES_TIMEOUT)
        msg = "worker figures: %s" % json.dumps(f["raw"])
        self.assertGreater(f["rtp_packets"], 50, msg)
        self.assertGreater(f["decrypted"], 50, msg)
        self.assertEqual(f["decrypt_failures"], 0, msg)
        self.assertEqual(f["dtls_failures"], 0, msg)
        self.assertIn(harness.norm_profile(f["srtp_profile"]),
                      ("AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_80"), msg)
        self.assertEqual(f["protocol"], "udp", msg)
        self.assertEqual(f["selected_address"], "127.0.0.1:%d" % selected_pair_local(pc),
                         msg)
        self.assertEqual(f["dtls_state"], "connected", msg)
        self.assertIs(f["connected"], True, msg)
        self.assertGreater(f["stun_requests"], 0, msg)
        self.assertGreater(track.frames, 50)
        sent = await self._packets_sent(pc)
        self.assertGreater(sent, 50, "aiortc's sender stats")

        # ---- data channel ---------------------------------------------------
        # aiortc (DTLS client) starts SCTP by itself once DTLS is up: its INIT travels
        # as DTLS application data; the worker accepts the association, answers the
        # DCEP DATA_CHANNEL_OPEN with an ACK, and counts the messages that follow.
        self.assertEqual(dc.label, "chat")
        self.assertRegex(answer, r"\r?\nm=application [1-9]", "data channel refused")
        try:
            await asyncio.wait_for(dc_open.wait(), DC_TIMEOUT)
        except asyncio.TimeoutError:
            pass
        self.assertEqual(dc.readyState, "open", "data channel not open within %.0fs; "
                         "worker figures %s" % (DC_TIMEOUT, self._fig_text(m, a)))
        for i in range(DC_MESSAGES):
            dc.send("hello %d" % i)
        dc.send(b"\x00\x01\x02")  # one binary message too (PPID 53)

        def counted(f):
            t = f["raw"]["Transport"]
            return t.get("DataMessagesIn", 0) >= DC_MESSAGES + 1
        f = await self._poll_figures(m, a, counted, DC_TIMEOUT)
        t = f["raw"]["Transport"]
        self.assertEqual(t.get("SctpState"), "established", json.dumps(f["raw"]))
        self.assertGreaterEqual(t.get("DataChannels", 0), 1, json.dumps(f["raw"]))
        self.assertGreaterEqual(t.get("DataMessagesIn", 0), DC_MESSAGES + 1,
                                json.dumps(f["raw"]))
        self.assertGreaterEqual(t.get("DataBytesIn", 0),
                                DC_MESSAGES * len("hello 0") + 3, json.dumps(f["raw"]))
        self.assertGreater(f["dtls_packets"], f_join["dtls_packets"], json.dumps(f["raw"]))
        self.assertEqual(f["decrypt_failures"], 0, json.dumps(f["raw"]))

        # ---- close: exactly one departure, and it is "Left" ----------------
        await pc.close()
        dep = await asyncio.to_thread(
            w.events.wait_any, ("chime:AttendeeLeft", "chime:AttendeeDropped"),
            DEPART_TIMEOUT, attendeeId=aid)
        self.assertIsNotNone(dep, "no AttendeeLeft/Dropped within %.0fs of close; "
                             "events %s" % (DEPART_TIMEOUT, w.events.summary()))
        # aiortc's RTCDtlsTransport.stop() sends close_notify before ICE stops.
        self.assertEqual(dep["eventType"], "chime:AttendeeLeft", dep)
        # The transport is gone from the figures (or says so), so no Dropped can
        # follow from consent expiry; and none came meanwhile.
        gone = harness.wait_until(lambda: self._transport_gone(m, a), 5.0, 0.1)
        self.assertTrue(gone, "transport still live after Left: %s" % self._fig_text(m, a))
        self.assertEqual(len(w.events.matching("chime:AttendeeLeft", attendeeId=aid)), 1,
                         w.events.summary())
        self.assertEqual(w.events.matching("chime:AttendeeDropped", attendeeId=aid), [],
                         w.events.summary())

    def test_sha512_fingerprint_connects(self):
        asyncio.run(asyncio.wait_for(self._fingerprint_scenario(offer_with_sha512_only), 60))
        self.ok = True

    def test_bogus_fingerprint_before_the_real_one_connects(self):
        asyncio.run(asyncio.wait_for(
            self._fingerprint_scenario(offer_with_bogus_fingerprint_first), 60))
        self.ok = True

    async def _fingerprint_scenario(self, munge):
        """Offer munged by munge(pc, sdp); connects, Opus decrypted, close -> Left."""
        w = self.w
        m, a = w.meeting_and_attendee()
        aid = a["AttendeeId"]
        pc = RTCPeerConnection(RTCConfiguration())
        try:
            connected = asyncio.Event()

            @pc.on("connectionstatechange")
            def _state():
                if pc.connectionState == "connected":
                    connected.set()

            pc.addTransceiver(SineTrack(), direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
            offer = munge(pc, pc.localDescription.sdp)
            answer = await asyncio.to_thread(w.subscribe, m, a, offer, 10.0,
                                             "aiortc-" + munge.__name__)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            joined = await asyncio.to_thread(w.wait_event, "chime:AttendeeJoined", aid,
                                             CONNECT_S)
            self.assertIsNotNone(joined, "no chime:AttendeeJoined within %.1fs (%s); "
                                 "events %s; worker figures %s"
                                 % (CONNECT_S, munge.__name__, w.events.summary(),
                                    self._fig_text(m, a)))
            try:
                await asyncio.wait_for(connected.wait(), FIGURES_TIMEOUT)
            except asyncio.TimeoutError:
                pass
            self.assertEqual(pc.connectionState, "connected")
            f = await self._poll_figures(m, a, lambda f: f["decrypted"] > 20, FIGURES_TIMEOUT)
            msg = "worker figures: %s" % json.dumps(f["raw"])
            self.assertGreater(f["decrypted"], 20, msg)
            self.assertEqual(f["dtls_failures"], 0, msg)
            self.assertEqual(f["raw"]["Transport"].get("FingerprintMismatches"), 0, msg)
            await pc.close()
            dep = await asyncio.to_thread(
                w.events.wait_any, ("chime:AttendeeLeft", "chime:AttendeeDropped"),
                DEPART_TIMEOUT, attendeeId=aid)
            self.assertIsNotNone(dep, w.events.summary())
            self.assertEqual(dep["eventType"], "chime:AttendeeLeft", dep)
        finally:
            await pc.close()

    def _transport_gone(self, m, a):
        try:
            self.figures(m, a)
        except harness.NoTransport:
            return True
        return False

    async def _poll_figures(self, m, a, pred, timeout):
        """Polls the figures until pred(figures) or timeout; returns the last ones."""
        deadline = time.monotonic() + timeout
        while True:
            f = await asyncio.to_thread(self.figures, m, a)
            if pred(f) or time.monotonic() >= deadline:
                return f
            await asyncio.sleep(0.2)

    def _fig_text(self, m, a):
        try:
            return json.dumps(self.figures(m, a)["raw"])
        except AssertionError as e:
            return str(e)

    async def _packets_sent(self, pc):
        n = 0
        for t in pc.getTransceivers():
            if t.sender and t.sender.track:
                stats = await t.sender.getStats()
                for s in stats.values():
                    if s.type == "outbound-rtp":
                        n += s.packetsSent
        return n


if __name__ == "__main__":
    harness.parse_args()
    if aiortc is None:
        harness.skip("aiortc not installed (%s); tools/install-deps.sh --test"
                     % _import_error)
    unittest.main(verbosity=2)
