"""A minimal ICE client side of STUN (RFC 8489, RFC 8445 §7.2.2) for the integration
tests: binding requests with USERNAME, PRIORITY, ICE-CONTROLLING, optional
USE-CANDIDATE, MESSAGE-INTEGRITY (HMAC-SHA1 keyed with the worker's ice-pwd) and
FINGERPRINT, and a parser for the responses. Standard library only."""

import binascii
import hashlib
import hmac
import os
import re
import struct

MAGIC = 0x2112A442
BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101
BINDING_ERROR = 0x0111


def _attr(t, v):
    pad = (4 - len(v) % 4) % 4
    return struct.pack("!HH", t, len(v)) + v + b"\0" * pad


def binding_request(username, password, use_candidate=False, tid=None):
    """A check as a controlling full agent sends it; `password` keys MESSAGE-INTEGRITY
    (the worker's a=ice-pwd: a wrong one makes the check fail)."""
    tid = tid or os.urandom(12)
    body = _attr(0x0006, username.encode())                   # USERNAME
    body += _attr(0x0024, struct.pack("!I", 0x6E0001FF))      # PRIORITY
    body += _attr(0x802A, os.urandom(8))                      # ICE-CONTROLLING
    if use_candidate:
        body += _attr(0x0025, b"")                            # USE-CANDIDATE
    # MESSAGE-INTEGRITY over the header with the length up to and including it (§14.5).
    hdr = struct.pack("!HHI", BINDING_REQUEST, len(body) + 24, MAGIC) + tid
    mac = hmac.new(password.encode(), hdr + body, hashlib.sha1).digest()
    body += _attr(0x0008, mac)
    # FINGERPRINT: CRC-32 of everything before it, XOR 0x5354554e (§14.7).
    hdr = struct.pack("!HHI", BINDING_REQUEST, len(body) + 8, MAGIC) + tid
    crc = (binascii.crc32(hdr + body) ^ 0x5354554E) & 0xFFFFFFFF
    body += _attr(0x8028, struct.pack("!I", crc))
    return struct.pack("!HHI", BINDING_REQUEST, len(body), MAGIC) + tid + body


def response(msg):
    """(type, error code or None) of a STUN response, or None if msg is not STUN."""
    if len(msg) < 20 or struct.unpack("!I", msg[4:8])[0] != MAGIC:
        return None
    mtype, length = struct.unpack("!HH", msg[:4])
    code = None
    off = 20
    while off + 4 <= 20 + length and off + 4 <= len(msg):
        t, n = struct.unpack("!HH", msg[off:off + 4])
        if t == 0x0009 and n >= 4:  # ERROR-CODE
            v = msg[off + 4:off + 8]
            code = (v[2] & 7) * 100 + v[3]
        off += 4 + n + (4 - n % 4) % 4
    return mtype, code


def credentials(sdp):
    """(ice-ufrag, ice-pwd) of an SDP (the first of each)."""
    return (re.search(r"a=ice-ufrag:(\S+)", sdp).group(1),
            re.search(r"a=ice-pwd:(\S+)", sdp).group(1))


def frame(msg):
    """RFC 4571 framing, for ICE-TCP."""
    return struct.pack("!H", len(msg)) + msg


def read_frame(sock):
    """One RFC 4571 frame from a blocking socket, or None at EOF."""
    def exact(n):
        b = b""
        while len(b) < n:
            c = sock.recv(n - len(b))
            if not c:
                return None
            b += c
        return b
    h = exact(2)
    if h is None:
        return None
    return exact(struct.unpack("!H", h)[0])
