"""Sampling videos into searchable frames with PyAV.

One frame every `interval` seconds, the interval stretched so that no video yields more than `max_frames`
(a 10-second clip gives 5 frames, a 2-hour film 240 + up to 60 scene changes), plus a frame after each scene change
found between samples.
Far-apart samples are reached by seeking to the nearest keyframe (cheap: no decoding of the frames in between);
near ones by decoding on, which is what short clips and sparse-keyframe files need anyway.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .reasons import MediaError, explain

if TYPE_CHECKING:
    import av  # imported where a video is opened: a run with no video, a search, does not load FFmpeg (70 ms)

log = logging.getLogger(__name__)

SIGNATURE_SIZE = 16     # a 16x16 grey thumbnail is enough to tell one shot from the next
SEEK_BEYOND = 0.5       # seconds: a target further ahead is reached by seeking to a keyframe, not by decoding on
SEEK_BEYOND_SPARSE = 8.0  # the same when keyframes turned out sparser than the samples (seeks land behind)
MIN_SCENE_GAP = 1.0     # seconds between a scene-change frame and its neighbours
SCENE_BUDGET = 0.2      # share of max_frames kept for scene changes when a long video stretches the interval


@dataclass
class SampledFrame:
    timestamp: float
    image: Image.Image
    scene_change: bool = False
    signature: np.ndarray | None = field(default=None, repr=False)
    rotation: int = 0            # degrees the decoded frame was turned to stand upright
    model_input: object = field(default=None, repr=False)  # the image tower's input, made from the full frame


@dataclass
class SampledVideo:
    width: int
    height: int
    duration: float
    captured_at: str | None
    frames: list[SampledFrame]


def planned_frames(path: str, interval: float = 2.0, max_frames: int = 300) -> tuple[float, int]:
    """(duration in seconds, regular samples `sample_video` will take) from the container's header alone (a few
    ms, nothing decoded): what a progress bar counts a video as before it is indexed. (0, 1) if unknown."""
    import av

    try:
        with av.open(path) as container:
            if not container.streams.video:
                return 0.0, 1
            duration = _duration(container, container.streams.video[0])
    except Exception:  # the index itself says what is wrong with the file
        return 0.0, 1
    if duration <= 0:
        return 0.0, 1
    regular = max(1, int(max_frames * (1 - SCENE_BUDGET)))
    step = max(interval, duration / regular)
    return duration, max(1, min(regular, int(max(duration - 0.05, 0.0) / step) + 1))


def sample_video(path: str, interval: float = 2.0, max_frames: int = 300, scene_threshold: float = 0.12,
                 min_side: int = 256, detail_side: int | None = None,
                 on_frame: Callable[[float, Image.Image], None] | None = None,
                 model_input: Callable[[Image.Image], object] | None = None,
                 on_sample: Callable[[SampledFrame], None] | None = None) -> SampledVideo:
    """Sample `path`. With `on_frame`, each frame that is kept is also shown to it at up to `detail_side` pixels
    (face detection) before being reduced to `min_side`: no long video keeps hundreds of large frames, and no
    face is looked for in a frame that is then dropped. With `model_input`, each frame's model input is made from
    the full frame (one resize, as open_clip would). `on_sample(frame)` is given each frame as it is kept (its
    model input can go to the image tower while the video is still decoded; progress within a long video)."""
    import av

    try:
        container = av.open(path)
    except (FileNotFoundError, PermissionError):
        raise  # not the file's fault: the caller says "vanished" or "no permission"
    except (av.FFmpegError, OSError, ValueError) as e:
        raise MediaError(*explain(e, path, "video")) from e
    with container:
        if not container.streams.video:
            if container.streams.audio:
                raise MediaError("sound only: the file has no video stream")
            raise MediaError("no picture: the file has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        duration = _duration(container, stream)
        sampler = _Sampler(container, stream, min_side, detail_side, on_frame, model_input, on_sample)
        try:
            frames = sampler.sample(duration, interval, max_frames, scene_threshold)
        except av.FFmpegError as e:
            if not sampler.frames:
                raise MediaError("damaged video (no frame of it could be decoded)", str(e)) from e
            log.info("%s: damaged after %d frames (%s); keeping those", path, len(sampler.frames), e)
            frames = sampler.frames  # a damaged tail: keep what decoded
        if not frames:
            raise MediaError("damaged video (no frame of it could be decoded)")
        cc = stream.codec_context
        width, height = cc.width, cc.height
        if abs(frames[0].rotation) in (90, 270):
            width, height = height, width
        if duration <= 0:
            duration = frames[-1].timestamp
        return SampledVideo(width, height, duration, _creation_time(container), frames)


class _Sampler:
    def __init__(self, container, stream, min_side: int, detail_side: int | None = None, on_frame=None,
                 model_input=None, on_sample: Callable[[SampledFrame], None] | None = None):
        self.container, self.stream, self.min_side = container, stream, min_side
        self.detail_side, self.on_frame, self.model_input = detail_side, on_frame, model_input
        self.on_sample = on_sample
        self.frames: list[SampledFrame] = []
        self._decoder: Iterator[av.VideoFrame] | None = None  # decoding on from the last seek
        self._pos = -1.0  # time of the last decoded frame
        self._sparse_keyframes = False

    def sample(self, duration: float, interval: float, max_frames: int, scene_threshold: float):
        if duration <= 0:  # unknown length (broken index, live capture): decode on and sample by time
            return self._sample_sequential(interval, max_frames)
        regular = max(1, int(max_frames * (1 - SCENE_BUDGET)))
        step = max(interval, duration / regular)
        targets = list(np.arange(0.0, max(duration - 0.05, 0.0) + 1e-9, step)) or [0.0]
        targets = targets[:regular]
        for t in targets:
            last = self.frames[-1].timestamp if self.frames else float("-inf")
            if last + 1e-3 >= t:  # a low frame rate: the frame kept last already stands for this time (seeking
                continue          # back to its keyframe would only find it again)

            def after_last(at: float, last: float = last) -> bool:
                return round(at, 3) > last

            frame = self._frame_at(float(t), step, accept=after_last)
            if frame is not None:
                self._keep(frame)
        self._add_scene_changes(max_frames, scene_threshold)
        return self.frames

    def _sample_sequential(self, interval: float, max_frames: int):
        next_t = 0.0
        for frame in self.container.decode(self.stream):
            t = _frame_time(frame)
            if t is not None and t + 1e-6 >= next_t:
                self._keep(self._convert(frame, t))
                next_t = t + interval
                if len(self.frames) >= max_frames:
                    break
        return self.frames

    def _keep(self, frame: SampledFrame) -> None:
        self.frames.append(frame)
        if self.on_sample is not None:
            self.on_sample(frame)

    def _frame_at(self, target: float, step: float, accept: Callable[[float], bool] | None = None
                  ) -> SampledFrame | None:
        """The frame for `target`, converted (and shown to `on_frame`) only if `accept(its time)`: a frame that
        would be dropped costs its decode, never its conversion or its faces."""
        seek_beyond = SEEK_BEYOND_SPARSE if self._sparse_keyframes else SEEK_BEYOND
        if self._decoder is None or target - self._pos > seek_beyond or target < self._pos:
            self.container.seek(int(target / self.stream.time_base), stream=self.stream, backward=True)
            self._decoder = self.container.decode(self.stream)
            first = True
        else:
            first = False
        last_sampled = self.frames[-1].timestamp if self.frames else float("-inf")
        for frame in self._decoder:
            t = _frame_time(frame)
            if t is None:
                continue
            self._pos = t
            # The keyframe a seek lands on is the sample if it is new; otherwise decode on to the target.
            if (first and t > last_sampled + step / 2) or t + 1e-3 >= target:
                return self._convert(frame, t) if accept is None or accept(t) else None
            if first and t <= last_sampled:
                self._sparse_keyframes = True  # seeking lands behind the last sample: decoding on is cheaper
            first = False
        return None

    def _add_scene_changes(self, max_frames: int, threshold: float) -> None:
        """Between two samples that look different, the midpoint (a keyframe near it) is sampled too."""
        base = list(self.frames)
        extra: list[SampledFrame] = []
        for a, b in zip(base, base[1:]):
            if len(base) + len(extra) >= max_frames:
                break
            if b.timestamp - a.timestamp < 2 * MIN_SCENE_GAP:
                continue
            if _difference(a.signature, b.signature) > threshold:
                mid = (a.timestamp + b.timestamp) / 2
                self._pos = float("inf")  # force a seek
                lo, hi = a.timestamp + MIN_SCENE_GAP, b.timestamp - MIN_SCENE_GAP

                def between(at: float, lo: float = lo, hi: float = hi) -> bool:
                    return lo <= round(at, 3) <= hi

                frame = self._frame_at(mid, b.timestamp - a.timestamp, accept=between)
                if frame:
                    frame.scene_change = True
                    extra.append(frame)
                    if self.on_sample is not None:
                        self.on_sample(frame)
        self.frames = sorted(base + extra, key=lambda f: f.timestamp)

    def _convert(self, frame: av.VideoFrame, t: float) -> SampledFrame:
        if self.model_input is not None:
            return self._convert_full(frame, t)
        return self._shrink(frame, t, None)

    def _convert_full(self, frame: av.VideoFrame, t: float) -> SampledFrame:
        """The model input from the frame at full size (one resize, as open_clip makes it; transient: a 4K frame is
        25 MB while it lasts), then the smaller copies as without one."""
        full = _upright(frame.to_image(), _rotation(frame))
        model_input = self.model_input(full)
        del full
        return self._shrink(frame, t, model_input)

    def _shrink(self, frame: av.VideoFrame, t: float, model_input) -> SampledFrame:
        """The face detail (shown to on_frame) and the small image, made by swscale while converting from YUV
        (bicubic, as Pillow shrinks photos: 5 ms for a 720p frame's two where resizing the full RGB frame took 13;
        a 4K frame never exists as a full-size RGB image for them). With or without a model input, the same faces."""
        rotation = _rotation(frame)
        if self.on_frame is not None:
            self.on_frame(round(t, 3), _upright(_shrunk(frame, self.detail_side, longest=True), rotation))
        image = _upright(_shrunk(frame, self.min_side, longest=False), rotation)
        grey = np.asarray(image.convert("L").resize((SIGNATURE_SIZE, SIGNATURE_SIZE)), dtype=np.float32) / 255.0
        return SampledFrame(round(t, 3), image, signature=grey, rotation=rotation, model_input=model_input)


def _rotation(frame: av.VideoFrame) -> int:
    return int(getattr(frame, "rotation", 0) or 0)


def _shrunk(frame: av.VideoFrame, side: int | None, longest: bool) -> Image.Image:
    """The frame as RGB with its longest (or shortest) side at most `side` px, scaled while converting."""
    w, h = frame.width, frame.height
    k = 1.0 if not side else min(1.0, side / max(1, max(w, h) if longest else min(w, h)))
    if k >= 1.0:
        return frame.to_image()
    return frame.to_image(width=max(1, round(w * k)), height=max(1, round(h * k)), interpolation="BICUBIC")


def _upright(image: Image.Image, rotation: int) -> Image.Image:
    return image.rotate(rotation, expand=True) if rotation else image


def _difference(a: np.ndarray | None, b: np.ndarray | None) -> float:
    if a is None or b is None:
        return 0.0
    return float(np.abs(a - b).mean())


def _frame_time(frame) -> float | None:
    if frame.time is not None:
        return max(0.0, float(frame.time))
    return None


def _duration(container, stream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        from av import time_base

        return container.duration / time_base
    return 0.0


def _creation_time(container) -> str | None:
    value = container.metadata.get("creation_time")
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.year < 1971:  # cameras without a clock write 1970 or 1904
        return None
    return parsed.isoformat()
