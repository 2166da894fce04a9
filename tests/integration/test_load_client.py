"""sfu-load against the real worker: a synthetic publisher (VP8 simulcast, H.264 single
stream) and a viewer connect over loopback UDP (ICE, DTLS, SRTP) with their own offers,
and the worker decrypts the publisher's RTP (GetAttendeeStats: RtpPackets, Decrypted
growing, no decrypt failures). A viewer's transport-cc feedback reaches the worker, which
estimates its downlink from it; one added with "twcc_feedback": false leaves the estimate
unknown. A publisher that paces (5 ms bursts) spreads its frames and loses nothing.
The command protocol's errors are checked too."""

import time

import harness
from harness import WorkerTest
from load import LoadClient, LoadError


class LoadClientCase(WorkerTest):
    """A meeting and an sfu-load per test, and the Subscribe they share."""

    def setUp(self):
        self.mid = self.w.create_meeting()["MeetingId"]
        self.lc = LoadClient()

    def tearDown(self):
        rc = self.lc.close()
        self.assertEqual(rc, 0, "sfu-load exit status")

    def subscribe(self, att, offer, receive=None, full=False):
        req = {"op": "Subscribe", "MeetingId": self.mid, "AttendeeId": att["AttendeeId"],
               "JoinToken": att["JoinToken"], "SdpOffer": offer}
        if receive is not None:
            req["ReceiveStreamIds"] = receive
        rep = self.w.ok(req)
        return rep if full else rep["SdpAnswer"]


class LoadClientTests(LoadClientCase):

    def transport(self, att):
        return self.w.ok({"op": "GetAttendeeStats", "MeetingId": self.mid,
                          "AttendeeId": att["AttendeeId"]})["Transport"]

    def wait_transport(self, att, pred, what, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            t = self.transport(att)
            if pred(t):
                return t
            if time.monotonic() > deadline:
                self.fail("%s: not within %.0fs: %s" % (what, timeout, t))
            time.sleep(0.05)

    def connect(self, aid, att, **add):
        offer = self.lc.add(aid, **add)
        self.assertTrue(offer.startswith("v=0\r\n"), offer)
        answer = self.subscribe(att, offer)
        self.assertEqual(self.lc.answer(aid, answer), {"id": aid, "ok": True})
        return self.lc.wait_for(aid, lambda s: s["connected"], what="DTLS connected")

    def check_publisher(self, aid, codec, layers, ssrcs=False):
        att = self.w.create_attendee(self.mid, aid)
        self.connect(aid, att, publish={"codec": codec, "layers": layers, "rtx": True,
                                        "ssrcs": ssrcs, "fps": 15})
        t0 = self.wait_transport(att, lambda t: t["DtlsState"] == "connected", "DTLS")
        s = self.lc.wait_for(aid, lambda s: all(l["packets"] > 20 and l["keyframes"] >= 1
                                                 for l in s["sent"]["layers"]),
                             what="media sent")
        self.assertEqual(len(s["sent"]["layers"]), layers, s)
        self.assertEqual([l["rid"] for l in s["sent"]["layers"]],
                         ["q", "h", "f"] if layers == 3 else [""], s)
        self.assertEqual(len({l["ssrc"] for l in s["sent"]["layers"]}), layers, s)
        # The worker receives and decrypts it, growing.
        t1 = self.wait_transport(att, lambda t: t["Decrypted"] >= t0["Decrypted"] + 50
                                 and t["RtpPackets"] >= 50, "RTP decrypted")
        t2 = self.wait_transport(att, lambda t: t["Decrypted"] > t1["Decrypted"]
                                 and t["RtpPackets"] > t1["RtpPackets"], "still growing")
        self.assertEqual(t2["DecryptFailures"], 0, t2)
        # SR + SDES every second (SRTCP)
        t3 = self.wait_transport(att, lambda t: t["RtcpPackets"] > 0, "RTCP decrypted")
        self.assertEqual(t3["DecryptFailures"], 0, t3)
        self.assertIsNotNone(t2["SrtpProfile"], t2)
        s = self.lc.stats(aid)
        self.assertEqual(s["protect_fail"], 0, s)
        self.assertEqual(s["send_errors"], 0, s)
        self.assertEqual(s["unprotect_fail"], 0, s)

    def test_vp8_simulcast_publisher_connects_and_sends(self):
        self.check_publisher("p1", "VP8", 3)

    def test_vp8_simulcast_with_ssrcs(self):
        self.check_publisher("p2", "VP8", 3, ssrcs=True)

    def test_h264_single_stream_publisher(self):
        self.check_publisher("p3", "H264", 1)

    def test_viewer_connects_and_sends_rtcp(self):
        att = self.w.create_attendee(self.mid, "viewer")
        s = self.connect("v1", att, receive=2)
        self.assertEqual([r["mid"] for r in s["recv"]], ["0", "1"], s)
        self.assertEqual(s["sent"]["layers"], [], s)
        self.lc.remb("v1", 300000)
        # A viewer sends RTCP (RR + SDES once something arrived; REMB every second).
        self.wait_transport(att, lambda t: t["RtcpPackets"] >= 2 and t["Decrypted"] >= 2,
                            "viewer RTCP decrypted")
        # A re-offer keeps the transport (same ICE credentials and certificate).
        offer = self.lc.reoffer("v1", 3)
        self.assertIn("a=mid:2\r\n", offer)
        answer = self.subscribe(att, offer)
        self.lc.answer("v1", answer)
        s = self.lc.stats("v1")
        self.assertTrue(s["connected"], s)
        self.assertEqual(len(s["recv"]), 3, s)
        self.assertEqual(self.transport(att)["DtlsState"], "connected")

    def test_publisher_and_viewer_together(self):
        pa = self.w.create_attendee(self.mid, "pub")
        va = self.w.create_attendee(self.mid, "view")
        self.connect("p", pa, publish={"codec": "VP8", "layers": 3})
        self.connect("v", va, receive=1)
        all_stats = self.lc.stats()
        self.assertEqual({s["id"] for s in all_stats}, {"p", "v"})
        self.lc.remove("v")
        self.assertEqual({s["id"] for s in self.lc.stats()}, {"p"})

    def test_paced_publisher_spreads_its_frames_and_loses_nothing(self):
        # "pace": 2.5 (x the bitrate, 5 ms bursts, libwebrtc's factor): a frame is 1/15 s
        # of the bitrate, so most of it waits ~27 ms in the publisher's pacer; every
        # packet still reaches the worker, decrypted in order, and the viewer sees no gap.
        pa = self.w.create_attendee(self.mid, "pub")
        va = self.w.create_attendee(self.mid, "view")
        pub = {"codec": "VP8", "layers": 3, "fps": 15, "pace": 2.5}
        offer = self.lc.add("p", publish=pub)
        rep = self.subscribe(pa, offer, full=True)
        self.lc.answer("p", rep["SdpAnswer"])
        self.lc.wait_for("p", lambda s: s["connected"], what="publisher connected")
        offer = self.lc.add("v", receive=1)
        self.lc.answer("v", self.subscribe(va, offer, receive=[rep["PublishedStreamId"]]))
        v = self.lc.wait_for("v", lambda s: s["recv"][0]["packets"] >= 150,
                             what="viewer receiving", timeout=20)
        s = self.lc.stats("p")
        sent = sum(l["packets"] + l["rtx_sent"] + l["resent"] + l["padding"]
                   for l in s["sent"]["layers"])
        pace = s["pace"]
        self.assertEqual(pace["dropped"], 0, s)
        self.assertLessEqual(pace["sent"] + pace["queued"], sent, s)
        self.assertGreater(pace["sent"], 100, s)
        self.assertGreaterEqual(pace["max_delay_us"], 10000, s)  # frames did wait
        self.assertLess(pace["max_delay_us"], 500000, s)
        self.assertEqual(s["protect_fail"], 0, s)
        self.assertEqual(v["recv"][0]["seq_gaps"], 0, v)
        t = self.transport(pa)
        self.assertEqual(t["DecryptFailures"], 0, t)

    def downlink(self, att):
        v = self.w.ok({"op": "GetAttendeeStats", "MeetingId": self.mid,
                       "AttendeeId": att["AttendeeId"]})["Video"]
        return v.get("Downlink")

    def test_viewer_transport_cc_feedback_reaches_the_worker(self):
        pa = self.w.create_attendee(self.mid, "pub")
        offer = self.lc.add("p", publish={"codec": "VP8", "layers": 3, "fps": 15})
        rep = self.subscribe(pa, offer, full=True)
        sid = rep["PublishedStreamId"]
        self.lc.answer("p", rep["SdpAnswer"])
        self.lc.wait_for("p", lambda s: s["connected"], what="publisher connected")
        views = {}
        for aid, fb in (("vfb", None), ("vquiet", False)):
            att = self.w.create_attendee(self.mid, aid)
            offer = self.lc.add(aid, receive=1, twcc_feedback=fb)
            self.assertIn("transport-wide-cc-extensions-01\r\n", offer)
            answer = self.subscribe(att, offer, [sid])
            self.assertIn("transport-wide-cc-extensions-01\r\n", answer)
            self.lc.answer(aid, answer)
            self.lc.wait_for(aid, lambda s: s["connected"], what=aid + " connected")
            views[aid] = att
        # Default on: the worker's estimator runs on the viewer's feedback (every ~50 ms).
        deadline = time.monotonic() + 10
        while True:
            d = self.downlink(views["vfb"])
            if d and d["Feedbacks"] >= 20 and d["EstimateBps"] > 0:
                break
            if time.monotonic() > deadline:
                self.fail("vfb: no feedback-based estimate: %s / %s" % (d, self.lc.stats("vfb")))
            time.sleep(0.1)
        self.assertTrue(d["TransportCc"], d)
        self.assertEqual(d["Pacer"]["BurstUs"], 5000, d)  # the default burst
        s = self.lc.stats("vfb")
        self.assertGreater(s["recv"][0]["packets"], 20, s)
        self.assertNotEqual(s["twcc_ext"], 0, s)
        # What the estimate is for: probes prove the loopback's room and the viewer climbs
        # from the lowest layer to the top one.
        s = self.lc.wait_for("vfb", lambda s: s["recv"][0]["width"] == 1280, timeout=15,
                             what="the top layer on the estimate")
        d = self.downlink(views["vfb"])
        self.assertGreaterEqual(d["ProbesDone"], 1, d)
        self.assertGreater(d["EstimateBps"], d["AllocatedBps"], d)
        # Feedback paces itself at ~20 a second while media flows: never a burst per packet.
        # The client's count read after the worker's: one sent in between is in both.
        s = self.lc.stats("vfb")
        self.assertGreaterEqual(s["twcc_fb_out"], d["Feedbacks"], (s, d))
        self.assertLess(s["twcc_fb_out"], s["rtp_in"] / 2, s)
        self.assertEqual(s["protect_fail"], 0, s)
        # Off: it receives as much, but the worker hears no feedback and knows nothing.
        q = self.lc.wait_for("vquiet", lambda s: s["recv"][0]["packets"] > 50, what="receiving")
        self.assertEqual(q["twcc_fb_out"], 0, q)
        self.assertEqual(q["twcc_ext"], 0, q)
        d = self.downlink(views["vquiet"])
        self.assertEqual(d["Feedbacks"], 0, d)
        self.assertEqual(d["EstimateBps"], 0, d)
        self.assertEqual(d["ProbesSent"], 0, d)  # nothing to probe for without feedback

    def test_command_errors(self):
        for req, msg in (({"cmd": "answer", "id": "nobody", "sdp": "v=0"}, "no such attendee"),
                         ({"cmd": "add", "id": "x", "publish": {"codec": "VP9"}},
                          "publish.codec"),
                         ({"cmd": "add", "id": "x", "publish": {"layers": 2}},
                          "publish.layers"),
                         ({"cmd": "add", "id": "x", "publish": {"pace": 0.5}},
                          "publish.pace"),
                         ({"cmd": "add", "id": "x"}, "nothing to publish"),
                         ({"cmd": "frobnicate", "id": "x"}, "cmd"),
                         ({"id": "x"}, "cmd")):
            with self.subTest(req=req):
                with self.assertRaises(LoadError) as cm:
                    self.lc.cmd(req)
                self.assertIn(msg, str(cm.exception))
        self.lc.add("dup", receive=1)
        with self.assertRaises(LoadError):
            self.lc.add("dup", receive=1)
        with self.assertRaises(LoadError) as cm:
            self.lc.answer("dup", "v=0\r\n")
        self.assertIn("ice-ufrag", str(cm.exception))
        with self.assertRaises(LoadError):
            self.lc.pli("dup", "7")


class PacerBurstFlagTests(LoadClientCase):
    """--pacer-burst-ms reaches every viewer's pacer (GetAttendeeStats Pacer.BurstUs)."""
    EXTRA = ("--pacer-burst-ms", "40")

    def test_the_flag_sets_the_viewers_pacer_burst(self):
        pa = self.w.create_attendee(self.mid, "pub")
        rep = self.subscribe(pa, self.lc.add("p", publish={"codec": "VP8", "layers": 3}),
                             full=True)
        self.lc.answer("p", rep["SdpAnswer"])
        va = self.w.create_attendee(self.mid, "viewer")
        self.lc.answer("v", self.subscribe(va, self.lc.add("v", receive=1),
                                           [rep["PublishedStreamId"]]))
        self.lc.wait_for("v", lambda s: s["recv"][0]["packets"] > 0, what="viewer receiving")
        v = self.w.ok({"op": "GetAttendeeStats", "MeetingId": self.mid,
                       "AttendeeId": va["AttendeeId"]})["Video"]
        self.assertEqual(v["Downlink"]["Pacer"]["BurstUs"], 40000, v)


if __name__ == "__main__":
    harness.main()
