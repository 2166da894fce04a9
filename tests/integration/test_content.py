"""Content share end to end (issue 7): a content attendee is created with
CreateAttendee's ContentShareOf, its AttendeeId is "<owner>#content"; it publishes a
single VP8 stream (tools/sfu-load) that the index marks "content", and its joins and
video are reported with the chime:AttendeeContent* events instead of the attendee ones.
Limits (2 per meeting), errors, the owner's deletion cascade, and Content.MaxResolution
"None" refusing the video."""

import harness
from harness import Events, WorkerTest
from load import LoadClient


class ContentShareTests(WorkerTest):

    def setUp(self):
        self.sub = self.w.subscribe()
        self.ev = Events(self.sub)
        self.lc = LoadClient(seed=11)

    def tearDown(self):
        self.lc.close()
        self.sub.close()

    def content_of(self, mid, owner, **fields):
        req = {"op": "CreateAttendee", "MeetingId": mid, "ContentShareOf": owner["AttendeeId"]}
        req.update(fields)
        return self.w.request(req)

    def publish(self, mid, att, name):
        """Subscribes att with a 1-layer VP8 publisher; returns the Subscribe reply."""
        offer = self.lc.add(name, publish={"codec": "VP8", "layers": 1, "rtx": True, "fps": 15},
                            receive=0)
        rep = self.w.ok({"op": "Subscribe", "MeetingId": mid, "AttendeeId": att["AttendeeId"],
                         "JoinToken": att["JoinToken"], "SdpOffer": offer})
        self.lc.answer(name, rep["SdpAnswer"])
        return rep

    def test_create_limits_errors_and_owner_cascade(self):
        mid = self.w.create_meeting()["MeetingId"]
        alice = self.w.create_attendee(mid, "alice")
        bob = self.w.create_attendee(mid, "bob")
        carol = self.w.create_attendee(mid, "carol")
        rep = self.content_of(mid, alice, Capabilities={"Audio": "SendReceive", "Video": "Send",
                                                        "Content": "None"})
        self.assertIs(rep.get("ok"), True, rep)
        ac = rep["Attendee"]
        self.assertEqual(ac["AttendeeId"], alice["AttendeeId"] + "#content")
        self.assertEqual(ac["ExternalUserId"], "alice#content")
        self.assertNotEqual(ac["JoinToken"], alice["JoinToken"])
        self.assertEqual(ac["Capabilities"]["Video"], "Send")
        ev = self.ev.wait_type("chime:AttendeeAdded", attendeeId=ac["AttendeeId"])
        self.assertEqual(ev["externalUserId"], "alice#content")
        # Upper-case UUID in requests: lower-cased, the suffix kept.
        got = self.w.ok({"op": "GetAttendee", "MeetingId": mid,
                         "AttendeeId": alice["AttendeeId"].upper() + "#content"})["Attendee"]
        self.assertEqual(got["AttendeeId"], ac["AttendeeId"])
        self.err({"op": "GetAttendee", "MeetingId": mid,
                  "AttendeeId": alice["AttendeeId"] + "#CONTENT"}, "BadRequest", "AttendeeId")
        ids = [a["AttendeeId"] for a in self.w.ok({"op": "ListAttendees",
                                                   "MeetingId": mid})["Attendees"]]
        self.assertIn(ac["AttendeeId"], ids)
        # Errors: one per owner, no share of a share, unknown owner, a bad ExternalUserId.
        self.assertError(self.content_of(mid, alice), "Conflict", "ContentShareOf")
        self.assertError(self.content_of(mid, ac), "BadRequest", "ContentShareOf")
        self.assertError(self.content_of(mid, {"AttendeeId": "not-an-id"}),
                         "BadRequest", "ContentShareOf")
        ghost = {"AttendeeId": "0b7e3a52-9f0c-4f63-8d21-5a6e2c1b9d04"}
        self.assertError(self.content_of(mid, ghost), "NotFound", "ContentShareOf")
        self.assertError(self.content_of(mid, bob, ExternalUserId="bob-screen"), "BadRequest",
                         "ExternalUserId")
        # Two per meeting.
        rep = self.content_of(mid, bob, ExternalUserId="bob-slides#content")
        self.assertIs(rep.get("ok"), True, rep)
        self.assertEqual(rep["Attendee"]["ExternalUserId"], "bob-slides#content")
        self.assertError(self.content_of(mid, carol), "LimitExceeded", "2 content shares")
        # Deleting the owner deletes its share first.
        self.ev.drain()
        self.w.ok({"op": "DeleteAttendee", "MeetingId": mid, "AttendeeId": alice["AttendeeId"]})
        d_owner = self.ev.wait_type("chime:AttendeeDeleted", attendeeId=alice["AttendeeId"])
        d_share = self.ev.wait_type("chime:AttendeeDeleted", attendeeId=ac["AttendeeId"])
        self.assertLess(self.ev.seen.index(d_share), self.ev.seen.index(d_owner))
        self.err({"op": "GetAttendee", "MeetingId": mid, "AttendeeId": ac["AttendeeId"]},
                 "NotFound")
        # Its slot is free again.
        self.assertIs(self.content_of(mid, carol).get("ok"), True)

    def test_content_attendee_publishes_content(self):
        mid = self.w.create_meeting()["MeetingId"]
        alice = self.w.create_attendee(mid, "alice")
        share = self.content_of(mid, alice)["Attendee"]
        cid = share["AttendeeId"]
        rep = self.publish(mid, share, "share")
        self.assertIn("PublishedStreamId", rep, rep)
        self.assertNotIn("PublishRefused", rep, rep)
        sid = rep["PublishedStreamId"]
        self.lc.wait_for("share", lambda s: s["connected"], what="content share connected")
        ev = self.ev.wait_type("chime:AttendeeContentJoined", timeout=10, attendeeId=cid)
        self.assertEqual(ev["externalUserId"], "alice#content")
        self.assertEqual(ev["networkType"], "Voip")
        ev = self.ev.wait_type("chime:AttendeeContentVideoStarted", timeout=10, attendeeId=cid)
        self.assertEqual(ev["streamId"], sid)
        idx = self.w.ok({"op": "GetStreamIndex", "MeetingId": mid})["StreamIndex"]
        st = [s for s in idx["Streams"] if s["StreamId"] == sid]
        self.assertEqual(len(st), 1, idx)
        self.assertEqual(st[0]["Kind"], "content", st)
        self.assertEqual(st[0]["AttendeeId"], cid, st)
        # A viewer receives the content stream like any other.
        bob = self.w.create_attendee(mid, "bob")
        offer = self.lc.add("bob", receive=1)
        rep = self.w.ok({"op": "Subscribe", "MeetingId": mid, "AttendeeId": bob["AttendeeId"],
                         "JoinToken": bob["JoinToken"], "SdpOffer": offer,
                         "ReceiveStreamIds": [sid]})
        self.assertEqual(rep["ReceiveStreams"][0]["AttendeeId"], cid, rep)
        self.lc.answer("bob", rep["SdpAnswer"])
        self.lc.wait_for("bob", lambda s: s["recv"] and s["recv"][0]["packets"] > 50,
                         what="content received")
        # Leaving: content events again.
        self.w.ok({"op": "LeaveMeeting", "MeetingId": mid, "AttendeeId": cid})
        self.ev.wait_type("chime:AttendeeContentLeft", timeout=10, attendeeId=cid)
        ev = self.ev.wait_type("chime:AttendeeContentVideoStopped", timeout=10, attendeeId=cid)
        self.assertEqual(ev["streamId"], sid)
        self.ev.drain()
        plain = {"chime:AttendeeJoined", "chime:AttendeeLeft", "chime:AttendeeDropped",
                 "chime:AttendeeVideoStarted", "chime:AttendeeVideoStopped"}
        wrong = [e for e in self.ev.seen if e.get("attendeeId") == cid and
                 e.get("eventType") in plain]
        self.assertEqual(wrong, [])
        # bob's own join is a plain one
        self.ev.wait_type("chime:AttendeeJoined", attendeeId=bob["AttendeeId"])

    def test_content_none_refuses_the_video(self):
        mid = self.w.create_meeting(MeetingFeatures={"Content": {"MaxResolution": "None"}})[
            "MeetingId"]
        alice = self.w.create_attendee(mid, "alice")
        share = self.content_of(mid, alice)["Attendee"]
        rep = self.publish(mid, share, "share")
        self.assertNotIn("PublishedStreamId", rep, rep)
        self.assertIn("PublishRefused", rep, rep)
        self.assertEqual(rep["PublishRefused"]["Code"], "Forbidden", rep)
        self.assertIn("Content", rep["PublishRefused"]["Message"], rep)
        self.assertIn("None", rep["PublishRefused"]["Message"], rep)
        # A camera in the same meeting is still accepted.
        bob = self.w.create_attendee(mid, "bob")
        rep = self.publish(mid, bob, "bob")
        self.assertIn("PublishedStreamId", rep, rep)


if __name__ == "__main__":
    harness.main()
