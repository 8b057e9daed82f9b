"""The control surface's server: aiohttp (HTTP and one WebSocket) on an event loop in a thread
of its own.

It owns no real-time state. It reads the snapshots the status line reads
(:mod:`livegen.ui.state`) and posts what the page asks through the queues the MIDI
controllers use: a jam control is the very CC a DAW would send, and a pad move is a command
in the same input queue (:meth:`livegen.daemon.daemon.Daemon.post`), both handled by the
control thread; an audition is a note and a timbre command in the synth's bounded inbox.
Nothing here waits for those threads or holds a lock they need. Encoding a WAV runs
``livegen encode`` in a process of its own at low priority (it would otherwise hold the
interpreter lock for seconds).

Security: every request whose Host is not this server's local address, or whose Origin
is another site's, is refused (403), so a web page the user visits cannot drive livegen
through DNS rebinding; bound elsewhere (``ui.bind``), every request must carry ``ui.token``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

from livegen.core import pad as pads
from livegen.errors import DeviceError, LivegenError
from livegen.ui import commands as cmds
from livegen.ui import state as views

log = logging.getLogger("livegen.ui")

STATIC = Path(__file__).resolve().parent / "static"
PUSH_S = 1 / 30  # the state pushed to each page ~30 times a second
POLL_S = 0.005  # new notes are looked for every 5 ms and pushed at once
METERS_S = 0.25  # the status snapshot (counters, the synth's meters) 4 times a second
AUDITION_S = 1.0  # an audition note's length
MAX_UPLOAD = 64 << 20  # a dropped WAV of at most 64 MiB
TOKEN_COOKIE = "livegen_token"
LOCAL = ("127.0.0.1", "localhost", "[::1]")


class Surface:
    """The control surface of a running :class:`~livegen.daemon.harness.Jam`.

    ``start()`` binds (DeviceError when it cannot) and returns the page's address; the
    server then runs on its own thread until ``stop()``.
    """

    def __init__(self, cfg, jam):
        self.cfg = cfg
        self.jam = jam
        self.daemon = jam.daemon
        self.presets = getattr(jam.models, "presets", None)  # livegen.synth.presets.Presets
        self.url = ""
        self.clients: set = set()
        self.encoding: dict | None = None  # the encode in progress (one at a time)
        self.refused = 0
        self.errors = 0
        self._refused_logged = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="livegen-ui", daemon=True)
        self._meters: dict = {}
        self._meters_at = 0.0

    # -- any thread -------------------------------------------------------------------------
    def start(self) -> str:
        self._thread.start()
        self._ready.wait(30)
        if self._failed is not None:
            raise self._failed
        return self.url

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and self._thread.is_alive():
            loop.call_soon_threadsafe(stop.set)
            self._thread.join(5)

    # -- the surface's thread -------------------------------------------------------------------
    def _run(self) -> None:
        if self.cfg.jam.realtime:  # holding the interpreter lock while pre-empted would delay the sender
            from livegen.realtime import OTHER_PRIORITY, make_realtime
            make_realtime(OTHER_PRIORITY)
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main())
        except BaseException as err:  # noqa: BLE001 - handed to start(), which raises it
            if not self._ready.is_set():
                self._failed = err
                self._ready.set()
            else:
                log.error("control surface stopped: %s", err)
        finally:
            loop.close()

    async def _main(self) -> None:
        from aiohttp import web
        self._stop = asyncio.Event()
        self._connected = asyncio.Event()  # set while a page is connected
        app = web.Application(middlewares=[self._middleware()], client_max_size=MAX_UPLOAD)
        app.router.add_get("/", self._index)
        app.router.add_get("/api/state", self._get_state)
        app.router.add_get("/api/presets", self._get_presets)
        app.router.add_post("/api/command", self._post_command)
        app.router.add_post("/api/encode", self._post_encode)
        app.router.add_get("/api/ws", self._ws)
        app.router.add_static("/static/", STATIC)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        ui = self.cfg.ui
        site = web.TCPSite(runner, ui.bind, ui.port)
        try:
            await site.start()
        except OSError as err:
            await runner.cleanup()
            raise DeviceError(f"the control surface cannot listen on {ui.bind}:{ui.port} ({err.strerror or err}): "
                              "set ui.port to a free port (0: any), or ui.enabled = false") from err
        port = runner.addresses[0][1]  # the port bound (ui.port 0: the system's choice)
        self.port = port
        host = f"[{ui.bind}]" if ":" in ui.bind else ui.bind
        self.url = f"http://{host}:{port}/"
        self._hosts = {f"{h}:{port}" for h in LOCAL}
        self._ready.set()
        pusher = asyncio.create_task(self._push())
        await self._stop.wait()
        pusher.cancel()
        for ws in list(self.clients):
            await ws.close()
        await runner.cleanup()

    # -- security ---------------------------------------------------------------------------
    def refusal(self, request) -> str | None:
        """Why a request must be refused, or None."""
        host = request.headers.get("Host", "")
        origin = request.headers.get("Origin")
        if self.cfg.ui.token:
            given = (request.headers.get("X-Livegen-Token") or request.query.get("token")
                     or request.cookies.get(TOKEN_COOKIE) or "")
            if not hmac.compare_digest(given.encode(), self.cfg.ui.token.encode()):
                return "no valid token (ui.token)"
            if origin is not None and origin != f"http://{host}":
                return f"Origin {origin!r} is another site"
            return None
        if host not in self._hosts:
            return f"Host {host!r} is not the local address {self.url}"
        if origin is not None and origin.removeprefix("http://") not in self._hosts:
            return f"Origin {origin!r} is not the local address {self.url}"
        return None

    def _middleware(self):
        from aiohttp import web

        @web.middleware
        async def guard(request, handler):
            why = self.refusal(request)
            if why is not None:
                self.refused += 1
                now = time.monotonic()
                if now - self._refused_logged > 1.0:  # a flood of them is logged once a second
                    self._refused_logged = now
                    log.warning("control surface: refused %s %s: %s (%d refused so far)", request.method,
                                request.path, why, self.refused)
                return web.Response(status=403, text=f"refused: {why}\n")
            response = await handler(request)
            if self.cfg.ui.token and request.query.get("token"):
                response.set_cookie(TOKEN_COOKIE, self.cfg.ui.token, httponly=True, samesite="Strict")
            return response
        return guard

    # -- views ------------------------------------------------------------------------------
    def meters(self) -> dict:
        now = time.monotonic()
        if now - self._meters_at >= METERS_S:
            self._meters_at = now
            self._meters = views.meters(self.daemon)
        return self._meters

    def state(self) -> dict:
        d = self.daemon
        return {**views.live(d, self.cfg.jam.beats_per_bar), "controls": views.controls(d), "pad": views.pad(d),
                "meters": self.meters(), "encoding": self.encoding, "errors": self.errors,
                "refused": self.refused}

    def preset_list(self) -> dict:
        if self.presets is None:
            return {"presets": [], "user_file": None, "why_none": self.jam.why_no_sink or "no timbre model"}
        return {"presets": self.presets.listing(), "user_file": str(self.presets.user_file)}

    # -- HTTP ---------------------------------------------------------------------------------
    async def _index(self, request):
        from aiohttp import web
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def _get_state(self, request):
        from aiohttp import web
        return web.json_response(self.state())

    async def _get_presets(self, request):
        from aiohttp import web
        return web.json_response(self.preset_list())

    async def _post_command(self, request):
        from aiohttp import web
        try:
            obj = await request.json()
        except ValueError:
            obj = _NOT_JSON
        reply = await self.command(obj)
        return web.json_response(reply, status=400 if "error" in reply else 200)

    async def _post_encode(self, request):
        from aiohttp import web
        reply = await self.encode(request)
        return web.json_response(reply, status=400 if "error" in reply else 200)

    async def _ws(self, request):
        from aiohttp import WSMsgType, web
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        self.clients.add(ws)
        self._connected.set()
        try:
            await ws.send_json({"type": "hello", "presets": self.preset_list(), "state": self.state(),
                                "answers": [views.answer(r) for r in self.daemon.answers.since(0)[0]]})
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    try:
                        obj = json.loads(msg.data)
                    except ValueError:
                        obj = _NOT_JSON
                    reply = await self.command(obj)
                    if "error" in reply:
                        await ws.send_json({"type": "error", "message": reply["error"]})
                    elif reply.get("presets"):
                        await self._broadcast({"type": "presets", "presets": self.preset_list()})
        finally:
            self.clients.discard(ws)
            if not self.clients:
                self._connected.clear()
        return ws

    async def _broadcast(self, message: dict) -> None:
        text = json.dumps(message)
        for ws in list(self.clients):
            if not ws.closed:
                with contextlib.suppress(ConnectionError, RuntimeError):  # a page that just went away
                    await ws.send_str(text)

    async def _push(self) -> None:
        """State ~30 times a second; the player's notes and each response as soon as they come."""
        heard_seen = self.daemon.control.heard.count
        answers_seen = self.daemon.answers.count
        last_state = 0.0
        while True:
            if not self.clients:  # no page open: nothing to do until one connects
                await self._connected.wait()
                heard_seen, answers_seen = self.daemon.control.heard.count, self.daemon.answers.count
            await asyncio.sleep(POLL_S)
            heard, heard_seen = self.daemon.control.heard.since(heard_seen)
            answers, answers_seen = self.daemon.answers.since(answers_seen)
            now = time.monotonic()
            if heard or answers:
                await self._broadcast({"type": "notes", "heard": views.heard_notes(heard),
                                       "answers": [views.answer(r) for r in answers],
                                       "live": views.live(self.daemon, self.cfg.jam.beats_per_bar)})
            if now - last_state >= PUSH_S:
                last_state = now
                await self._broadcast({"type": "state", "state": self.state()})

    # -- commands -----------------------------------------------------------------------------
    def _bad(self, message: str) -> dict:
        self.errors += 1
        log.warning("control surface: %s", message)
        return {"error": message}

    async def command(self, obj) -> dict:
        """Carry out one command; {"ok": true, ...} or {"error": message} (also logged)."""
        if obj is _NOT_JSON:
            return self._bad('a command must be a JSON object such as {"cmd": "pad", "x": 0.5, "y": 0.5}: '
                             "this was not JSON")
        try:
            c = cmds.parse(obj)
            return self._carry_out(c)
        except LivegenError as err:
            return self._bad(str(err))

    def _carry_out(self, c: cmds.Command) -> dict:
        d, jam, a = self.daemon, self.cfg.jam, c.args
        if c.cmd == "control":
            number = getattr(jam, cmds.CONTROLS[a["name"]])
            if number < 0:
                raise cmds.BadCommand(f"control: {a['name']} is off (jam.{cmds.CONTROLS[a['name']]} = -1)")
            values = (127, 0) if a["value"] is None else (a["value"],)
            for v in values:
                d.post(bytes((0xB0, number, v)))
            return {"ok": True}
        if c.cmd in ("pad", "pad_channel", "corners") and d.control.pad is None:
            raise cmds.BadCommand(f"{c.cmd}: there is no timbre pad without the synth "
                                  f"({self.jam.why_no_sink or 'no timbre model'})")
        if c.cmd == "pad":
            d.post(pads.PadMove(a["x"], a["y"]))
        elif c.cmd == "pad_channel":
            d.post(pads.PadTarget(a["channel"]))
        elif c.cmd == "corners":
            known = self.presets.all()
            bad = [n for n in a["names"] if n not in known]
            if bad:
                raise cmds.BadCommand(f"corners: no preset {bad[0]!r}; there are: {', '.join(known)}")
            import numpy as np
            d.post(pads.PadCorners(a["names"], np.stack([known[n] for n in a["names"]])))
        elif c.cmd == "audition":
            self._audition(a["name"], a["pitch"])
        elif c.cmd in ("rename", "delete"):
            from livegen.synth import presets as ps
            if self.presets is None:
                raise cmds.BadCommand(f"{c.cmd}: there are no presets without the timbre model")
            if self.encoding is not None and self.encoding.get("running"):
                raise cmds.BadCommand(f"{c.cmd}: an encode is writing your presets: try again when it ends")
            self.presets = (ps.rename(self.presets, a["name"], a["to"]) if c.cmd == "rename"
                            else ps.delete(self.presets, a["name"]))
            log.info("control surface: preset %r %s", a["name"],
                     f"renamed {a['to']!r}" if c.cmd == "rename" else "deleted")
            return {"ok": True, "presets": True}
        return {"ok": True}

    def _audition(self, name: str, pitch: int) -> None:
        sink = self.daemon.sink
        if sink is None or self.presets is None:
            raise cmds.BadCommand(f"audition: no synth plays here ({self.jam.why_no_sink or 'no timbre model'})")
        known = self.presets.all()
        if name not in known:
            raise cmds.BadCommand(f"audition: no preset {name!r}; there are: {', '.join(known)}")
        ch = self.cfg.ui.audition_channel - 1
        sink.command(pads.SetTimbre((ch,), known[name], name))
        sink.send(bytes((0x90 | ch, pitch, 100)))
        self._loop.call_later(AUDITION_S, sink.send, bytes((0x80 | ch, pitch, 0)))

    # -- encoding a dropped WAV ---------------------------------------------------------------
    async def encode(self, request) -> dict:
        """``livegen encode`` on the request's body (a WAV), into the user's presets file, in a
        process of its own; progress goes to every page."""
        if self.presets is None:
            return self._bad("encode: there is no timbre model to encode with")
        if self.encoding is not None and self.encoding.get("running"):
            return self._bad(f"encode: {self.encoding['file']!r} is being encoded: wait for it to end")
        from livegen.synth import presets as ps
        file = Path(request.query.get("file", "") or "dropped.wav").name
        try:
            name = ps.check_name(request.query.get("name") or Path(file).stem, self.presets, new=True)
            refine = int(request.query.get("refine", "48"))
            if not 0 <= refine <= 1000:
                raise ValueError
        except LivegenError as err:
            return self._bad(f"encode: {err}")
        except ValueError:
            return self._bad(f"encode: refine = {request.query.get('refine')!r}: must be an integer in 0..1000")
        body = await request.read()
        folder = Path(tempfile.mkdtemp(prefix="livegen-encode-"))
        wav = folder / file
        wav.write_bytes(body)
        self.encoding = {"file": file, "name": name, "running": True, "step": 0, "steps": refine, "error": None}
        asyncio.get_running_loop().create_task(self._encode(folder, wav, file, name, refine))
        return {"ok": True, "name": name}

    async def _encode(self, folder: Path, wav: Path, file: str, name: str, refine: int) -> None:
        job = self.encoding
        cfg = self.cfg
        args = [sys.executable, "-m", "livegen", "--set", f"models.timbre={cfg.path(cfg.models.timbre)}",
                "--set", f"models.provider={cfg.models.provider}", "encode", str(wav), "--name", name,
                "--presets", str(self.presets.user_file), "--refine", str(refine), "--progress"]
        from livegen.realtime import ordinary  # this thread may be real-time, and a child inherits it
        await self._broadcast({"type": "encode", "encoding": job})
        try:
            proc = await asyncio.create_subprocess_exec(*ordinary(args), stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.PIPE,
                                                        env={**os.environ, "PYTHONPATH": _pythonpath()})
            errors = asyncio.create_task(proc.stderr.read())
            async for raw in proc.stdout:
                line = raw.decode(errors="replace").strip()
                if line.startswith("progress "):
                    step, _, steps = line.removeprefix("progress ").partition("/")
                    job["step"], job["steps"] = int(step), int(steps)
                    await self._broadcast({"type": "encode", "encoding": job})
            rc = await proc.wait()
            stderr = (await errors).decode(errors="replace").strip().splitlines()
            if rc != 0:
                why = (stderr[-1] if stderr else f"livegen encode exited with status {rc}").replace(str(wav), file)
                job["error"] = why.removeprefix("livegen: error: ")
                self._bad(f"encode {file!r}: {job['error']}")
            else:
                from livegen.synth import presets as ps
                self.presets = ps.load(self.presets.model, self.presets.user_file)
                log.info("control surface: %r encoded as preset %r into %s", file, name, self.presets.user_file)
        finally:
            job["running"] = False
            shutil.rmtree(folder, ignore_errors=True)
            await self._broadcast({"type": "encode", "encoding": job})
            await self._broadcast({"type": "presets", "presets": self.preset_list()})


_NOT_JSON = object()  # a body or message that is not JSON: parse() says so


def _pythonpath() -> str:
    """The encoder child must import this livegen, wherever it was imported from."""
    here = str(Path(__file__).resolve().parent.parent.parent)
    return os.pathsep.join([here] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
