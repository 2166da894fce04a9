"""CreateAttendee / BatchCreateAttendee / GetAttendee / ListAttendees /
DeleteAttendee / UpdateAttendeeCapabilities: shapes, defaults, quotas,
pagination and every error code."""

import re
import uuid

import harness
from harness import WorkerTest, uid8

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                     r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
SR = "SendReceive"
ALL_SR = {"Audio": SR, "Video": SR, "Content": SR}


def caps(a=SR, v=SR, c=SR):
    return {"Audio": a, "Video": v, "Content": c}


class AttendeeTests(WorkerTest):

    def setUp(self):
        self.m = self.w.create_meeting("att-" + uid8())
        self.mid = self.m["MeetingId"]

    def batch(self, users, mid=None, **extra):
        items = [u if isinstance(u, dict) else {"ExternalUserId": u} for u in users]
        req = {"op": "BatchCreateAttendee", "MeetingId": mid or self.mid, "Attendees": items}
        req.update(extra)
        return self.w.request(req)

    def list_all(self, mid, page):
        seen, token, pages = [], None, 0
        while True:
            req = {"op": "ListAttendees", "MeetingId": mid, "MaxResults": page}
            if token is not None:
                req["NextToken"] = token
            rep = self.w.ok(req)
            self.assertLessEqual(len(rep["Attendees"]), page)
            seen += rep["Attendees"]
            pages += 1
            token = rep.get("NextToken")
            if token is None:
                return seen, pages
            self.assertIsInstance(token, str)
            self.assertEqual(len(rep["Attendees"]), page)

    # ---- success paths ------------------------------------------------------
    def test_create_defaults_and_shape(self):
        rep = self.w.ok({"op": "CreateAttendee", "MeetingId": self.mid,
                         "ExternalUserId": "alice"})
        self.assertEqual(set(rep), {"ok", "Attendee"})
        a = rep["Attendee"]
        self.assertEqual(set(a), {"AttendeeId", "ExternalUserId", "JoinToken",
                                  "Capabilities"})
        self.assertRegex(a["AttendeeId"], UUID_RE)
        self.assertEqual(a["ExternalUserId"], "alice")
        self.assertEqual(a["Capabilities"], ALL_SR)
        # >= 128 random bits: at least 22 base64 characters
        self.assertIsInstance(a["JoinToken"], str)
        self.assertGreaterEqual(len(a["JoinToken"]), 22)
        b = self.w.create_attendee(self.mid, "alice")
        self.assertNotEqual(a["JoinToken"], b["JoinToken"])
        self.assertNotEqual(a["AttendeeId"], b["AttendeeId"])

    def test_create_with_capabilities(self):
        for c in (caps("Send", "Receive", "Receive"), caps("None", "None", "None"),
                  caps("Receive", "Send", "Send"), caps("SendReceive", "None", "Send")):
            a = self.w.create_attendee(self.mid, Capabilities=c)
            self.assertEqual(a["Capabilities"], c)
        a = self.w.create_attendee(self.mid, Capabilities={"Audio": "Receive"})
        self.assertEqual(a["Capabilities"], caps("Receive"))
        a = self.w.create_attendee(self.mid, Capabilities={})
        self.assertEqual(a["Capabilities"], ALL_SR)

    def test_external_user_id_bounds(self):
        for u in ("ab", "u" * 64):
            self.assertEqual(self.w.create_attendee(self.mid, u)["ExternalUserId"], u)

    def test_get_attendee(self):
        a = self.w.create_attendee(self.mid, "getme", Capabilities=caps("Send", "None", "None"))
        rep = self.w.ok({"op": "GetAttendee", "MeetingId": self.mid,
                         "AttendeeId": a["AttendeeId"]})
        self.assertEqual(set(rep), {"ok", "Attendee"})
        got = rep["Attendee"]
        self.assertEqual(got["AttendeeId"], a["AttendeeId"])
        self.assertEqual(got["ExternalUserId"], "getme")
        self.assertEqual(got["Capabilities"], caps("Send", "None", "None"))

    def test_delete_attendee(self):
        a = self.w.create_attendee(self.mid)
        b = self.w.create_attendee(self.mid)
        rep = self.w.ok({"op": "DeleteAttendee", "MeetingId": self.mid,
                         "AttendeeId": a["AttendeeId"]})
        self.assertEqual(rep, {"ok": True})
        self.err({"op": "GetAttendee", "MeetingId": self.mid,
                  "AttendeeId": a["AttendeeId"]}, "NotFound", "AttendeeId")
        self.err({"op": "DeleteAttendee", "MeetingId": self.mid,
                  "AttendeeId": a["AttendeeId"]}, "NotFound", "AttendeeId")
        self.w.ok({"op": "GetAttendee", "MeetingId": self.mid, "AttendeeId": b["AttendeeId"]})
        ids = [x["AttendeeId"] for x in
               self.w.ok({"op": "ListAttendees", "MeetingId": self.mid})["Attendees"]]
        self.assertEqual(ids, [b["AttendeeId"]])

    def test_update_capabilities(self):
        a = self.w.create_attendee(self.mid)
        new = caps("Send", "Receive", "None")
        rep = self.w.ok({"op": "UpdateAttendeeCapabilities", "MeetingId": self.mid,
                         "AttendeeId": a["AttendeeId"], "Capabilities": new})
        self.assertEqual(set(rep), {"ok", "Attendee"})
        self.assertEqual(rep["Attendee"]["AttendeeId"], a["AttendeeId"])
        self.assertEqual(rep["Attendee"]["ExternalUserId"], a["ExternalUserId"])
        self.assertEqual(rep["Attendee"]["Capabilities"], new)
        got = self.w.ok({"op": "GetAttendee", "MeetingId": self.mid,
                         "AttendeeId": a["AttendeeId"]})["Attendee"]
        self.assertEqual(got["Capabilities"], new)

    def test_list_pagination(self):
        made = [self.w.create_attendee(self.mid, "p%02d" % i) for i in range(7)]
        for page in (1, 3, 7, 100):
            with self.subTest(page=page):
                seen, pages = self.list_all(self.mid, page)
                self.assertEqual(sorted(x["AttendeeId"] for x in seen),
                                 sorted(x["AttendeeId"] for x in made))
                # NextToken only while more remain: exactly ceil(7 / page) pages
                self.assertEqual(pages, -(-7 // page))
                by_id = {x["AttendeeId"]: x for x in seen}
                for x in made:
                    self.assertEqual(by_id[x["AttendeeId"]]["ExternalUserId"],
                                     x["ExternalUserId"])
                    self.assertEqual(by_id[x["AttendeeId"]]["Capabilities"], ALL_SR)

    def test_list_empty_and_default_page(self):
        rep = self.w.ok({"op": "ListAttendees", "MeetingId": self.mid})
        self.assertEqual(rep["Attendees"], [])
        self.assertNotIn("NextToken", rep)
        users = ["d%03d" % i for i in range(100)]
        self.assertEqual(len(self.batch(users)["Attendees"]), 100)
        self.assertEqual(len(self.batch(["d100", "d101", "d102"])["Attendees"]), 3)
        rep = self.w.ok({"op": "ListAttendees", "MeetingId": self.mid})
        self.assertEqual(len(rep["Attendees"]), 100)
        self.assertIsInstance(rep.get("NextToken"), str)
        rest = self.w.ok({"op": "ListAttendees", "MeetingId": self.mid,
                          "NextToken": rep["NextToken"]})
        self.assertEqual(len(rest["Attendees"]), 3)
        self.assertNotIn("NextToken", rest)
        got = {x["ExternalUserId"] for x in rep["Attendees"] + rest["Attendees"]}
        self.assertEqual(got, set(users) | {"d100", "d101", "d102"})

    # ---- batch --------------------------------------------------------------
    def test_batch_all_good(self):
        rep = self.batch(["b1", {"ExternalUserId": "b2",
                                 "Capabilities": caps("None", "Send", "None")}, "b3"])
        self.assertIs(rep["ok"], True, rep)
        self.assertEqual(rep["Errors"], [])
        self.assertEqual([a["ExternalUserId"] for a in rep["Attendees"]], ["b1", "b2", "b3"])
        self.assertEqual(rep["Attendees"][1]["Capabilities"], caps("None", "Send", "None"))
        for a in rep["Attendees"]:
            self.assertRegex(a["AttendeeId"], UUID_RE)
            self.assertGreaterEqual(len(a["JoinToken"]), 22)
            self.w.ok({"op": "GetAttendee", "MeetingId": self.mid,
                       "AttendeeId": a["AttendeeId"]})

    def test_batch_mixed(self):
        rep = self.batch(["good1",
                          {"ExternalUserId": "x"},
                          {"ExternalUserId": "badcaps", "Capabilities": {"Audio": "Loud"}},
                          {"ExternalUserId": "rule", "Capabilities": caps(v="Send")},
                          {"ExternalUserId": 42},
                          "good2"])
        self.assertIs(rep["ok"], True, rep)
        self.assertEqual([a["ExternalUserId"] for a in rep["Attendees"]], ["good1", "good2"])
        errs = rep["Errors"]
        self.assertEqual(len(errs), 4, errs)
        for e in errs:
            self.assertEqual(e["ErrorCode"], "BadRequest", e)
            self.assertIsInstance(e["ErrorMessage"], str)
        self.assertEqual(errs[0]["ExternalUserId"], "x")
        self.assertIn("ExternalUserId", errs[0]["ErrorMessage"])
        self.assertEqual(errs[1]["ExternalUserId"], "badcaps")
        self.assertIn("Audio", errs[1]["ErrorMessage"])
        self.assertEqual(errs[2]["ExternalUserId"], "rule")
        self.assertIn("Content", errs[2]["ErrorMessage"])
        seen, _ = self.list_all(self.mid, 100)
        self.assertEqual(sorted(a["ExternalUserId"] for a in seen), ["good1", "good2"])

    def test_batch_size_limits(self):
        self.assertError(self.batch(["u%03d" % i for i in range(101)]), "BadRequest",
                         "Attendees")
        self.assertError(self.batch([]), "BadRequest", "Attendees")
        self.assertEqual(self.w.ok({"op": "ListAttendees", "MeetingId": self.mid})
                         ["Attendees"], [])
        rep = self.batch(["u%03d" % i for i in range(100)])
        self.assertEqual(len(rep["Attendees"]), 100)
        self.assertEqual(rep["Errors"], [])

    def test_batch_bad_request(self):
        for bad in (None, "alice", {"ExternalUserId": "alice"}, 5):
            req = {"op": "BatchCreateAttendee", "MeetingId": self.mid}
            if bad is not None:
                req["Attendees"] = bad
            self.err(req, "BadRequest", "Attendees")
        self.err({"op": "BatchCreateAttendee", "Attendees": [{"ExternalUserId": "ab"}]},
                 "BadRequest", "MeetingId")
        self.err({"op": "BatchCreateAttendee", "MeetingId": str(uuid.uuid4()),
                  "Attendees": [{"ExternalUserId": "ab"}]}, "NotFound", "MeetingId")

    # ---- quotas ---------------------------------------------------------------
    def test_250_attendees_then_limit(self):
        for i in range(2):
            rep = self.batch(["q%d-%03d" % (i, j) for j in range(100)])
            self.assertEqual(len(rep["Attendees"]), 100)
        rep = self.batch(["q2-%03d" % j for j in range(49)])
        self.assertEqual(len(rep["Attendees"]), 49)
        last = self.w.create_attendee(self.mid, "number-250")
        self.err({"op": "CreateAttendee", "MeetingId": self.mid, "ExternalUserId": "no251"},
                 "LimitExceeded")
        rep = self.batch(["over1", "over2"])
        self.assertIs(rep["ok"], True, rep)
        self.assertEqual(rep["Attendees"], [])
        self.assertEqual([e["ErrorCode"] for e in rep["Errors"]],
                         ["LimitExceeded", "LimitExceeded"])
        self.assertEqual([e["ExternalUserId"] for e in rep["Errors"]], ["over1", "over2"])
        seen, _ = self.list_all(self.mid, 100)
        self.assertEqual(len(seen), 250)
        # a freed slot can be taken again
        self.w.ok({"op": "DeleteAttendee", "MeetingId": self.mid,
                   "AttendeeId": last["AttendeeId"]})
        self.w.create_attendee(self.mid, "again-250")
        self.err({"op": "CreateAttendee", "MeetingId": self.mid, "ExternalUserId": "no251"},
                 "LimitExceeded")

    def test_max_count(self):
        m = self.w.create_meeting(MeetingFeatures={"Attendee": {"MaxCount": 3}})
        mid = m["MeetingId"]
        a = [self.w.create_attendee(mid) for _ in range(3)]
        self.err({"op": "CreateAttendee", "MeetingId": mid, "ExternalUserId": "four"},
                 "LimitExceeded")
        self.w.ok({"op": "DeleteAttendee", "MeetingId": mid, "AttendeeId": a[0]["AttendeeId"]})
        rep = self.batch(["b1", "b2", "b3"], mid=mid)
        self.assertEqual([x["ExternalUserId"] for x in rep["Attendees"]], ["b1"])
        self.assertEqual([(e["ExternalUserId"], e["ErrorCode"]) for e in rep["Errors"]],
                         [("b2", "LimitExceeded"), ("b3", "LimitExceeded")])

    def test_hd_meeting_max_25(self):
        m = self.w.create_meeting(MeetingFeatures={"Video": {"MaxResolution": "FHD"}})
        rep = self.batch(["h%02d" % i for i in range(26)], mid=m["MeetingId"])
        self.assertEqual(len(rep["Attendees"]), 25)
        self.assertEqual([(e["ExternalUserId"], e["ErrorCode"]) for e in rep["Errors"]],
                         [("h25", "LimitExceeded")])

    # ---- errors ---------------------------------------------------------------
    def test_create_bad_request(self):
        base = {"op": "CreateAttendee", "MeetingId": self.mid, "ExternalUserId": "okuser"}
        cases = [
            ("MeetingId", {"MeetingId": None}),
            ("MeetingId", {"MeetingId": 1}),
            ("MeetingId", {"MeetingId": "abc"}),
            ("ExternalUserId", {"ExternalUserId": None}),
            ("ExternalUserId", {"ExternalUserId": "a"}),
            ("ExternalUserId", {"ExternalUserId": ""}),
            ("ExternalUserId", {"ExternalUserId": "u" * 65}),
            ("ExternalUserId", {"ExternalUserId": 12}),
            ("ExternalUserId", {"ExternalUserId": ["ab"]}),
            ("Capabilities", {"Capabilities": "SendReceive"}),
            ("Capabilities", {"Capabilities": [SR, SR, SR]}),
            ("Audio", {"Capabilities": {"Audio": "Loud"}}),
            ("Audio", {"Capabilities": {"Audio": 1}}),
            ("Video", {"Capabilities": {"Video": "sendreceive"}}),
            ("Content", {"Capabilities": {"Content": None}}),
            # Chime rule: Content SendReceive/Receive needs Video SendReceive/Receive
            ("Content", {"Capabilities": caps(v="Send", c="SendReceive")}),
            ("Content", {"Capabilities": caps(v="None", c="Receive")}),
            ("Content", {"Capabilities": {"Video": "None"}}),
        ]
        for field, patch in cases:
            req = dict(base)
            for k, v in patch.items():
                if v is None and k != "Capabilities":
                    req.pop(k)
                else:
                    req[k] = v
            with self.subTest(field=field, patch=patch):
                self.err(req, "BadRequest", field)
        self.assertEqual(self.w.ok({"op": "ListAttendees", "MeetingId": self.mid})
                         ["Attendees"], [])

    def test_not_found(self):
        nobody = str(uuid.uuid4())
        a = self.w.create_attendee(self.mid)
        self.err({"op": "CreateAttendee", "MeetingId": nobody, "ExternalUserId": "ab"},
                 "NotFound", "MeetingId")
        for op in ("GetAttendee", "DeleteAttendee"):
            self.err({"op": op, "MeetingId": self.mid, "AttendeeId": nobody}, "NotFound",
                     "AttendeeId")
            self.err({"op": op, "MeetingId": nobody, "AttendeeId": a["AttendeeId"]},
                     "NotFound", "MeetingId")
        self.err({"op": "UpdateAttendeeCapabilities", "MeetingId": self.mid,
                  "AttendeeId": nobody, "Capabilities": ALL_SR}, "NotFound", "AttendeeId")
        self.err({"op": "ListAttendees", "MeetingId": nobody}, "NotFound", "MeetingId")
        # An attendee id from another meeting is not found in this one.
        other = self.w.create_meeting()
        self.err({"op": "GetAttendee", "MeetingId": other["MeetingId"],
                  "AttendeeId": a["AttendeeId"]}, "NotFound", "AttendeeId")

    def test_id_fields_bad_request(self):
        a = self.w.create_attendee(self.mid)
        for op in ("GetAttendee", "DeleteAttendee"):
            self.err({"op": op, "MeetingId": self.mid}, "BadRequest", "AttendeeId")
            self.err({"op": op, "MeetingId": self.mid, "AttendeeId": 3}, "BadRequest",
                     "AttendeeId")
            self.err({"op": op, "MeetingId": self.mid, "AttendeeId": "xyz"}, "BadRequest",
                     "AttendeeId")
            self.err({"op": op, "AttendeeId": a["AttendeeId"]}, "BadRequest", "MeetingId")
        self.err({"op": "ListAttendees"}, "BadRequest", "MeetingId")

    def test_list_bad_request(self):
        base = {"op": "ListAttendees", "MeetingId": self.mid}
        for bad in (0, 101, -1, "3", 2.5, None, [1]):
            req = dict(base, MaxResults=bad)
            with self.subTest(MaxResults=bad):
                self.err(req, "BadRequest", "MaxResults")
        for bad in (5, "garbage", "", {"a": 1}):
            with self.subTest(NextToken=bad):
                self.err(dict(base, NextToken=bad), "BadRequest", "NextToken")

    def test_update_bad_request(self):
        a = self.w.create_attendee(self.mid)
        base = {"op": "UpdateAttendeeCapabilities", "MeetingId": self.mid,
                "AttendeeId": a["AttendeeId"]}
        self.err(base, "BadRequest", "Capabilities")
        self.err(dict(base, Capabilities="None"), "BadRequest", "Capabilities")
        self.err(dict(base, Capabilities={"Audio": SR, "Video": SR}), "BadRequest", "Content")
        self.err(dict(base, Capabilities={"Audio": SR, "Content": "None"}), "BadRequest",
                 "Video")
        self.err(dict(base, Capabilities={"Video": SR, "Content": "None"}), "BadRequest",
                 "Audio")
        self.err(dict(base, Capabilities=caps(a="Both")), "BadRequest", "Audio")
        self.err(dict(base, Capabilities=caps(v="None", c="SendReceive")), "BadRequest",
                 "Content")
        del base["AttendeeId"]
        self.err(dict(base, Capabilities=ALL_SR), "BadRequest", "AttendeeId")
        # unchanged after all those refusals
        got = self.w.ok({"op": "GetAttendee", "MeetingId": self.mid,
                         "AttendeeId": a["AttendeeId"]})["Attendee"]
        self.assertEqual(got["Capabilities"], ALL_SR)


if __name__ == "__main__":
    harness.main()
