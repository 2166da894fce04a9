"""GetWorkerStats per transport (issue 3 "Figures"): each Loops[i].Media carries a
`Transports` array, one entry per live transport of that loop with its MeetingId,
AttendeeId and the fields of GetAttendeeStats' Transport object (same encoder).

Nothing connects here (no ICE client): a Subscribe with a captured Chromium offer
creates a transport that stays in ICE "new", DTLS not connected; a LeaveMeeting removes
it from the array."""

import os

import harness
from harness import WorkerTest

OFFER = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "sdp",
                          "chromium-audio-only.sdp")).read()

TRANSPORT_FIELDS = {"IceState", "SelectedProtocol", "DtlsState", "SrtpProfile", "LocalUfrag",
                    "PacketsIn", "BytesIn", "StunRequests", "StunRejected", "DtlsPackets",
                    "RtpPackets", "RtcpPackets", "Decrypted", "DecryptedBytes",
                    "DecryptFailures", "DtlsFailures", "FingerprintMismatches", "Dropped",
                    "PacketsOut", "BytesOut", "SctpState", "DataChannels", "DataMessagesIn",
                    "DataBytesIn"}


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


if __name__ == "__main__":
    harness.main()
