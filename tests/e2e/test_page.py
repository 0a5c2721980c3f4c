"""The review page in a real browser: Debian's Chromium, driven by Playwright, against the
real service (uvicorn in a subprocess), with Chromium's fake camera for the live part.

A screenshot of each page is left in `test-artifacts/` (PAGE_TEST_ARTIFACTS)."""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import connect

from tests.conftest import MODEL_SIZE
from tests.e2e.processes import Service, start_service
from tests.helpers import encode_image, encode_video

CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright's own browser download cannot run here
ARTIFACTS = Path(os.environ.get("PAGE_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts"))
KEY = "page-key"
SHIPPED = Path(__file__).parents[2] / "models" / "distilscreen-student.onnx"
LOOPBACK = ("http://127.0.0.1:", "ws://127.0.0.1:", "blob:", "data:")
WAIT_MS = 60_000
DEVICE_TOLERANCE = 1e-6  # |p_browser - p_service| on the same pixels: measured 4.8e-8 (float), 0 (uint8)


def camera_clip(path: Path) -> Path:
    """A y4m clip for Chromium's fake camera: moving noise, 320x240."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", format="yuv4mpegpipe") as container:
        stream = container.add_stream("rawvideo", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for _ in range(20):
            pixels = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    camera = camera_clip(tmp_path_factory.mktemp("camera") / "camera.y4m")
    # --disable-gpu: no GPU process emulating one in software (Debian's flags ask for GPU
    # rasterisation), so the page draws on the CPU, as the machines without a GPU it is for do
    args = ["--no-sandbox", "--disable-gpu", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={camera}"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        yield browser
        browser.close()


def service_with(env: dict[str, str], model_path: Path, data_dir: Path) -> Iterator[Service]:
    base = {"DISTILSCREEN_MODEL_PATH": str(model_path), "DISTILSCREEN_INTRA_OP_THREADS": "1",
            "DISTILSCREEN_DATA_DIR": str(data_dir)}
    yield from start_service(base | env)


@pytest.fixture(scope="module")
def open_service(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    yield from service_with({}, model_path, tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def shipped_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The shipped student: uint8 NHWC input, its scaling inside the graph."""
    yield from service_with({}, SHIPPED, tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def looking_service(attention_model_path: Path,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A model with an attention output: the page can show where it looks."""
    yield from service_with({}, attention_model_path, tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def keyed_service(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    yield from service_with({"DISTILSCREEN_API_KEYS": KEY}, model_path, tmp_path_factory.mktemp("data"))


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    requested: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda r: requested.append(r.url))
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{request.node.name}.png", full_page=True)
    context.close()
    assert not errors, errors  # no script error, whatever the test did
    # nothing but the service itself (and the page's own blobs): no CDN, no tracker
    outside = [url for url in requested if not url.startswith(LOOPBACK)]
    assert requested and not outside, outside


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return encode_video(tmp_path_factory.mktemp("clips") / "clip.mp4", frames=48, size=(320, 240))


def wait_for_verdict(page: Page) -> None:
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", re.compile(r"^\w+$"), timeout=WAIT_MS)


def upload(page: Page, path: Path, mode: str = "fps", value: str = "4") -> None:
    page.set_input_files("#file", str(path))
    page.select_option("#mode", mode)
    page.fill("#mode-value", value)
    page.click("#screen-button")


def test_an_upload_shows_the_answer_of_the_api(page: Page, open_service: Service, clip: Path) -> None:
    page.goto(open_service.url)
    expect(page.locator("#model-line")).to_contain_text("test-model 1.2.3", timeout=WAIT_MS)
    expect(page.locator("#heatmap")).to_be_disabled()  # no attention output: nothing to show
    upload(page, clip)
    wait_for_verdict(page)
    api = httpx.post(f"{open_service.url}/v1/screen", params={"fps": 4, "max_frames": 600},
                     content=clip.read_bytes(), headers={"content-type": "video/mp4"}, timeout=60).json()
    assert page.locator("#verdict").get_attribute("data-verdict") == api["summary"]["verdict"]
    rows = page.locator("#frames tbody tr")
    shown = [(int(r.get_attribute("data-index")), float(r.get_attribute("data-p"))) for r in rows.all()]
    assert shown == [(f["index"], f["p_synthetic"]) for f in api["frames"]]
    mean = page.locator('#facts td[data-field="mean_p_synthetic"]').inner_text()
    assert mean == f"{api['summary']['mean_p_synthetic']:.3f}"
    assert page.locator('#facts td[data-field="frames_screened"]').inner_text().startswith(
        str(api["video"]["frames_screened"]))
    # the most suspicious frames, cut by the browser from the video itself
    expect(page.locator("#thumbs figure")).to_have_count(min(6, len(api["frames"])), timeout=WAIT_MS)
    worst = max(api["frames"], key=lambda f: f["p_synthetic"])
    assert page.locator("#thumbs figure").first.get_attribute("data-index") == str(worst["index"])


# the fraction of the player's overlay that is not transparent
COVER = """(id) => { const c = document.getElementById(id);
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0; for (let i = 3; i < data.length; i += 4) n += data[i] > 0;
    return n / (c.width * c.height); }"""


def test_the_page_shows_where_the_model_looks(page: Page, looking_service: Service, clip: Path) -> None:
    screened: list[str] = []
    page.on("request", lambda r: screened.append(r.url) if "/v1/screen" in r.url else None)
    page.goto(looking_service.url)
    toggle = page.locator("#heatmap")
    expect(toggle).to_be_enabled(timeout=WAIT_MS)
    expect(page.get_by_label("show where the model looks")).to_be_visible()
    toggle.focus()
    page.keyboard.press("Space")  # the keyboard works it
    expect(toggle).to_be_checked()
    upload(page, clip)
    wait_for_verdict(page)
    assert len(screened) == 1 and "heatmap=true" in screened[0]
    frames = page.locator("#frames tbody tr").count()
    # the thumbnails carry the maps, and the player shows the map of the frame it is at
    shown = page.locator('#thumbs figure[data-heatmap="shown"]')
    expect(shown).to_have_count(min(6, frames), timeout=WAIT_MS)
    expect(page.locator("#heatmap-note")).to_be_visible()
    page.wait_for_function("document.getElementById('video').readyState >= 1", timeout=WAIT_MS)
    page.locator("#thumbs figure button").first.click()
    overlay = page.locator("#overlay")
    expect(overlay).to_have_attribute("data-heatmap", "shown", timeout=WAIT_MS)
    assert page.evaluate(COVER, "overlay") > 0.5  # a frame model's map covers the frame
    toggle.focus()
    page.keyboard.press("Space")  # off: the overlays go at once
    expect(overlay).to_have_attribute("data-heatmap", "")
    assert page.evaluate(COVER, "overlay") == 0
    expect(shown).to_have_count(0)
    assert page.locator("#heatmap-note").is_hidden()


def test_clicking_the_chart_seeks_the_video_to_that_frame(
    page: Page, open_service: Service, clip: Path
) -> None:
    page.goto(open_service.url)
    upload(page, clip)
    wait_for_verdict(page)
    page.wait_for_function("document.getElementById('video').readyState >= 1", timeout=WAIT_MS)
    times = [float(r.get_attribute("data-time")) for r in page.locator("#frames tbody tr").all()]
    page.locator("#chart").scroll_into_view_if_needed()  # the mouse clicks within the viewport only
    plot = page.locator("#chart .u-over").bounding_box()
    assert plot is not None
    page.mouse.move(plot["x"] + plot["width"] * 0.8, plot["y"] + plot["height"] / 2)
    page.mouse.click(plot["x"] + plot["width"] * 0.8, plot["y"] + plot["height"] / 2)
    page.wait_for_function("document.getElementById('video').currentTime > 0", timeout=WAIT_MS)
    now = page.evaluate("document.getElementById('video').currentTime")
    assert any(math.isclose(now, t, abs_tol=2e-3) for t in times), (now, times)  # a screened frame's time
    assert now > times[len(times) // 2]  # to the right of the middle


def test_a_bad_file_shows_the_api_error_and_the_page_goes_on(
    page: Page, open_service: Service, clip: Path, tmp_path: Path
) -> None:
    page.goto(open_service.url)
    bad = tmp_path / "notes.mp4"
    bad.write_bytes(b"this is not a video at all " * 100)
    upload(page, bad)
    expect(page.locator("#status")).to_have_attribute("data-code", "not_a_video", timeout=WAIT_MS)
    expect(page.locator("#status")).to_contain_text("not_a_video: ")
    assert page.locator("#results").is_hidden()
    upload(page, clip)
    wait_for_verdict(page)


def test_the_camera_is_screened_live_and_summarised(page: Page, open_service: Service) -> None:
    page.goto(open_service.url)
    page.click("#live-start")
    page.wait_for_function(
        "Number(document.getElementById('live-status').dataset.answered || 0) >= 5", timeout=WAIT_MS
    )
    page.click("#live-stop")
    expect(page.locator("#live-summary")).to_be_visible(timeout=WAIT_MS)
    screened = page.locator('#live-summary td[data-field="frames_screened"]').inner_text()
    received, frames_screened, bad = (int(n) for n in screened.split(" / "))
    assert frames_screened >= 5 and received == frames_screened and bad == 0


def test_the_camera_shows_where_the_model_looks(page: Page, looking_service: Service) -> None:
    page.goto(looking_service.url)
    expect(page.locator("#heatmap")).to_be_enabled(timeout=WAIT_MS)
    page.check("#heatmap")
    page.click("#live-start")
    page.wait_for_function(
        "Number(document.getElementById('live-status').dataset.answered || 0) >= 3", timeout=WAIT_MS
    )
    overlay = page.locator("#live-overlay")
    expect(overlay).to_have_attribute("data-heatmap", "shown")
    assert page.evaluate(COVER, "live-overlay") > 0.5  # a frame model's map covers the camera's picture
    page.click("#live-stop")
    expect(page.locator("#live-summary")).to_be_visible(timeout=WAIT_MS)
    expect(overlay).to_have_attribute("data-heatmap", "")


def test_the_key_is_asked_for_once_and_used_for_uploads_and_the_camera(
    page: Page, keyed_service: Service, clip: Path
) -> None:
    page.goto(keyed_service.url)
    expect(page.locator("#key-section")).to_be_visible(timeout=WAIT_MS)
    page.fill("#api-key", KEY)
    page.click("#key-form button")
    expect(page.locator("#model-line")).to_contain_text("test-model", timeout=WAIT_MS)
    assert page.locator("#key-section").is_hidden()
    upload(page, clip)
    wait_for_verdict(page)
    page.click("#live-start")  # the key goes as a WebSocket subprotocol
    page.wait_for_function(
        "Number(document.getElementById('live-status').dataset.answered || 0) >= 2", timeout=WAIT_MS
    )
    page.click("#live-stop")
    expect(page.locator("#live-summary")).to_be_visible(timeout=WAIT_MS)
    assert page.evaluate("sessionStorage.getItem('distilscreen.key')") == KEY


def png_at(pixels: np.ndarray) -> bytes:
    return encode_image(pixels, "png")


def test_on_this_device_a_clip_gets_the_verdict_of_the_service(
    page: Page, open_service: Service, clip: Path
) -> None:
    page.goto(open_service.url)
    expect(page.locator("#model-line")).to_contain_text("test-model", timeout=WAIT_MS)
    page.check("#where-device")
    upload(page, clip)
    wait_for_verdict(page)
    expect(page.locator("#mode-line")).to_contain_text("on this device")
    api = httpx.post(f"{open_service.url}/v1/screen", params={"fps": 4, "max_frames": 600},
                     content=clip.read_bytes(), headers={"content-type": "video/mp4"}, timeout=60).json()
    assert page.locator("#verdict").get_attribute("data-verdict") == api["summary"]["verdict"]
    rows = page.locator("#frames tbody tr").all()
    assert len(rows) == len(api["frames"])  # the same sampling: 4 a second over the clip
    for row, frame in zip(rows, api["frames"], strict=True):
        assert math.isclose(float(row.get_attribute("data-time")), frame["time_s"], abs_tol=0.03)


@pytest.mark.parametrize(("model", "size"), [("open_service", MODEL_SIZE), ("shipped_service", 160)],
                         ids=["float-nchw", "shipped-uint8-nhwc"])
def test_still_frames_score_the_same_on_this_device_and_on_the_service(
    page: Page, model: str, size: int, request: pytest.FixtureRequest
) -> None:
    """Images at the model's input size, so that no decoder or scaler stands between: the
    browser's ONNX Runtime Web and the service's ONNX Runtime give the same p_synthetic,
    for a float NCHW input normalised by the page and a uint8 NHWC one (the graph's)."""
    service: Service = request.getfixturevalue(model)
    rng = np.random.default_rng(1)
    stills = [png_at(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(8)]
    served = stream_images(service.url, stills)
    page.goto(service.url)
    expect(page.locator("#model-line")).to_contain_text(" on ", timeout=WAIT_MS)
    # started, then awaited with a time limit that Playwright keeps (an evaluate has none)
    page.evaluate(
        """(images) => { window.distilscreen.scoreImages(
               images.map((b64) => new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))],
                                            {type: "image/png"}))).then((s) => { window.scored = s; }); }""",
        [base64.b64encode(still).decode() for still in stills],
    )
    device = page.wait_for_function("window.scored", timeout=WAIT_MS).json_value()
    np.testing.assert_allclose(device, served, atol=DEVICE_TOLERANCE)


def stream_images(url: str, images: list[bytes]) -> list[float]:
    """The service's p_synthetic of each image, over the WebSocket (kind images); each answer
    must come within WAIT_MS."""
    answers = []
    with connect(url.replace("http", "ws", 1) + "/v1/stream") as ws:
        ws.send(json.dumps({"type": "config", "kind": "images"}))
        for image in images:
            ws.send(image)
        ws.send(json.dumps({"type": "end"}))
        with contextlib.suppress(ConnectionClosedOK):  # the service closes after the summary
            while True:
                answers.append(json.loads(ws.recv(timeout=WAIT_MS / 1000)))
    return [a["p_synthetic"] for a in answers if a["type"] == "frame"]
