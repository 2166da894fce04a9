// Interop page driven by tests/interop/test_chromium.py.
//
// GET /config -> {statsIntervalMs}; builds an RTCPeerConnection (max-bundle, rtcp-mux
// required) with the fake microphone (audio sendonly), the fake camera as 3-layer
// simulcast (rid q/h/f, scaleResolutionDownBy 4/2/1, sendonly) and a data channel;
// POSTs the complete offer (after ICE gathering: the worker is ICE-lite and Subscribe
// is one-shot) to /offer, which answers {answer} or {error}; applies the answer; then
// POSTs a getStats() summary to /stats every statsIntervalMs. Anything unexpected goes
// to /log so the test can show it.
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

async function snapshot(pc, dc, dcInfo) {
  const report = await pc.getStats();
  const byId = new Map();
  report.forEach((x) => byId.set(x.id, x));
  const s = {
    t: Date.now(), connectionState: pc.connectionState,
    iceConnectionState: pc.iceConnectionState, signalingState: pc.signalingState,
    outbound: [], transport: null, pair: null, local: null, remote: null, pairs: [],
    dataChannel: {label: dc.label, readyState: dc.readyState, ...dcInfo},
  };
  report.forEach((x) => {
    if (x.type === 'outbound-rtp') {
      s.outbound.push(pick(x, ['kind', 'rid', 'ssrc', 'mid', 'bytesSent', 'packetsSent',
        'frameWidth', 'frameHeight', 'framesEncoded', 'framesSent', 'active',
        'qualityLimitationReason', 'targetBitrate', 'encoderImplementation',
        'retransmittedPacketsSent', 'nackCount', 'pliCount', 'firCount']));
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

async function main() {
  const cfg = await (await fetch('/config')).json();
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({audio: true,
      video: {width: 1280, height: 720}});
  } catch (e) { return log('fatal', 'getUserMedia failed: ' + e); }

  const pc = new RTCPeerConnection({bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require'});
  pc.addEventListener('connectionstatechange', () => log('state', pc.connectionState));
  pc.addTransceiver(stream.getAudioTracks()[0], {direction: 'sendonly', streams: [stream]});
  pc.addTransceiver(stream.getVideoTracks()[0], {direction: 'sendonly', streams: [stream],
    sendEncodings: [{rid: 'q', scaleResolutionDownBy: 4}, {rid: 'h', scaleResolutionDownBy: 2},
                    {rid: 'f', scaleResolutionDownBy: 1}]});
  const dc = pc.createDataChannel('chat');
  const dcInfo = {opened: false, sent: 0, received: 0};
  dc.onopen = () => {
    dcInfo.opened = true;
    log('dc', 'open');
    for (let i = 0; i < 5; i++) { dc.send('hello ' + i); dcInfo.sent++; }
  };
  dc.onmessage = () => { dcInfo.received++; };
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

  const tick = async () => {
    try {
      await post('/stats', await snapshot(pc, dc, dcInfo));
    } catch (e) {
      await log('error', 'stats: ' + e);
    }
    setTimeout(tick, cfg.statsIntervalMs || 500);
  };
  tick();
}

window.addEventListener('error', (e) => log('error', e.message));
main().catch((e) => log('fatal', 'exception: ' + (e && e.stack || e)));
