"""Clip timepoints of pytorchvideo's ConstantClipsPerVideoSampler, as imagebind/data.py's
get_clip_timepoints drives it, for both clip-start rules → Tests/Fixtures/references/clip-sampler.json.

Run with tools/.venv-audio/bin/python (pytorchvideo 0.1.5, NExT-GPT's pin). The sampler module is
loaded from its file: pytorchvideo's package __init__ pulls in video decoders it does not need.
"""
import importlib.util
import json
import math
from fractions import Fraction
from pathlib import Path

import pytorchvideo

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location(
    "clip_sampling", Path(pytorchvideo.__file__).parent / "data" / "clip_sampling.py")
clip_sampling = importlib.util.module_from_spec(spec)
spec.loader.exec_module(clip_sampling)
assert pytorchvideo.__version__ == "0.1.5", pytorchvideo.__version__


class MainRuleSampler(clip_sampling.ConstantClipsPerVideoSampler):
    """pytorchvideo after commit 9368f30 (the revision ImageBind pins): the one changed line is the
    start spacing, max_possible_clip_start / max(clips_per_video - 1, 1)."""

    def __call__(self, last_clip_time, video_duration, annotation):
        max_possible_clip_start = Fraction(max(video_duration - self._clip_duration, 0))
        uniform_clip = Fraction(max_possible_clip_start, max(self._clips_per_video - 1, 1))
        clip_start_sec = uniform_clip * self._current_clip_index
        clip_index, aug_index = self._current_clip_index, self._current_aug_index
        self._current_aug_index += 1
        if self._current_aug_index >= self._augs_per_clip:
            self._current_clip_index += 1
            self._current_aug_index = 0
        is_last_clip = False
        if (self._current_clip_index >= self._clips_per_video
                or uniform_clip * self._current_clip_index > max_possible_clip_start):
            self._current_clip_index = 0
            is_last_clip = True
        if is_last_clip:
            self.reset()
        return clip_sampling.ClipInfo(clip_start_sec, clip_start_sec + self._clip_duration, clip_index, aug_index,
                                      is_last_clip)


def get_clip_timepoints(clip_sampler, duration):
    # imagebind/data.py get_clip_timepoints, verbatim in behaviour.
    all_clips_timepoints = []
    is_last_clip = False
    end = 0.0
    while not is_last_clip:
        start, end, _, _, is_last_clip = clip_sampler(end, duration, annotation=None)
        all_clips_timepoints.append((start, end))
    return all_clips_timepoints


def main():
    cases = []
    audio = [(n, 16000) for n in (1, 15999, 32000, 32001, 53920, 80000, 80001, 176000, 1234567)]
    video = [(n, fps) for n, fps in ((1, 30.0), (45, 30.0), (60, 30.0), (150, 30.0), (100, 29.97002997002997),
                                     (331, 29.97002997002997), (7, 2.5), (250, 25.0))]
    for rule, cls in (("pytorchvideo-0.1.5", clip_sampling.ConstantClipsPerVideoSampler), ("pytorchvideo-main", MainRuleSampler)):
        for clips in (3, 5, 1):
            for samples, rate in audio + video:
                duration = samples / rate
                sampler = cls(clip_duration=2, clips_per_video=clips)
                points = get_clip_timepoints(sampler, duration)
                cases.append({
                    "rule": rule, "clips_per_video": clips, "duration": duration, "rate": rate,
                    "starts": [f"{s.numerator}/{s.denominator}" for s, _ in points],
                    "ends": [f"{e.numerator}/{e.denominator}" for _, e in points],
                    "start_floats": [float(s) for s, _ in points],
                    # data.py's audio slice bounds, and decord's frame indices for video
                    "slice_starts": [int(s * rate) for s, _ in points],
                    "slice_ends": [int(e * rate) for _, e in points],
                    "frame_starts": [math.ceil(float(rate) * s) for s, _ in points],
                })
    out = ROOT / "Tests/Fixtures/references/clip-sampler.json"
    lines = ",\n".join(json.dumps(case) for case in cases)
    out.write_text('{"made_by": "tools/references/make_clip_sampler_cases.py, pytorchvideo 0.1.5",\n"cases": [\n'
                   + lines + "\n]}\n")
    print(f"{len(cases)} cases → {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
