"""Subscribe: NotFound (meeting), Forbidden (wrong, foreign, deleted attendee's token),
BadRequest per field, and with the right token ServiceUnavailable until the
media transport (issue 3) exists, a real SDP answer after."""

import os
import uuid

import harness
from harness import WorkerTest

OFFER = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                          "chrome-offer.sdp")).read()


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
        """The token was accepted: ServiceUnavailable before issue 3, an answer after."""
        if rep.get("ok") is True:
            self.assertIsInstance(rep.get("SdpAnswer"), str, rep)
            self.assertTrue(rep["SdpAnswer"].startswith("v=0"), rep)
        else:
            self.assertError(rep, "ServiceUnavailable", "Subscribe")

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
        # An empty token never matches; a worker may also call it malformed.
        rep = self.sub(token="")
        self.assertIs(rep["ok"], False, rep)
        self.assertIn(rep["error"]["code"], ("Forbidden", "BadRequest"), rep)

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


if __name__ == "__main__":
    harness.main()
