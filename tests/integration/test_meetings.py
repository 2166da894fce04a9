"""CreateMeeting / GetMeeting / ListMeetings / DeleteMeeting and replicas,
against the real worker: shapes, defaults, limits and every error code."""

import re
import uuid

import harness
from harness import WorkerTest, uid8

# MeetingFeatures.Audio as echoed when not given (issue 9: 32 kbps, 5 talkers)
AUDIO_DEFAULT = {"BitrateKbps": 32, "MaxTalkers": 5}

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                     r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def features(video=None, content=None, max_count=None):
    f = {}
    if video is not None:
        f["Video"] = {"MaxResolution": video}
    if content is not None:
        f["Content"] = {"MaxResolution": content}
    if max_count is not None:
        f["Attendee"] = {"MaxCount": max_count}
    return f


class MeetingTests(WorkerTest):

    def create(self, **fields):
        req = {"op": "CreateMeeting", "ExternalMeetingId": "ext-" + uid8()}
        req.update(fields)
        return self.w.request(req)

    def check_shape(self, m, ext=None):
        self.assertRegex(m["MeetingId"], UUID_RE)
        if ext is not None:
            self.assertEqual(m["ExternalMeetingId"], ext)
        loop = m["Loop"]
        self.assertIsInstance(loop, int)
        self.assertTrue(0 <= loop < self.w.loops, m)
        mp = m["MediaPlacement"]
        self.assertEqual(mp["AudioHostUrl"], "127.0.0.1:%d" % (self.w.udp_port + loop))
        self.assertEqual(mp["AudioFallbackUrl"], "127.0.0.1:%d" % (self.w.tcp_port + loop))
        f = m["MeetingFeatures"]
        self.assertIn(f["Video"]["MaxResolution"], ("None", "HD", "FHD"))
        self.assertIn(f["Content"]["MaxResolution"], ("None", "FHD", "UHD"))
        self.assertIsInstance(f["Attendee"]["MaxCount"], int)

    # ---- success paths ----------------------------------------------------
    def test_create_defaults(self):
        rep = self.w.ok({"op": "CreateMeeting", "ExternalMeetingId": "standup-42"})
        self.assertEqual(set(rep), {"ok", "Meeting"})
        m = rep["Meeting"]
        self.check_shape(m, "standup-42")
        self.assertNotIn("PrimaryMeetingId", m)
        self.assertEqual(m["MeetingFeatures"], {
            "Audio": AUDIO_DEFAULT,
            "Video": {"MaxResolution": "HD", "MaxReceiveKbps": 6000},
            "Content": {"MaxResolution": "FHD"},
            "Attendee": {"MaxCount": 250}})

    def test_get_meeting_same_as_create(self):
        m = self.w.create_meeting("get-me", MeetingFeatures=features("None", "None", 7))
        rep = self.w.get_meeting(m["MeetingId"])
        self.assertIs(rep["ok"], True)
        self.assertEqual(rep["Meeting"], m)
        self.assertEqual(m["MeetingFeatures"], {
            "Audio": AUDIO_DEFAULT,
            "Video": {"MaxResolution": "None", "MaxReceiveKbps": 6000},
            "Content": {"MaxResolution": "None"},
            "Attendee": {"MaxCount": 7}})

    def test_given_meeting_id_kept(self):
        mid = str(uuid.uuid4())
        m = self.w.create_meeting(MeetingId=mid)
        self.assertEqual(m["MeetingId"].lower(), mid)

    def test_external_id_length_bounds(self):
        for ext in ("ab", "x" * 64):
            m = self.w.create_meeting(ext)
            self.assertEqual(m["ExternalMeetingId"], ext)

    def test_external_id_counts_characters_not_bytes(self):
        for ext in ("\U0001F600" * 64, "\u00e9" * 64, "\u65e5\u672c"):
            m = self.w.create_meeting(ext)
            self.assertEqual(m["ExternalMeetingId"], ext)
            self.assertEqual(self.w.get_meeting(m["MeetingId"])["Meeting"]["ExternalMeetingId"],
                             ext)
        for bad in ("\U0001F600" * 65, "a\u0085b", "a\tb", "a\nb", "\u00e9"):
            self.err({"op": "CreateMeeting", "ExternalMeetingId": bad}, "BadRequest",
                     "ExternalMeetingId")

    def test_high_definition_defaults_and_limits(self):
        for f in (features(video="FHD"), features(content="UHD"),
                  features(video="FHD", content="UHD")):
            m = self.w.create_meeting(MeetingFeatures=f)
            self.assertEqual(m["MeetingFeatures"]["Attendee"]["MaxCount"], 25, f)
        m = self.w.create_meeting(MeetingFeatures=features("FHD", "UHD", 25))
        self.assertEqual(m["MeetingFeatures"], {
            "Audio": AUDIO_DEFAULT,
            "Video": {"MaxResolution": "FHD", "MaxReceiveKbps": 6000},
            "Content": {"MaxResolution": "UHD"}, "Attendee": {"MaxCount": 25}})
        # Content FHD with Video HD is a standard session: 250 allowed.
        m = self.w.create_meeting(MeetingFeatures=features("HD", "FHD", 250))
        self.assertEqual(m["MeetingFeatures"]["Attendee"]["MaxCount"], 250)
        m = self.w.create_meeting(MeetingFeatures=features(max_count=1))
        self.assertEqual(m["MeetingFeatures"]["Attendee"]["MaxCount"], 1)

    def test_partial_features_fill_the_rest(self):
        m = self.w.create_meeting(MeetingFeatures={"Video": {"MaxResolution": "FHD"}})
        self.assertEqual(m["MeetingFeatures"], {
            "Audio": AUDIO_DEFAULT,
            "Video": {"MaxResolution": "FHD", "MaxReceiveKbps": 6000},
            "Content": {"MaxResolution": "FHD"}, "Attendee": {"MaxCount": 25}})
        m = self.w.create_meeting(MeetingFeatures={"Video": {"MaxReceiveKbps": 1200}})
        self.assertEqual(m["MeetingFeatures"]["Video"],
                         {"MaxResolution": "HD", "MaxReceiveKbps": 1200})
        m = self.w.create_meeting(MeetingFeatures={})
        self.assertEqual(m["MeetingFeatures"]["Attendee"]["MaxCount"], 250)

    def test_list_meetings(self):
        a = self.w.create_meeting("list-a")
        b = self.w.create_meeting("list-b")
        rep = self.w.ok({"op": "ListMeetings"})
        self.assertIsInstance(rep["Meetings"], list)
        by_id = {m["MeetingId"]: m for m in rep["Meetings"]}
        self.assertEqual(by_id[a["MeetingId"]], a)
        self.assertEqual(by_id[b["MeetingId"]], b)
        self.w.ok({"op": "DeleteMeeting", "MeetingId": a["MeetingId"]})
        ids = [m["MeetingId"] for m in self.w.ok({"op": "ListMeetings"})["Meetings"]]
        self.assertNotIn(a["MeetingId"], ids)
        self.assertIn(b["MeetingId"], ids)

    def test_delete_meeting(self):
        m = self.w.create_meeting()
        att = self.w.create_attendee(m["MeetingId"])
        rep = self.w.ok({"op": "DeleteMeeting", "MeetingId": m["MeetingId"]})
        self.assertEqual(rep, {"ok": True})
        self.assertError(self.w.get_meeting(m["MeetingId"]), "NotFound", "MeetingId")
        self.err({"op": "GetAttendee", "MeetingId": m["MeetingId"],
                  "AttendeeId": att["AttendeeId"]}, "NotFound", "MeetingId")
        self.err({"op": "DeleteMeeting", "MeetingId": m["MeetingId"]}, "NotFound",
                 "MeetingId")
        # Its id may be reused once it is gone.
        again = self.w.create_meeting(MeetingId=m["MeetingId"])
        self.assertEqual(again["MeetingId"], m["MeetingId"])

    def test_same_external_id_twice_is_two_meetings(self):
        a = self.w.create_meeting("same-ext")
        b = self.w.create_meeting("same-ext")
        self.assertNotEqual(a["MeetingId"], b["MeetingId"])

    # ---- errors ---------------------------------------------------------------
    def test_external_id_bad(self):
        for bad in (None, 5, "", "a", "x" * 65, ["ab"], {"a": "b"}, True):
            req = {"op": "CreateMeeting"}
            if bad is not None:
                req["ExternalMeetingId"] = bad
            self.err(req, "BadRequest", "ExternalMeetingId")
        self.err({"op": "CreateMeeting", "ExternalMeetingId": None}, "BadRequest",
                 "ExternalMeetingId")

    def test_meeting_id_bad(self):
        for bad in ("nope", 12, "", str(uuid.uuid4()) + "0", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
                    [str(uuid.uuid4())]):
            rep = self.create(MeetingId=bad)
            self.assertError(rep, "BadRequest", "MeetingId")

    def test_meeting_id_conflict(self):
        m = self.w.create_meeting()
        rep = self.create(MeetingId=m["MeetingId"])
        self.assertError(rep, "Conflict", "MeetingId")
        # the existing meeting is untouched
        self.assertEqual(self.w.get_meeting(m["MeetingId"])["Meeting"], m)

    def test_features_bad(self):
        cases = [
            ("MeetingFeatures", "HD"),
            ("MeetingFeatures", [1]),
            ("Video", {"Video": "HD"}),
            ("MaxResolution", features(video="UHD")),
            ("MaxResolution", features(video="hd")),
            ("MaxResolution", features(video=1080)),
            ("MaxResolution", features(content="HD")),
            ("MaxResolution", features(content=None) | {"Content": {"MaxResolution": None}}),
            ("MaxCount", features(max_count=0)),
            ("MaxCount", features(max_count=251)),
            ("MaxCount", features(max_count=-1)),
            ("MaxCount", features(max_count="10")),
            ("MaxCount", features(max_count=2.5)),
            ("MaxCount", features(max_count=1e12)),
            ("MaxReceiveKbps", {"Video": {"MaxReceiveKbps": 100}}),
            ("BitrateKbps", {"Audio": {"BitrateKbps": 200}}),
            ("MaxTalkers", {"Audio": {"MaxTalkers": 0}}),
            ("Audio", {"Audio": "loud"}),
            ("MaxReceiveKbps", {"Video": {"MaxReceiveKbps": "6000"}}),
            ("MaxCount", features("FHD", max_count=26)),
            ("MaxCount", features(content="UHD", max_count=250)),
            ("Attendee", {"Attendee": 5}),
        ]
        for field, f in cases:
            with self.subTest(field=field, features=f):
                self.assertError(self.create(MeetingFeatures=f), "BadRequest", field)

    def test_get_delete_bad_ids(self):
        for op in ("GetMeeting", "DeleteMeeting"):
            self.err({"op": op}, "BadRequest", "MeetingId")
            self.err({"op": op, "MeetingId": 7}, "BadRequest", "MeetingId")
            self.err({"op": op, "MeetingId": None}, "BadRequest", "MeetingId")
            self.err({"op": op, "MeetingId": str(uuid.uuid4())}, "NotFound", "MeetingId")

    # ---- replicas ---------------------------------------------------------------
    def test_replica_shape(self):
        p = self.w.create_meeting("primary")
        r = self.w.create_meeting("replica", PrimaryMeetingId=p["MeetingId"])
        self.check_shape(r, "replica")
        self.assertEqual(r["PrimaryMeetingId"], p["MeetingId"])
        self.assertEqual(self.w.get_meeting(r["MeetingId"])["Meeting"], r)
        self.assertNotIn("PrimaryMeetingId", self.w.get_meeting(p["MeetingId"])["Meeting"])

    def test_replica_limits(self):
        p = self.w.create_meeting()
        reps = [self.w.create_meeting(PrimaryMeetingId=p["MeetingId"]) for _ in range(4)]
        self.assertError(self.create(PrimaryMeetingId=p["MeetingId"]), "LimitExceeded",
                         "PrimaryMeetingId")
        # a replica of a replica is refused
        self.assertError(self.create(PrimaryMeetingId=reps[0]["MeetingId"]), "BadRequest",
                         "PrimaryMeetingId")
        # deleting one replica frees a slot
        self.w.ok({"op": "DeleteMeeting", "MeetingId": reps[1]["MeetingId"]})
        self.w.create_meeting(PrimaryMeetingId=p["MeetingId"])
        self.assertError(self.create(PrimaryMeetingId=p["MeetingId"]), "LimitExceeded")

    def test_replica_bad_primary(self):
        self.assertError(self.create(PrimaryMeetingId=str(uuid.uuid4())), "NotFound",
                         "PrimaryMeetingId")
        self.assertError(self.create(PrimaryMeetingId="not-a-uuid"), "BadRequest",
                         "PrimaryMeetingId")
        self.assertError(self.create(PrimaryMeetingId=3), "BadRequest", "PrimaryMeetingId")

    def test_delete_primary_deletes_replicas(self):
        p = self.w.create_meeting()
        r1 = self.w.create_meeting(PrimaryMeetingId=p["MeetingId"])
        r2 = self.w.create_meeting(PrimaryMeetingId=p["MeetingId"])
        other = self.w.create_meeting()
        self.w.ok({"op": "DeleteMeeting", "MeetingId": p["MeetingId"]})
        for m in (p, r1, r2):
            self.assertError(self.w.get_meeting(m["MeetingId"]), "NotFound")
        self.assertEqual(self.w.get_meeting(other["MeetingId"])["Meeting"], other)

    def test_delete_replica_keeps_primary(self):
        p = self.w.create_meeting()
        r = self.w.create_meeting(PrimaryMeetingId=p["MeetingId"])
        self.w.ok({"op": "DeleteMeeting", "MeetingId": r["MeetingId"]})
        self.assertEqual(self.w.get_meeting(p["MeetingId"])["Meeting"], p)


if __name__ == "__main__":
    harness.main()
