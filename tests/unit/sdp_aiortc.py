#!/usr/bin/env python3
"""Does aiortc 1.4.0 accept an answer that carries what the worker sends (sfu_sdp_plan_t)?

Usage: sdp_aiortc.py <test_sdp executable> <tests/data/sdp dir>. Exit 77 (meson: skipped)
when aiortc is not importable. The executable's --print-plan-answer mode answers the offer
on stdin with a plan that sends on every audio/video section the client receives on: ssrc
1000+2i, rtx 1001+2i, msid "sfu-stream track-<mid>" (tests/unit/test_sdp.c).

1. aiortc's SDP parser on answers to captured offers: ssrcs in order (media, then RTX),
   the FID group, a=msid, and the track id it derives (needs a=msid-semantic WMS).
3. (issue 9) An aiortc peer with a sendrecv audio and a recvonly video transceiver takes an
   answer declaring the worker's audio stream: an audio track, our SSRC, no RTX.
2. A real aiortc RTCPeerConnection that offers two recvonly video transceivers takes the
   answer with setRemoteDescription: a track per section with the planned id, direction
   recvonly, and receive parameters with our SSRC and RTX SSRC (what its RtpRouter routes
   and unwraps RTX by).
"""
import asyncio
import os
import subprocess
import sys

try:
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.sdp import SessionDescription
except ImportError:
    print("aiortc not installed: skipped")
    sys.exit(77)

EXE, DATA = sys.argv[1], sys.argv[2]


def plan_answer(offer: str) -> str:
    out = subprocess.run([EXE, "--print-plan-answer"], input=offer.encode(),
                         capture_output=True, check=True)
    return out.stdout.decode()


def check_parsed(name: str) -> None:
    with open(os.path.join(DATA, name)) as f:
        offer = f.read()
    o = SessionDescription.parse(offer)
    a = SessionDescription.parse(plan_answer(offer))
    assert len(a.media) == len(o.media), name
    sent = 0
    for i, (om, am) in enumerate(zip(o.media, a.media)):
        if am.kind != "video" or om.direction not in ("recvonly", "sendrecv"):
            assert not am.ssrc or am.kind != "video", (name, i)
            continue
        mid = am.rtp.muxId
        assert am.direction in ("sendonly", "sendrecv"), (name, mid, am.direction)
        assert [s.ssrc for s in am.ssrc] == [1000 + 2 * i, 1001 + 2 * i], (name, am.ssrc)
        assert all(s.cname == "sfu" for s in am.ssrc)
        assert all(s.msid == f"sfu-stream track-{mid}" for s in am.ssrc)
        fid = [g for g in am.ssrc_group if g.semantic == "FID"]
        assert len(fid) == 1 and fid[0].items == [1000 + 2 * i, 1001 + 2 * i], (name, fid)
        assert am.msid == f"sfu-stream track-{mid}", (name, am.msid)
        assert a.webrtc_track_id(am) == f"track-{mid}", (name, a.webrtc_track_id(am))
        sent += 1
    assert sent > 0, name
    print(f"ok   aiortc parses the planned answer to {name} ({sent} sending sections)")


async def check_peer() -> None:
    # pc.close() ends the ICE attempt towards the answer's TEST-NET address; the task
    # that was connecting then fails with "RTCIceTransport is closed": expected, not shown.
    asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: None)
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("video", direction="recvonly")
        tracks = []
        pc.on("track", lambda t: tracks.append(t))
        await pc.setLocalDescription(await pc.createOffer())
        answer = plan_answer(pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        assert sorted(t.id for t in tracks) == ["track-0", "track-1"], [t.id for t in tracks]
        for i, t in enumerate(pc.getTransceivers()):
            assert t.currentDirection == "recvonly", t.currentDirection
            params = pc._RTCPeerConnection__remoteRtp(t)
            assert params.encodings, "no SSRC signalled: aiortc would route by PT only"
            for e in params.encodings:
                assert e.ssrc == 1000 + 2 * i, e.ssrc
                if e.rtx is not None:
                    assert e.rtx.ssrc == 1001 + 2 * i
            assert any(e.rtx is not None for e in params.encodings), "RTX SSRC not mapped"
        print("ok   aiortc RTCPeerConnection takes the planned answer (2 recvonly video)")
    finally:
        await pc.close()


async def check_peer_audio() -> None:
    # issue 9: the mixer's one audio stream (an audio plan entry) next to a video one.
    asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: None)
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver("audio", direction="sendrecv")
        pc.addTransceiver("video", direction="recvonly")
        tracks = []
        pc.on("track", lambda t: tracks.append(t))
        await pc.setLocalDescription(await pc.createOffer())
        answer = plan_answer(pc.localDescription.sdp)
        a = SessionDescription.parse(answer)
        assert [s.ssrc for s in a.media[0].ssrc] == [1000], a.media[0].ssrc
        assert a.media[0].rtp.codecs[0].mimeType.lower() == "audio/opus", a.media[0].rtp.codecs
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        assert sorted((t.kind, t.id) for t in tracks) == [("audio", "track-0"), ("video", "track-1")], \
            [(t.kind, t.id) for t in tracks]
        t = pc.getTransceivers()[0]
        assert t.currentDirection == "sendrecv", t.currentDirection
        params = pc._RTCPeerConnection__remoteRtp(t)
        assert [e.ssrc for e in params.encodings] == [1000], params.encodings
        assert all(e.rtx is None for e in params.encodings)
        print("ok   aiortc RTCPeerConnection takes the planned answer (audio mix + video)")
    finally:
        await pc.close()


for n in ("chromium-recvonly.sdp", "aiortc-audio-video.sdp",
          "aiortc-audio-video-datachannel.sdp"):
    check_parsed(n)
asyncio.run(check_peer())
asyncio.run(check_peer_audio())
