"""sfuctl against the real worker: subcommands build the right requests, the
reply is printed as JSON, and the exit status says ok (0), refused (1), or
usage / no reply (2). Also `events --count`."""

import json
import os
import subprocess
import time
import uuid

import harness
from harness import WorkerTest, free_port_block


class SfuctlTests(WorkerTest):

    def ctl(self, *args, stdin=None, timeout=20, control=None):
        argv = [harness.SFUCTL, "--control", control or self.w.control,
                "--events", self.w.events, *args]
        return subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout)

    def ok_json(self, *args, **kw):
        out = self.ctl(*args, **kw)
        self.assertEqual(out.returncode, 0, out)
        rep = json.loads(out.stdout)
        self.assertIs(rep["ok"], True)
        return rep

    def test_create_meeting_and_get(self):
        mid = str(uuid.uuid4())
        rep = self.ok_json("create-meeting", "--external-id", "from-cli", "--meeting-id", mid,
                           "--video", "FHD", "--content", "None", "--max-attendees", "5",
                           "--max-receive-kbps", "2500")
        m = rep["Meeting"]
        self.assertEqual(m["MeetingId"], mid)
        self.assertEqual(m["ExternalMeetingId"], "from-cli")
        self.assertEqual(m["MeetingFeatures"], {"Audio": {"BitrateKbps": 32, "MaxTalkers": 5},
                                                "Video": {"MaxResolution": "FHD",
                                                          "MaxReceiveKbps": 2500},
                                                "Content": {"MaxResolution": "None"},
                                                "Attendee": {"MaxCount": 5}})
        self.assertEqual(self.ok_json("get-meeting", mid)["Meeting"], m)
        r = self.ok_json("create-meeting", "--external-id=replica", "--primary", mid)
        self.assertEqual(r["Meeting"]["PrimaryMeetingId"], mid)
        ids = [x["MeetingId"] for x in self.ok_json("list-meetings")["Meetings"]]
        self.assertIn(mid, ids)
        self.assertEqual(self.ok_json("delete-meeting", mid), {"ok": True})
        out = self.ctl("get-meeting", mid)
        self.assertEqual(out.returncode, 1, out)
        self.assertEqual(json.loads(out.stdout)["error"]["code"], "NotFound")
        self.assertIn(b"NotFound", out.stderr)

    def test_attendee_commands(self):
        mid = self.w.create_meeting()["MeetingId"]
        a = self.ok_json("create-attendee", mid, "cli-user", "--audio", "Send",
                         "--video", "Receive", "--content", "None")["Attendee"]
        self.assertEqual(a["ExternalUserId"], "cli-user")
        self.assertEqual(a["Capabilities"], {"Audio": "Send", "Video": "Receive",
                                             "Content": "None"})
        d = self.ok_json("create-attendee", mid, "defaults")["Attendee"]
        self.assertEqual(d["Capabilities"], {"Audio": "SendReceive", "Video": "SendReceive",
                                             "Content": "SendReceive"})
        rep = self.ok_json("batch-create-attendee", mid, "b1", "b2", "x")
        self.assertEqual([x["ExternalUserId"] for x in rep["Attendees"]], ["b1", "b2"])
        self.assertEqual([(e["ExternalUserId"], e["ErrorCode"]) for e in rep["Errors"]],
                         [("x", "BadRequest")])
        got = self.ok_json("get-attendee", mid, a["AttendeeId"])["Attendee"]
        self.assertEqual(got["AttendeeId"], a["AttendeeId"])
        page = self.ok_json("list-attendees", mid, "--max-results", "3")
        self.assertEqual(len(page["Attendees"]), 3)
        rest = self.ok_json("list-attendees", mid, "--next-token", page["NextToken"])
        self.assertEqual(len(rest["Attendees"]), 1)
        up = self.ok_json("update-attendee-capabilities", mid, a["AttendeeId"], "--audio",
                          "None", "--video", "None", "--content", "None")
        self.assertEqual(up["Attendee"]["Capabilities"],
                         {"Audio": "None", "Video": "None", "Content": "None"})
        self.assertEqual(self.ok_json("delete-attendee", mid, a["AttendeeId"]), {"ok": True})
        self.assertEqual(self.ctl("delete-attendee", mid, a["AttendeeId"]).returncode, 1)

    def test_subscribe_command(self):
        mid = self.w.create_meeting()["MeetingId"]
        a = self.w.create_attendee(mid)
        offer = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                             "chrome-offer.sdp")
        out = self.ctl("subscribe", mid, a["AttendeeId"], "wrong-token", offer)
        self.assertEqual(out.returncode, 1, out)
        self.assertEqual(json.loads(out.stdout)["error"]["code"], "Forbidden")
        with open(offer, "rb") as f:
            out = self.ctl("subscribe", mid, a["AttendeeId"], a["JoinToken"], "-",
                           stdin=f.read())
        self.assertEqual(out.returncode, 0, out)
        rep = json.loads(out.stdout)
        self.assertIs(rep["ok"], True, rep)
        self.assertTrue(rep["SdpAnswer"].startswith("v=0\r\n"), rep)
        self.assertIn("\r\na=ice-lite\r\n", rep["SdpAnswer"])

    def test_leave_meeting_and_attendee_stats(self):
        mid = self.w.create_meeting()["MeetingId"]
        a = self.w.create_attendee(mid)
        rep = self.ok_json("attendee-stats", mid, a["AttendeeId"])
        self.assertEqual((rep["AttendeeId"], rep["Connected"], rep["Transport"]),
                         (a["AttendeeId"], False, None), rep)
        self.assertEqual(self.ok_json("leave-meeting", mid, a["AttendeeId"]), {"ok": True})
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                               "chrome-offer.sdp"), "rb") as f:
            out = self.ctl("subscribe", mid, a["AttendeeId"], a["JoinToken"], "-",
                           stdin=f.read())
        self.assertEqual(out.returncode, 0, out)
        rep = self.ok_json("attendee-stats", mid, a["AttendeeId"])
        self.assertIn(rep["Transport"]["IceState"], ("new", "checking"), rep)
        self.assertEqual(self.ok_json("leave-meeting", mid, a["AttendeeId"]), {"ok": True})
        self.assertIsNone(self.ok_json("attendee-stats", mid, a["AttendeeId"])["Transport"])
        for cmd in ("leave-meeting", "attendee-stats"):
            with self.subTest(cmd=cmd):
                out = self.ctl(cmd, mid, str(uuid.uuid4()))
                self.assertEqual(out.returncode, 1, out)
                self.assertEqual(json.loads(out.stdout)["error"]["code"], "NotFound")
                out = self.ctl(cmd, mid)
                self.assertEqual(out.returncode, 2, out)

    def test_stream_index_and_receive(self):
        mid = self.w.create_meeting()["MeetingId"]
        a = self.w.create_attendee(mid)
        self.assertEqual(self.ok_json("stream-index", mid),
                         {"ok": True, "StreamIndex": {"Version": 0, "Streams": []}})
        out = self.ctl("stream-index", str(uuid.uuid4()))
        self.assertEqual(out.returncode, 1, out)
        self.assertEqual(json.loads(out.stdout)["error"]["code"], "NotFound")
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                               "chrome-offer.sdp"), "rb") as f:
            offer = f.read()
        # --receive reaches the worker: an unknown stream is NotFound ...
        out = self.ctl("subscribe", mid, a["AttendeeId"], a["JoinToken"], "-",
                       "--receive", "12345,7:0", stdin=offer)
        self.assertEqual(out.returncode, 1, out)
        err = json.loads(out.stdout)["error"]
        self.assertEqual(err["code"], "NotFound", err)
        self.assertIn("ReceiveStreamIds[0]", err["message"], err)
        # ... its MaxLayer is range-checked there ...
        out = self.ctl("subscribe", mid, a["AttendeeId"], a["JoinToken"], "-",
                       "--receive", "7:3", stdin=offer)
        self.assertEqual(out.returncode, 1, out)
        self.assertIn("ReceiveStreamIds[0].MaxLayer",
                      json.loads(out.stdout)["error"]["message"])
        # ... an empty list receives nothing, and a malformed one never leaves sfuctl
        rep = self.ok_json("subscribe", mid, a["AttendeeId"], a["JoinToken"], "-",
                           "--receive", "", stdin=offer)
        self.assertEqual(rep["ReceiveStreams"], [], rep)
        for bad in ("x", "1,,2", "1:", "1;2"):
            with self.subTest(receive=bad):
                out = self.ctl("subscribe", mid, a["AttendeeId"], a["JoinToken"], "-",
                               "--receive", bad, stdin=offer)
                self.assertEqual(out.returncode, 2, out)
                self.assertIn(b"--receive", out.stderr)

    def test_stats(self):
        rep = self.ok_json("stats")
        self.assertEqual(rep["WorkerId"], self.w.worker_id)
        self.assertEqual(len(rep["Loops"]), 1)

    def test_raw(self):
        rep = self.ok_json("raw", '{"op":"CreateMeeting","ExternalMeetingId":"raw-cli"}')
        self.assertEqual(rep["Meeting"]["ExternalMeetingId"], "raw-cli")
        rep = self.ok_json("raw", "-", stdin=b'{"op": "GetWorkerStats"}')
        self.assertEqual(rep["WorkerId"], self.w.worker_id)
        out = self.ctl("raw", '{"op":"Nope"}')
        self.assertEqual(out.returncode, 1, out)
        self.assertEqual(json.loads(out.stdout)["error"]["code"], "BadRequest")
        self.assertEqual(self.ctl("raw", "not json").returncode, 2)
        self.assertEqual(self.ctl("raw", "[1,2]").returncode, 2)

    def test_pretty_printed(self):
        out = self.ctl("stats")
        self.assertEqual(out.returncode, 0)
        self.assertGreater(out.stdout.count(b"\n"), 3, "pretty-printed over several lines")

    def test_usage_errors(self):
        for args in ((), ("no-such-command",), ("get-meeting",), ("get-meeting", "a", "b"),
                     ("create-meeting",), ("create-meeting", "--external-id"),
                     ("create-meeting", "--external-id", "ab", "--max-attendees", "lots"),
                     ("create-attendee", "m"), ("list-attendees", "m", "--bogus", "1"),
                     ("update-attendee-capabilities", "m", "a", "--audio", "None"),
                     ("subscribe", "m", "a", "t", "/nonexistent/offer.sdp"),
                     ("events", "--count", "zero")):
            with self.subTest(args=args):
                out = self.ctl(*args)
                self.assertEqual(out.returncode, 2, out)
                self.assertTrue(out.stderr)
                self.assertEqual(out.stdout, b"")

    def test_help(self):
        out = subprocess.run([harness.SFUCTL, "--help"], capture_output=True, timeout=10)
        self.assertEqual(out.returncode, 0)
        for cmd in ("create-meeting", "get-meeting", "list-meetings", "delete-meeting",
                    "create-attendee", "batch-create-attendee", "get-attendee",
                    "list-attendees", "delete-attendee", "update-attendee-capabilities",
                    "subscribe", "stream-index", "stats", "raw", "events"):
            self.assertIn(cmd.encode(), out.stdout)
            sub = subprocess.run([harness.SFUCTL, cmd, "--help"], capture_output=True,
                                 timeout=10)
            self.assertEqual(sub.returncode, 0, sub)
            self.assertIn(cmd.encode(), sub.stdout)

    def test_no_reply_times_out(self):
        port = free_port_block(1)
        t0 = time.monotonic()
        out = self.ctl("--timeout", "300", "stats", control="tcp://127.0.0.1:%d" % port)
        self.assertEqual(out.returncode, 2, out)
        self.assertIn(b"no reply", out.stderr)
        self.assertLess(time.monotonic() - t0, 8)

    def test_events_count(self):
        proc = subprocess.Popen([harness.SFUCTL, "--events", self.w.events, "--timeout",
                                 "15000", "events", "--count", "3"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            time.sleep(0.5)  # let it connect; events before that are not replayed
            made = []
            deadline = time.monotonic() + 10
            while proc.poll() is None and time.monotonic() < deadline:
                made.append(self.w.create_meeting("evcli-" + harness.uid8())["MeetingId"])
                time.sleep(0.2)
            out, err = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 0, err)
        lines = out.decode().splitlines()
        self.assertEqual(len(lines), 3, out)
        for line in lines:
            ev = json.loads(line)
            self.assertEqual(ev["eventType"], "chime:MeetingStarted")
            self.assertIn(ev["meetingId"], made)
            self.assertEqual(ev["workerId"], self.w.worker_id)

    def test_events_until_interrupted(self):
        import signal
        proc = subprocess.Popen([harness.SFUCTL, "--events", self.w.events, "events"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            time.sleep(0.5)
            self.w.create_meeting("evint")
            time.sleep(0.3)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=5)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 0, err)
        evs = [json.loads(line) for line in out.decode().splitlines()]
        self.assertIn("evint", [e["externalMeetingId"] for e in evs])

    def test_events_timeout_without_count(self):
        out = subprocess.run([harness.SFUCTL, "--events", self.w.events, "--timeout", "300",
                              "events"], capture_output=True, timeout=10)
        self.assertEqual(out.returncode, 0, out)
        out = subprocess.run([harness.SFUCTL, "--events", self.w.events, "--timeout", "300",
                              "events", "--count", "1"], capture_output=True, timeout=10)
        self.assertEqual(out.returncode, 2, out)


if __name__ == "__main__":
    harness.main()
