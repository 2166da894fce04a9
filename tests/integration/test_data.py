"""SendDataMessage (issue 10) against the real worker: the control plane sends into a
meeting as sender "sfu" under the rules a client's message gets (topic, size, lifetime,
the meeting's 100 messages a second), with the same error codes; the meeting's figures
(GetMeeting "Data", GetWorkerStats Loops[].Data); sfuctl send-data. Delivery to WebRTC
clients is the interop suite's (aiortc, Chromium): this file needs no data channel."""

import json
import subprocess
import time
import uuid

import harness
from harness import WorkerTest


class DataTests(WorkerTest):

    def send(self, mid, topic="chat", data="hello", life=None, **extra):
        req = {"op": "SendDataMessage", "MeetingId": mid, "Topic": topic, "Data": data}
        if life is not None:
            req["LifetimeMs"] = life
        req.update(extra)
        return self.w.request(req)

    def data_stats(self, mid):
        return self.w.get_meeting(mid)["Meeting"]["Data"]

    def test_ok_and_figures(self):
        mid = self.w.create_meeting()["MeetingId"]
        self.assertNotIn("Data", self.w.get_meeting(mid)["Meeting"])  # no relay until needed
        self.assertEqual(self.send(mid), {"ok": True})
        self.assertEqual(self.send(mid, data="", life=60000), {"ok": True})  # empty data is fine
        self.assertEqual(self.send(mid, data="caf\u00e9 \U0001F600", life=None), {"ok": True})
        d = self.data_stats(mid)
        self.assertEqual(d["MessagesIn"], 3)
        self.assertEqual(d["Accepted"], 3)
        self.assertEqual(d["Delivered"], 0)  # nobody connected
        self.assertEqual(d["Cached"], 1)
        self.assertEqual(d["CachedTotal"], 1)
        self.assertEqual(d["Throttled"], 0)
        self.assertEqual(d["Refused"], {"BadRequest": 0, "BadTopic": 0, "TooLarge": 0,
                                        "Throttled": 0})

    def test_unknown_meeting(self):
        self.err({"op": "SendDataMessage", "MeetingId": str(uuid.uuid4()), "Topic": "t",
                  "Data": "x"}, "NotFound", "MeetingId")

    def test_bad_request_shapes(self):
        mid = self.w.create_meeting()["MeetingId"]
        self.err({"op": "SendDataMessage", "MeetingId": mid, "Data": "x"}, "BadRequest", "Topic")
        self.err({"op": "SendDataMessage", "MeetingId": mid, "Topic": "t"}, "BadRequest", "Data")
        self.err({"op": "SendDataMessage", "MeetingId": mid, "Topic": 5, "Data": "x"},
                 "BadRequest", "Topic")
        self.err({"op": "SendDataMessage", "MeetingId": mid, "Topic": "t", "Data": {"a": 1}},
                 "BadRequest", "Data")
        self.err({"op": "SendDataMessage", "MeetingId": mid, "Topic": "t", "Data": "x",
                  "LifetimeMs": 1.5}, "BadRequest", "LifetimeMs")
        self.err({"op": "SendDataMessage", "MeetingId": mid, "Topic": "t", "Data": "x",
                  "LifetimeMs": "5"}, "BadRequest", "LifetimeMs")
        self.err({"op": "SendDataMessage", "Topic": "t", "Data": "x"}, "BadRequest", "MeetingId")
        # the range of LifetimeMs is the client's rule: refused on the loop, and counted
        self.assertError(self.send(mid, life=300001), "BadRequest", "LifetimeMs")
        self.assertError(self.send(mid, life=-1), "BadRequest", "LifetimeMs")
        self.assertEqual(self.send(mid, life=300000), {"ok": True})
        self.assertEqual(self.send(mid, life=0), {"ok": True})
        d = self.data_stats(mid)
        self.assertEqual(d["Refused"]["BadRequest"], 2)
        self.assertEqual(d["Accepted"], 2)

    def test_topic_and_size_edges(self):
        mid = self.w.create_meeting()["MeetingId"]
        self.assertEqual(self.send(mid, topic="a" * 64), {"ok": True})
        self.assertError(self.send(mid, topic="a" * 65), "BadTopic", "Topic")
        self.assertError(self.send(mid, topic=""), "BadTopic", "Topic")
        self.assertError(self.send(mid, topic="a b"), "BadTopic", "Topic")
        self.assertError(self.send(mid, topic="caf\u00e9"), "BadTopic", "Topic")
        self.assertError(self.send(mid, topic="sfu:audio"), "BadTopic", "Topic")
        # topic + data: 2,048 UTF-8 bytes pass, 2,049 are TooLarge
        self.assertEqual(self.send(mid, topic="abcd", data="d" * 2044), {"ok": True})
        self.assertError(self.send(mid, topic="abcd", data="d" * 2045), "TooLarge", "Data")
        self.assertEqual(self.send(mid, topic="abcd", data="\u00e9" * 1022), {"ok": True})
        self.assertError(self.send(mid, topic="abcde", data="\u00e9" * 1022), "TooLarge")
        self.assertError(self.send(mid, data="x" * 65536), "TooLarge")
        d = self.data_stats(mid)
        self.assertEqual(d["Refused"]["BadTopic"], 5)
        self.assertEqual(d["Refused"]["TooLarge"], 3)
        self.assertEqual(d["Accepted"], 3)
        self.assertEqual(d["MessagesIn"], 11)

    def test_throttled_per_meeting(self):
        mid = self.w.create_meeting()["MeetingId"]
        other = self.w.create_meeting()["MeetingId"]
        t0 = time.monotonic()
        codes = []
        for i in range(150):
            rep = self.send(mid, data=str(i))
            codes.append("ok" if rep.get("ok") else rep["error"]["code"])
        elapsed = time.monotonic() - t0
        self.assertEqual(set(codes) - {"ok", "Throttled"}, set(), codes)
        ok = codes.count("ok")
        if elapsed < 1.0:
            # every message has one fate: 100 relayed, 50 Throttled
            self.assertEqual(ok, 100, codes)
            self.assertEqual(codes[:100], ["ok"] * 100)
        else:  # a slow machine: still never more than 100 in any second
            self.assertLessEqual(ok, 100 * (int(elapsed) + 1))
        d = self.data_stats(mid)
        self.assertEqual(d["Throttled"], 150 - ok)
        self.assertEqual(d["Refused"]["Throttled"], 150 - ok)
        # another meeting has its own budget
        self.assertEqual(self.send(other), {"ok": True})

    def test_worker_stats(self):
        mid = self.w.create_meeting()["MeetingId"]
        self.send(mid)
        st = self.w.ok({"op": "GetWorkerStats"})
        loops = st["Loops"]
        total = sum(l["Data"]["Accepted"] for l in loops)
        self.assertGreaterEqual(total, 1)
        self.assertGreaterEqual(sum(l["Data"]["Relays"] for l in loops), 1)

    def test_sfuctl_send_data(self):
        mid = self.w.create_meeting()["MeetingId"]
        argv = [harness.SFUCTL, "--control", self.w.control, "--events", self.w.events]
        out = subprocess.run(argv + ["send-data", mid, "chat", "hi", "--lifetime-ms", "5000"],
                             capture_output=True, timeout=20)
        self.assertEqual(out.returncode, 0, out)
        self.assertEqual(json.loads(out.stdout), {"ok": True})
        out = subprocess.run(argv + ["send-data", mid, "chat", "-"], input=b"from stdin\n",
                             capture_output=True, timeout=20)
        self.assertEqual(out.returncode, 0, out)
        out = subprocess.run(argv + ["send-data", mid, "sfu:x", "hi"], capture_output=True,
                             timeout=20)
        self.assertEqual(out.returncode, 1, out)
        self.assertEqual(json.loads(out.stdout)["error"]["code"], "BadTopic")
        out = subprocess.run(argv + ["send-data", mid, "chat"], capture_output=True, timeout=20)
        self.assertEqual(out.returncode, 2, out)
        d = self.data_stats(mid)
        self.assertEqual(d["Accepted"], 2)
        self.assertEqual(d["Cached"], 1)

    def test_meeting_end_frees_relay(self):
        # a meeting with a cache ends; the worker stays healthy (ASan / valgrind runs)
        mid = self.w.create_meeting()["MeetingId"]
        for i in range(20):
            self.send(mid, data="m%d" % i, life=300000)
        self.w.ok({"op": "DeleteMeeting", "MeetingId": mid})
        self.err({"op": "SendDataMessage", "MeetingId": mid, "Topic": "t", "Data": "x"},
                 "NotFound")


if __name__ == "__main__":
    harness.main()
