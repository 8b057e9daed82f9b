"""The control surface's logic, without a browser: the pad's mix, its commands at the boundary,
the control thread's handling of the pad and of the surface's CCs, the user's presets file, the
security check. The page itself, on a real `livegen run`, is tests/test_e2e_ui.py."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from livegen import config
from livegen.core import pad as pads
from livegen.core.ring import EventLog
from livegen.errors import ConfigError, DataError
from livegen.synth import presets as ps
from livegen.ui import commands as cmds
from livegen.io.ports import InputPort
from tests.daemon_fakes import FakeOutput, FakeSink, PatternModel


# -- the pad -------------------------------------------------------------------------------------
def test_the_pads_corners_are_its_presets_and_a_point_mixes_them_bilinearly():
    codes = np.eye(4, 3, dtype=np.float32) + np.arange(12, dtype=np.float32).reshape(4, 3)
    for (x, y), corner in {(0, 1): 0, (1, 1): 1, (0, 0): 2, (1, 0): 3}.items():
        np.testing.assert_allclose(pads.bilinear(codes, x, y), codes[corner], atol=1e-6)
    np.testing.assert_allclose(pads.bilinear(codes, 0.5, 0.5), codes.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(pads.bilinear(codes, 0.25, 1.0), 0.75 * codes[0] + 0.25 * codes[1], atol=1e-6)
    w = pads.weights(0.3, 0.8)
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all()
    np.testing.assert_allclose(pads.weights(-1, 2), pads.weights(0, 1))  # clipped to the square


def test_the_pad_moves_every_channel_or_one():
    pad = pads.Pad(("a", "b", "c", "d"), np.zeros((4, 2), np.float32))
    assert pad.point() is None and pad.code(0) is None  # untouched: channels keep their presets
    moved = pad.moved(0.2, None)
    assert all(xy == (0.2, 0.5) for xy in moved.xy)  # the untouched axis starts in the middle
    one = pads.Pad(pad.names, pad.codes, target=3).moved(1.0, 0.0)
    assert one.xy[2] == (1.0, 0.0) and one.xy[0] is None and one.point() == (1.0, 0.0)
    by_cc = pads.Pad(pad.names, pad.codes, target=3).moved(0.5, None, channel=9)  # a CC on channel 10
    assert by_cc.xy[9] == (0.5, 0.5) and by_cc.xy[2] is None


# -- commands ------------------------------------------------------------------------------------
@pytest.mark.parametrize("obj, want", [
    ({"cmd": "pad", "x": 0.25, "y": 1}, {"x": 0.25, "y": 1.0}),
    ({"cmd": "pad", "y": 0}, {"x": None, "y": 0.0}),
    ({"cmd": "pad_channel", "channel": 16}, {"channel": 16}),
    ({"cmd": "control", "name": "temperature", "value": 100}, {"name": "temperature", "value": 100}),
    ({"cmd": "control", "name": "panic"}, {"name": "panic", "value": None}),
    ({"cmd": "audition", "name": "piano"}, {"name": "piano", "pitch": 60}),
    ({"cmd": "corners", "names": ["a", "b", "c", "d"]}, {"names": ("a", "b", "c", "d")}),
])
def test_good_commands_parse(obj, want):
    assert cmds.parse(obj).args == want


@pytest.mark.parametrize("obj, says", [
    ([1, 2], "must be a JSON object"),
    ({"x": 1}, "unknown command None"),
    ({"cmd": "launch"}, "unknown command 'launch'; the commands are: pad, "),
    ({"cmd": "pad"}, "give x, y or both"),
    ({"cmd": "pad", "x": 1.5}, "pad: x = 1.5: must be a number in 0..1"),
    ({"cmd": "pad", "x": float("nan")}, "must be a number in 0..1"),
    ({"cmd": "pad", "x": True}, "must be a number"),
    ({"cmd": "pad", "x": 0.5, "z": 1}, "unknown field 'z'; allowed: x, y"),
    ({"cmd": "pad_channel", "channel": 2.5}, "must be an integer in 0..16"),
    ({"cmd": "control", "name": "volume", "value": 3}, "must be one of temperature, length"),
    ({"cmd": "control", "name": "length", "value": 128}, "must be an integer in 0..127"),
    ({"cmd": "control", "name": "panic", "value": 127}, "takes no value"),
    ({"cmd": "corners", "names": ["a", "b"]}, "must be a list of four preset names"),
    ({"cmd": "rename", "name": "a", "to": " "}, "to = ' ': must be a non-empty string"),
])
def test_a_malformed_command_gets_one_message_naming_what_is_allowed(obj, says):
    with pytest.raises(cmds.BadCommand, match=None) as err:
        cmds.parse(obj)
    assert says in str(err.value)


# -- the control thread: the pad, the surface's CCs ---------------------------------------------
class TimbreSink(FakeSink):
    def __init__(self):
        super().__init__()
        self.commands = []

    def command(self, cmd) -> None:
        self.commands.append(cmd)


class Input(InputPort):
    """The ports' own bounded queue (what the surface posts into), without a backend."""

    def _close(self) -> None:
        pass


def daemon_with_pad(target: int = 0, **jam):
    from livegen.daemon import Daemon
    cfg = config.from_dict({"jam": {"realtime": False, "state_cc": -1, **jam}})
    codes = np.arange(8, dtype=np.float32).reshape(4, 2)
    sink = TimbreSink()
    d = Daemon(cfg, Input("test:in"), FakeOutput(), PatternModel(), sink,
               pad=pads.Pad(("a", "b", "c", "d"), codes, target))
    return d, sink, codes


def test_the_pads_controllers_and_commands_send_the_synth_the_mix():
    d, sink, codes = daemon_with_pad()
    c = d.control
    c.handle(bytes((0xB0, 16, 127)), 0)  # X all the way right: Y starts in the middle
    assert c.pad.point() == (1.0, 0.5) and c.cc_values["pad_x"] == 127
    cmd = sink.commands[-1]
    assert cmd.channels == tuple(range(16)) and cmd.label == "pad 1.000 0.500"
    np.testing.assert_allclose(cmd.z, pads.bilinear(codes, 1.0, 0.5))
    c.command(pads.PadMove(0.0, 1.0))  # what the page posts
    np.testing.assert_allclose(sink.commands[-1].z, codes[0])
    c.command(pads.PadTarget(2))
    c.command(pads.PadMove(0.0, 0.0))
    assert sink.commands[-1].channels == (1,) and c.pad.xy[0] == (0.0, 1.0)
    n = len(sink.commands)
    c.command(pads.PadCorners(("d", "c", "b", "a"), codes[::-1].copy()))  # new corners: every point sounds anew
    assert len(sink.commands) == n + 2
    c.command("something else")
    assert c.counts.unknown_commands == 1
    assert not sink.got  # the pad's controllers never reach the synth as MIDI


def test_the_surfaces_ccs_are_the_daemons_ccs_and_pass_through_can_be_turned_off():
    d, sink, _ = daemon_with_pad()
    c = d.control
    d.post(bytes((0xB0, 20, 100)))  # what the page's temperature slider posts
    d.post(pads.PadMove(0.5, 0.5))
    t, item = next(iter(d.inp.queue))
    assert item == bytes((0xB0, 20, 100))
    while d.inp.queue:  # what the control thread's loop does
        c.take(*d.inp.queue.popleft())
    assert c.controls.temperature == pytest.approx(0.1 + 1.9 * 100 / 127, abs=1e-3)
    assert c.pad.point() == (0.5, 0.5)
    on, off = bytes((0x90, 60, 90)), bytes((0x80, 60, 0))
    c.handle(on, 1)
    c.handle(bytes((0xB0, 29, 0)), 2)  # pass-through off while the key is held ...
    c.handle(bytes((0x90, 62, 90)), 3)
    c.handle(off, 4)  # ... its end still reaches the synth, the next note does not
    assert [m for m, _ in sink.got] == [on, off]
    assert [m for _, _, m in c.heard.since(0)[0]] == [on, bytes((0x90, 62, 90)), off]


def test_an_event_log_gives_each_reader_what_came_since():
    log = EventLog(8)
    for i in range(3):
        log.append(i)
    assert log.since(0) == ([0, 1, 2], 3)
    assert log.since(3) == ([], 3)
    for i in range(3, 20):
        log.append(i)
    got, n = log.since(3)
    assert n == 20 and got == [16, 17, 18, 19]  # fell behind: the newest half of the slots


# -- the user's presets --------------------------------------------------------------------------
def test_renaming_and_deleting_touch_only_the_users_presets_file(tmp_path):
    model = {"piano": np.zeros(3, np.float32), "organ": np.ones(3, np.float32)}
    user_file = tmp_path / "user" / "presets.json"
    known = ps.load(model, user_file)
    assert known.user == {} and not user_file.exists()
    user_file.parent.mkdir()
    user_file.write_text(json.dumps({"mine": [0.5] * 3, "other": [0.25] * 3}))
    known = ps.load(model, user_file)
    assert [p["name"] for p in known.listing()] == ["piano", "organ", "mine", "other"]
    known = ps.rename(known, "mine", "my cello")
    assert list(json.loads(user_file.read_text())) == ["my cello", "other"]  # in place, in order
    with pytest.raises(DataError, match="one of the model's own"):
        ps.rename(known, "piano", "x")
    with pytest.raises(DataError, match="is taken"):
        ps.rename(known, "other", "organ")
    with pytest.raises(DataError, match="use 1 to 48 letters"):
        ps.rename(known, "other", "../etc")
    with pytest.raises(DataError, match="no preset 'gone'"):
        ps.delete(known, "gone")
    known = ps.delete(known, "other")
    assert json.loads(user_file.read_text()) == {"my cello": [0.5] * 3}
    assert list(known.all()) == ["piano", "organ", "my cello"]


def test_the_pads_corners_come_from_config():
    presets = {n: np.full(2, i, np.float32) for i, n in enumerate(["a", "b", "c", "d", "e"])}
    assert ps.pad("", 0, presets).names == ("a", "b", "c", "d")
    assert ps.pad("e, d, c, b", 5, presets).target == 5
    assert ps.corner_names("", ["only"]) == ("only",) * 4
    with pytest.raises(ConfigError, match=r"'zz': no such preset"):
        ps.pad("a,b,c,zz", 0, presets)
    with pytest.raises(ConfigError, match="must be four preset names"):
        ps.pad("a,b", 0, presets)


# -- configuration and security -----------------------------------------------------------------
def test_binding_beyond_this_machine_needs_a_token():
    assert config.from_dict({"ui": {"bind": "localhost"}}).ui.bind == "localhost"
    with pytest.raises(ConfigError, match="ui.bind = '0.0.0.0' is not a local address: set ui.token"):
        config.from_dict({"ui": {"bind": "0.0.0.0"}})
    assert config.from_dict({"ui": {"bind": "0.0.0.0", "token": "x" * 16}}).ui.token == "x" * 16
    with pytest.raises(ConfigError, match="jam.cc_temperature and jam.cc_pad_x are both controller 20"):
        config.from_dict({"jam": {"cc_pad_x": 20}})


def request(host, origin=None, token=None, cookie=None):
    headers = {"Host": host}
    if origin:
        headers["Origin"] = origin
    return SimpleNamespace(headers=headers, query={"token": token} if token else {},
                           cookies={"livegen_token": cookie} if cookie else {})


def surface(**ui):
    from livegen.ui.server import LOCAL, Surface
    cfg = config.from_dict({"ui": ui})
    s = Surface(cfg, SimpleNamespace(daemon=None, models=None))
    s.url, s._hosts = "http://127.0.0.1:8765/", {f"{h}:8765" for h in LOCAL}
    return s


def test_a_request_from_another_host_or_origin_is_refused():
    s = surface()
    assert s.refusal(request("127.0.0.1:8765")) is None
    assert s.refusal(request("localhost:8765", origin="http://localhost:8765")) is None
    assert "Host 'evil.example:8765'" in s.refusal(request("evil.example:8765"))  # DNS rebinding
    assert "Host '127.0.0.1:9999'" in s.refusal(request("127.0.0.1:9999"))
    assert "Origin 'http://evil.example'" in s.refusal(request("127.0.0.1:8765", origin="http://evil.example"))
    t = surface(bind="0.0.0.0", token="s" * 20)
    assert "no valid token" in t.refusal(request("studio.local:8765"))
    assert "no valid token" in t.refusal(request("studio.local:8765", token="wrong"))
    assert t.refusal(request("studio.local:8765", token="s" * 20)) is None
    assert t.refusal(request("studio.local:8765", cookie="s" * 20, origin="http://studio.local:8765")) is None
    assert "another site" in t.refusal(request("studio.local:8765", cookie="s" * 20, origin="http://evil.example"))


def test_the_surface_serves_the_state_and_posts_commands_from_its_own_thread(caplog):
    import urllib.error
    import urllib.request

    from livegen.commands.run import _open_surface
    from livegen.errors import DeviceError
    from livegen.ui.server import Surface
    d, _, _ = daemon_with_pad(realtime=False)
    jam = SimpleNamespace(daemon=d, models=SimpleNamespace(presets=None), why_no_sink="")
    cfg = config.from_dict({"ui": {"port": 0}, "jam": {"realtime": False}})
    s = Surface(cfg, jam)
    url = s.start()
    try:
        assert url.startswith("http://127.0.0.1:") and s.port > 0
        state = json.loads(urllib.request.urlopen(url + "api/state", timeout=10).read())
        assert state["state"] == "idle" and state["pad"]["corners"] == ["a", "b", "c", "d"]

        def post(obj, **headers):
            req = urllib.request.Request(url + "api/command", data=json.dumps(obj).encode(), headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as err:
                return err.code, err.read().decode()

        assert post({"cmd": "pad", "x": 0.5}) == (200, {"ok": True})
        assert post({"cmd": "control", "name": "mute", "value": 127}) == (200, {"ok": True})
        assert [item for _, item in d.inp.queue] == [pads.PadMove(0.5, None), bytes((0xB0, 25, 127))]
        code, reply = post({"cmd": "pad", "x": "left"})
        assert code == 400 and json.loads(reply) == {"error": "pad: x = 'left': must be a number in 0..1"}
        assert "control surface: pad: x = 'left'" in caplog.text
        code, reply = post({"cmd": "pad", "x": 0.5}, Origin="http://evil.example")
        assert code == 403 and "Origin 'http://evil.example' is not the local address" in reply
        assert len(d.inp.queue) == 2  # nothing refused got through
        busy = Surface(config.from_dict({"ui": {"port": s.port}, "jam": {"realtime": False}}), jam)
        with pytest.raises(DeviceError, match=rf"cannot listen on 127.0.0.1:{s.port} .*set ui.port to a free port"):
            busy.start()
    finally:
        s.stop()
    caplog.set_level("INFO", "livegen")
    assert _open_surface(config.from_dict({"ui": {"enabled": False}}), jam) is None
    assert "control surface: off (ui.enabled = false)" in caplog.text
