"""The overlay as a viewer sees it: text read back from the frames with OCR, pixels compared."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import cv2
import numpy as np
import pytest

from firmware import config as configuration
from firmware.session import make_overlay
from firmware.version import BUILD_DATE
from overlay import OverlayError
from overlay.burn import Overlay, OverlaySettings, _enclosed_filled
from overlay.font import GlyphCache, find_font
from overlay.status import OverlayStatus
from tests.ocr import TIME_CHARACTERS, letters, read_lines

WIDTH, HEIGHT = 1920, 1080
IDENTITY = {"device": "BC00042", "police_number": "012345", "officer": "张三丰",
            "unit_number": "110105000000", "unit": "朝阳分局执法大队"}
WALL_NS = 1_795_423_906_750_000_000  # a frame captured 0.75 s into a second
BEIJING = timezone(timedelta(hours=8))


def make(pixel_format: str = "bgr", status: OverlayStatus | None = None, width: int = WIDTH, height: int = HEIGHT,
         **settings) -> Overlay:
    settings = {"utc_offset": "+08:00", "identity": IDENTITY, **settings}
    return Overlay(width, height, OverlaySettings(**settings), status, pixel_format)


def grey(pixel_format: str, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A mid-grey picture (the same one in both formats)."""
    bgr = np.full((height, width, 3), 110, np.uint8)
    return bgr if pixel_format == "bgr" else cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)


def luma(image: np.ndarray) -> np.ndarray:
    """The video-range luma plane of an I420 or BGR picture."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)
    return image[:image.shape[0] * 2 // 3]


def drawn(overlay: Overlay, wall_ns: int = WALL_NS) -> np.ndarray:
    image = grey(overlay.pixel_format, overlay.width, overlay.height)
    overlay.draw(image, wall_ns)
    return image


def read(overlay: Overlay, image: np.ndarray, field: str, whitelist: str | None = None) -> str:
    return read_lines([letters(luma(image), overlay.boxes()[field])], whitelist)[0]


def test_time_is_the_frames_capture_second_in_the_configured_offset():
    overlay = make()
    text = read(overlay, drawn(overlay), "time", TIME_CHARACTERS)
    assert text == datetime.fromtimestamp(WALL_NS // 10**9, BEIJING).isoformat() == "2026-11-23T16:51:46+08:00"
    # The drawing moment does not matter: a frame captured a minute later shows a minute later.
    later = read(overlay, drawn(overlay, WALL_NS + 60 * 10**9), "time", TIME_CHARACTERS)
    assert later == "2026-11-23T16:52:46+08:00"
    assert make(time_format="%Y/%m/%d %H:%M:%S %z").format_time(WALL_NS // 10**9) == "2026/11/23 16:51:46 +0800"
    assert make(utc_offset="-05:30").format_time(WALL_NS // 10**9) == "2026-11-23T03:21:46-05:30"


def test_an_unverified_clock_keeps_the_time_and_marks_it():
    status = OverlayStatus(clock_trusted=False)
    overlay = make(status=status, unverified_mark="UNVERIFIED")
    image = drawn(overlay)
    assert read(overlay, image, "time", TIME_CHARACTERS) == "2026-11-23T16:51:46+08:00"
    assert read(overlay, image, "unverified") == "UNVERIFIED"
    assert "clock" not in overlay.boxes()
    # The time and its mark on one line, the mark after the time.
    time_box, mark_box = overlay.boxes()["time"], overlay.boxes()["unverified"]
    assert time_box[1] == mark_box[1] and mark_box[0] > time_box[0] + time_box[2]
    status.update(clock_trusted=True)
    image = drawn(overlay)
    assert "unverified" not in overlay.boxes()
    assert read(overlay, image, "time", TIME_CHARACTERS) == "2026-11-23T16:51:46+08:00"


def test_the_default_mark_is_chinese_and_english():
    overlay = make(status=OverlayStatus(clock_trusted=False))
    assert overlay.settings.unverified_mark == "时间未校准 / UNVERIFIED"
    assert overlay.glyphs.missing(overlay.settings.unverified_mark) == ""
    image = drawn(overlay)
    x, y, width, height = overlay.boxes()["unverified"]
    assert (np.abs(luma(image)[y:y + height, x:x + width].astype(int) - 110) > 60).mean() > 0.1
    with pytest.raises(OverlayError, match="unverified-clock mark"):
        make(unverified_mark="\ue000")


def test_only_a_time_before_the_build_date_shows_clock_not_set():
    build = WALL_NS // 10**9 + 1  # the frame was captured one second before the firmware was built
    for trusted in (True, False):
        overlay = make(status=OverlayStatus(clock_trusted=trusted), not_before=build)
        image = drawn(overlay)
        assert "time" not in overlay.boxes() and "unverified" not in overlay.boxes()
        assert read(overlay, image, "clock") == "CLOCK NOT SET"
        # A frame captured at the build second, trusted or not, shows its time.
        image = drawn(overlay, build * 10**9)
        assert "clock" not in overlay.boxes()
        assert read(overlay, image, "time", TIME_CHARACTERS) == "2026-11-23T16:51:47+08:00"
        assert ("unverified" in overlay.boxes()) is not trusted


def test_location_is_no_gps_without_a_fix_and_the_position_with_one():
    status = OverlayStatus()
    overlay = make(status=status)
    assert read(overlay, drawn(overlay), "location") == "NO GPS"
    status.update(location=(39.9042, -116.4074))
    assert read(overlay, drawn(overlay), "location") == "39.90420N 116.40740W"
    status.update(location=None)
    assert read(overlay, drawn(overlay), "location") == "NO GPS"
    with pytest.raises(ValueError, match="location"):
        status.update(location=(91.0, 0.0))


def test_case_number_and_recording_marker_come_and_go():
    status = OverlayStatus(recording=False)
    overlay = make(status=status)
    image = drawn(overlay)
    assert "case" not in overlay.boxes() and "recording" not in overlay.boxes()
    status.update(case_number="2026-000123", recording=True)
    image = drawn(overlay)
    assert read(overlay, image, "case") == "CASE 2026-000123"
    x, y, w, h = overlay.boxes()["recording"]
    marker = image[y:y + h, x:x + w].astype(int)
    # The marker is red: red well above green and blue where it is drawn.
    assert ((marker[..., 2] - marker[..., 1] > 100) & (marker[..., 2] - marker[..., 0] > 100)).sum() > h * h // 4


def test_identity_lines_read_back():
    overlay = make()
    image = drawn(overlay)
    assert read(overlay, image, "device") == "BC00042"
    assert read(overlay, image, "police_number", "0123456789") == "012345"
    assert read(overlay, image, "unit_number", "0123456789") == "110105000000"


def test_no_scene_shows_inside_the_outline_of_the_time():
    """Where the outlines of neighbouring letters close round a bit of the picture (between 1 and
    3, inside the 2's curve), a bright scene would show there as a white speck ringed in black:
    part of a letter, to a reader. Every pixel of the scene round the time must be reachable from
    the edge of its box without crossing what the overlay drew."""
    overlay = make("i420")
    for hour in range(24):
        wall_ns = WALL_NS + hour * 3600 * 10**9
        on_black, on_white = (np.full((HEIGHT * 3 // 2, WIDTH), value, np.uint8) for value in (0, 255))
        for image in (on_black, on_white):
            overlay.draw(image, wall_ns)
        x, y, width, height = overlay.boxes()["time"]
        scene = (on_black[y:y + height, x:x + width] != on_white[y:y + height, x:x + width]).astype(np.uint8)
        count, _ = cv2.connectedComponents(cv2.copyMakeBorder(scene, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=1),
                                           connectivity=4)
        assert count == 2, f"{count - 2} bits of scene enclosed in {overlay.format_time(wall_ns // 10**9)}"



def test_the_enclosed_scene_is_what_a_flood_fill_from_the_edge_leaves():
    """The fill (NumPy, so recording loads no OpenCV) against OpenCV's flood fill, on the clock's
    line at every hour and on random blobs."""
    def reference(drawn: np.ndarray) -> np.ndarray:
        bridge = np.ones((3, 3), np.uint8)
        outside = cv2.copyMakeBorder(1 - cv2.dilate(drawn.astype(np.uint8), bridge), 1, 1, 1, 1,
                                     cv2.BORDER_CONSTANT, value=1)
        cv2.floodFill(outside, None, (0, 0), 2, flags=4)
        return drawn | (cv2.dilate((outside[1:-1, 1:-1] == 2).astype(np.uint8), bridge) == 0)

    overlay = make("i420")
    outlines = []
    for hour in range(24):
        overlay.draw(grey("i420"), WALL_NS + hour * 3600 * 10**9)
        outlines.append(overlay._lines[0].outline >= 128)
    rng = np.random.default_rng(14)
    outlines += [rng.random((h, w)) < density for h, w, density in ((48, 542, 0.2), (7, 5, 0.3), (1, 9, 0.1))]
    for drawn in outlines:
        assert np.array_equal(_enclosed_filled(drawn), reference(drawn))
    assert overlay._lines[0].mask.sum() > (overlay._lines[0].outline >= 128).sum()  # something was enclosed


@pytest.mark.parametrize("width, height", [(1920, 1080), (1000, 562), (854, 480), (70, 42)])
@pytest.mark.parametrize("pixel_format", ["i420", "bgr"])
def test_the_overlay_draws_the_same_bytes_on_any_picture_and_leaves_the_rest(pixel_format, width, height):
    """Frames of any size (rows that start at odd bytes, an overlay clipped by the frame's corner)."""
    overlay = make(pixel_format, width=width, height=height, position="bottom-right", size=10.0)
    shape = (height * 3 // 2, width) if pixel_format == "i420" else (height, width, 3)
    black, white = np.zeros(shape, np.uint8), np.full(shape, 255, np.uint8)
    scene = np.random.default_rng(width).integers(0, 256, shape, np.uint8)
    for image in (black, white, scene):
        overlay.draw(image, WALL_NS)
    drawn = black == white
    assert drawn.any() and np.all(drawn | (black == 0) & (white == 255))
    assert np.array_equal(scene, np.where(drawn, black, np.random.default_rng(width).integers(0, 256, shape, np.uint8)))

def test_the_time_reads_back_on_a_white_picture_at_every_hour():
    overlay = make("i420")
    images, expected = [], []
    for hour in range(24):
        wall_ns = WALL_NS + hour * 3600 * 10**9
        image = cv2.cvtColor(np.full((HEIGHT, WIDTH, 3), 255, np.uint8), cv2.COLOR_BGR2YUV_I420)
        overlay.draw(image, wall_ns)
        images.append(letters(luma(image), overlay.boxes()["time"]))
        expected.append(datetime.fromtimestamp(wall_ns // 10**9, BEIJING).isoformat())
    assert read_lines(images, TIME_CHARACTERS) == expected


def test_chinese_officer_name_is_drawn_with_real_glyphs():
    overlay = make()
    name = IDENTITY["officer"]
    cells = _character_cells(overlay, drawn(overlay), "officer", len(name))
    for cell in cells:
        assert (np.abs(cell.astype(int) - cell[0, 0]) > 60).mean() > 0.1, "a character left blank"
    for a in range(len(cells)):
        for b in range(a + 1, len(cells)):
            assert _differ(cells[a], cells[b]), "two different characters drawn alike (boxes?)"
    # Not question marks, half or full width, drawn in their place.
    for stand_in in ("?", "？"):
        other = make(identity={**IDENTITY, "officer": stand_in * len(name)})
        for mine, theirs in zip(cells, _character_cells(other, drawn(other), "officer", len(name))):
            assert _differ(mine, theirs)
    # Not the font's missing-glyph box (.notdef): the font has every character of the identity.
    glyphs = overlay.glyphs
    box = glyphs.glyph("\U0010FFFF").fill
    assert all(_differ(glyphs.glyph(char).fill, box) for char in name)
    assert glyphs.missing(name + IDENTITY["unit"]) == "" and glyphs.missing("\U0010FFFF") == "\U0010FFFF"


def test_a_name_the_font_cannot_draw_is_refused_before_recording():
    with pytest.raises(OverlayError, match="officer"):
        make(identity={**IDENTITY, "officer": "张\ue000"})


def test_i420_and_bgr_frames_show_the_same_text():
    status = OverlayStatus(location=(31.2304, 121.4737), case_number="A-7")
    on_i420, on_bgr = make("i420", status), make("bgr", status)
    i420, bgr = drawn(on_i420), drawn(on_bgr)
    assert on_i420.boxes() == on_bgr.boxes()
    assert np.abs(luma(i420).astype(int) - luma(bgr).astype(int)).max() <= 2
    # Seen through the same I420 round trip, colours agree but at a few letter edges (halved chroma).
    seen = cv2.cvtColor(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420), cv2.COLOR_YUV2BGR_I420)
    differ = np.abs(cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420).astype(int) - seen.astype(int)).max(axis=2) > 8
    assert differ.mean() < 0.001
    for field in ("time", "police_number", "case"):
        assert read(on_i420, i420, field) == read(on_bgr, bgr, field)


def test_redrawing_only_what_changed_gives_the_same_picture_as_drawing_anew():
    changes = {5: {"location": (39.9042, 116.4074)}, 9: {"case_number": "2026-000123"},
               14: {"clock_trusted": False}, 16: {"clock_trusted": True}, 20: {"case_number": None},
               23: {"recording": False}}
    for pixel_format in ("i420", "bgr"):
        status = OverlayStatus()
        overlay = make(pixel_format, status)
        for frame in range(26 * 30):
            status.update(**changes.get(frame // 30, {}))
            # 30 fps, and an hour later every 200 frames: the hour digits change too.
            wall_ns = WALL_NS + frame * 10**9 // 30 + frame // 200 * 3600 * 10**9
            image = grey(pixel_format)
            overlay.draw(image, wall_ns)
        fresh = make(pixel_format, OverlayStatus(**vars(status.current)))
        again = grey(pixel_format)
        fresh.draw(again, wall_ns)
        assert np.array_equal(image, again)
        assert overlay.boxes() == fresh.boxes()


@pytest.mark.parametrize("position", ["top-left", "top-right", "bottom-left", "bottom-right"])
def test_each_position_puts_the_text_in_its_corner(position):
    overlay = make(position=position)
    changed = np.argwhere(np.any(drawn(overlay) != grey("bgr"), axis=2))
    (top, left), (bottom, right) = changed.min(axis=0), changed.max(axis=0)
    margin = 2 * overlay.glyphs.height
    if position.startswith("top"):
        assert top < margin and bottom < HEIGHT // 2
    else:
        assert bottom > HEIGHT - margin and top > HEIGHT // 2
    if position.endswith("left"):
        assert left < margin and right < WIDTH // 2
    else:
        assert right > WIDTH - margin and left > WIDTH // 2


def test_a_small_frame_clips_a_large_overlay():
    overlay = make("i420", width=320, height=240, size=10.0)
    image = grey("i420", 320, 240)
    overlay.draw(image, WALL_NS)
    assert image.shape == (360, 320)
    assert (image != grey("i420", 320, 240)).any()


def test_the_configuration_switches_and_shapes_the_overlay(tmp_path):
    config = configuration.load()
    assert config["overlay"]["time_format"] == "%Y-%m-%dT%H:%M:%S%:z"
    assert make_overlay(config.with_overrides({"overlay": {"enabled": False}}), IDENTITY) is None
    overlay = make_overlay(config.with_overrides({"overlay": {"position": "bottom-right", "size": 4}}), IDENTITY)
    assert overlay.settings.position == "bottom-right" and overlay.glyphs.font.size == round(1080 * 0.04)
    # A time before the firmware's build is the one the overlay refuses to show.
    assert datetime.fromtimestamp(overlay.settings.not_before, timezone.utc).date().isoformat() == BUILD_DATE
    marked = make_overlay(config.with_overrides({"overlay": {"unverified_text": "未校准"}}), IDENTITY)
    assert marked.settings.unverified_mark == "未校准"


@pytest.mark.parametrize("text, key, words", [
    ('position = "middle"', "overlay.position", "one of top-left"),
    ("size = 0.5", "overlay.size", "from 1 to 10"),
    ('size = "3"', "overlay.size", "must be a number"),
    ('time_format = "%H:%M"', "overlay.time_format", "seconds"),
    ('time_format = "%H:%M:%S"', "overlay.time_format", "UTC offset"),
    ('utc_offset = "+8"', "overlay.utc_offset", "+HH:MM"),
    ('enabled = "yes"', "overlay.enabled", "true or false"),
    ('unverified_text = ""', "overlay.unverified_text", "1 to 32 characters"),
])
def test_bad_overlay_settings_are_refused_naming_the_key(tmp_path, text, key, words):
    path = tmp_path / "bodycam.toml"
    path.write_text(f"[overlay]\n{text}\n", encoding="utf-8")
    with pytest.raises(configuration.ConfigError, match=re.escape(f"'{key}'") + ".*" + re.escape(words)):
        configuration.load(path)


def test_a_missing_font_file_is_refused():
    with pytest.raises(OverlayError, match="does not exist"):
        find_font("/nonexistent/font.ttf")
    path, index = find_font()
    assert GlyphCache(path, index, 16).missing("张三") == ""


def _character_cells(overlay: Overlay, image: np.ndarray, field: str, count: int) -> list[np.ndarray]:
    x, y, w, h = overlay.boxes()[field]
    pad = overlay.glyphs.pad // 2
    region = luma(image)[y:y + h, x + pad:x + w - pad]
    return np.array_split(region, count, axis=1)


def _differ(a: np.ndarray, b: np.ndarray) -> bool:
    """Two pictures (cut to the narrower one's width) differ in at least a tenth of their pixels."""
    width = min(a.shape[1], b.shape[1])
    return (np.abs(a[:, :width].astype(int) - b[:, :width].astype(int)) > 60).mean() > 0.1
