#!/usr/bin/python3
"""Interop: a muted headless Chromium page hears aiortc talkers through the audio mixer
(issue 9, "one headless Chromium page (fake microphone, muted) hears the aiortc talkers
(its inbound audio energy rises) and receives sfu:audio signals naming the loudest
talker first").

The page (page.js, role "listener") takes the fake microphone, disables its track (so
Chromium sends silence marked with RFC 6464 level 127) and sends it on an audio sendrecv
transceiver; the mix it receives plays in an <audio> element. Two aiortc attendees
(audio_peer.py) send tones, one 18 dB louder than the other, at first digital silence.

  test_muted_page_hears_talkers
      - the answer declares the mix (a=ssrc ... msid:sfu-mix);
      - while the talkers are silent the page's inbound audio energy
        (getStats inbound-rtp totalAudioEnergy per second) stays near zero; once they
        talk it rises (audioLevel above 0.05, energy rate 10x the silent one and
        at least 0.01/s);
      - the page's data channel carries sfu:audio documents (data-message envelopes);
        replayed in order (wire-formats.md: "f" replaces, other keys update), the
        active-speaker order "o" names the loud talker first and the quiet one after it,
        never the page;
      - the page itself is muted: its "m" is 1 and GetAttendeeStats says Muted, with
        its incoming silence counted as level-silent frames (not decoded).

Failures keep the page's last snapshots, the Chromium and worker logs and the SDPs under
$SFU_INTEROP_ARTIFACTS.

Run: /usr/bin/python3 test_chromium_audio.py <sfu-worker>
(exit 77 = chromium or aiortc not installed)
"""

import asyncio
import json
import os
import time
import unittest

import audio_peer
import harness
from audio_peer import Peer
from test_chromium import CHROMIUM, OFFER_TIMEOUT, CONNECT_TIMEOUT, BrowserRun, dtls_connected

LOUD = (500.0, 16000)   # Hz, s16 amplitude: -6 dBFS
QUIET = (1300.0, 2000)  # 18 dB below
SILENT_S = 2.0          # talkers silent: the page's baseline energy
TALK_TIMEOUT = 15.0     # talkers on -> the page's level up / the order right
RATE_S = 2.0            # energy rate measured over this long


class ListenerRun(BrowserRun):
    """The page as a muted listener; its snapshots carry the sfu:audio documents."""

    def config(self):
        return {"statsIntervalMs": 250, "role": "listener"}

    def signals(self):
        """[(page time ms, document)] of every sfu:audio message so far, in order."""
        with self.cond:
            snaps = list(self.snapshots)
        out = []
        for s in snaps:
            for x in s.get("audioSignals") or []:
                try:
                    out.append((x["t"], json.loads(x["data"])))
                except (KeyError, TypeError, ValueError):
                    out.append((x.get("t"), {"unparsable": x}))
        return out


def inbound_audio(s):
    found = None
    for i in (s or {}).get("inbound", []):
        if i.get("kind") == "audio":
            found = i
    return found


def replay(docs):
    """The signals state after the documents (wire-formats.md "sfu:audio"): "f" starts
    over, "v" / "m" / "s" update per attendee, "o" is replaced, "x" removes."""
    st = {"v": {}, "m": {}, "s": {}, "o": []}
    for _, d in docs:
        if d.get("f"):
            st = {"v": {}, "m": {}, "s": {}, "o": []}
        for k in ("v", "m", "s"):
            st[k].update(d.get(k) or {})
        if "o" in d:
            st["o"] = list(d["o"])
        for gone in d.get("x") or []:
            for k in ("v", "m", "s"):
                st[k].pop(gone, None)
    return st


class ChromiumAudioTest(harness.WorkerCase):
    LOG_TAG = "chromium-audio"

    def energy_rate(self, run, seconds):
        """totalAudioEnergy per second of the page's inbound audio over the next
        `seconds` (page clock), and the highest audioLevel seen meanwhile."""
        def sample():
            s = run.wait_snapshot(lambda s: inbound_audio(s) is not None, 5.0,
                                  "page: inbound-rtp audio")
            return s["t"], inbound_audio(s)
        t0, a0 = sample()
        time.sleep(seconds)
        t1, a1 = sample()
        with run.cond:
            levels = [(inbound_audio(s) or {}).get("audioLevel") or 0
                      for s in run.snapshots if t0 <= s.get("t", 0) <= t1]
        de = (a1.get("totalAudioEnergy") or 0) - (a0.get("totalAudioEnergy") or 0)
        return de / max((t1 - t0) / 1000.0, 1e-3), max(levels or [0])

    def test_muted_page_hears_talkers(self):
        w = self.w
        m = w.create_meeting()
        page_att = w.create_attendee(m["MeetingId"])
        page_id = page_att["AttendeeId"]
        run = ListenerRun(w, m, page_att, "chromium-audio").start()
        t0 = time.monotonic()

        def phase(what):  # progress on stdout (no assertion)
            print("[%5.1fs] %s" % (time.monotonic() - t0, what), flush=True)

        async def scenario():
            await asyncio.to_thread(run.wait, lambda r: r.answer_applied, OFFER_TIMEOUT,
                                    "offer from the page, Subscribe, answer applied")
            self.assertRegex(run.answer, r"a=ssrc:\d+ msid:sfu-mix ", "mix not declared")
            await asyncio.to_thread(run.wait_snapshot, dtls_connected, CONNECT_TIMEOUT,
                                    "page transport dtlsState == connected")
            phase("page connected")
            loud = Peer(self, m, LOUD[0], "loud", amp=LOUD[1])
            quiet = Peer(self, m, QUIET[0], "quiet", amp=QUIET[1])
            self.peers += [loud, quiet]
            for p in self.peers:
                p.track.silent = True
                await p.join()
            phase("talkers joined, silent")
            await asyncio.sleep(SILENT_S)
            silent_rate, silent_peak = await asyncio.to_thread(self.energy_rate, run, RATE_S)
            phase("silent: energy %.5f/s, peak level %.3f" % (silent_rate, silent_peak))

            for p in self.peers:
                p.track.silent = False
            talk_t = time.time() * 1000.0  # the page's clock is wall-clock ms too
            await asyncio.to_thread(
                run.wait_snapshot,
                lambda s: ((inbound_audio(s) or {}).get("audioLevel") or 0) > 0.05,
                TALK_TIMEOUT, "page: inbound audioLevel > 0.05 with the talkers talking")
            phase("page hears the talkers")
            talk_rate, talk_peak = await asyncio.to_thread(self.energy_rate, run, RATE_S)
            phase("talking: energy %.5f/s, peak level %.3f" % (talk_rate, talk_peak))
            self.assertGreater(talk_rate, max(10 * silent_rate, 0.01),
                               "energy did not rise: silent %.5f/s, talking %.5f/s"
                               % (silent_rate, talk_rate))
            self.assertLess(silent_peak, 0.02, "the page heard something before the talk")

            # sfu:audio: the order names the loud talker first, the quiet one next.
            def order_ok(r):
                docs = r.signals()
                st = replay(docs)
                o = st["o"]
                return (docs and any(t >= talk_t for t, _ in docs) and len(o) >= 2
                        and o[0] == loud.aid and quiet.aid in o)
            try:
                await asyncio.to_thread(run.wait, order_ok, TALK_TIMEOUT,
                                        "sfu:audio order [loud, quiet, ...]")
            except AssertionError as e:
                raise AssertionError("%s\nids: loud %s quiet %s page %s\nsignals: %s"
                                     % (e, loud.aid, quiet.aid, page_id,
                                        json.dumps(run.signals()[-12:])))
            docs = run.signals()
            st = replay(docs)
            phase("sfu:audio: %d documents, order %s, volumes %s" % (
                len(docs), [a[:8] for a in st["o"]],
                {a[:8]: v for a, v in st["v"].items()}))
            self.assertTrue(docs[0][1].get("f"), "first document not complete: %s" % docs[0][1])
            self.assertNotIn(page_id, st["o"])
            self.assertGreater(st["v"].get(loud.aid, 0), st["v"].get(quiet.aid, 0), st)
            # The page is muted: its signal says so, and so do the worker's figures.
            self.assertEqual(st["m"].get(page_id), 1, st)
            self.assertEqual(st["m"].get(loud.aid), 0, st)
            rep = await asyncio.to_thread(w.attendee_stats, m["MeetingId"], page_id)
            au = rep.get("Audio") or {}
            phase("page's Audio figures: %s" % json.dumps(au))
            self.assertIs(au.get("Muted"), True, au)
            self.assertIs(au.get("CanSend"), True, au)
            self.assertIs(au.get("CanReceive"), True, au)
            self.assertIs(au.get("Talking"), False, au)
            inc = au.get("Incoming") or {}
            self.assertGreater(inc.get("Packets", 0), 50, au)
            self.assertGreater(inc.get("SilentFrames", 0), 50, au)  # RFC 6464: not decoded

        try:
            self.run_scenario(scenario(), 120)
        finally:
            run.close(keep=not self.ok)


if __name__ == "__main__":
    harness.parse_args()
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        harness.skip("chromium not installed (%s); tools/install-deps.sh --test" % CHROMIUM)
    if not audio_peer.AVAILABLE:
        harness.skip("aiortc/numpy not importable: %s" % audio_peer.IMPORT_ERROR)
    unittest.main(verbosity=2)
