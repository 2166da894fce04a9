#!/usr/bin/python3
"""Interop: several media loops and several real clients at once.

The worker runs with --loops 2; four meetings are placed (least-loaded first, so two on
each loop: checked through CreateMeeting's "Loop" and GetWorkerStats), two aiortc
attendees per meeting (eight peer connections in one asyncio loop), each sending Opus
and opening a data channel with messages. This is what the one-loop, one-client
test_aiortc.py cannot reach: usrsctp's process-global timers fired by one loop for
another loop's associations (sctp.h: the locked per-association queue), two loops'
threads in DTLS/SRTP/SCTP at once, events of two loops merged on the control thread.

Asserted: every attendee joined; every transport's decrypted RTP climbs between two
readings with no decrypt failure; SCTP established, a channel open and every message
counted; both loops' Media figures non-zero; then half the clients (one per meeting,
both loops) close: exactly one chime:AttendeeLeft each; DeleteMeeting of a meeting with a
client still connected: AttendeeDeleted for both its attendees, MeetingEnded, no
Left/Dropped after it; the other meetings' media still flows; SIGTERM with clients
connected: exit status 0. A sanitizer report in the worker's output fails the test.

Run: /usr/bin/python3 test_multiloop.py <sfu-worker>   (exit 77 = aiortc not installed)
Under ThreadSanitizer: see docs/architecture.md ("Threads: what was verified").
"""

import asyncio
import json
import os
import time
import unittest

import harness
from harness import Worker
import test_aiortc  # SineTrack, selected_pair, the aioice loopback patch
from test_aiortc import aiortc

LOOPS = 2
MEETINGS = 4
PER_MEETING = 2
DC_MESSAGES = 6
DC_SPACING_S = 0.25  # > usrsctp's 200 ms delayed SACK: each message gets its timer
# Generous: 8 peers in one Python process on 2 cores, maybe a sanitizer build. These
# bound waits; nothing asserts a duration.
JOIN_TIMEOUT = float(os.environ.get("SFU_INTEROP_MULTI_JOIN_S", "20"))
STEP_TIMEOUT = 15.0
# What a worker built with a sanitizer prints when it finds something.
SANITIZER_MARKS = ("WARNING: ThreadSanitizer", "ERROR: AddressSanitizer",
                   "ERROR: LeakSanitizer", "runtime error:")

if aiortc is not None:
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription


class Client:
    """One aiortc attendee: a peer connection with an Opus track and a data channel."""

    def __init__(self, meeting, attendee):
        self.m, self.a = meeting, attendee
        self.aid = attendee["AttendeeId"]
        self.pc = RTCPeerConnection(RTCConfiguration())
        self.track = test_aiortc.SineTrack()
        self.pc.addTransceiver(self.track, direction="sendonly")
        self.dc = self.pc.createDataChannel("chat")
        self.dc_open = asyncio.Event()
        self.dc.on("open", self.dc_open.set)
        self.closed = False

    async def connect(self, w):
        await self.pc.setLocalDescription(await self.pc.createOffer())
        answer = await asyncio.to_thread(w.subscribe, self.m, self.a,
                                         self.pc.localDescription.sdp, 10.0,
                                         "multi-" + self.aid[:8])
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        return answer

    async def close(self):
        if not self.closed:
            self.closed = True
            await self.pc.close()


class MultiLoopTest(unittest.TestCase):
    def setUp(self):
        self.w = Worker(loops=LOOPS).start()
        self.ok = False
        self.rc = "not stopped"

    def tearDown(self):
        w = self.w
        if self.rc == "not stopped":
            self.rc = w.stop()
        log = w.log_text(tail=10 ** 7)
        w.cleanup(keep_log_as=None if self.ok else "multiloop-worker.log")
        self.assertEqual(self.rc, 0, "worker exit status %s (log in %s)"
                         % (self.rc, harness.ARTIFACTS))
        found = [mk for mk in SANITIZER_MARKS if mk in log]
        self.assertEqual(found, [], "sanitizer report in the worker's output:\n" + log[-6000:])

    def test_two_loops_eight_clients(self):
        asyncio.run(asyncio.wait_for(self._scenario(), 100))
        self.ok = True

    # ---- helpers ------------------------------------------------------------
    async def figures(self, c):
        return await asyncio.to_thread(harness.transport_figures, self.w, c.m["MeetingId"],
                                       c.aid)

    async def poll(self, c, pred, timeout=STEP_TIMEOUT):
        """The client's transport figures once pred(figures) holds (or at timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            f = await self.figures(c)
            if pred(f) or time.monotonic() >= deadline:
                return f
            await asyncio.sleep(0.2)

    async def event(self, etype, aid, timeout=STEP_TIMEOUT):
        return await asyncio.to_thread(self.w.wait_event, etype, aid, timeout)

    def departures(self, aid):
        ev = self.w.events
        return (ev.matching("chime:AttendeeLeft", attendeeId=aid)
                + ev.matching("chime:AttendeeDropped", attendeeId=aid))

    async def media_flows(self, clients):
        """Each client's decrypted RTP count grows between two readings; no failures."""
        first = await asyncio.gather(*(self.poll(c, lambda f: f["decrypted"] > 20)
                                       for c in clients))
        later = await asyncio.gather(*(
            self.poll(c, lambda f, n=f0["decrypted"]: f["decrypted"] > n + 10)
            for c, f0 in zip(clients, first)))
        for c, f0, f in zip(clients, first, later):
            msg = "%s: %s" % (c.aid[:8], json.dumps(f["raw"]))
            self.assertGreater(f0["rtp_packets"], 0, msg)
            self.assertGreater(f["decrypted"], f0["decrypted"] + 10, msg)
            self.assertEqual(f["decrypt_failures"], 0, msg)
            self.assertEqual(f["dtls_failures"], 0, msg)
            self.assertEqual(f["dtls_state"], "connected", msg)
        return later

    # ---- the scenario -------------------------------------------------------
    async def _scenario(self):
        clients = []
        try:
            await self._run(clients)
        finally:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)

    async def _run(self, clients):
        w = self.w
        # ---- placement: the four meetings spread over both loops -------------
        meetings = [w.create_meeting() for _ in range(MEETINGS)]
        loops = [m.get("Loop") for m in meetings]
        self.assertEqual(sorted(loops), [0, 0, 1, 1], "placement: %s" % loops)
        for m in meetings:
            port = w.udp_port + m["Loop"]
            self.assertEqual(m["MediaPlacement"]["AudioHostUrl"], "127.0.0.1:%d" % port, m)
        by_meeting = {}
        for m in meetings:
            for _ in range(PER_MEETING):
                c = Client(m, w.create_attendee(m["MeetingId"]))
                clients.append(c)
                by_meeting.setdefault(m["MeetingId"], []).append(c)
        st = w.worker_stats()
        self.assertEqual([l.get("Meetings") for l in st["Loops"]], [2, 2], json.dumps(st))
        self.assertEqual([l.get("Attendees") for l in st["Loops"]], [4, 4], json.dumps(st))

        # ---- all eight connect at once ---------------------------------------
        answers = await asyncio.gather(*(c.connect(w) for c in clients))
        for c, ans in zip(clients, answers):
            port = w.udp_port + c.m["Loop"]
            self.assertIn(("udp", "127.0.0.1", port, "host", None), harness.candidates(ans))
        joined = await asyncio.gather(*(self.event("chime:AttendeeJoined", c.aid,
                                                   JOIN_TIMEOUT) for c in clients))
        for c, j in zip(clients, joined):
            self.assertIsNotNone(j, "%s never joined; events %s" % (c.aid[:8],
                                                                     w.events.summary()))
            self.assertEqual(j.get("meetingId"), c.m["MeetingId"], j)
        for c in clients:  # each reached its own meeting's loop
            self.assertEqual(test_aiortc.selected_pair(c.pc),
                             ("udp", "127.0.0.1", w.udp_port + c.m["Loop"]))

        # ---- Opus decrypted, climbing, on every transport --------------------
        await self.media_flows(clients)

        # ---- data channels: open, messages counted ---------------------------
        await asyncio.gather(*(asyncio.wait_for(c.dc_open.wait(), STEP_TIMEOUT)
                               for c in clients), return_exceptions=True)
        for c in clients:
            self.assertEqual(c.dc.readyState, "open", c.aid[:8])
        # Spaced out, not a burst: each lone DATA chunk leaves the worker a delayed-SACK
        # timer to run, and with two loops ticking, about half of those timers fire on
        # the loop that does not own the association (the cross-loop queue, sctp.h).
        for i in range(DC_MESSAGES):
            for c in clients:
                c.dc.send("hello %d from %s" % (i, c.aid[:8]))
            await asyncio.sleep(DC_SPACING_S)
        figs = await asyncio.gather(*(
            self.poll(c, lambda f: f["raw"]["Transport"].get("DataMessagesIn", 0)
                      >= DC_MESSAGES) for c in clients))
        for c, f in zip(clients, figs):
            t = f["raw"]["Transport"]
            msg = "%s: %s" % (c.aid[:8], json.dumps(f["raw"]))
            self.assertEqual(t.get("SctpState"), "established", msg)
            self.assertGreaterEqual(t.get("DataChannels", 0), 1, msg)
            self.assertGreaterEqual(t.get("DataMessagesIn", 0), DC_MESSAGES, msg)
            self.assertEqual(f["decrypt_failures"], 0, msg)

        # ---- both loops carry media ------------------------------------------
        st = await asyncio.to_thread(w.worker_stats)
        self.assertEqual(len(st["Loops"]), LOOPS, json.dumps(st))
        for l in st["Loops"]:
            med = l.get("Media") or {}
            msg = "loop %s: %s" % (l.get("Loop"), json.dumps(med)[:2000])
            self.assertEqual(med.get("TransportCount"), MEETINGS // LOOPS * PER_MEETING, msg)
            self.assertEqual(med.get("Connected"), MEETINGS // LOOPS * PER_MEETING, msg)
            self.assertGreater(med.get("Decrypted", 0), 0, msg)
            self.assertEqual(med.get("DecryptFailures"), 0, msg)
            self.assertGreaterEqual(med.get("DataMessagesIn", 0),
                                    MEETINGS // LOOPS * PER_MEETING * DC_MESSAGES, msg)
            self.assertEqual({t["MeetingId"] for t in med.get("Transports", [])},
                             {m["MeetingId"] for m in meetings if m["Loop"] == l["Loop"]},
                             msg)

        # ---- half the clients leave: one per meeting, on both loops ----------
        leavers = [cs[0] for cs in by_meeting.values()]
        stayers = [cs[1] for cs in by_meeting.values()]
        await asyncio.gather(*(c.close() for c in leavers))
        deps = await asyncio.gather(*(asyncio.to_thread(
            w.events.wait_any, ("chime:AttendeeLeft", "chime:AttendeeDropped"),
            STEP_TIMEOUT, attendeeId=c.aid) for c in leavers))
        for c, d in zip(leavers, deps):
            self.assertIsNotNone(d, "%s: no departure; events %s" % (c.aid[:8],
                                                                     w.events.summary()))
            self.assertEqual(d["eventType"], "chime:AttendeeLeft", d)
        gone = await asyncio.to_thread(harness.wait_until, lambda: all(
            self._no_transport(c) for c in leavers), 5.0)
        self.assertTrue(gone, "a leaver's transport is still live")
        for c in leavers:
            self.assertEqual(len(self.departures(c.aid)), 1, w.events.summary())

        # ---- DeleteMeeting with a client still connected ---------------------
        doomed = meetings[0]
        victims = by_meeting[doomed["MeetingId"]]
        await asyncio.to_thread(w.ok, {"op": "DeleteMeeting",
                                       "MeetingId": doomed["MeetingId"]})
        for c in victims:
            self.assertIsNotNone(await self.event("chime:AttendeeDeleted", c.aid),
                                 w.events.summary())
        ended = await asyncio.to_thread(w.events.wait, "chime:MeetingEnded", STEP_TIMEOUT,
                                        meetingId=doomed["MeetingId"])
        self.assertIsNotNone(ended, w.events.summary())
        # The connected victim got close_notify; its peer connection closing now must
        # not produce a departure: AttendeeDeleted was its last event.
        stayer = victims[1]
        left_before = len(self.departures(stayer.aid))
        await stayer.close()

        # ---- the other meetings, on both loops, still carry media ------------
        alive = [c for c in stayers if c is not stayer]
        self.assertEqual({c.m["Loop"] for c in alive}, {0, 1})
        await self.media_flows(alive)
        self.assertEqual(len(self.departures(stayer.aid)), left_before,
                         "departure after AttendeeDeleted: %s" % w.events.summary())
        self.assertEqual(left_before, 0, w.events.summary())
        for c in alive:
            self.assertEqual(self.departures(c.aid), [], w.events.summary())

        # ---- SIGTERM with clients connected: a clean exit --------------------
        self.rc = await asyncio.to_thread(w.stop, 30.0)
        self.assertEqual(self.rc, 0, "worker exit status %s" % self.rc)

    def _no_transport(self, c):
        try:
            harness.transport_figures(self.w, c.m["MeetingId"], c.aid)
        except harness.NoTransport:
            return True
        return False


if __name__ == "__main__":
    harness.parse_args()
    if aiortc is None:
        harness.skip("aiortc not installed (%s); tools/install-deps.sh --test"
                     % test_aiortc._import_error)
    unittest.main(verbosity=2)
