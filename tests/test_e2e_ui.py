"""The control surface in a real browser: headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium) against a real `livegen run` with the shipped models on
the tests' JACK dummy server, MIDI played into `livegen:in` and livegen's audio recorded.

Every wait is for a state, with a generous deadline (a busy two-core machine). Screenshots
go to ``$LIVEGEN_ARTEFACTS/ui`` (else a folder under pytest's tmp path); the page's lag, from a
note sent to `livegen:in` to its bar drawn in the piano roll, is printed and written there
(``lag.json``): measured, never asserted.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

pytest.importorskip("selenium", reason="needs selenium (the [test] extra)")
jack = pytest.importorskip("jack", reason="needs JACK-Client")

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from livegen.errors import DeviceError  # noqa: E402
from livegen.io.jackrec import AudioRecorder  # noqa: E402
from livegen.io.midiclient import open_player, wait_for_port  # noqa: E402
from livegen.ui.browser import CHROMIUM, DRIVER, chromium, console_errors  # noqa: E402
from tests.test_e2e_jam import Livegen  # noqa: E402

pytestmark = [pytest.mark.jack, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "livegen" / "models"
CORNERS = ("flute", "piano", "organ", "trumpet")  # top-left .. bottom-right: flute and trumpet far apart
DEADLINE = 30.0

if not (CHROMIUM and DRIVER):
    pytest.skip("needs Debian's chromium and chromium-driver (./dev.sh installs them)", allow_module_level=True)
if not ((MODELS / "timbre" / "presets.json").is_file() and (MODELS / "lstm" / "lstm.onnx").is_file()):
    pytest.skip("needs the shipped models", allow_module_level=True)


def wait_until(what: str, predicate, timeout: float = DEADLINE, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(step)


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory) -> Path:
    base = os.environ.get("LIVEGEN_ARTEFACTS")
    folder = Path(base) / "ui" if base else tmp_path_factory.mktemp("artefacts") / "ui"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def livegen(jack_server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui")
    env = {**jack_server.env(), "PYTHONPATH": str(ROOT)}
    lg = Livegen(env, "ui.port=0", "midi.backend=jack", "audio.backend=jack", "jam.tempo_bpm=120",
                 "jam.silence_beats=1", "jam.response_bars=2", "jam.seed=3", "jam.state_cc=-1",
                 f"synth.pad_corners={','.join(CORNERS)}", f"synth.user_presets={tmp / 'presets.json'}")
    try:
        url = lg.wait_line(r"control surface: (http://\S+)", timeout=60).group(1)
        lg.url, lg.user_file = url, tmp / "presets.json"
        lg.port = urlparse(url).port
        yield lg
        lg.proc.send_signal(signal.SIGINT)
        assert lg.proc.wait(20) == 0, "\n".join(lg.lines)
    finally:
        if lg.proc.poll() is None:
            lg.proc.kill()
            lg.proc.wait()


@pytest.fixture(scope="module")
def player(livegen):
    wait_for_port("jack", "livegen:in", output=False)
    port = open_player("jack", "ui-test-player", "livegen:in")
    yield port
    port.close()


@pytest.fixture(scope="module")
def browser(livegen):
    with chromium() as driver:
        driver.set_script_timeout(DEADLINE)
        driver.get(livegen.url)
        wait_until("the page connects and lists the presets",
                   lambda: driver.execute_script("return livegen.connected && livegen.presets.length > 0"))
        yield driver


def api_state(lg) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", lg.port, timeout=10)
    conn.request("GET", "/api/state")
    r = conn.getresponse()
    assert r.status == 200
    return json.loads(r.read())


def test_the_page_loads_with_no_console_errors(browser, artefacts):
    assert browser.title == "livegen"
    assert browser.execute_script("return livegen.presets.length") == 32
    assert browser.find_element(By.ID, "state").text in ("IDLE", "LISTENING", "RESPONDING")
    browser.save_screenshot(str(artefacts / "loaded.png"))
    assert console_errors(browser) == []


def test_a_request_with_a_foreign_host_or_origin_is_refused(livegen):
    def status(path, **headers):
        conn = http.client.HTTPConnection("127.0.0.1", livegen.port, timeout=10)
        conn.request("GET", path, headers=headers)
        return conn.getresponse().status

    local = f"127.0.0.1:{livegen.port}"
    assert status("/api/state", Host=local) == 200
    assert status("/api/state", Host=f"localhost:{livegen.port}", Origin=f"http://localhost:{livegen.port}") == 200
    assert status("/api/state", Host=f"evil.example:{livegen.port}") == 403  # DNS rebinding
    assert status("/", Host="evil.example") == 403
    assert status("/api/state", Host=local, Origin="http://evil.example") == 403
    ws = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
          "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    assert status("/api/ws", Host=local, Origin="http://evil.example", **ws) == 403
    conn = http.client.HTTPConnection("127.0.0.1", livegen.port, timeout=10)
    conn.request("POST", "/api/command", body=json.dumps({"cmd": "control", "name": "panic"}),
                 headers={"Host": local, "Origin": "http://evil.example"})
    assert conn.getresponse().status == 403
    assert livegen.wait_line(r"control surface: refused .*Host 'evil.example:\d+' is not the local address")


def test_a_cc_sent_to_livegen_in_moves_the_matching_control_on_the_page(livegen, player, browser):
    player.send(bytes((0xB0, 20, 100)))  # jam.cc_temperature
    wait_until("the temperature slider follows CC 20",
               lambda: browser.find_element(By.ID, "ctl-temperature").get_attribute("value") == "100")
    assert browser.find_element(By.ID, "o-temperature").text == "1.60"
    player.send(bytes((0xB0, 22, 127)))  # jam.cc_loop
    wait_until("the loop toggle follows CC 22", lambda: browser.find_element(By.ID, "ctl-loop").is_selected())
    player.send(bytes((0xB0, 22, 0)))
    player.send(bytes((0xB0, 16, 127)))  # the pad's X and Y: the page shows where the CCs put it
    player.send(bytes((0xB0, 17, 0)))
    pad = browser.find_element(By.ID, "pad")
    wait_until("the pad follows CCs 16 and 17",
               lambda: (pad.get_attribute("data-x"), pad.get_attribute("data-y")) == ("1", "0"))
    assert api_state(livegen)["controls"]["cc"]["temperature"] == 100
    # and the other way: the page's control is the same controller
    slider = browser.find_element(By.ID, "ctl-length")
    browser.execute_script("arguments[0].value = 64; arguments[0].dispatchEvent(new Event('change'))", slider)
    wait_until("the page's length reaches the daemon", lambda: api_state(livegen)["controls"]["values"]["length"] == 4)


def spectrum(x: np.ndarray, rate: int) -> np.ndarray:
    """Mean log power spectrum over 80..6000 Hz, its mean removed (the shape, not the level)."""
    n = 1024
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::n // 2] * np.hanning(n)
    power = np.mean(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0)
    f = np.fft.rfftfreq(n, 1 / rate)
    band = np.log10(power[(f > 80) & (f < 6000)] + 1e-10)
    return band - band.mean()


def reference(name: str, rate: int, pitch: int = 60) -> np.ndarray:
    """Preset ``name`` playing ``pitch`` for 1.1 s, rendered offline by the same synth."""
    from livegen.engine.timbre import TimbreEngine
    from livegen.synth.synth import Synth
    files = TimbreEngine.load(MODELS / "timbre")
    synth = Synth(files, sample_rate=rate, voices=1, seed=1)
    synth.set_channel_z(0, files.presets[name])
    synth.handle(bytes((0x90, pitch, 100)))
    return synth.render(int(1.1 * rate))


def test_moving_the_pad_changes_the_synths_timbre(livegen, player, browser, artefacts):
    deadline = time.monotonic() + 10
    while True:
        try:
            rec = AudioRecorder("livegen-synth:out_0", name="ui-test-rec")
            break
        except DeviceError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    pad = browser.find_element(By.ID, "pad")
    half = pad.size["width"] / 2
    heard = {}
    try:
        for corner, (dx, dy), want in (("flute", (-1, -1), (0.0, 1.0)), ("trumpet", (1, 1), (1.0, 0.0))):
            # a drag from the middle to the corner (inset 1 px), as a hand would
            moves = ActionChains(browser).move_to_element(pad).click_and_hold()
            for k in range(1, 9):
                moves.move_to_element_with_offset(pad, dx * (half - 1) * k / 8, dy * (half - 1) * k / 8)
            moves.release().perform()

            def there():
                st = api_state(livegen)
                p = st["pad"]
                label = st["meters"]["timbre"][0]
                near = abs(p["x"] - want[0]) < 0.02 and abs(p["y"] - want[1]) < 0.02
                return near and label == f"pad {p['x']:.3f} {p['y']:.3f}" and label
            wait_until(f"the pad at the {corner} corner, in the state and the synth's status", there)
            t_on = time.monotonic_ns()
            player.send(bytes((0x90, 60, 100)))  # jam.thru: the player's note sounds on the synth
            time.sleep(1.2)
            player.send(bytes((0x80, 60, 0)))
            wait_until("the note was recorded", lambda: rec.periods()[-1][0] > t_on + 1.1e9)
            blocks = [b for t, b in rec.periods() if t_on + 0.35e9 <= t <= t_on + 1.0e9]
            heard[corner] = np.concatenate(blocks)
            assert np.abs(heard[corner]).max() > 1e-3, f"nothing heard at the {corner} corner"
        browser.save_screenshot(str(artefacts / "pad.png"))
    finally:
        rec.close()
    rate = rec.rate
    ref = {name: spectrum(reference(name, rate)[int(0.35 * rate):int(1.0 * rate)], rate) for name in heard}
    live = {name: spectrum(x, rate) for name, x in heard.items()}
    d = {(a, b): float(np.mean(np.abs(live[a] - ref[b]))) for a in live for b in ref}
    print("spectral distance, live at a corner -> reference of a preset:",
          {f"{a}->{b}": round(v, 3) for (a, b), v in d.items()})
    assert d["flute", "flute"] < d["flute", "trumpet"]
    assert d["trumpet", "trumpet"] < d["trumpet", "flute"]
    assert d["trumpet", "trumpet"] < d["flute", "trumpet"]  # moving to its corner moved the spectrum to it


def test_a_phrase_appears_in_the_piano_roll_and_the_answer_follows(livegen, player, browser, artefacts):
    n_answers = browser.execute_script("return livegen.answers.length")
    n_drawn = browser.execute_script("return livegen.drawn.length")
    pitches = (60, 62, 64, 65, 67, 65, 64, 62)
    sent = []
    for p in pitches:  # eighth notes at 120 bpm
        sent.append(time.time() * 1e3)
        player.send(bytes((0x90, p, 96)))
        time.sleep(0.2)
        player.send(bytes((0x80, p, 0)))
        time.sleep(0.05)
    drawn = wait_until("the phrase's notes drawn in the piano roll", lambda: (lambda d: len(d) >= len(pitches) and d)(
        browser.execute_script(f"return livegen.drawn.slice({n_drawn})")))
    assert [d["pitch"] for d in drawn[:len(pitches)]] == list(pitches)
    wait_until("the answer in the piano roll",
               lambda: browser.execute_script("return livegen.answers.length") > n_answers)
    # its first note on screen, then the picture
    wait_until("the answer sounding", lambda: browser.execute_script(
        "const b = livegen.beatRef.beat; return livegen.answers.some((n) => n.start <= b)"))
    browser.execute_script("livegen.send({cmd: 'pad', x: 0.3, y: 0.65})")  # for the picture: between corners
    time.sleep(0.5)
    browser.save_screenshot(str(artefacts / "piano-roll.png"))
    lag = {"from_send_ms": [round(d["drawn"] - s, 1) for d, s in zip(drawn, sent)],
           "from_livegen_in_ms": [round(d["drawn"] - d["arrived"], 1) for d in drawn[:len(pitches)]]}
    (artefacts / "lag.json").write_text(json.dumps(lag, indent=1))
    print(f"the page's lag, MIDI note to its bar in the piano roll: {lag}")
    assert console_errors(browser) == []


def test_the_page_auditions_a_preset_picks_corners_and_plays_one_channel(livegen, browser):
    from selenium.webdriver.support.ui import Select
    browser.execute_script("livegen.send({cmd: 'pad', x: 0.3, y: 0.65})")  # every channel reached
    wait_until("the pad on every channel", lambda: api_state(livegen)["pad"]["points"][15] == [0.3, 0.65])
    play = browser.find_element(By.CSS_SELECTOR, "button[title='audition violin']")
    play.click()
    wait_until("the audition on channel 16 (ui.audition_channel)",
               lambda: api_state(livegen)["meters"]["timbre"][15] == "violin")
    Select(browser.find_element(By.ID, "corner-0")).select_by_visible_text("choir")
    wait_until("the new top-left corner", lambda: api_state(livegen)["pad"]["corners"][0] == "choir")
    Select(browser.find_element(By.ID, "pad-channel")).select_by_value("2")
    wait_until("the pad on channel 2", lambda: api_state(livegen)["pad"]["channel"] == 2)
    # new corners sound anew on every channel the pad has reached: all of them, the audition's too
    before = wait_until("the new corners on every channel", lambda: (lambda t: len(set(t)) == 1 and t)(
        api_state(livegen)["meters"]["timbre"]))
    browser.execute_script("livegen.send({cmd: 'pad', x: 0.1, y: 0.9})")
    wait_until("channel 2 alone moved", lambda: api_state(livegen)["meters"]["timbre"][1] == "pad 0.100 0.900")
    after = api_state(livegen)["meters"]["timbre"]
    assert after[0] == before[0] and after[2:] == before[2:]
    Select(browser.find_element(By.ID, "pad-channel")).select_by_value("0")
    Select(browser.find_element(By.ID, "corner-0")).select_by_visible_text(CORNERS[0])
    wait_until("the pad back on every channel", lambda: (lambda p: p["channel"] == 0 and p["corners"][0] == CORNERS[0])(
        api_state(livegen)["pad"]))


def test_bad_input_gets_one_clear_message_and_livegen_goes_on(livegen, browser):
    n_errors = browser.execute_script("return livegen.errors.length")
    browser.execute_script("livegen.send({cmd: 'pad', x: 5})")
    wait_until("the error on the page", lambda: browser.execute_script("return livegen.errors.length") > n_errors)
    assert "pad: x = 5: must be a number in 0..1" in browser.find_element(By.ID, "error").text
    livegen.wait_line(r"control surface: pad: x = 5: must be a number in 0\.\.1")
    # a dropped file that is no WAV: one message, nothing written
    n_errors = browser.execute_script("return livegen.errors.length")
    browser.execute_script("livegen.encodeFile(new File(['not a sound'], 'notes.wav', {type: 'audio/wav'}))")
    wait_until("the encode error on the page",
               lambda: browser.execute_script("return livegen.errors.length") > n_errors, timeout=60)
    message = browser.find_element(By.ID, "error").text
    assert "notes.wav is not a WAV file" in message, message
    assert "livegen-encode-" not in message  # the dropped file's name, not where it was kept
    assert not livegen.user_file.exists()
    assert api_state(livegen)["state"] in ("idle", "listening", "responding")  # it goes on
    assert livegen.proc.poll() is None


def test_a_dropped_wav_becomes_a_user_preset_that_can_be_renamed_and_deleted(livegen, browser, tmp_path):
    import base64
    import hashlib

    from livegen.io.wavfile import write_wav
    shipped = MODELS / "timbre" / "presets.json"
    before = hashlib.sha256(shipped.read_bytes()).hexdigest()
    wav = tmp_path / "my flute.wav"
    write_wav(wav, reference("flute", 16000, pitch=67), 16000)
    data = base64.b64encode(wav.read_bytes()).decode()
    browser.execute_script(
        "const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));"
        "livegen.encodeFile(new File([bytes], 'my flute.wav', {type: 'audio/wav'}), 1)", data)
    names = "return livegen.presets.filter((p) => p.user).map((p) => p.name)"
    wait_until("the encoded preset in the page's list", lambda: browser.execute_script(names) == ["my flute"],
               timeout=120)
    assert list(json.loads(livegen.user_file.read_text())) == ["my flute"]
    from selenium.webdriver.common.keys import Keys
    browser.find_element(By.CSS_SELECTOR, "button[title='rename my flute']").click()  # as a hand would
    field = browser.find_element(By.CSS_SELECTOR, "#preset-list li.user input")
    field.clear()
    field.send_keys("flute two", Keys.ENTER)
    wait_until("the rename in the list", lambda: browser.execute_script(names) == ["flute two"])
    assert list(json.loads(livegen.user_file.read_text())) == ["flute two"]
    n_errors = browser.execute_script("return livegen.errors.length")
    browser.execute_script("livegen.send({cmd: 'delete', name: 'piano'})")  # the model's own: refused
    wait_until("the refusal on the page", lambda: browser.execute_script("return livegen.errors.length") > n_errors)
    assert "one of the model's own" in browser.find_element(By.ID, "error").text
    delete = browser.find_element(By.CSS_SELECTOR, "button[title='delete flute two']")
    delete.click()
    assert delete.text == "sure?" and browser.execute_script(names) == ["flute two"]  # one click asks
    delete.click()
    wait_until("the preset gone from the list", lambda: browser.execute_script(names) == [])
    assert json.loads(livegen.user_file.read_text()) == {}
    assert hashlib.sha256(shipped.read_bytes()).hexdigest() == before  # the model's presets untouched
    assert console_errors(browser) == []


def test_the_page_follows_the_daws_clock(livegen, player, browser):
    """MIDI Start and clock at 100 bpm: the page shows the DAW's tempo, and bars from its Start."""
    import threading
    done = threading.Event()

    def clock():  # what a DAW sends while it plays: 24 ticks a beat
        tick = 60 / 100 / 24
        player.send(b"\xfa")
        t0, k = time.monotonic(), 0
        while not done.is_set() and time.monotonic() - t0 < 60:
            player.send(b"\xf8")
            k += 1
            done.wait(max(0.0, t0 + k * tick - time.monotonic()))

    daw = threading.Thread(target=clock)
    daw.start()
    try:
        wait_until("the page says the DAW's clock", lambda: browser.find_element(By.ID, "clock").text == "DAW clock")
        wait_until("the page shows the DAW's tempo",
                   lambda: 98 < float(browser.find_element(By.ID, "bpm").text) < 102)
        state = api_state(livegen)
        assert state["clock"] == "midi" and state["bar"] <= 8  # bars counted from the DAW's Start
    finally:
        done.set()
        daw.join()
    player.send(b"\xfc")  # Stop
    wait_until("the transport stopped", lambda: api_state(livegen)["running"] is False)


def test_bench_live_measures_with_the_page_open_and_the_pad_moving():
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-m", "livegen", "bench", "live", "--voices", "2", "--seconds", "4",
                           "--period", "256", "--page"], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next((x for x in proc.stdout.splitlines() if "its pad moving all the while" in x), None)
    assert line, proc.stdout
    report = json.loads(line.partition(": ")[2])  # the driver's report
    assert report["moves"] > 0 and report["page_errors"] == [] and report["console_errors"] == []
    assert "key to sound" in proc.stdout
