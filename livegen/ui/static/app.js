// livegen's control surface: one WebSocket (/api/ws) brings the state and the notes and takes
// commands (docs/api.md). Plain JavaScript, no build step, nothing fetched from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
const noteName = (p) => NAMES[p % 12] + (Math.floor(p / 12) - 1);

// what the page knows; window.livegen is also what the browser tests read
const lg = window.livegen = {
  state: null, presets: [], heard: [], answers: [], drawn: [], errors: [], connected: false,
  beatRef: { beat: 0, at: 0, bpm: 120, running: true }, bpb: 4,
};
const token = new URLSearchParams(location.search).get("token");
let ws = null;
let pendingDraw = [];  // heard note-ons not drawn yet (their first drawing is timed)

function connect() {
  ws = new WebSocket(`ws://${location.host}/api/ws` + (token ? `?token=${encodeURIComponent(token)}` : ""));
  ws.onopen = () => setConnected(true);
  ws.onclose = () => { setConnected(false); setTimeout(connect, 1000); };
  ws.onmessage = (e) => receive(JSON.parse(e.data));
}

function setConnected(on) {
  lg.connected = on;
  $("conn").textContent = on ? "connected" : "not connected: is livegen running?";
  $("conn").classList.toggle("down", !on);
}

function send(obj) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
}

function showError(message) {
  lg.errors.push(message);
  const el = $("error");
  el.textContent = message;
  el.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => { el.hidden = true; }, 8000);
}

function receive(msg) {
  if (msg.type === "hello") {
    setPresets(msg.presets);
    msg.answers.forEach(addAnswer);
    setState(msg.state);
  } else if (msg.type === "state") {
    setState(msg.state);
  } else if (msg.type === "notes") {
    setLive(msg.live);
    msg.heard.forEach(addHeard);
    msg.answers.forEach(addAnswer);
  } else if (msg.type === "error") {
    showError(msg.message);
  } else if (msg.type === "presets") {
    setPresets(msg.presets);
  } else if (msg.type === "encode") {
    setEncoding(msg.encoding);
  }
}

// -- the state -------------------------------------------------------------------------------
function setLive(s) {
  if (s.beat < lg.beatRef.beat - 1) { lg.heard = []; lg.answers = []; }  // the DAW started again from an earlier place
  lg.beatRef = { beat: s.beat, at: performance.now(), bpm: s.bpm, running: s.running };
  lg.bpb = s.beats_per_bar;
  const st = $("state");
  st.textContent = s.state.toUpperCase();
  st.className = "state " + s.state;
  $("bpm").textContent = s.bpm.toFixed(1);
  $("clock").textContent = s.clock === "midi" ? "DAW clock" : "internal";
  $("bar").textContent = s.bar;
  $("beat").textContent = s.beat_in_bar.toFixed(2);
}

function setState(s) {
  lg.state = s;
  setLive(s);
  setControls(s.controls);
  setPad(s.pad);
  setMeters(s.meters, s);
  if (s.encoding) setEncoding(s.encoding);
}

function currentBeat() {
  const r = lg.beatRef;
  return r.running ? r.beat + (performance.now() - r.at) * r.bpm / 60000 : r.beat;
}

function setMeters(m, s) {
  if (!m || m.phrases === undefined) return;
  $("counts").textContent = `phrases ${m.phrases} · responses ${m.responses}`;
  const voices = s.voices ?? m.voices ?? 0;
  $("m-voices").max = m.voice_limit || 16;
  $("m-voices").value = voices;
  $("v-voices").textContent = voices + (m.voice_limit ? "/" + m.voice_limit : "");
  $("m-load").value = Math.min(m.load || 0, 1);
  $("v-load").textContent = (m.load || 0).toFixed(2);
  const level = s.level ?? m.level ?? 0;
  const db = level > 0 ? Math.max(-60, 20 * Math.log10(level)) : -60;
  $("m-level").value = db;
  $("v-level").textContent = level > 0 ? db.toFixed(0) + " dB" : "-∞ dB";
  $("v-underruns").textContent = m.underruns ?? "–";
  $("v-xruns").textContent = m.xruns ?? "–";
  if (m.timbre) {
    const t = m.timbre;
    $("timbre").textContent = "playing: " + (t.every((x) => x === t[0]) ? t[0] + " on every channel"
      : t.map((x, i) => `${i + 1}: ${x}`).join(", "));
  }
}

// -- jam controls: each is its controller (the same CC the DAW sends) --------------------------
const SLIDERS = {
  temperature: { cc: (v) => Math.round((v - 0.1) / 1.9 * 127), show: (v) => v.toFixed(2) },
  length: { cc: (v) => Math.round(v * 127 / 8), show: (v) => v ? v + " bars" : "follow" },
  texture: { cc: (v) => (v === 0 ? 0 : v < 1.5 ? 21 : v < 3 ? 64 : 106),
             show: (v) => (v === 0 ? "follow" : v < 1.5 ? "line" : v < 3 ? "2 voices" : "chords") },
  register: { cc: (v) => Math.round(v), show: (v) => (v ? noteName(Math.round(v)) : "follow") },
  density: { cc: (v) => (v ? Math.round(1 + 126 * Math.log2(v / 0.25) / 5) : 0),
             show: (v) => (v ? v.toFixed(2) + "/beat" : "follow") },
};
const TOGGLES = ["loop", "mute", "thru"];
const touching = new Set();  // controls the user is moving: the state does not move them meanwhile

function setControls(c) {
  if (!c) return;
  for (const [name, f] of Object.entries(SLIDERS)) {
    const el = $("ctl-" + name);
    const value = c.values[name];
    $("o-" + name).textContent = f.show(value);
    if (!touching.has(name)) el.value = c.cc[name] ?? f.cc(value);
  }
  for (const name of TOGGLES) {
    if (!touching.has(name)) $("ctl-" + name).checked = !!c.values[name];
  }
}

function throttled(fn, ms) {
  let last = 0, timer = null, args = null;
  return (...a) => {
    args = a;
    const wait = last + ms - performance.now();
    if (wait <= 0) { last = performance.now(); fn(...args); }
    else if (!timer) timer = setTimeout(() => { timer = null; last = performance.now(); fn(...args); }, wait);
  };
}

for (const name of Object.keys(SLIDERS)) {
  const el = $("ctl-" + name);
  const post = throttled((v) => send({ cmd: "control", name, value: v }), 30);
  el.addEventListener("pointerdown", () => touching.add(name));
  el.addEventListener("pointerup", () => setTimeout(() => touching.delete(name), 300));
  el.addEventListener("input", () => post(Number(el.value)));
  el.addEventListener("change", () => { post(Number(el.value)); setTimeout(() => touching.delete(name), 300); });
}
for (const name of TOGGLES) {
  const el = $("ctl-" + name);
  el.addEventListener("change", () => {
    touching.add(name);
    send({ cmd: "control", name, value: el.checked ? 127 : 0 });
    setTimeout(() => touching.delete(name), 300);
  });
}
$("ctl-variation").addEventListener("click", () => send({ cmd: "control", name: "variation" }));
$("ctl-panic").addEventListener("click", () => send({ cmd: "control", name: "panic" }));

// -- the timbre pad -----------------------------------------------------------------------------
const pad = $("pad");
let padDrag = null;  // the point being dragged (x, y in 0..1), shown at once
let padState = null;

for (let ch = 1; ch <= 16; ch++) $("pad-channel").add(new Option("channel " + ch, String(ch)));
$("pad-channel").addEventListener("change", (e) => send({ cmd: "pad_channel", channel: Number(e.target.value) }));
for (let i = 0; i < 4; i++) {
  $("corner-" + i).addEventListener("change", () => {
    send({ cmd: "corners", names: [0, 1, 2, 3].map((k) => $("corner-" + k).value) });
  });
}

function padPoint(e) {
  const r = pad.getBoundingClientRect();
  return { x: Math.min(1, Math.max(0, (e.clientX - r.left) / r.width)),
           y: Math.min(1, Math.max(0, 1 - (e.clientY - r.top) / r.height)) };
}
const postPad = throttled((p) => send({ cmd: "pad", x: +p.x.toFixed(4), y: +p.y.toFixed(4) }), 20);
pad.addEventListener("pointerdown", (e) => {
  pad.setPointerCapture(e.pointerId);
  padDrag = padPoint(e);
  postPad(padDrag);
});
pad.addEventListener("pointermove", (e) => {
  if (!padDrag) return;
  padDrag = padPoint(e);
  postPad(padDrag);
});
const padUp = () => { if (padDrag) { postPad(padDrag); setTimeout(() => { padDrag = null; }, 200); } };
pad.addEventListener("pointerup", padUp);
pad.addEventListener("pointercancel", padUp);

function setPad(p) {
  padState = p;
  if (!p) {
    $("pad-where").textContent = "no timbre pad: livegen plays MIDI only";
    return;
  }
  pad.dataset.x = p.x ?? "";
  pad.dataset.y = p.y ?? "";
  if (document.activeElement !== $("pad-channel")) $("pad-channel").value = String(p.channel);
  p.corners.forEach((name, i) => {
    const el = $("corner-" + i);
    if (document.activeElement !== el && el.value !== name) el.value = name;
  });
  $("pad-where").textContent = p.x === null ? "untouched: each channel plays its preset"
    : `x ${p.x.toFixed(2)}  y ${p.y.toFixed(2)}` + (p.channel ? ` on channel ${p.channel}` : " on every channel");
}

function drawPad() {
  const ctx = pad.getContext("2d");
  const w = pad.width, h = pad.height;
  const g = ctx.createLinearGradient(0, 0, w, h);
  g.addColorStop(0, "#2b3d5c"); g.addColorStop(1, "#5c3b24");
  ctx.fillStyle = g;
  ctx.fillRect(0, 0, w, h);
  ctx.strokeStyle = "rgba(255,255,255,0.08)";
  for (let i = 1; i < 8; i++) {
    ctx.beginPath(); ctx.moveTo(i * w / 8, 0); ctx.lineTo(i * w / 8, h); ctx.stroke();
    ctx.beginPath(); ctx.moveTo(0, i * h / 8); ctx.lineTo(w, i * h / 8); ctx.stroke();
  }
  if (padState && padState.channel) {  // the other channels' points, faint
    ctx.fillStyle = "rgba(255,255,255,0.25)";
    padState.points.forEach((pt, i) => {
      if (pt && i + 1 !== padState.channel) { ctx.beginPath(); ctx.arc(pt[0] * w, (1 - pt[1]) * h, 4, 0, 7); ctx.fill(); }
    });
  }
  const p = padDrag || (padState && padState.x !== null ? { x: padState.x, y: padState.y } : null);
  if (p) {  // the marker stays whole at the edges
    const mx = Math.min(w - 11, Math.max(11, p.x * w)), my = Math.min(h - 11, Math.max(11, (1 - p.y) * h));
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(mx, my, 10, 0, 7); ctx.stroke();
    ctx.fillStyle = "rgba(255,255,255,0.35)";
    ctx.beginPath(); ctx.arc(mx, my, 10, 0, 7); ctx.fill();
    ctx.lineWidth = 1;
  }
}

// -- presets ------------------------------------------------------------------------------------
function setPresets(p) {
  lg.presets = p.presets;
  $("user-file").textContent = p.user_file ? "your presets: " + p.user_file : (p.why_none || "");
  for (let i = 0; i < 4; i++) {
    const el = $("corner-" + i), keep = el.value;
    el.replaceChildren(...p.presets.map((x) => new Option(x.name, x.name)));
    if (keep) el.value = keep;
    if (padState) el.value = padState.corners[i];
  }
  const list = $("preset-list");
  list.replaceChildren(...p.presets.map((x) => {
    const li = document.createElement("li");
    li.className = x.user ? "user" : "";
    const play = button("▶", "audition " + x.name, () => send({ cmd: "audition", name: x.name }));
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = x.name;
    li.append(play, name);
    if (x.user) {
      li.append(button("rename", "rename " + x.name, () => renameInline(li, name, x.name)));
      const del = button("delete", "delete " + x.name, () => {
        if (del.dataset.armed) send({ cmd: "delete", name: x.name });
        else { del.dataset.armed = "1"; del.textContent = "sure?"; }
      });
      li.append(del);
    }
    return li;
  }));
}

function button(text, title, onclick) {
  const b = document.createElement("button");
  b.textContent = text;
  b.title = title;
  b.addEventListener("click", onclick);
  return b;
}

function renameInline(li, nameEl, old) {
  const input = document.createElement("input");
  input.value = old;
  input.size = 12;
  nameEl.replaceWith(input);
  input.focus();
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && input.value.trim() && input.value !== old) send({ cmd: "rename", name: old, to: input.value });
    if (e.key === "Enter" || e.key === "Escape") input.replaceWith(nameEl);
  });
}

// -- encoding a dropped WAV -----------------------------------------------------------------------
const drop = $("drop");
for (const ev of ["dragenter", "dragover"]) {
  drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); });
}
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", async (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const file = e.dataTransfer.files[0];
  if (file) await encodeFile(file);
});
window.addEventListener("dragover", (e) => e.preventDefault());
window.addEventListener("drop", (e) => e.preventDefault());

async function encodeFile(file, refine) {
  const q = new URLSearchParams({ file: file.name });
  if (refine !== undefined) q.set("refine", String(refine));
  if ($("encode-name").value.trim()) q.set("name", $("encode-name").value.trim());
  if (token) q.set("token", token);
  $("encode-status").textContent = `sending ${file.name}…`;
  const r = await fetch("/api/encode?" + q, { method: "POST", body: file });
  const reply = await r.json();
  if (reply.error) { showError(reply.error); $("encode-status").textContent = reply.error; }
}
lg.encodeFile = encodeFile;
lg.send = send;

function setEncoding(job) {
  const bar = $("encode-progress");
  bar.hidden = !job.running;
  bar.max = Math.max(job.steps, 1);
  bar.value = job.step;
  $("encode-status").textContent = job.running ? `encoding ${job.file} as “${job.name}”: ${job.step}/${job.steps}`
    : job.error ? `${job.file}: ${job.error}` : `${job.file}: preset “${job.name}” added`;
  if (!job.running && job.error && lg.lastEncodeError !== job.error) { lg.lastEncodeError = job.error; showError(job.error); }
}

// -- the piano roll -------------------------------------------------------------------------------
function addHeard([beat, pitch, velocity, channel, arrived]) {
  if (velocity > 0) {
    const n = { pitch, channel, start: beat, end: null, velocity, arrived };
    lg.heard.push(n);
    pendingDraw.push(n);
  } else {
    for (let i = lg.heard.length - 1; i >= 0; i--) {
      const n = lg.heard[i];
      if (n.pitch === pitch && n.channel === channel && n.end === null) { n.end = beat; break; }
    }
  }
}

function addAnswer(a) {
  for (const [start, dur, pitch, velocity] of a.notes) lg.answers.push({ pitch, start, end: start + dur, velocity });
}

const roll = $("roll");
function drawRoll() {
  const ctx = roll.getContext("2d");
  const w = roll.width = roll.clientWidth, h = roll.height;
  const bpb = lg.bpb, now = currentBeat();
  const span = 4 * bpb, ahead = 1.5 * bpb;  // beats shown: the last four bars and what comes
  const left = now - span, right = now + ahead;
  const x = (b) => (b - left) / (right - left) * w;
  lg.heard = lg.heard.filter((n) => n.end === null || n.end > left - 64);
  lg.answers = lg.answers.filter((n) => n.end > left - 64);
  const visible = [...lg.heard, ...lg.answers].filter((n) => (n.end ?? now) >= left && n.start <= right);
  let lo = 48, hi = 84;
  if (visible.length) {
    lo = Math.min(...visible.map((n) => n.pitch)) - 3;
    hi = Math.max(...visible.map((n) => n.pitch)) + 3;
    if (hi - lo < 24) { const mid = (hi + lo) / 2; lo = mid - 12; hi = mid + 12; }
  }
  const rowH = h / (hi - lo);
  const y = (p) => h - (p - lo + 1) * rowH;
  ctx.fillStyle = "#101215";
  ctx.fillRect(0, 0, w, h);
  ctx.fillStyle = "rgba(255,255,255,0.03)";  // black keys
  for (let p = Math.ceil(lo); p < hi; p++) if ([1, 3, 6, 8, 10].includes(p % 12)) ctx.fillRect(0, y(p), w, rowH);
  for (let b = Math.ceil(left); b <= right; b++) {  // beat and bar lines
    ctx.strokeStyle = b % bpb === 0 ? "rgba(255,255,255,0.22)" : "rgba(255,255,255,0.06)";
    ctx.beginPath(); ctx.moveTo(x(b), 0); ctx.lineTo(x(b), h); ctx.stroke();
  }
  const next = (Math.floor(now / bpb) + 1) * bpb;
  ctx.strokeStyle = "#ffe066"; ctx.setLineDash([6, 4]); ctx.lineWidth = 2;
  ctx.beginPath(); ctx.moveTo(x(next), 0); ctx.lineTo(x(next), h); ctx.stroke();
  ctx.setLineDash([]); ctx.lineWidth = 1;
  ctx.fillStyle = "#ffe066"; ctx.font = "11px system-ui";
  ctx.fillText("bar " + (next / bpb + 1), x(next) + 4, 12);
  const drawNotes = (notes, colour) => {
    ctx.fillStyle = colour;
    for (const n of notes) {
      const x0 = x(n.start), x1 = x(n.end ?? now);
      ctx.globalAlpha = 0.45 + 0.55 * (n.velocity / 127);
      ctx.fillRect(x0, y(n.pitch) + 1, Math.max(3, x1 - x0), Math.max(2, rowH - 2));
    }
    ctx.globalAlpha = 1;
  };
  drawNotes(lg.answers, "#ff9a3c");
  drawNotes(lg.heard, "#4aa3ff");
  ctx.strokeStyle = "#fff";  // now
  ctx.beginPath(); ctx.moveTo(x(now), 0); ctx.lineTo(x(now), h); ctx.stroke();
}

function frame() {
  drawRoll();
  drawPad();
  if (pendingDraw.length) {  // when each heard note was first drawn (wall clock, ms): the page's lag
    const t = performance.timeOrigin + performance.now();
    for (const n of pendingDraw) lg.drawn.push({ pitch: n.pitch, beat: n.start, arrived: n.arrived * 1000, drawn: t });
    pendingDraw = [];
    if (lg.drawn.length > 1000) lg.drawn.splice(0, lg.drawn.length - 1000);
  }
  requestAnimationFrame(frame);
}

connect();
requestAnimationFrame(frame);
