"""Subscribe: NotFound (meeting), Forbidden (wrong, foreign, deleted attendee's token),
BadRequest per field, and with the right token an ICE-lite SDP answer.
LeaveMeeting and GetAttendeeStats: the transport Subscribe made, seen and closed;
NotFound and BadRequest.
Video (issue 7): Subscribe's ReceiveStreamIds (BadRequest, NotFound) and the
StreamIndex in its reply; GetStreamIndex; the Video figures of the stats."""

import os
import re
import uuid

import harness
from harness import WorkerTest

OFFER = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                          "chrome-offer.sdp")).read()


def assertIndex(test, index):
    """A StreamIndex object: Version, and Streams in StreamId order, each with its
    layers (docs/control-api.md). Returns the StreamIds."""
    test.assertIsInstance(index, dict, index)
    test.assertEqual(set(index.keys()), {"Version", "Streams"}, index)
    test.assertIsInstance(index["Version"], int, index)
    ids = []
    for st in index["Streams"]:
        test.assertLessEqual({"StreamId", "AttendeeId", "ExternalUserId", "Kind", "Codec",
                              "Layers"}, set(st.keys()), st)
        test.assertIn(st["Kind"], ("camera", "content"), st)
        test.assertTrue(1 <= len(st["Layers"]) <= 3, st)
        ids.append(st["StreamId"])
    test.assertEqual(ids, sorted(ids), index)
    return ids


class SubscribeTests(WorkerTest):

    def setUp(self):
        self.m = self.w.create_meeting()
        self.mid = self.m["MeetingId"]
        self.a = self.w.create_attendee(self.mid, "alice")
        self.b = self.w.create_attendee(self.mid, "bob")

    def sub(self, att=None, token=None, **over):
        att = att or self.a
        req = {"op": "Subscribe", "MeetingId": self.mid, "AttendeeId": att["AttendeeId"],
               "JoinToken": att["JoinToken"] if token is None else token,
               "SdpOffer": OFFER}
        for k, v in over.items():
            if v is None:
                req.pop(k, None)
            else:
                req[k] = v
        return self.w.request(req)

    def assertAccepted(self, rep):
        """The token was accepted: an ICE-lite answer. Returns the answer."""
        self.assertIs(rep.get("ok"), True, rep)
        # PublishedStreamId / PublishRefused only when the offer sends video
        self.assertLessEqual({"ok", "SdpAnswer", "StreamIndex", "ReceiveStreams"},
                             set(rep.keys()), rep)
        self.assertLessEqual(set(rep.keys()), {"ok", "SdpAnswer", "StreamIndex",
                                               "ReceiveStreams", "PublishedStreamId",
                                               "PublishRefused"}, rep)
        assertIndex(self, rep["StreamIndex"])
        self.assertIsInstance(rep["ReceiveStreams"], list, rep)
        self.assertIsInstance(rep["SdpAnswer"], str, rep)
        self.assertTrue(rep["SdpAnswer"].startswith("v=0\r\n"), rep)
        self.assertIn("\r\na=ice-lite\r\n", rep["SdpAnswer"], rep)
        return rep["SdpAnswer"]

    def test_right_token(self):
        self.assertAccepted(self.sub())
        self.assertAccepted(self.sub(self.b))

    def test_wrong_tokens_forbidden(self):
        tok = self.a["JoinToken"]
        flipped = tok[:-1] + ("A" if tok[-1] != "A" else "B")
        for bad in (flipped, tok[:-1], tok + "x", "x", self.b["JoinToken"],
                    tok.upper() if tok.upper() != tok else tok.lower(), " " + tok):
            with self.subTest(token=bad):
                self.assertError(self.sub(token=bad), "Forbidden")

    def test_empty_token(self):
        # docs/control-api.md: JoinToken is 1..256 bytes, an empty one is a BadRequest.
        self.assertError(self.sub(token=""), "BadRequest", "JoinToken")

    def test_deleted_attendee_token(self):
        self.w.ok({"op": "DeleteAttendee", "MeetingId": self.mid,
                   "AttendeeId": self.a["AttendeeId"]})
        # the deleted attendee's own token is refused: revoked
        self.assertError(self.sub(), "Forbidden", "JoinToken")
        # its token does not open another attendee's door
        self.assertError(self.sub(self.b, token=self.a["JoinToken"]), "Forbidden")
        self.assertAccepted(self.sub(self.b))

    def test_token_of_deleted_meeting(self):
        self.w.ok({"op": "DeleteMeeting", "MeetingId": self.mid})
        self.assertError(self.sub(), "NotFound", "MeetingId")

    def test_not_found(self):
        self.assertError(self.sub(MeetingId=str(uuid.uuid4())), "NotFound", "MeetingId")
        # an attendee the meeting does not have: the token cannot be valid for it
        self.assertError(self.sub(AttendeeId=str(uuid.uuid4())), "Forbidden", "JoinToken")
        other = self.w.create_meeting()
        self.assertError(self.sub(MeetingId=other["MeetingId"]), "Forbidden", "JoinToken")

    def test_bad_request(self):
        for field in ("MeetingId", "AttendeeId", "JoinToken", "SdpOffer"):
            with self.subTest(missing=field):
                self.assertError(self.sub(**{field: None}), "BadRequest", field)
            with self.subTest(number=field):
                self.assertError(self.sub(**{field: 17}), "BadRequest", field)
        self.assertError(self.sub(MeetingId="not-a-uuid"), "BadRequest", "MeetingId")


class VideoControlTests(WorkerTest):
    """The control side of the video router: what can be checked without a client
    sending media (no ICE here), so without any published stream flowing."""

    def setUp(self):
        self.mid = self.w.create_meeting()["MeetingId"]
        self.a = self.w.create_attendee(self.mid, "alice")

    def sub(self, **extra):
        req = {"op": "Subscribe", "MeetingId": self.mid, "AttendeeId": self.a["AttendeeId"],
               "JoinToken": self.a["JoinToken"], "SdpOffer": OFFER}
        req.update(extra)
        return self.w.request(req)

    def index(self, mid=None):
        return self.w.request({"op": "GetStreamIndex", "MeetingId": mid or self.mid})

    def transport(self):
        return self.w.ok({"op": "GetAttendeeStats", "MeetingId": self.mid,
                          "AttendeeId": self.a["AttendeeId"]})["Transport"]

    def test_stream_index_of_fresh_meeting(self):
        self.assertEqual(self.index(), {"ok": True,
                                        "StreamIndex": {"Version": 0, "Streams": []}})

    def test_stream_index_not_found_and_bad_request(self):
        self.assertError(self.index(str(uuid.uuid4())), "NotFound", "MeetingId")
        self.assertError(self.w.request({"op": "GetStreamIndex"}), "BadRequest", "MeetingId")
        self.assertError(self.w.request({"op": "GetStreamIndex", "MeetingId": 5}),
                         "BadRequest", "MeetingId")
        # a meeting that ended is gone like any other
        self.w.ok({"op": "DeleteMeeting", "MeetingId": self.mid})
        self.assertError(self.index(), "NotFound", "MeetingId")

    def test_unknown_stream_not_found_changes_nothing(self):
        rep = self.sub(ReceiveStreamIds=[12345])
        self.assertError(rep, "NotFound", "ReceiveStreamIds")
        self.assertIn("12345", rep["error"]["message"], rep)
        self.assertError(self.sub(ReceiveStreamIds=[{"StreamId": 12345, "MaxLayer": 0}]),
                         "NotFound", "ReceiveStreamIds")
        # refused before the transport was touched
        self.assertIsNone(self.transport())
        # the token is still checked first: a wrong one says nothing about streams
        self.assertError(self.sub(ReceiveStreamIds=[12345], JoinToken="x" * 20), "Forbidden")

    def test_receive_stream_ids_bad_request(self):
        rep = self.sub(ReceiveStreamIds=list(range(1, 27)))
        self.assertError(rep, "BadRequest", "ReceiveStreamIds: at most 25")
        for bad, where in (([0], "ReceiveStreamIds[0]"), ([1, 1], "ReceiveStreamIds[1]"),
                           ("1", "ReceiveStreamIds"), ([1, "2"], "ReceiveStreamIds[1]"),
                           ([{"StreamId": 1, "MaxLayer": 3}], "ReceiveStreamIds[0].MaxLayer"),
                           ([{"MaxLayer": 1}], "ReceiveStreamIds[0].StreamId"),
                           ([[1]], "ReceiveStreamIds[0]")):
            with self.subTest(ids=bad):
                self.assertError(self.sub(ReceiveStreamIds=bad), "BadRequest", where)
        self.assertIsNone(self.transport())

    def test_reply_has_stream_index(self):
        rep = self.sub()
        self.assertIs(rep.get("ok"), True, rep)
        ids = assertIndex(self, rep["StreamIndex"])
        # nothing asked for, nothing received
        self.assertEqual(rep["ReceiveStreams"], [], rep)
        if "PublishedStreamId" in rep:  # the offer sends simulcast video
            self.assertIn(rep["PublishedStreamId"], ids, rep)
            self.assertNotIn("PublishRefused", rep)
        # the same index through GetStreamIndex (nothing changed in between)
        idx = self.w.ok({"op": "GetStreamIndex", "MeetingId": self.mid})["StreamIndex"]
        self.assertEqual(assertIndex(self, idx), ids)
        self.assertEqual(idx["Version"], rep["StreamIndex"]["Version"])
        # an explicit empty list is receiving nothing too
        rep = self.sub(ReceiveStreamIds=[])
        self.assertIs(rep.get("ok"), True, rep)
        self.assertEqual(rep["ReceiveStreams"], [], rep)

    def test_video_figures(self):
        self.sub()
        rep = self.w.ok({"op": "GetAttendeeStats", "MeetingId": self.mid,
                         "AttendeeId": self.a["AttendeeId"]})
        self.assertEqual(set(rep["Video"].keys()), {"Published", "Receiving"}, rep)
        self.assertEqual(rep["Video"]["Receiving"], [], rep)
        for p in rep["Video"]["Published"]:
            self.assertIn("Layers", p, rep)
        st = self.w.ok({"op": "GetWorkerStats"})
        for loop in st["Loops"]:
            v = loop["Video"]
            self.assertEqual(set(v.keys()), {"Streams", "Views", "RtpIn", "Forwarded",
                                             "ForwardedBytes", "Retransmissions", "Dropped",
                                             "KeyframeRequestsOut", "NacksOut", "NacksIn"},
                             loop)
            self.assertEqual(v["Views"], 0, loop)
            self.assertEqual(v["Forwarded"], 0, loop)


class LeaveAndStatsTests(WorkerTest):
    """LeaveMeeting and GetAttendeeStats over nanomsg. Nothing connects here (no ICE
    client): the transport Subscribe made stays in ICE "new"/"checking"."""

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

    def stats(self, att):
        rep = self.w.ok({"op": "GetAttendeeStats", "MeetingId": self.mid,
                         "AttendeeId": att["AttendeeId"]})
        self.assertEqual(rep["MeetingId"], self.mid, rep)
        self.assertEqual(rep["AttendeeId"], att["AttendeeId"], rep)
        return rep

    def leave(self, att):
        return self.w.request({"op": "LeaveMeeting", "MeetingId": self.mid,
                               "AttendeeId": att["AttendeeId"]})

    def test_stats_after_subscribe(self):
        answer = self.subscribe(self.a)
        ufrag = re.search(r"^a=ice-ufrag:(\S+)\r$", answer, re.M)
        self.assertIsNotNone(ufrag, answer)
        rep = self.stats(self.a)
        self.assertIs(rep["Connected"], False, rep)
        t = rep["Transport"]
        self.assertIsInstance(t, dict, rep)
        self.assertIn(t["IceState"], ("new", "checking"), rep)
        self.assertEqual(t["LocalUfrag"], ufrag.group(1), rep)
        self.assertIsNone(t["SelectedProtocol"], rep)
        self.assertIsNone(t["SrtpProfile"], rep)
        self.assertEqual(t["Decrypted"], 0, rep)
        # bob has not subscribed: no transport
        rep = self.stats(self.b)
        self.assertIs(rep["Connected"], False, rep)
        self.assertIsNone(rep["Transport"], rep)

    def test_leave_closes_transport(self):
        self.subscribe(self.a)
        self.assertIsInstance(self.stats(self.a)["Transport"], dict)
        self.assertEqual(self.leave(self.a), {"ok": True})
        rep = self.stats(self.a)
        self.assertIsNone(rep["Transport"], rep)
        self.assertIs(rep["Connected"], False, rep)
        # again, and for an attendee that never had a transport: ok, nothing to close
        self.assertEqual(self.leave(self.a), {"ok": True})
        self.assertEqual(self.leave(self.b), {"ok": True})
        # the attendee stays: its token still works, a new Subscribe makes a new transport
        self.subscribe(self.a)
        self.assertIsInstance(self.stats(self.a)["Transport"], dict)

    def test_not_found(self):
        for op in ("LeaveMeeting", "GetAttendeeStats"):
            with self.subTest(op=op, unknown="meeting"):
                self.assertError(self.w.request({"op": op, "MeetingId": str(uuid.uuid4()),
                                                 "AttendeeId": self.a["AttendeeId"]}),
                                 "NotFound", "MeetingId")
            with self.subTest(op=op, unknown="attendee"):
                other = str(uuid.uuid4())
                rep = self.w.request({"op": op, "MeetingId": self.mid, "AttendeeId": other})
                self.assertError(rep, "NotFound", "AttendeeId")
                # the same wording as every other NotFound of the API
                self.assertIn("no such attendee '%s'" % other, rep["error"]["message"])

    def test_bad_request(self):
        for op in ("LeaveMeeting", "GetAttendeeStats"):
            full = {"op": op, "MeetingId": self.mid, "AttendeeId": self.a["AttendeeId"]}
            for field in ("MeetingId", "AttendeeId"):
                with self.subTest(op=op, missing=field):
                    req = dict(full)
                    del req[field]
                    self.assertError(self.w.request(req), "BadRequest", field)
                with self.subTest(op=op, number=field):
                    self.assertError(self.w.request(dict(full, **{field: 17})),
                                     "BadRequest", field)


if __name__ == "__main__":
    harness.main()
