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
        longer hear its tone (20 dB below the remaining one) and still hear each other,
        and their sfu:audio signals say it is muted ("m":1);
      - GetAttendeeStats "Audio" counts the incoming packets and the mix sent;
      - sfu:audio signals arrive on the peers' data channels as data-message envelopes
        ({"topic":"sfu:audio","data":"<json>",...}, docs/data-messages.md).
  test_content_share_heard_by_everyone
      - an owner's content share (ContentShareOf, an aiortc peer sending its own tone)
        is heard by the owner and by the other attendee; it is not an active speaker.
  test_capabilities_live
      - UpdateAttendeeCapabilities on one of three talkers: Send (mixed, gets no mix),
        Receive (hears the others, not mixed), None (neither), SendReceive (both).
(The tone sender, the meter and the peer are in audio_peer.py.)

Failures print each peer's measured tone powers, its stats and the worker log; offers
and answers are saved under $SFU_INTEROP_ARTIFACTS.

Run: /usr/bin/python3 test_aiortc_audio.py <sfu-worker>   (exit 77 = aiortc missing)
"""

import asyncio
import json
import os
import time
import unittest

import audio_peer
import harness
from audio_peer import Peer, goertzel_db, np

SETTLE_S = 4.0          # connected -> measure (jitter buffers filled, talkers chosen)
WINDOW_S = 1.5          # analysed tail of what a peer heard
SILENCE_S = 3.0         # one peer silent -> measure again
FREQS = (500.0, 800.0, 1300.0)
ABSENT_DB = 20.0        # own (or silenced) tone at least this far below the others
RATE = audio_peer.RATE


class AiortcAudioTest(harness.WorkerCase):
    LOG_TAG = "aiortc-audio"

    def report(self):
        out = []
        for p in self.peers:
            x = p.heard(WINDOW_S)
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

    def hears(self, p, present, absent, since=None):
        """None if, in the last WINDOW_S p decoded (arrived after `since`, if given),
        every `present` tone is there and every `absent` one ABSENT_DB below the weakest
        of them; else what is wrong."""
        x = p.heard(WINDOW_S, since)
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

    async def wait_hears(self, p, present, absent, what, timeout, since=None):
        """Polls hears() for up to `timeout` s: on a loaded machine aiortc's receive
        side can run seconds behind the worker (its decoded-frame queue is unbounded),
        so the window may still hold audio from before a change."""
        deadline = time.monotonic() + timeout
        while True:
            why = self.hears(p, present, absent, since)
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
            t_silent = time.monotonic()
            await asyncio.sleep(SILENCE_S)
            # ... and its muted signal reaches them: aiortc marks all-zero frames with
            # RFC 6464 level 127 (its compute_audio_level_dbov), which rtc_mixer.c
            # follows within the buffer's delay plus a frame
            for p in self.peers[:2]:
                got = [t for t, d in p.signal_docs(t_silent)
                       if (d.get("m") or {}).get(quiet.aid) == 1]
                self.assertTrue(got, "%s: no \"m\":1 for the silent peer within %.0fs: %s"
                                % (p.tag, SILENCE_S, p.signal_docs(t_silent)))
                print("%s: tone2 muted signal %.2fs after it went silent"
                      % (p.tag, got[0] - t_silent))
            for p in self.peers[:2]:
                other = [f for f in FREQS if f not in (p.freq, quiet.freq)]
                await self.wait_hears(p, other, [p.freq, quiet.freq], "tone2 silent", 10.0)
            # sfu:audio signals on the data channel.
            for p in self.peers:
                sig = p.signals()
                self.assertTrue(sig, "%s: no sfu:audio message (%d messages)\n%s"
                                % (p.tag, len(p.messages), self.report()))
                self.assertIsInstance(sig[0].get("data"), str, sig[0])
                json.loads(sig[0]["data"])  # the document is JSON
                self.assertEqual(sig[0].get("senderAttendeeId"), "sfu", sig[0])

        self.run_scenario(scenario(), 75)

    async def audio_of(self, p):
        st = await asyncio.to_thread(p.stats)
        return st.get("Audio") or {}

    async def mix_sent(self, p):
        """Mix packets the worker sent p so far (GetAttendeeStats Audio.Mix)."""
        return ((await self.audio_of(p)).get("Mix") or {}).get("PacketsSent", 0)

    async def gets_nothing(self, p, what, seconds=1.5):
        """p is sent no mix packet during `seconds` (its Mix.PacketsSent stays)."""
        n0 = await self.mix_sent(p)
        await asyncio.sleep(seconds)
        n1 = await self.mix_sent(p)
        self.assertEqual(n1, n0, "%s: %s: still sent the mix (%d -> %d packets)\n%s"
                         % (p.tag, what, n0, n1, self.report()))

    def test_content_share_heard_by_everyone(self):
        """issue 9: "A content share's audio is heard by everyone including its owner".
        The owner (500 Hz) and another attendee (800 Hz) talk; the owner's content share
        (CreateAttendee ContentShareOf, `<owner>#content`, an aiortc peer sending
        1300 Hz, sendonly like a screen share) joins: both hear it, the owner too, and
        neither hears itself. The share is not listed among the active speakers."""
        async def scenario():
            m = self.w.create_meeting()
            owner = Peer(self, m, FREQS[0], "owner")
            other = Peer(self, m, FREQS[1], "other")
            share_att = self.w.ok({"op": "CreateAttendee", "MeetingId": m["MeetingId"],
                                   "ContentShareOf": owner.aid})["Attendee"]
            self.assertTrue(share_att["AttendeeId"].endswith("#content"), share_att)
            share = Peer(self, m, FREQS[2], "share", attendee=share_att,
                         direction="sendonly")
            self.peers += [owner, other, share]
            for p in self.peers:
                await p.join()
            await asyncio.sleep(SETTLE_S)
            await self.wait_hears(owner, [FREQS[1], FREQS[2]], [FREQS[0]],
                                  "owner hears its content share", 10.0)
            await self.wait_hears(other, [FREQS[0], FREQS[2]], [FREQS[1]],
                                  "other hears the content share", 10.0)
            au = await self.audio_of(share)
            self.assertIs(au.get("CanSend"), True, au)
            self.assertIs(au.get("CanReceive"), False, au)  # sendonly: no mix declared
            self.assertGreater((au.get("Incoming") or {}).get("Packets", 0), 100, au)
            # Active speakers (wire-formats.md "o"): the voices, not the share.
            for p in (owner, other):
                orders = [json.loads(e["data"]).get("o") for e in p.signals()]
                orders = [o for o in orders if o]
                self.assertTrue(orders, "%s: no speaker order in %d signals"
                                % (p.tag, len(p.signals())))
                self.assertNotIn(share.aid, [a for o in orders for a in o], orders)

        self.run_scenario(scenario(), 60)

    def test_capabilities_live(self):
        """issue 9 "capabilities respected live", through UpdateAttendeeCapabilities on
        the real worker: three talkers; the third is switched to Audio Send (still mixed
        into the others' audio, gets no mix), then Receive (hears the other two, no
        longer mixed), then None (neither), then SendReceive again (both)."""
        async def scenario():
            m = self.w.create_meeting()
            for i, f in enumerate(FREQS):
                self.peers.append(Peer(self, m, f, "tone%d" % i))
            a, b, c = self.peers
            for p in self.peers:
                await p.join()
            await asyncio.sleep(SETTLE_S)
            await self.wait_hears(a, FREQS[1:], [FREQS[0]], "all talking", 10.0)
            await self.wait_hears(c, FREQS[:2], [FREQS[2]], "all talking", 10.0)

            def set_audio(cap):
                rep = self.w.ok({"op": "UpdateAttendeeCapabilities",
                                 "MeetingId": m["MeetingId"], "AttendeeId": c.aid,
                                 "Capabilities": {"Audio": cap, "Video": "SendReceive",
                                                  "Content": "SendReceive"}})
                self.assertEqual(rep["Attendee"]["Capabilities"]["Audio"], cap, rep)

            async def caps_are(send, receive):
                au = await self.audio_of(c)
                self.assertEqual((au.get("CanSend"), au.get("CanReceive")), (send, receive),
                                 json.dumps(au))

            # Each phase judges only audio that arrived after its change (`since`).
            t = time.monotonic()
            await asyncio.to_thread(set_audio, "Send")
            await caps_are(True, False)
            await self.gets_nothing(c, "Audio Send")
            for p in (a, b):
                await self.wait_hears(p, [f for f in FREQS if f != p.freq], [p.freq],
                                      "tone2 Send only: still mixed", 10.0, since=t)

            t = time.monotonic()  # c got nothing since Send: what it hears now is new
            await asyncio.to_thread(set_audio, "Receive")
            await caps_are(False, True)
            await self.wait_hears(c, FREQS[:2], [FREQS[2]], "tone2 Receive only: hears", 10.0,
                                  since=t)
            for p in (a, b):
                other = [f for f in FREQS[:2] if f != p.freq]
                await self.wait_hears(p, other, [p.freq, FREQS[2]],
                                      "tone2 Receive only: not mixed", 10.0, since=t)

            t = time.monotonic()
            await asyncio.to_thread(set_audio, "None")
            await caps_are(False, False)
            await self.gets_nothing(c, "Audio None")
            for p in (a, b):
                other = [f for f in FREQS[:2] if f != p.freq]
                await self.wait_hears(p, other, [p.freq, FREQS[2]], "tone2 None", 10.0,
                                      since=t)

            t = time.monotonic()
            await asyncio.to_thread(set_audio, "SendReceive")
            await caps_are(True, True)
            await self.wait_hears(c, FREQS[:2], [FREQS[2]], "tone2 back: hears", 10.0,
                                  since=t)
            await self.wait_hears(a, FREQS[1:], [FREQS[0]], "tone2 back: mixed", 10.0,
                                  since=t)

        self.run_scenario(scenario(), 110)


if __name__ == "__main__":
    harness.parse_args()
    if not audio_peer.AVAILABLE:
        harness.skip("aiortc/numpy not importable: %s" % audio_peer.IMPORT_ERROR)
    unittest.main(verbosity=2)
