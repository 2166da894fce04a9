#!/usr/bin/python3
"""Capture real SDP offers from aiortc (Debian python3-aiortc 1.4.0), loopback only.

Run with /usr/bin/python3. Saves OUTDIR/aiortc-*.sdp. With --answer-cmd, pipes
each offer to that command and applies its stdout as the answer with
setRemoteDescription; the outcome goes to OUTDIR/accepted-aiortc.txt.

aioice leaves 127.0.0.1 out of its host candidates; like the interop tests we
replace aioice.ice.get_host_addresses so it gathers on loopback only.
"""
import argparse
import asyncio
import os
import subprocess
import sys

import aioice.ice
aioice.ice.get_host_addresses = lambda use_ipv4=True, use_ipv6=True: ["127.0.0.1"]

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription  # noqa
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack  # noqa
import aiortc  # noqa


def audio_dc(pc):
    pc.addTrack(AudioStreamTrack())
    pc.createDataChannel("chat")


def audio_video(pc):
    pc.addTrack(AudioStreamTrack())
    pc.addTrack(VideoStreamTrack())


def audio_video_dc(pc):
    audio_video(pc)
    pc.createDataChannel("chat")


# aiortc 1.4.0 has no RTCBundlePolicy: its offers always carry a=group:BUNDLE
# (one transport per m-section until the answer says otherwise). Newer aiortc
# (>= 1.5) has it; capture the max-bundle variants when it is there.
RTCBundlePolicy = getattr(aiortc, "RTCBundlePolicy", None)
MAX_BUNDLE = RTCBundlePolicy.MAX_BUNDLE if RTCBundlePolicy else None

SCENARIOS = [
    ("aiortc-audio-datachannel", None, audio_dc),
    ("aiortc-audio-video", None, audio_video),
    ("aiortc-audio-video-datachannel", None, audio_video_dc),
]
if MAX_BUNDLE is not None:
    SCENARIOS += [
        ("aiortc-audio-datachannel-maxbundle", MAX_BUNDLE, audio_dc),
        ("aiortc-audio-video-maxbundle", MAX_BUNDLE, audio_video),
    ]


async def run(name, policy, build, args, results):
    cfg = RTCConfiguration(bundlePolicy=policy) if policy else None
    pc = RTCPeerConnection(configuration=cfg) if cfg else RTCPeerConnection()
    try:
        build(pc)
        await pc.setLocalDescription(await pc.createOffer())  # gathers (no trickle)
        sdp = pc.localDescription.sdp
        with open(os.path.join(args.out, name + ".sdp"), "w", newline="") as f:
            f.write(sdp)
        print("offer", name, len(sdp), "bytes", file=sys.stderr)
        if args.answer_cmd:
            p = subprocess.run([args.answer_cmd], input=sdp.encode(), capture_output=True)
            if p.returncode != 0:
                results[name] = "answer-cmd failed: " + p.stderr.decode().strip()
                return
            try:
                await pc.setRemoteDescription(
                    RTCSessionDescription(sdp=p.stdout.decode(), type="answer"))
                # How many DTLS transports aiortc kept: 1 means it bundled everything
                # onto the one transport the worker has.
                ts = {id(t.receiver.transport) for t in pc.getTransceivers()}
                if pc.sctp:
                    ts.add(id(pc.sctp.transport))
                dirs = " ".join("%s:%s" % (t.kind, t.currentDirection)
                                for t in pc.getTransceivers())
                results[name] = "ok transports=%d %s%s" % (
                    len(ts), dirs, " sctp" if pc.sctp else "")
            except Exception as e:  # noqa
                results[name] = "error: %r" % e
    finally:
        await pc.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--answer-cmd", default=None)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    results = {}
    for name, policy, build in SCENARIOS:
        await run(name, policy, build, args, results)
    if args.answer_cmd:
        with open(os.path.join(args.out, "accepted-aiortc.txt"), "w") as f:
            f.write("# setRemoteDescription(answer) outcome per captured aiortc offer\n")
            f.write("# aiortc %s\n" % aiortc.__version__)
            for k in sorted(results):
                f.write("%s: %s\n" % (k, results[k]))
    for k in sorted(results):
        print(k, results[k])


if __name__ == "__main__":
    asyncio.run(main())
