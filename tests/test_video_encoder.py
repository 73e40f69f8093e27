"""VideoEncoder: frames at irregular times onto a constant-rate timeline, each shown where it
belongs, decoded back with PyAV."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from PIL import Image

from screenshotd.imaging.video import VideoEncoder


def jpeg(level: int, size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (level, level, level)).save(out, "JPEG", quality=95)
    return out.getvalue()


def levels(data: bytes) -> list[int]:
    with av.open(io.BytesIO(data)) as container:
        return [int(np.median(frame.to_ndarray(format="gray")))
                for frame in container.decode(video=0)]


@pytest.mark.parametrize("fmt", ["mp4", "webm"])
def test_every_frame_is_the_one_drawn_by_its_time_and_none_is_overwritten(fmt):
    """60 distinct frames, one a tick: each decoded frame is its own (an encoder that kept
    a reference to a reused buffer would show later frames early)."""
    encoder = VideoEncoder(fmt, 64, 48, 10, 60)
    for index in range(60):
        encoder.add(index / 10, jpeg(index * 4))
    data = encoder.finish()
    got = levels(data)
    assert len(got) == 60
    assert all(abs(level - index * 4) <= 6 for index, level in enumerate(got)), got
    with av.open(io.BytesIO(data)) as container:  # JPEG frames are all key frames; the video's
        keys = sum(packet.is_keyframe for packet in container.demux(video=0))  # are not
    assert keys <= 2, keys


def test_irregular_frames_fill_the_timeline():
    """A frame holds until the next; the first stands for the ticks before it; one replaced
    before its tick is never shown; the last holds to the end."""
    encoder = VideoEncoder("mp4", 64, 48, 10, 20)
    encoder.add(0.25, jpeg(40))   # ticks 0-4 (the first frame also fills 0-2)
    encoder.add(0.5, jpeg(250))   # replaced before tick 6
    encoder.add(0.55, jpeg(120))  # ticks 6-11
    encoder.add(1.2, jpeg(200))   # ticks 12-19
    encoder.add(5.0, jpeg(0))     # past the end: not shown
    got = levels(encoder.finish())
    expected = [40] * 5 + [250] + [120] * 6 + [200] * 8
    assert len(got) == 20
    assert all(abs(a - b) <= 6 for a, b in zip(got, expected, strict=True)), got
    assert encoder.received == 5


def test_an_odd_sized_frame_is_fitted_and_the_file_is_removed():
    encoder = VideoEncoder("mp4", 64, 48, 5, 5)
    encoder.add(0, jpeg(100, (65, 49)))
    path = encoder._path
    data = encoder.finish()
    with av.open(io.BytesIO(data)) as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == (64, 48)
    import os
    assert not os.path.exists(path)
