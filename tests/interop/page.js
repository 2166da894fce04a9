// Interop page driven by tests/interop/test_chromium.py and test_chromium_video.py.
//
// GET /config -> {statsIntervalMs, role, receive}; builds an RTCPeerConnection
// (max-bundle, rtcp-mux required) and a data channel, and then by role:
//   "publisher" (the default): the fake microphone (audio sendonly) and the fake camera
//       as 3-layer simulcast (rid q/h/f, scaleResolutionDownBy 4/2/1, sendonly);
//   "viewer": one audio recvonly and `receive` video recvonly transceivers, each video
//       track rendered in a <video> element (a real sink, as in an application);
//   "listener": the fake microphone, muted (track.enabled = false: Chromium then sends
//       silence marked with RFC 6464 level 127), on an audio sendrecv transceiver; the
//       audio it receives (the worker's mix) plays in an <audio> element, so that
//       inbound-rtp audioLevel / totalAudioEnergy measure it.
// Every role: data-channel messages of topic "sfu:audio" (the worker's audio signals,
// docs/data-messages.md) are passed on, as {t, data}, in the next snapshot's audioSignals.
// POSTs the complete offer (after ICE gathering: the worker is ICE-lite and Subscribe
// is one-shot) to /offer, which answers {answer} or {error}; applies the answer; then
// POSTs a getStats() summary to /stats every statsIntervalMs. A viewer also polls
// GET /command: {seq, op: "renegotiate"} with a seq above the last one done makes it
// create a new offer on the same PeerConnection (same transceivers, same ICE and DTLS),
// POST it to /offer with that seq, apply the answer and log "renegotiated" <seq>.
// "data" (test_data.py, issue 10): no media at all, only the data channel; no greeting
//     messages. Every message received is POSTed to /dc in batches ({msgs: [{t, data}]},
//     t = Date.now() on arrival); GET /command {seq, op: "send", msgs: [...]} with a seq
//     above the last one done sends those strings in order and logs "sent" <seq>.
// Anything unexpected goes to /log so the test can show it.
'use strict';

const dbg = (s) => { document.getElementById('log').textContent += s + '\n'; };

async function post(path, obj) {
  const r = await fetch(path, {method: 'POST', headers: {'Content-Type': 'application/json'},
                               body: JSON.stringify(obj)});
  return r.ok ? await r.json() : {error: 'HTTP ' + r.status};
}

function log(kind, msg) {
  dbg(kind + ': ' + msg);
  return post('/log', {kind, msg: String(msg)}).catch(() => {});
}

function gathered(pc, ms) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    const t = setTimeout(resolve, ms);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); }
    });
  });
}

function pick(o, keys) {
  const r = {};
  if (!o) return null;
  for (const k of keys) if (o[k] !== undefined) r[k] = o[k];
  return r;
}

const CAND = ['protocol', 'candidateType', 'tcpType', 'address', 'port', 'relayProtocol',
              'priority', 'networkType', 'networkAdapterType'];
const PAIR = ['state', 'nominated', 'bytesSent', 'bytesReceived', 'packetsSent',
              'packetsReceived', 'requestsSent', 'responsesReceived', 'requestsReceived',
              'responsesSent', 'consentRequestsSent', 'availableOutgoingBitrate',
              'currentRoundTripTime'];

const INBOUND = ['kind', 'mid', 'ssrc', 'trackIdentifier', 'packetsReceived', 'packetsLost',
  'bytesReceived', 'jitter', 'framesReceived', 'framesDecoded', 'framesDropped',
  'keyFramesDecoded', 'frameWidth', 'frameHeight', 'framesPerSecond', 'freezeCount',
  'totalFreezesDuration', 'pauseCount', 'totalPausesDuration', 'nackCount', 'pliCount',
  'firCount', 'jitterBufferDelay', 'jitterBufferEmittedCount', 'retransmittedPacketsReceived',
  'decoderImplementation', 'totalAudioEnergy', 'audioLevel'];

async function snapshot(pc, dc, dcInfo) {
  const report = await pc.getStats();
  const byId = new Map();
  report.forEach((x) => byId.set(x.id, x));
  const s = {
    t: Date.now(), connectionState: pc.connectionState,
    iceConnectionState: pc.iceConnectionState, signalingState: pc.signalingState,
    outbound: [], inbound: [], transport: null, pair: null, local: null, remote: null, pairs: [],
    dataChannel: {label: dc.label, readyState: dc.readyState, ...dcInfo},
  };
  report.forEach((x) => {
    if (x.type === 'outbound-rtp') {
      s.outbound.push(pick(x, ['kind', 'rid', 'ssrc', 'mid', 'bytesSent', 'packetsSent',
        'frameWidth', 'frameHeight', 'framesEncoded', 'framesSent', 'active',
        'qualityLimitationReason', 'targetBitrate', 'encoderImplementation',
        'retransmittedPacketsSent', 'nackCount', 'pliCount', 'firCount']));
    } else if (x.type === 'inbound-rtp') {
      s.inbound.push(pick(x, INBOUND));
    } else if (x.type === 'transport') {
      s.transport = pick(x, ['dtlsState', 'iceState', 'selectedCandidatePairId',
        'srtpCipher', 'dtlsCipher', 'tlsVersion', 'dtlsRole', 'iceRole', 'bytesSent',
        'bytesReceived', 'packetsSent', 'packetsReceived', 'selectedCandidatePairChanges']);
    } else if (x.type === 'candidate-pair') {
      const l = byId.get(x.localCandidateId), r = byId.get(x.remoteCandidateId);
      s.pairs.push({id: x.id, ...pick(x, ['state', 'nominated', 'requestsSent',
        'responsesReceived']), local: pick(l, CAND), remote: pick(r, CAND)});
    } else if (x.type === 'data-channel') {
      s.dataChannel.stats = pick(x, ['state', 'messagesSent', 'bytesSent',
        'messagesReceived']);
    }
  });
  const tr = s.transport;
  if (tr && tr.selectedCandidatePairId) {
    const p = byId.get(tr.selectedCandidatePairId);
    if (p) {
      s.pair = pick(p, PAIR);
      s.local = pick(byId.get(p.localCandidateId), CAND);
      s.remote = pick(byId.get(p.remoteCandidateId), CAND);
    }
  }
  return s;
}

async function publish(pc) {
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({audio: true,
      video: {width: 1280, height: 720}});
  } catch (e) { log('fatal', 'getUserMedia failed: ' + e); return false; }
  pc.addTransceiver(stream.getAudioTracks()[0], {direction: 'sendonly', streams: [stream]});
  pc.addTransceiver(stream.getVideoTracks()[0], {direction: 'sendonly', streams: [stream],
    sendEncodings: [{rid: 'q', scaleResolutionDownBy: 4}, {rid: 'h', scaleResolutionDownBy: 2},
                    {rid: 'f', scaleResolutionDownBy: 1}]});
  return true;
}

function view(pc, n) {
  pc.addTransceiver('audio', {direction: 'recvonly'});
  for (let i = 0; i < n; i++) pc.addTransceiver('video', {direction: 'recvonly'});
  pc.addEventListener('track', (e) => {
    if (e.track.kind !== 'video') return;
    const v = document.createElement('video');
    v.autoplay = true; v.muted = true; v.playsInline = true; v.width = 320;
    v.dataset.mid = e.transceiver.mid;
    v.srcObject = new MediaStream([e.track]);
    document.body.appendChild(v);
    v.play().catch((err) => log('error', 'video.play: ' + err));
  });
}

async function listen(pc) {
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({audio: true});
  } catch (e) { log('fatal', 'getUserMedia failed: ' + e); return false; }
  const mic = stream.getAudioTracks()[0];
  mic.enabled = false; // muted: silence is sent (RFC 6464 level 127), the track stays
  pc.addTransceiver(mic, {direction: 'sendrecv', streams: [stream]});
  pc.addEventListener('track', (e) => {
    if (e.track.kind !== 'audio') return;
    const a = document.createElement('audio');
    a.autoplay = true;
    a.srcObject = new MediaStream([e.track]);
    document.body.appendChild(a);
    a.play().catch((err) => log('error', 'audio.play: ' + err));
  });
  return true;
}

// One renegotiation at a time; commands come from the test through GET /command.
function pollCommands(pc, ms) {
  let done = 0;
  const poll = async () => {
    try {
      const c = await (await fetch('/command')).json();
      if (c.op === 'renegotiate' && c.seq > done) {
        done = c.seq;
        const offer = await pc.createOffer();
        await pc.setLocalDescription(offer);
        await gathered(pc, 2000);
        const rep = await post('/offer', {sdp: pc.localDescription.sdp, seq: c.seq});
        if (!rep.answer) {
          return log('fatal', 're-offer ' + c.seq + ': no answer: ' +
                     (rep.error || JSON.stringify(rep)));
        }
        try {
          await pc.setRemoteDescription({type: 'answer', sdp: rep.answer});
        } catch (e) {
          return log('fatal', 'setRemoteDescription(answer ' + c.seq + ') failed: ' + e.message);
        }
        await log('renegotiated', c.seq);
      }
    } catch (e) {
      await log('error', 'command: ' + e);
    }
    setTimeout(poll, ms);
  };
  poll();
}

// role "data": received messages to /dc in batches, sends on command (see the top).
function dataRole(dc, dcInfo, ms) {
  let box = [], done = 0, busy = false;
  dc.addEventListener('message', (e) => {
    box.push({t: Date.now(), data: typeof e.data === 'string' ? e.data : '<binary>'});
  });
  const flush = async () => {
    if (box.length) {
      const msgs = box;
      box = [];
      await post('/dc', {msgs}).catch(() => {});
    }
    setTimeout(flush, ms);
  };
  const poll = async () => {
    if (!busy) {
      busy = true;
      try {
        const c = await (await fetch('/command')).json();
        if (c.op === 'send' && c.seq > done && dc.readyState === 'open') {
          done = c.seq;
          for (const m of c.msgs) { dc.send(m); dcInfo.sent++; }
          await log('sent', c.seq);
        }
      } catch (e) {
        await log('error', 'command: ' + e);
      }
      busy = false;
    }
    setTimeout(poll, ms);
  };
  flush();
  poll();
}

async function main() {
  const cfg = await (await fetch('/config')).json();
  const viewer = cfg.role === 'viewer', data = cfg.role === 'data';
  const pc = new RTCPeerConnection({bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require'});
  pc.addEventListener('connectionstatechange', () => log('state', pc.connectionState));
  if (viewer) {
    view(pc, cfg.receive || 1);
  } else if (cfg.role === 'listener') {
    if (!await listen(pc)) return;
  } else if (!data && !await publish(pc)) {
    return;
  }
  const dc = pc.createDataChannel('chat');
  const dcInfo = {opened: false, sent: 0, received: 0};
  let audioSignals = []; // sfu:audio documents not yet in a snapshot
  dc.onopen = () => {
    dcInfo.opened = true;
    log('dc', 'open');
    if (data) return;
    for (let i = 0; i < 5; i++) { dc.send('hello ' + i); dcInfo.sent++; }
  };
  dc.onmessage = (e) => {
    dcInfo.received++;
    if (typeof e.data !== 'string') return;
    try {
      const env = JSON.parse(e.data);
      if (env && env.topic === 'sfu:audio') audioSignals.push({t: Date.now(), data: env.data});
    } catch (err) { /* not an envelope: only counted */ }
  };
  if (data) dataRole(dc, dcInfo, 50);
  dc.onerror = (e) => log('dc', 'error ' + (e.error && e.error.message));

  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  await gathered(pc, 4000);
  const rep = await post('/offer', {sdp: pc.localDescription.sdp});
  if (!rep.answer) return log('fatal', 'no answer: ' + (rep.error || JSON.stringify(rep)));
  try {
    await pc.setRemoteDescription({type: 'answer', sdp: rep.answer});
  } catch (e) {
    return log('fatal', 'setRemoteDescription(answer) failed: ' + e.message);
  }
  await log('answer', 'applied');
  if (viewer) pollCommands(pc, 250);

  const tick = async () => {
    try {
      const s = await snapshot(pc, dc, dcInfo);
      s.audioSignals = audioSignals;
      audioSignals = [];
      await post('/stats', s);
    } catch (e) {
      await log('error', 'stats: ' + e);
    }
    setTimeout(tick, cfg.statsIntervalMs || 500);
  };
  tick();
}

window.addEventListener('error', (e) => log('error', e.message));
main().catch((e) => log('fatal', 'exception: ' + (e && e.stack || e)));
