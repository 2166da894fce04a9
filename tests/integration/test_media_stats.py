"""GetWorkerStats per transport (issue 3 "Figures"): each Loops[i].Media carries a
`Transports` array, one entry per live transport of that loop with its MeetingId,
AttendeeId and the fields of GetAttendeeStats' Transport object (same encoder).

Nothing connects here (no ICE client): a Subscribe with a captured Chromium offer
creates a transport that stays in ICE "new", DTLS not connected; a LeaveMeeting removes
it from the array."""

import os
import socket
import struct
import time

import harness
from harness import WorkerTest

OFFER = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "sdp",
                          "chromium-audio-only.sdp")).read()

TRANSPORT_FIELDS = {"IceState", "SelectedProtocol", "DtlsState", "SrtpProfile", "LocalUfrag",
                    "PacketsIn", "BytesIn", "StunRequests", "StunRejected",
                    "StunAddressTaken", "StunErrorsOut", "DtlsPackets",
                    "RtpPackets", "RtcpPackets", "Decrypted", "DecryptedBytes",
                    "DecryptFailures", "DtlsFailures", "FingerprintMismatches", "Dropped",
                    "PacketsOut", "BytesOut", "SctpState", "DataChannels", "DataMessagesIn",
                    "DataBytesIn", "DataMessagesOut", "DataBytesOut", "DataSendBlocked"}


class MediaStatsTests(WorkerTest):

    LOOPS = 2

    def setUp(self):
        self.mid = self.w.create_meeting()["MeetingId"]
        self.a = self.w.create_attendee(self.mid, "alice")
        self.b = self.w.create_attendee(self.mid, "bob")

    def subscribe(self, att):
        rep = self.w.request({"op": "Subscribe", "MeetingId": self.mid,
                              "AttendeeId": att["AttendeeId"], "JoinToken": att["JoinToken"],
                              "SdpOffer": OFFER})
        self.assertIs(rep.get("ok"), True, rep)
        return rep["SdpAnswer"]

    def entries(self):
        """Every Media.Transports entry of every loop, with the loop's index."""
        stats = self.w.ok({"op": "GetWorkerStats"})
        out = []
        for loop in stats["Loops"]:
            media = loop["Media"]
            self.assertIsInstance(media["Transports"], list, media)
            self.assertEqual(len(media["Transports"]), media["TransportCount"], media)
            for e in media["Transports"]:
                out.append((loop["Loop"], e))
        return out

    def mine(self):
        return {e["AttendeeId"]: (loop, e) for loop, e in self.entries()
                if e["MeetingId"] == self.mid}

    def test_transport_entry_fields(self):
        self.assertEqual(self.mine(), {})
        answer = self.subscribe(self.a)
        mine = self.mine()
        self.assertEqual(set(mine), {self.a["AttendeeId"]})
        _, e = mine[self.a["AttendeeId"]]
        self.assertEqual(set(e), {"MeetingId", "AttendeeId"} | TRANSPORT_FIELDS
                         | ({"SelectedAddress"} if e.get("SelectedProtocol") else set()), e)
        self.assertIn(e["IceState"], ("new", "checking"), e)
        self.assertIsNone(e["SelectedProtocol"], e)
        self.assertNotEqual(e["DtlsState"], "connected", e)
        self.assertIsNone(e["SrtpProfile"], e)
        self.assertEqual(e["Decrypted"], 0, e)
        self.assertEqual(e["DecryptFailures"], 0, e)
        self.assertEqual(e["StunRequests"], 0, e)
        # The entry is the transport of the answer: its ufrag is the answer's.
        self.assertIn("a=ice-ufrag:%s\r\n" % e["LocalUfrag"], answer)
        # The same object as GetAttendeeStats' Transport, field for field.
        att = self.w.ok({"op": "GetAttendeeStats", "MeetingId": self.mid,
                         "AttendeeId": self.a["AttendeeId"]})
        expect = dict(att["Transport"], MeetingId=self.mid, AttendeeId=self.a["AttendeeId"])
        self.assertEqual(e, expect)

    def test_one_entry_per_transport_and_gone_after_leave(self):
        self.subscribe(self.a)
        self.subscribe(self.b)
        self.subscribe(self.a)  # a renegotiation: same transport, no second entry
        mine = self.mine()
        self.assertEqual(set(mine), {self.a["AttendeeId"], self.b["AttendeeId"]})
        # A meeting is pinned to one loop: both transports are on it.
        self.assertEqual(mine[self.a["AttendeeId"]][0], mine[self.b["AttendeeId"]][0])
        self.assertNotEqual(mine[self.a["AttendeeId"]][1]["LocalUfrag"],
                            mine[self.b["AttendeeId"]][1]["LocalUfrag"])
        self.w.ok({"op": "LeaveMeeting", "MeetingId": self.mid,
                   "AttendeeId": self.a["AttendeeId"]})
        self.assertEqual(set(self.mine()), {self.b["AttendeeId"]})

    def loop_stats(self, i):
        return self.w.ok({"op": "GetWorkerStats"})["Loops"][i]

    def wait_loop(self, i, pred, what, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            loop = self.loop_stats(i)
            if pred(loop):
                return loop
            if time.monotonic() > deadline:
                self.fail("%s: not within %.0fs: %s" % (what, timeout, loop))
            time.sleep(0.05)

    def test_socket_counters(self):
        """Loops[i].Sockets: the loop's UDP socket and ICE-TCP listener, counted since
        start. Garbage on loop 1's UDP port is received and unrouted; a TCP connection to
        loop 0 whose first frame is not an ICE check is accepted, then closed."""
        u0 = self.loop_stats(1)
        self.assertEqual(set(u0["Sockets"]), {"Udp", "Tcp"}, u0)
        self.assertEqual(set(u0["Sockets"]["Udp"]),
                         {"RxPackets", "RxBytes", "RxBatches", "RxTruncated", "TxPackets",
                          "TxBytes", "TxBatches", "TxDropped", "TxTooBig", "TxGsoBatches",
                          "TxGsoSegments", "TxGsoDisabled"})
        junk = b"\x01garbage-not-stun"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(3):
                s.sendto(junk, ("127.0.0.1", self.w.udp_port + 1))
        u1 = self.wait_loop(1, lambda l: l["Sockets"]["Udp"]["RxPackets"]
                            >= u0["Sockets"]["Udp"]["RxPackets"] + 3, "3 datagrams counted")
        self.assertGreaterEqual(u1["Sockets"]["Udp"]["RxBytes"],
                                u0["Sockets"]["Udp"]["RxBytes"] + 3 * len(junk))
        self.assertGreaterEqual(u1["Media"]["Unrouted"], u0["Media"]["Unrouted"] + 3)

        t0 = self.loop_stats(0)["Sockets"]["Tcp"]
        with socket.create_connection(("127.0.0.1", self.w.tcp_port), timeout=5) as c:
            c.sendall(struct.pack("!H", 4) + b"junk")  # RFC 4571 frame, not STUN
            c.settimeout(5)
            self.assertEqual(c.recv(16), b"", "the worker should close the connection")
        t1 = self.wait_loop(0, lambda l: l["Sockets"]["Tcp"]["ClosedUnauthenticated"]
                            > t0["ClosedUnauthenticated"], "TCP close counted")["Sockets"]["Tcp"]
        self.assertEqual(t1["Accepted"], t0["Accepted"] + 1, t1)
        self.assertEqual(t1["RxFrames"], t0["RxFrames"] + 1, t1)
        self.assertEqual(t1["Open"], 0, t1)


if __name__ == "__main__":
    harness.main()
